//! The inbound pipeline and the conversation runner on the memory backends, with a small
//! test-only flow engine: messages stored once and answered once, crashes that lose nothing,
//! the interplay of flows, rules and hand-off, cooldowns, quotas, outbox events and template
//! status.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use common::{Setup, phone, quick};
use serde_json::json;
use wagw_core::content::MessageContent;
use wagw_core::conversation::auto_reply::create_rule;
use wagw_core::conversation::runner::reply_key;
use wagw_core::conversation::template_sync::sync_channel;
use wagw_core::conversation::{ConversationRunner, InboundPipeline, RoutedEvent, RunnerConfig};
use wagw_core::event::{InboundEvent, InboundKind, InboundMessage};
use wagw_core::flow::{activate, load_document};
use wagw_core::flow_engine::{FlowEngine, FlowOutcome};
use wagw_core::ids::{FlowId, SubscriptionId};
use wagw_core::model::Secret;
use wagw_core::model::auto_reply::{AutoReplyRule, KeywordMatch, RuleAction};
use wagw_core::model::conversation::{HandledBy, JobState};
use wagw_core::model::flow::{ConversationSession, Flow, SessionState};
use wagw_core::model::message::{Direction, MessageRecord, MessageStatus, Priority, StatusUpdate};
use wagw_core::model::template::{Template, TemplateCategory, TemplateDraft, TemplateStatus};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::model::webhook::{EventKind, WebhookSubscription};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{
    ChannelStore, ContactStore, ConversationStore, InboundStore, MessageQuery, MessageStore, Page,
    TemplateStore, TenantStore, WebhookStore,
};
use wagw_core::testkit::StubTransport;
use wagw_core::{ErrorCode, Transport};
use wagw_store_memory::{MemoryQueue, MemoryStore};

/// A tiny menu bot. At `start` it sends the menu and waits at `menu`; at `menu`, `1` answers
/// the bill and waits at `confirm`, anything else is not handled; at `confirm`, any text ends
/// the flow.
struct MenuBot;

#[async_trait]
impl FlowEngine for MenuBot {
    async fn handle(
        &self,
        mut session: ConversationSession,
        message: &InboundMessage,
    ) -> wagw_core::Result<FlowOutcome> {
        let text = match &message.kind {
            InboundKind::Text(t) => t.body.trim().to_owned(),
            _ => String::new(),
        };
        let (replies, handled) = match session.node.as_deref() {
            Some("start") => {
                session.node = Some("menu".into());
                (
                    vec![MessageContent::text("Menu: 1. Tagihan 2. Gangguan")],
                    true,
                )
            }
            Some("menu") if text == "1" => {
                session.node = Some("confirm".into());
                (vec![MessageContent::text("Tagihan Anda Rp 150.000")], true)
            }
            Some("confirm") => {
                session.node = None;
                session.state = SessionState::Ended;
                (vec![MessageContent::text("Terima kasih")], true)
            }
            _ => (Vec::new(), false),
        };
        Ok(FlowOutcome {
            replies,
            session,
            handled,
            events: Vec::new(),
            wake_at: None,
        })
    }

    async fn start(
        &self,
        mut session: ConversationSession,
        flow: FlowId,
        message: Option<&InboundMessage>,
    ) -> wagw_core::Result<FlowOutcome> {
        session.flow_id = Some(flow);
        session.node = Some("start".into());
        session.state = SessionState::Active;
        session.variables.clear();
        match message {
            Some(message) => self.handle(session, message).await,
            None => Ok(FlowOutcome::unhandled(session)),
        }
    }
}

type Runner = ConversationRunner<MemoryStore, MemoryQueue, StubTransport>;

fn runner(s: &Setup, config: RunnerConfig) -> Runner {
    ConversationRunner::new(
        Arc::clone(&s.store),
        s.dispatcher(quick()),
        Arc::new(MenuBot),
        config,
    )
}

fn text(from: u64, wamid: &str, body: &str) -> InboundMessage {
    serde_json::from_value(json!({
        "from": phone(from).as_str(), "id": wamid, "type": "text",
        "timestamp": Utc::now().timestamp().to_string(),
        "text": {"body": body}
    }))
    .expect("inbound text")
}

fn routed(s: &Setup, message: InboundMessage) -> RoutedEvent {
    RoutedEvent {
        waba_id: s.channel.waba_id.clone(),
        phone_number_id: Some(s.channel.phone_number_id.clone()),
        contact: Some(
            json!({"wa_id": message.from, "profile": {"name": "Budi"}, "user_id": "ID.42"}),
        ),
        event: InboundEvent::Message(message),
    }
}

