//! A control port beside a benchmark server, so that a client in another process
//! (`informer-mem client`) can make the server expire its watches at the moment it chooses, and
//! read how many lists and watches the server was asked for.
//!
//! Contract: a TCP listener on 127.0.0.1 speaking one command per line, each answered with one
//! line: `expire` ([`crate::server::BenchServer::expire_watches`]) answers `ok`; `counts`
//! answers `{"lists":L,"watches":W}` (pod list and watch requests served so far); anything
//! else answers `error: unknown command`. A command line longer than [`MAX_LINE`] bytes closes
//! the connection. [`command`] (the client side) sends one command and reads one reply line
//! of at most [`MAX_LINE`] bytes, within [`CONTROL_TIMEOUT`].

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::{BenchError, Result};

/// Longest command or reply line, in bytes.
pub const MAX_LINE: u64 = 256;
/// How long [`command`] waits for the connection and the reply.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// Pod list and watch requests a server has served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// `GET .../pods` without `watch` (each page of a paged list counts).
    pub lists: u64,
    /// `GET .../pods?watch=...` (streaming lists included).
    pub watches: u64,
}

/// What the control port acts on.
pub trait Controlled: Send + Sync + 'static {
    /// Ends every open watch; the next watch request fails with 410 Expired.
    fn expire_watches(&self);
    /// Requests served so far.
    fn request_counts(&self) -> RequestCounts;
}

/// Serves the control port for `target` on the current runtime; returns its address.
pub async fn serve(target: std::sync::Arc<dyn Controlled>) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| BenchError::ctx("control port bind", e))?;
    let addr = listener.local_addr().map_err(|e| BenchError::ctx("control port address", e))?;
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let (read, mut write) = sock.into_split();
                let mut lines = BufReader::new(read.take(u64::MAX));
                loop {
                    let mut line = String::new();
                    lines.get_mut().set_limit(MAX_LINE);
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if !line.ends_with('\n') => return,
                        Ok(_) => {}
                    }
                    let reply = match line.trim() {
                        "expire" => {
                            target.expire_watches();
                            "ok".to_string()
                        }
                        "counts" => {
                            serde_json::to_string(&target.request_counts()).unwrap_or_else(|e| format!("error: {e}"))
                        }
                        _ => "error: unknown command".to_string(),
                    };
                    if write.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// Sends `cmd` to the control port at `addr` and returns the reply line (without its newline);
/// a reply starting with `error` is an error.
pub async fn command(addr: &str, cmd: &str) -> Result<String> {
    let what = format!("control port {addr}, command {cmd:?}");
    let exchange = async {
        let mut sock = TcpStream::connect(addr).await.map_err(|e| BenchError::ctx(&what, e))?;
        sock.write_all(format!("{cmd}\n").as_bytes()).await.map_err(|e| BenchError::ctx(&what, e))?;
        let mut reply = String::new();
        BufReader::new(sock.take(MAX_LINE)).read_line(&mut reply).await.map_err(|e| BenchError::ctx(&what, e))?;
        if !reply.ends_with('\n') {
            return Err(BenchError(format!("{what}: no complete reply line (got {reply:?})")));
        }
        Ok(reply.trim_end().to_string())
    };
    let reply = tokio::time::timeout(CONTROL_TIMEOUT, exchange)
        .await
        .map_err(|_| BenchError(format!("{what}: no reply within {CONTROL_TIMEOUT:?}")))??;
    if reply.starts_with("error") {
        return Err(BenchError(format!("{what}: {reply}")));
    }
    Ok(reply)
}

/// The server's request counters, through its control port.
pub async fn counts(addr: &str) -> Result<RequestCounts> {
    let reply = command(addr, "counts").await?;
    serde_json::from_str(&reply).map_err(|e| BenchError::ctx(&format!("control port {addr}: counts {reply:?}"), e))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;

    #[derive(Default)]
    struct Fake {
        expired: AtomicU64,
    }

    impl Controlled for Fake {
        fn expire_watches(&self) {
            self.expired.fetch_add(1, Ordering::SeqCst);
        }
        fn request_counts(&self) -> RequestCounts {
            RequestCounts { lists: 3, watches: self.expired.load(Ordering::SeqCst) }
        }
    }

    #[tokio::test]
    async fn commands_reach_the_server_and_unknown_ones_fail() {
        let fake = Arc::new(Fake::default());
        let addr = serve(fake.clone()).await.unwrap().to_string();
        assert_eq!(command(&addr, "expire").await.unwrap(), "ok");
        assert_eq!(fake.expired.load(Ordering::SeqCst), 1);
        assert_eq!(counts(&addr).await.unwrap(), RequestCounts { lists: 3, watches: 1 });
        let err = command(&addr, "reboot").await.unwrap_err();
        assert!(err.to_string().contains("unknown command"), "{err}");
        let long = "x".repeat(MAX_LINE as usize + 10);
        assert!(command(&addr, &long).await.is_err(), "an overlong command is refused");
        assert_eq!(fake.expired.load(Ordering::SeqCst), 1);
    }
}
