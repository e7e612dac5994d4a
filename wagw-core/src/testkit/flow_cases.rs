//! Conformance cases for flow sessions' wake-ups ([`ConversationStore::due_sessions`]).
//!
//! [`ConversationStore::due_sessions`]: crate::store::ConversationStore::due_sessions

use chrono::{Duration, Utc};

use super::fixtures::{Fixture, phone};
use crate::Store;
use crate::ids::FlowId;
use crate::model::flow::{ConversationSession, SessionState};

/// Sessions come due by node timeout, expiry or end of hand-off, across tenants, earliest
/// first; a finished session is no longer due, and a due session's wake-up is saved once.
pub async fn sessions_come_due_at_timeouts_expiry_and_handoff_end(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t = Utc::now();
    let active = |n: u64| {
        let mut s = ConversationSession::new(fx.tenant.id, fx.channel.id, phone(n));
        s.state = SessionState::Active;
        s.flow_id = Some(FlowId::new());
        s.flow_version = 3;
        s.node = Some("ask".into());
        s
    };
    let mut waiting = active(1);
    waiting.wake_at = Some(t + Duration::seconds(30));
    waiting.expires_at = Some(t + Duration::seconds(600));
    let mut idle_expiring = active(2);
    idle_expiring.expires_at = Some(t + Duration::hours(1));
    let mut handed_off = ConversationSession::new(fx.other.id, fx.other_channel.id, phone(3));
    handed_off.state = SessionState::HandedOff;
    handed_off.handoff_until = Some(t + Duration::seconds(10));
    let idle = ConversationSession::new(fx.tenant.id, fx.channel.id, phone(4));
    for session in [&waiting, &idle_expiring, &handed_off, &idle] {
        store.save_session(session).await.expect("save");
    }
    let ids = |sessions: Vec<ConversationSession>| -> Vec<_> {
        sessions.into_iter().map(|s| s.id).collect()
    };

    assert!(
        store
            .due_sessions(t + Duration::seconds(5), 10)
            .await
            .expect("due")
            .is_empty()
    );
    let due = store
        .due_sessions(t + Duration::seconds(31), 10)
        .await
        .expect("due");
    assert_eq!(
        ids(due.clone()),
        [handed_off.id, waiting.id],
        "earliest first, across tenants"
    );
    assert_eq!(
        due[1].wake_at, waiting.wake_at,
        "the session's fields survive the store"
    );
    assert_eq!(due[1].flow_version, 3);
    assert_eq!(
        ids(store
            .due_sessions(t + Duration::seconds(31), 1)
            .await
            .expect("due")),
        [handed_off.id]
    );

    // The sweeper applies the wake-up with the version check: the second save is stale.
    let mut woken = due[1].clone();
    woken.state = SessionState::Ended;
    woken.wake_at = None;
    woken.expires_at = None;
    store.save_session(&woken).await.expect("first wake-up");
    assert!(
        store.save_session(&woken).await.is_err(),
        "a second sweeper loses"
    );
    assert_eq!(
        ids(store
            .due_sessions(t + Duration::hours(2), 10)
            .await
            .expect("due")),
        [handed_off.id, idle_expiring.id]
    );
}
