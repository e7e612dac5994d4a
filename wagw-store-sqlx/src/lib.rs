//! # wagw-store-sqlx
//!
//! SQLite and PostgreSQL backends for wagw: [`SqlStore`] implements every
//! [`Store`](wagw_core::Store) sub-trait and [`SqlQueue`] implements
//! [`Queue`](wagw_core::Queue). Both pass wagw-core's conformance suites on both databases.
//!
//! ## Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `sqlite` | yes | SQLite through sqlx (bundled libsqlite3): a file in WAL mode, or `sqlite::memory:` |
//! | `postgres` | yes | PostgreSQL through sqlx (no TLS is compiled in) |
//!
//! ## Guide
//!
//! - [`SqlStore::connect`] takes a URL (`sqlite://wagw.db`, `sqlite::memory:`,
//!   `postgres://user@host/db`), opens the pools and applies the embedded migrations
//!   (`migrations/sqlite` or `migrations/postgres`). [`SqlStore::sqlite`] and
//!   [`SqlStore::postgres`] take sqlx connect options instead; [`SqlStore::from_pg_pool`]
//!   wraps an existing pool and leaves [`migrate`](SqlStore::migrate) to you.
//! - [`SqlStore::queue`] gives the [`SqlQueue`] on the same database (its tables live in the
//!   same schema).
//! - SQLite: every write goes through one writer connection and write transactions start with
//!   `BEGIN IMMEDIATE`, so concurrent writers queue instead of failing with `SQLITE_BUSY`;
//!   reads use a pool of reader connections (WAL lets them run beside the writer). A busy
//!   timeout covers other processes that open the same file.
//! - SQLite durability: files run in WAL mode with `synchronous = FULL` by default
//!   ([`SqliteDurability::Full`]), so every commit is on disk before the call that made it
//!   returns and a power loss loses no accepted message or job.
//!   [`SqlStore::sqlite_with_durability`] can relax it to [`SqliteDurability::Normal`]
//!   (faster commits; a power loss or OS crash may roll back the last transactions, a crash
//!   of the process alone loses nothing). BENCHMARKS.md has the cost of each.
//! - PostgreSQL: one pool; the queue and the webhook outbox claim rows with
//!   `FOR UPDATE SKIP LOCKED` in one statement, so any number of workers on any number of
//!   machines can share it.
//! - Errors map into [`wagw_core::Error`]: unique violations become
//!   [`Conflict`](wagw_core::Error::Conflict) where the trait says so; lost connections, pool
//!   timeouts, serialization failures, deadlocks and `SQLITE_BUSY` are
//!   [`Backend`](wagw_core::Error::Backend) errors marked transient.
//!
//! ```
//! use wagw_core::model::tenant::{Plan, Tenant};
//! use wagw_core::queue::{NewJob, ReserveOptions};
//! use wagw_core::store::TenantStore;
//! use wagw_core::Queue;
//! use wagw_store_sqlx::SqlStore;
//!
//! # tokio_test_block_on(async {
//! let store = SqlStore::connect("sqlite::memory:").await?;
//! let tenant = Tenant::new("Toko Maju", Plan::basic());
//! store.create_tenant(&tenant).await?;
//! assert_eq!(store.get_tenant(tenant.id).await?.name, "Toko Maju");
//!
//! let queue = store.queue();
//! queue.enqueue(NewJob::new("channel-1", "payload")).await?;
//! let jobs = queue.reserve(&ReserveOptions::new(10, std::time::Duration::from_secs(30))).await?;
//! queue.ack(&jobs[0].lease).await?;
//! # Ok::<(), wagw_core::Error>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("wagw-store-sqlx needs the `sqlite` feature, the `postgres` feature, or both");

mod db;
mod queue;
mod store;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

pub use db::Dialect;
pub use queue::SqlQueue;

use db::Db;
use wagw_core::{Error, Result};

