//! Conformance cases for the send-outcome part of [`MessageStore`](crate::store::MessageStore):
//! atomic outcomes, statuses that arrive before the send's answer, the quota charged once per
//! message, and the reconciler's queries. Each case starts from an empty store; they are
//! stamped with the others by [`store_conformance_tests!`](crate::store_conformance_tests).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;

use super::fixtures::{Fixture, phone};
use crate::error::{Error, ErrorCode};
use crate::event::InboundMessage;
use crate::ids::*;
use crate::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignRecipient, RecipientStatus,
};
use crate::model::message::{MessageError, MessageRecord, MessageStatus, StatusUpdate};
use crate::model::tenant::{QuotaResource, UsagePeriod};
use crate::store::{Page, RecipientUpdate, Store, WamidUpdate};

fn campaign_of(tenant: TenantId, channel: ChannelId) -> Campaign {
    Campaign::new(
        tenant,
        channel,
        "Info gangguan",
        CampaignContent::Text {
            body: "Halo {nama}, layanan sedang gangguan.".into(),
        },
        Audience::default(),
    )
}

/// A campaign with `n` pending recipients (phones from `first`), stored.
async fn stored_campaign(
    store: &dyn Store,
    tenant: TenantId,
    channel: ChannelId,
    first: u64,
    n: u64,
) -> (Campaign, Vec<CampaignRecipient>) {
    let c = campaign_of(tenant, channel);
    store.create_campaign(&c).await.expect("create campaign");
    let list: Vec<_> = (first..first + n)
        .map(|k| {
            let vars = BTreeMap::from([("nama".to_owned(), format!("Pelanggan {k}"))]);
            CampaignRecipient::new(tenant, c.id, phone(k), vars)
        })
        .collect();
    store
        .insert_recipients(tenant, c.id, &list)
        .await
        .expect("insert recipients");
    (c, list)
}

/// A message of the campaign for `recipient`.
fn campaign_message(
    mut m: MessageRecord,
    campaign: &Campaign,
    recipient: &CampaignRecipient,
) -> MessageRecord {
    m.campaign_id = Some(campaign.id);
    m.recipient_id = Some(recipient.id);
    m
}

fn sent_update(recipient: &CampaignRecipient, message: MessageId) -> RecipientUpdate {
    RecipientUpdate {
        id: recipient.id,
        status: RecipientStatus::Sent,
        reason: None,
        message_id: Some(message),
    }
}

fn wamid_update(wamid: &str, update: StatusUpdate) -> WamidUpdate {
    WamidUpdate {
        wamid: wamid.to_owned(),
        update,
    }
}

async fn status_of(store: &dyn Store, tenant: TenantId, id: MessageId) -> MessageStatus {
    store.get_message(tenant, id).await.expect("get").status
}

async fn recipient_of(store: &dyn Store, tenant: TenantId, id: RecipientId) -> CampaignRecipient {
    store.get_recipient(tenant, id).await.expect("recipient")
}

/// Inserts a message and records an attempt, as the dispatcher does before sending.
async fn attempted(store: &dyn Store, m: &MessageRecord) {
    store.insert_message(m).await.expect("insert");
    let now = store
        .record_attempt(m.tenant_id, m.id)
        .await
        .expect("attempt");
    assert_eq!(now.status, MessageStatus::Sending);
}

fn expect_not_found<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(e) => assert_eq!(e.code(), ErrorCode::NotFound, "{what}: wrong error {e}"),
        Ok(v) => panic!("{what}: expected NOT_FOUND, got Ok({v:?})"),
    }
}

