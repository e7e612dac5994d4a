//! The smallest complete round trip through wagw: numbers normalised, messages recorded
//! durably before they are queued, a worker that reserves, sends and records the result, status
//! webhooks that move messages forward (and a redelivered one that cannot move them back).
//!
//! It runs on the in-memory backends and the recording stub transport, so it needs nothing
//! else: `cargo run -p quickstart`.

use std::time::Duration;

use chrono::Utc;
use wagw::content::{MessageContent, OutboundMessage};
use wagw::memory::{MemoryQueue, MemoryStore};
use wagw::model::channel::Channel;
use wagw::model::message::{MessageError, MessageRecord, MessageStatus, Priority, StatusUpdate};
use wagw::model::tenant::{Plan, Tenant};
use wagw::phone::{Region, normalize};
use wagw::queue::{NewJob, ReserveOptions};
use wagw::store::{ChannelStore, MessageQuery, MessageStore, Page, TenantStore, WamidUpdate};
use wagw::testkit::StubTransport;
use wagw::{Queue, Transport, TransportError, TransportErrorKind};

#[tokio::main(flavor = "current_thread")]
async fn main() -> wagw::Result<()> {
    let store = MemoryStore::new();
    let queue = MemoryQueue::new();
    let transport = StubTransport::new_ok();

    let tenant = Tenant::new("Toko Maju", Plan::basic());
    store.create_tenant(&tenant).await?;
    let number = normalize("0811-1000-2000", Region::ID)?;
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
                println!("refused {input:?}: {} ({})", e, e.code());
                continue;
            }
        };
        let content = OutboundMessage::new(to.as_str(), MessageContent::text(body));
        content.validate()?;
        let record = MessageRecord::outbound(tenant.id, channel.id, to, content, Priority::Normal)
            .with_idempotency_key(format!("order-{input}"));
        let inserted = store.insert_message(&record).await?;
        let job = serde_json::json!({ "tenant": tenant.id, "message": inserted.id }).to_string();
        queue
            .enqueue(NewJob::new(channel.id.to_string(), job).dedup_key(inserted.id.to_string()))
            .await?;
        println!(
            "accepted {input:?} as {} -> message {}",
            record.contact_phone, inserted.id
        );
    }

    // The far side throttles the first attempt; the worker retries it.
    transport.push_outcomes([Err(TransportError::new(
        TransportErrorKind::ThrottledNumber,
        "(#130429) Rate limit hit",
    )
    .with_code(130429)
    .with_retry_after(Duration::from_millis(50)))]);

    // A minimal worker: reserve, record the attempt, send, record the outcome.
    let mut wamids = Vec::new();
    while queue.stats().await?.pending() > 0 {
        let jobs = queue
            .reserve(&ReserveOptions::new(10, Duration::from_secs(30)))
            .await?;
        if jobs.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        for job in jobs {
            let id = message_id(&job.job.payload)?;
            let message = store.record_attempt(tenant.id, id).await?;
            let wagw::model::message::MessageBody::Outbound(body) = &message.body else {
                continue;
            };
            match transport.send(&channel, body).await {
                Ok(receipt) => {
                    store
                        .update_status(
                            tenant.id,
                            id,
                            &StatusUpdate::sent(&receipt.wamid, Utc::now()),
                        )
                        .await?;
                    wamids.push(receipt.wamid);
                    queue.ack(&job.lease).await?;
                }
                Err(e) if e.retry() != wagw::Retry::Never => {
                    let delay = e.retry_after.unwrap_or(Duration::from_millis(100));
                    println!(
                        "attempt {} throttled ({e}); retrying in {delay:?}",
                        message.attempts
                    );
                    let retry_at = Utc::now() + delay;
                    queue.nack(&job.lease, retry_at, &e.to_string()).await?;
                }
                Err(e) => {
                    let error = MessageError {
                        code: e.code,
                        reason: e.message.clone(),
                    };
                    store
                        .update_status(tenant.id, id, &StatusUpdate::failed(error, Utc::now()))
                        .await?;
                    queue.ack(&job.lease).await?;
                }
            }
        }
    }

    // Status webhooks arrive out of order and twice; statuses only move forward.
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
    let changes = store.update_statuses_by_wamid(tenant.id, &updates).await?;
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
            "  {}  {:<9} attempts={}  wamid={}",
            m.contact_phone,
            m.status.as_str(),
            m.attempts,
            m.wamid.as_deref().unwrap_or("-")
        );
    }
    println!("transport saw {} send calls", transport.sent().len());
    Ok(())
}

/// Reads the message id back from a job payload written above.
fn message_id(payload: &[u8]) -> wagw::Result<wagw::ids::MessageId> {
    let reference: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| wagw::Error::invalid_input("job payload", e.to_string()))?;
    reference["message"]
        .as_str()
        .ok_or_else(|| wagw::Error::invalid_input("job payload", "names no message"))?
        .parse()
}
