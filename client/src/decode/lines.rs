//! Newline-delimited bodies split into lines as they arrive: what watch events
//! ([`super::WatchEvents`]) and followed logs are read from.
//!
//! Contract:
//! - Bytes are split on `\n` as they arrive; an event split across chunks is reassembled, many
//!   events in one chunk are all yielded, and a line wholly inside one chunk is decoded in place
//!   without copying.
//! - Memory is bounded by the line limit (plus one chunk), never by the stream length: a line
//!   longer than [`LineStream::with_max_line_bytes`] (default
//!   [`crate::config::DEFAULT_MAX_OBJECT_BYTES`]; the client passes `Config.max_object_bytes`)
//!   is an [`Error::TooLarge`] item, after the lines before it, and ends the stream. The check is
//!   one comparison per line and per chunk.
//! - A clean end of the body ends the stream; a trailing partial line is handed out as a line.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures::Stream;
use http_body::Body;
use hyper::body::Incoming;

use crate::error::{Error, Result};

/// Splits a byte body into complete lines (without the `\n`).
pub struct LineStream<B = Incoming> {
    body: B,
    url: String,
    partial: BytesMut,
    ready: VecDeque<Bytes>,
    max_line: usize,
    /// A line passed `max_line`: reported after the lines before it.
    too_large: bool,
    done: bool,
}

impl<B> LineStream<B> {
    /// Wraps a body.
    pub fn new(body: B, url: impl Into<String>) -> Self {
        Self {
            body,
            url: url.into(),
            partial: BytesMut::new(),
            ready: VecDeque::new(),
            max_line: crate::config::DEFAULT_MAX_OBJECT_BYTES,
            too_large: false,
            done: false,
        }
    }

    /// Sets the longest line accepted, in bytes (without its `\n`).
    pub fn with_max_line_bytes(mut self, limit: usize) -> Self {
        self.max_line = limit;
        self
    }

    /// The URL being read (for error messages).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn split(&mut self, mut chunk: Bytes) {
        while let Some(pos) = memchr::memchr(b'\n', &chunk) {
            let line = chunk.split_to(pos);
            chunk.advance(1);
            if self.partial.len() + line.len() > self.max_line {
                return self.fail_too_large();
            }
            if self.partial.is_empty() {
                if !line.is_empty() {
                    self.ready.push_back(line);
                }
            } else {
                self.partial.extend_from_slice(&line);
                let whole = self.partial.split().freeze();
                self.ready.push_back(whole);
            }
        }
        if !chunk.is_empty() {
            if self.partial.len() + chunk.len() > self.max_line {
                return self.fail_too_large();
            }
            self.partial.extend_from_slice(&chunk);
        }
    }

    /// Stops reading: the lines already split are handed out, then the error.
    fn fail_too_large(&mut self) {
        self.partial = BytesMut::new();
        self.too_large = true;
        self.done = true;
    }

    fn too_large_error(&self) -> Error {
        Error::TooLarge {
            url: self.url.clone(),
            what: "line (watch event or log line)",
            limit: self.max_line,
            setting: "Config.max_object_bytes",
        }
    }
}

