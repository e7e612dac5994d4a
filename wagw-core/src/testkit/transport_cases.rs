//! Conformance cases for [`Transport`] backends.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::join_all;

use crate::content::{MessageContent, OutboundMessage};
use crate::model::channel::Channel;
use crate::phone::PhoneNumber;
use crate::transport::{MediaUpload, Transport, TransportErrorKind};

/// What a transport case needs: the transport, a channel it sends from, a number it reaches.
#[derive(Debug, Clone)]
pub struct TransportSetup {
    /// The transport under test.
    pub transport: Arc<dyn Transport>,
    /// A channel it can send from.
    pub channel: Channel,
    /// A number it can send to.
    pub recipient: PhoneNumber,
}

impl TransportSetup {
    fn text(&self, body: &str) -> OutboundMessage {
        OutboundMessage::new(self.recipient.as_str(), MessageContent::text(body))
    }
}

/// Every accepted send gets its own non-empty wamid.
pub async fn send_returns_distinct_wamids(setup: &TransportSetup) {
    let mut seen = HashSet::new();
    for n in 0..5 {
        let receipt = setup
            .transport
            .send(&setup.channel, &setup.text(&format!("Pesan {n}")))
            .await
            .expect("send");
        assert!(!receipt.wamid.is_empty());
        assert!(seen.insert(receipt.wamid), "wamid reused");
    }
}

/// Concurrent sends on one channel are all accepted with distinct wamids.
pub async fn concurrent_sends_are_all_accepted(setup: &TransportSetup) {
    let messages: Vec<_> = (0..20).map(|n| setup.text(&format!("Blast {n}"))).collect();
    let results = join_all(
        messages
            .iter()
            .map(|m| setup.transport.send(&setup.channel, m)),
    )
    .await;
    let wamids: HashSet<_> = results
        .into_iter()
        .map(|r| r.expect("send").wamid)
        .collect();
    assert_eq!(wamids.len(), 20);
}

/// Content that breaks Meta's limits is refused as permanent, never retried.
pub async fn invalid_content_is_rejected_before_sending(setup: &TransportSetup) {
    let error = setup
        .transport
        .send(&setup.channel, &setup.text(&"x".repeat(4_097)))
        .await
        .expect_err("a 4,097-character text is refused");
    assert_eq!(error.kind, TransportErrorKind::Permanent);
}

/// Uploaded media can be looked up, downloaded and deleted, when the transport has media.
pub async fn media_roundtrip_when_supported(setup: &TransportSetup) {
    if !setup.transport.capabilities().media {
        return;
    }
    let data = Bytes::from_static(b"%PDF-1.4 invoice");
    let id = setup
        .transport
        .upload_media(
            &setup.channel,
            MediaUpload {
                mime_type: "application/pdf".into(),
                file_name: "invoice.pdf".into(),
                data: data.clone(),
            },
        )
        .await
        .expect("upload");
    let info = setup
        .transport
        .get_media(&setup.channel, &id)
        .await
        .expect("get");
    assert_eq!(info.mime_type, "application/pdf");
    assert_eq!(info.file_size, data.len() as u64);
    let bytes = setup
        .transport
        .download_media(&setup.channel, &id)
        .await
        .expect("download");
    assert_eq!(bytes, data);
    setup
        .transport
        .delete_media(&setup.channel, &id)
        .await
        .expect("delete");
    assert!(
        setup
            .transport
            .get_media(&setup.channel, &id)
            .await
            .is_err()
    );
}
