//! [`Pager`]: lists a collection in chunks (`limit` + `continue`), as client-go's
//! `tools/pager` does.
//!
//! Contract:
//! - Pages of [`DEFAULT_PAGE_SIZE`] (500) unless set. The first page uses the caller's
//!   `resourceVersion`/`resourceVersionMatch`; later pages send only the continue token (the
//!   server rejects both together), so every page comes from the first page's snapshot.
//! - When a continue token has expired (410 Expired/Gone on page 2 or later) and
//!   `full_list_if_expired` is on (the default, as client-go's `FullListIfExpired`), the pager
//!   falls back to ONE full list without a limit, at the caller's original resourceVersion.
//!   A 410 on the first page is returned as an error (the caller's resourceVersion is too old).
//! - [`Pager::collect_all`] returns the complete list: after a fallback, the full list
//!   (items from the abandoned pages are discarded, never duplicated). Its `resourceVersion` is
//!   the snapshot's.
//! - [`Pager::stream`] yields [`PagerEvent::Item`]s as pages arrive. On a fallback it yields
//!   [`PagerEvent::Restarted`] first, then every item of the full list, including ones already
//!   yielded: a consumer that builds state from the stream must discard it on `Restarted`
//!   (an informer would treat it as a fresh Replace). The stream ends with
//!   [`PagerEvent::Done`] carrying the list's resourceVersion.

use std::collections::VecDeque;

use futures::Stream;
use serde::de::DeserializeOwned;

use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::ListOptions;

use crate::api::Api;
use crate::error::Result;

/// Page size used unless set (client-go's default).
pub const DEFAULT_PAGE_SIZE: i64 = 500;

/// What [`Pager::stream`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum PagerEvent<K> {
    /// The next item.
    Item(K),
    /// A continue token expired: the listing restarts with a full list. Discard every item
    /// received so far; all current items follow again.
    Restarted,
    /// The list is complete; its resourceVersion (to start a watch from).
    Done {
        /// The list's resourceVersion.
        resource_version: String,
    },
}

/// Chunked lists over an [`Api`].
#[derive(Debug)]
pub struct Pager<K> {
    api: Api<K>,
    page_size: i64,
    full_list_if_expired: bool,
}

impl<K> Clone for Pager<K> {
    fn clone(&self) -> Self {
        Self { api: self.api.clone(), page_size: self.page_size, full_list_if_expired: self.full_list_if_expired }
    }
}

impl<K: DeserializeOwned + HasMetadata + Send + 'static> Pager<K> {
    /// A pager over `api` with the default page size.
    pub fn new(api: Api<K>) -> Self {
        Self { api, page_size: DEFAULT_PAGE_SIZE, full_list_if_expired: true }
    }

    /// Sets the page size (builder style; values below 1 mean 1).
    pub fn page_size(mut self, n: i64) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// Whether an expired continue token falls back to a full list (default true).
    pub fn full_list_if_expired(mut self, on: bool) -> Self {
        self.full_list_if_expired = on;
        self
    }

    fn first_page_opts(&self, opts: &ListOptions) -> ListOptions {
        let mut o = opts.clone();
        o.limit = Some(self.page_size);
        o.continue_token = None;
        o
    }

    fn next_page_opts(&self, opts: &ListOptions, token: &str) -> ListOptions {
        let mut o = opts.clone();
        o.limit = Some(self.page_size);
        o.continue_token = Some(token.to_string());
        o.resource_version = None;
        o.resource_version_match = None;
        o
    }

    fn full_opts(opts: &ListOptions) -> ListOptions {
        let mut o = opts.clone();
        o.limit = None;
        o.continue_token = None;
        o
    }

    /// Fetches one page; `Ok(None)` means "the token expired and we fall back".
    async fn page(&self, opts: &ListOptions, token: Option<&str>) -> Result<Option<ObjectList<K>>> {
        let o = match token {
            None => self.first_page_opts(opts),
            Some(t) => self.next_page_opts(opts, t),
        };
        match self.api.list(&o).await {
            Ok(l) => Ok(Some(l)),
            Err(e) if token.is_some() && e.is_expired() && self.full_list_if_expired => {
                tracing::debug!(resource = %self.api.resource().plural, "continue token expired; falling back to a full list");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Lists everything, page by page, and returns one list (see the module docs for the
    /// expired-token fallback).
    pub async fn collect_all(&self, opts: &ListOptions) -> Result<ObjectList<K>> {
        let mut all: ObjectList<K> = ObjectList::default();
        let mut token: Option<String> = None;
        loop {
            let Some(page) = self.page(opts, token.as_deref()).await? else {
                return self.api.list(&Self::full_opts(opts)).await;
            };
            let next = page.continue_token().map(str::to_string);
            all.metadata.resource_version = page.metadata.resource_version;
            all.items.extend(page.items);
            match next {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }

    /// Lists everything as a stream of items (see the module docs for `Restarted`).
    pub fn stream(&self, opts: &ListOptions) -> impl Stream<Item = Result<PagerEvent<K>>> + Send + 'static {
        enum Next {
            Page(Option<String>),
            Full,
            End,
        }
        struct State<K> {
            pager: Pager<K>,
            opts: ListOptions,
            buf: VecDeque<K>,
            next: Next,
            rv: String,
        }
        let st = State {
            pager: self.clone(),
            opts: opts.clone(),
            buf: VecDeque::new(),
            next: Next::Page(None),
            rv: String::new(),
        };
        futures::stream::unfold(Some(st), |st| async move {
            let mut st = st?;
            loop {
                if let Some(item) = st.buf.pop_front() {
                    return Some((Ok(PagerEvent::Item(item)), Some(st)));
                }
                match std::mem::replace(&mut st.next, Next::End) {
                    Next::End => {
                        let rv = std::mem::take(&mut st.rv);
                        return Some((Ok(PagerEvent::Done { resource_version: rv }), None));
                    }
                    Next::Full => match st.pager.api.list(&Pager::<K>::full_opts(&st.opts)).await {
                        Ok(l) => {
                            st.rv = l.resource_version().to_string();
                            st.buf.extend(l.items);
                        }
                        Err(e) => return Some((Err(e), None)),
                    },
                    Next::Page(token) => match st.pager.page(&st.opts, token.as_deref()).await {
                        Ok(Some(l)) => {
                            st.rv = l.resource_version().to_string();
                            st.next = match l.continue_token() {
                                Some(t) => Next::Page(Some(t.to_string())),
                                None => Next::End,
                            };
                            st.buf.extend(l.items);
                        }
                        Ok(None) => {
                            st.next = Next::Full;
                            return Some((Ok(PagerEvent::Restarted), Some(st)));
                        }
                        Err(e) => return Some((Err(e), None)),
                    },
                }
            }
        })
    }
}