#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Embedded SQLite migrations (`migrations/sqlite`).
#[cfg(feature = "sqlite")]
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Embedded PostgreSQL migrations (`migrations/postgres`).
#[cfg(feature = "postgres")]
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How hard a SQLite file database works to keep a commit across a power loss: the
/// `synchronous` setting of its WAL. Ignored by in-memory databases.
#[cfg(feature = "sqlite")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqliteDurability {
    /// `synchronous = FULL` (the default): every commit is synced to the WAL file before it
    /// returns, so nothing a call accepted is lost on power loss or an OS crash.
    #[default]
    Full,
    /// `synchronous = NORMAL`: the WAL is synced at checkpoints only. Commits cost less; a
    /// crash of the process loses nothing, but a power loss or OS crash may roll back the
    /// transactions committed since the last checkpoint, messages and jobs that callers were
    /// told were accepted.
    Normal,
}

#[cfg(feature = "sqlite")]
impl SqliteDurability {
    fn synchronous(self) -> SqliteSynchronous {
        match self {
            Self::Full => SqliteSynchronous::Full,
            Self::Normal => SqliteSynchronous::Normal,
        }
    }
}

/// A [`Store`](wagw_core::Store) on SQLite or PostgreSQL. Cheap to clone: clones share the
/// pools.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Db,
    /// Where the queue settles leases and reserves: on PostgreSQL a second, lazily opened
    /// pool whose sessions commit with `synchronous_commit = off` (see [`SqlQueue`]).
    settle: Db,
    recovered_at: Arc<AtomicI64>,
}

fn connect_err(e: sqlx::Error) -> Error {
    let transient = db::is_transient(&e);
    Error::backend("cannot connect to the database", transient, e)
}

impl SqlStore {
    /// Connects by URL and applies the migrations.
    ///
    /// `sqlite:` URLs open (and create) a file in WAL mode with the default
    /// [`SqliteDurability::Full`], or an in-memory database for `sqlite::memory:`;
    /// `postgres:`/`postgresql:` URLs open a pool of 10 connections.
    pub async fn connect(url: &str) -> Result<Self> {
        #[cfg(feature = "sqlite")]
        if url.starts_with("sqlite:") {
            let options: SqliteConnectOptions = url.parse().map_err(connect_err)?;
            return Self::sqlite(options.create_if_missing(true), 4).await;
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options: PgConnectOptions = url.parse().map_err(connect_err)?;
            return Self::postgres(options, 10).await;
        }
        Err(Error::invalid_input(
            "url",
            "expected a sqlite: or postgres: URL for an enabled feature",
        ))
    }

