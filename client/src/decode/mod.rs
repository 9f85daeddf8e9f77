//! Fast decoding of big responses: split while the bytes arrive, decode on all cores, in order.
//!
//! Contract:
//! - [`list_items`] turns a list response body into its [`ListMeta`] (available as soon as the
//!   server has sent it, before the items: see [`ListItems::meta`]) and a stream of decoded
//!   items in list order. Items are split with [`split::ListSplitter`] (zero-copy slices of the
//!   received chunks) and decoded on the shared [`DecodePool`] by [`parallel::OrderedDecode`].
//! - [`watch_events`] decodes a watch body line by line ([`LineStream`]) in parallel: blank
//!   lines are skipped, a malformed line is an [`Error::Decode`] item and the stream goes on, an
//!   ERROR event is an [`Error::Api`] item and ends the stream, as does a broken body or a line
//!   over the limit.
//! - Both read JSON and Kubernetes' protobuf, told apart by the body's first byte
//!   ([`Sniffed`]): a protobuf list is split by [`ProtoListSplitter`] (items are bare messages,
//!   decoded as the list's kind minus `List`), a protobuf watch by [`FrameStream`] (each frame a
//!   `WatchEvent`); both decode straight into the same types, with the same errors and limits.
//! - [`ListItems`] and [`WatchEvents`] are the one list stream and the one watch stream: `Api`,
//!   the DynamicClient and the informers' reflector all use them. A pool of no threads
//!   (`DecodePool::new(0)`) decodes on the task that polls them.
//! - A transform ([`ItemTransform`], e.g. dropping `managedFields`) given to
//!   [`ListItems::with_transform`] or [`WatchEvents::with_transform`] runs on the pool thread
//!   right after an item is decoded, in parallel, never on the consumer; for watch events it
//!   runs on the objects of ADDED, MODIFIED and DELETED events only.
//! - Errors name what was decoded (`Pod #12 of the list from GET /api/v1/pods`) and where.
//! - Objects decoded here and retired on another thread can be dropped on the decode thread
//!   that allocated them with [`drop_where_decoded`] (far cheaper with glibc malloc).
//! - Memory stays bounded by [`DecodeOptions`] (in-flight records and bytes) plus the largest
//!   item and one chunk; dropping a stream cancels its pending decode work. An item or event
//!   larger than [`DecodeOptions::max_object_bytes`] is an [`Error::TooLarge`] item that ends
//!   the stream.

pub mod lines;
pub mod parallel;
pub mod proto;
pub mod reclaim;
pub mod split;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use http_body::Body;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use rudder_apimachinery::meta::ListMeta;
use rudder_apimachinery::watch::WatchEvent;

use crate::error::{Error, Result};

pub use lines::LineStream;
pub use parallel::{decode_ordered, reserve_heap_bytes, DecodeFn, DecodeOptions, DecodePool, OrderedDecode};
pub use proto::{FrameStream, ProtoListSplitter, Sniffed};
pub use reclaim::{drop_where_decoded, reclaimed};
pub use split::{ListSplitter, Split, SplitError};

/// A function run on every decoded object before it is handed out (see the module docs).
pub type ItemTransform<T> = Arc<dyn Fn(T) -> T + Send + Sync>;

/// Runs `transform` when there is one, else hands the object back unchanged: the last step of
/// every decode that may transform.
pub(crate) fn transform_or_keep<T: 'static>(transform: Option<ItemTransform<T>>) -> impl Fn(T) -> T + Send + Sync {
    move |item| match &transform {
        Some(t) => t(item),
        None => item,
    }
}

enum Failure {
    Split(String),
    Body(String),
    TooLarge(usize),
}

enum Advance {
    Item(Bytes),
    Meta,
    End,
    Failed,
}

/// The item records of a list body, with its metadata captured on the way. The source of
/// [`ListItems`]; usable on its own to get undecoded item bytes.
pub struct ListRecords<B = Incoming> {
    body: B,
    url: String,
    splitter: AnySplitter,
    /// Items split while looking for the metadata, not yet handed out.
    early: VecDeque<Bytes>,
    meta: Option<ListMeta>,
    body_done: bool,
    failure: Option<Failure>,
    failure_reported: bool,
    /// Set before the first record is handed out: `None` for JSON items, the items'
    /// `(apiVersion, kind)` for protobuf ones (their messages carry no type).
    item_type: Arc<OnceLock<Option<(String, String)>>>,
}

/// The splitter of a list body, chosen by its first byte.
enum AnySplitter {
    /// No byte yet; the item limit.
    Undecided(usize),
    Json(Box<ListSplitter>),
    Protobuf(ProtoListSplitter),
}