/// `record_outcome` writes the message status and its recipient in one call; another
/// tenant's message or recipient changes nothing.
pub async fn outcome_and_recipient_are_written_together(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t = fx.tenant.id;
    let now = Utc::now();
    let (c, list) = stored_campaign(store, t, fx.channel.id, 0, 4).await;
    let (_, foreign) = stored_campaign(store, fx.other.id, fx.other_channel.id, 100, 1).await;
    let m: Vec<_> = (0..4)
        .map(|i| campaign_message(fx.message(i, "x"), &c, &list[i as usize]))
        .collect();
    for message in &m {
        attempted(store, message).await;
    }

    let change = store
        .record_outcome(
            t,
            m[0].id,
            &StatusUpdate::sent("wamid.outcome.0", now),
            Some(&sent_update(&list[0], m[0].id)),
        )
        .await
        .expect("sent");
    assert_eq!(
        (change.from, change.to, change.recipient_id),
        (
            MessageStatus::Sending,
            MessageStatus::Sent,
            Some(list[0].id)
        )
    );
    let r0 = recipient_of(store, t, list[0].id).await;
    assert_eq!(
        (r0.status, r0.message_id),
        (RecipientStatus::Sent, Some(m[0].id))
    );
    assert_eq!(
        store
            .find_message_by_wamid(t, "wamid.outcome.0")
            .await
            .expect("by wamid")
            .id,
        m[0].id
    );

    let error = MessageError {
        code: Some(131_026),
        reason: "message undeliverable".into(),
    };
    let change = store
        .record_outcome(
            t,
            m[1].id,
            &StatusUpdate::failed(error.clone(), now),
            Some(&RecipientUpdate {
                id: list[1].id,
                status: RecipientStatus::Failed,
                reason: Some(error.reason.clone()),
                message_id: Some(m[1].id),
            }),
        )
        .await
        .expect("failed");
    assert_eq!(change.to, MessageStatus::Failed);
    let stored = store.get_message(t, m[1].id).await.expect("get");
    assert_eq!(stored.error, Some(error.clone()));
    let r1 = recipient_of(store, t, list[1].id).await;
    assert_eq!(r1.status, RecipientStatus::Failed);
    assert_eq!(r1.reason.as_deref(), Some("message undeliverable"));

    // A stale outcome moves neither (failed is terminal; the recipient stays failed).
    let change = store
        .record_outcome(
            t,
            m[1].id,
            &StatusUpdate::sent("wamid.outcome.late", now),
            Some(&sent_update(&list[1], m[1].id)),
        )
        .await
        .expect("stale");
    assert!(!change.moved());
    assert_eq!(
        recipient_of(store, t, list[1].id).await.status,
        RecipientStatus::Failed
    );

    // Another tenant's message: not found, and the recipient named with it does not move.
    expect_not_found(
        store
            .record_outcome(
                fx.other.id,
                m[2].id,
                &StatusUpdate::sent("wamid.outcome.2", now),
                Some(&sent_update(&list[2], m[2].id)),
            )
            .await,
        "another tenant's message",
    );
    assert_eq!(status_of(store, t, m[2].id).await, MessageStatus::Sending);
    assert_eq!(
        recipient_of(store, t, list[2].id).await.status,
        RecipientStatus::Pending
    );
    // An unknown message: not found, and its recipient does not move either.
    expect_not_found(
        store
            .record_outcome(
                t,
                MessageId::new(),
                &StatusUpdate::sent("wamid.outcome.x", now),
                Some(&sent_update(&list[3], m[3].id)),
            )
            .await,
        "unknown message",
    );
    assert_eq!(
        recipient_of(store, t, list[3].id).await.status,
        RecipientStatus::Pending
    );
    // Another tenant's recipient passed with this tenant's message: the message moves, the
    // foreign recipient does not.
    store
        .record_outcome(
            t,
            m[2].id,
            &StatusUpdate::sent("wamid.outcome.2", now),
            Some(&sent_update(&foreign[0], m[2].id)),
        )
        .await
        .expect("sent");
    assert_eq!(status_of(store, t, m[2].id).await, MessageStatus::Sent);
    let f = recipient_of(store, fx.other.id, foreign[0].id).await;
    assert_eq!((f.status, f.message_id), (RecipientStatus::Pending, None));

    let counters = store.campaign_counters(t, c.id).await.expect("counters");
    assert_eq!(
        (counters.sent, counters.failed, counters.pending),
        (1, 1, 2)
    );
}