    /// Opens a SQLite database with `readers` reader connections (plus one writer) and applies
    /// the migrations. WAL mode, `synchronous = FULL` ([`SqliteDurability::Full`]), foreign
    /// keys on and a 10-second busy timeout are set on top of `options`. An in-memory database
    /// uses a single connection for everything.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(options: SqliteConnectOptions, readers: u32) -> Result<Self> {
        Self::sqlite_with_durability(options, readers, SqliteDurability::default()).await
    }

    /// Like [`sqlite`](Self::sqlite) with the given durability, on the writer and on every
    /// reader connection. For a URL, parse it into [`SqliteConnectOptions`] first:
    ///
    /// ```no_run
    /// # async fn open() -> wagw_core::Result<()> {
    /// use wagw_store_sqlx::{SqlStore, SqliteDurability};
    /// let options = "sqlite://wagw.db".parse::<sqlx::sqlite::SqliteConnectOptions>()
    ///     .map_err(|e| wagw_core::Error::backend("bad url", false, e))?
    ///     .create_if_missing(true);
    /// let store = SqlStore::sqlite_with_durability(options, 4, SqliteDurability::Normal).await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "sqlite")]
    pub async fn sqlite_with_durability(
        options: SqliteConnectOptions,
        readers: u32,
        durability: SqliteDurability,
    ) -> Result<Self> {
        let in_memory = options.get_filename().as_os_str() == ":memory:"
            || options.get_filename().as_os_str().is_empty();
        let options = options
            .busy_timeout(std::time::Duration::from_secs(10))
            .foreign_keys(true);
        let pools = if in_memory {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            db::SqlitePools {
                writer: pool.clone(),
                reader: pool,
            }
        } else {
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(durability.synchronous());
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(connect_err)?;
            let reader = SqlitePoolOptions::new()
                .max_connections(readers.max(1))
                .connect_with(options.read_only(true))
                .await
                .map_err(connect_err)?;
            db::SqlitePools { writer, reader }
        };
        let store = Self::from_db(Db::Sqlite(pools));
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a PostgreSQL pool of up to `max_connections` and applies the migrations.
    #[cfg(feature = "postgres")]
    pub async fn postgres(options: PgConnectOptions, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        let store = Self::from_pg_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing PostgreSQL pool; call [`migrate`](Self::migrate) unless the schema
    /// is already in place.
    #[cfg(feature = "postgres")]
    pub fn from_pg_pool(pool: PgPool) -> Self {
        Self::from_db(Db::Postgres(pool))
    }

    fn from_db(db: Db) -> Self {
        let settle = match &db {
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => {
                let options = pool
                    .connect_options()
                    .as_ref()
                    .clone()
                    .options([("synchronous_commit", "off")]);
                Db::Postgres(
                    PgPoolOptions::new()
                        .max_connections(pool.options().get_max_connections())
                        .acquire_timeout(std::time::Duration::from_secs(10))
                        .connect_lazy_with(options),
                )
            }
            #[allow(unreachable_patterns)]
            other => other.clone(),
        };
        Self {
            db,
            settle,
            recovered_at: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Applies the embedded migrations that are not applied yet.
    pub async fn migrate(&self) -> Result<()> {
        let result = match &self.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(pools) => SQLITE_MIGRATOR.run(&pools.writer).await,
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await,
        };
        result.map_err(|e| Error::backend("migration failed", false, e))?;
        tracing::debug!(dialect = ?self.dialect(), "migrations applied");
        Ok(())
    }

    /// The queue stored in the same database.
    pub fn queue(&self) -> SqlQueue {
        SqlQueue::new(
            self.db.clone(),
            self.settle.clone(),
            Arc::clone(&self.recovered_at),
        )
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// The PostgreSQL pool, when this store runs on PostgreSQL.
    #[cfg(feature = "postgres")]
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(pool) => Some(pool),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        match &self.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(pools) => {
                pools.reader.close().await;
                pools.writer.close().await;
            }
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => pool.close().await,
        }
        #[cfg(feature = "postgres")]
        #[allow(irrefutable_let_patterns)]
        if let Db::Postgres(pool) = &self.settle {
            pool.close().await;
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    /// `PRAGMA synchronous` of the writer and of every reader connection (all held at once,
    /// so each is a distinct connection): 2 is FULL, 1 is NORMAL.
    async fn synchronous_levels(store: &SqlStore, readers: u32) -> Vec<i64> {
        let Db::Sqlite(pools) = &store.db else {
            panic!("a SQLite store");
        };
        let pragma = "PRAGMA synchronous";
        let mut levels = Vec::new();
        let mut writer = pools.writer.acquire().await.expect("writer");
        levels.push(
            sqlx::query_scalar::<_, i64>(pragma)
                .fetch_one(&mut *writer)
                .await
                .expect("writer pragma"),
        );
        let mut held = Vec::new();
        for _ in 0..readers {
            held.push(pools.reader.acquire().await.expect("reader"));
        }
        for conn in &mut held {
            levels.push(
                sqlx::query_scalar::<_, i64>(pragma)
                    .fetch_one(&mut **conn)
                    .await
                    .expect("reader pragma"),
            );
        }
        levels
    }

    fn path() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join("wagw-sqlx-unit");
        std::fs::create_dir_all(&dir).expect("tmp dir");
        dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()))
    }

    #[tokio::test]
    async fn sqlite_files_sync_every_commit_by_default() {
        let file = path();
        let store = SqlStore::connect(&format!("sqlite://{}", file.display()))
            .await
            .expect("open");
        assert_eq!(synchronous_levels(&store, 4).await, [2, 2, 2, 2, 2]);
        store.close().await;
        let options = SqliteConnectOptions::new().filename(&file);
        let store = SqlStore::sqlite(options, 3).await.expect("reopen");
        assert_eq!(synchronous_levels(&store, 3).await, [2, 2, 2, 2]);
        store.close().await;
        let _ = std::fs::remove_file(&file);
    }

    #[tokio::test]
    async fn sqlite_durability_can_be_relaxed_to_normal() {
        let file = path();
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true);
        let store = SqlStore::sqlite_with_durability(options, 3, SqliteDurability::Normal)
            .await
            .expect("open");
        assert_eq!(synchronous_levels(&store, 3).await, [1, 1, 1, 1]);
        store.close().await;
        let _ = std::fs::remove_file(&file);
    }
}
