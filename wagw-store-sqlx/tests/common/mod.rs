//! Fresh databases for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

#[cfg(feature = "postgres")]
use sqlx::postgres::PgConnectOptions;
use wagw_store_sqlx::SqlStore;

/// A path for a new SQLite file in Cargo's scratch directory for integration tests. Files
/// older than an hour (left by earlier runs) are removed on the way.
pub fn sqlite_path() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wagw-sqlx");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()))
}

#[cfg(feature = "sqlite")]
/// A store on a new SQLite file (WAL, one writer and four readers).
pub async fn fresh_sqlite() -> SqlStore {
    let url = format!("sqlite://{}", sqlite_path().display());
    SqlStore::connect(&url).await.expect("open sqlite")
}

/// The PostgreSQL URL for tests, or `None` when it is not configured (the caller says it
/// skipped).
/// Panics when `CI=true`: CI must run the PostgreSQL tests.
pub fn postgres_url() -> Option<String> {
    match std::env::var("WAGW_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but WAGW_TEST_POSTGRES_URL is unset: PostgreSQL tests cannot be skipped in CI"
                );
            }
            None
        }
    }
}

#[cfg(feature = "postgres")]
/// Connect options for a brand-new schema of the test database, used through `search_path`.
/// Schemas that earlier runs left behind for over an hour are dropped on the way.
pub async fn fresh_pg_options(url: &str) -> (PgConnectOptions, String) {
    let base: PgConnectOptions = url.parse().expect("postgres url");
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let schema = format!(
        "wagw_t_{secs}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(base.clone())
        .await
        .expect("connect to postgres");
    let stale: Vec<(String,)> =
        sqlx::query_as("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'wagw\\_t\\_%'")
            .fetch_all(&admin)
            .await
            .expect("list schemas");
    for (name,) in stale {
        let born = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        if secs.saturating_sub(born) > 3600 && born != u64::MAX {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(&admin)
            .await;
        }
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let options = base
        .options([("search_path", schema.as_str())])
        .application_name(&schema);
    (options, schema)
}

#[cfg(feature = "postgres")]
/// A store on a new schema of the test database, or `None` when PostgreSQL is not configured.
pub async fn fresh_pg() -> Option<SqlStore> {
    let url = postgres_url()?;
    let (options, _schema) = fresh_pg_options(&url).await;
    Some(SqlStore::postgres(options, 5).await.expect("open postgres"))
}
