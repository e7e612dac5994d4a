//! Conformance cases for the campaign part of [`Store`]: the due-campaign query, counters
//! maintained through every recipient change, and refused inputs stored without cap. They run
//! with the [`store_cases`](super::store_cases) (the macro stamps them from there).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{TimeDelta, Utc};

use super::fixtures::{Fixture, phone};
use crate::error::{Error, ErrorCode};
use crate::ids::{CampaignId, RecipientId, TenantId};
use crate::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignCounters, CampaignRecipient, CampaignState,
    RecipientStatus, Rejection,
};
use crate::store::{Page, RecipientUpdate, Store};

fn campaign(tenant: TenantId, channel: crate::ids::ChannelId, name: &str) -> Campaign {
    Campaign::new(
        tenant,
        channel,
        name,
        CampaignContent::Text {
            body: "Halo {nama}".into(),
        },
        Audience::default(),
    )
}

fn recipient(tenant: TenantId, campaign: CampaignId, n: u64) -> CampaignRecipient {
    let vars = BTreeMap::from([("nama".to_owned(), format!("Pelanggan {n}"))]);
    CampaignRecipient::new(tenant, campaign, phone(n), vars)
}

fn rejection(tenant: TenantId, campaign: CampaignId, n: u64) -> Rejection {
    let mut r = Rejection::new(
        tenant,
        campaign,
        Some(n + 2),
        &format!("Pelanggan {n},08x{n}"),
        "invalid number: contains letters",
    );
    // Stores keep microseconds (PostgreSQL's resolution); start from a time they can keep.
    r.created_at = chrono::DateTime::from_timestamp_micros(r.created_at.timestamp_micros())
        .expect("a representable time");
    r
}

fn expect_code<T: std::fmt::Debug>(result: Result<T, Error>, code: ErrorCode, what: &str) {
    match result {
        Err(e) => assert_eq!(e.code(), code, "{what}: wrong error {e}"),
        Ok(v) => panic!("{what}: expected {code}, got Ok({v:?})"),
    }
}

/// Every due campaign's id, page by page, checking the pages are in id order without repeats.
async fn all_due(store: &dyn Store, now: chrono::DateTime<Utc>, limit: usize) -> Vec<CampaignId> {
    let mut ids = Vec::new();
    let mut page = Page::first(limit);
    loop {
        let got = store.due_campaigns(now, page).await.expect("due campaigns");
        assert!(got.items.len() <= limit, "a page holds at most its limit");
        ids.extend(got.items.iter().map(|c| c.id));
        match got.next {
            Some(next) => page = Page::after(limit, next),
            None => break,
        }
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "paged by id: {ids:?}");
    ids
}

