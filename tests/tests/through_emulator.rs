//! The send pipeline end to end: campaigns and one-off messages through the dispatcher,
//! `MetaTransport` and the Cloud API emulator, with the emulator's signed status webhooks
//! flowing back into the store.

use std::collections::BTreeSet;
use std::time::Duration;

use wagw_core::Queue;
use wagw_core::campaign::CampaignEngine;
use wagw_core::content::MessageContent;
use wagw_core::dispatch::{DispatcherConfig, DispatcherHandle, NewMessage};
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent, CampaignState};
use wagw_core::model::message::Priority;
use wagw_core::model::template::{Template, TemplateCategory, TemplateDraft};
use wagw_core::store::CampaignStore;
use wagw_e2e::{Gateway, GatewaySpec, phone};
use wagw_store_memory::{MemoryQueue, MemoryStore};

type Engine = CampaignEngine<MemoryStore, MemoryQueue, wagw_e2e::Recording>;

fn draft() -> TemplateDraft {
    TemplateDraft {
        name: "tagihan".into(),
        language: "id".into(),
        category: TemplateCategory::Utility,
        components: vec![serde_json::json!({
            "type": "BODY",
            "text": "Halo {{1}}, tagihan Anda {{2}} jatuh tempo besok."
        })],
    }
}

fn config() -> DispatcherConfig {
    DispatcherConfig {
        idle_poll: Duration::from_millis(5),
        ..DispatcherConfig::default()
    }
}

/// A template campaign on `channel` to `count` recipients numbered from `first`.
async fn campaign(
    gw: &Gateway,
    engine: &Engine,
    channel: usize,
    template: &Template,
    first: u64,
    count: u64,
) -> Campaign {
    let c = Campaign::new(
        gw.tenant.id,
        gw.channels[channel].id,
        format!("Tagihan {channel}"),
        CampaignContent::Template {
            template_id: template.id,
            body_params: vec!["{nama}".into(), "{tagihan}".into()],
            header_params: vec![],
        },
        Audience::default(),
    );
    engine.create(&c).await.expect("create");
    let mut csv = String::from("nama,nomor,tagihan\n");
    for n in first..first + count {
        csv.push_str(&format!(
            "Pelanggan {n},{},Rp {}.000\n",
            phone(n).as_str(),
            100 + n % 50
        ));
    }
    let report = engine
        .import_csv(gw.tenant.id, c.id, csv.as_bytes())
        .await
        .expect("import");
    assert_eq!(report.added, count);
    engine.start(gw.tenant.id, c.id, None).await.expect("start")
}

/// Runs a dispatcher and a campaign driver until stopped.
struct Running {
    dispatcher: DispatcherHandle,
    driver: tokio::task::JoinHandle<()>,
}

