//! Any bytes uploaded as a campaign's CSV audience give a typed error or an expansion report
//! whose counts (added + duplicates + rejected) never exceed the rows given, never a
//! panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use wagw_core::campaign::CampaignEngine;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent};
use wagw_core::model::channel::Channel;
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{ChannelStore, TenantStore};
use wagw_core::testkit::StubTransport;
use wagw_store_memory::{MemoryQueue, MemoryStore};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
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
        let engine = CampaignEngine::new(dispatcher);
        let campaign = Campaign::new(
            tenant.id,
            channel.id,
            "fuzz",
            CampaignContent::Text {
                body: "Halo {nama}".into(),
            },
            Audience::default(),
        );
        engine.create(&campaign).await.expect("create");
        let Ok(report) = engine.import_csv(tenant.id, campaign.id, data).await else {
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