impl AnySplitter {
    fn push(&mut self, data: Bytes) {
        if let (AnySplitter::Undecided(max), Some(first)) = (&*self, data.first()) {
            *self = match Sniffed::of(*first) {
                Sniffed::Json => AnySplitter::Json(Box::new(ListSplitter::new().with_max_value_bytes(*max))),
                Sniffed::Protobuf => AnySplitter::Protobuf(ProtoListSplitter::new(*max)),
            };
        }
        match self {
            AnySplitter::Undecided(_) => {}
            AnySplitter::Json(s) => s.push(data),
            AnySplitter::Protobuf(s) => s.push(data),
        }
    }

    fn end_of_input(&mut self) {
        if let AnySplitter::Undecided(max) = self {
            *self = AnySplitter::Json(Box::new(ListSplitter::new().with_max_value_bytes(*max)));
        }
        match self {
            AnySplitter::Undecided(_) => {}
            AnySplitter::Json(s) => s.end_of_input(),
            AnySplitter::Protobuf(s) => s.end_of_input(),
        }
    }

    fn next(&mut self) -> std::result::Result<Option<Split>, SplitError> {
        match self {
            AnySplitter::Undecided(_) => Ok(None),
            AnySplitter::Json(s) => s.next(),
            AnySplitter::Protobuf(s) => s.next(),
        }
    }

    /// What [`ListRecords::item_type`] holds for this body.
    fn item_type(&self) -> Option<(String, String)> {
        let AnySplitter::Protobuf(s) = self else { return None };
        let api_version = s.api_version().unwrap_or_default().to_string();
        let list_kind = s.kind().unwrap_or_default();
        Some((api_version, list_kind.strip_suffix("List").unwrap_or(list_kind).to_string()))
    }
}

impl<B> ListRecords<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    /// Wraps a list response body read from `url`.
    pub fn new(body: B, url: impl Into<String>) -> Self {
        Self {
            body,
            url: url.into(),
            splitter: AnySplitter::Undecided(crate::config::DEFAULT_MAX_OBJECT_BYTES),
            early: VecDeque::new(),
            meta: None,
            body_done: false,
            failure: None,
            failure_reported: false,
            item_type: Arc::new(OnceLock::new()),
        }
    }

    /// Sets the largest item (or envelope field) accepted, in bytes.
    pub fn with_max_item_bytes(mut self, limit: usize) -> Self {
        self.splitter = AnySplitter::Undecided(limit);
        self
    }

    /// The list's metadata, once read.
    pub fn list_meta(&self) -> Option<&ListMeta> {
        self.meta.as_ref()
    }

    /// The list's `kind`, once read.
    pub fn kind(&self) -> Option<&str> {
        match &self.splitter {
            AnySplitter::Undecided(_) => None,
            AnySplitter::Json(s) => s.kind(),
            AnySplitter::Protobuf(s) => s.kind(),
        }
    }

    /// The list's `apiVersion`, once read.
    pub fn api_version(&self) -> Option<&str> {
        match &self.splitter {
            AnySplitter::Undecided(_) => None,
            AnySplitter::Json(s) => s.api_version(),
            AnySplitter::Protobuf(s) => s.api_version(),
        }
    }

    /// The body's encoding, once its first byte has arrived.
    pub fn encoding(&self) -> Option<Sniffed> {
        match &self.splitter {
            AnySplitter::Undecided(_) => None,
            AnySplitter::Json(_) => Some(Sniffed::Json),
            AnySplitter::Protobuf(_) => Some(Sniffed::Protobuf),
        }
    }

    fn error(&self) -> Error {
        match &self.failure {
            Some(Failure::Body(m)) => Error::Body { url: self.url.clone(), message: m.clone() },
            Some(Failure::TooLarge(limit)) => Error::TooLarge {
                url: self.url.clone(),
                what: "list item",
                limit: *limit,
                setting: "Config.max_object_bytes",
            },
            Some(Failure::Split(m)) => Error::Decode {
                what: format!("list from {}", self.url),
                source: <serde_json::Error as serde::de::Error>::custom(m),
            },
            None => Error::Body { url: self.url.clone(), message: "no failure".into() },
        }
    }

    fn poll_advance(&mut self, cx: &mut Context<'_>) -> Poll<Advance> {
        loop {
            if self.failure.is_some() {
                return Poll::Ready(Advance::Failed);
            }
            match self.splitter.next() {
                Ok(Some(Split::Item(b))) => {
                    if self.item_type.get().is_none() {
                        let _ = self.item_type.set(self.splitter.item_type());
                    }
                    return Poll::Ready(Advance::Item(b));
                }
                Ok(Some(Split::Meta(m))) => {
                    self.meta = Some(m);
                    return Poll::Ready(Advance::Meta);
                }
                Ok(None) if self.body_done => return Poll::Ready(Advance::End),
                Ok(None) => {}
                Err(SplitError::TooLarge { limit, .. }) => {
                    self.failure = Some(Failure::TooLarge(limit));
                    return Poll::Ready(Advance::Failed);
                }
                Err(e) => {
                    self.failure = Some(Failure::Split(e.to_string()));
                    return Poll::Ready(Advance::Failed);
                }
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.splitter.push(data);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    self.failure = Some(Failure::Body(e.to_string()));
                    return Poll::Ready(Advance::Failed);
                }
                Poll::Ready(None) => {
                    self.body_done = true;
                    self.splitter.end_of_input();
                }
            }
        }
    }

    /// Reads ahead until the list's metadata has been seen, keeping the items met on the way.
    pub fn poll_meta(&mut self, cx: &mut Context<'_>) -> Poll<Result<ListMeta>> {
        loop {
            if let Some(m) = &self.meta {
                return Poll::Ready(Ok(m.clone()));
            }
            match self.poll_advance(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Advance::Item(b)) => self.early.push_back(b),
                Poll::Ready(Advance::Meta) => {}
                // The splitter always emits metadata before ending; this is only defensive.
                Poll::Ready(Advance::End) => return Poll::Ready(Ok(ListMeta::default())),
                Poll::Ready(Advance::Failed) => return Poll::Ready(Err(self.error())),
            }
        }
    }
}