async fn say(s: &Setup, from: u64, wamid: &str, body: &str) {
    let pipeline = InboundPipeline::new(Arc::clone(&s.store));
    pipeline
        .ingest(&[routed(s, text(from, wamid, body))])
        .await
        .expect("ingest");
}

/// Outbound messages to `to`, oldest first.
async fn replies_to(s: &Setup, to: u64) -> Vec<MessageRecord> {
    let query = MessageQuery {
        direction: Some(Direction::Outbound),
        contact: Some(phone(to)),
        ..MessageQuery::default()
    };
    s.store
        .list_messages(s.tenant.id, &query, Page::first(100))
        .await
        .expect("list")
        .items
}

fn reply_text(m: &MessageRecord) -> String {
    match &m.body {
        wagw_core::model::message::MessageBody::Outbound(o) => match &o.content {
            MessageContent::Text(t) => t.body.clone(),
            other => format!("{other:?}"),
        },
        other => format!("{other:?}"),
    }
}

fn rule(s: &Setup, name: &str, keyword: &str, reply: &str) -> AutoReplyRule {
    let mut r = AutoReplyRule::new(
        s.tenant.id,
        name,
        vec![keyword.into()],
        MessageContent::text(reply),
    );
    r.matching = KeywordMatch::Word;
    r
}

