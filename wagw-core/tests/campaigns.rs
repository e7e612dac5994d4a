//! The campaign engine on the memory backends and the stub transport.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{Setup, phone, quick, wait_until};
use wagw_core::campaign::CampaignEngine;
use wagw_core::content::MessageContent;
use wagw_core::ingest::apply_status_updates;
use wagw_core::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignState, SendingWindow,
};
use wagw_core::model::contact::{Contact, ContactFilter};
use wagw_core::model::message::{MessageStatus, StatusUpdate};
use wagw_core::model::template::{Template, TemplateCategory, TemplateDraft, TemplateStatus};
use wagw_core::store::{CampaignStore, ContactStore, TemplateStore, WamidUpdate};
use wagw_core::{ErrorCode, Queue};

struct Run {
    s: Setup,
    engine: CampaignEngine<
        wagw_store_memory::MemoryStore,
        wagw_store_memory::MemoryQueue,
        wagw_core::testkit::StubTransport,
    >,
}

impl Run {
    async fn new(throughput: u32) -> Self {
        let s = Setup::new(throughput).await;
        let engine = CampaignEngine::new(s.dispatcher(quick()));
        Self { s, engine }
    }

    fn text_campaign(&self, body: &str) -> Campaign {
        Campaign::new(
            self.s.tenant.id,
            self.s.channel.id,
            "Tagihan November",
            CampaignContent::Text { body: body.into() },
            Audience::default(),
        )
    }

    /// Runs the dispatcher and ticks the engine until `done`.
    async fn drive_until(
        &self,
        what: &str,
        mut done: impl AsyncFnMut() -> bool,
    ) -> wagw_core::dispatch::DispatcherHandle {
        let dispatcher = self.s.dispatcher(quick());
        let handle = dispatcher.start();
        let engine = CampaignEngine::new(dispatcher);
        wait_until(what, async || {
            engine.tick().await.expect("tick");
            done().await
        })
        .await;
        handle
    }

    /// A stored text campaign with `rows` recipients from a CSV, not started.
    async fn with_recipients(&self, body: &str, rows: u64) -> Campaign {
        let c = self.text_campaign(body);
        self.engine.create(&c).await.expect("create");
        let csv = csv_rows(rows);
        let report = self
            .engine
            .import_csv(self.s.tenant.id, c.id, csv.as_bytes())
            .await
            .expect("import");
        assert_eq!(report.added, rows);
        c
    }

    async fn state(&self, c: &Campaign) -> CampaignState {
        self.s
            .store
            .get_campaign(self.s.tenant.id, c.id)
            .await
            .expect("campaign")
            .state
    }
}