impl<B> Stream for ListRecords<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(b) = this.early.pop_front() {
            return Poll::Ready(Some(Ok(b)));
        }
        loop {
            return match this.poll_advance(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Advance::Item(b)) => Poll::Ready(Some(Ok(b))),
                Poll::Ready(Advance::Meta) => continue,
                Poll::Ready(Advance::End) => Poll::Ready(None),
                Poll::Ready(Advance::Failed) if this.failure_reported => Poll::Ready(None),
                Poll::Ready(Advance::Failed) => {
                    this.failure_reported = true;
                    Poll::Ready(Some(Err(this.error())))
                }
            };
        }
    }
}

/// The decoded items of a list response, in order, with its metadata. Build with [`list_items`].
pub struct ListItems<T, B = Incoming> {
    inner: OrderedDecode<ListRecords<B>, T, Error>,
}

/// Splits and decodes a list response body (`GET .../pods`) in parallel on the global pool.
///
/// Await [`ListItems::meta`] first to get the continue token early (to request the next page
/// while this one decodes), then consume the items as a stream.
pub fn list_items<T, B>(body: B, url: impl Into<String>) -> ListItems<T, B>
where
    T: DeserializeOwned + Send + 'static,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    ListItems::with_pool(body, url, DecodePool::global().clone(), DecodeOptions::default())
}

impl<T, B> ListItems<T, B>
where
    T: DeserializeOwned + Send + 'static,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    /// Like [`list_items`], on a given pool with given options.
    pub fn with_pool(body: B, url: impl Into<String>, pool: DecodePool, opts: DecodeOptions) -> Self {
        Self::with_transform(body, url, pool, opts, None)
    }

    /// Like [`ListItems::with_pool`], running `transform` on each item on the pool thread that
    /// decoded it.
    pub fn with_transform(
        body: B,
        url: impl Into<String>,
        pool: DecodePool,
        opts: DecodeOptions,
        transform: Option<ItemTransform<T>>,
    ) -> Self {
        Self::decoded_as(body, url, pool, opts, transform_or_keep(transform))
    }
}

