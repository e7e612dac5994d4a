use std::future::Future;

use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};

/// A request for one page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// At most this many items (clamped to `1..=Page::MAX_LIMIT`).
    pub limit: usize,
    /// The `next` cursor of the previous page; `None` for the first page.
    pub after: Option<String>,
}

impl Page {
    /// The largest page a backend returns.
    pub const MAX_LIMIT: usize = 10_000;

    /// The first page of `limit` items.
    pub fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }

    /// The page after `cursor`.
    pub fn after(limit: usize, cursor: impl Into<String>) -> Self {
        Self {
            limit,
            after: Some(cursor.into()),
        }
    }

    /// The limit clamped to `1..=MAX_LIMIT`.
    pub fn effective_limit(&self) -> usize {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::first(100)
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paged<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Paged<T> {
    /// Builds a page from up to `limit + 1` items fetched after the cursor: the extra item
    /// only proves that another page exists. `cursor` gives an item's cursor.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, cursor: impl Fn(&T) -> String) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(cursor)
        } else {
            None
        };
        Self { items, next }
    }
}

const STREAM_PAGE: usize = 1_000;

/// Turns a page-fetching function into a stream of items.
pub(crate) fn stream_pages<'a, T, F, Fut>(fetch: F) -> BoxStream<'a, crate::Result<T>>
where
    T: Send + 'a,
    F: Fn(Page) -> Fut + Send + 'a,
    Fut: Future<Output = crate::Result<Paged<T>>> + Send + 'a,
{
    let pages = stream::unfold(Some(Page::first(STREAM_PAGE)), move |page| {
        let fut = page.map(&fetch);
        async move {
            match fut?.await {
                Ok(paged) => {
                    let next = paged.next.map(|c| Page::after(STREAM_PAGE, c));
                    Some((Ok(paged.items), next))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    pages
        .flat_map(|page| match page {
            Ok(items) => stream::iter(items.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::once(async { Err(e) }).right_stream(),
        })
        .boxed()
}
