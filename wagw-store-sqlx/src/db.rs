//! The connection handle shared by [`SqlStore`](crate::SqlStore) and
//! [`SqlQueue`](crate::SqlQueue), the macros that run one query body against either database,
//! value and row helpers, and the mapping of sqlx errors into [`wagw_core::Error`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::error::{BoxDynError, ErrorKind};
use sqlx::types::Json;
use sqlx::{Database, Decode, Encode, Row, Type};
use uuid::Uuid;
use wagw_core::{Error, Result};

#[cfg(feature = "postgres")]
use sqlx::postgres::{PgPool, PgRow, Postgres};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};

/// The SQL dialect behind a [`SqlStore`](crate::SqlStore) or [`SqlQueue`](crate::SqlQueue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite (file in WAL mode, or in memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// SQLite pools: every write goes through `writer` (one connection), so writers never race
/// each other for the database lock; reads use `reader` (several connections, WAL).
#[cfg(feature = "sqlite")]
#[derive(Debug, Clone)]
pub(crate) struct SqlitePools {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePools),
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
}

impl Db {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// Runs `$body` with `$pool` bound to a pool fit for reads and `$pg` to whether the database
/// is PostgreSQL. The body is compiled once per database.
macro_rules! on_read {
    ($db:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match $db {
            #[cfg(feature = "sqlite")]
            $crate::db::Db::Sqlite(pools) => {
                let $pool = &pools.reader;
                #[allow(unused_variables)]
                let $pg = false;
                $body
            }
            #[cfg(feature = "postgres")]
            $crate::db::Db::Postgres(pool) => {
                let $pool = pool;
                #[allow(unused_variables)]
                let $pg = true;
                $body
            }
        }
    };
}

/// Like [`on_read!`] with a pool fit for single-statement writes.
macro_rules! on_write {
    ($db:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match $db {
            #[cfg(feature = "sqlite")]
            $crate::db::Db::Sqlite(pools) => {
                let $pool = &pools.writer;
                #[allow(unused_variables)]
                let $pg = false;
                $body
            }
            #[cfg(feature = "postgres")]
            $crate::db::Db::Postgres(pool) => {
                let $pool = pool;
                #[allow(unused_variables)]
                let $pg = true;
                $body
            }
        }
    };
}

/// Runs `$body` inside a write transaction bound to `$tx` (use `&mut *$tx` as executor) and
/// commits it. An early return (`?`) drops the transaction, which rolls it back. On SQLite
/// the transaction starts with `BEGIN IMMEDIATE`, so it holds the write lock from the start
/// and never fails half-way on a lock upgrade. With `pg_begin = "BEGIN; SET LOCAL …"` the
/// PostgreSQL transaction starts with that statement, settings and all, in one round trip.
macro_rules! in_tx {
    ($db:expr, |$tx:ident, $pg:ident| $body:expr) => {
        in_tx!($db, pg_begin = "BEGIN", |$tx, $pg| $body)
    };
    ($db:expr, pg_begin = $begin:literal, |$tx:ident, $pg:ident| $body:expr) => {
        match $db {
            #[cfg(feature = "sqlite")]
            $crate::db::Db::Sqlite(pools) => {
                let mut $tx = pools
                    .writer
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err($crate::db::db_err)?;
                #[allow(unused_variables)]
                let $pg = false;
                let out = $body;
                $tx.commit().await.map_err($crate::db::db_err)?;
                out
            }
            #[cfg(feature = "postgres")]
            $crate::db::Db::Postgres(pool) => {
                let mut $tx = pool.begin_with($begin).await.map_err($crate::db::db_err)?;
                #[allow(unused_variables)]
                let $pg = true;
                let out = $body;
                $tx.commit().await.map_err($crate::db::db_err)?;
                out
            }
        }
    };
}

/// Runs dialect-specific code: `$s` gets the SQLite pools, `$p` the PostgreSQL pool.
macro_rules! per_dialect {
    ($db:expr, sqlite($s:ident) => $sb:expr, postgres($p:ident) => $pb:expr $(,)?) => {
        match $db {
            #[cfg(feature = "sqlite")]
            $crate::db::Db::Sqlite($s) => $sb,
            #[cfg(feature = "postgres")]
            $crate::db::Db::Postgres($p) => $pb,
        }
    };
}

/// Inside [`in_tx!`], after an optimistic update (`... AND version = $n`) touched no row:
/// the version stored for `(tenant, id)` in `$table`, or `NotFound` when there is no such row.
macro_rules! stored_version {
    ($tx:ident, $table:literal, $entity:literal, $tenant:expr, $id:expr) => {{
        let id = $id;
        sqlx::query(concat!(
            "SELECT version FROM ",
            $table,
            " WHERE tenant_id = $1 AND id = $2"
        ))
        .bind($tenant.0)
        .bind(id.0)
        .fetch_optional(&mut *$tx)
        .await
        .map_err($crate::db::db_err)?
        .ok_or_else(|| wagw_core::Error::not_found($entity, id))?
        .int("version")?
    }};
}

/// Inside [`in_tx!`]: `NotFound` unless `$table` has the row `(tenant, id)`.
macro_rules! ensure_row {
    ($tx:ident, $table:literal, $entity:literal, $tenant:expr, $id:expr) => {{
        let id = $id;
        sqlx::query(concat!(
            "SELECT 1 AS one FROM ",
            $table,
            " WHERE tenant_id = $1 AND id = $2"
        ))
        .bind($tenant.0)
        .bind(id.0)
        .fetch_optional(&mut *$tx)
        .await
        .map_err($crate::db::db_err)?
        .ok_or_else(|| wagw_core::Error::not_found($entity, id))?;
    }};
}

pub(crate) use {ensure_row, in_tx, on_read, on_write, per_dialect, stored_version};

/// A timestamp as the schema stores it: `TIMESTAMPTZ` on PostgreSQL, integer microseconds
/// since the Unix epoch on SQLite (compact, and compared as numbers in the queue's hot paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ts(pub(crate) DateTime<Utc>);

#[cfg(feature = "sqlite")]
impl Type<Sqlite> for Ts {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

#[cfg(feature = "sqlite")]
impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, BoxDynError> {
        <i64 as Encode<Sqlite>>::encode(self.0.timestamp_micros(), buf)
    }
}

#[cfg(feature = "sqlite")]
impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        let micros = <i64 as Decode<Sqlite>>::decode(value)?;
        DateTime::from_timestamp_micros(micros)
            .map(Ts)
            .ok_or_else(|| format!("timestamp {micros} out of range").into())
    }
}

