//! Opening a WebSocket to a pod subresource over the client's transport, and the channel
//! framing (`[channel] ++ data` binary messages) both exec and port-forward use.

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::error::{Error, Result};
use crate::Client;

/// A connected WebSocket.
pub(crate) type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The largest message (and frame) read from the server: 16 MiB, far above the 32 KiB chunks
/// the kubelet sends.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Opens a WebSocket to `path_and_query` (relative to the server URL) offering `protocols` in
/// order; returns it with the protocol the server chose (one of them, else an error).
pub(crate) async fn connect(client: &Client, path_and_query: &str, protocols: &[&str]) -> Result<(Socket, String)> {
    let uri = absolute(client, path_and_query)?;
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let req = http::Request::builder()
        .method(http::Method::GET)
        .uri(uri.clone())
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .header(http::header::SEC_WEBSOCKET_KEY, &key)
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, protocols.join(","))
        .body(())
        .map_err(|e| Error::InvalidRequest(format!("bad upgrade request: {e}")))?;
    // The client's own transport: the same credentials (a cached exec-plugin token included),
    // TLS and proxy settings as every other request.
    let (head, upgraded) = client.transport().upgrade(req).await?;
    let url = uri.path().to_string();
    let protocol_error = |message: String| Error::Body { url: url.clone(), message };
    let expected = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let accept = head.headers.get(http::header::SEC_WEBSOCKET_ACCEPT).and_then(|v| v.to_str().ok());
    if accept != Some(expected.as_str()) {
        return Err(protocol_error("the server's Sec-WebSocket-Accept does not answer our key".into()));
    }
    let chosen = head
        .headers
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_string();
    if !protocols.contains(&chosen.as_str()) {
        return Err(protocol_error(format!(
            "the server chose the subprotocol {chosen:?}, not one of the offered {protocols:?}"
        )));
    }
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config)).await;
    Ok((socket, chosen))
}

/// `path_and_query` under the client's server URL (which may carry a path prefix).
fn absolute(client: &Client, path_and_query: &str) -> Result<http::Uri> {
    let base = &client.config().cluster_url;
    let full = format!("{}{path_and_query}", base.path().trim_end_matches('/'));
    let mut parts = base.clone().into_parts();
    parts.path_and_query =
        Some(full.parse().map_err(|e| Error::InvalidRequest(format!("bad request path {full:?}: {e}")))?);
    http::Uri::from_parts(parts).map_err(|e| Error::InvalidRequest(format!("bad URL for {path_and_query:?}: {e}")))
}

/// `[ch] ++ data`.
pub(crate) fn frame(ch: u8, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(data.len() + 1);
    b.put_u8(ch);
    b.put_slice(data);
    b.freeze()
}

/// `path` with `query` appended.
pub(crate) fn with_query(path: &str, query: &[(&str, String)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        q.append_pair(k, v);
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}
