//! Criterion benchmark: bytes per second through rudder's port-forward and exec streams,
//! against kube-rs's `portforward` and `exec` in the same run (with `--features kube-rs`).
//!
//! - `portforward`: one forwarded connection to a pod port whose target (a local TCP server
//!   standing in for the container) writes 64 MiB and closes; timed from opening the forward
//!   until the last byte was read.
//! - `exec`: `head -c 64M /dev/zero` in the embedded server's fake container; timed from
//!   starting the process until stdout ended and the exit status arrived.
//!
//! The embedded server (plain HTTP, no auth) runs on its own runtime (2 worker threads), the
//! clients on another (2 worker threads). Flat sampling, 10 samples; criterion reports MiB/s.
//!
//! `cargo bench -p rudder-benches --features kube-rs --bench remote`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use k8s_openapi::api::core::v1::Pod;
use rudder_apiserver::ApiServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BYTES: usize = 64 << 20;
const PORT: u16 = 8080;

/// A TCP server that writes `BYTES` to every connection, then closes it.
async fn source() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let chunk = vec![0x5au8; 256 * 1024];
        while let Ok((mut c, _)) = l.accept().await {
            let chunk = chunk.clone();
            tokio::spawn(async move {
                let mut left = BYTES;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if c.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
                let _ = c.shutdown().await;
            });
        }
    });
    addr
}

/// Reads `r` to its end; the byte count.
async fn drain(mut r: impl tokio::io::AsyncRead + Unpin) -> usize {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

fn check(what: &str, got: usize) {
    assert_eq!(got, BYTES, "{what}: read {got} bytes, expected {BYTES}");
}

async fn rudder_portforward(url: &str) -> Duration {
    let client = rudder_client::Client::new(rudder_client::Config::new(url.parse().expect("url"))).expect("client");
    let pods: rudder_client::api::Api<Pod> = rudder_client::api::Api::namespaced(client, "default");
    let start = Instant::now();
    let mut pf = pods.portforward("bench", &[PORT]).await.expect("portforward");
    let got = drain(pf.take_stream(PORT).expect("stream")).await;
    let elapsed = start.elapsed();
    check("rudder portforward", got);
    elapsed
}

async fn rudder_exec(url: &str) -> Duration {
    let client = rudder_client::Client::new(rudder_client::Config::new(url.parse().expect("url"))).expect("client");
    let pods: rudder_client::api::Api<Pod> = rudder_client::api::Api::namespaced(client, "default");
    let start = Instant::now();
    let opts = rudder_client::remote::ExecOptions::default().stderr(false);
    let mut p = pods.exec("bench", ["head", "-c", &BYTES.to_string(), "/dev/zero"], &opts).await.expect("exec");
    let got = drain(p.stdout().expect("stdout")).await;
    assert!(p.status().await.expect("status").success());
    let elapsed = start.elapsed();
    check("rudder exec", got);
    elapsed
}

#[cfg(feature = "kube-rs")]
async fn kube_client(url: &str) -> kube::Client {
    let config = kube::Config::new(url.parse().expect("url"));
    kube::Client::try_from(config).expect("kube client")
}

#[cfg(feature = "kube-rs")]
async fn kube_portforward(url: &str) -> Duration {
    let pods: kube::Api<Pod> = kube::Api::namespaced(kube_client(url).await, "default");
    let start = Instant::now();
    let mut pf = pods.portforward("bench", &[PORT]).await.expect("kube portforward");
    let got = drain(pf.take_stream(PORT).expect("stream")).await;
    let elapsed = start.elapsed();
    check("kube-rs portforward", got);
    elapsed
}

#[cfg(feature = "kube-rs")]
async fn kube_exec(url: &str) -> Duration {
    let pods: kube::Api<Pod> = kube::Api::namespaced(kube_client(url).await, "default");
    let start = Instant::now();
    let params = kube::api::AttachParams::default().stderr(false);
    let mut p = pods.exec("bench", ["head", "-c", &BYTES.to_string(), "/dev/zero"], &params).await.expect("kube exec");
    let got = drain(p.stdout().expect("stdout")).await;
    let status = p.take_status().expect("status").await;
    assert!(status.is_some_and(|s| s.status.as_deref() == Some("Success")));
    let elapsed = start.elapsed();
    check("kube-rs exec", got);
    elapsed
}

fn bench(c: &mut Criterion) {
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let server = server_rt.block_on(async {
        let s = ApiServer::start().await.expect("server");
        let pods: rudder_client::api::Api<Pod> = rudder_client::api::Api::namespaced(s.client(), "default");
        let pod: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "bench"},
            "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "i", "ports": [{"containerPort": PORT}]}]}}))
        .expect("pod");
        pods.create(&Default::default(), &pod).await.expect("create");
        s.control().forward_port("default", "bench", PORT, source().await);
        s
    });
    let url = server.url().to_string();

    type Run = for<'a> fn(&'a str) -> futures::future::BoxFuture<'a, Duration>;
    use futures::FutureExt;
    for (group, runs) in [
        (
            "portforward_64MiB",
            vec![
                ("rudder", (|u| rudder_portforward(u).boxed()) as Run),
                #[cfg(feature = "kube-rs")]
                ("kube-rs", |u| kube_portforward(u).boxed()),
            ],
        ),
        (
            "exec_stdout_64MiB",
            vec![
                ("rudder", (|u| rudder_exec(u).boxed()) as Run),
                #[cfg(feature = "kube-rs")]
                ("kube-rs", |u| kube_exec(u).boxed()),
            ],
        ),
    ] {
        let mut g = c.benchmark_group(group);
        g.sampling_mode(SamplingMode::Flat).sample_size(10).throughput(Throughput::Bytes(BYTES as u64));
        for (name, run) in runs {
            let url = url.clone();
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    client_rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            total += run(&url).await;
                        }
                        total
                    })
                })
            });
        }
        g.finish();
    }
    drop(server);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
