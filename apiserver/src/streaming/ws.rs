//! The server's half of the WebSocket handshake and the channel framing of the kubelet's
//! `*.channel.k8s.io` protocols: every binary message starts with its channel number.
//!
//! Contract: the handshake answer is RFC 6455's (`Sec-WebSocket-Accept`, the one negotiated
//! subprotocol); framing is tokio-tungstenite's, with frames and messages bounded by
//! [`super::MAX_MESSAGE`]; a session's writes go through one bounded queue ([`Out`]), so a
//! slow client slows the writers (back-pressure) rather than buffering without bound.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::PollSender;

use crate::server::Body;

/// An upgraded WebSocket connection.
pub(crate) type Conn = WebSocketStream<TokioIo<Upgraded>>;

/// Messages queued for the client at most (each at most one read's worth of output).
const OUT_QUEUE: usize = 16;

/// The subprotocols a request offers, in its order.
pub(crate) fn offered_protocols(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The `Sec-WebSocket-Key` of a valid version-13 WebSocket handshake, or `None`.
pub(crate) fn handshake_key(headers: &http::HeaderMap) -> Option<String> {
    let upgrade = headers.get(http::header::UPGRADE)?.to_str().ok()?;
    if !upgrade.split(',').any(|u| u.trim().eq_ignore_ascii_case("websocket")) {
        return None;
    }
    if headers.get(http::header::SEC_WEBSOCKET_VERSION)?.to_str().ok()?.trim() != "13" {
        return None;
    }
    let key = headers.get(http::header::SEC_WEBSOCKET_KEY)?.to_str().ok()?.trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// The first offered protocol the server supports (wsstream's rule: the client's order wins;
/// an empty offer means `""`).
pub(crate) fn negotiate(offered: &[String], supported: &[&'static str]) -> Option<&'static str> {
    if offered.is_empty() {
        return supported.iter().find(|s| s.is_empty()).copied();
    }
    offered.iter().find_map(|o| supported.iter().find(|s| **s == o.as_str()).copied())
}

/// The 101 answer.
pub(crate) fn switching_protocols(key: &str, protocol: &str) -> Response<Body> {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut b = Response::builder()
        .status(http::StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::SEC_WEBSOCKET_ACCEPT, accept);
    if !protocol.is_empty() {
        b = b.header(http::header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    b.body(Body::Full(None)).unwrap_or_else(|_| Response::new(Body::Full(None)))
}

/// The server side of the upgraded connection, with bounded frames and messages.
pub(crate) async fn accept(io: TokioIo<Upgraded>) -> Conn {
    let config =
        WebSocketConfig::default().max_message_size(Some(super::MAX_MESSAGE)).max_frame_size(Some(super::MAX_MESSAGE));
    WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await
}

/// The sending half of a session: a bounded queue drained by one writer task.
#[derive(Clone)]
pub(crate) struct Out {
    tx: mpsc::Sender<Message>,
}

/// The receiving half of a session.
pub(crate) type In = futures::stream::SplitStream<Conn>;

/// Splits `conn`: the writer task sends what [`Out`] queues, then a Close frame (1000) once
/// every `Out` is dropped (or stops early when the client is gone).
pub(crate) fn split(conn: Conn) -> (Out, In) {
    let (mut sink, stream) = conn.split();
    let (tx, mut rx) = mpsc::channel::<Message>(OUT_QUEUE);
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        // A bare Close (1005) is an error to gorilla/websocket (kubectl): say 1000.
        let normal = CloseFrame { code: CloseCode::Normal, reason: Default::default() };
        let _ = sink.send(Message::Close(Some(normal))).await;
        let _ = sink.close().await;
    });
    (Out { tx }, stream)
}

impl Out {
    /// Queues one message on channel `ch`; false when the client is gone.
    pub(crate) async fn send(&self, ch: u8, data: &[u8]) -> bool {
        self.tx.send(Message::Binary(frame(ch, data))).await.is_ok()
    }

    /// Queues a raw binary message (the SPDY tunnel); false when the client is gone.
    pub(crate) async fn send_raw(&self, data: Bytes) -> bool {
        self.tx.send(Message::Binary(data)).await.is_ok()
    }

    /// An `AsyncWrite` whose every write is one message on channel `ch`.
    pub(crate) fn writer(&self, ch: u8) -> ChannelWriter {
        ChannelWriter { ch, tx: PollSender::new(self.tx.clone()) }
    }
}

/// `[ch] ++ data`.
pub(crate) fn frame(ch: u8, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(data.len() + 1);
    b.put_u8(ch);
    b.put_slice(data);
    b.freeze()
}

/// Writes to one channel (see [`Out::writer`]); a write after the client left fails with
/// `BrokenPipe`.
pub(crate) struct ChannelWriter {
    ch: u8,
    tx: PollSender<Message>,
}

/// The most one message carries from a writer (larger writes are split).
const MAX_WRITE: usize = 32 * 1024;

impl AsyncWrite for ChannelWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match this.tx.poll_reserve(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            Poll::Ready(Ok(())) => {
                let n = buf.len().min(MAX_WRITE);
                match this.tx.send_item(Message::Binary(frame(this.ch, &buf[..n]))) {
                    Ok(()) => Poll::Ready(Ok(n)),
                    Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                }
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().tx.close();
        Poll::Ready(Ok(()))
    }
}

/// The next binary message from the client (text messages are ignored, pings answered by
/// tungstenite), or `None` when the connection closed or failed.
pub(crate) async fn next_binary(input: &mut In) -> Option<Bytes> {
    loop {
        match input.next().await? {
            Ok(Message::Binary(b)) => return Some(b),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}
