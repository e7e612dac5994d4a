use async_trait::async_trait;
use chrono::{DateTime, Utc};
use wagw_core::ids::{ChannelId, FlowId, RuleId, ScheduleId, SessionId, TenantId};
use wagw_core::model::auto_reply::AutoReplyRule;
use wagw_core::model::flow::{ConversationSession, Flow, FlowEngagement};
use wagw_core::model::schedule::ScheduledMessage;
use wagw_core::model::tenant::QuotaResource;
use wagw_core::model::webhook::WebhookDelivery;
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{ConversationStore, Page, Paged, ScheduleStore};
use wagw_core::{Error, Result};

use super::MemoryStore;

fn stale(entity: &'static str, given: u64, stored: u64) -> Error {
    Error::conflict(
        entity,
        format!("version {given} is stale; the stored version is {stored}"),
    )
}

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn create_flow(&self, flow: &Flow) -> Result<()> {
        self.state
            .write()
            .flows
            .insert_new(flow.tenant_id, flow.id, flow.clone())
    }

    async fn get_flow(&self, tenant: TenantId, id: FlowId) -> Result<Flow> {
        self.state.read().flows.get(tenant, id).cloned()
    }

    async fn list_flows(&self, tenant: TenantId, page: Page) -> Result<Paged<Flow>> {
        self.state.read().flows.page(tenant, &page, |_| true)
    }

    async fn update_flow(&self, flow: &Flow) -> Result<()> {
        self.state
            .write()
            .flows
            .replace(flow.tenant_id, flow.id, flow.clone())
    }

    async fn delete_flow(&self, tenant: TenantId, id: FlowId) -> Result<()> {
        self.state.write().flows.remove(tenant, id).map(drop)
    }

    async fn get_session(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        user: &PhoneNumber,
    ) -> Result<Option<ConversationSession>> {
        let state = self.state.read();
        Ok(state
            .session_by_user
            .get(&(tenant, channel, user.clone()))
            .and_then(|id| state.sessions.get(tenant, *id).ok())
            .cloned())
    }

    async fn save_session_with_deliveries(
        &self,
        session: &ConversationSession,
        engagement: &[FlowEngagement],
        deliveries: &[WebhookDelivery],
    ) -> Result<u64> {
        FlowEngagement::check_for(session, engagement)?;
        // One lock scope, every check before any write: all are stored or none.
        let mut state = self.state.write();
        state.check_deliveries(deliveries)?;
        let tenant = session.tenant_id;
        let user_key = (tenant, session.channel_id, session.user.clone());
        let version = if session.version == 0 {
            if state.session_by_user.contains_key(&user_key) {
                return Err(Error::conflict(
                    "session",
                    format!("{} already has a session on this channel", session.user),
                ));
            }
            let mut created = session.clone();
            created.version = 1;
            state.sessions.insert_new(tenant, session.id, created)?;
            state.session_by_user.insert(user_key, session.id);
            1
        } else {
            let stored = state.sessions.get_mut(tenant, session.id)?;
            if stored.version != session.version {
                return Err(stale("session", session.version, stored.version));
            }
            *stored = session.clone();
            stored.version += 1;
            stored.version
        };
        // Under the same lock as the save: recorded exactly when the save happened.
        state.engagement.extend_from_slice(engagement);
        state.insert_deliveries(deliveries);
        Ok(version)
    }

    async fn delete_session(&self, tenant: TenantId, id: SessionId) -> Result<()> {
        let mut state = self.state.write();
        let removed = state.sessions.remove(tenant, id)?;
        state
            .session_by_user
            .remove(&(tenant, removed.channel_id, removed.user));
        Ok(())
    }

    async fn due_sessions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ConversationSession>> {
        let state = self.state.read();
        let mut due: Vec<(DateTime<Utc>, &ConversationSession)> = state
            .sessions
            .all()
            .filter_map(|s| s.due_at().filter(|at| *at <= now).map(|at| (at, s)))
            .collect();
        due.sort_by_key(|(at, s)| (*at, s.id));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn create_rule(&self, rule: &AutoReplyRule, limit: Option<u64>) -> Result<()> {
        // Count and insert under one write lock: concurrent creations queue here.
        let mut state = self.state.write();
        if let Some(limit) = limit {
            let used = state.rules.tenant_rows(rule.tenant_id).count() as u64;
            if used >= limit {
                return Err(Error::QuotaExceeded {
                    resource: QuotaResource::AutoReplyRules.as_str().into(),
                    limit,
                });
            }
        }
        state
            .rules
            .insert_new(rule.tenant_id, rule.id, rule.clone())
    }

    async fn get_rule(&self, tenant: TenantId, id: RuleId) -> Result<AutoReplyRule> {
        self.state.read().rules.get(tenant, id).cloned()
    }

    async fn list_rules(&self, tenant: TenantId) -> Result<Vec<AutoReplyRule>> {
        let mut rules: Vec<_> = self
            .state
            .read()
            .rules
            .tenant_rows(tenant)
            .cloned()
            .collect();
        // Stable sort: equal priorities keep creation order.
        rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
        Ok(rules)
    }

    async fn update_rule(&self, rule: &AutoReplyRule) -> Result<()> {
        self.state
            .write()
            .rules
            .replace(rule.tenant_id, rule.id, rule.clone())
    }

    async fn delete_rule(&self, tenant: TenantId, id: RuleId) -> Result<()> {
        self.state.write().rules.remove(tenant, id).map(drop)
    }
}

#[async_trait]
impl ScheduleStore for MemoryStore {
    async fn create_schedule(&self, schedule: &ScheduledMessage) -> Result<()> {
        self.state
            .write()
            .schedules
            .insert_new(schedule.tenant_id, schedule.id, schedule.clone())
    }

    async fn get_schedule(&self, tenant: TenantId, id: ScheduleId) -> Result<ScheduledMessage> {
        self.state.read().schedules.get(tenant, id).cloned()
    }

    async fn list_schedules(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Paged<ScheduledMessage>> {
        self.state.read().schedules.page(tenant, &page, |_| true)
    }

    async fn count_schedules(&self, tenant: TenantId) -> Result<u64> {
        Ok(self.state.read().schedules.tenant_rows(tenant).count() as u64)
    }

    async fn update_schedule(&self, schedule: &ScheduledMessage) -> Result<u64> {
        let mut state = self.state.write();
        let stored = state.schedules.get_mut(schedule.tenant_id, schedule.id)?;
        if stored.version != schedule.version {
            return Err(stale("schedule", schedule.version, stored.version));
        }
        *stored = schedule.clone();
        stored.version += 1;
        Ok(stored.version)
    }

    async fn delete_schedule(&self, tenant: TenantId, id: ScheduleId) -> Result<()> {
        self.state.write().schedules.remove(tenant, id).map(drop)
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ScheduledMessage>> {
        let state = self.state.read();
        let mut due: Vec<_> = state
            .schedules
            .all()
            .filter(|s| s.active && s.next_run_at.is_some_and(|at| at <= now))
            .cloned()
            .collect();
        due.sort_by_key(|s| (s.next_run_at, s.id));
        due.truncate(limit);
        Ok(due)
    }
}
