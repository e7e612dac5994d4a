//! Any bytes uploaded as a campaign's CSV audience give a typed error or an expansion report
//! whose counts (added + duplicates + rejected) never exceed the rows given, and whose every
//! rejection names a data line; never a panic.
//!
//! Each input is imported through `CampaignEngine::import_csv` into a campaign of its own,
//! created for it and deleted (with its recipients and rejections) after it, so no input
//! sees another's numbers. The store, tenant, channel, dispatcher and engine around it are
//! built once per process: building them for every input was most of the target's time.
//! `init` builds them and loads libphonenumber's metadata (seconds under ASan on a loaded
//! machine) before the first input, so that never counts against `-timeout`.
#![no_main]

mod bounded_alloc;

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use wagw_core::campaign::CampaignEngine;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent};
use wagw_core::model::channel::Channel;
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{CampaignStore, ChannelStore, TenantStore};
use wagw_core::testkit::StubTransport;
use wagw_store_memory::{MemoryQueue, MemoryStore};

#[global_allocator]
static ALLOC: bounded_alloc::Bounded = bounded_alloc::Bounded;

/// What every input shares: a tenant with one channel in a memory store, and the engine.
struct Rig {
    store: Arc<MemoryStore>,
    tenant: Tenant,
    channel: Channel,
    engine: CampaignEngine<MemoryStore, MemoryQueue, StubTransport>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        runtime().block_on(async {
            let store = Arc::new(MemoryStore::new());
            let tenant = Tenant::new("Toko", Plan::enterprise());
            store.create_tenant(&tenant).await.expect("tenant");
            let sender = PhoneNumber::from_wa_id("6281299990001").expect("number");
            let channel = Channel::new(tenant.id, "cs", "1065", "1022", sender);
            store.create_channel(&channel).await.expect("channel");
            let dispatcher = Dispatcher::new(
                Arc::clone(&store),
                Arc::new(MemoryQueue::new()),
                Arc::new(StubTransport::new_ok()),
                DispatcherConfig::default(),
            );
            Rig {
                store,
                tenant,
                channel,
                engine: CampaignEngine::new(dispatcher),
            }
        })
    })
}

fuzz_target!(init: {
    rig();
    let _ = wagw_core::phone::normalize("+628123456789", wagw_core::phone::Region::ID);
}, |data: &[u8]| {
    let rig = rig();
    runtime().block_on(async {
        let campaign = Campaign::new(
            rig.tenant.id,
            rig.channel.id,
            "fuzz",
            CampaignContent::Text {
                body: "Halo {nama}".into(),
            },
            Audience::default(),
        );
        rig.engine.create(&campaign).await.expect("create");
        let imported = rig.engine.import_csv(rig.tenant.id, campaign.id, data).await;
        // Whatever the import did, the next input starts from a store without this campaign.
        rig.store
            .delete_campaign(rig.tenant.id, campaign.id)
            .await
            .expect("delete");
        let Ok(report) = imported else {
            return;
        };
        let rows = data_rows(data);
        assert!(
            report.added + report.duplicates + report.rejected <= rows,
            "{report:?} accounts for more than {rows} rows"
        );
        assert!(report.rejections.iter().all(|r| r.line.is_some_and(|l| l >= 2)));
    });
});

/// An upper bound of the data rows: the lines after the header.
fn data_rows(data: &[u8]) -> u64 {
    let lines = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64;
    lines + 1
}
