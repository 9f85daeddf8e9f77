//! Raw TCP servers that misbehave on purpose: endless lines, stalled bodies, huge Retry-After,
//! proxies that never answer. Each reads one request head per connection, then runs a script.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running raw server; aborted on drop.
pub struct RawServer {
    pub addr: SocketAddr,
    /// How many request heads were read.
    pub requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawServer {
    pub fn url(&self) -> http::Uri {
        format!("http://{}", self.addr).parse().unwrap()
    }
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request head (up to the blank line); `None` when the peer closed first.
pub async fn read_head(tcp: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(String::from_utf8_lossy(&buf[..p]).into_owned());
        }
    }
}

/// Serves every connection: reads a request head, then runs `script` with the stream and the
/// head (it may loop for more requests itself).
pub async fn serve<F, Fut>(script: F) -> RawServer
where
    F: Fn(TcpStream, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let script = Arc::new(script);
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let script = script.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut tcp).await else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                script(tcp, head).await;
            });
        }
    });
    RawServer { addr, requests, task }
}

/// The head of a chunked 200 response with `content_type`.
pub fn chunked_head(content_type: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n")
}

/// Writes `data` as one HTTP/1.1 chunk.
pub async fn write_chunk(tcp: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    tcp.write_all(format!("{:x}\r\n", data.len()).as_bytes()).await?;
    tcp.write_all(data).await?;
    tcp.write_all(b"\r\n").await
}

/// Writes `prefix`, then `x` bytes in 64 KiB chunks with no newline, until the client goes
/// away or `cap` bytes were sent (so the test ends even if the client never stops reading).
pub async fn endless(mut tcp: TcpStream, content_type: &str, prefix: &[u8], cap: usize) {
    if tcp.write_all(chunked_head(content_type).as_bytes()).await.is_err() {
        return;
    }
    if write_chunk(&mut tcp, prefix).await.is_err() {
        return;
    }
    let block = vec![b'x'; 64 << 10];
    let mut sent = 0;
    while sent < cap {
        if write_chunk(&mut tcp, &block).await.is_err() {
            return;
        }
        sent += block.len();
    }
}

/// Sends `head` and then holds the connection open without a byte more for `hold`.
pub async fn stall(mut tcp: TcpStream, head: &[u8], hold: Duration) {
    let _ = tcp.write_all(head).await;
    tokio::time::sleep(hold).await;
}