/// `due_campaigns` returns exactly the running campaigns and the scheduled ones whose start
/// time has come (or that have none), of every tenant, paged by id; it follows state changes.
pub async fn due_campaigns_are_running_and_due_scheduled_ones(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let now = Utc::now();
    let mut due = BTreeSet::new();
    let mut later = None;
    let mut running_a = None;
    let cases = [
        (CampaignState::Running, None, true),
        (
            CampaignState::Scheduled,
            Some(now - TimeDelta::minutes(5)),
            true,
        ),
        (CampaignState::Scheduled, Some(now), true),
        (CampaignState::Scheduled, None, true),
        (
            CampaignState::Scheduled,
            Some(now + TimeDelta::hours(1)),
            false,
        ),
        (CampaignState::Draft, None, false),
        (CampaignState::Draft, Some(now - TimeDelta::hours(1)), false),
        (
            CampaignState::Paused,
            Some(now - TimeDelta::hours(1)),
            false,
        ),
        (CampaignState::Completed, None, false),
        (CampaignState::Cancelled, None, false),
        (CampaignState::Failed, None, false),
    ];
    for (tenant, channel) in [
        (fx.tenant.id, fx.channel.id),
        (fx.other.id, fx.other_channel.id),
    ] {
        for (state, start_at, is_due) in cases {
            let mut c = campaign(tenant, channel, state.as_str());
            c.state = state;
            c.start_at = start_at;
            store.create_campaign(&c).await.expect("create");
            if is_due {
                due.insert(c.id);
            }
            if tenant == fx.tenant.id && state == CampaignState::Running {
                running_a = Some(c.clone());
            }
            if tenant == fx.tenant.id && start_at > Some(now) {
                later = Some(c.clone());
            }
        }
    }
    for limit in [1, 3, 100] {
        let got: BTreeSet<_> = all_due(store, now, limit).await.into_iter().collect();
        assert_eq!(got, due, "page size {limit}");
    }
    let first = store
        .due_campaigns(now, Page::first(100))
        .await
        .expect("due");
    assert!(
        first.items.iter().all(|c| due.contains(&c.id)
            && matches!(c.state, CampaignState::Running | CampaignState::Scheduled)),
        "whole campaigns come back"
    );

    // State changes move campaigns in and out.
    let mut paused = running_a.expect("a running campaign");
    paused
        .transition(CampaignState::Paused, "pause")
        .expect("pause");
    store.update_campaign(&paused).await.expect("pause");
    due.remove(&paused.id);
    let mut started = later.expect("a later campaign");
    started
        .transition(CampaignState::Running, "start")
        .expect("start");
    store.update_campaign(&started).await.expect("start");
    due.insert(started.id);
    let mut draft = campaign(fx.other.id, fx.other_channel.id, "draft started");
    store.create_campaign(&draft).await.expect("create");
    draft
        .transition(CampaignState::Running, "start")
        .expect("start");
    store.update_campaign(&draft).await.expect("start");
    due.insert(draft.id);
    let got: BTreeSet<_> = all_due(store, now, 2).await.into_iter().collect();
    assert_eq!(got, due, "after pausing one and starting two");

    // Rescheduling moves the start time both ways.
    let mut moved = campaign(fx.tenant.id, fx.channel.id, "rescheduled");
    moved.state = CampaignState::Scheduled;
    moved.start_at = Some(now + TimeDelta::hours(2));
    store.create_campaign(&moved).await.expect("create");
    moved.start_at = Some(now - TimeDelta::minutes(1));
    moved.version = store.update_campaign(&moved).await.expect("earlier");
    assert!(
        all_due(store, now, 10).await.contains(&moved.id),
        "moved earlier"
    );
    moved.start_at = Some(now + TimeDelta::hours(3));
    store.update_campaign(&moved).await.expect("later");
    assert!(
        !all_due(store, now, 10).await.contains(&moved.id),
        "moved later"
    );

    // Time makes the later one due; deleting a scheduled one takes it out.
    let mut later_still = campaign(fx.tenant.id, fx.channel.id, "tomorrow");
    later_still.state = CampaignState::Scheduled;
    later_still.start_at = Some(now + TimeDelta::days(1));
    store.create_campaign(&later_still).await.expect("create");
    assert!(!all_due(store, now, 10).await.contains(&later_still.id));
    let tomorrow = now + TimeDelta::days(1) + TimeDelta::seconds(1);
    assert!(all_due(store, tomorrow, 10).await.contains(&later_still.id));
    store
        .delete_campaign(fx.tenant.id, later_still.id)
        .await
        .expect("delete");
    assert!(!all_due(store, tomorrow, 10).await.contains(&later_still.id));

    expect_code(
        store
            .due_campaigns(now, Page::after(10, "not-a-cursor"))
            .await,
        ErrorCode::InvalidInput,
        "bad cursor",
    );
}

/// Recounts a campaign from its listings: recipients by status, refused inputs as skipped.
async fn recount(store: &dyn Store, tenant: TenantId, campaign: CampaignId) -> CampaignCounters {
    let mut counters = CampaignCounters::default();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let got = store
            .list_recipients(tenant, campaign, None, page)
            .await
            .expect("recipients");
        for r in &got.items {
            counters.add(r.status, 1);
        }
        match got.next {
            Some(next) => page = Page::after(Page::MAX_LIMIT, next),
            None => break,
        }
    }
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let got = store
            .list_rejections(tenant, campaign, page)
            .await
            .expect("rejections");
        counters.add_rejected(got.items.len() as u64);
        match got.next {
            Some(next) => page = Page::after(Page::MAX_LIMIT, next),
            None => break,
        }
    }
    counters
}

