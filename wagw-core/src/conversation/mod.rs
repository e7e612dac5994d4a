//! Conversations, the inbound half: from Meta's webhooks to answers.
//!
//! ```text
//! webhook ─▶ InboundPipeline::ingest ─▶ store (one atomic step per message:
//!            message once by wamid, contact, window, ConversationJob, outbox rows)
//!            ─▶ acknowledge the webhook
//! ConversationRunner ─▶ claims jobs (one at a time per contact) ─▶ handed off? flow session?
//!            auto-reply rules? flow triggers? channel's flow? ─▶ Dispatcher (urgent, keyed
//!            bot:{wamid}:{n}) ─▶ settle the job
//! ```
//!
//! - [`inbound`]: [`InboundPipeline`] stores webhook events (messages, statuses, template
//!   statuses) and writes outbox events;
//! - [`runner`]: [`ConversationRunner`] answers each stored message from its durable job,
//!   through the [`FlowEngine`](crate::FlowEngine) and the auto-reply rules;
//! - [`auto_reply`]: the keyword matcher ([`RuleSet`]) and rule creation within the plan;
//! - [`window`]: the 24-hour customer-service window;
//! - [`events`]: the outbox event shape (`{"id", "type", "created_at", "tenant_id", "data"}`)
//!   of every event, flow completed and handed off included;
//! - [`template_sync`]: keeps stored templates in step with Meta.
//!
//! ## Example: an auto-reply, end to end, in memory
//!
//! ```
//! # use std::sync::Arc;
//! use wagw_core::content::MessageContent;
//! use wagw_core::conversation::{ConversationRunner, InboundPipeline, RoutedEvent, RunnerConfig};
//! use wagw_core::conversation::auto_reply::create_rule;
//! use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
//! use wagw_core::event::{InboundEvent, InboundMessage};
//! use wagw_core::flow_engine::{FlowEngine, FlowOutcome};
//! use wagw_core::model::auto_reply::AutoReplyRule;
//! use wagw_core::model::channel::Channel;
//! use wagw_core::model::flow::ConversationSession;
//! use wagw_core::model::tenant::{Plan, Tenant};
//! use wagw_core::phone::PhoneNumber;
//! use wagw_core::store::{ChannelStore, MessageQuery, MessageStore, Page, TenantStore};
//! use wagw_core::model::message::Direction;
//! # use wagw_store_memory::{MemoryQueue, MemoryStore};
//! # use wagw_core::testkit::StubTransport;
//!
//! /// No flows in this example: the engine declines every message.
//! struct NoFlows;
//! #[async_trait::async_trait]
//! impl FlowEngine for NoFlows {
//!     async fn handle(&self, session: ConversationSession, _: &InboundMessage)
//!         -> wagw_core::Result<FlowOutcome> {
//!         Ok(FlowOutcome::unhandled(session))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let tenant = Tenant::new("Toko Maju", Plan::basic());
//! store.create_tenant(&tenant).await?;
//! let number = PhoneNumber::from_wa_id("6281100000001")?;
//! let channel = Channel::new(tenant.id, "CS", "106540352242922", "102290129340398", number);
//! store.create_channel(&channel).await?;
//! create_rule(&*store, &AutoReplyRule::new(tenant.id, "harga", vec!["harga".into()],
//!     MessageContent::text("Paket mulai Rp 150.000/bulan"))).await?;
//!
//! // The webhook: a user in Jakarta asks for prices.
//! let message: InboundMessage = serde_json::from_value(serde_json::json!({
//!     "from": "628123456789", "id": "wamid.HBgM", "type": "text",
//!     "timestamp": chrono::Utc::now().timestamp().to_string(),
//!     "text": {"body": "Berapa harga paketnya?"}}))?;
//! let pipeline = InboundPipeline::new(store.clone());
//! let event = RoutedEvent { waba_id: "102290129340398".into(),
//!     phone_number_id: Some("106540352242922".into()), contact: None,
//!     event: InboundEvent::Message(message) };
//! let report = pipeline.ingest(&[event.clone()]).await?;
//! assert_eq!(report.messages, 1);
//! assert_eq!(pipeline.ingest(&[event]).await?.duplicates, 1); // Meta redelivers
//!
//! // After the acknowledgement: the runner answers from the durable job.
//! let dispatcher = Dispatcher::new(store.clone(), Arc::new(MemoryQueue::new()),
//!     Arc::new(StubTransport::new_ok()), DispatcherConfig::default());
//! let runner = ConversationRunner::new(store.clone(), dispatcher, Arc::new(NoFlows),
//!     RunnerConfig::default());
//! assert_eq!(runner.run_once().await?, 1);
//! let query = MessageQuery { direction: Some(Direction::Outbound), ..Default::default() };
//! let replies = store.list_messages(tenant.id, &query, Page::first(10)).await?;
//! assert_eq!(replies.items.len(), 1);
//! assert_eq!(replies.items[0].idempotency_key.as_deref(), Some("bot:wamid.HBgM:0"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod auto_reply;
pub mod events;
pub mod inbound;
pub mod runner;
pub mod template_sync;
pub mod window;

pub use auto_reply::RuleSet;
pub use events::OutboxEvent;
pub use inbound::{InboundPipeline, IngestReport, RoutedEvent};
pub use runner::{ConversationRunner, RunnerConfig, RunnerHandle};
