//! The smallest complete round trip through wagw: numbers normalised, messages recorded
//! durably and queued by the dispatcher, sent within the number's limits (a throttled first
//! attempt is retried), and status webhooks that move messages forward (a redelivered or
//! out-of-order one cannot move them back).
//!
//! It runs on the in-memory backends and the recording stub transport, so it needs nothing
//! else: `cargo run -p quickstart`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use wagw::content::MessageContent;
use wagw::dispatch::{Backoff, Dispatcher, DispatcherConfig, NewMessage};
use wagw::ingest::apply_status_updates;
use wagw::memory::{MemoryQueue, MemoryStore};
use wagw::model::channel::Channel;
use wagw::model::message::{MessageStatus, StatusUpdate};
use wagw::model::tenant::{Plan, Tenant};
use wagw::phone::normalize;
use wagw::store::{ChannelStore, MessageQuery, MessageStore, Page, TenantStore, WamidUpdate};
use wagw::testkit::StubTransport;
use wagw::{TransportError, TransportErrorKind};

#[tokio::main(flavor = "current_thread")]
async fn main() -> wagw::Result<()> {
    let store = Arc::new(MemoryStore::new());
    let transport = StubTransport::new_ok();

    let tenant = Tenant::new("Toko Maju", Plan::basic());
    store.create_tenant(&tenant).await?;
    let number = normalize("0811-1000-2000", tenant.default_region)?;
    let channel = Channel::new(
        tenant.id,
        "CS Jakarta",
        "106540352242922",
        "102290129340398",
        number,
    );
    store.create_channel(&channel).await?;
    println!(
        "tenant {:?} with channel {} ({})",
        tenant.name, channel.name, channel.display_number
    );

    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::new(MemoryQueue::new()),
        Arc::new(transport.clone()),
        DispatcherConfig {
            // No customer has written first in this demo, so the 24-hour window would refuse
            // free-form text; a real gateway keeps this on and sends templates instead.
            enforce_window: false,
            backoff: Backoff {
                base: Duration::from_millis(50),
                max: Duration::from_secs(1),
            },
            ..DispatcherConfig::default()
        },
    );

    // Accept messages: invalid input is refused before anything is stored.
    let inputs = [
        ("08123456789", "Halo Budi, pesanan #1001 sudah dikirim."),
        (
            "+62 812-2222-3333",
            "Halo Siti, tagihan Anda jatuh tempo besok.",
        ),
        (
            "0812 4444 5555",
            "Halo Andi, terima kasih sudah berbelanja.",
        ),
        ("12ab", "never sent"),
    ];
    for (input, body) in inputs {
        let to = match normalize(input, tenant.default_region) {
            Ok(to) => to,
            Err(e) => {
                println!("refused {input:?}: {e} ({})", e.code());
                continue;
            }
        };
        let message = NewMessage::new(
            tenant.id,
            channel.id,
            to.clone(),
            MessageContent::text(body),
        )
        .idempotency_key(format!("order-{input}"));
        let accepted = dispatcher.submit(message).await?;
        println!("accepted {input:?} as {to} -> message {}", accepted.id);
    }

    // The far side throttles the first attempt (Meta's 130429); the dispatcher slows the
    // number down and retries.
    transport.push_outcomes([Err(TransportError::new(
        TransportErrorKind::ThrottledNumber,
        "(#130429) Rate limit hit",
    )
    .with_code(130429)
    .with_retry_after(Duration::from_millis(50)))]);
    let handle = dispatcher.start();
    while dispatcher.stats().sent < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.shutdown().await;
    let stats = dispatcher.stats();
    println!(
        "dispatcher: {} sent, {} throttled and retried",
        stats.sent, stats.throttled_number
    );

    // Status webhooks arrive out of order and twice; statuses only move forward.
    let wamids: Vec<String> = transport
        .sent()
        .into_iter()
        .filter_map(|m| m.wamid)
        .collect();
    let now = Utc::now();
    let webhook = |wamid: &String, status| WamidUpdate {
        wamid: wamid.clone(),
        update: StatusUpdate::new(status, now),
    };
    let updates = vec![
        webhook(&wamids[0], MessageStatus::Read),
        webhook(&wamids[0], MessageStatus::Delivered),
        webhook(&wamids[1], MessageStatus::Delivered),
        webhook(&wamids[1], MessageStatus::Delivered),
    ];
    let changes = apply_status_updates(&*store, tenant.id, &updates).await?;
    let moved = changes.iter().flatten().filter(|c| c.moved()).count();
    println!(
        "applied {} status webhooks, {moved} moved a message forward",
        updates.len()
    );

    println!("\nmessages:");
    let all = store
        .list_messages(tenant.id, &MessageQuery::default(), Page::first(100))
        .await?;
    for m in &all.items {
        println!(
            "  {:<14} {:<9} attempts={}  wamid={}",
            m.contact_phone.as_str(),
            m.status.as_str(),
            m.attempts,
            m.wamid.as_deref().unwrap_or("-")
        );
    }
    println!("transport saw {} send calls", transport.sent().len());
    Ok(())
}