/// Counters equal a recount after a random sequence of inserts, updates (forward, repeated,
/// backwards, unknown and other tenants' ids), retries of failed recipients, rejections and
/// deletions; each campaign's and tenant's counters move only with their own recipients.
pub async fn campaign_counters_match_a_recount(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut rng = fastrand::Rng::with_seed(0x5EED_0008);
    // Three campaigns of the tenant, one of the other tenant; each with its recipients' ids.
    let mut live: Vec<(TenantId, CampaignId, Vec<RecipientId>)> = Vec::new();
    for (tenant, channel, n) in [
        (fx.tenant.id, fx.channel.id, 3),
        (fx.other.id, fx.other_channel.id, 1),
    ] {
        for i in 0..n {
            let c = campaign(tenant, channel, &format!("c{i}"));
            store.create_campaign(&c).await.expect("create");
            live.push((tenant, c.id, Vec::new()));
        }
    }
    let mut deleted: Vec<(TenantId, CampaignId)> = Vec::new();
    for step in 0..150 {
        let k = rng.usize(..live.len());
        let (tenant, id) = (live[k].0, live[k].1);
        match rng.u8(..100) {
            0..30 => {
                // Phones overlap across steps, so some are duplicates.
                let batch: Vec<_> = (0..rng.u64(1..40))
                    .map(|_| recipient(tenant, id, rng.u64(..300)))
                    .collect();
                store
                    .insert_recipients(tenant, id, &batch)
                    .await
                    .expect("insert");
                let page = store
                    .list_recipients(tenant, id, None, Page::first(Page::MAX_LIMIT))
                    .await
                    .expect("list");
                live[k].2 = page.items.iter().map(|r| r.id).collect();
            }
            30..75 => {
                let known = &live[k].2;
                let updates: Vec<_> = (0..rng.usize(1..30))
                    .map(|_| {
                        let id = if known.is_empty() || rng.u8(..10) == 0 {
                            RecipientId::new()
                        } else {
                            known[rng.usize(..known.len())]
                        };
                        RecipientUpdate {
                            id,
                            status: RecipientStatus::ALL[rng.usize(..RecipientStatus::ALL.len())],
                            reason: rng.bool().then(|| "because".to_owned()),
                            message_id: rng.bool().then(crate::ids::MessageId::new),
                        }
                    })
                    .collect();
                store
                    .update_recipients(tenant, &updates)
                    .await
                    .expect("update");
                // The same updates under the wrong tenant change nothing.
                let other = if tenant == fx.tenant.id {
                    fx.other.id
                } else {
                    fx.tenant.id
                };
                assert_eq!(
                    store
                        .update_recipients(other, &updates)
                        .await
                        .expect("foreign update"),
                    0,
                    "step {step}: another tenant's recipients do not move"
                );
            }
            75..85 => {
                store
                    .retry_failed_recipients(tenant, id)
                    .await
                    .expect("retry");
            }
            85..95 => {
                let batch: Vec<_> = (0..rng.u64(1..20))
                    .map(|n| rejection(tenant, id, n))
                    .collect();
                store
                    .insert_rejections(tenant, id, &batch)
                    .await
                    .expect("rejections");
            }
            _ => {
                if live.len() > 2 {
                    store.delete_campaign(tenant, id).await.expect("delete");
                    live.remove(k);
                    deleted.push((tenant, id));
                }
            }
        }
        for (tenant, id, _) in &live {
            let kept = store
                .campaign_counters(*tenant, *id)
                .await
                .expect("counters");
            assert_eq!(
                kept,
                recount(store, *tenant, *id).await,
                "step {step}: campaign {id}"
            );
        }
    }
    for (tenant, id) in deleted {
        expect_code(
            store.campaign_counters(tenant, id).await,
            ErrorCode::NotFound,
            "deleted campaign",
        );
    }
    let (tenant, id, _) = live
        .iter()
        .find(|(t, _, r)| *t == fx.tenant.id && !r.is_empty())
        .expect("a campaign with recipients survives");
    expect_code(
        store.campaign_counters(fx.other.id, *id).await,
        ErrorCode::NotFound,
        "another tenant's counters",
    );
    assert!(
        store
            .campaign_counters(*tenant, *id)
            .await
            .expect("counters")
            .total
            > 0
    );
}

