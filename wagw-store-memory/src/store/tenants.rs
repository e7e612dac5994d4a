use async_trait::async_trait;
use chrono::{DateTime, Utc};
use wagw_core::ids::{ApiKeyId, TenantId, UserId};
use wagw_core::model::activity::ActivityEntry;
use wagw_core::model::tenant::{ApiKey, QuotaResource, Tenant, UsagePeriod, User};
use wagw_core::store::{ActivityStore, Page, Paged, TenantStore};
use wagw_core::{Error, Result};

use super::table::parse_cursor;
use super::{MemoryStore, State};

#[async_trait]
impl TenantStore for MemoryStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        let mut state = self.state.write();
        if state.tenants.contains_key(&tenant.id) {
            return Err(Error::conflict(
                "tenant",
                format!("{} already exists", tenant.id),
            ));
        }
        state.tenants.insert(tenant.id, tenant.clone());
        Ok(())
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Tenant> {
        self.state
            .read()
            .tenants
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::not_found("tenant", id))
    }

    async fn update_tenant(&self, tenant: &Tenant) -> Result<()> {
        let mut state = self.state.write();
        let stored = state
            .tenants
            .get_mut(&tenant.id)
            .ok_or_else(|| Error::not_found("tenant", tenant.id))?;
        *stored = tenant.clone();
        Ok(())
    }

    async fn list_tenants(&self, page: Page) -> Result<Paged<Tenant>> {
        let limit = page.effective_limit();
        let after = parse_cursor::<TenantId>(&page)?;
        let state = self.state.read();
        let items: Vec<Tenant> = state
            .tenants
            .values()
            .filter(|t| after.is_none_or(|a| t.id > a))
            .take(limit + 1)
            .cloned()
            .collect();
        Ok(Paged::from_overfetch(items, limit, |t| t.id.to_string()))
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let mut state = self.state.write();
        let email = user.email.to_lowercase();
        if state
            .users
            .tenant_rows(user.tenant_id)
            .any(|u| u.email.to_lowercase() == email)
        {
            return Err(Error::conflict("user", format!("{email} is taken")));
        }
        let mut user = user.clone();
        user.email = email;
        state.users.insert_new(user.tenant_id, user.id, user)
    }

    async fn get_user(&self, tenant: TenantId, id: UserId) -> Result<User> {
        self.state.read().users.get(tenant, id).cloned()
    }

    async fn find_user_by_email(&self, tenant: TenantId, email: &str) -> Result<User> {
        let email = email.to_lowercase();
        self.state
            .read()
            .users
            .tenant_rows(tenant)
            .find(|u| u.email == email)
            .cloned()
            .ok_or_else(|| Error::not_found("user", email))
    }

    async fn list_users(&self, tenant: TenantId, page: Page) -> Result<Paged<User>> {
        self.state.read().users.page(tenant, &page, |_| true)
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        let mut state = self.state.write();
        let email = user.email.to_lowercase();
        if state
            .users
            .tenant_rows(user.tenant_id)
            .any(|u| u.id != user.id && u.email == email)
        {
            return Err(Error::conflict("user", format!("{email} is taken")));
        }
        let mut user = user.clone();
        user.email = email;
        state.users.replace(user.tenant_id, user.id, user)
    }

    async fn delete_user(&self, tenant: TenantId, id: UserId) -> Result<()> {
        self.state.write().users.remove(tenant, id).map(drop)
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<()> {
        let mut state = self.state.write();
        if state.api_key_by_hash.contains_key(&key.hash) {
            return Err(Error::conflict("api key", "hash already registered"));
        }
        state
            .api_keys
            .insert_new(key.tenant_id, key.id, key.clone())?;
        state
            .api_key_by_hash
            .insert(key.hash.clone(), (key.tenant_id, key.id));
        Ok(())
    }

    async fn find_api_key(&self, hash: &str) -> Result<ApiKey> {
        let state = self.state.read();
        let (tenant, id) = state
            .api_key_by_hash
            .get(hash)
            .ok_or_else(|| Error::not_found("api key", "with this secret"))?;
        state.api_keys.get(*tenant, *id).cloned()
    }

    async fn list_api_keys(&self, tenant: TenantId, page: Page) -> Result<Paged<ApiKey>> {
        self.state.read().api_keys.page(tenant, &page, |_| true)
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut state = self.state.write();
        let key = state.api_keys.get_mut(tenant, id)?;
        key.revoked_at.get_or_insert(at);
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
        self.state
            .write()
            .add_usage(tenant, period, resource, amount, limit)
    }

    async fn usage(
        &self,
        tenant: TenantId,
        period: &UsagePeriod,
        resource: QuotaResource,
    ) -> Result<u64> {
        let key = (tenant, period.as_str().to_owned(), resource);
        Ok(self.state.read().usage.get(&key).copied().unwrap_or(0))
    }
}

#[async_trait]
impl ActivityStore for MemoryStore {
    async fn append_activity(&self, entry: &ActivityEntry) -> Result<()> {
        self.state
            .write()
            .activity
            .insert_new(entry.tenant_id, entry.id, entry.clone())
    }

    async fn list_activity(&self, tenant: TenantId, page: Page) -> Result<Paged<ActivityEntry>> {
        self.state.read().activity.page(tenant, &page, |_| true)
    }
}

impl State {
    /// Adds to a usage counter unless that takes it past `limit` (then nothing changes).
    pub(super) fn add_usage(
        &mut self,
        tenant: TenantId,
        period: &UsagePeriod,
        resource: QuotaResource,
        amount: u64,
        limit: Option<u64>,
    ) -> Result<u64> {
        let counter = self
            .usage
            .entry((tenant, period.as_str().to_owned(), resource))
            .or_default();
        let total = counter.saturating_add(amount);
        if let Some(limit) = limit.filter(|limit| total > *limit) {
            return Err(Error::QuotaExceeded {
                resource: resource.as_str().to_owned(),
                limit,
            });
        }
        *counter = total;
        Ok(total)
    }
}
