//! Protobuf list and watch bodies split as they arrive, the counterparts of
//! [`super::ListSplitter`] and [`super::LineStream`] (format in
//! [`rudder_apimachinery::protobuf`]).
//!
//! Contract:
//! - [`ProtoListSplitter`] reads `k8s\0` + `runtime.Unknown` whose `raw` is a list message
//!   (`metadata` 1, `items` 2) and emits, like the JSON splitter, the list's metadata once and
//!   before any item, then each item's message bytes (zero-copy slices of the received chunks
//!   when an item lies in one chunk), in order; `kind`/`apiVersion` come from the envelope.
//!   Fields after `raw` and unknown fields are skipped. Any malformed byte, a body that ends
//!   inside a field, or an item over the limit is a [`SplitError`] and the end.
//! - [`FrameStream`] yields each frame of a protobuf watch body (a 4-byte big-endian length,
//!   then a bare `WatchEvent` message); a frame over the limit is [`Error::TooLarge`], a
//!   body ending inside a frame is [`Error::Body`]; both end the stream.
//! - [`Sniffed`] tells the formats apart by the first byte: a protobuf object starts with the
//!   `k8s\0` magic, a JSON body with `{`, `[` or whitespace, and a protobuf watch frame with
//!   its length's high byte, which is 0 for any frame under 16 MiB (a frame of 150 MB or more
//!   whose high byte reads as `{` or whitespace would be taken for JSON and fail to decode).
//! - Memory is bounded by the item or frame limit plus one chunk.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures::Stream;
use http_body::Body;
use rudder_apimachinery::meta::ListMeta;
use rudder_apimachinery::protobuf;

use super::split::{Split, SplitError};
use crate::error::{Error, Result};

/// The encoding of a body, from its first byte (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// JSON (objects, lists, watch lines).
    Json,
    /// Kubernetes' protobuf (an enveloped object or list, or watch frames).
    Protobuf,
}

impl Sniffed {
    /// The encoding of a body starting with `first`.
    pub fn of(first: u8) -> Self {
        if first == b'{' || first == b'[' || first.is_ascii_whitespace() {
            Sniffed::Json
        } else {
            Sniffed::Protobuf
        }
    }

    /// The encoding of a complete body (an empty body is JSON).
    pub fn of_body(body: &[u8]) -> Self {
        body.first().map_or(Sniffed::Json, |b| Self::of(*b))
    }
}

/// Reads a varint at the start of `b`: `None` if incomplete, the value and its length.
fn varint(b: &[u8]) -> std::result::Result<Option<(u64, usize)>, ()> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((v, i + 1)));
        }
    }
    if b.len() >= 10 {
        Err(())
    } else {
        Ok(None)
    }
}

/// A field header: number, wire type, header length, and for length-delimited fields the
/// payload length; for other wire types the whole field's length after the header.
struct Header {
    number: u64,
    header: usize,
    payload: usize,
    delimited: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Magic,
    Envelope,
    List { remaining: usize },
    Trailer,
    Done,
    Failed,
}

/// Splits a protobuf list body (see the module docs).
#[derive(Debug)]
pub struct ProtoListSplitter {
    buf: BytesMut,
    /// Bytes consumed so far (for error offsets).
    offset: u64,
    state: State,
    max: usize,
    eof: bool,
    meta_sent: bool,
    kind: Option<String>,
    api_version: Option<String>,
}

