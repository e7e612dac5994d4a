//! Helpers shared by wagw's benchmarks.

use wagw_core::phone::PhoneNumber;

/// A distinct Indonesian mobile number for each `n`.
pub fn phone(n: u64) -> PhoneNumber {
    match PhoneNumber::from_wa_id(&(6_281_200_000_000 + n).to_string()) {
        Ok(p) => p,
        Err(e) => panic!("benchmark numbers are valid: {e}"),
    }
}

/// The process's peak resident memory so far, in MiB (Linux), from `/proc/self/status`.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The process's resident memory now, in MiB (Linux).
pub fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Channels and an emulator wired for the end-to-end benches.
pub mod emulated {
    use std::sync::Arc;

    use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
    use wagw_core::model::channel::{Channel, Throughput};
    use wagw_core::model::tenant::{Plan, Tenant};
    use wagw_core::store::{ChannelStore, TenantStore};
    use wagw_meta::MetaTransport;
    use wagw_meta::emulator::{Emulator, PairLimit, PhoneNumberSpec, Throughput as EmuRate};
    use wagw_store_memory::{MemoryQueue, MemoryStore};

    /// The emulator's token.
    pub const TOKEN: &str = "bench-token";

    /// A store with one tenant and `numbers` channels, an emulator that knows them, and a
    /// dispatcher sending through `MetaTransport` to it.
    pub struct Rig {
        /// The store.
        pub store: Arc<MemoryStore>,
        /// The emulator.
        pub emulator: Emulator,
        /// The tenant.
        pub tenant: Tenant,
        /// The channels.
        pub channels: Vec<Channel>,
        /// The dispatcher.
        pub dispatcher: Dispatcher<MemoryStore, MemoryQueue, MetaTransport>,
    }

    impl Rig {
        /// `rate` = `None` turns every limit off, in wagw and in the emulator.
        pub async fn new(numbers: usize, rate: Option<u32>) -> Self {
            let store = Arc::new(MemoryStore::new());
            let tenant = Tenant::new("bench", Plan::enterprise());
            store.create_tenant(&tenant).await.expect("tenant");
            let mut builder = Emulator::builder()
                .seed(1)
                .access_token(TOKEN)
                .customer_window(None)
                .pair_limit(PairLimit::Off)
                .throughput(rate.map_or(EmuRate::Off, EmuRate::per_second));
            let mut channels = Vec::new();
            for n in 0..numbers {
                let pnid = format!("2000000000{n:05}");
                let display = super::phone(7_000_000 + n as u64);
                builder = builder.number(PhoneNumberSpec::new(&pnid, display.as_str(), "waba"));
                let mut ch = Channel::new(tenant.id, "bench", pnid, "waba", display);
                ch.throughput = Throughput::per_second(rate.unwrap_or(1_000_000)).expect("rate");
                store.create_channel(&ch).await.expect("channel");
                channels.push(ch);
            }
            let emulator = builder.start().await.expect("emulator");
            let meta = MetaTransport::builder()
                .base_url(emulator.base_url())
                .access_token(TOKEN)
                .build()
                .expect("transport");
            let dispatcher = Dispatcher::new(
                Arc::clone(&store),
                Arc::new(MemoryQueue::new()),
                Arc::new(meta),
                DispatcherConfig {
                    enforce_window: false,
                    pair_limit: None,
                    idle_poll: std::time::Duration::from_millis(2),
                    ..DispatcherConfig::default()
                },
            );
            Self {
                store,
                emulator,
                tenant,
                channels,
                dispatcher,
            }
        }

        /// `count` text messages spread over the channels.
        pub fn messages(&self, count: u64) -> Vec<wagw_core::dispatch::NewMessage> {
            use wagw_core::content::MessageContent;
            use wagw_core::dispatch::NewMessage;
            (0..count)
                .map(|i| {
                    let ch = &self.channels[i as usize % self.channels.len()];
                    NewMessage::new(
                        self.tenant.id,
                        ch.id,
                        super::phone(i),
                        MessageContent::text("Halo, ini pesan uji."),
                    )
                })
                .collect()
        }
    }
}

/// The median of `values` (the mean of the two middle ones for an even count); `NaN` for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// A size from the environment variable `var`, or `default` when it is unset or not a number.
pub fn env_size(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// SQL stores opened in a place of their own, so a bench never touches anyone else's data.
pub mod sql {
    use std::path::PathBuf;

    use wagw_store_sqlx::SqlStore;

    /// Where a bench store lives, removed by [`BenchDb::finish`].
    enum Place {
        Dir(PathBuf),
        Schema { admin: sqlx::PgPool, schema: String },
    }

    /// A migrated SQL store in a fresh SQLite file or a fresh PostgreSQL schema.
    pub struct BenchDb {
        /// The store (its queue is [`SqlStore::queue`]).
        pub store: SqlStore,
        /// What it is, for the printed figures.
        pub name: &'static str,
        place: Place,
    }

    impl BenchDb {
        /// A SQLite file in a new temporary directory, opened as `SqlStore::connect` opens it
        /// (WAL, `synchronous = FULL`, the default).
        pub async fn sqlite() -> Self {
            let dir =
                std::env::temp_dir().join(format!("wagw-bench-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("temporary directory");
            let url = format!("sqlite://{}", dir.join("bench.db").display());
            let store = SqlStore::connect(&url).await.expect("sqlite");
            Self {
                store,
                name: "SQLite (file)",
                place: Place::Dir(dir),
            }
        }

        /// A new schema in the database at `WAGW_TEST_POSTGRES_URL`, with a pool of
        /// `connections`; `None` when the variable is unset.
        pub async fn postgres(connections: u32) -> Option<Self> {
            let url = std::env::var("WAGW_TEST_POSTGRES_URL")
                .ok()
                .filter(|u| !u.is_empty())?;
            let schema = format!("wagw_bench_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&url).await.expect("postgres");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .expect("schema");
            let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
            let options = options.options([("search_path", schema.as_str())]);
            let store = SqlStore::postgres(options, connections)
                .await
                .expect("open");
            Some(Self {
                store,
                name: "PostgreSQL",
                place: Place::Schema { admin, schema },
            })
        }

        /// The PostgreSQL schema the store lives in (for other processes to open it too).
        pub fn schema(&self) -> Option<&str> {
            match &self.place {
                Place::Schema { schema, .. } => Some(schema),
                Place::Dir(_) => None,
            }
        }

        /// Closes the store and removes its file or schema.
        pub async fn finish(self) {
            self.store.close().await;
            match self.place {
                Place::Dir(dir) => {
                    let _ = std::fs::remove_dir_all(dir);
                }
                Place::Schema { admin, schema } => {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                        .execute(&admin)
                        .await
                        .expect("drop schema");
                    admin.close().await;
                }
            }
        }
    }
}
