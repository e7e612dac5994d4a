//! # wagw-store-memory
//!
//! In-memory backends for wagw: [`MemoryStore`] implements every
//! [`Store`](wagw_core::Store) sub-trait and [`MemoryQueue`] implements
//! [`Queue`](wagw_core::Queue). Both pass wagw-core's conformance suites. Nothing survives the
//! process: use them for tests, the sandbox and single-process tools, and `wagw-store-sqlx`
//! when messages must survive a restart.
//!
//! ```
//! use wagw_core::model::tenant::{Plan, Tenant};
//! use wagw_core::queue::{NewJob, ReserveOptions};
//! use wagw_core::store::TenantStore;
//! use wagw_core::Queue;
//! use wagw_store_memory::{MemoryQueue, MemoryStore};
//!
//! # tokio_test_block_on(async {
//! let store = MemoryStore::new();
//! let tenant = Tenant::new("Toko Maju", Plan::basic());
//! store.create_tenant(&tenant).await?;
//! assert_eq!(store.get_tenant(tenant.id).await?.name, "Toko Maju");
//!
//! let queue = MemoryQueue::new();
//! queue.enqueue(NewJob::new("channel-1", "payload")).await?;
//! let jobs = queue.reserve(&ReserveOptions::new(10, std::time::Duration::from_secs(30))).await?;
//! queue.ack(&jobs[0].lease).await?;
//! # Ok::<(), wagw_core::Error>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod queue;
mod store;

pub use queue::MemoryQueue;
pub use store::MemoryStore;
