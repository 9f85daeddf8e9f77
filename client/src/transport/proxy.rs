//! Reaching the server through an HTTP proxy (`proxy-url`).
//!
//! Contract: for an `https` target the proxy is asked to open a tunnel with `CONNECT
//! host:port` and TLS runs end to end through it (the proxy sees only ciphertext); for an
//! `http` target the TCP connection goes to the proxy and requests are sent in absolute form
//! (plain proxying). Only `http://` proxy URLs are supported; user info in the proxy URL
//! (`http://user:pass@proxy:3128`) becomes a `Proxy-Authorization: Basic` header. A proxy that
//! refuses the tunnel gives an error quoting its status line. The whole connection set-up,
//! waiting for the CONNECT answer included, is bounded by the connector (`Config.connect_timeout`).

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

use super::ConnectError;

/// Idle time before the first TCP keepalive probe (Go's dialer: 15 s).
pub(crate) const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
/// Time between TCP keepalive probes.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// The largest CONNECT response head accepted.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// A parsed `proxy-url`.
#[derive(Clone)]
pub(crate) struct Proxy {
    host: String,
    port: u16,
    /// `Basic ...` from the URL's user info. Never logged.
    authorization: Option<String>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({}:{})", self.host, self.port)
    }
}

impl Proxy {
    /// Parses `uri` (`http://[user:pass@]host[:port]`).
    pub(crate) fn from_uri(uri: &http::Uri) -> Result<Self> {
        let shown = format!("{}://{}", uri.scheme_str().unwrap_or(""), uri.host().unwrap_or(""));
        if uri.scheme_str() != Some("http") {
            return Err(Error::InvalidRequest(format!("proxy URL {shown}: only http:// proxies are supported")));
        }
        let authority =
            uri.authority().ok_or_else(|| Error::InvalidRequest(format!("proxy URL {shown} has no host")))?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = authority.port_u16().unwrap_or(80);
        let authorization = authority.as_str().rsplit_once('@').map(|(userinfo, _)| {
            let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            let raw = format!("{}:{}", decode(user), decode(pass));
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
        });
        Ok(Self { host, port, authorization })
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A TCP connection to the proxy itself (plain proxying of http targets).
    pub(crate) async fn connect(&self) -> Result<TcpStream, ConnectError> {
        tcp_connect(&self.host, self.port).await
    }

    /// The `Proxy-Authorization` value for plain-proxied requests, if any.
    pub(crate) fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// A TCP connection tunnelled through the proxy to `host:port` (CONNECT).
    pub(crate) async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
        let mut tcp = self.connect().await?;
        let target = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(auth) = &self.authorization {
            head.push_str("Proxy-Authorization: ");
            head.push_str(auth);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let proxy_err = |message: String| ConnectError::Proxy { proxy: self.addr(), message };
        tcp.write_all(head.as_bytes()).await.map_err(|e| proxy_err(format!("sending CONNECT {target}: {e}")))?;
        // Read the response head byte-wise-ish: the server speaks TLS only after our
        // ClientHello, so nothing follows the head; anything that does is a protocol error.
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 512];
        let end = loop {
            let n = tcp.read(&mut chunk).await.map_err(|e| proxy_err(format!("reading CONNECT response: {e}")))?;
            if n == 0 {
                return Err(proxy_err(format!("closed the connection during CONNECT {target}")));
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            if buf.len() > MAX_CONNECT_RESPONSE {
                return Err(proxy_err("CONNECT response head too large".into()));
            }
        };
        let status_line =
            String::from_utf8_lossy(buf.split(|b| *b == b'\n').next().unwrap_or_default()).trim().to_string();
        let code = status_line.split_whitespace().nth(1).unwrap_or_default();
        if !code.starts_with('2') || code.len() != 3 {
            return Err(proxy_err(format!("refused CONNECT {target}: {status_line}")));
        }
        if end != buf.len() {
            return Err(proxy_err(format!("sent unexpected bytes after the CONNECT {target} response")));
        }
        Ok(tcp)
    }
}

/// Opens a TCP connection with `TCP_NODELAY` and keepalive ([`KEEPALIVE_IDLE`],
/// [`KEEPALIVE_INTERVAL`]). The caller bounds the time it takes (`Config.connect_timeout`).
pub(crate) async fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let tcp = TcpStream::connect((host, port)).await.map_err(|source| ConnectError::Io { addr, source })?;
    let _ = tcp.set_nodelay(true);
    // Best effort, as Go's dialer: a platform without these options still connects.
    let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive());
    Ok(tcp)
}

fn keepalive() -> socket2::TcpKeepalive {
    let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE_IDLE);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "windows"
    ))]
    let keepalive = keepalive.with_interval(KEEPALIVE_INTERVAL);
    keepalive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn connections_have_tcp_keepalive() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tcp = tcp_connect("127.0.0.1", port).await.unwrap();
        let sock = socket2::SockRef::from(&tcp);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
    }
}