/// A status for a wamid not recorded yet is kept and applied when the send's answer is
/// recorded: `sent`, `delivered` + `read`, and `failed` (which fails the recipient with the
/// reason) before the answer; a redelivered kept update does no harm; another tenant's kept
/// update never applies.
pub async fn status_before_the_send_answer_is_kept_and_applied(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t = fx.tenant.id;
    let now = Utc::now();
    let later = now + TimeDelta::seconds(2);
    let (c, list) = stored_campaign(store, t, fx.channel.id, 0, 3).await;
    let plain: Vec<_> = (10..14).map(|i| fx.message(i, "x")).collect();
    for m in &plain {
        attempted(store, m).await;
    }
    let m: Vec<_> = (0..3)
        .map(|i| campaign_message(fx.message(i, "x"), &c, &list[i as usize]))
        .collect();
    for message in &m {
        attempted(store, message).await;
    }

    let error = MessageError {
        code: Some(131_026),
        reason: "message undeliverable".into(),
    };
    let early = [
        wamid_update(
            "wamid.early.sent",
            StatusUpdate::new(MessageStatus::Sent, now),
        ),
        wamid_update(
            "wamid.early.dr",
            StatusUpdate::new(MessageStatus::Delivered, now),
        ),
        wamid_update(
            "wamid.early.dr",
            StatusUpdate::new(MessageStatus::Read, later),
        ),
        wamid_update(
            "wamid.early.failed",
            StatusUpdate::failed(error.clone(), now),
        ),
        wamid_update(
            "wamid.early.plain",
            StatusUpdate::new(MessageStatus::Read, later),
        ),
        // Redelivered: the same update twice in one batch.
        wamid_update(
            "wamid.early.dup",
            StatusUpdate::new(MessageStatus::Delivered, now),
        ),
        wamid_update(
            "wamid.early.dup",
            StatusUpdate::new(MessageStatus::Delivered, now),
        ),
    ];
    let results = store
        .update_statuses_by_wamid(t, &early)
        .await
        .expect("early statuses");
    assert_eq!(
        results,
        vec![None; early.len()],
        "unknown wamids report None"
    );
    // ... and redelivered again in a later batch.
    let again = store
        .update_statuses_by_wamid(t, &early[5..6])
        .await
        .expect("redelivered");
    assert_eq!(again, vec![None]);
    // Another tenant's webhook for a wamid this tenant will record: kept for that tenant only.
    store
        .update_statuses_by_wamid(
            fx.other.id,
            &[wamid_update(
                "wamid.early.other",
                StatusUpdate::new(MessageStatus::Read, now),
            )],
        )
        .await
        .expect("other tenant");

    // sent before the answer: the answer's sent applies, nothing moves backwards.
    let change = store
        .update_status(t, plain[0].id, &StatusUpdate::sent("wamid.early.sent", now))
        .await
        .expect("answer");
    assert_eq!(change.to, MessageStatus::Sent);

    // delivered + read before the answer, recorded with record_outcome: the message and its
    // recipient end read.
    let change = store
        .record_outcome(
            t,
            m[0].id,
            &StatusUpdate::sent("wamid.early.dr", now),
            Some(&sent_update(&list[0], m[0].id)),
        )
        .await
        .expect("answer");
    assert_eq!(
        (change.from, change.to),
        (MessageStatus::Sending, MessageStatus::Read)
    );
    assert_eq!(status_of(store, t, m[0].id).await, MessageStatus::Read);
    let r0 = recipient_of(store, t, list[0].id).await;
    assert_eq!(
        (r0.status, r0.message_id),
        (RecipientStatus::Read, Some(m[0].id))
    );

    // failed before the answer: the message fails with the reason, and so does its recipient.
    let change = store
        .record_outcome(
            t,
            m[1].id,
            &StatusUpdate::sent("wamid.early.failed", now),
            Some(&sent_update(&list[1], m[1].id)),
        )
        .await
        .expect("answer");
    assert_eq!(change.to, MessageStatus::Failed);
    let failed = store.get_message(t, m[1].id).await.expect("get");
    assert_eq!(failed.error, Some(error));
    let r1 = recipient_of(store, t, list[1].id).await;
    assert_eq!(r1.status, RecipientStatus::Failed);
    assert_eq!(r1.reason.as_deref(), Some("message undeliverable"));

    // update_status records the answer of a plain message and applies what was kept.
    let change = store
        .update_status(
            t,
            plain[1].id,
            &StatusUpdate::sent("wamid.early.plain", now),
        )
        .await
        .expect("answer");
    assert_eq!(change.to, MessageStatus::Read);
    let change = store
        .update_status(t, plain[2].id, &StatusUpdate::sent("wamid.early.dup", now))
        .await
        .expect("answer");
    assert_eq!(change.to, MessageStatus::Delivered);

    // The other tenant's kept read does not touch this tenant's message with that wamid.
    let change = store
        .update_status(
            t,
            plain[3].id,
            &StatusUpdate::sent("wamid.early.other", now),
        )
        .await
        .expect("answer");
    assert_eq!(change.to, MessageStatus::Sent);

    // Applied updates are gone; a redelivery after the answer applies as a known wamid.
    let redelivered = store
        .update_statuses_by_wamid(t, &early[5..6])
        .await
        .expect("redelivered after");
    assert_eq!(
        redelivered[0].map(|c| (c.moved(), c.to)),
        Some((false, MessageStatus::Delivered))
    );
    let far = Utc::now() + TimeDelta::days(3);
    assert_eq!(
        store.prune_pending_statuses(far).await.expect("prune"),
        1,
        "only the other tenant's kept update is left"
    );
    // A third campaign message whose answer comes with nothing kept stays sent.
    store
        .record_outcome(
            t,
            m[2].id,
            &StatusUpdate::sent("wamid.early.none", now),
            Some(&sent_update(&list[2], m[2].id)),
        )
        .await
        .expect("answer");
    assert_eq!(
        recipient_of(store, t, list[2].id).await.status,
        RecipientStatus::Sent
    );
    let counters = store.campaign_counters(t, c.id).await.expect("counters");
    assert_eq!(
        (
            counters.read,
            counters.failed,
            counters.sent,
            counters.pending
        ),
        (1, 1, 1, 0)
    );
}

