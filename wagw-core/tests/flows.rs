//! The flow engine end to end over the memory store: GVINUM documents, the richer format,
//! HTTP nodes against a real local receiver, bounds, pinned versions, timeouts, expiry, the
//! 24-hour window, hand-off and idempotent reruns.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use support::{Behaviour, Receiver};
use wagw_core::content::MessageContent;
use wagw_core::event::InboundMessage;
use wagw_core::flow::{Engine, GuardedFlowHttp, activate, load_document};
use wagw_core::flow_engine::{FlowEvent, FlowOutcome};
use wagw_core::model::flow::{ConversationSession, Flow, SessionState};
use wagw_core::net::NetPolicy;
use wagw_core::store::ConversationStore;
use wagw_core::testkit::{Fixture, phone};
use wagw_store_memory::MemoryStore;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 3, 0, 0).unwrap()
}

fn inbound(id: &str, at: DateTime<Utc>, kind: Value) -> InboundMessage {
    let mut message =
        json!({"from": "628123456789", "id": id, "timestamp": at.timestamp().to_string()});
    for (k, v) in kind.as_object().unwrap() {
        message[k] = v.clone();
    }
    serde_json::from_value(message).unwrap()
}

fn text(id: &str, at: DateTime<Utc>, body: &str) -> InboundMessage {
    inbound(id, at, json!({"type": "text", "text": {"body": body}}))
}

fn list_reply(id: &str, at: DateTime<Utc>, row: &str, title: &str) -> InboundMessage {
    inbound(
        id,
        at,
        json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": row, "title": title}}}),
    )
}

fn texts(outcome: &FlowOutcome) -> Vec<String> {
    outcome
        .replies
        .iter()
        .map(|r| match r {
            MessageContent::Text(t) => t.body.clone(),
            other => serde_json::to_value(other).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned(),
        })
        .collect()
}

fn failed(outcome: &FlowOutcome) -> Option<String> {
    outcome.events.iter().find_map(|e| match e {
        FlowEvent::Failed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

fn completed(outcome: &FlowOutcome) -> bool {
    outcome
        .events
        .iter()
        .any(|e| matches!(e, FlowEvent::Completed { .. }))
}

struct World {
    store: Arc<MemoryStore>,
    fx: Fixture,
}

impl World {
    async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let fx = Fixture::new(store.as_ref()).await;
        Self { store, fx }
    }

    fn engine(&self, policy: NetPolicy) -> Engine {
        let http = Arc::new(GuardedFlowHttp::new(policy).unwrap());
        Engine::new(self.store.clone(), http)
    }

    /// Stores an active flow; `validated` runs activation (refusing errors).
    async fn flow(&self, json: &str, trigger: &str, validated: bool) -> Flow {
        let mut flow = Flow::new(self.fx.tenant.id, trigger, load_document(json).unwrap());
        flow.triggers = vec![trigger.to_owned()];
        if validated {
            activate(&mut flow).unwrap();
        } else {
            flow.active = true;
            flow.version = 1;
        }
        self.store.create_flow(&flow).await.unwrap();
        flow
    }

    fn session(&self, n: u64) -> ConversationSession {
        ConversationSession::new(self.fx.tenant.id, self.fx.channel.id, phone(n))
    }
}

const GVINUM: &str = r#"{
  "root": {"type": "text", "state": "root", "content": "Selamat datang! Pilih layanan:\n1. Produk\n2. Bantuan", "options": {"1": "produk", "2": "bantuan"}},
  "produk": {"type": "interactive", "state": "produk", "content": {"type": "list", "body": "Berikut adalah produk kami:", "button": "Lihat Produk",
             "sections": [{"title": "Paket", "rows": [{"id": "paket_a", "title": "Paket A"}, {"id": "paket_b", "title": "Paket B"}]}]}},
  "paket_a": {"type": "text", "state": "paket_a", "content": "Paket A: Rp 150.000/bulan"},
  "paket_b": {"type": "text", "state": "paket_b", "content": "Paket B: Rp 250.000/bulan"},
  "bantuan": {"type": "text", "state": "bantuan", "content": "Hubungi CS kami di 08123456789"}
}"#;

#[tokio::test]
async fn a_gvinum_chatflow_loads_unchanged_and_runs_to_the_end() {
    let world = World::new().await;
    world.flow(GVINUM, "menu", true).await;
    let engine = world.engine(NetPolicy::default());

    let started = engine
        .handle_at(world.session(1), &text("w1", t0(), "MENU"), t0())
        .await
        .unwrap();
    assert!(started.handled);
    assert_eq!(
        texts(&started),
        ["Selamat datang! Pilih layanan:\n1. Produk\n2. Bantuan"]
    );
    assert!(matches!(
        started.events[0],
        FlowEvent::Started { version: 1, .. }
    ));
    assert_eq!(started.session.node.as_deref(), Some("root"));

    let wrong = engine
        .handle_at(started.session, &text("w2", t0(), "9"), t0())
        .await
        .unwrap();
    assert_eq!(texts(&wrong).len(), 1, "the prompt is repeated");
    assert!(
        wrong
            .events
            .iter()
            .any(|e| matches!(e, FlowEvent::InvalidAnswer { .. }))
    );

    let menu = engine
        .handle_at(wrong.session, &text("w3", t0(), "1"), t0())
        .await
        .unwrap();
    assert_eq!(texts(&menu), ["interactive"]);
    assert_eq!(menu.session.node.as_deref(), Some("produk"));

    let chosen = engine
        .handle_at(
            menu.session,
            &list_reply("w4", t0(), "paket_a", "Paket A"),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(texts(&chosen), ["Paket A: Rp 150.000/bulan"]);
    assert!(completed(&chosen));
    assert_eq!(chosen.session.state, SessionState::Ended);

    // Without a trigger and without a running flow, the message is left to others.
    let idle = engine
        .handle_at(chosen.session, &text("w5", t0(), "halo"), t0())
        .await
        .unwrap();
    assert!(!idle.handled);
}

const SHOP: &str = r#"{"version": 1, "start": "ask_qty", "nodes": {
  "ask_qty": {"type": "ask", "message": "Berapa unit?", "input": {"kind": "number", "min": 1, "max": 100},
              "save_as": "qty", "retry": {"max": 1, "message": "Angka 1-100 ya"}, "next": "check"},
  "check": {"type": "condition", "branches": [{"when": {"var": "qty", "op": "gt", "value": 10}, "next": "lookup"}], "else": "small"},
  "lookup": {"type": "http", "method": "POST", "url": "RECEIVER/harga?jumlah={{ qty }}",
             "headers": {"X-Toko": "{{ contact.phone }}"},
             "body": {"qty": "{{ qty }}", "label": "pesanan {{ qty }}"},
             "save": {"harga": "/price"}, "next": "quote", "on_error": "sorry"},
  "quote": {"type": "end", "message": "Total {{ qty }} unit: Rp {{ harga }}", "outcome": "quoted"},
  "small": {"type": "end", "message": "Sedikit saja"},
  "sorry": {"type": "end", "message": "Maaf ({{ http.error }})"}
}}"#;