impl<T, B> ListItems<T, B>
where
    T: Send + 'static,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    /// Like [`ListItems::with_pool`], decoding each item as `K` and turning it into a `T` with
    /// `finish` on the pool thread that decoded it: for example `Arc::new`, so that a list of
    /// large structs (a k8s-openapi `Pod` is 2.5 KB) reaches the consumer as pointers and is
    /// never moved or collected by value on the consumer's thread.
    ///
    /// ```no_run
    /// # async fn f(body: hyper::body::Incoming) {
    /// use std::sync::Arc;
    /// use k8s_openapi::api::core::v1::Pod;
    /// use rudder_client::decode::{DecodeOptions, DecodePool, ListItems};
    /// let items = ListItems::<Arc<Pod>, _>::decoded_as(
    ///     body, "/api/v1/pods", DecodePool::global().clone(), DecodeOptions::default(),
    ///     |pod: Pod| Arc::new(pod),
    /// );
    /// # }
    /// ```
    pub fn decoded_as<K, F>(body: B, url: impl Into<String>, pool: DecodePool, opts: DecodeOptions, finish: F) -> Self
    where
        K: DeserializeOwned,
        F: Fn(K) -> T + Send + Sync + 'static,
    {
        let url = url.into();
        let what_url = url.clone();
        let records = ListRecords::new(body, url).with_max_item_bytes(opts.max_object_bytes);
        let item_type = records.item_type.clone();
        let json = rudder_apimachinery::json::JsonOptions { skip_managed_fields: opts.skip_managed_fields };
        let map: DecodeFn<T, Error> = Arc::new(move |i, b: Bytes| {
            let item = match item_type.get() {
                Some(Some((api_version, kind))) => {
                    rudder_apimachinery::protobuf::from_message::<K>(&b, api_version, kind)
                        .map_err(<serde_json::Error as serde::de::Error>::custom)
                }
                _ => rudder_apimachinery::json::from_slice_with::<K>(&b, json),
            }
            .map_err(|source| Error::Decode {
                what: format!("{} #{i} of the list from {what_url}", crate::client::short_type_name::<K>()),
                source,
            })?;
            Ok(finish(item))
        });
        Self { inner: OrderedDecode::new(records, map, pool, opts) }
    }

    /// The list's metadata (resourceVersion, continue token), as soon as the server has sent it.
    /// Items met on the way are kept for the stream.
    pub async fn meta(&mut self) -> Result<ListMeta> {
        std::future::poll_fn(|cx| self.inner.get_mut().poll_meta(cx)).await
    }

    /// The list's metadata, if already read.
    pub fn list_meta(&self) -> Option<&ListMeta> {
        self.inner.get_ref().list_meta()
    }

    /// The list's `kind`, if already read.
    pub fn kind(&self) -> Option<&str> {
        self.inner.get_ref().kind()
    }

    /// The list's `apiVersion`, if already read.
    pub fn api_version(&self) -> Option<&str> {
        self.inner.get_ref().api_version()
    }
}

impl<T, B> Stream for ListItems<T, B>
where
    T: Send + 'static,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// The non-blank lines of a body.
pub struct NonBlankLines<B = Incoming>(LineStream<B>);

impl<B> Stream for NonBlankLines<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.0).poll_next(cx) {
                Poll::Ready(Some(Ok(l))) if l.iter().all(|b| b.is_ascii_whitespace()) => continue,
                other => return other,
            }
        }
    }
}

/// A body whose first chunk was already read.
pub struct Prefixed<B> {
    first: Option<Bytes>,
    body: B,
}

impl<B> Body for Prefixed<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, B::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(first))));
        }
        Pin::new(&mut self.body).poll_frame(cx)
    }
}

enum WatchState<B> {
    Undecided { body: B, url: String, max: usize },
    Lines(NonBlankLines<Prefixed<B>>),
    Frames(FrameStream<Prefixed<B>>),
    Done,
}

/// The records of a watch body: its non-blank JSON lines, or its protobuf frames, told apart
/// by the first byte ([`Sniffed`]). Each record is at most the given limit.
pub struct WatchRecords<B = Incoming> {
    state: WatchState<B>,
    encoding: Arc<OnceLock<Sniffed>>,
}

impl<B> WatchRecords<B> {
    /// The records of `body`, read from `url`, each at most `max` bytes.
    pub fn new(body: B, url: impl Into<String>, max: usize) -> Self {
        Self { state: WatchState::Undecided { body, url: url.into(), max }, encoding: Arc::new(OnceLock::new()) }
    }

    /// The body's encoding, once its first byte has arrived.
    pub fn encoding(&self) -> Option<Sniffed> {
        self.encoding.get().copied()
    }
}