fn csv_rows(n: u64) -> String {
    let mut csv = String::from("nama,nomor,tagihan\n");
    for i in 0..n {
        csv.push_str(&format!("Pelanggan {i},0812{:08},Rp {}.000\n", i, 100 + i));
    }
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_reports_bad_rows_by_line_and_drops_duplicates() {
    let r = Run::new(80).await;
    let c = r.text_campaign("Halo {nama}");
    r.engine.create(&c).await.expect("create");
    let csv = "Nama,Nomor,Tagihan\n\
               Budi,08123456789,Rp 150.000\n\
               Budi lagi,+62 812-3456-789,Rp 150.000\n\
               Siti,12ab,Rp 99.000\n\
               Andi,0812 2222 3333,Rp 75.000,extra\n\
               Rina,0813 1111 2222,Rp 80.000\n";
    let report = r
        .engine
        .import_csv(r.s.tenant.id, c.id, csv.as_bytes())
        .await
        .expect("import");
    assert_eq!(
        (report.added, report.duplicates, report.rejected),
        (2, 1, 2)
    );
    let lines: Vec<_> = report.rejections.iter().map(|x| x.line).collect();
    assert_eq!(lines, [Some(4), Some(5)]);
    assert!(
        report.rejections[0].reason.contains("contains letters"),
        "{:?}",
        report.rejections[0]
    );
    let no_phone = r
        .engine
        .import_csv(r.s.tenant.id, c.id, "nama,kota\nBudi,Bandung\n".as_bytes())
        .await;
    assert_eq!(no_phone.unwrap_err().code(), ErrorCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audience_unites_filtered_contacts_and_explicit_numbers() {
    let r = Run::new(80).await;
    let contacts: Vec<_> = (0..10u64)
        .map(|n| {
            let mut c = Contact::new(r.s.tenant.id, phone(n), Some(format!("Pelanggan {n}")));
            c.fields.insert(
                "node".into(),
                if n < 4 { "ODP-001" } else { "ODP-002" }.into(),
            );
            c.tags.insert("active".into());
            c
        })
        .collect();
    r.s.store
        .upsert_contacts(r.s.tenant.id, &contacts)
        .await
        .expect("contacts");
    let mut c = r.text_campaign("Gangguan di {node}, {nama}");
    c.audience = Audience {
        filter: Some(ContactFilter {
            tags: BTreeSet::from(["active".into()]),
            fields: [("node".to_owned(), "ODP-001".to_owned())].into(),
            ..ContactFilter::default()
        }),
        numbers: vec![
            phone(0).as_str().to_owned(),
            "0812-9999-0000".into(),
            "abc".into(),
        ],
        csv: false,
    };
    r.engine.create(&c).await.expect("create");
    let report = r.engine.expand(r.s.tenant.id, c.id).await.expect("expand");
    assert_eq!(
        (report.added, report.duplicates, report.rejected),
        (5, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_checked_before_create_and_start() {
    let r = Run::new(80).await;
    let mut template = Template::new(
        r.s.tenant.id,
        r.s.channel.id,
        TemplateDraft {
            name: "tagihan".into(),
            language: "id".into(),
            category: TemplateCategory::Utility,
            components: vec![
                serde_json::json!({"type": "BODY", "text": "Halo {{1}}, tagihan {{2}}."}),
            ],
        },
    );
    template.status = TemplateStatus::Pending;
    r.s.store
        .create_template(&template)
        .await
        .expect("template");
    let content = |params: &[&str]| CampaignContent::Template {
        template_id: template.id,
        body_params: params.iter().map(|p| p.to_string()).collect(),
        header_params: vec![],
    };
    let mut bad = r.text_campaign("");
    bad.content = content(&["{nama}"]);
    assert_eq!(
        r.engine.create(&bad).await.unwrap_err().code(),
        ErrorCode::TemplateParamMismatch
    );

    let mut good = r.text_campaign("");
    good.content = content(&["{nama}", "{tagihan}"]);
    r.engine.create(&good).await.expect("create");
    r.engine
        .import_csv(r.s.tenant.id, good.id, csv_rows(3).as_bytes())
        .await
        .expect("import");
    let refused = r
        .engine
        .start(r.s.tenant.id, good.id, None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::InvalidState, "{refused}");

    let mut approved =
        r.s.store
            .get_template(r.s.tenant.id, template.id)
            .await
            .expect("get");
    approved.status = TemplateStatus::Approved;
    r.s.store.update_template(&approved).await.expect("approve");
    r.engine
        .start(r.s.tenant.id, good.id, None)
        .await
        .expect("start");
    let handle = r
        .drive_until("completed", async || {
            r.state(&good).await == CampaignState::Completed
        })
        .await;
    handle.shutdown().await;
    let sent = r.s.stub.sent();
    assert_eq!(sent.len(), 3);
    let first = sent
        .iter()
        .find(|m| m.message.to == phone(0).as_str())
        .expect("row 0 sent");
    let MessageContent::Template(t) = &first.message.content else {
        panic!("a template message");
    };
    let body = serde_json::to_value(&t.components).expect("json");
    assert_eq!(body[0]["parameters"][0]["text"], "Pelanggan 0");
    assert_eq!(body[0]["parameters"][1]["text"], "Rp 100.000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_runs_to_completion_and_reports_every_recipient() {
    let r = Run::new(500).await;
    let c = r
        .with_recipients("Halo {nama}, tagihan Anda {tagihan}.", 50)
        .await;
    assert_eq!(
        r.engine
            .start(r.s.tenant.id, c.id, None)
            .await
            .expect("start")
            .state,
        CampaignState::Running
    );
    let handle = r
        .drive_until("completed", async || {
            r.state(&c).await == CampaignState::Completed
        })
        .await;
    handle.shutdown().await;
    let sent = r.s.stub.sent();
    assert_eq!(sent.len(), 50);
    let texts: BTreeSet<_> = sent
        .iter()
        .filter_map(|m| match &m.message.content {
            MessageContent::Text(t) => Some(t.body.clone()),
            _ => None,
        })
        .collect();
    assert!(texts.contains("Halo Pelanggan 7, tagihan Anda Rp 107.000."));

    // Status webhooks move recipients on, out of order as Meta sends them.
    let report = r.engine.report(r.s.tenant.id, c.id).await.expect("report");
    let wamids: Vec<_> = sent.iter().filter_map(|m| m.wamid.clone()).collect();
    let mut updates = Vec::new();
    for (i, wamid) in wamids.iter().enumerate().take(10) {
        let status = if i < 5 {
            MessageStatus::Read
        } else {
            MessageStatus::Delivered
        };
        updates.push(WamidUpdate {
            wamid: wamid.clone(),
            update: StatusUpdate::new(status, Utc::now()),
        });
        updates.push(WamidUpdate {
            wamid: wamid.clone(),
            update: StatusUpdate::new(MessageStatus::Sent, Utc::now()),
        });
    }
    apply_status_updates(&*r.s.store, r.s.tenant.id, &updates)
        .await
        .expect("webhooks");
    let counters = r
        .engine
        .counters(r.s.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!(
        (counters.sent, counters.delivered, counters.read),
        (40, 5, 5)
    );
    assert_eq!(report.recipients.len(), 50);
    let mut csv = Vec::new();
    r.engine
        .report(r.s.tenant.id, c.id)
        .await
        .expect("report")
        .write_csv(&mut csv)
        .expect("csv");
    let csv = String::from_utf8(csv).expect("utf8");
    assert_eq!(csv.lines().count(), 51);
    assert!(csv.starts_with("phone,status,reason,message_id,updated_at,line,input\n"));
    assert_eq!(csv.matches(",read,").count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_takes_effect_at_once_and_resume_never_resends() {
    let r = Run::new(50).await;
    let c = r.with_recipients("Promo {nama}", 100).await;
    r.engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect("start");
    let handle = r
        .drive_until("under way", async || r.s.stub.sent().len() >= 20)
        .await;
    r.engine.pause(r.s.tenant.id, c.id).await.expect("pause");
    let at_pause = r.s.stub.sent().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = r.s.stub.sent().len();
    assert!(
        after - at_pause <= 1,
        "{} messages went out after the pause",
        after - at_pause
    );
    handle.shutdown().await;

    r.engine.resume(r.s.tenant.id, c.id).await.expect("resume");
    let handle = r
        .drive_until("completed", async || {
            r.state(&c).await == CampaignState::Completed
        })
        .await;
    handle.shutdown().await;
    let sent = r.s.stub.sent();
    let distinct: BTreeSet<_> = sent.iter().map(|m| m.message.to.clone()).collect();
    assert_eq!(
        (sent.len(), distinct.len()),
        (100, 100),
        "every recipient exactly once"
    );
    assert_eq!(r.s.queue.stats().await.expect("stats").pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_skips_everyone_not_yet_sent() {
    let r = Run::new(30).await;
    let c = r.with_recipients("Promo", 60).await;
    r.engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect("start");
    let handle = r
        .drive_until("under way", async || r.s.stub.sent().len() >= 5)
        .await;
    r.engine.cancel(r.s.tenant.id, c.id).await.expect("cancel");
    wait_until("queue drained", async || {
        r.s.queue.stats().await.expect("stats").pending() == 0
    })
    .await;
    handle.shutdown().await;
    let counters = r
        .engine
        .counters(r.s.tenant.id, c.id)
        .await
        .expect("counters");
    let sent = r.s.stub.sent().len() as u64;
    assert_eq!(
        counters.reached_sent() + counters.skipped + counters.failed,
        60
    );
    assert_eq!(counters.pending, 0);
    assert!(
        counters.reached_sent() <= sent,
        "{counters:?} vs {sent} sends"
    );
    assert!(counters.skipped >= 50, "{counters:?}");
    assert_eq!(r.state(&c).await, CampaignState::Cancelled);
    let err = r.engine.resume(r.s.tenant.id, c.id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidState);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_campaign_starts_when_due() {
    let r = Run::new(500).await;
    let c = r.with_recipients("Pengingat", 5).await;
    let at = Utc::now() + TimeDelta::milliseconds(400);
    let scheduled = r
        .engine
        .start(r.s.tenant.id, c.id, Some(at))
        .await
        .expect("schedule");
    assert_eq!(scheduled.state, CampaignState::Scheduled);
    // A dispatcher runs and the engine ticks before the start time: nothing goes out.
    let early = r.s.dispatcher(quick());
    let early_handle = early.start();
    let early_engine = CampaignEngine::new(early);
    while Utc::now() < at - TimeDelta::milliseconds(100) {
        early_engine.tick().await.expect("tick");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    early_handle.shutdown().await;
    assert!(r.s.stub.sent().is_empty(), "nothing before the start time");
    assert_eq!(r.state(&c).await, CampaignState::Scheduled);
    let handle = r
        .drive_until("completed", async || {
            r.state(&c).await == CampaignState::Completed
        })
        .await;
    handle.shutdown().await;
    assert!(r.s.stub.sent().iter().all(|m| m.at >= at));
    assert_eq!(r.s.stub.sent().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_outside_the_sending_window() {
    let r = Run::new(500).await;
    let mut c = r.text_campaign("Promo malam");
    let now = Utc::now().with_timezone(&r.s.tenant.timezone).time();
    let start = now + TimeDelta::hours(2);
    c.window = Some(SendingWindow {
        start,
        end: start + TimeDelta::hours(1),
    });
    r.engine.create(&c).await.expect("create");
    r.engine
        .import_csv(r.s.tenant.id, c.id, csv_rows(5).as_bytes())
        .await
        .expect("import");
    r.engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect("start");
    let handle = r
        .drive_until("a few ticks", {
            let mut ticks = 0;
            async move || {
                ticks += 1;
                ticks > 20
            }
        })
        .await;
    handle.shutdown().await;
    assert!(r.s.stub.sent().is_empty());
    let counters = r
        .engine
        .counters(r.s.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!(counters.pending, 5);
    assert_eq!(r.state(&c).await, CampaignState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_recipients_are_retried_in_a_new_round() {
    let r = Run::new(500).await;
    let c = r.with_recipients("Halo {nama}", 10).await;
    let undeliverable = wagw_core::TransportError::new(
        wagw_core::TransportErrorKind::Permanent,
        "the number is not on WhatsApp",
    )
    .with_code(131026);
    r.s.stub
        .push_outcomes([Err(undeliverable.clone()), Err(undeliverable)]);
    r.engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect("start");
    let handle = r
        .drive_until("first round done", async || {
            r.state(&c).await == CampaignState::Completed
        })
        .await;
    let first = r
        .engine
        .counters(r.s.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!((first.sent, first.failed), (8, 2));

    assert_eq!(
        r.engine
            .retry_failed(r.s.tenant.id, c.id)
            .await
            .expect("retry"),
        2
    );
    handle.shutdown().await;
    let handle = r
        .drive_until("second round done", async || {
            r.state(&c).await == CampaignState::Completed
        })
        .await;
    handle.shutdown().await;
    let second = r
        .engine
        .counters(r.s.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!((second.sent, second.failed, second.pending), (10, 0, 0));
    assert_eq!(
        r.s.stub.sent().len(),
        12,
        "only the two failed recipients again"
    );
    let again = r.engine.retry_failed(r.s.tenant.id, c.id).await;
    assert_eq!(again.expect("nothing left to retry"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_whose_template_is_paused_fails_with_the_reason() {
    let r = Run::new(80).await;
    let mut template = Template::new(
        r.s.tenant.id,
        r.s.channel.id,
        TemplateDraft {
            name: "promo".into(),
            language: "id".into(),
            category: TemplateCategory::Marketing,
            components: vec![serde_json::json!({"type": "BODY", "text": "Halo {{1}}"})],
        },
    );
    template.status = TemplateStatus::Approved;
    r.s.store
        .create_template(&template)
        .await
        .expect("template");
    let mut c = r.text_campaign("");
    c.content = CampaignContent::Template {
        template_id: template.id,
        body_params: vec!["{nama}".into()],
        header_params: vec![],
    };
    r.engine.create(&c).await.expect("create");
    r.engine
        .import_csv(r.s.tenant.id, c.id, csv_rows(3).as_bytes())
        .await
        .expect("import");
    r.engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect("start");
    // Meta pauses the template before the driver feeds the campaign.
    template.status = TemplateStatus::Paused;
    r.s.store.update_template(&template).await.expect("pause");
    r.engine.tick().await.expect("tick");
    let failed =
        r.s.store
            .get_campaign(r.s.tenant.id, c.id)
            .await
            .expect("campaign");
    assert_eq!(failed.state, CampaignState::Failed);
    assert!(failed.failure_reason.expect("reason").contains("PAUSED"));
    assert!(failed.finished_at.is_some());
    assert!(r.s.stub.sent().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_is_refused_while_the_campaign_runs() {
    let r = Run::new(20).await;
    let c = r.with_recipients("Halo {nama}", 40).await;
    let undeliverable = wagw_core::TransportError::new(
        wagw_core::TransportErrorKind::Permanent,
        "the number is not on WhatsApp",
    )
    .with_code(131026);
    r.s.stub.push_outcomes([Err(undeliverable)]);
    r.engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect("start");
    let handle = r
        .drive_until("one failed while running", async || {
            r.engine
                .counters(r.s.tenant.id, c.id)
                .await
                .expect("counters")
                .failed
                == 1
        })
        .await;
    let before =
        r.s.store
            .get_campaign(r.s.tenant.id, c.id)
            .await
            .expect("campaign");
    assert_eq!(before.state, CampaignState::Running);
    let err = r
        .engine
        .retry_failed(r.s.tenant.id, c.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidState);
    let after =
        r.s.store
            .get_campaign(r.s.tenant.id, c.id)
            .await
            .expect("campaign");
    assert_eq!(after.round, before.round, "a refused retry changes nothing");
    handle.shutdown().await;

    let handle = r
        .drive_until("completed", async || {
            r.state(&c).await == CampaignState::Completed
        })
        .await;
    assert_eq!(
        r.engine
            .retry_failed(r.s.tenant.id, c.id)
            .await
            .expect("retry"),
        1
    );
    handle.shutdown().await;
    let handle = r
        .drive_until("completed again", async || {
            r.state(&c).await == CampaignState::Completed
        })
        .await;
    handle.shutdown().await;
    let mut per: std::collections::HashMap<String, usize> = Default::default();
    for m in r.s.stub.sent() {
        *per.entry(m.message.to).or_default() += 1;
    }
    assert_eq!(per.len(), 40);
    let twice: Vec<_> = per.iter().filter(|(_, n)| **n > 1).collect();
    assert_eq!(twice.len(), 1, "only the failed recipient again: {twice:?}");
    let counters = r
        .engine
        .counters(r.s.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!(
        (counters.sent, counters.failed, counters.pending),
        (40, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poison_row_fails_alone_across_campaigns_and_tenants() {
    use wagw_core::model::channel::Channel;
    use wagw_core::model::tenant::{Plan, Tenant};
    use wagw_core::store::{ChannelStore, TenantStore};

    let r = Run::new(1_000).await;
    let other = Tenant::new("Warung Sebelah", Plan::enterprise());
    r.s.store.create_tenant(&other).await.expect("tenant");
    let other_channel = Channel::new(other.id, "b", "500000000000001", "1", phone(6_000));
    r.s.store
        .create_channel(&other_channel)
        .await
        .expect("channel");

    // Each campaign renders `{pesan}` from its CSV; the middle campaign has a row whose text
    // is empty and one over 4,096 characters.
    let mut campaigns = Vec::new();
    for (tenant, channel, poison) in [
        (r.s.tenant.id, r.s.channel.id, false),
        (r.s.tenant.id, r.s.channel.id, true),
        (other.id, other_channel.id, false),
    ] {
        let c = Campaign::new(
            tenant,
            channel,
            "Info",
            CampaignContent::Text {
                body: "{pesan}".into(),
            },
            Audience::default(),
        );
        r.engine.create(&c).await.expect("create");
        let mut csv = String::from("nomor,pesan\n");
        for i in 0..20u64 {
            let text = match (poison, i) {
                (true, 9) => String::new(),
                (true, 10) => "x".repeat(4_097),
                _ => format!("Halo {i}"),
            };
            csv.push_str(&format!(
                "0812{:08},{text}\n",
                campaigns.len() as u64 * 100 + i
            ));
        }
        r.engine
            .import_csv(tenant, c.id, csv.as_bytes())
            .await
            .expect("import");
        r.engine.start(tenant, c.id, None).await.expect("start");
        campaigns.push((tenant, c));
    }
    let handle = r
        .drive_until("all three finished", async || {
            let mut finished = true;
            for (tenant, c) in &campaigns {
                let state =
                    r.s.store
                        .get_campaign(*tenant, c.id)
                        .await
                        .expect("c")
                        .state;
                finished &= state == CampaignState::Completed;
            }
            finished
        })
        .await;
    handle.shutdown().await;
    assert_eq!(
        r.s.stub.sent().len(),
        58,
        "everyone but the two poison rows"
    );
    for (i, (tenant, c)) in campaigns.iter().enumerate() {
        let counters = r.engine.counters(*tenant, c.id).await.expect("counters");
        let expected_failed = if i == 1 { 2 } else { 0 };
        assert_eq!(
            (counters.failed, counters.pending),
            (expected_failed, 0),
            "campaign {i}"
        );
    }
    let report = r
        .engine
        .report(campaigns[1].0, campaigns[1].1.id)
        .await
        .expect("report");
    let reasons: Vec<_> = report
        .recipients
        .iter()
        .filter_map(|row| row.reason.clone())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_then_cancel_leaves_no_message_waiting() {
    use wagw_core::store::{MessageQuery, MessageStore, Page};

    let r = Run::new(20).await;
    let c = r.with_recipients("Promo", 40).await;
    r.engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect("start");
    let handle = r
        .drive_until("under way", async || r.s.stub.sent().len() >= 5)
        .await;
    r.engine.pause(r.s.tenant.id, c.id).await.expect("pause");
    // Let the dispatcher hold (and give up the jobs of) what it had queued.
    wait_until("held", async || {
        r.s.queue.stats().await.expect("stats").pending() == 0
    })
    .await;
    r.engine.cancel(r.s.tenant.id, c.id).await.expect("cancel");
    handle.shutdown().await;
    let messages =
        r.s.store
            .list_messages(
                r.s.tenant.id,
                &MessageQuery {
                    campaign: Some(c.id),
                    ..MessageQuery::default()
                },
                Page::first(1_000),
            )
            .await
            .expect("list");
    assert!(!messages.items.is_empty());
    let waiting: Vec<_> = messages
        .items
        .iter()
        .filter(|m| matches!(m.status, MessageStatus::Queued | MessageStatus::Sending))
        .collect();
    assert!(
        waiting.is_empty(),
        "{} messages wait forever",
        waiting.len()
    );
    let cancelled = messages
        .items
        .iter()
        .filter(|m| {
            m.error
                .as_ref()
                .is_some_and(|e| e.reason == "campaign_cancelled")
        })
        .count();
    assert!(cancelled > 0, "held messages failed with the reason");
    let counters = r
        .engine
        .counters(r.s.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!(counters.pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_is_charged_once_per_message_through_pause_and_restart() {
    use wagw_core::model::tenant::{Plan, QuotaResource, UsagePeriod};
    use wagw_core::store::TenantStore;

    let r = Run::new(10).await;
    let mut tenant = r.s.tenant.clone();
    tenant.plan = Plan::basic();
    r.s.store.update_tenant(&tenant).await.expect("plan");
    let c = r.with_recipients("Promo", 30).await;
    r.engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect("start");
    for _ in 0..2 {
        // Pause while jobs wait in the limiter, stop the dispatcher (which gives them back),
        // then resume: held and released messages come back.
        let target = r.s.stub.sent().len() + 5;
        let handle = r
            .drive_until("some progress", async || r.s.stub.sent().len() >= target)
            .await;
        r.engine.pause(r.s.tenant.id, c.id).await.expect("pause");
        tokio::time::sleep(Duration::from_millis(150)).await;
        handle.shutdown().await;
        r.engine.resume(r.s.tenant.id, c.id).await.expect("resume");
    }
    let handle = r
        .drive_until("completed", async || {
            r.state(&c).await == CampaignState::Completed
        })
        .await;
    handle.shutdown().await;
    assert_eq!(r.s.stub.sent().len(), 30);
    let used =
        r.s.store
            .usage(
                tenant.id,
                &UsagePeriod::month_of(Utc::now()),
                QuotaResource::MessagesPerMonth,
            )
            .await
            .expect("usage");
    assert_eq!(used, 30, "each message charged exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_are_fed_once_with_a_cursor() {
    use wagw_core::store::{MessageQuery, MessageStore, Page};

    let r = Run::new(80).await;
    // Three feeding batches; no dispatcher runs, so everything fed stays queued.
    let c = r.with_recipients("Promo {nama}", 2_500).await;
    r.engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect("start");
    r.engine.tick().await.expect("tick");
    let fed =
        r.s.store
            .get_campaign(r.s.tenant.id, c.id)
            .await
            .expect("campaign");
    assert!(fed.feed.done, "the whole round was fed in one tick");
    let jobs = r.s.queue.stats().await.expect("stats").pending();
    assert_eq!(jobs, 2_500);
    for _ in 0..3 {
        r.engine.tick().await.expect("tick");
    }
    let later =
        r.s.store
            .get_campaign(r.s.tenant.id, c.id)
            .await
            .expect("campaign");
    assert_eq!(
        later.version, fed.version,
        "later ticks feed nothing and save no cursor"
    );
    assert_eq!(r.s.queue.stats().await.expect("stats").pending(), jobs);
    let messages =
        r.s.store
            .list_messages(
                r.s.tenant.id,
                &MessageQuery {
                    campaign: Some(c.id),
                    ..MessageQuery::default()
                },
                Page::first(10_000),
            )
            .await
            .expect("list");
    assert_eq!(messages.items.len(), 2_500, "one message per recipient");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_whose_every_row_was_refused_cannot_start() {
    let r = Run::new(80).await;
    let c = r.text_campaign("Promo");
    r.engine.create(&c).await.expect("create");
    let report = r
        .engine
        .import_csv(
            r.s.tenant.id,
            c.id,
            "nama,nomor\nBudi,12ab\nSiti,\n".as_bytes(),
        )
        .await
        .expect("import");
    assert_eq!(report.added, 0);
    let err = r
        .engine
        .start(r.s.tenant.id, c.id, None)
        .await
        .expect_err("no recipient to send to");
    assert_eq!(err.code(), ErrorCode::InvalidState);
    let report = r.engine.report(r.s.tenant.id, c.id).await.expect("report");
    assert_eq!(
        report.recipients.len(),
        2,
        "every input row is accounted for"
    );
}

/// A report's CSV, uploaded again as the audience of a new campaign in an Indonesian tenant
/// (how people retry failed recipients), gives back exactly the same numbers, foreign ones
/// included: reports write the `+` form, never the bare wire digits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_csv_uploaded_again_gives_the_same_numbers() {
    let r = Run::new(500).await;
    assert_eq!(r.s.tenant.default_region.as_str(), "ID");
    let first = r.text_campaign("Halo {nama}");
    r.engine.create(&first).await.expect("create");
    // Indonesian, Singaporean, Malaysian and US numbers, as people type them.
    let csv = "nama,nomor\n\
               Budi,0812-3456-789\n\
               Tan,+65 6455 1245\n\
               Aminah,+60 12-345 6789\n\
               John,+1 (650) 253-0000\n";
    let report = r
        .engine
        .import_csv(r.s.tenant.id, first.id, csv.as_bytes())
        .await
        .expect("import");
    assert_eq!((report.added, report.rejected), (4, 0));
    r.engine
        .start(r.s.tenant.id, first.id, None)
        .await
        .expect("start");
    r.drive_until("completed", async || {
        r.state(&first).await == CampaignState::Completed
    })
    .await
    .shutdown()
    .await;
    let mut written = Vec::new();
    r.engine
        .report(r.s.tenant.id, first.id)
        .await
        .expect("report")
        .write_csv(&mut written)
        .expect("csv");

    let again = r.text_campaign("Halo lagi");
    r.engine.create(&again).await.expect("create");
    let report = r
        .engine
        .import_csv(r.s.tenant.id, again.id, written.as_slice())
        .await
        .expect("import the report");
    assert_eq!(
        (report.added, report.rejected, report.duplicates),
        (4, 0, 0),
        "{report:?}"
    );
    let numbers = async |c: &Campaign| -> BTreeSet<String> {
        let page =
            r.s.store
                .list_recipients(r.s.tenant.id, c.id, None, Default::default())
                .await
                .expect("recipients");
        page.items.iter().map(|x| x.phone.e164()).collect()
    };
    let expected: BTreeSet<String> = [
        "+628123456789",
        "+6564551245",
        "+60123456789",
        "+16502530000",
    ]
    .map(String::from)
    .into();
    assert_eq!(numbers(&first).await, expected);
    assert_eq!(numbers(&again).await, expected);
}
