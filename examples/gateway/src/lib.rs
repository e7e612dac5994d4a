//! # gateway: the reference wagw server
//!
//! A multi-tenant WhatsApp gateway REST API over wagw, runnable as it is:
//! `cargo run --release -p gateway` starts the sandbox (SQLite file, the Cloud API emulator
//! in-process) and prints an API key. See `README.md` next to this crate for the tour, the
//! production configuration and where each seed system's endpoint went.
//!
//! The binary is thin: [`Gateway::build`] assembles store, queue, transport, dispatcher and
//! engines from a [`Config`]; [`app::app`] is the router; [`Gateway::runtime`] starts the
//! background loops (wagw-core's [`wagw_core::runtime::Runtime`]).

pub mod api;
pub mod app;
pub mod auth;
pub mod error;
pub mod openapi;
pub mod sandbox;
pub mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use wagw_core::campaign::CampaignEngine;
use wagw_core::conversation::{ConversationRunner, RunnerConfig};
use wagw_core::dispatch::{Acceptor, AcceptorConfig, Dispatcher, DispatcherConfig};
use wagw_core::flow::{Engine, GuardedFlowHttp};
use wagw_core::net::NetPolicy;
use wagw_core::outbox::{OutboxConfig, OutboxWorker};
use wagw_core::runtime::{Runtime, RuntimeBuilder};
use wagw_core::scheduler::{MissedRuns, Scheduler};
use wagw_core::store::ConversationStore;
use wagw_core::{Queue, Store, Transport};
use wagw_meta::MetaTransport;
use wagw_queue_redis::RedisQueue;
use wagw_store_sqlx::SqlStore;

use crate::app::{AppState, MetaWebhook};
use crate::auth::{AuthConfig, RateLimits};

/// Everything the gateway is configured with (the binary fills it from flags and env).
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite:` or `postgres:` URL; `None`: `sqlite://<data_dir>/wagw.db`.
    pub database_url: Option<String>,
    /// Where the default SQLite file and the generated JWT secret live.
    pub data_dir: PathBuf,
    /// Meta's access token; `None` starts the sandbox emulator (serve mode only).
    pub meta_access_token: Option<String>,
    /// Meta's app secret (signs webhooks).
    pub meta_app_secret: Option<String>,
    /// The token of Meta's webhook verification handshake.
    pub meta_verify_token: Option<String>,
    /// Meta's Graph API base URL (for a proxy); `None`: Meta's own.
    pub meta_base_url: Option<String>,
    /// JWT signing secret; `None`: generated once and kept in the data directory.
    pub jwt_secret: Option<String>,
    /// The platform operator's token; `None`: platform API off (generated in the sandbox).
    pub platform_token: Option<String>,
    /// The job queue: `sql` (the store's own, for one worker process) or a `redis://…` /
    /// `rediss://…` URL (the Redis queue, whose rate limits hold across every worker process
    /// sharing it).
    pub queue: String,
    /// The Redis queue's name (its keys start with `{wagw:<name>}:`); every process of one
    /// deployment must use the same. Default [`REDIS_QUEUE_NAME`].
    pub queue_name: String,
    /// Whether to start the sandbox when no Meta token is set.
    pub sandbox: bool,
    /// Mark the dashboard's session cookie `Secure` even on plain http.
    pub secure_cookie: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: None,
            data_dir: PathBuf::from("."),
            meta_access_token: None,
            meta_app_secret: None,
            meta_verify_token: None,
            meta_base_url: None,
            jwt_secret: None,
            platform_token: None,
            queue: "sql".into(),
            queue_name: REDIS_QUEUE_NAME.into(),
            sandbox: true,
            secure_cookie: false,
        }
    }
}