impl<B> Stream for WatchRecords<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let this = &mut *self;
            match &mut this.state {
                WatchState::Lines(l) => return Pin::new(l).poll_next(cx),
                WatchState::Frames(f) => return Pin::new(f).poll_next(cx),
                WatchState::Done => return Poll::Ready(None),
                WatchState::Undecided { body, url, .. } => match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(frame))) => {
                        let Ok(data) = frame.into_data() else { continue };
                        let Some(&first) = data.first() else { continue };
                        let WatchState::Undecided { body, url, max } =
                            std::mem::replace(&mut this.state, WatchState::Done)
                        else {
                            continue;
                        };
                        let encoding = Sniffed::of(first);
                        let _ = this.encoding.set(encoding);
                        let body = Prefixed { first: Some(data), body };
                        this.state = match encoding {
                            Sniffed::Json => {
                                WatchState::Lines(NonBlankLines(LineStream::new(body, url).with_max_line_bytes(max)))
                            }
                            Sniffed::Protobuf => WatchState::Frames(FrameStream::new(body, url, max)),
                        };
                    }
                    Poll::Ready(Some(Err(e))) => {
                        let err = Error::Body { url: url.clone(), message: e.to_string() };
                        this.state = WatchState::Done;
                        return Poll::Ready(Some(Err(err)));
                    }
                    Poll::Ready(None) => {
                        this.state = WatchState::Done;
                        return Poll::Ready(None);
                    }
                },
            }
        }
    }
}

/// Watch events decoded in parallel, in order. Build with [`watch_events`].
pub struct WatchEvents<T, B = Incoming> {
    inner: Option<OrderedDecode<WatchRecords<B>, WatchEvent<T>, Error>>,
}

/// Decodes a watch response body in parallel on the global pool.
pub fn watch_events<T, B>(body: B, url: impl Into<String>) -> WatchEvents<T, B>
where
    T: DeserializeOwned + Send + 'static,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    WatchEvents::with_pool(body, url, DecodePool::global().clone(), DecodeOptions::default())
}

impl<T, B> WatchEvents<T, B>
where
    T: DeserializeOwned + Send + 'static,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    /// Like [`watch_events`], on a given pool with given options.
    pub fn with_pool(body: B, url: impl Into<String>, pool: DecodePool, opts: DecodeOptions) -> Self {
        Self::with_transform(body, url, pool, opts, None)
    }

    /// Like [`WatchEvents::with_pool`], running `transform` on the object of every ADDED,
    /// MODIFIED and DELETED event on the pool thread that decoded it.
    pub fn with_transform(
        body: B,
        url: impl Into<String>,
        pool: DecodePool,
        opts: DecodeOptions,
        transform: Option<ItemTransform<T>>,
    ) -> Self {
        Self::decoded_as(body, url, pool, opts, transform_or_keep(transform))
    }
}

impl<T, B> WatchEvents<T, B>
where
    T: Send + 'static,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    /// Like [`WatchEvents::with_pool`], decoding each event's object as `K` and turning it
    /// into a `T` with `finish` on the pool thread that decoded it (for example `Arc::new`:
    /// the consumer then never moves the object itself).
    pub fn decoded_as<K, F>(body: B, url: impl Into<String>, pool: DecodePool, opts: DecodeOptions, finish: F) -> Self
    where
        K: DeserializeOwned,
        F: Fn(K) -> T + Send + Sync + 'static,
    {
        let url = url.into();
        let map_url = url.clone();
        let records = WatchRecords::new(body, url, opts.max_object_bytes);
        let encoding = records.encoding.clone();
        let json = rudder_apimachinery::json::JsonOptions { skip_managed_fields: opts.skip_managed_fields };
        let map: DecodeFn<WatchEvent<T>, Error> = Arc::new(move |_, record: Bytes| {
            let event = match encoding.get() {
                Some(Sniffed::Protobuf) => rudder_apimachinery::protobuf::from_watch_frame::<WatchEvent<K>>(&record)
                    .map_err(<serde_json::Error as serde::de::Error>::custom),
                _ => rudder_apimachinery::json::from_slice_with::<WatchEvent<K>>(&record, json),
            };
            match event {
                Ok(WatchEvent::Error(status)) => {
                    Err(Error::Api { status: Box::new(status), method: "GET".into(), url: map_url.clone() })
                }
                Ok(ev) => Ok(ev.map(&finish)),
                Err(source) => Err(Error::Decode { what: format!("watch event from {map_url}"), source }),
            }
        });
        Self { inner: Some(OrderedDecode::new(records, map, pool, opts)) }
    }
}

impl<T, B> Stream for WatchEvents<T, B>
where
    T: Send + 'static,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Item = Result<WatchEvent<T>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        match Pin::new(inner).poll_next(cx) {
            // An ERROR event or a broken body ends the stream; dropping the decoder cancels
            // whatever was decoding behind it.
            Poll::Ready(Some(Err(e))) if !matches!(e, Error::Decode { .. }) => {
                self.inner = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.inner = None;
                Poll::Ready(None)
            }
            other => other,
        }
    }
}