async fn menu_flow(s: &Setup, triggers: &[&str]) -> Flow {
    // The document is not what runs here (MenuBot is), but a flow carries one.
    let document =
        load_document(r#"{"root": {"type": "text", "content": "Menu"}}"#).expect("document");
    let mut flow = Flow::new(s.tenant.id, "menu", document);
    flow.triggers = triggers.iter().map(|t| (*t).to_owned()).collect();
    activate(&mut flow).expect("valid");
    s.store.create_flow(&flow).await.expect("flow");
    flow
}

async fn job_of(s: &Setup, wamid: &str) -> wagw_core::model::conversation::ConversationJob {
    let message = s
        .store
        .find_message_by_wamid(s.tenant.id, wamid)
        .await
        .expect("message");
    s.store
        .get_conversation_job(s.tenant.id, message.id)
        .await
        .expect("job")
}

#[tokio::test]
async fn an_inbound_message_is_stored_once_and_answered_once() {
    let s = Setup::new(80).await;
    create_rule(&*s.store, &rule(&s, "harga", "harga", "Mulai Rp 150.000"))
        .await
        .expect("rule");
    let pipeline = InboundPipeline::new(Arc::clone(&s.store));
    let event = routed(&s, text(1, "wamid.H1", "Berapa HARGA paket?"));
    let first = pipeline
        .ingest(std::slice::from_ref(&event))
        .await
        .expect("ingest");
    assert_eq!((first.messages, first.duplicates), (1, 0));
    let again = pipeline.ingest(&[event]).await.expect("redelivery");
    assert_eq!((again.messages, again.duplicates), (0, 1));
    let contact = s
        .store
        .find_contact_by_phone(s.tenant.id, &phone(1))
        .await
        .expect("contact");
    assert_eq!(contact.name.as_deref(), Some("Budi"));
    assert_eq!(
        contact.fields.get("wa_user_id").map(String::as_str),
        Some("ID.42")
    );

    let r = runner(&s, RunnerConfig::default());
    assert_eq!(r.run_once().await.expect("run"), 1);
    assert_eq!(r.run_once().await.expect("nothing left"), 0);
    let replies = replies_to(&s, 1).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(reply_text(&replies[0]), "Mulai Rp 150.000");
    assert_eq!(replies[0].priority, Priority::Urgent);
    assert_eq!(
        replies[0].idempotency_key.as_deref(),
        Some(reply_key("wamid.H1", 0).as_str())
    );
    let job = job_of(&s, "wamid.H1").await;
    assert_eq!(job.state, JobState::Done);
    assert!(matches!(job.handled_by, Some(HandledBy::Rule(_))));
    // A re-run of the same job (its settlement lost) answers nothing twice.
    r.answer(&job).await.expect("re-run");
    assert_eq!(replies_to(&s, 1).await.len(), 1);
}

#[tokio::test]
async fn a_crash_between_acknowledgement_and_reply_loses_nothing() {
    let s = Setup::new(80).await;
    create_rule(&*s.store, &rule(&s, "harga", "harga", "Mulai Rp 150.000"))
        .await
        .expect("rule");
    say(&s, 1, "wamid.C1", "harga").await;
    // A runner claims the job and dies before answering.
    let lease = Duration::from_millis(300);
    let claimed = s
        .store
        .claim_conversation_jobs(Utc::now(), 10, lease)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let r = runner(
        &s,
        RunnerConfig {
            lease,
            ..RunnerConfig::default()
        },
    );
    assert_eq!(r.run_once().await.expect("hidden"), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while r.run_once().await.expect("run") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the job never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(replies_to(&s, 1).await.len(), 1);
    assert_eq!(job_of(&s, "wamid.C1").await.attempts, 2);
}

#[tokio::test]
async fn a_re_run_after_the_session_was_saved_does_not_apply_the_message_twice() {
    let s = Setup::new(80).await;
    menu_flow(&s, &["menu"]).await;
    let r = runner(&s, RunnerConfig::default());
    say(&s, 1, "wamid.F1", "MENU").await;
    r.run_once().await.expect("run");
    say(&s, 1, "wamid.F2", "1").await;
    let job = job_of(&s, "wamid.F2").await;
    assert_eq!(r.answer(&job).await.expect("turn"), HandledBy::Flow);
    // The settlement is lost; the job runs again.
    assert_eq!(r.answer(&job).await.expect("re-run"), HandledBy::Flow);
    let session = s
        .store
        .get_session(s.tenant.id, s.channel.id, &phone(1))
        .await
        .expect("get")
        .expect("session");
    assert_eq!(session.node.as_deref(), Some("confirm"), "applied once");
    assert_eq!(session.state, SessionState::Active);
    let texts: Vec<_> = replies_to(&s, 1).await.iter().map(reply_text).collect();
    assert_eq!(
        texts,
        vec!["Menu: 1. Tagihan 2. Gangguan", "Tagihan Anda Rp 150.000"]
    );
}

#[tokio::test]
async fn an_active_flow_answers_first_and_hands_unhandled_text_to_the_rules() {
    let s = Setup::new(80).await;
    menu_flow(&s, &["menu"]).await;
    create_rule(&*s.store, &rule(&s, "one", "1", "Rule answer to 1"))
        .await
        .expect("rule");
    create_rule(&*s.store, &rule(&s, "harga", "harga", "Mulai Rp 150.000"))
        .await
        .expect("rule");
    let r = runner(&s, RunnerConfig::default());
    // Outside a flow the rule answers "1".
    say(&s, 2, "wamid.O1", "1").await;
    r.run_once().await.expect("run");
    assert_eq!(reply_text(&replies_to(&s, 2).await[0]), "Rule answer to 1");
    // Inside the flow the engine answers "1"; text it does not handle goes to the rules.
    say(&s, 1, "wamid.I1", "menu").await;
    r.run_once().await.expect("run");
    say(&s, 1, "wamid.I2", "harga").await;
    r.run_once().await.expect("run");
    say(&s, 1, "wamid.I3", "1").await;
    r.run_once().await.expect("run");
    let texts: Vec<_> = replies_to(&s, 1).await.iter().map(reply_text).collect();
    assert_eq!(
        texts,
        vec![
            "Menu: 1. Tagihan 2. Gangguan",
            "Mulai Rp 150.000",
            "Tagihan Anda Rp 150.000"
        ]
    );
    assert!(matches!(
        job_of(&s, "wamid.I2").await.handled_by,
        Some(HandledBy::Rule(_))
    ));
    assert_eq!(
        job_of(&s, "wamid.I3").await.handled_by,
        Some(HandledBy::Flow)
    );
}

#[tokio::test]
async fn rules_start_flows_and_hand_off_to_a_human() {
    let s = Setup::new(80).await;
    let flow = menu_flow(&s, &[]).await;
    let mut start = rule(&s, "daftar", "daftar", "unused");
    start.action = RuleAction::StartFlow { flow_id: flow.id };
    create_rule(&*s.store, &start).await.expect("rule");
    let mut agent = rule(&s, "agen", "agen", "Kami sambungkan ke agen");
    agent.action = RuleAction::Handoff;
    create_rule(&*s.store, &agent).await.expect("rule");
    create_rule(&*s.store, &rule(&s, "harga", "harga", "Mulai Rp 150.000"))
        .await
        .expect("rule");
    let r = runner(&s, RunnerConfig::default());
    say(&s, 1, "wamid.S1", "mau daftar").await;
    r.run_once().await.expect("run");
    let session = s
        .store
        .get_session(s.tenant.id, s.channel.id, &phone(1))
        .await
        .expect("get")
        .expect("session");
    assert_eq!(session.flow_id, Some(flow.id));
    assert_eq!(session.node.as_deref(), Some("menu"));
    say(&s, 3, "wamid.H1", "tolong agen").await;
    r.run_once().await.expect("run");
    say(&s, 3, "wamid.H2", "harga?").await;
    r.run_once().await.expect("run");
    let texts: Vec<_> = replies_to(&s, 3).await.iter().map(reply_text).collect();
    assert_eq!(
        texts,
        vec!["Kami sambungkan ke agen"],
        "no bot after the hand-off"
    );
    assert_eq!(
        job_of(&s, "wamid.H2").await.handled_by,
        Some(HandledBy::HandedOff)
    );
    let texts: Vec<_> = replies_to(&s, 1).await.iter().map(reply_text).collect();
    assert_eq!(texts, vec!["Menu: 1. Tagihan 2. Gangguan"]);
}

#[tokio::test]
async fn the_channels_active_flow_answers_when_nothing_else_does() {
    let s = Setup::new(80).await;
    let flow = menu_flow(&s, &[]).await;
    let mut channel = s.channel.clone();
    channel.active_flow = Some(flow.id);
    s.store.update_channel(&channel).await.expect("channel");
    let r = runner(&s, RunnerConfig::default());
    say(&s, 1, "wamid.A1", "halo").await;
    r.run_once().await.expect("run");
    assert_eq!(
        reply_text(&replies_to(&s, 1).await[0]),
        "Menu: 1. Tagihan 2. Gangguan"
    );
}

#[tokio::test]
async fn a_cooldown_silences_a_rule_for_one_contact() {
    let s = Setup::new(80).await;
    let mut r1 = rule(&s, "harga", "harga", "Mulai Rp 150.000");
    r1.cooldown_secs = 3_600;
    create_rule(&*s.store, &r1).await.expect("rule");
    let r = runner(&s, RunnerConfig::default());
    say(&s, 1, "wamid.K1", "harga").await;
    r.run_once().await.expect("run");
    say(&s, 1, "wamid.K2", "harga").await;
    say(&s, 2, "wamid.K3", "harga").await;
    r.run_once().await.expect("run");
    assert_eq!(replies_to(&s, 1).await.len(), 1);
    assert_eq!(replies_to(&s, 2).await.len(), 1);
    assert_eq!(
        job_of(&s, "wamid.K2").await.handled_by,
        Some(HandledBy::Unanswered)
    );
}

#[tokio::test]
async fn stale_messages_and_reactions_get_no_answer() {
    let s = Setup::new(80).await;
    create_rule(&*s.store, &rule(&s, "harga", "harga", "Mulai Rp 150.000"))
        .await
        .expect("rule");
    let mut old = text(1, "wamid.OLD", "harga");
    old.timestamp = Utc::now() - TimeDelta::hours(2);
    let reaction: InboundMessage = serde_json::from_value(json!({
        "from": phone(1).as_str(), "id": "wamid.R", "type": "reaction",
        "timestamp": Utc::now().timestamp().to_string(),
        "reaction": {"message_id": "wamid.X", "emoji": "👍"}
    }))
    .expect("reaction");
    let pipeline = InboundPipeline::new(Arc::clone(&s.store));
    let report = pipeline
        .ingest(&[routed(&s, old), routed(&s, reaction)])
        .await
        .expect("ingest");
    assert_eq!(report.messages, 2, "both are stored");
    let r = runner(&s, RunnerConfig::default());
    assert_eq!(
        r.run_once().await.expect("run"),
        1,
        "a reaction gets no job"
    );
    assert!(replies_to(&s, 1).await.is_empty());
    assert_eq!(
        job_of(&s, "wamid.OLD").await.handled_by,
        Some(HandledBy::Stale)
    );
}

#[tokio::test]
async fn the_plans_rule_quota_is_enforced() {
    let store = MemoryStore::new();
    let tenant = Tenant::new("Warung", Plan::basic());
    store.create_tenant(&tenant).await.expect("tenant");
    let make = |n: usize| {
        AutoReplyRule::new(
            tenant.id,
            format!("rule {n}"),
            vec![format!("kata{n}")],
            MessageContent::text("ok"),
        )
    };
    for n in 0..10 {
        create_rule(&store, &make(n))
            .await
            .expect("within the plan");
    }
    let err = create_rule(&store, &make(10)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::QuotaExceeded);
    assert_eq!(store.list_rules(tenant.id).await.expect("list").len(), 10);
    let mut bad = make(11);
    bad.matching = KeywordMatch::Regex;
    bad.keywords = vec!["(".into()];
    assert_eq!(
        create_rule(&store, &bad).await.unwrap_err().code(),
        ErrorCode::InvalidInput
    );
}

#[tokio::test]
async fn unknown_numbers_and_bad_senders_are_skipped_not_errors() {
    let s = Setup::new(80).await;
    let pipeline = InboundPipeline::new(Arc::clone(&s.store));
    let mut unknown = routed(&s, text(1, "wamid.U1", "halo"));
    unknown.phone_number_id = Some("999".into());
    let mut bad: InboundMessage = text(1, "wamid.U2", "halo");
    bad.from = "not-a-number".into();
    let report = pipeline
        .ingest(&[unknown, routed(&s, bad)])
        .await
        .expect("ingest");
    assert_eq!(report.skipped, 2);
    assert_eq!(report.messages, 0);
}

fn subscription(s: &Setup) -> WebhookSubscription {
    WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: s.tenant.id,
        url: "https://crm.example.co.id/wa".into(),
        secret: Secret::new("s3cret"),
        events: BTreeSet::from([
            EventKind::MessageReceived,
            EventKind::MessageStatus,
            EventKind::TemplateStatus,
        ]),
        active: true,
        created_at: Utc::now(),
    }
}

async fn payloads(s: &Setup) -> Vec<serde_json::Value> {
    s.store
        .list_deliveries(s.tenant.id, None, Page::first(100))
        .await
        .expect("deliveries")
        .items
        .into_iter()
        .map(|d| d.payload)
        .collect()
}

#[tokio::test]
async fn messages_statuses_and_templates_write_outbox_events() {
    let s = Setup::new(80).await;
    let sub = subscription(&s);
    s.store.create_subscription(&sub).await.expect("subscribe");
    let pipeline = InboundPipeline::new(Arc::clone(&s.store));
    say(&s, 1, "wamid.E1", "halo").await;
    let p = payloads(&s).await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["type"], "message_received");
    assert_eq!(p[0]["tenant_id"], json!(s.tenant.id));
    assert_eq!(p[0]["data"]["wamid"], "wamid.E1");
    assert_eq!(p[0]["data"]["from"], phone(1).as_str());
    assert_eq!(p[0]["data"]["profile_name"], "Budi");
    assert!(p[0]["id"].is_string() && p[0]["created_at"].is_string());

    // An outbound message sent as wamid.OUT, then delivered (twice: redelivery).
    let sent = s.message(1, "Halo", Priority::Normal);
    let inserted = s.dispatcher(quick()).submit(sent).await.expect("submit");
    let mut update = StatusUpdate::new(MessageStatus::Sent, Utc::now());
    update.wamid = Some("wamid.OUT".into());
    s.store
        .update_status(s.tenant.id, inserted.id, &update)
        .await
        .expect("sent");
    let status: wagw_core::event::StatusUpdate = serde_json::from_value(json!({
        "id": "wamid.OUT", "status": "delivered", "timestamp": Utc::now().timestamp().to_string(),
        "recipient_id": phone(1).as_str()
    }))
    .expect("status");
    let event = RoutedEvent {
        waba_id: s.channel.waba_id.clone(),
        phone_number_id: Some(s.channel.phone_number_id.clone()),
        contact: None,
        event: InboundEvent::Status(status),
    };
    let report = pipeline
        .ingest(std::slice::from_ref(&event))
        .await
        .expect("status");
    assert_eq!(report.statuses_moved, 1);
    let report = pipeline.ingest(&[event]).await.expect("redelivered");
    assert_eq!((report.statuses_moved, report.deliveries), (0, 0));
    let p = payloads(&s).await;
    assert_eq!(p.len(), 2);
    assert_eq!(p[1]["type"], "message_status");
    assert_eq!(p[1]["data"]["status"], "delivered");
    assert_eq!(p[1]["data"]["message_id"], json!(inserted.id));

    // A template approved by Meta.
    let draft = TemplateDraft {
        name: "tagihan".into(),
        language: "id".into(),
        category: TemplateCategory::Utility,
        components: vec![json!({"type": "BODY", "text": "Halo {{1}}"})],
    };
    let mut template = Template::new(s.tenant.id, s.channel.id, draft);
    template.status = TemplateStatus::Pending;
    template.remote_id = Some("1234567890".into());
    s.store.create_template(&template).await.expect("template");
    let update: wagw_core::event::TemplateStatusUpdate = serde_json::from_value(json!({
        "event": "APPROVED", "message_template_id": 1234567890u64,
        "message_template_name": "tagihan", "message_template_language": "id", "reason": "NONE"
    }))
    .expect("template status");
    let report = pipeline
        .ingest(&[RoutedEvent {
            waba_id: s.channel.waba_id.clone(),
            phone_number_id: None,
            contact: None,
            event: InboundEvent::TemplateStatus(update),
        }])
        .await
        .expect("template");
    assert_eq!(report.templates, 1);
    let stored = s
        .store
        .get_template(s.tenant.id, template.id)
        .await
        .expect("get");
    assert_eq!(stored.status, TemplateStatus::Approved);
    let p = payloads(&s).await;
    assert_eq!(p[2]["type"], "template_status");
    assert_eq!(p[2]["data"]["status"], "APPROVED");
    assert_eq!(p[2]["data"]["reason"], serde_json::Value::Null);
}

