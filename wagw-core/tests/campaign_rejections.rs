//! Every audience input a campaign refuses (invalid number, duplicate, malformed CSV row) is
//! stored with its line, input and reason, without cap, counted as skipped, and listed in the
//! campaign's report: the report accounts for every input row.

mod common;

use std::collections::BTreeMap;

use common::{Setup, phone, quick};
use wagw_core::campaign::CampaignEngine;
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent, RecipientStatus};
use wagw_core::store::{CampaignStore, Page};

async fn all_rejections(
    s: &Setup,
    campaign: wagw_core::ids::CampaignId,
) -> Vec<wagw_core::model::campaign::Rejection> {
    let mut out = Vec::new();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let got = s
            .store
            .list_rejections(s.tenant.id, campaign, page)
            .await
            .expect("rejections");
        out.extend(got.items);
        match got.next {
            Some(next) => page = Page::after(Page::MAX_LIMIT, next),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_csv_row_is_stored_counted_and_reported() {
    let s = Setup::new(80).await;
    let engine = CampaignEngine::new(s.dispatcher(quick()));
    let c = Campaign::new(
        s.tenant.id,
        s.channel.id,
        "Gangguan",
        CampaignContent::Text {
            body: "Halo {nama}".into(),
        },
        Audience::default(),
    );
    engine.create(&c).await.expect("create");

    // 12,000 data rows (line = i + 2): every third invalid, every fifth of the rest repeats
    // an earlier number, every 1,000th has an extra column. More refused rows than one
    // write batch and far more than the old cap of 1,000.
    let mut csv = String::from("nama,nomor\n");
    let mut expected: BTreeMap<u64, &str> = BTreeMap::new();
    let mut added = 0;
    for i in 0..12_000u64 {
        let line = i + 2;
        if i % 1_000 == 999 {
            csv.push_str(&format!("Pelanggan {i},{},extra\n", phone(i).as_str()));
            expected.insert(line, "malformed row");
        } else if i % 3 == 0 {
            csv.push_str(&format!("Pelanggan {i},08x{i}\n"));
            expected.insert(line, "invalid number");
        } else if i % 5 == 0 {
            csv.push_str(&format!("Pelanggan {i},{}\n", phone(1).as_str()));
            expected.insert(line, "duplicate");
        } else {
            csv.push_str(&format!("Pelanggan {i},{}\n", phone(i).as_str()));
            added += 1;
        }
    }
    let report = engine
        .import_csv(s.tenant.id, c.id, csv.as_bytes())
        .await
        .expect("import");
    let refused = expected.len() as u64;
    assert_eq!(report.added, added);
    assert_eq!(report.added + report.duplicates + report.rejected, 12_000);
    assert!(report.rejections.len() <= 100, "the report only previews");

    let stored = all_rejections(&s, c.id).await;
    assert_eq!(stored.len() as u64, refused, "every refused row is stored");
    let by_line: BTreeMap<u64, &str> = stored
        .iter()
        .map(|r| (r.line.expect("a CSV row has its line"), r.reason.as_str()))
        .collect();
    assert_eq!(by_line.len(), stored.len(), "each row once");
    for (line, kind) in &expected {
        let reason = by_line.get(line).unwrap_or_else(|| panic!("line {line}"));
        assert!(reason.starts_with(kind), "line {line}: {reason}");
    }
    let bad = stored
        .iter()
        .find(|r| r.line == Some(5))
        .expect("line 5 (i = 3) is invalid");
    assert_eq!(bad.input, "08x3", "the input as written");

    let counters = engine.counters(s.tenant.id, c.id).await.expect("counters");
    assert_eq!(counters.total, 12_000, "every input row is counted");
    assert_eq!((counters.pending, counters.skipped), (added, refused));

    let full = engine.report(s.tenant.id, c.id).await.expect("report");
    assert_eq!(
        full.recipients.len(),
        12_000,
        "one report row per input row"
    );
    let skipped_rows: Vec<_> = full
        .recipients
        .iter()
        .filter(|r| r.status == RecipientStatus::Skipped)
        .collect();
    assert_eq!(skipped_rows.len() as u64, refused);
    assert!(
        skipped_rows
            .iter()
            .all(|r| r.line.is_some() && r.input.is_some() && r.reason.is_some())
    );
    let mut out = Vec::new();
    full.write_csv(&mut out).expect("csv");
    let out = String::from_utf8(out).expect("utf8");
    assert_eq!(out.lines().count(), 12_001);
    assert!(
        out.lines()
            .any(|l| l.starts_with(",skipped,") && l.ends_with(",5,08x3")),
        "a refused row in the CSV with its line and input"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_explicit_numbers_are_stored_too() {
    let s = Setup::new(80).await;
    let engine = CampaignEngine::new(s.dispatcher(quick()));
    let mut c = Campaign::new(
        s.tenant.id,
        s.channel.id,
        "Promo",
        CampaignContent::Text {
            body: "Halo".into(),
        },
        Audience::default(),
    );
    c.audience.numbers = vec![
        phone(1).as_str().to_owned(),
        "abc".into(),
        phone(1).as_str().to_owned(),
        phone(2).as_str().to_owned(),
    ];
    engine.create(&c).await.expect("create");
    let report = engine.expand(s.tenant.id, c.id).await.expect("expand");
    assert_eq!(
        (report.added, report.duplicates, report.rejected),
        (2, 1, 1)
    );
    let stored = all_rejections(&s, c.id).await;
    let inputs: Vec<_> = stored.iter().map(|r| r.input.as_str()).collect();
    assert_eq!(inputs, ["abc", phone(1).as_str()]);
    assert!(stored.iter().all(|r| r.line.is_none()));
    let counters = engine.counters(s.tenant.id, c.id).await.expect("counters");
    assert_eq!((counters.total, counters.skipped), (4, 2));
}

/// Found by the `csv_audience` fuzz target (fuzz/regressions/csv_audience-crash-cb0ecb50): a
/// header ended by a bare `\r` made the next row's rejection claim line 1, the header's.
#[tokio::test]
async fn rows_after_bare_carriage_returns_are_reported_below_the_header() {
    let s = Setup::new(80).await;
    let engine = CampaignEngine::new(s.dispatcher(quick()));
    let c = Campaign::new(
        s.tenant.id,
        s.channel.id,
        "Gangguan",
        CampaignContent::Text {
            body: "Halo".into(),
        },
        Audience::default(),
    );
    engine.create(&c).await.expect("create");
    let report = engine
        .import_csv(s.tenant.id, c.id, &b"Wa\r\x0c\n\x07"[..])
        .await
        .expect("import");
    assert!(report.rejected > 0, "{report:?}");
    let lines: Vec<Option<u64>> = report.rejections.iter().map(|r| r.line).collect();
    assert!(
        lines.iter().all(|l| l.is_some_and(|l| l >= 2)),
        "rejections at {lines:?}"
    );
    let report = engine
        .import_csv(
            s.tenant.id,
            c.id,
            &b"nama,nomor\rBudi,08x1\rSiti,08x2\r"[..],
        )
        .await
        .expect("import");
    let lines: Vec<Option<u64>> = report.rejections.iter().map(|r| r.line).collect();
    assert_eq!(lines, [Some(2), Some(3)]);
}
