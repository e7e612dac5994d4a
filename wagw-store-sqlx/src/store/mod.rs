//! [`SqlStore`](crate::SqlStore): every `Store` sub-trait in SQL.
//!
//! Configuration entities are stored as JSON documents next to the key columns their
//! constraints and lookups need (see the migrations); the helpers here read, list and delete
//! those documents. Messages, recipients, contacts, deliveries and usage counters are plain
//! columns (see their modules).

mod campaigns;
mod channels;
mod contacts;
mod conversations;
mod inbound;
mod messages;
mod templates;
mod tenants;
mod webhooks;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::AssertSqlSafe;
use uuid::Uuid;
use wagw_core::store::{Page, Paged};
use wagw_core::{Error, Result};

use crate::SqlStore;
use crate::db::{SqlRow, db_err, on_read, on_write, to_json, unique_err};

/// Parses a listing cursor (an id).
pub(crate) fn cursor(page: &Page) -> Result<Option<Uuid>> {
    page.after
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| Error::invalid_input("after", format!("{c:?} is not a cursor")))
        })
        .transpose()
}

/// `LIMIT` for an over-fetching page query.
pub(crate) fn overfetch(page: &Page) -> i64 {
    i64::try_from(page.effective_limit() + 1).unwrap_or(i64::MAX)
}

impl SqlStore {
    /// Reads the document of one tenant-scoped row.
    pub(crate) async fn get_doc<T: DeserializeOwned>(
        &self,
        table: &str,
        entity: &'static str,
        tenant: Uuid,
        id: Uuid,
    ) -> Result<T> {
        let sql = format!("SELECT doc FROM {table} WHERE tenant_id = $1 AND id = $2");
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query(AssertSqlSafe(sql))
                .bind(tenant)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
            {
                Some(row) => Some(row.json::<T>("doc")?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found(entity, id))
    }

    /// One page of a tenant's documents in id order; `filter` is an extra SQL condition.
    pub(crate) async fn list_docs<T: DeserializeOwned>(
        &self,
        table: &str,
        tenant: Uuid,
        page: &Page,
        id_of: impl Fn(&T) -> String,
    ) -> Result<Paged<T>> {
        let after = cursor(page)?;
        let sql = format!(
            "SELECT doc FROM {table} WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) \
             ORDER BY id LIMIT $3"
        );
        let items = on_read!(&self.db, |pool, _pg| {
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(tenant)
                .bind(after)
                .bind(overfetch(page))
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.iter()
                .map(|r| r.json::<T>("doc"))
                .collect::<Result<Vec<T>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), id_of))
    }

    /// Every document of a tenant, in id order.
    pub(crate) async fn all_docs<T: DeserializeOwned>(
        &self,
        table: &str,
        tenant: Uuid,
        order: &str,
    ) -> Result<Vec<T>> {
        let sql = format!("SELECT doc FROM {table} WHERE tenant_id = $1 ORDER BY {order}");
        on_read!(&self.db, |pool, _pg| {
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(tenant)
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.iter().map(|r| r.json::<T>("doc")).collect()
        })
    }

    /// Inserts the document of a plain `(tenant_id, id, doc)` table; an existing id is a
    /// conflict.
    pub(crate) async fn insert_doc<T: Serialize>(
        &self,
        table: &str,
        entity: &'static str,
        tenant: Uuid,
        id: Uuid,
        doc: &T,
    ) -> Result<()> {
        let doc = to_json(doc)?;
        let sql = format!("INSERT INTO {table} (tenant_id, id, doc) VALUES ($1, $2, $3)");
        on_write!(&self.db, |pool, _pg| {
            sqlx::query(AssertSqlSafe(sql))
                .bind(tenant)
                .bind(id)
                .bind(&doc)
                .execute(pool)
                .await
                .map_err(unique_err(entity, format!("{id} already exists")))?;
        });
        Ok(())
    }

    /// Replaces the document of one tenant-scoped row; a missing row is not found.
    pub(crate) async fn update_doc<T: Serialize>(
        &self,
        table: &str,
        entity: &'static str,
        tenant: Uuid,
        id: Uuid,
        doc: &T,
    ) -> Result<()> {
        let doc = to_json(doc)?;
        let sql = format!("UPDATE {table} SET doc = $3 WHERE tenant_id = $1 AND id = $2");
        let done = on_write!(&self.db, |pool, _pg| {
            sqlx::query(AssertSqlSafe(sql))
                .bind(tenant)
                .bind(id)
                .bind(&doc)
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        });
        if done == 0 {
            return Err(Error::not_found(entity, id));
        }
        Ok(())
    }

    /// Deletes one tenant-scoped row; a missing row is not found.
    pub(crate) async fn delete_row(
        &self,
        table: &str,
        entity: &'static str,
        tenant: Uuid,
        id: Uuid,
    ) -> Result<()> {
        let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2");
        let done = on_write!(&self.db, |pool, _pg| {
            sqlx::query(AssertSqlSafe(sql))
                .bind(tenant)
                .bind(id)
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        });
        if done == 0 {
            return Err(Error::not_found(entity, id));
        }
        Ok(())
    }

    /// Counts a tenant's rows.
    pub(crate) async fn count_rows(&self, table: &str, tenant: Uuid) -> Result<u64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = $1");
        let n = on_read!(&self.db, |pool, _pg| {
            sqlx::query(AssertSqlSafe(sql))
                .bind(tenant)
                .fetch_one(pool)
                .await
                .map_err(db_err)?
                .int("n")?
        });
        Ok(crate::db::to_u64(n))
    }
}