#[tokio::test]
async fn template_sync_imports_updates_and_marks_deleted() {
    let s = Setup::new(80).await;
    let sub = subscription(&s);
    s.store.create_subscription(&sub).await.expect("subscribe");
    let draft = TemplateDraft {
        name: "promo".into(),
        language: "id".into(),
        category: TemplateCategory::Marketing,
        components: vec![json!({"type": "BODY", "text": "Diskon {{1}}"})],
    };
    s.stub
        .create_template(&s.channel, &draft)
        .await
        .expect("made in WhatsApp Manager");
    let mut gone = Template::new(
        s.tenant.id,
        s.channel.id,
        TemplateDraft {
            name: "lama".into(),
            ..draft.clone()
        },
    );
    gone.status = TemplateStatus::Approved;
    gone.remote_id = Some("gone-1".into());
    s.store.create_template(&gone).await.expect("template");

    let report = sync_channel(&*s.store, &s.stub, &s.channel)
        .await
        .expect("sync");
    assert_eq!((report.listed, report.imported, report.deleted), (1, 1, 1));
    let promo = s
        .store
        .find_template(s.tenant.id, s.channel.id, "promo", "id")
        .await
        .expect("imported");
    assert_eq!(
        s.store
            .get_template(s.tenant.id, gone.id)
            .await
            .expect("get")
            .status,
        TemplateStatus::Deleted
    );
    s.stub.set_template_status("promo", TemplateStatus::Paused);
    let report = sync_channel(&*s.store, &s.stub, &s.channel)
        .await
        .expect("sync");
    assert_eq!((report.updated, report.imported, report.deleted), (1, 0, 0));
    let again = sync_channel(&*s.store, &s.stub, &s.channel)
        .await
        .expect("sync");
    assert_eq!(again.updated, 0, "idempotent");
    assert_eq!(
        s.store
            .get_template(s.tenant.id, promo.id)
            .await
            .expect("get")
            .status,
        TemplateStatus::Paused
    );
    let events: Vec<_> = payloads(&s)
        .await
        .into_iter()
        .filter(|p| p["type"] == "template_status")
        .collect();
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn the_runner_loop_answers_and_stops() {
    let s = Setup::new(80).await;
    create_rule(&*s.store, &rule(&s, "harga", "harga", "Mulai Rp 150.000"))
        .await
        .expect("rule");
    let handle = runner(
        &s,
        RunnerConfig {
            idle_poll: Duration::from_millis(10),
            ..RunnerConfig::default()
        },
    )
    .start();
    say(&s, 1, "wamid.L1", "harga").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while replies_to(&s, 1).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no answer");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.shutdown().await;
    let _ = PhoneNumber::from_wa_id("628123456789");
}

#[tokio::test]
async fn analytics_count_funnel_days_and_answers_in_the_tenants_timezone() {
    use wagw_core::analytics::{
        REPLY_WINDOW, answers, campaign_funnel, daily_volume, template_overview,
    };
    use wagw_core::model::campaign::{
        Audience, Campaign, CampaignContent, CampaignRecipient, RecipientStatus,
    };
    use wagw_core::store::{CampaignStore, RecipientUpdate};

    let s = Setup::new(80).await;
    // 2026-11-30 23:30 in Jakarta (UTC+7) is 16:30 UTC; 00:30 the next day is 17:30 UTC.
    let late = chrono::DateTime::parse_from_rfc3339("2026-11-30T16:30:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let campaign = Campaign::new(
        s.tenant.id,
        s.channel.id,
        "promo",
        CampaignContent::Text {
            body: "Promo {nama}".into(),
        },
        Audience::default(),
    );
    s.store.create_campaign(&campaign).await.expect("campaign");
    let recipients: Vec<_> = (1..=4u64)
        .map(|n| CampaignRecipient::new(s.tenant.id, campaign.id, phone(n), Default::default()))
        .collect();
    s.store
        .insert_recipients(s.tenant.id, campaign.id, &recipients)
        .await
        .expect("recipients");
    for (i, r) in recipients.iter().enumerate() {
        let mut m = s.message(i as u64 + 1, "Promo", Priority::Bulk);
        m.campaign = Some((campaign.id, r.id));
        let mut record = MessageRecord::outbound(
            s.tenant.id,
            s.channel.id,
            phone(i as u64 + 1),
            m.body(),
            Priority::Bulk,
        );
        record.campaign_id = Some(campaign.id);
        record.recipient_id = Some(r.id);
        record.created_at = late;
        let status = [
            MessageStatus::Read,
            MessageStatus::Delivered,
            MessageStatus::Sent,
            MessageStatus::Failed,
        ][i];
        record.status = status;
        s.store.insert_message(&record).await.expect("message");
        s.store
            .update_recipients(
                s.tenant.id,
                &[RecipientUpdate {
                    id: r.id,
                    status: RecipientStatus::from_message(status),
                    reason: None,
                    message_id: Some(record.id),
                }],
            )
            .await
            .expect("recipient");
    }
    // Recipient 1 replies an hour later (00:30 local, the next day).
    let mut reply = MessageRecord::inbound(
        s.tenant.id,
        s.channel.id,
        phone(1),
        text(1, "wamid.REP", "mau"),
    );
    reply.created_at = late + TimeDelta::hours(1);
    s.store.insert_message(&reply).await.expect("reply");

    let funnel = campaign_funnel(&*s.store, s.tenant.id, campaign.id, REPLY_WINDOW)
        .await
        .expect("funnel");
    assert_eq!(
        (
            funnel.total,
            funnel.sent,
            funnel.delivered,
            funnel.read,
            funnel.replied,
            funnel.failed
        ),
        (4, 3, 2, 1, 1, 1)
    );

    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).expect("day");
    let days = daily_volume(
        &*s.store,
        s.tenant.id,
        day(30),
        chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("day"),
    )
    .await
    .expect("volume");
    assert_eq!(days.len(), 2, "{days:?}");
    assert_eq!(days[0].day, day(30));
    assert_eq!(days[0].outbound.values().sum::<u64>(), 4);
    assert_eq!(days[0].received, 0);
    assert_eq!(days[1].received, 1, "the reply falls on the next local day");

    let a = answers(
        &*s.store,
        s.tenant.id,
        None,
        late - TimeDelta::days(1),
        late + TimeDelta::days(1),
    )
    .await
    .expect("answers");
    assert_eq!(
        a,
        Default::default(),
        "nothing answered through the runner here"
    );
    create_rule(&*s.store, &rule(&s, "harga", "harga", "Mulai Rp 150.000"))
        .await
        .expect("rule");
    say(&s, 7, "wamid.AN1", "harga").await;
    say(&s, 8, "wamid.AN2", "apa kabar").await;
    runner(&s, RunnerConfig::default())
        .run_once()
        .await
        .expect("run");
    let now = Utc::now();
    let a = answers(
        &*s.store,
        s.tenant.id,
        Some(s.channel.id),
        now - TimeDelta::hours(1),
        now + TimeDelta::hours(1),
    )
    .await
    .expect("answers");
    assert_eq!(a.rules.values().sum::<u64>(), 1);
    assert_eq!(a.unanswered, 1);
    assert!(
        template_overview(&*s.store, s.tenant.id)
            .await
            .expect("templates")
            .is_empty()
    );
}

