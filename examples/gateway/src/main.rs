//! `gateway`: the reference wagw server.
//!
//! ```text
//! gateway [serve]   everything in one process (the default): API, webhooks, workers
//! gateway api       the API and Meta's webhooks only (stateless, run many)
//! gateway worker    the background loops, with /healthz, /readyz and /metrics
//! gateway migrate   apply the database migrations and exit
//! gateway openapi   print the OpenAPI 3.1 document and exit
//! ```
//!
//! Every flag has an environment variable (`WAGW_…`). With no configuration the data lives in
//! the working directory (a SQLite file) and, with no Meta access token, the Cloud API
//! emulator runs in-process as a sandbox.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use clap::{Parser, Subcommand};
use gateway::app::app;
use gateway::{Config, Gateway, StartError};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about = "The reference wagw WhatsApp gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// HTTP address to listen on.
    #[arg(
        long,
        env = "WAGW_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    listen: SocketAddr,
    /// Database URL (`sqlite://file.db` or `postgres://…`); default: wagw.db in the data dir.
    #[arg(long, env = "WAGW_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Directory for the default SQLite file and the generated JWT secret.
    #[arg(long, env = "WAGW_DATA_DIR", default_value = ".", global = true)]
    data_dir: PathBuf,
    /// Meta Cloud API access token; without it the sandbox emulator is used.
    #[arg(
        long,
        env = "WAGW_META_ACCESS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    meta_access_token: Option<String>,
    /// Meta app secret (verifies webhook signatures).
    #[arg(
        long,
        env = "WAGW_META_APP_SECRET",
        hide_env_values = true,
        global = true
    )]
    meta_app_secret: Option<String>,
    /// Token of Meta's webhook verification handshake.
    #[arg(
        long,
        env = "WAGW_META_VERIFY_TOKEN",
        hide_env_values = true,
        global = true
    )]
    meta_verify_token: Option<String>,
    /// Graph API base URL (default: Meta's).
    #[arg(long, env = "WAGW_META_BASE_URL", global = true)]
    meta_base_url: Option<String>,
    /// Secret that signs login tokens (at least 32 characters); default: generated in the
    /// data dir.
    #[arg(long, env = "WAGW_JWT_SECRET", hide_env_values = true, global = true)]
    jwt_secret: Option<String>,
    /// Token for /platform/v1 (tenant administration); default: off (generated in the sandbox).
    #[arg(
        long,
        env = "WAGW_PLATFORM_TOKEN",
        hide_env_values = true,
        global = true
    )]
    platform_token: Option<String>,
    /// The job queue: `sql` (the database's own; run one worker) or `redis://host:6379`
    /// (shared by many workers, with rate limits that hold across all of them).
    #[arg(long, env = "WAGW_QUEUE_URL", default_value = "sql", global = true)]
    queue: String,
    /// Mark the dashboard's session cookie `Secure` (when TLS ends at a proxy that sends no
    /// `X-Forwarded-Proto`).
    #[arg(long, env = "WAGW_SECURE_COOKIE", global = true)]
    secure_cookie: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// API, webhooks and background loops in one process (the default).
    Serve,
    /// API and Meta webhooks only; enqueues, never sends.
    Api,
    /// Background loops only (dispatcher, campaigns, scheduler), with probes and metrics.
    Worker,
    /// Apply the database migrations and exit.
    Migrate,
    /// Print the OpenAPI 3.1 document (the one served at /openapi.json) and exit.
    Openapi,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gateway stopped");
            eprintln!("gateway: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), StartError> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        let text = gateway::openapi::document_json()
            .map_err(|e| StartError::Config(format!("OpenAPI document: {e}")))?;
        print!("{text}");
        return Ok(());
    }
    let config = Config {
        database_url: cli.database_url,
        data_dir: cli.data_dir,
        meta_access_token: cli.meta_access_token,
        meta_app_secret: cli.meta_app_secret,
        meta_verify_token: cli.meta_verify_token,
        meta_base_url: cli.meta_base_url,
        jwt_secret: cli.jwt_secret,
        platform_token: cli.platform_token,
        queue: cli.queue,
        sandbox: matches!(command, Command::Serve),
        secure_cookie: cli.secure_cookie,
        ..Config::default()
    };
    if let Command::Migrate = command {
        let url = config
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", config.data_dir.join("wagw.db").display()));
        std::fs::create_dir_all(&config.data_dir)?;
        wagw_store_sqlx::SqlStore::connect(&url)
            .await?
            .close()
            .await;
        println!("migrations applied to {url}");
        return Ok(());
    }
    let started = std::time::Instant::now();
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| StartError::Config(format!("metrics recorder: {e}")))?;
    // Bound first: the sandbox emulator needs the port for its webhooks.
    let listener = TcpListener::bind(cli.listen).await?;
    let addr = listener.local_addr()?;
    let gateway = Gateway::build(&config, addr, Some(metrics)).await?;
    let runtime = match command {
        Command::Api => None,
        _ => Some(gateway.runtime()?.start()),
    };
    let router = match command {
        Command::Worker => axum::Router::from(gateway::api::ops::routes())
            .fallback(|| async { gateway::error::ApiError::not_found() })
            .layer(axum::middleware::from_fn(gateway::error::render_errors))
            .with_state(gateway.state.clone()),
        _ => app(gateway.state.clone()),
    };
    gateway.state.ready.store(true, Ordering::Relaxed);
    print_banner(&gateway, addr, started.elapsed());

    let ready = std::sync::Arc::clone(&gateway.state.ready);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: not ready, finishing requests");
            ready.store(false, Ordering::Relaxed);
        })
        .await?;
    if let Some(runtime) = runtime {
        let aborted = runtime.shutdown().await;
        if !aborted.is_empty() {
            tracing::warn!(?aborted, "loops aborted after the grace period");
        }
    }
    gateway.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn print_banner(gateway: &Gateway, addr: SocketAddr, took: std::time::Duration) {
    println!(
        "wagw gateway listening on http://{addr} (ready in {} ms)",
        took.as_millis()
    );
    if let Some(seeded) = &gateway.seeded {
        println!();
        println!("SANDBOX: the Cloud API emulator stands in for Meta (no WAGW_META_ACCESS_TOKEN).");
        println!("  tenant      {}", seeded.tenant);
        println!(
            "  API key     {}   (shown once; a new one at each start)",
            seeded.api_key
        );
        println!(
            "  admin login {} / {}",
            gateway::sandbox::ADMIN_EMAIL,
            gateway::sandbox::ADMIN_PASSWORD
        );
        println!("  dashboard   http://{addr}/ui");
        println!("  API docs    http://{addr}/docs  (OpenAPI: http://{addr}/openapi.json)");
        for (i, channel) in seeded.channels.iter().enumerate() {
            println!(
                "  channel {}   {channel}  (+{})",
                i + 1,
                gateway::sandbox::NUMBERS[i].1
            );
        }
        if let Some(token) = &gateway.platform_token {
            println!("  platform    {token}");
        }
        println!();
        println!("Try:");
        println!("  export KEY={} CH={}", seeded.api_key, seeded.channels[0]);
        println!(
            "  curl -s http://{addr}/v1/messages -H \"x-api-key: $KEY\" -H 'content-type: application/json' \\"
        );
        println!(
            "       -d '{{\"channel_id\":\"'$CH'\",\"to\":\"08123456789\",\"type\":\"template\",\"template\":{{\"name\":\"hello_world\",\"language\":{{\"code\":\"en_US\"}}}}}}'"
        );
        println!("  curl -s http://{addr}/v1/messages -H \"x-api-key: $KEY\"");
        println!("More in examples/gateway/README.md.");
    }
}