impl ProtoListSplitter {
    /// A splitter accepting items of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            offset: 0,
            state: State::Magic,
            max,
            eof: false,
            meta_sent: false,
            kind: None,
            api_version: None,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, chunk: Bytes) {
        if self.buf.is_empty() {
            // Keeps a chunk that holds whole items shared, not copied.
            self.buf = BytesMut::from(chunk);
        } else {
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Marks the end of the body.
    pub fn end_of_input(&mut self) {
        self.eof = true;
    }

    /// The list's kind (`PodList`), once the envelope is read.
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    /// The list's apiVersion, once the envelope is read.
    pub fn api_version(&self) -> Option<&str> {
        self.api_version.as_deref()
    }

    fn unexpected(&self, found: &str, expected: &'static str) -> SplitError {
        SplitError::Unexpected { offset: self.offset, found: found.into(), expected }
    }

    fn truncated(&self, inside: &'static str) -> SplitError {
        SplitError::Truncated { offset: self.offset + self.buf.len() as u64, inside }
    }

    fn consume(&mut self, n: usize) -> Bytes {
        self.offset += n as u64;
        self.buf.split_to(n).freeze()
    }

    /// The next field header in the buffer, `None` when more bytes are needed.
    fn header(&self) -> std::result::Result<Option<Header>, SplitError> {
        let bad = || self.unexpected("a malformed varint", "a protobuf field");
        let Some((tag, n)) = varint(&self.buf).map_err(|_| bad())? else { return Ok(None) };
        let number = tag >> 3;
        if number == 0 {
            return Err(self.unexpected("field number 0", "a protobuf field"));
        }
        let rest = &self.buf[n..];
        let (payload, extra, delimited) = match tag & 7 {
            0 => match varint(rest).map_err(|_| bad())? {
                Some((_, len)) => (len, 0, false),
                None => return Ok(None),
            },
            1 => (8, 0, false),
            5 => (4, 0, false),
            2 => match varint(rest).map_err(|_| bad())? {
                Some((len, l)) => {
                    let len = usize::try_from(len).map_err(|_| self.unexpected("a huge length", "a field length"))?;
                    (len, l, true)
                }
                None => return Ok(None),
            },
            _ => return Err(self.unexpected("a group or an unknown wire type", "a protobuf field")),
        };
        Ok(Some(Header { number, header: n + extra, payload, delimited }))
    }

    /// The next metadata or item, `None` when more bytes are needed or the list is done (after
    /// an error, always `None`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> std::result::Result<Option<Split>, SplitError> {
        let out = self.step();
        if out.is_err() {
            self.state = State::Failed;
        }
        out
    }

    fn step(&mut self) -> std::result::Result<Option<Split>, SplitError> {
        loop {
            match self.state {
                State::Done | State::Failed => return Ok(None),
                State::Magic => {
                    if self.buf.len() < 4 {
                        return if self.eof { Err(self.truncated("the k8s\\0 magic")) } else { Ok(None) };
                    }
                    if self.buf[..4] != protobuf::MAGIC {
                        return Err(self.unexpected("bytes other than k8s\\0", "the protobuf magic"));
                    }
                    self.consume(4);
                    self.state = State::Envelope;
                }
                State::Envelope | State::Trailer => {
                    if self.buf.is_empty() && self.eof {
                        if self.state == State::Envelope {
                            return Err(self.truncated("the envelope (no raw list)"));
                        }
                        self.state = State::Done;
                        return Ok(self.meta_if_unsent());
                    }
                    let Some(h) = self.header()? else {
                        return if self.eof { Err(self.truncated("an envelope field")) } else { Ok(None) };
                    };
                    if self.state == State::Envelope && h.number == 2 && h.delimited {
                        self.consume(h.header);
                        self.state = State::List { remaining: h.payload };
                        continue;
                    }
                    if h.payload > self.max {
                        return Err(SplitError::TooLarge { offset: self.offset, limit: self.max });
                    }
                    if self.buf.len() < h.header + h.payload {
                        return if self.eof { Err(self.truncated("an envelope field")) } else { Ok(None) };
                    }
                    self.consume(h.header);
                    let payload = self.consume(h.payload);
                    if self.state == State::Envelope && h.number == 1 && h.delimited {
                        self.type_meta(&payload)?;
                    }
                }
                State::List { remaining: 0 } => {
                    self.state = State::Trailer;
                    if let Some(meta) = self.meta_if_unsent() {
                        return Ok(Some(meta));
                    }
                }
                State::List { remaining } => {
                    let Some(h) = self.header()? else {
                        return if self.eof { Err(self.truncated("a list field")) } else { Ok(None) };
                    };
                    let whole = h.header + h.payload;
                    if whole > remaining {
                        return Err(self.unexpected("a field longer than its list", "a list field"));
                    }
                    if h.payload > self.max {
                        return Err(SplitError::TooLarge { offset: self.offset, limit: self.max });
                    }
                    if h.number == 2 && h.delimited && !self.meta_sent {
                        // Go writes metadata first; emit an empty one if it did not.
                        return Ok(self.meta_if_unsent());
                    }
                    if self.buf.len() < whole {
                        return if self.eof { Err(self.truncated("a list item")) } else { Ok(None) };
                    }
                    self.consume(h.header);
                    let payload = self.consume(h.payload);
                    self.state = State::List { remaining: remaining - whole };
                    match (h.number, h.delimited) {
                        (1, true) if !self.meta_sent => {
                            let meta: ListMeta = protobuf::from_message(&payload, "v1", "ListMeta").map_err(|e| {
                                SplitError::Envelope {
                                    field: "metadata",
                                    offset: self.offset,
                                    source: <serde_json::Error as serde::de::Error>::custom(e),
                                }
                            })?;
                            self.meta_sent = true;
                            return Ok(Some(Split::Meta(meta)));
                        }
                        (1, true) => return Err(SplitError::Duplicate { field: "metadata", offset: self.offset }),
                        (2, true) => return Ok(Some(Split::Item(payload))),
                        _ => {}
                    }
                }
            }
        }
    }

    fn meta_if_unsent(&mut self) -> Option<Split> {
        (!self.meta_sent).then(|| {
            self.meta_sent = true;
            Split::Meta(ListMeta::default())
        })
    }

    /// Reads `runtime.TypeMeta` (apiVersion 1, kind 2).
    fn type_meta(&mut self, mut b: &[u8]) -> std::result::Result<(), SplitError> {
        let bad = |s: &Self| s.unexpected("a malformed typeMeta", "apiVersion and kind");
        while !b.is_empty() {
            let Ok(Some((tag, n))) = varint(b) else { return Err(bad(self)) };
            b = &b[n..];
            if tag & 7 != 2 {
                return Err(bad(self));
            }
            let Ok(Some((len, n))) = varint(b) else { return Err(bad(self)) };
            let len = usize::try_from(len).map_err(|_| bad(self))?;
            let Some(value) = b.get(n..n + len) else { return Err(bad(self)) };
            let text = std::str::from_utf8(value).map_err(|_| bad(self))?.to_string();
            match tag >> 3 {
                1 => self.api_version = Some(text),
                2 => self.kind = Some(text),
                _ => {}
            }
            b = &b[n + len..];
        }
        Ok(())
    }
}