/// A failure while starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is incomplete or contradictory.
    #[error("configuration: {0}")]
    Config(String),
    /// wagw refused (store, migrations ...).
    #[error(transparent)]
    Wagw(#[from] wagw_core::Error),
    /// The Meta transport or the emulator failed to start.
    #[error(transparent)]
    Meta(#[from] wagw_meta::Error),
    /// Reading or writing the data directory failed.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The queue `spec` names: `sql` (the store's own) or a Redis URL, with whether a Redis queue
/// was created empty just now (see [`wagw_queue_redis::RedisQueue::created_at_connect`]).
async fn open_queue(config: &Config, sql: &SqlStore) -> Result<(Arc<dyn Queue>, bool), StartError> {
    let spec = config.queue.as_str();
    if spec == "sql" {
        return Ok((Arc::new(sql.queue()), false));
    }
    if spec.starts_with("redis://") || spec.starts_with("rediss://") {
        let redis = RedisQueue::connect(spec, &config.queue_name).await?;
        let created = redis.created_at_connect();
        return Ok((Arc::new(redis), created));
    }
    Err(StartError::Config(format!(
        "queue {spec:?}: use \"sql\" (the database's own queue) or a redis:// URL"
    )))
}

/// The default Redis queue name: keys under `{wagw:gateway}:`.
pub const REDIS_QUEUE_NAME: &str = "gateway";

/// An assembled gateway: state for the router plus what the background loops need.
pub struct Gateway {
    /// The handlers' state.
    pub state: AppState,
    /// What the sandbox seeded, when it runs.
    pub seeded: Option<sandbox::Seeded>,
    /// The platform token in effect (generated in the sandbox when not configured).
    pub platform_token: Option<String>,
    sql: SqlStore,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The JWT secret: configured, or generated once and kept in `<data_dir>/jwt-secret` so
/// logins survive restarts.
fn jwt_secret(config: &Config) -> Result<Vec<u8>, StartError> {
    if let Some(secret) = &config.jwt_secret {
        if secret.len() < 32 {
            return Err(StartError::Config(
                "WAGW_JWT_SECRET must have at least 32 characters".into(),
            ));
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = config.data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => Ok(s.trim().as_bytes().to_vec()),
        _ => {
            let secret = random_token("");
            std::fs::write(&path, &secret)?;
            tracing::info!(path = %path.display(), "generated a JWT secret");
            Ok(secret.into_bytes())
        }
    }
}

impl Gateway {
    /// Connects the store (applying migrations), builds the transport (Meta, or the sandbox
    /// emulator delivering webhooks to `webhook_addr`), the dispatcher and the engines, and
    /// seeds the sandbox.
    pub async fn build(
        config: &Config,
        webhook_addr: SocketAddr,
        metrics: Option<PrometheusHandle>,
    ) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let url = config
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", config.data_dir.join("wagw.db").display()));
        let sql = SqlStore::connect(&url).await?;
        let store: Arc<dyn Store> = Arc::new(sql.clone());
        let (queue, queue_is_new) = open_queue(config, &sql).await?;

        let use_sandbox = config.meta_access_token.is_none();
        if use_sandbox && !config.sandbox {
            return Err(StartError::Config(
                "no Meta access token (WAGW_META_ACCESS_TOKEN) and the sandbox is off".into(),
            ));
        }
        let (transport, meta, sandbox, seeded): (Arc<dyn Transport>, _, _, _) = if use_sandbox {
            let app_secret = random_token("sandbox-secret-");
            let token = random_token("sandbox-token-");
            let emulator = sandbox::start_emulator(
                &format!("http://{webhook_addr}/webhooks/meta"),
                &app_secret,
                &token,
            )
            .await?;
            let transport = MetaTransport::builder()
                .base_url(emulator.base_url())
                .access_token(&token)
                .build()?;
            let seeded = sandbox::seed(&*store, &emulator).await?;
            let sandbox = sandbox::Sandbox {
                emulator,
                tenant: seeded.tenant,
                channels: seeded.channels.clone(),
            };
            (
                Arc::new(transport) as Arc<dyn Transport>,
                MetaWebhook {
                    app_secret,
                    verify_token: random_token("sandbox-verify-"),
                },
                Some(Arc::new(sandbox)),
                Some(seeded),
            )
        } else {
            let (Some(app_secret), Some(verify_token)) =
                (&config.meta_app_secret, &config.meta_verify_token)
            else {
                return Err(StartError::Config(
                    "with a Meta access token, WAGW_META_APP_SECRET and WAGW_META_VERIFY_TOKEN are required".into(),
                ));
            };
            let mut builder = MetaTransport::builder()
                .access_token(config.meta_access_token.clone().unwrap_or_default());
            if let Some(base) = &config.meta_base_url {
                builder = builder.base_url(base);
            }
            (
                Arc::new(builder.build()?) as Arc<dyn Transport>,
                MetaWebhook {
                    app_secret: app_secret.clone(),
                    verify_token: verify_token.clone(),
                },
                None,
                None,
            )
        };
        let platform_token = config
            .platform_token
            .clone()
            .or_else(|| use_sandbox.then(|| random_token("wagw-platform-")));
        let dispatcher: Dispatcher<dyn Store, dyn Queue, dyn Transport> = Dispatcher::new(
            Arc::clone(&store),
            Arc::clone(&queue),
            Arc::clone(&transport),
            DispatcherConfig::default(),
        );
        if queue_is_new {
            // A Redis queue created empty at start: new, or lost while no process watched it.
            // Messages the store holds as unsettled need their jobs (a no-op when there are none).
            let jobs = dispatcher.rebuild_queue().await?;
            tracing::info!(
                jobs,
                "the Redis queue was created empty; rebuilt it from the store"
            );
        }
        let state = AppState {
            acceptor: Acceptor::new(&dispatcher, AcceptorConfig::default()),
            campaigns: Arc::new(CampaignEngine::new(dispatcher.clone())),
            scheduler: Arc::new(Scheduler::new(dispatcher.clone(), MissedRuns::SendLatest)),
            dispatcher,
            store,
            queue,
            transport,
            auth: Arc::new(AuthConfig {
                jwt_secret: jwt_secret(config)?,
                jwt_ttl: Duration::from_secs(12 * 3_600),
                platform_token: platform_token.clone(),
                secure_cookie: config.secure_cookie,
            }),
            limits: Arc::new(RateLimits::default()),
            meta: Arc::new(meta),
            sandbox,
            metrics,
            ready: Arc::new(AtomicBool::new(false)),
        };
        Ok(Self {
            state,
            seeded,
            platform_token,
            sql,
        })
    }

    /// The background loops of a worker: dispatcher, campaign driver, scheduler, queue
    /// metrics, the conversation runner (auto-replies and flows answering stored inbound
    /// messages, and the flows' due wake-ups every second), the webhook outbox worker
    /// (tenants' subscriptions, through the SSRF guard) and hourly pruning of ended
    /// auto-reply cooldowns.
    ///
    /// # Errors
    ///
    /// When the guarded HTTP client of the flows' HTTP node or of the outbox cannot be built.
    pub fn runtime(&self) -> Result<RuntimeBuilder, StartError> {
        let s = &self.state;
        let flows = Engine::new(
            Arc::clone(&s.store) as Arc<dyn ConversationStore>,
            Arc::new(GuardedFlowHttp::new(NetPolicy::default())?),
        );
        let runner = ConversationRunner::new(
            Arc::clone(&s.store),
            s.dispatcher.clone(),
            Arc::new(flows),
            RunnerConfig::default(),
        );
        let outbox = OutboxWorker::new(
            Arc::clone(&s.store),
            NetPolicy::default(),
            OutboxConfig::default(),
        )?;
        Ok(Runtime::builder()
            .grace(Duration::from_secs(20))
            .campaigns(
                CampaignEngine::new(s.dispatcher.clone()),
                Duration::from_millis(500),
            )
            .scheduler(
                Scheduler::new(s.dispatcher.clone(), MissedRuns::SendLatest),
                Duration::from_secs(1),
            )
            .queue_metrics(Arc::clone(&s.queue), Duration::from_secs(5))
            .every("flow wake-ups", Duration::from_secs(1), {
                let runner = runner.clone();
                move || {
                    let runner = runner.clone();
                    async move { runner.wake_due(chrono::Utc::now()).await.map(drop) }
                }
            })
            .every("cooldown pruning", Duration::from_secs(3600), {
                let store = Arc::clone(&s.store);
                move || {
                    let store = Arc::clone(&store);
                    async move { store.prune_cooldowns(chrono::Utc::now()).await.map(drop) }
                }
            })
            .task("conversations", move |mut stop| async move {
                let handle = runner.start();
                stop.wait().await;
                handle.shutdown().await;
            })
            .task("outbox", move |mut stop| async move {
                outbox.run(async move { stop.wait().await }).await;
            })
            .dispatcher(s.dispatcher.clone()))
    }

    /// Closes the database pools (after the runtime stopped).
    pub async fn close(self) {
        if let Some(sandbox) = self.state.sandbox.clone()
            && let Ok(sandbox) = Arc::try_unwrap(sandbox)
        {
            sandbox.emulator.shutdown().await;
        }
        self.sql.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(queue: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("wagw-gateway-queue-{}", uuid::Uuid::new_v4()));
        Config {
            data_dir: dir,
            queue: queue.into(),
            queue_name: format!("test-{}-gateway", uuid::Uuid::new_v4().simple()),
            ..Config::default()
        }
    }

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9))
    }

    #[tokio::test]
    async fn a_queue_that_is_neither_sql_nor_redis_is_refused() {
        let refused = Gateway::build(&config("kafka://127.0.0.1"), addr(), None).await;
        assert!(matches!(refused, Err(StartError::Config(_))), "{refused:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redis_url_gives_the_dispatcher_fleet_wide_limits() {
        let Some(url) = std::env::var("WAGW_TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but WAGW_TEST_REDIS_URL is unset"
            );
            eprintln!("skipped: WAGW_TEST_REDIS_URL is unset");
            return;
        };
        let sql = Gateway::build(&config("sql"), addr(), None)
            .await
            .expect("sql");
        assert!(
            sql.state.queue.fleet_limits().is_none(),
            "the SQL queue paces per process"
        );
        sql.close().await;

        let config = config(&url);
        let redis = Gateway::build(&config, addr(), None).await.expect("redis");
        assert!(
            redis.state.queue.fleet_limits().is_some(),
            "the Redis queue enforces limits for every process"
        );
        redis.close().await;
        let queue = RedisQueue::connect(&url, &config.queue_name)
            .await
            .expect("connect");
        queue.destroy().await.expect("clean up");
    }
}
