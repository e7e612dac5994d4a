//! A 100 MB media download (Meta's largest media: documents) streams through
//! `MetaTransport::media_download` from the emulator: it outlives the per-call timeout that
//! bounds sends, arrives in bounded chunks hashed as they come (never the whole body in
//! memory), and matches the sha256 the metadata announced. The emulator generates the bytes as
//! they are read; there is no fixture file.
#![cfg(feature = "emulator")]

mod emulator_support;

use std::time::{Duration, Instant};

use emulator_support::*;
use sha2::{Digest, Sha256};
use wagw_core::model::channel::Channel;
use wagw_meta::MetaTransport;

const SIZE: u64 = 100 * 1024 * 1024;
/// The per-call timeout that bounds sends and metadata calls.
const SEND_TIMEOUT: Duration = Duration::from_millis(500);

#[tokio::test]
async fn a_100_mb_download_streams_past_the_send_timeout() {
    let emulator = builder(None).start().await.unwrap();
    let media_id = emulator
        .add_generated_media(PNID, "application/pdf", SIZE)
        .unwrap();
    let transport = MetaTransport::builder()
        .base_url(emulator.base_url())
        .access_token(TOKEN)
        .timeout(SEND_TIMEOUT)
        .build()
        .unwrap();
    let channel = Channel::new(
        wagw_core::ids::TenantId::new(),
        "download",
        PNID,
        WABA,
        wagw_core::phone::PhoneNumber::from_wa_id(DISPLAY).unwrap(),
    );

    let started = Instant::now();
    let mut download = transport
        .media_download(&channel, &media_id)
        .await
        .expect("download starts");
    assert_eq!(download.info().file_size, SIZE);
    let announced = download.info().sha256.clone();

    let mut hasher = Sha256::new();
    let (mut chunks, mut largest_chunk, mut total) = (0_u64, 0_usize, 0_u64);
    while let Some(chunk) = download.chunk().await.expect("chunk") {
        if chunks == 0 {
            // Stall on purpose so the download outlives the send timeout whatever the speed.
            tokio::time::sleep(SEND_TIMEOUT + Duration::from_millis(200)).await;
        }
        chunks += 1;
        largest_chunk = largest_chunk.max(chunk.len());
        total += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let elapsed = started.elapsed();
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    assert_eq!(total, SIZE);
    assert_eq!(download.received(), SIZE);
    assert_eq!(
        hex, announced,
        "the streamed bytes match the announced sha256"
    );
    assert!(
        elapsed > SEND_TIMEOUT,
        "the download took {elapsed:?}, longer than the {SEND_TIMEOUT:?} send timeout"
    );
    // Held at once: one chunk (bounded), never the body.
    assert!(
        largest_chunk <= 1024 * 1024,
        "largest chunk {largest_chunk} bytes"
    );
    assert!(chunks >= 100, "{chunks} chunks");
    eprintln!("{chunks} chunks, largest {largest_chunk} bytes, {elapsed:?}");
    emulator.shutdown().await;
}
