//! Conformance cases for flow sessions' wake-ups ([`ConversationStore::due_sessions`]) and the
//! flow-engagement steps recorded with session saves.
//!
//! [`ConversationStore::due_sessions`]: crate::store::ConversationStore::due_sessions

use chrono::{Duration, TimeZone, Utc};

use super::fixtures::{Fixture, phone};
use crate::Store;
use crate::error::Error;
use crate::ids::FlowId;
use crate::model::conversation::EngagementCount;
use crate::model::flow::{ConversationSession, EngagementKind, FlowEngagement, SessionState};

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

/// Engagement steps are recorded with the save that takes them, counted per flow, kind and
/// node in a time range of one tenant; a stale or refused save records nothing.
pub async fn flow_engagement_is_recorded_with_the_save(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 2, 1, 0, 0)
        .single()
        .expect("time");
    let (menu, survey) = (FlowId::new(), FlowId::new());
    let step = |tenant, flow, kind, node: Option<&str>, minutes: i64| FlowEngagement {
        tenant_id: tenant,
        flow_id: flow,
        kind,
        node: node.map(str::to_owned),
        at: t0 + Duration::minutes(minutes),
    };
    let mut session = ConversationSession::new(fx.tenant.id, fx.channel.id, phone(1));
    session.version = store
        .save_session_with_engagement(
            &session,
            &[step(fx.tenant.id, menu, EngagementKind::Started, None, 0)],
        )
        .await
        .expect("create");
    let read_at_one = session.clone();
    session.version = store
        .save_session_with_engagement(
            &session,
            &[
                step(fx.tenant.id, menu, EngagementKind::Completed, None, 5),
                step(fx.tenant.id, survey, EngagementKind::Started, None, 5),
            ],
        )
        .await
        .expect("save");
    // A turn that read version 1 loses the race: its step is not counted.
    let stale = store
        .save_session_with_engagement(
            &read_at_one,
            &[step(
                fx.tenant.id,
                menu,
                EngagementKind::HandedOff,
                Some("agent"),
                6,
            )],
        )
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    // Another tenant's step is refused and the session is not saved.
    let refused = store
        .save_session_with_engagement(
            &session,
            &[step(fx.other.id, menu, EngagementKind::Started, None, 7)],
        )
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidInput { .. })),
        "{refused:?}"
    );
    session.version = store
        .save_session_with_engagement(
            &session,
            &[step(
                fx.tenant.id,
                survey,
                EngagementKind::DroppedOff,
                Some("ask_email"),
                30,
            )],
        )
        .await
        .expect("saved after the refusal, at the same version");
    let mut other = ConversationSession::new(fx.tenant.id, fx.channel.id, phone(2));
    other.version = store
        .save_session_with_engagement(
            &other,
            &[
                step(fx.tenant.id, survey, EngagementKind::Started, None, 40),
                step(
                    fx.tenant.id,
                    survey,
                    EngagementKind::DroppedOff,
                    Some("ask_email"),
                    50,
                ),
                // The next day: outside the range below.
                step(fx.tenant.id, survey, EngagementKind::Started, None, 24 * 60),
            ],
        )
        .await
        .expect("other user");
    let mut theirs = ConversationSession::new(fx.other.id, fx.other_channel.id, phone(3));
    theirs.version = store
        .save_session_with_engagement(
            &theirs,
            &[step(fx.other.id, menu, EngagementKind::Started, None, 1)],
        )
        .await
        .expect("another tenant");

    let mut counts = store
        .flow_engagement_counts(fx.tenant.id, t0, t0 + Duration::hours(23))
        .await
        .expect("counts");
    counts.sort_by(|a, b| (a.flow_id, a.kind, &a.node).cmp(&(b.flow_id, b.kind, &b.node)));
    let count = |flow, kind, node: Option<&str>, count| EngagementCount {
        flow_id: flow,
        kind,
        node: node.map(str::to_owned),
        count,
    };
    let mut expected = vec![
        count(menu, EngagementKind::Started, None, 1),
        count(menu, EngagementKind::Completed, None, 1),
        count(survey, EngagementKind::Started, None, 2),
        count(survey, EngagementKind::DroppedOff, Some("ask_email"), 2),
    ];
    expected.sort_by(|a, b| (a.flow_id, a.kind, &a.node).cmp(&(b.flow_id, b.kind, &b.node)));
    assert_eq!(counts, expected);
    let theirs_counted = store
        .flow_engagement_counts(fx.other.id, t0, t0 + Duration::hours(23))
        .await
        .expect("theirs");
    assert_eq!(
        theirs_counted,
        vec![count(menu, EngagementKind::Started, None, 1)]
    );
}
