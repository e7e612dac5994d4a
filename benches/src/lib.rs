//! Helpers shared by wagw's benchmarks.

use wagw_core::phone::PhoneNumber;

/// A distinct Indonesian mobile number for each `n`.
pub fn phone(n: u64) -> PhoneNumber {
    match PhoneNumber::from_wa_id(&(6_281_200_000_000 + n).to_string()) {
        Ok(p) => p,
        Err(e) => panic!("benchmark numbers are valid: {e}"),
    }
}

/// The process's peak resident memory so far, in MiB (Linux), from `/proc/self/status`.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The process's resident memory now, in MiB (Linux).
pub fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Channels and an emulator wired for the end-to-end benches.
pub mod emulated {
    use std::sync::Arc;

    use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
    use wagw_core::model::channel::{Channel, Throughput};
    use wagw_core::model::tenant::{Plan, Tenant};
    use wagw_core::store::{ChannelStore, TenantStore};
    use wagw_meta::MetaTransport;
    use wagw_meta::emulator::{Emulator, PairLimit, PhoneNumberSpec, Throughput as EmuRate};
    use wagw_store_memory::{MemoryQueue, MemoryStore};

    /// The emulator's token.
    pub const TOKEN: &str = "bench-token";

    /// A store with one tenant and `numbers` channels, an emulator that knows them, and a
    /// dispatcher sending through `MetaTransport` to it.
    pub struct Rig {
        /// The store.
        pub store: Arc<MemoryStore>,
        /// The emulator.
        pub emulator: Emulator,
        /// The tenant.
        pub tenant: Tenant,
        /// The channels.
        pub channels: Vec<Channel>,
        /// The dispatcher.
        pub dispatcher: Dispatcher<MemoryStore, MemoryQueue, MetaTransport>,
    }

    impl Rig {
        /// `rate` = `None` turns every limit off, in wagw and in the emulator.
        pub async fn new(numbers: usize, rate: Option<u32>) -> Self {
            let store = Arc::new(MemoryStore::new());
            let tenant = Tenant::new("bench", Plan::enterprise());
            store.create_tenant(&tenant).await.expect("tenant");
            let mut builder = Emulator::builder()
                .seed(1)
                .access_token(TOKEN)
                .customer_window(None)
                .pair_limit(PairLimit::Off)
                .throughput(rate.map_or(EmuRate::Off, EmuRate::per_second));
            let mut channels = Vec::new();
            for n in 0..numbers {
                let pnid = format!("2000000000{n:05}");
                let display = super::phone(7_000_000 + n as u64);
                builder = builder.number(PhoneNumberSpec::new(&pnid, display.as_str(), "waba"));
                let mut ch = Channel::new(tenant.id, "bench", pnid, "waba", display);
                ch.throughput = Throughput::per_second(rate.unwrap_or(1_000_000)).expect("rate");
                store.create_channel(&ch).await.expect("channel");
                channels.push(ch);
            }
            let emulator = builder.start().await.expect("emulator");
            let meta = MetaTransport::builder()
                .base_url(emulator.base_url())
                .access_token(TOKEN)
                .build()
                .expect("transport");
            let dispatcher = Dispatcher::new(
                Arc::clone(&store),
                Arc::new(MemoryQueue::new()),
                Arc::new(meta),
                DispatcherConfig {
                    enforce_window: false,
                    pair_limit: None,
                    idle_poll: std::time::Duration::from_millis(2),
                    ..DispatcherConfig::default()
                },
            );
            Self {
                store,
                emulator,
                tenant,
                channels,
                dispatcher,
            }
        }

        /// `count` text messages spread over the channels.
        pub fn messages(&self, count: u64) -> Vec<wagw_core::dispatch::NewMessage> {
            use wagw_core::content::MessageContent;
            use wagw_core::dispatch::NewMessage;
            (0..count)
                .map(|i| {
                    let ch = &self.channels[i as usize % self.channels.len()];
                    NewMessage::new(
                        self.tenant.id,
                        ch.id,
                        super::phone(i),
                        MessageContent::text("Halo, ini pesan uji."),
                    )
                })
                .collect()
        }
    }
}
