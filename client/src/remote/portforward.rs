//! `Api<Pod>::portforward`: TCP streams to a pod's ports, and [`listen`], which forwards every
//! connection accepted on a local port (what `kubectl port-forward` does).
//!
//! Contract:
//! - One WebSocket (`v4.channel.k8s.io`, the kubelet's port-forward protocol, which the API
//!   server proxies) per call, carrying one connection per requested port: port *i* has data
//!   channel `2i` and error channel `2i+1`; the first 2 bytes the server sends on each are the
//!   port number (little endian) and are checked, not delivered. A port may be named once.
//! - Each [`PortStream`] is `AsyncRead + AsyncWrite`. Data is buffered up to
//!   [`STREAM_BUFFER`] per direction (back-pressure beyond). A message on a port's error
//!   channel (e.g. the pod refused the connection) ends that stream: reads then fail with the
//!   server's message (`ConnectionRefused` when it says so) instead of returning EOF.
//! - Shutting a stream down stops sending (the protocol has no half-close: the pod's side
//!   sees the end only when the whole forward ends). Dropping the [`PortForward`] closes the
//!   WebSocket and so every stream; a forward whose streams are all dropped stays open until
//!   then.
//! - [`listen`] opens one forward per accepted connection, copies both ways until either
//!   side ends, and hands each failure (connecting, the error channel) to
//!   [`Forwarder::next_error`]; dropping the [`Forwarder`] stops accepting and ends every
//!   forwarded connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::PollSender;

use super::socket::{self, frame, Socket};
use crate::api::Api;
use crate::error::{Error, Result};

/// Bytes buffered per stream and direction: 64 KiB.
pub const STREAM_BUFFER: usize = 64 * 1024;

/// The subprotocols offered.
const PROTOCOLS: &[&str] = &[rudder_apimachinery::remotecommand::V4_CHANNEL];

/// The most one message to the pod carries.
const MAX_SEND: usize = 32 * 1024;

/// Open connections to a pod's ports (see the module docs).
pub struct PortForward {
    streams: Vec<(u16, Option<PortStream>)>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl std::fmt::Debug for PortForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortForward").field("ports", &self.streams.iter().map(|s| s.0).collect::<Vec<_>>()).finish()
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PortForward {
    /// Takes the stream to `port` (`None` if it was not requested or is taken).
    pub fn take_stream(&mut self, port: u16) -> Option<PortStream> {
        self.streams.iter_mut().find(|(p, _)| *p == port).and_then(|(_, s)| s.take())
    }

    /// Waits until the server closes the forward (every pod-side connection ended); an error
    /// if the WebSocket failed.
    pub async fn join(mut self) -> Result<()> {
        self.streams.clear();
        match (&mut self.task).await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }
}

/// One forwarded connection (see the module docs).
pub struct PortStream {
    incoming: DuplexStream,
    outgoing: PollSender<Bytes>,
    error: Arc<Mutex<Option<String>>>,
}

impl AsyncRead for PortStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.incoming).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before => match this.error.lock().clone() {
                Some(msg) => {
                    let kind = if msg.contains("connection refused") {
                        io::ErrorKind::ConnectionRefused
                    } else {
                        io::ErrorKind::Other
                    };
                    Poll::Ready(Err(io::Error::new(kind, msg)))
                }
                None => Poll::Ready(Ok(())),
            },
            other => other,
        }
    }
}

impl AsyncWrite for PortStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match this.outgoing.poll_reserve(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            Poll::Ready(Ok(())) => {
                let n = buf.len().min(MAX_SEND);
                match this.outgoing.send_item(Bytes::copy_from_slice(&buf[..n])) {
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
        self.get_mut().outgoing.close();
        Poll::Ready(Ok(()))
    }
}

impl Api<Pod> {
    /// Opens connections to `ports` of the pod `name` (see [`crate::remote::portforward`]).
    ///
    /// ```no_run
    /// # async fn f(pods: rudder_client::api::Api<k8s_openapi::api::core::v1::Pod>) -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// let mut pf = pods.portforward("web-0", &[80]).await?;
    /// let mut conn = pf.take_stream(80).unwrap();
    /// conn.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
    /// let mut page = Vec::new();
    /// conn.read_to_end(&mut page).await?;
    /// # Ok(()) }
    /// ```
    pub async fn portforward(&self, name: &str, ports: &[u16]) -> Result<PortForward> {
        if ports.is_empty() {
            return Err(Error::InvalidRequest("port-forward needs at least one port".into()));
        }
        if ports.len() > 127 {
            return Err(Error::InvalidRequest("port-forward carries at most 127 ports at once".into()));
        }
        for (i, p) in ports.iter().enumerate() {
            if *p == 0 || ports[..i].contains(p) {
                return Err(Error::InvalidRequest(format!("port {p} is zero or named twice")));
            }
        }
        let req = self.request_builder().get_subresource("portforward", name)?;
        let path = req.uri().path().to_string();
        let list = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        let (socket, _) =
            socket::connect(self.client(), &socket::with_query(&path, &[("ports", list)]), PROTOCOLS).await?;
        Ok(spawn(socket, ports, path))
    }
}

/// The session's side of one port.
struct Port {
    number: u16,
    /// Delivers data from the pod (dropped at EOF or error).
    incoming: Option<DuplexStream>,
    error: Arc<Mutex<Option<String>>>,
    /// Port-number bytes still expected at the start of the data and error channels.
    prefix: [usize; 2],
}

fn spawn(socket: Socket, ports: &[u16], url: String) -> PortForward {
    let (out_tx, out_rx) = mpsc::channel::<(u8, Bytes)>(16);
    let mut streams = Vec::new();
    let mut sides = Vec::new();
    for (i, &number) in ports.iter().enumerate() {
        let (ours, theirs) = tokio::io::duplex(STREAM_BUFFER);
        let error = Arc::new(Mutex::new(None));
        let (tx, mut rx) = mpsc::channel::<Bytes>(4);
        let out = out_tx.clone();
        let ch = (2 * i) as u8;
        // Tags this stream's writes with its data channel.
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if out.send((ch, b)).await.is_err() {
                    return;
                }
            }
        });
        streams
            .push((number, Some(PortStream { incoming: theirs, outgoing: PollSender::new(tx), error: error.clone() })));
        sides.push(Port { number, incoming: Some(ours), error, prefix: [2, 2] });
    }
    drop(out_tx);
    let task = tokio::spawn(run(socket, sides, out_rx, url));
    PortForward { streams, task }
}