#[cfg(feature = "postgres")]
impl Type<Postgres> for Ts {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &<Postgres as Database>::TypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

#[cfg(feature = "postgres")]
impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

#[cfg(feature = "postgres")]
impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(
        value: <Postgres as Database>::ValueRef<'r>,
    ) -> std::result::Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<Postgres>>::decode(value).map(Ts)
    }
}

/// Typed column access shared by both row types.
pub(crate) trait SqlRow {
    fn uuid(&self, col: &str) -> Result<Uuid>;
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>>;
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn flag(&self, col: &str) -> Result<bool>;
    fn ts(&self, col: &str) -> Result<DateTime<Utc>>;
    fn opt_ts(&self, col: &str) -> Result<Option<DateTime<Utc>>>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>>;
    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T>;
}

macro_rules! impl_sql_row {
    ($row:ty) => {
        impl SqlRow for $row {
            fn uuid(&self, col: &str) -> Result<Uuid> {
                self.try_get(col).map_err(db_err)
            }
            fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>> {
                self.try_get(col).map_err(db_err)
            }
            fn text(&self, col: &str) -> Result<String> {
                self.try_get(col).map_err(db_err)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                self.try_get(col).map_err(db_err)
            }
            fn int(&self, col: &str) -> Result<i64> {
                self.try_get(col).map_err(db_err)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>> {
                self.try_get(col).map_err(db_err)
            }
            fn flag(&self, col: &str) -> Result<bool> {
                self.try_get(col).map_err(db_err)
            }
            fn ts(&self, col: &str) -> Result<DateTime<Utc>> {
                self.try_get::<Ts, _>(col).map(|t| t.0).map_err(db_err)
            }
            fn opt_ts(&self, col: &str) -> Result<Option<DateTime<Utc>>> {
                self.try_get::<Option<Ts>, _>(col)
                    .map(|t| t.map(|t| t.0))
                    .map_err(db_err)
            }
            fn bytes(&self, col: &str) -> Result<Vec<u8>> {
                self.try_get(col).map_err(db_err)
            }
            fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
                self.try_get::<Json<T>, _>(col).map(|j| j.0).map_err(db_err)
            }
        }
    };
}

#[cfg(feature = "sqlite")]
impl_sql_row!(SqliteRow);
#[cfg(feature = "postgres")]
impl_sql_row!(PgRow);

/// Converts an unsigned count into the signed integer SQL stores.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Converts a stored integer back into an unsigned count (negative values read as zero).
pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Converts a stored integer into a `u32` count.
pub(crate) fn to_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// Converts a duration into a time delta, refusing absurd ones.
pub(crate) fn delta(field: &str, d: Duration) -> Result<chrono::TimeDelta> {
    chrono::TimeDelta::from_std(d).map_err(|_| Error::invalid_input(field, "is too long"))
}

/// Serialises a value for a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Json<serde_json::Value>> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| Error::backend("cannot serialise a record", false, e))
}

/// Parses a stored enum written as its serde string form.
pub(crate) fn parse_enum<T: DeserializeOwned>(value: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|e| Error::backend(format!("unknown stored value {value:?}"), false, e))
}

/// The serde string form of a unit enum variant.
pub(crate) fn enum_str<T: serde::Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(other) => Err(Error::Backend {
            message: format!("expected a string form, got {other}"),
            transient: false,
            source: None,
        }),
        Err(e) => Err(Error::backend("cannot serialise a value", false, e)),
    }
}

/// Whether an sqlx error is worth retrying as is.
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let code: &str = &code;
            // PostgreSQL SQLSTATEs: serialization failure, deadlock, lock not available,
            // connection exceptions (08xxx), admin/crash shutdown, cannot connect now,
            // too many connections, query cancelled.
            let pg_transient = matches!(
                code,
                "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" | "53300" | "57014"
            ) || code.starts_with("08");
            // SQLite primary result codes BUSY (5) and LOCKED (6) and their extended codes.
            let sqlite_transient = code
                .parse::<i32>()
                .is_ok_and(|c| matches!(c & 0xff, 5 | 6) && code.len() <= 4);
            pg_transient || sqlite_transient
        }
        _ => false,
    }
}

/// Maps an sqlx error into wagw's error.
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e
        && db.kind() == ErrorKind::UniqueViolation
    {
        return Error::conflict("record", db.message().to_owned());
    }
    let transient = is_transient(&e);
    if transient {
        tracing::warn!(error = %e, "transient database error");
    }
    Error::backend("database error", transient, e)
}

/// Maps an sqlx error, turning a unique violation into a conflict on `entity`.
pub(crate) fn unique_err(entity: &'static str, what: String) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| match &e {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
            Error::conflict(entity, what)
        }
        _ => db_err(e),
    }
}
