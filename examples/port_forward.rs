//! Forwards a local port to a pod's port, as `kubectl port-forward` does, and fetches `/`
//! through it once.
//!
//! ```text
//! cargo run --example port_forward -- [POD PORT] [--serve]
//! ```
//!
//! On a cluster (the current kubeconfig) POD and PORT are required (the pod is in the
//! context's namespace). Without one, an embedded API server runs a demo pod whose port 8080
//! answers HTTP. With `--serve` it keeps forwarding until Ctrl-C (try `curl` on the printed
//! address), reporting failed connections.

mod common;

use k8s_openapi::api::core::v1::Pod;
use rudder_client::api::Api;
use rudder_client::remote::portforward;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let conn = common::connect().await?;
    let pods: Api<Pod> = Api::default_namespaced(conn.client.clone());
    let serve = std::env::args().any(|a| a == "--serve");
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let (pod, port) = match (args.as_slice(), &conn.server) {
        ([pod, port], _) => (pod.clone(), port.parse::<u16>().map_err(|_| format!("{port:?} is not a port"))?),
        (_, Some(server)) => {
            let demo: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "demo"},
                "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx",
                    "ports": [{"containerPort": 8080}]}]}
            }))?;
            pods.create(&Default::default(), &demo).await?;
            // The embedded server connects the pod's port to a tiny HTTP responder.
            server.control().serve_http("default", "demo", 8080, "hello from demo:8080\n").await?;
            ("demo".to_string(), 8080)
        }
        _ => return Err("usage: port_forward POD PORT [--serve]".into()),
    };

    let mut forwarder = portforward::listen(&pods, &pod, port, "127.0.0.1:0").await?;
    let local = forwarder.local_addr();
    println!("forwarding {local} -> {pod}:{port}");

    // One request through the forward.
    let mut tcp = tokio::net::TcpStream::connect(local).await?;
    tcp.write_all(format!("GET / HTTP/1.1\r\nHost: {pod}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read_to_end(&mut answer)).await??;
    println!("{}", String::from_utf8_lossy(&answer));

    if serve {
        println!("forwarding until Ctrl-C: curl http://{local}/");
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                e = forwarder.next_error() => match e {
                    Some(e) => eprintln!("forwarded connection failed: {e}"),
                    None => break,
                },
            }
        }
    }
    Ok(())
}