/// A question with a 30-second timeout, re-asked once after a nudge.
const PATIENT: &str = r#"{"version": 1, "start": "ask", "settings": {"session_ttl_secs": 600}, "nodes": {
  "ask": {"type": "ask", "message": "Kode pelanggan?", "input": {"kind": "regex", "pattern": "[0-9]{6}"},
          "save_as": "kode", "next": "done", "timeout": {"after": "30s", "next": "nudge"}},
  "nudge": {"type": "send", "message": "Masih di sana?", "next": "ask"},
  "done": {"type": "end", "message": "Kode {{ kode }} dicatat"}
}}"#;

#[tokio::test]
async fn due_wake_ups_run_the_timeout_branch_once() {
    use wagw_core::flow::{Engine, GuardedFlowHttp};
    use wagw_core::net::NetPolicy;

    let s = Setup::new(80).await;
    let mut flow = Flow::new(
        s.tenant.id,
        "cek",
        load_document(PATIENT).expect("document"),
    );
    flow.triggers = vec!["cek".into()];
    activate(&mut flow).expect("valid");
    s.store.create_flow(&flow).await.expect("flow");
    let engine = Engine::new(
        Arc::clone(&s.store) as Arc<dyn ConversationStore>,
        Arc::new(GuardedFlowHttp::new(NetPolicy::default()).expect("http")),
    );
    let r = ConversationRunner::new(
        Arc::clone(&s.store),
        s.dispatcher(quick()),
        Arc::new(engine),
        RunnerConfig::default(),
    );
    say(&s, 1, "wamid.W1", "cek").await;
    r.run_once().await.expect("run");
    let texts =
        async || -> Vec<String> { replies_to(&s, 1).await.iter().map(reply_text).collect() };
    assert_eq!(texts().await, ["Kode pelanggan?"]);

    // Not due yet: nothing happens.
    let now = Utc::now();
    assert_eq!(
        r.wake_due(now + TimeDelta::seconds(10))
            .await
            .expect("wake"),
        0
    );
    assert_eq!(texts().await.len(), 1);
    // Past the timeout: the nudge and the question again, once even if two sweepers run.
    let late = now + TimeDelta::seconds(31);
    assert_eq!(r.wake_due(late).await.expect("wake"), 1);
    assert_eq!(r.wake_due(late).await.expect("wake"), 0);
    assert_eq!(
        texts().await,
        ["Kode pelanggan?", "Masih di sana?", "Kode pelanggan?"]
    );
}