fn run(gw: &Gateway, config: DispatcherConfig) -> (Running, wagw_e2e::E2eDispatcher) {
    let dispatcher = gw.dispatcher(config);
    let engine = CampaignEngine::new(dispatcher.clone());
    let handle = dispatcher.start();
    let driver = tokio::spawn(async move {
        loop {
            if let Err(e) = engine.tick().await {
                eprintln!("tick failed: {e}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (
        Running {
            dispatcher: handle,
            driver,
        },
        dispatcher,
    )
}

impl Running {
    async fn stop(self) {
        self.driver.abort();
        self.dispatcher.shutdown().await;
    }

    fn crash(self) {
        self.driver.abort();
        self.dispatcher.abort();
    }
}

async fn state(gw: &Gateway, c: &Campaign) -> CampaignState {
    gw.store
        .get_campaign(gw.tenant.id, c.id)
        .await
        .expect("campaign")
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_to_2000_recipients_on_four_numbers_ends_cleanly() {
    let unreachable = vec![phone(13), phone(1_013)];
    let gw = Gateway::start(GatewaySpec {
        numbers: 4,
        rate: 200,
        unreachable,
        webhooks: true,
    })
    .await;
    let engine = CampaignEngine::new(gw.dispatcher(config()));
    let mut campaigns = Vec::new();
    for ch in 0..4 {
        let template = gw.approved_template(ch, draft()).await;
        campaigns.push(campaign(&gw, &engine, ch, &template, ch as u64 * 500, 500).await);
    }
    let (running, _) = run(&gw, config());
    gw.wait(
        "every campaign completed",
        Duration::from_secs(60),
        async || {
            for c in &campaigns {
                if state(&gw, c).await != CampaignState::Completed {
                    return false;
                }
            }
            true
        },
    )
    .await;
    assert!(
        gw.emulator.webhooks_idle(Duration::from_secs(20)).await,
        "webhooks drained"
    );
    running.stop().await;

    let mut delivered_or_read = 0;
    let mut failed = 0;
    for c in &campaigns {
        let n = engine.counters(gw.tenant.id, c.id).await.expect("counters");
        assert_eq!(n.total, 500);
        assert_eq!((n.pending, n.sent, n.skipped), (0, 0, 0), "{n:?}");
        assert_eq!(
            n.delivered + n.read + n.failed,
            500,
            "each recipient in one final state"
        );
        delivered_or_read += n.delivered + n.read;
        failed += n.failed;
    }
    assert_eq!((delivered_or_read, failed), (1_998, 2));
    for ch in &gw.channels {
        let counters = gw.emulator.counters(&ch.phone_number_id).expect("counters");
        assert_eq!(counters.accepted, 500, "{counters:?}");
        assert_eq!(counters.error(130429), 0, "throughput errors");
        assert_eq!(counters.error(131056), 0, "pair-limit errors");
    }
    let failures: Vec<_> = gw
        .emulator
        .counters(&gw.channels[0].phone_number_id)
        .expect("c")
        .failed
        .into_iter()
        .collect();
    assert_eq!(failures, vec![(131026, 1)]);
    assert_eq!(gw.webhooks().rejected, 0, "every webhook verified");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel_take_effect_mid_run() {
    let gw = Gateway::start(GatewaySpec {
        rate: 40,
        ..GatewaySpec::default()
    })
    .await;
    let engine = CampaignEngine::new(gw.dispatcher(config()));
    let template = gw.approved_template(0, draft()).await;
    let c = campaign(&gw, &engine, 0, &template, 0, 200).await;
    let pnid = gw.channels[0].phone_number_id.clone();
    let accepted = || gw.emulator.counters(&pnid).map_or(0, |c| c.accepted);
    let (running, _) = run(&gw, config());

    gw.wait("some sent", Duration::from_secs(20), async || {
        accepted() >= 30
    })
    .await;
    engine.pause(gw.tenant.id, c.id).await.expect("pause");
    let at_pause = accepted();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        accepted() - at_pause <= 1,
        "{} sent after the pause",
        accepted() - at_pause
    );

    engine.resume(gw.tenant.id, c.id).await.expect("resume");
    gw.wait("more sent", Duration::from_secs(20), async || {
        accepted() >= 100
    })
    .await;
    engine.cancel(gw.tenant.id, c.id).await.expect("cancel");
    gw.wait("queue drained", Duration::from_secs(20), async || {
        gw.queue.stats().await.expect("stats").pending() == 0
    })
    .await;
    let at_cancel = accepted();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(accepted(), at_cancel, "nothing after the cancel settled");
    running.stop().await;

    let sent = gw.transport.sent();
    let distinct: BTreeSet<_> = sent
        .iter()
        .filter(|s| s.accepted)
        .map(|s| s.to.clone())
        .collect();
    assert_eq!(
        distinct.len() as u64,
        accepted(),
        "no recipient received two messages"
    );
    let n = engine.counters(gw.tenant.id, c.id).await.expect("counters");
    assert_eq!(n.pending, 0);
    assert_eq!(n.reached_sent() + n.failed + n.skipped, 200);
    assert_eq!(n.skipped + accepted(), 200, "{n:?}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_goes_out_before_the_next_five_campaign_messages() {
    let gw = Gateway::start(GatewaySpec {
        rate: 20,
        webhooks: false,
        ..GatewaySpec::default()
    })
    .await;
    let engine = CampaignEngine::new(gw.dispatcher(config()));
    let template = gw.approved_template(0, draft()).await;
    campaign(&gw, &engine, 0, &template, 0, 300).await;
    let no_window = DispatcherConfig {
        enforce_window: false,
        ..config()
    };
    let (running, dispatcher) = run(&gw, no_window);
    gw.wait(
        "the blast saturates the number",
        Duration::from_secs(20),
        async || gw.transport.sent().len() >= 20,
    )
    .await;
    let user = phone(99_999);
    let before = gw.transport.sent().len();
    let reply = NewMessage::new(
        gw.tenant.id,
        gw.channels[0].id,
        user.clone(),
        MessageContent::text("Baik kak, pesanan Anda kami proses."),
    )
    .priority(Priority::Urgent);
    dispatcher.submit(reply).await.expect("reply");
    gw.wait("the reply is sent", Duration::from_secs(10), async || {
        gw.transport.sent().iter().any(|s| s.to == user.as_str())
    })
    .await;
    running.stop().await;
    let sent = gw.transport.sent();
    let position = sent
        .iter()
        .position(|s| s.to == user.as_str())
        .expect("reply");
    assert!(
        position - before < 5,
        "{} campaign messages went first",
        position - before
    );
    let counters = gw
        .emulator
        .counters(&gw.channels[0].phone_number_id)
        .expect("counters");
    assert_eq!(counters.error(130429), 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_campaign_loses_nothing_and_counts_its_duplicates() {
    let gw = Gateway::start(GatewaySpec {
        rate: 200,
        webhooks: false,
        ..GatewaySpec::default()
    })
    .await;
    let engine = CampaignEngine::new(gw.dispatcher(config()));
    let template = gw.approved_template(0, draft()).await;
    let c = campaign(&gw, &engine, 0, &template, 0, 400).await;
    let pnid = gw.channels[0].phone_number_id.clone();
    let accepted = || gw.emulator.counters(&pnid).map_or(0, |c| c.accepted);
    let crashy = DispatcherConfig {
        visibility: Duration::from_secs(1),
        ..config()
    };

    let (first, _) = run(&gw, crashy.clone());
    gw.wait("a quarter sent", Duration::from_secs(20), async || {
        accepted() >= 100
    })
    .await;
    first.crash();

    let (second, dispatcher) = run(&gw, crashy);
    gw.wait(
        "completed after the restart",
        Duration::from_secs(60),
        async || state(&gw, &c).await == CampaignState::Completed,
    )
    .await;
    second.stop().await;

    let n = engine.counters(gw.tenant.id, c.id).await.expect("counters");
    assert_eq!(
        (n.reached_sent(), n.pending),
        (400, 0),
        "nothing lost: {n:?}"
    );
    let duplicates = accepted() - 400;
    assert!(
        duplicates <= dispatcher.stats().ambiguous,
        "{duplicates} duplicates, {} counted as ambiguous",
        dispatcher.stats().ambiguous
    );
    gw.stop().await;
}