#[tokio::test]
async fn asks_validate_retry_branch_and_call_http_through_the_guard() {
    let world = World::new().await;
    let receiver = Receiver::start(Behaviour::Status(200, r#"{"price": 150000}"#.into())).await;
    world
        .flow(&SHOP.replace("RECEIVER", &receiver.url("")), "beli", true)
        .await;
    let engine = world.engine(NetPolicy::default().allow("127.0.0.1/32").unwrap());

    let asked = engine
        .handle_at(world.session(1), &text("a1", t0(), "beli"), t0())
        .await
        .unwrap();
    assert_eq!(texts(&asked), ["Berapa unit?"]);
    let retried = engine
        .handle_at(asked.session, &text("a2", t0(), "dua"), t0())
        .await
        .unwrap();
    assert_eq!(texts(&retried), ["Angka 1-100 ya", "Berapa unit?"]);
    let quoted = engine
        .handle_at(retried.session, &text("a3", t0(), "12"), t0())
        .await
        .unwrap();
    assert_eq!(texts(&quoted), ["Total 12 unit: Rp 150000"]);
    assert!(
        quoted
            .events
            .iter()
            .any(|e| matches!(e, FlowEvent::Completed { outcome, .. } if outcome == "quoted"))
    );
    assert!(quoted.events.iter().any(|e| matches!(
        e,
        FlowEvent::HttpCalled {
            status: Some(200),
            error: None,
            ..
        }
    )));

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/harga?jumlah=12");
    assert_eq!(received[0].header("X-Toko"), Some(phone(1).as_str()));
    assert!(
        received[0]
            .header("Idempotency-Key")
            .is_some_and(|k| k.contains("a3"))
    );
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        body,
        json!({"qty": 12, "label": "pesanan 12"}),
        "a lone placeholder keeps its type"
    );

    // Too many invalid answers end the session unhandled, for auto-reply rules to answer.
    let asked = engine
        .handle_at(world.session(2), &text("b1", t0(), "beli"), t0())
        .await
        .unwrap();
    let once = engine
        .handle_at(asked.session, &text("b2", t0(), "x"), t0())
        .await
        .unwrap();
    let twice = engine
        .handle_at(once.session, &text("b3", t0(), "y"), t0())
        .await
        .unwrap();
    assert!(!twice.handled);
    assert_eq!(failed(&twice).as_deref(), Some("invalid_answers"));

    // Without the allow-list the guard refuses the receiver: the error branch runs.
    let guarded = world.engine(NetPolicy::default());
    let asked = guarded
        .handle_at(world.session(3), &text("c1", t0(), "beli"), t0())
        .await
        .unwrap();
    let refused = guarded
        .handle_at(asked.session, &text("c2", t0(), "50"), t0())
        .await
        .unwrap();
    assert_eq!(texts(&refused), ["Maaf (denied)"]);
    assert_eq!(
        receiver.received().len(),
        1,
        "the refused call never reached the receiver"
    );
}

#[tokio::test]
async fn turns_are_bounded_in_steps_replies_and_http_calls() {
    let world = World::new().await;
    let receiver = Receiver::start(Behaviour::Status(200, "{}".into())).await;
    // Documents that validation refuses (loops without input), stored active anyway to prove
    // the engine's own bounds.
    world
        .flow(
            r#"{"version": 1, "start": "a", "nodes": {
                "a": {"type": "send", "message": "ping", "next": "b"},
                "b": {"type": "jump", "node": "a"}}}"#,
            "spam",
            false,
        )
        .await;
    world
        .flow(
            &r#"{"version": 1, "start": "h", "nodes": {
                "h": {"type": "http", "url": "RECEIVER/loop", "next": "h", "on_error": "h"}}}"#
                .replace("RECEIVER", &receiver.url("")),
            "loop",
            false,
        )
        .await;
    let engine = world.engine(NetPolicy::default().allow("127.0.0.1/32").unwrap());

    let spam = engine
        .handle_at(world.session(1), &text("s1", t0(), "spam"), t0())
        .await
        .unwrap();
    assert_eq!(spam.replies.len(), 5, "at most five replies a turn");
    assert_eq!(failed(&spam).as_deref(), Some("step_limit"));
    assert_eq!(spam.session.state, SessionState::Ended);

    let looped = engine
        .handle_at(world.session(2), &text("l1", t0(), "loop"), t0())
        .await
        .unwrap();
    assert_eq!(failed(&looped).as_deref(), Some("step_limit"));
    assert_eq!(
        receiver.received().len(),
        3,
        "at most three HTTP calls a turn"
    );
}