/// Pruning removes only kept statuses older than the instant; a pruned one no longer applies.
pub async fn pending_statuses_prune_only_old_ones(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t = fx.tenant.id;
    let now = Utc::now();
    let old = now - TimeDelta::days(2);
    let keep = |n: u32, at: DateTime<Utc>| {
        wamid_update(
            &format!("wamid.prune.{n}"),
            StatusUpdate::new(MessageStatus::Delivered, at),
        )
    };
    let updates = [
        keep(0, old),
        keep(1, old),
        keep(2, now),
        keep(3, now),
        keep(4, old),
    ];
    store
        .update_statuses_by_wamid(t, &updates[..3])
        .await
        .expect("keep");
    store
        .update_statuses_by_wamid(fx.other.id, &updates[3..])
        .await
        .expect("keep other tenant");
    // Meta redelivers: the same status for the same wamid is kept once.
    store
        .update_statuses_by_wamid(t, &[keep(0, old)])
        .await
        .expect("keep a redelivery");
    let pruned = store
        .prune_pending_statuses(now - TimeDelta::days(1))
        .await
        .expect("prune");
    assert_eq!(pruned, 3, "the old ones of both tenants, each kept once");
    assert_eq!(
        store
            .prune_pending_statuses(now - TimeDelta::days(1))
            .await
            .expect("prune again"),
        0
    );
    // A pruned one no longer applies; a recent one still does.
    let a = fx.message(1, "a");
    let b = fx.message(2, "b");
    attempted(store, &a).await;
    attempted(store, &b).await;
    let change = store
        .update_status(t, a.id, &StatusUpdate::sent("wamid.prune.0", now))
        .await
        .expect("answer");
    assert_eq!(change.to, MessageStatus::Sent);
    let change = store
        .update_status(t, b.id, &StatusUpdate::sent("wamid.prune.2", now))
        .await
        .expect("answer");
    assert_eq!(change.to, MessageStatus::Delivered);
    assert_eq!(
        store
            .prune_pending_statuses(now + TimeDelta::hours(1))
            .await
            .expect("prune rest"),
        1,
        "the other tenant's recent one is all that is left"
    );
}