async fn run(socket: Socket, mut ports: Vec<Port>, mut out: mpsc::Receiver<(u8, Bytes)>, url: String) -> Result<()> {
    let (mut sink, mut stream) = socket.split();
    let broken = |e: &dyn std::fmt::Display| Error::Body {
        url: url.clone(),
        message: format!("port-forward stream failed: {e}"),
    };
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    let Some((&ch, mut data)) = b.split_first() else { continue };
                    let Some(port) = ports.get_mut((ch / 2) as usize) else { continue };
                    let which = (ch % 2) as usize;
                    if port.prefix[which] > 0 {
                        let n = port.prefix[which].min(data.len());
                        let expected = port.number.to_le_bytes();
                        let at = 2 - port.prefix[which];
                        if data[..n] != expected[at..at + n] {
                            return Err(broken(&format!("the server named another port than {}", port.number)));
                        }
                        port.prefix[which] -= n;
                        data = &data[n..];
                    }
                    if data.is_empty() {
                        continue;
                    }
                    if which == 0 {
                        if let Some(w) = port.incoming.as_mut() {
                            if w.write_all(data).await.is_err() {
                                port.incoming = None;
                            }
                        }
                    } else {
                        *port.error.lock() = Some(String::from_utf8_lossy(data).into_owned());
                        port.incoming = None;
                    }
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(broken(&e)),
            },
            item = out.recv(), if !out.is_closed() => {
                if let Some((ch, b)) = item {
                    if let Err(e) = sink.send(Message::Binary(frame(ch, &b))).await {
                        return Err(broken(&e));
                    }
                }
            }
        }
    }
    let _ = sink.close().await;
    Ok(())
}

/// Forwards connections accepted on a local address to a pod's port (see the module docs).
pub struct Forwarder {
    local: SocketAddr,
    errors: mpsc::Receiver<Error>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder").field("local", &self.local).finish()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Forwarder {
    /// The local address connections are accepted on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next failure of a forwarded connection (`None` once the forwarder stopped).
    pub async fn next_error(&mut self) -> Option<Error> {
        self.errors.recv().await
    }
}

/// Failures kept for [`Forwarder::next_error`]; beyond this many unread, new ones are dropped.
const MAX_PENDING_ERRORS: usize = 64;

/// Listens on `local` (e.g. `127.0.0.1:0`) and forwards each accepted connection to
/// `pod_port` of the pod `name` (see the module docs).
pub async fn listen(api: &Api<Pod>, name: &str, pod_port: u16, local: impl ToSocketAddrs) -> Result<Forwarder> {
    let listener = TcpListener::bind(local).await.map_err(|e| Error::Connect {
        url: "local listener".into(),
        message: e.to_string(),
        source: Some(Box::new(e)),
    })?;
    let local = listener.local_addr().map_err(|e| Error::Connect {
        url: "local listener".into(),
        message: e.to_string(),
        source: Some(Box::new(e)),
    })?;
    let (err_tx, errors) = mpsc::channel(MAX_PENDING_ERRORS);
    let (api, name) = (api.clone(), name.to_string());
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    let _ = tcp.set_nodelay(true);
                    let (api, name, err_tx) = (api.clone(), name.clone(), err_tx.clone());
                    conns.spawn(async move {
                        if let Err(e) = forward_one(&api, &name, pod_port, tcp).await {
                            let _ = err_tx.try_send(e);
                        }
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    Ok(Forwarder { local, errors, task })
}

/// Copies between `tcp` and a new forward of `port` until either side ends.
async fn forward_one(api: &Api<Pod>, name: &str, port: u16, mut tcp: tokio::net::TcpStream) -> Result<()> {
    let mut pf = api.portforward(name, &[port]).await?;
    let mut stream = pf.take_stream(port).ok_or_else(|| Error::InvalidRequest("no stream".into()))?;
    match tokio::io::copy_bidirectional(&mut tcp, &mut stream).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe || e.kind() == io::ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(Error::Connect {
            url: api.request_builder().get_subresource("portforward", name)?.uri().path().to_string(),
            message: format!("port {port}: {e}"),
            source: Some(Box::new(e)),
        }),
    }
}