#[tokio::test]
async fn running_sessions_keep_their_flow_version() {
    let world = World::new().await;
    let mut flow = world
        .flow(
            r#"{"version": 1, "start": "q", "nodes": {
                "q": {"type": "ask", "message": "Nama?", "input": {"kind": "text"}, "save_as": "nama", "next": "bye"},
                "bye": {"type": "end", "message": "Terima kasih, {{ nama }} (v1)"}}}"#,
            "daftar",
            true,
        )
        .await;
    let engine = world.engine(NetPolicy::default());
    let asked = engine
        .handle_at(world.session(1), &text("v1", t0(), "daftar"), t0())
        .await
        .unwrap();

    flow.document = load_document(
        r#"{"version": 1, "start": "q", "nodes": {
            "q": {"type": "ask", "message": "Nama lengkap?", "input": {"kind": "text"}, "save_as": "nama", "next": "bye"},
            "bye": {"type": "end", "message": "Halo {{ nama }} (v2)"}}}"#,
    )
    .unwrap();
    activate(&mut flow).unwrap();
    assert_eq!(flow.version, 2);
    world.store.update_flow(&flow).await.unwrap();

    let old = engine
        .handle_at(asked.session, &text("v2", t0(), "Budi"), t0())
        .await
        .unwrap();
    assert_eq!(texts(&old), ["Terima kasih, Budi (v1)"]);
    let new = engine
        .handle_at(world.session(2), &text("v3", t0(), "daftar"), t0())
        .await
        .unwrap();
    assert_eq!(texts(&new), ["Nama lengkap?"]);
    assert_eq!(new.session.flow_version, 2);
}

const PATIENT: &str = r#"{"version": 1, "start": "ask", "settings": {"session_ttl_secs": 600}, "nodes": {
  "ask": {"type": "ask", "message": "Kode pelanggan?", "input": {"kind": "regex", "pattern": "[0-9]{6}"},
          "save_as": "kode", "next": "done", "timeout": {"after": "30s", "next": "nudge"}},
  "nudge": {"type": "send", "message": "Masih di sana?", "next": "ask"},
  "done": {"type": "end", "message": "Kode {{ kode }} dicatat"}
}}"#;

