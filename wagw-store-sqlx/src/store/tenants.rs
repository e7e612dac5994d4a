use async_trait::async_trait;
use chrono::{DateTime, Utc};
use wagw_core::ids::{ApiKeyId, TenantId, UserId};
use wagw_core::model::activity::ActivityEntry;
use wagw_core::model::tenant::{ApiKey, QuotaResource, Tenant, UsagePeriod, User};
use wagw_core::store::{ActivityStore, Page, Paged, TenantStore};
use wagw_core::{Error, Result};

use super::{cursor, overfetch};
use crate::SqlStore;
use crate::db::{SqlRow, db_err, in_tx, on_read, on_write, to_i64, to_json, to_u64, unique_err};

#[async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        let doc = to_json(tenant)?;
        on_write!(&self.db, |pool, _pg| {
            sqlx::query("INSERT INTO tenants (id, doc) VALUES ($1, $2)")
                .bind(tenant.id.0)
                .bind(&doc)
                .execute(pool)
                .await
                .map_err(unique_err(
                    "tenant",
                    format!("{} already exists", tenant.id),
                ))?;
        });
        Ok(())
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Tenant> {
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query("SELECT doc FROM tenants WHERE id = $1")
                .bind(id.0)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
            {
                Some(r) => Some(r.json::<Tenant>("doc")?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found("tenant", id))
    }

    async fn update_tenant(&self, tenant: &Tenant) -> Result<()> {
        let doc = to_json(tenant)?;
        let n = on_write!(&self.db, |pool, _pg| {
            sqlx::query("UPDATE tenants SET doc = $2 WHERE id = $1")
                .bind(tenant.id.0)
                .bind(&doc)
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        });
        if n == 0 {
            return Err(Error::not_found("tenant", tenant.id));
        }
        Ok(())
    }

    async fn list_tenants(&self, page: Page) -> Result<Paged<Tenant>> {
        let after = cursor(&page)?;
        let items = on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT doc FROM tenants WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(overfetch(&page))
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.json::<Tenant>("doc"))
            .collect::<Result<Vec<_>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), |t| {
            t.id.to_string()
        }))
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let mut user = user.clone();
        user.email = user.email.to_lowercase();
        let doc = to_json(&user)?;
        on_write!(&self.db, |pool, _pg| {
            sqlx::query("INSERT INTO users (tenant_id, id, email, doc) VALUES ($1, $2, $3, $4)")
                .bind(user.tenant_id.0)
                .bind(user.id.0)
                .bind(&user.email)
                .bind(&doc)
                .execute(pool)
                .await
                .map_err(unique_err("user", format!("{} is taken", user.email)))?;
        });
        Ok(())
    }

    async fn get_user(&self, tenant: TenantId, id: UserId) -> Result<User> {
        self.get_doc("users", "user", tenant.0, id.0).await
    }

    async fn find_user_by_email(&self, tenant: TenantId, email: &str) -> Result<User> {
        let email = email.to_lowercase();
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query("SELECT doc FROM users WHERE tenant_id = $1 AND email = $2")
                .bind(tenant.0)
                .bind(&email)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
            {
                Some(r) => Some(r.json::<User>("doc")?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found("user", email))
    }

    async fn list_users(&self, tenant: TenantId, page: Page) -> Result<Paged<User>> {
        self.list_docs("users", tenant.0, &page, |u: &User| u.id.to_string())
            .await
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        let mut user = user.clone();
        user.email = user.email.to_lowercase();
        let doc = to_json(&user)?;
        let n = on_write!(&self.db, |pool, _pg| {
            sqlx::query("UPDATE users SET email = $3, doc = $4 WHERE tenant_id = $1 AND id = $2")
                .bind(user.tenant_id.0)
                .bind(user.id.0)
                .bind(&user.email)
                .bind(&doc)
                .execute(pool)
                .await
                .map_err(unique_err("user", format!("{} is taken", user.email)))?
                .rows_affected()
        });
        if n == 0 {
            return Err(Error::not_found("user", user.id));
        }
        Ok(())
    }

    async fn delete_user(&self, tenant: TenantId, id: UserId) -> Result<()> {
        self.delete_row("users", "user", tenant.0, id.0).await
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<()> {
        let doc = to_json(key)?;
        on_write!(&self.db, |pool, _pg| {
            sqlx::query("INSERT INTO api_keys (tenant_id, id, hash, doc) VALUES ($1, $2, $3, $4)")
                .bind(key.tenant_id.0)
                .bind(key.id.0)
                .bind(&key.hash)
                .bind(&doc)
                .execute(pool)
                .await
                .map_err(unique_err(
                    "api key",
                    "hash or id already registered".into(),
                ))?;
        });
        Ok(())
    }

    async fn find_api_key(&self, hash: &str) -> Result<ApiKey> {
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query("SELECT doc FROM api_keys WHERE hash = $1")
                .bind(hash)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
            {
                Some(r) => Some(r.json::<ApiKey>("doc")?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found("api key", "with this secret"))
    }

    async fn list_api_keys(&self, tenant: TenantId, page: Page) -> Result<Paged<ApiKey>> {
        self.list_docs("api_keys", tenant.0, &page, |k: &ApiKey| k.id.to_string())
            .await
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        in_tx!(&self.db, |tx, _pg| {
            let row = sqlx::query("SELECT doc FROM api_keys WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| Error::not_found("api key", id))?;
            let mut key: ApiKey = row.json("doc")?;
            key.revoked_at.get_or_insert(at);
            sqlx::query("UPDATE api_keys SET doc = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .bind(to_json(&key)?)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        });
        Ok(())
    }

    async fn add_usage(
        &self,
        tenant: TenantId,
        period: &UsagePeriod,
        resource: QuotaResource,
        amount: u64,
        limit: Option<u64>,
    ) -> Result<u64> {
        let amount = to_i64(amount);
        let cap = limit.map(to_i64);
        // One statement: insert or add, only while the total stays within the limit. Row
        // locking (PostgreSQL) or the single writer (SQLite) makes it atomic.
        let total = on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "INSERT INTO usage_counters (tenant_id, period, resource, amount) \
                 SELECT $1, $2, $3, $4 WHERE $5 IS NULL OR $4 <= $5 \
                 ON CONFLICT (tenant_id, period, resource) DO UPDATE \
                 SET amount = usage_counters.amount + excluded.amount \
                 WHERE $5 IS NULL OR usage_counters.amount + excluded.amount <= $5 \
                 RETURNING amount",
            )
            .bind(tenant.0)
            .bind(period.as_str())
            .bind(resource.as_str())
            .bind(amount)
            .bind(cap)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?
            .map(|r| r.int("amount"))
            .transpose()?
        });
        match (total, limit) {
            (Some(total), _) => Ok(to_u64(total)),
            (None, Some(limit)) => Err(Error::QuotaExceeded {
                resource: resource.as_str().to_owned(),
                limit,
            }),
            (None, None) => Err(Error::Backend {
                message: "usage counter was not written".into(),
                transient: true,
                source: None,
            }),
        }
    }

    async fn usage(
        &self,
        tenant: TenantId,
        period: &UsagePeriod,
        resource: QuotaResource,
    ) -> Result<u64> {
        let n = on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT amount FROM usage_counters \
                 WHERE tenant_id = $1 AND period = $2 AND resource = $3",
            )
            .bind(tenant.0)
            .bind(period.as_str())
            .bind(resource.as_str())
            .fetch_optional(pool)
            .await
            .map_err(db_err)?
            .map(|r| r.int("amount"))
            .transpose()?
        });
        Ok(n.map(to_u64).unwrap_or(0))
    }
}

#[async_trait]
impl ActivityStore for SqlStore {
    async fn append_activity(&self, entry: &ActivityEntry) -> Result<()> {
        self.insert_doc(
            "activity",
            "activity entry",
            entry.tenant_id.0,
            entry.id.0,
            entry,
        )
        .await
    }

    async fn list_activity(&self, tenant: TenantId, page: Page) -> Result<Paged<ActivityEntry>> {
        self.list_docs("activity", tenant.0, &page, |e: &ActivityEntry| {
            e.id.to_string()
        })
        .await
    }
}