/// A message is charged to the monthly quota once, whatever the number of concurrent calls;
/// a charge past the limit is refused and changes nothing.
pub async fn charge_message_charges_once(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t = fx.tenant.id;
    let period = UsagePeriod::month_of(Utc::now());
    let usage = || store.usage(t, &period, QuotaResource::MessagesPerMonth);
    let a = fx.message(1, "a");
    let b = fx.message(2, "b");
    store
        .insert_messages(&[a.clone(), b.clone()])
        .await
        .expect("insert");

    let calls = (0..20).map(|_| store.charge_message(t, a.id, &period, Some(1_000)));
    let charged = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("charge"))
        .filter(|c| *c)
        .count();
    assert_eq!(charged, 1, "exactly one of 20 concurrent calls charges");
    assert_eq!(usage().await.expect("usage"), 1);
    assert!(
        !store
            .charge_message(t, a.id, &period, Some(1_000))
            .await
            .expect("again")
    );

    // At the limit: refused, nothing added, the message stays uncharged.
    match store.charge_message(t, b.id, &period, Some(1)).await {
        Err(Error::QuotaExceeded { resource, limit }) => {
            assert_eq!((resource.as_str(), limit), ("messages_per_month", 1));
        }
        other => panic!("expected QUOTA_EXCEEDED, got {other:?}"),
    }
    assert_eq!(usage().await.expect("usage"), 1);
    assert!(
        store
            .charge_message(t, b.id, &period, Some(2))
            .await
            .expect("charge b"),
        "a refused charge did not mark the message"
    );
    assert_eq!(usage().await.expect("usage"), 2);

    // Unknown and other tenants' messages: not found, nothing charged.
    expect_not_found(
        store
            .charge_message(t, MessageId::new(), &period, None)
            .await,
        "unknown message",
    );
    let foreign = fx.other_message(3, "c");
    store.insert_message(&foreign).await.expect("insert");
    expect_not_found(
        store.charge_message(t, foreign.id, &period, None).await,
        "another tenant's message",
    );
    assert_eq!(usage().await.expect("usage"), 2);
    assert_eq!(
        store
            .usage(fx.other.id, &period, QuotaResource::MessagesPerMonth)
            .await
            .expect("usage"),
        0
    );
}

fn inbound(fx: &Fixture, wamid: &str, at: DateTime<Utc>) -> MessageRecord {
    let json = serde_json::json!({
        "from": phone(77).as_str(),
        "id": wamid,
        "timestamp": at.timestamp().to_string(),
        "type": "text",
        "text": { "body": "Halo" }
    });
    let message: InboundMessage = serde_json::from_value(json).expect("inbound text");
    let mut record = MessageRecord::inbound(fx.tenant.id, fx.channel.id, phone(77), message);
    record.created_at = at;
    record
}