#[tokio::test]
async fn timeouts_wake_sessions_and_idle_ones_expire() {
    let world = World::new().await;
    world.flow(PATIENT, "cek", true).await;
    let engine = world.engine(NetPolicy::default());
    let asked = engine
        .handle_at(world.session(1), &text("t1", t0(), "cek"), t0())
        .await
        .unwrap();
    assert_eq!(asked.wake_at, Some(t0() + Duration::seconds(30)));

    // Nothing is due before the timeout.
    let early = engine
        .wake_at(asked.session.clone(), t0() + Duration::seconds(10))
        .await
        .unwrap();
    assert!(!early.handled && early.replies.is_empty());

    let woken = engine
        .wake_at(asked.session, t0() + Duration::seconds(31))
        .await
        .unwrap();
    assert!(
        woken
            .events
            .iter()
            .any(|e| matches!(e, FlowEvent::TimedOut { .. }))
    );
    assert_eq!(texts(&woken), ["Masih di sana?", "Kode pelanggan?"]);
    let due = woken.wake_at.unwrap();
    assert_eq!(due, t0() + Duration::seconds(61));

    // After the time to live a message is not taken as the answer to the old question.
    let late = t0() + Duration::minutes(20);
    let expired = engine
        .handle_at(woken.session, &text("t2", late, "123456"), late)
        .await
        .unwrap();
    assert!(
        expired
            .events
            .iter()
            .any(|e| matches!(e, FlowEvent::Expired { .. }))
    );
    assert!(!expired.handled);
    assert!(expired.replies.is_empty());
    assert_eq!(expired.session.state, SessionState::Expired);
}

#[tokio::test]
async fn a_closed_window_sends_no_free_form_message() {
    let world = World::new().await;
    world
        .flow(&PATIENT.replace("600", "172800"), "cek", true)
        .await;
    let engine = world.engine(NetPolicy::default());
    let asked = engine
        .handle_at(world.session(1), &text("x1", t0(), "cek"), t0())
        .await
        .unwrap();
    // The timeout fires 25 hours after the user's last message: the window is closed.
    let mut session = asked.session;
    session.wake_at = Some(t0() + Duration::hours(25));
    let woken = engine
        .wake_at(session, t0() + Duration::hours(25))
        .await
        .unwrap();
    assert!(woken.replies.is_empty(), "{:?}", woken.replies);
    assert_eq!(failed(&woken).as_deref(), Some("window_closed"));
}

#[tokio::test]
async fn reruns_cancel_words_and_hand_offs() {
    let world = World::new().await;
    world
        .flow(
            r#"{"version": 1, "start": "menu", "nodes": {
                "menu": {"type": "ask", "message": "1. Tagihan 2. CS", "options": {"1": "bill", "2": "human"}},
                "bill": {"type": "end", "message": "Tagihan Anda Rp 0"},
                "human": {"type": "handoff", "message": "Menghubungkan ke CS...", "release_after_secs": 60, "resume": "menu"}}}"#,
            "halo",
            true,
        )
        .await;
    let engine = world.engine(NetPolicy::default());
    let first = text("h1", t0(), "halo");
    let asked = engine
        .handle_at(world.session(1), &first, t0())
        .await
        .unwrap();
    let rerun = engine
        .handle_at(asked.session.clone(), &first, t0())
        .await
        .unwrap();
    assert!(
        rerun.handled && rerun.replies.is_empty(),
        "a rerun answers nothing twice"
    );

    let cancelled = engine
        .handle_at(asked.session.clone(), &text("h2", t0(), " Batal "), t0())
        .await
        .unwrap();
    assert!(
        cancelled
            .events
            .iter()
            .any(|e| matches!(e, FlowEvent::Cancelled { .. }))
    );
    assert_eq!(cancelled.session.state, SessionState::Ended);

    let handed = engine
        .handle_at(asked.session, &text("h3", t0(), "2"), t0())
        .await
        .unwrap();
    assert_eq!(texts(&handed), ["Menghubungkan ke CS..."]);
    assert!(
        handed
            .events
            .iter()
            .any(|e| matches!(e, FlowEvent::HandedOff { .. }))
    );
    assert_eq!(handed.wake_at, Some(t0() + Duration::seconds(60)));
    let during = engine
        .handle_at(
            handed.session,
            &text("h4", t0(), "halo?"),
            t0() + Duration::seconds(5),
        )
        .await
        .unwrap();
    assert!(
        during.handled && during.replies.is_empty(),
        "the bot is silent during a hand-off"
    );
    let back = engine
        .wake_at(during.session, t0() + Duration::seconds(61))
        .await
        .unwrap();
    assert!(
        back.events
            .iter()
            .any(|e| matches!(e, FlowEvent::Released { .. }))
    );
    assert_eq!(texts(&back), ["1. Tagihan 2. CS"]);
    assert_eq!(back.session.state, SessionState::Active);
}