#[tokio::test]
async fn flow_engagement_counts_starts_ends_and_drop_offs_per_local_day() {
    use wagw_core::analytics::flow_engagement;
    use wagw_core::flow::{Engine, GuardedFlowHttp};
    use wagw_core::net::NetPolicy;

    let s = Setup::new(80).await;
    let mut flow = Flow::new(
        s.tenant.id,
        "cek",
        load_document(PATIENT).expect("document"),
    );
    flow.triggers = vec!["cek".into()];
    activate(&mut flow).expect("valid");
    s.store.create_flow(&flow).await.expect("flow");
    let engine = Engine::new(
        Arc::clone(&s.store) as Arc<dyn ConversationStore>,
        Arc::new(GuardedFlowHttp::new(NetPolicy::default()).expect("http")),
    );
    let r = ConversationRunner::new(
        Arc::clone(&s.store),
        s.dispatcher(quick()),
        Arc::new(engine),
        RunnerConfig::default(),
    );
    // One user answers to the end; another starts and goes silent past the session's TTL.
    say(&s, 1, "wamid.F1", "cek").await;
    say(&s, 2, "wamid.F2", "cek").await;
    r.run_once().await.expect("run");
    say(&s, 1, "wamid.F3", "123456").await;
    r.run_once().await.expect("run");
    let now = Utc::now();
    assert_eq!(
        r.wake_due(now + TimeDelta::seconds(700))
            .await
            .expect("wake"),
        1
    );
    // A second sweep finds nothing: the drop-off is counted once.
    assert_eq!(
        r.wake_due(now + TimeDelta::seconds(700))
            .await
            .expect("wake"),
        0
    );

    let today = now.with_timezone(&s.tenant.timezone).date_naive();
    let tomorrow = today.succ_opt().expect("tomorrow");
    let funnels = flow_engagement(&*s.store, s.tenant.id, today, tomorrow)
        .await
        .expect("engagement");
    assert_eq!(funnels.len(), 1);
    let f = &funnels[0];
    assert_eq!(f.flow_id, flow.id);
    assert_eq!((f.started, f.completed, f.handed_off), (2, 1, 0));
    assert_eq!(f.dropped_off.get("ask"), Some(&1), "{f:?}");
    assert_eq!(f.dropped_off_total(), 1);
    let yesterday = today.pred_opt().expect("yesterday");
    assert!(
        flow_engagement(&*s.store, s.tenant.id, yesterday, yesterday)
            .await
            .expect("empty")
            .is_empty()
    );
}