/// Refused inputs are stored without cap (5,000 here), page in order without gaps or repeats,
/// count as skipped, are isolated per tenant, and go with their campaign.
pub async fn rejections_are_stored_without_cap(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let c = campaign(fx.tenant.id, fx.channel.id, "outage");
    store.create_campaign(&c).await.expect("create");
    let added = store
        .insert_recipients(
            fx.tenant.id,
            c.id,
            &(0..10)
                .map(|n| recipient(fx.tenant.id, c.id, n))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("recipients");
    assert_eq!(added, 10);
    let all: Vec<_> = (0..5_000)
        .map(|n| rejection(fx.tenant.id, c.id, n))
        .collect();
    for chunk in all.chunks(2_000) {
        assert_eq!(
            store
                .insert_rejections(fx.tenant.id, c.id, chunk)
                .await
                .expect("store rejections"),
            chunk.len() as u64
        );
    }
    // Storing the same ones again stores nothing and counts nothing.
    assert_eq!(
        store
            .insert_rejections(fx.tenant.id, c.id, &all[..100])
            .await
            .expect("again"),
        0
    );
    let counters = store
        .campaign_counters(fx.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!(
        (counters.total, counters.pending, counters.skipped),
        (5_010, 10, 5_000)
    );
    assert_eq!((counters.rejected, counters.recipients()), (5_000, 10));

    let mut listed = Vec::new();
    let mut page = Page::first(700);
    loop {
        let got = store
            .list_rejections(fx.tenant.id, c.id, page)
            .await
            .expect("list");
        assert!(got.items.len() <= 700);
        listed.extend(got.items);
        match got.next {
            Some(next) => page = Page::after(700, next),
            None => break,
        }
    }
    assert_eq!(listed.len(), all.len(), "every rejection is listed once");
    if let Some(i) = (0..all.len()).find(|&i| listed[i] != all[i]) {
        panic!(
            "rejections come back as stored, in the order refused: #{i} is {:?}, stored {:?}",
            listed[i], all[i]
        );
    }

    // Bad input changes nothing: another campaign's rows, another tenant, a missing campaign.
    let other_campaign = campaign(fx.tenant.id, fx.channel.id, "other");
    store
        .create_campaign(&other_campaign)
        .await
        .expect("create");
    let mixed = vec![
        rejection(fx.tenant.id, c.id, 1),
        rejection(fx.tenant.id, other_campaign.id, 2),
    ];
    expect_code(
        store.insert_rejections(fx.tenant.id, c.id, &mixed).await,
        ErrorCode::InvalidInput,
        "a rejection of another campaign",
    );
    expect_code(
        store
            .insert_rejections(fx.other.id, c.id, &[rejection(fx.other.id, c.id, 1)])
            .await,
        ErrorCode::NotFound,
        "another tenant's campaign",
    );
    expect_code(
        store
            .list_rejections(fx.other.id, c.id, Page::default())
            .await,
        ErrorCode::NotFound,
        "another tenant lists",
    );
    expect_code(
        store
            .list_rejections(fx.tenant.id, c.id, Page::after(10, "x"))
            .await,
        ErrorCode::InvalidInput,
        "bad cursor",
    );
    assert_eq!(
        store
            .campaign_counters(fx.tenant.id, c.id)
            .await
            .expect("counters"),
        counters,
        "nothing changed"
    );
    let untouched = store
        .campaign_counters(fx.tenant.id, other_campaign.id)
        .await
        .expect("counters");
    assert_eq!(untouched, CampaignCounters::default());
    assert!(
        store
            .list_rejections(fx.tenant.id, other_campaign.id, Page::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );

    // Deleting the campaign deletes its rejections and counters: the same id starts afresh.
    store
        .delete_campaign(fx.tenant.id, c.id)
        .await
        .expect("delete");
    expect_code(
        store
            .list_rejections(fx.tenant.id, c.id, Page::default())
            .await,
        ErrorCode::NotFound,
        "deleted campaign",
    );
    let mut again = c.clone();
    again.version = 0;
    store.create_campaign(&again).await.expect("same id again");
    assert!(
        store
            .list_rejections(fx.tenant.id, c.id, Page::default())
            .await
            .expect("list")
            .items
            .is_empty(),
        "the deleted campaign's rejections went with it"
    );
    assert_eq!(
        store
            .campaign_counters(fx.tenant.id, c.id)
            .await
            .expect("counters"),
        CampaignCounters::default(),
        "the deleted campaign's counters went with it"
    );
}

/// `insert_recipients_reporting` names the recipients it skipped: phones stored before and
/// phones repeated within the batch; the others are added.
pub async fn recipient_insert_reports_duplicates(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let c = campaign(fx.tenant.id, fx.channel.id, "dups");
    store.create_campaign(&c).await.expect("create");
    let first: Vec<_> = (0..5).map(|n| recipient(fx.tenant.id, c.id, n)).collect();
    assert!(
        store
            .insert_recipients_reporting(fx.tenant.id, c.id, &first)
            .await
            .expect("first")
            .is_empty()
    );
    // Positions 1 and 3 were stored before; 4 repeats position 0 of this batch.
    let batch: Vec<_> = [10, 1, 11, 3, 10, 12]
        .into_iter()
        .map(|n| recipient(fx.tenant.id, c.id, n))
        .collect();
    let skipped = store
        .insert_recipients_reporting(fx.tenant.id, c.id, &batch)
        .await
        .expect("second");
    assert_eq!(skipped, [1, 3, 4]);
    let stored: HashMap<_, _> = store
        .list_recipients(fx.tenant.id, c.id, None, Page::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|r| (r.id, r.phone))
        .collect();
    assert_eq!(stored.len(), 8);
    for i in [0, 2, 5] {
        assert_eq!(stored.get(&batch[i].id), Some(&batch[i].phone));
    }
    expect_code(
        store
            .insert_recipients_reporting(fx.other.id, c.id, &[recipient(fx.other.id, c.id, 50)])
            .await,
        ErrorCode::NotFound,
        "another tenant's campaign",
    );
    assert_eq!(
        store
            .campaign_counters(fx.tenant.id, c.id)
            .await
            .expect("counters")
            .total,
        8
    );
}

/// Counters stay equal to a recount when several writers move one campaign's recipients at
/// once, in batches that mix statuses (so a backend's call runs several statements); no call
/// fails on a lock.
pub async fn campaign_counters_hold_under_concurrent_updates(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let c = campaign(fx.tenant.id, fx.channel.id, "busy");
    store.create_campaign(&c).await.expect("create");
    let list: Vec<_> = (0..400).map(|n| recipient(fx.tenant.id, c.id, n)).collect();
    store
        .insert_recipients(fx.tenant.id, c.id, &list)
        .await
        .expect("recipients");
    let ids: Vec<RecipientId> = list.iter().map(|r| r.id).collect();
    let writers = (0..6u64).map(|w| {
        let ids = ids.clone();
        async move {
            let mut rng = fastrand::Rng::with_seed(w);
            for _ in 0..15 {
                let updates: Vec<_> = (0..40)
                    .map(|_| RecipientUpdate {
                        id: ids[rng.usize(..ids.len())],
                        status: RecipientStatus::ALL[rng.usize(1..RecipientStatus::ALL.len())],
                        reason: None,
                        message_id: None,
                    })
                    .collect();
                store
                    .update_recipients(fx.tenant.id, &updates)
                    .await
                    .expect("concurrent update");
            }
        }
    });
    let more = async {
        for start in (400..600).step_by(50) {
            let batch: Vec<_> = (start..start + 50)
                .map(|n| recipient(fx.tenant.id, c.id, n))
                .collect();
            store
                .insert_recipients(fx.tenant.id, c.id, &batch)
                .await
                .expect("concurrent insert");
            store
                .retry_failed_recipients(fx.tenant.id, c.id)
                .await
                .expect("concurrent retry");
        }
    };
    tokio::join!(futures::future::join_all(writers), more);
    assert_eq!(
        store
            .campaign_counters(fx.tenant.id, c.id)
            .await
            .expect("counters"),
        recount(store, fx.tenant.id, c.id).await
    );
}