/// The frames of a protobuf watch body (see the module docs).
pub struct FrameStream<B> {
    body: B,
    url: String,
    buf: BytesMut,
    decoder: protobuf::FrameDecoder,
    done: bool,
}

impl<B> FrameStream<B> {
    /// Frames of `body` (read from `url`), each at most `max` bytes.
    pub fn new(body: B, url: impl Into<String>, max: usize) -> Self {
        Self { body, url: url.into(), buf: BytesMut::new(), decoder: protobuf::FrameDecoder::new(max), done: false }
    }
}

impl<B> Stream for FrameStream<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.decoder.decode(&mut this.buf) {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(None) => {}
                Err(protobuf::Error::FrameTooLarge { max, .. }) => {
                    this.done = true;
                    let url = this.url.clone();
                    return Poll::Ready(Some(Err(Error::TooLarge {
                        url,
                        what: "watch event",
                        limit: max,
                        setting: "Config.max_object_bytes",
                    })));
                }
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(Error::Body { url: this.url.clone(), message: e.to_string() })));
                }
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(f))) => {
                    if let Ok(data) = f.into_data() {
                        if this.buf.is_empty() {
                            this.buf = BytesMut::from(data);
                        } else {
                            this.buf.extend_from_slice(data.chunk());
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(Error::Body { url: this.url.clone(), message: e.to_string() })));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    if !this.buf.is_empty() {
                        let message = format!("the watch body ended inside a frame ({} bytes left)", this.buf.len());
                        return Poll::Ready(Some(Err(Error::Body { url: this.url.clone(), message })));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list_bytes(n: usize) -> Vec<u8> {
        let items: Vec<_> = (0..n)
            .map(|i| json!({"metadata": {"name": format!("cm{i}"), "namespace": "default"}, "data": {"k": "v"}}))
            .collect();
        let list = json!({"apiVersion": "v1", "kind": "ConfigMapList",
            "metadata": {"resourceVersion": "42", "continue": "next"}, "items": items});
        protobuf::to_vec(&list).unwrap()
    }

    fn split_all(bytes: &[u8], chunk: usize) -> std::result::Result<Vec<Split>, SplitError> {
        let mut s = ProtoListSplitter::new(1 << 20);
        let mut out = Vec::new();
        for c in bytes.chunks(chunk) {
            s.push(Bytes::copy_from_slice(c));
            while let Some(x) = s.next()? {
                out.push(x);
            }
        }
        s.end_of_input();
        while let Some(x) = s.next()? {
            out.push(x);
        }
        assert_eq!((s.kind(), s.api_version()), (Some("ConfigMapList"), Some("v1")));
        Ok(out)
    }

    #[test]
    fn lists_split_the_same_in_any_chunking() {
        let bytes = list_bytes(5);
        for chunk in [1, 3, 7, 64, bytes.len()] {
            let got = split_all(&bytes, chunk).unwrap();
            assert_eq!(got.len(), 6, "chunk {chunk}");
            let Split::Meta(m) = &got[0] else { panic!("metadata first") };
            assert_eq!((m.resource_version.as_deref(), m.continue_.as_deref()), (Some("42"), Some("next")));
            let Split::Item(item) = &got[3] else { panic!("an item") };
            let cm: serde_json::Value = protobuf::from_message(item, "v1", "ConfigMap").unwrap();
            assert_eq!(cm["metadata"]["name"], "cm2");
        }
        // An empty list still has its metadata.
        let got = split_all(&list_bytes(0), 2).unwrap();
        assert!(matches!(&got[..], [Split::Meta(_)]));
    }

    #[test]
    fn broken_lists_are_errors() {
        let bytes = list_bytes(3);
        assert!(split_all(&bytes[..bytes.len() - 5], 4).is_err());
        let mut s = ProtoListSplitter::new(1 << 20);
        s.push(Bytes::from_static(b"{\"kind\":1}"));
        assert!(matches!(s.next(), Err(SplitError::Unexpected { .. })));
        let mut small = ProtoListSplitter::new(10);
        small.push(Bytes::from(bytes));
        let mut saw = None;
        for _ in 0..4 {
            if let Err(e) = small.next() {
                saw = Some(e);
                break;
            }
        }
        assert!(matches!(saw, Some(SplitError::TooLarge { limit: 10, .. })), "{saw:?}");
    }

    #[test]
    fn sniffing_tells_json_from_protobuf() {
        assert_eq!(Sniffed::of_body(b"{\"a\":1}"), Sniffed::Json);
        assert_eq!(Sniffed::of_body(b"\n{}"), Sniffed::Json);
        assert_eq!(Sniffed::of_body(b""), Sniffed::Json);
        assert_eq!(Sniffed::of_body(&protobuf::MAGIC), Sniffed::Protobuf);
        assert_eq!(Sniffed::of_body(&[0, 0, 1, 0]), Sniffed::Protobuf);
    }
}
