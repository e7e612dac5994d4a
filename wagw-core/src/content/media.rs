//! Media attachments (image, video, audio, document, sticker) referenced by id or link.

use serde::{Deserialize, Serialize};

use super::wire::Extra;

/// A media object: an uploaded media `id` or a public `link` (exactly one), plus the optional
/// fields some media types allow.
///
/// One struct serves all five media types, as on the wire; [`MessageContent::validate`]
/// enforces which fields each type accepts (no caption on audio or stickers, `filename` only on
/// documents, `voice` only on audio).
///
/// [`MessageContent::validate`]: super::MessageContent::validate
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Media {
    /// Id returned by the media upload endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// HTTP(S) URL Meta downloads the media from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Caption (image, video, document), at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// File name shown to the recipient (documents only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Send an audio file as a voice note (audio only; needs OGG/OPUS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<bool>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Media {
    /// Media uploaded to Meta beforehand, referenced by its id.
    pub fn from_id(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Self::default()
        }
    }

    /// Media Meta fetches from a public HTTP(S) URL.
    pub fn from_link(link: impl Into<String>) -> Self {
        Self {
            link: Some(link.into()),
            ..Self::default()
        }
    }

    /// Sets the caption.
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// Sets the file name shown for a document.
    pub fn with_filename(mut self, filename: impl Into<String>) -> Self {
        self.filename = Some(filename.into());
        self
    }

    /// Marks an audio file as a voice note.
    pub fn as_voice(mut self) -> Self {
        self.voice = Some(true);
        self
    }
}
