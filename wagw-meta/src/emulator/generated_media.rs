//! Media whose bytes the emulator makes up as they are downloaded, so that tests can fetch
//! Meta's largest media (documents of 100 MB) without a fixture file and without the emulator
//! holding the whole body in memory.
//!
//! The body is a sequence of 64 KiB blocks: one pseudo-random block drawn from the seed, each
//! copy stamped with its block number in its first eight bytes, so that a lost, repeated or
//! reordered chunk changes the sha256 the metadata announces.

use std::convert::Infallible;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use sha2::{Digest, Sha256};

/// Size of one generated block, and of the chunks the download is written in.
pub(crate) const BLOCK: usize = 64 * 1024;

/// The recipe of a generated body: its seed and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generated {
    pub(crate) seed: u64,
    pub(crate) size: u64,
}

impl Generated {
    /// The block every chunk is cut from (before its number is stamped in).
    fn pattern(self) -> Bytes {
        let mut state = self.seed | 1;
        let mut block = BytesMut::with_capacity(BLOCK);
        while block.len() < BLOCK {
            // xorshift64: cheap, and good enough to make the bytes not compress to nothing.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            block.extend_from_slice(&state.to_le_bytes());
        }
        block.freeze()
    }

    /// Chunk `index` of the body, cut from `pattern`.
    fn chunk(self, pattern: &Bytes, index: u64) -> Option<Bytes> {
        let start = index.checked_mul(BLOCK as u64)?;
        if start >= self.size {
            return None;
        }
        let len = usize::try_from((self.size - start).min(BLOCK as u64)).unwrap_or(BLOCK);
        let mut chunk = BytesMut::from(&pattern[..len]);
        let stamp = index.to_le_bytes();
        let n = stamp.len().min(len);
        chunk[..n].copy_from_slice(&stamp[..n]);
        Some(chunk.freeze())
    }

    /// The body as a stream of chunks, made one at a time as the client reads.
    pub(crate) fn stream(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
        let pattern = self.pattern();
        futures::stream::unfold(0u64, move |index| {
            let next = self.chunk(&pattern, index).map(|c| (Ok(c), index + 1));
            std::future::ready(next)
        })
    }

    /// The sha256 of the whole body, lower-case hex, as `GET /{media-id}` reports it.
    pub(crate) fn sha256(self) -> String {
        let pattern = self.pattern();
        let mut hasher = Sha256::new();
        let mut index = 0;
        while let Some(chunk) = self.chunk(&pattern, index) {
            hasher.update(&chunk);
            index += 1;
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn the_stream_has_the_size_and_hash_announced() {
        let generated = Generated {
            seed: 7,
            size: 3 * BLOCK as u64 + 10,
        };
        let chunks: Vec<Bytes> = generated
            .stream()
            .map(|c| match c {
                Ok(c) => c,
                Err(never) => match never {},
            })
            .collect()
            .await;
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[3].len(), 10);
        let all: Vec<u8> = chunks.concat();
        assert_eq!(all.len() as u64, generated.size);
        let hex: String = Sha256::digest(&all)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, generated.sha256());
        // Blocks differ by their stamp.
        assert_ne!(chunks[0], chunks[1]);
    }
}