impl<B> Stream for LineStream<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(l) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(l)));
            }
            if self.too_large {
                self.too_large = false;
                return Poll::Ready(Some(Err(self.too_large_error())));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.split(data);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    let url = self.url.clone();
                    return Poll::Ready(Some(Err(Error::Body { url, message: e.to_string() })));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    if !self.partial.iter().all(|b| b.is_ascii_whitespace()) {
                        let rest = self.partial.split().freeze();
                        self.ready.push_back(rest);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodeOptions, DecodePool, WatchEvents};
    use futures::StreamExt;
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use k8s_openapi::api::core::v1::ConfigMap;
    use rudder_apimachinery::watch::WatchEvent;

    type TestBody =
        StreamBody<futures::stream::Iter<std::vec::IntoIter<std::result::Result<Frame<Bytes>, std::io::Error>>>>;

    fn body(chunks: Vec<Vec<u8>>) -> TestBody {
        let frames: Vec<std::result::Result<Frame<Bytes>, std::io::Error>> =
            chunks.into_iter().map(|c| Ok(Frame::data(Bytes::from(c)))).collect();
        StreamBody::new(futures::stream::iter(frames))
    }

    fn event(name: &str, pad: usize) -> Vec<u8> {
        let data = "x".repeat(pad);
        format!(r#"{{"type":"ADDED","object":{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"k":"{data}"}}}}}}"#)
            .into_bytes()
    }

    /// Watch events decoded on the polling task (a pool of no threads), with a line limit.
    fn events(b: TestBody, limit: usize) -> WatchEvents<ConfigMap, TestBody> {
        let opts = DecodeOptions { max_object_bytes: limit, ..DecodeOptions::default() };
        WatchEvents::decoded_as(b, "/w", DecodePool::new(0), opts, |cm: ConfigMap| cm)
    }

    async fn names(chunks: Vec<Vec<u8>>) -> Vec<String> {
        let s = events(body(chunks), 64 << 20);
        s.map(|e| match e.unwrap() {
            WatchEvent::Added(cm) => cm.metadata.name.unwrap(),
            other => panic!("{other:?}"),
        })
        .collect()
        .await
    }

    #[tokio::test]
    async fn events_split_across_chunks_and_many_per_chunk() {
        let mut all = Vec::new();
        for i in 0..50 {
            all.extend(event(&format!("cm{i}"), i * 7));
            all.push(b'\n');
        }
        let want: Vec<String> = (0..50).map(|i| format!("cm{i}")).collect();
        for size in [1usize, 3, 17, 100, 4096, all.len()] {
            let chunks: Vec<Vec<u8>> = all.chunks(size).map(|c| c.to_vec()).collect();
            assert_eq!(names(chunks).await, want, "chunk size {size}");
        }
    }

    #[tokio::test]
    async fn large_objects_and_missing_final_newline() {
        let mut a = event("big", 5 << 20);
        a.push(b'\n');
        a.extend(event("last", 1));
        let chunks: Vec<Vec<u8>> = a.chunks(65536).map(|c| c.to_vec()).collect();
        assert_eq!(names(chunks).await, ["big", "last"]);
    }

    #[tokio::test]
    async fn error_event_is_an_error_item_and_ends_the_stream() {
        let e = br#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 45 (58)","reason":"Expired","code":410}}"#;
        let mut all = e.to_vec();
        all.push(b'\n');
        all.extend(event("after", 1));
        let items: Vec<_> = events(body(vec![all]), 64 << 20).collect().await;
        assert_eq!(items.len(), 1);
        assert!(items[0].as_ref().unwrap_err().is_expired());
    }

    #[tokio::test]
    async fn malformed_line_is_a_decode_error_and_the_stream_goes_on() {
        let mut all = b"{not json}\n".to_vec();
        all.extend(event("ok", 1));
        let items: Vec<_> = events(body(vec![all]), 64 << 20).collect().await;
        assert!(matches!(items[0], Err(Error::Decode { .. })));
        assert!(items[1].is_ok());
    }

    #[tokio::test]
    async fn a_line_over_the_limit_ends_the_stream_after_the_lines_before_it() {
        let mut ok = event("ok", 1);
        ok.push(b'\n');
        let limit = 200;
        // The long line arrives whole inside one chunk, and spread over many chunks.
        for chunks in [vec![ok.clone(), vec![b'x'; 300]], {
            let mut c = vec![ok.clone()];
            c.extend(std::iter::repeat_n(vec![b'x'; 50], 10));
            c
        }] {
            let mut all = chunks;
            all.push(b"\n".to_vec());
            all.push(ok.clone());
            let items: Vec<_> = events(body(all), limit).collect().await;
            assert_eq!(items.len(), 2, "{items:?}");
            assert!(items[0].is_ok());
            assert!(matches!(&items[1], Err(Error::TooLarge { limit: 200, .. })), "{:?}", items[1]);
        }
        // A line of exactly the limit passes.
        let exact = event("exact", 0);
        let items: Vec<_> = events(body(vec![exact.clone()]), exact.len()).collect().await;
        assert!(items[0].is_ok(), "{items:?}");
    }
}
