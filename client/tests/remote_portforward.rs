//! `Api<Pod>::portforward` and `remote::portforward::listen` against the embedded API server,
//! whose pod ports reach local TCP echo servers standing in for the containers: two ports at
//! once, concurrent connections, a refused port surfacing the kubelet's error, cancellation.

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_client::remote::portforward;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

/// A TCP server answering every line with `tag: line`; also returns how many connections
/// are open (the count goes down when a peer closes).
async fn echo(tag: &'static str) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let open2 = open.clone();
    tokio::spawn(async move {
        loop {
            let (mut c, _) = l.accept().await.unwrap();
            let open = open2.clone();
            open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut reply = format!("{tag}: ").into_bytes();
                            reply.extend_from_slice(&buf[..n]);
                            if c.write_all(&reply).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
    (addr, open)
}

async fn setup() -> (ApiServer, Api<Pod>) {
    let s = ApiServer::builder().tls().token("pf-test-token").start().await.expect("server starts");
    let pods: Api<Pod> = Api::namespaced(s.client(), "default");
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "i",
            "ports": [{"containerPort": 80}, {"containerPort": 81}]}]}}))
    .unwrap();
    pods.create(&Default::default(), &p).await.unwrap();
    (s, pods)
}

async fn roundtrip(s: &mut (impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin), msg: &str) -> String {
    s.write_all(msg.as_bytes()).await.unwrap();
    let want = msg.len() + "p80: ".len();
    let mut got = vec![0u8; want];
    tokio::time::timeout(WAIT, s.read_exact(&mut got)).await.expect("reply comes").unwrap();
    String::from_utf8(got).unwrap()
}

#[tokio::test]
async fn two_ports_at_once() {
    let (s, pods) = setup().await;
    let (a, _) = echo("p80").await;
    let (b, _) = echo("p81").await;
    s.control().forward_port("default", "web", 80, a);
    s.control().forward_port("default", "web", 81, b);
    let mut pf = pods.portforward("web", &[80, 81]).await.unwrap();
    let mut s80 = pf.take_stream(80).unwrap();
    let mut s81 = pf.take_stream(81).unwrap();
    assert!(pf.take_stream(80).is_none());
    let big = "z".repeat(100_000);
    let (r1, r2) = tokio::join!(roundtrip(&mut s80, "one\n"), roundtrip(&mut s81, "two\n"));
    assert_eq!((r1.as_str(), r2.as_str()), ("p80: one\n", "p81: two\n"));
    s80.write_all(big.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while got.len() < big.len() {
        let mut buf = vec![0u8; 65536];
        let n = tokio::time::timeout(WAIT, s80.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
        got.retain(|b| *b == b'z');
    }
}

#[tokio::test]
async fn a_refused_port_surfaces_the_error_and_the_other_port_works() {
    let (s, pods) = setup().await;
    let (a, _) = echo("p80").await;
    s.control().forward_port("default", "web", 80, a);
    let mut pf = pods.portforward("web", &[80, 81]).await.unwrap();
    let mut s81 = pf.take_stream(81).unwrap();
    let mut buf = [0u8; 16];
    let err = tokio::time::timeout(WAIT, s81.read(&mut buf)).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(err.to_string().starts_with("error forwarding port 81 to pod"), "{err}");
    let mut s80 = pf.take_stream(80).unwrap();
    assert_eq!(roundtrip(&mut s80, "still\n").await, "p80: still\n");
}

#[tokio::test]
async fn dropping_the_forward_closes_the_pod_side() {
    let (s, pods) = setup().await;
    let (a, open) = echo("p80").await;
    s.control().forward_port("default", "web", 80, a);
    let mut pf = pods.portforward("web", &[80]).await.unwrap();
    let mut s80 = pf.take_stream(80).unwrap();
    assert_eq!(roundtrip(&mut s80, "x\n").await, "p80: x\n");
    assert_eq!(open.load(std::sync::atomic::Ordering::SeqCst), 1);
    drop(pf);
    let mut buf = [0u8; 4];
    assert_eq!(tokio::time::timeout(WAIT, s80.read(&mut buf)).await.unwrap().unwrap(), 0);
    tokio::time::timeout(WAIT, async {
        while open.load(std::sync::atomic::Ordering::SeqCst) != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the pod-side connection closes");
}

#[tokio::test]
async fn listen_forwards_concurrent_connections_and_reports_failures() {
    let (s, pods) = setup().await;
    let (a, _) = echo("p80").await;
    s.control().forward_port("default", "web", 80, a);
    let fwd = portforward::listen(&pods, "web", 80, "127.0.0.1:0").await.unwrap();
    let addr = fwd.local_addr();
    let clients = (0..8).map(|i| async move {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let msg = format!("client {i}\n");
        assert_eq!(roundtrip(&mut c, &msg).await, format!("p80: {msg}"));
    });
    futures::future::join_all(clients).await;

    let mut refused = portforward::listen(&pods, "web", 81, "127.0.0.1:0").await.unwrap();
    let mut c = TcpStream::connect(refused.local_addr()).await.unwrap();
    let mut buf = [0u8; 4];
    let n = tokio::time::timeout(WAIT, c.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the local connection is closed");
    let e = tokio::time::timeout(WAIT, refused.next_error()).await.unwrap().unwrap();
    assert!(e.to_string().contains("connection refused"), "{e}");

    drop(fwd);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "a dropped forwarder stops listening");
}