/// `queued_messages` pages every tenant's queued outbound messages created before the
/// instant, by id, without gaps or repeats; others are left out.
pub async fn queued_messages_page_across_tenants(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let now = Utc::now();
    let before = now - TimeDelta::minutes(1);
    let mut expected = Vec::new();
    for n in 0..13u64 {
        let mut m = if n % 2 == 0 {
            fx.message(n, "x")
        } else {
            fx.other_message(n, "x")
        };
        m.created_at = before;
        store.insert_message(&m).await.expect("insert");
        expected.push(m.id);
    }
    // Left out: attempted, failed, newer than the instant, inbound.
    let mut sending = fx.message(50, "sending");
    sending.created_at = before;
    attempted(store, &sending).await;
    let mut failed = fx.other_message(51, "failed");
    failed.created_at = before;
    store.insert_message(&failed).await.expect("insert");
    store
        .update_status(
            fx.other.id,
            failed.id,
            &StatusUpdate::failed(
                MessageError {
                    code: None,
                    reason: "x".into(),
                },
                now,
            ),
        )
        .await
        .expect("fail");
    let mut newer = fx.message(52, "newer");
    newer.created_at = now + TimeDelta::minutes(1);
    store.insert_message(&newer).await.expect("insert");
    store
        .insert_message(&inbound(&fx, "wamid.in.1", before))
        .await
        .expect("inbound");

    let mut seen = Vec::new();
    let mut page = Page::first(4);
    let mut pages = 0;
    loop {
        let got = store
            .queued_messages(now, page.clone())
            .await
            .expect("page");
        assert!(got.items.len() <= 4);
        for m in &got.items {
            assert_eq!(m.status, MessageStatus::Queued);
            seen.push(m.id);
        }
        pages += 1;
        match got.next {
            Some(next) => page = Page::after(4, next),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    expected.sort();
    assert_eq!(seen, expected, "every queued message once, by id");
    let tenants: HashSet<TenantId> = {
        let all = store
            .queued_messages(now, Page::first(100))
            .await
            .expect("all");
        all.items.iter().map(|m| m.tenant_id).collect()
    };
    assert_eq!(tenants, HashSet::from([fx.tenant.id, fx.other.id]));
    // An instant before everything: nothing.
    let none = store
        .queued_messages(before - TimeDelta::seconds(1), Page::first(10))
        .await
        .expect("none");
    assert!(none.items.is_empty() && none.next.is_none());
}

/// `sending_messages` pages every tenant's outbound messages in `sending`, by id, without gaps
/// or repeats; queued, sent and failed ones are left out.
pub async fn sending_messages_page_across_tenants(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut expected = Vec::new();
    for n in 0..7u64 {
        let m = if n % 2 == 0 {
            fx.message(n, "x")
        } else {
            fx.other_message(n, "x")
        };
        attempted(store, &m).await;
        expected.push(m.id);
    }
    // Left out: never attempted, sent after its attempt, failed after its attempt.
    store
        .insert_message(&fx.message(50, "queued"))
        .await
        .expect("insert");
    let sent = fx.other_message(51, "sent");
    attempted(store, &sent).await;
    store
        .update_status(
            fx.other.id,
            sent.id,
            &StatusUpdate::sent("wamid.sending.51", Utc::now()),
        )
        .await
        .expect("sent");
    let failed = fx.message(52, "failed");
    attempted(store, &failed).await;
    store
        .update_status(
            fx.tenant.id,
            failed.id,
            &StatusUpdate::failed(
                MessageError {
                    code: None,
                    reason: "x".into(),
                },
                Utc::now(),
            ),
        )
        .await
        .expect("fail");

    let mut seen = Vec::new();
    let mut page = Page::first(3);
    let mut pages = 0;
    loop {
        let got = store.sending_messages(page.clone()).await.expect("page");
        assert!(got.items.len() <= 3);
        for m in &got.items {
            assert_eq!(m.status, MessageStatus::Sending);
            seen.push(m.id);
        }
        pages += 1;
        match got.next {
            Some(next) => page = Page::after(3, next),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    expected.sort();
    assert_eq!(seen, expected, "every sending message once, by id");
}

/// `fail_queued_campaign_messages` fails only the still-queued messages of that campaign and
/// tenant, and moves their recipients with the reason.
pub async fn fail_queued_campaign_messages_touches_only_that_campaign(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t = fx.tenant.id;
    let now = Utc::now();
    let (c, list) = stored_campaign(store, t, fx.channel.id, 0, 4).await;
    let (c2, list2) = stored_campaign(store, t, fx.channel.id, 10, 1).await;
    let (oc, olist) = stored_campaign(store, fx.other.id, fx.other_channel.id, 20, 1).await;
    let m: Vec<_> = (0..4)
        .map(|i| campaign_message(fx.message(i, "x"), &c, &list[i as usize]))
        .collect();
    // m[0], m[1] stay queued; m[2] is being sent; m[3] was sent.
    store.insert_messages(&m[..2]).await.expect("insert");
    attempted(store, &m[2]).await;
    attempted(store, &m[3]).await;
    store
        .record_outcome(
            t,
            m[3].id,
            &StatusUpdate::sent("wamid.cancel.3", now),
            Some(&sent_update(&list[3], m[3].id)),
        )
        .await
        .expect("sent");
    // A queued campaign message without a recipient link fails too.
    let mut unlinked = fx.message(5, "x");
    unlinked.campaign_id = Some(c.id);
    let other_campaign = campaign_message(fx.message(10, "x"), &c2, &list2[0]);
    let foreign = campaign_message(fx.other_message(20, "x"), &oc, &olist[0]);
    let plain = fx.message(6, "x");
    store
        .insert_messages(&[
            unlinked.clone(),
            other_campaign.clone(),
            foreign.clone(),
            plain.clone(),
        ])
        .await
        .expect("insert");

    let error = MessageError {
        code: None,
        reason: "campaign_cancelled".into(),
    };
    // Another tenant naming this campaign: not found, nothing changes.
    expect_not_found(
        store
            .fail_queued_campaign_messages(fx.other.id, c.id, &error, RecipientStatus::Skipped)
            .await,
        "another tenant's campaign",
    );
    assert_eq!(status_of(store, t, m[0].id).await, MessageStatus::Queued);

    let failed = store
        .fail_queued_campaign_messages(t, c.id, &error, RecipientStatus::Skipped)
        .await
        .expect("fail queued");
    assert_eq!(failed, 3);
    for id in [m[0].id, m[1].id, unlinked.id] {
        let stored = store.get_message(t, id).await.expect("get");
        assert_eq!(stored.status, MessageStatus::Failed);
        assert_eq!(stored.error, Some(error.clone()));
    }
    for r in &list[..2] {
        let stored = recipient_of(store, t, r.id).await;
        assert_eq!(stored.status, RecipientStatus::Skipped);
        assert_eq!(stored.reason.as_deref(), Some("campaign_cancelled"));
    }
    assert_eq!(status_of(store, t, m[2].id).await, MessageStatus::Sending);
    assert_eq!(
        recipient_of(store, t, list[2].id).await.status,
        RecipientStatus::Pending
    );
    assert_eq!(status_of(store, t, m[3].id).await, MessageStatus::Sent);
    assert_eq!(
        recipient_of(store, t, list[3].id).await.status,
        RecipientStatus::Sent
    );
    assert_eq!(
        status_of(store, t, other_campaign.id).await,
        MessageStatus::Queued
    );
    assert_eq!(
        recipient_of(store, t, list2[0].id).await.status,
        RecipientStatus::Pending
    );
    assert_eq!(
        status_of(store, fx.other.id, foreign.id).await,
        MessageStatus::Queued
    );
    assert_eq!(
        recipient_of(store, fx.other.id, olist[0].id).await.status,
        RecipientStatus::Pending
    );
    assert_eq!(status_of(store, t, plain.id).await, MessageStatus::Queued);
    let counters = store.campaign_counters(t, c.id).await.expect("counters");
    assert_eq!(
        (counters.skipped, counters.pending, counters.sent),
        (2, 1, 1)
    );
    // Nothing queued is left: a second call fails nothing.
    assert_eq!(
        store
            .fail_queued_campaign_messages(t, c.id, &error, RecipientStatus::Skipped)
            .await
            .expect("again"),
        0
    );
}

/// A status webhook racing the send's answer is never lost: for each message, the webhook's
/// `delivered` and the recorded answer run concurrently, in either order, and every message
/// ends delivered.
pub async fn status_racing_the_send_answer_is_never_lost(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t = fx.tenant.id;
    let now = Utc::now();
    let messages: Vec<_> = (0..200u64).map(|n| fx.message(n, "x")).collect();
    store.insert_messages(&messages).await.expect("insert");
    for m in &messages {
        store.record_attempt(t, m.id).await.expect("attempt");
    }
    let wamid = |n: usize| format!("wamid.race.{n}");
    // Each message's webhook and answer side by side, so they meet on the connections.
    let mut writes: Vec<futures::future::BoxFuture<'_, crate::Result<()>>> = Vec::new();
    for (n, m) in messages.iter().enumerate() {
        let update = wamid_update(&wamid(n), StatusUpdate::new(MessageStatus::Delivered, now));
        let answer = StatusUpdate::sent(wamid(n), now);
        let webhook = Box::pin(async move {
            store
                .update_statuses_by_wamid(t, std::slice::from_ref(&update))
                .await
                .map(|_| ())
        });
        let answer =
            Box::pin(async move { store.update_status(t, m.id, &answer).await.map(|_| ()) });
        if n % 2 == 0 {
            writes.push(webhook);
            writes.push(answer);
        } else {
            writes.push(answer);
            writes.push(webhook);
        }
    }
    for result in join_all(writes).await {
        result.expect("write");
    }
    let mut lost = Vec::new();
    for (n, m) in messages.iter().enumerate() {
        if status_of(store, t, m.id).await != MessageStatus::Delivered {
            lost.push(n);
        }
    }
    assert!(lost.is_empty(), "delivered lost for messages {lost:?}");
}
