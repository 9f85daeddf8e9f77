//! `pods/portforward` sessions: the pod's ports reach the addresses tests register with
//! [`Control::forward_port`].
//!
//! Contract:
//! - `v4.channel.k8s.io` (and the older `portforward.k8s.io`), the kubelet's WebSocket
//!   protocol: ports come from the `ports` query parameter (repeated or comma-separated; 400
//!   `query parameter "port" is required` without one); port *i* has data channel `2i` and
//!   error channel `2i+1`; the first message the server sends on each is the port number (2
//!   bytes, little endian). One TCP connection per port for the life of the WebSocket; when
//!   every target connection has closed (or failed), the WebSocket is closed.
//! - `SPDY/3.1+portforward.k8s.io` (kubectl 1.31+): the SPDY session of [`super::spdy`] carried
//!   in binary WebSocket messages; each (error, data) stream pair with the same `requestID` is
//!   one connection to the `port` header's port.
//! - A port with no registered address is refused: the message goes on that port's error
//!   channel (stream), shaped as the kubelet's (`error forwarding port P to pod UID, uid : ...
//!   connection refused`). Connecting is bounded by [`CONNECT_TIMEOUT`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::state::Streams;
use super::ws::{self, Conn};
use super::{Query, Target};
use crate::control::Control;
use crate::errors::ApiError;

/// The subprotocols port-forward accepts, in the server's order.
pub(crate) const PROTOCOLS: &[&str] = &[V4, "portforward.k8s.io"];
pub(crate) const SPDY_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
const V4: &str = "v4.channel.k8s.io";

/// How long connecting to a registered target may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The ports of a `ports` query (repeated or comma-separated); may be empty (SPDY names them
/// per stream).
pub(crate) fn ports_from_query(q: &Query) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for v in q.all("ports").iter().chain(q.all("port").iter()) {
        for p in v.split(',') {
            match p.trim().parse::<u16>() {
                Ok(0) => return Err(ApiError::bad_request(format!("port {p:?} must be > 0"))),
                Ok(n) => ports.push(n),
                Err(e) => return Err(ApiError::bad_request(format!("unable to parse {p:?} as a port: {e}"))),
            }
        }
    }
    Ok(ports)
}

/// Opens a connection to the target registered for `port` of the pod, or says why not in the
/// kubelet's words.
pub(crate) async fn connect(streams: &Streams, target: &Target, port: u16) -> Result<TcpStream, String> {
    let addr = streams.ports.lock().get(&(target.namespace.clone(), target.pod.clone(), port)).copied();
    let refused = |why: &str| {
        format!(
            "error forwarding port {port} to pod {}, uid : failed to execute portforward in network namespace \"{}/{}\": failed to connect to localhost:{port} inside namespace \"{}/{}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: {why}",
            target.uid, target.namespace, target.pod, target.namespace, target.pod
        )
    };
    let Some(addr) = addr else { return Err(refused("connection refused")) };
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(refused("connection refused")),
        Ok(Err(e)) => Err(refused(&e.to_string())),
        Err(_) => Err(refused("i/o timeout")),
    }
}

/// Runs one session to its end (see the module docs).
pub(crate) async fn run(conn: Conn, protocol: &'static str, ports: Vec<u16>, target: Target, streams: Arc<Streams>) {
    if protocol == SPDY_TUNNEL {
        return super::spdy::serve_portforward(conn, target, streams).await;
    }
    let (out, mut input) = ws::split(conn);
    if ports.is_empty() {
        // The kubelet refuses the request; after the upgrade all that is left is the error.
        return;
    }
    let mut to_target: Vec<Option<mpsc::Sender<bytes::Bytes>>> = Vec::new();
    let mut copies = Vec::new();
    for (i, port) in ports.iter().copied().enumerate() {
        let (data_ch, err_ch) = ((2 * i) as u8, (2 * i + 1) as u8);
        let prefix = port.to_le_bytes();
        if !out.send(data_ch, &prefix).await || !out.send(err_ch, &prefix).await {
            return;
        }
        match connect(&streams, &target, port).await {
            Ok(tcp) => {
                let (mut rd, mut wr) = tcp.into_split();
                let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(16);
                to_target.push(Some(tx));
                tokio::spawn(async move {
                    while let Some(b) = rx.recv().await {
                        if wr.write_all(&b).await.is_err() {
                            return;
                        }
                    }
                    let _ = wr.shutdown().await;
                });
                let out = out.clone();
                copies.push(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match rd.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if !out.send(data_ch, &buf[..n]).await {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
            Err(msg) => {
                to_target.push(None);
                out.send(err_ch, msg.as_bytes()).await;
            }
        }
    }
    drop(out);
    let read = async {
        while let Some(msg) = ws::next_binary(&mut input).await {
            let Some((&ch, data)) = msg.split_first() else { continue };
            if ch % 2 != 0 || data.is_empty() {
                continue;
            }
            if let Some(Some(tx)) = to_target.get((ch / 2) as usize) {
                let _ = tx.send(bytes::Bytes::copy_from_slice(data)).await;
            }
        }
    };
    tokio::select! {
        _ = join_all(copies) => {}
        _ = read => {}
    }
}

impl Control {
    /// Connects `port` of `namespace/pod` to `to` (e.g. a local TCP echo server standing in for
    /// the container): every port-forwarded connection to that port opens a connection there.
    pub fn forward_port(&self, namespace: &str, pod: &str, port: u16, to: SocketAddr) {
        super::state::of(&self.shared).ports.lock().insert((namespace.to_string(), pod.to_string(), port), to);
    }
}
