//! Runs the embedded Kubernetes API server as a standalone process, for trying kubectl (or any
//! client) against it.
//!
//! ```text
//! cargo run --example apiserver -- [--plain] [--kubeconfig PATH] [--seed N] [--token TOKEN] [--no-kubelet]
//! ```
//!
//! By default it serves HTTPS with a fresh CA and requires a bearer token; `--plain` serves
//! plain HTTP without authentication. It writes a kubeconfig (default
//! `./rudder-apiserver.kubeconfig`, mode 0600) pointing at itself, optionally stores N realistic
//! pods in the `default` namespace, prints how to use kubectl, and serves until Ctrl-C.
//!
//! The kubelet stand-in is on unless `--no-kubelet` is given: it registers one Ready node,
//! `node-1` (and any node created later), renews node Leases, runs pods bound to those nodes
//! (there is no scheduler: set `spec.nodeName`), and serves `kubectl top` a small usage. It
//! also runs a demo pod, `demo-web`, whose container accepts `kubectl exec` and `kubectl cp`
//! (a few shell built-ins and `tar`) and whose port 8080 answers HTTP through
//! `kubectl port-forward`.

use std::path::PathBuf;
use std::time::Instant;

use rudder_apiserver::{kubeconfig, seed, ApiServer, KubeletOptions};
use rudder_client::apimachinery::schema::GroupVersionResource;

/// Command-line options.
struct Options {
    plain: bool,
    kubeconfig: PathBuf,
    seed: usize,
    token: Option<String>,
    kubelet: bool,
}

const USAGE: &str = "usage: apiserver [--plain] [--kubeconfig PATH] [--seed N] [--token TOKEN] [--no-kubelet]

  --plain            serve plain HTTP without authentication (default: HTTPS + bearer token)
  --kubeconfig PATH  where to write the kubeconfig (default ./rudder-apiserver.kubeconfig)
  --seed N           store N realistic pods in namespace default
  --token TOKEN      the bearer token to require (default: a random one)
  --no-kubelet       run no kubelet stand-in (no Ready node; pods never start)";

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        plain: false,
        kubeconfig: PathBuf::from("rudder-apiserver.kubeconfig"),
        seed: 0,
        token: None,
        kubelet: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| inline.clone().or_else(|| args.next()).ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--plain" => opts.plain = true,
            "--no-kubelet" => opts.kubelet = false,
            "--kubeconfig" => opts.kubeconfig = PathBuf::from(value("--kubeconfig")?),
            "--seed" => {
                let v = value("--seed")?;
                opts.seed = v.parse().map_err(|_| format!("--seed: {v:?} is not a number"))?;
            }
            "--token" => opts.token = Some(value("--token")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(opts)
}

/// A token that is hard to guess, without a random-number dependency.
fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut out = String::from("rudder-");
    for i in 0..2u64 {
        let mut h = state.build_hasher();
        h.write_u64(i);
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// A pod on `node-1` (so the kubelet stand-in runs it) whose port 8080 answers HTTP; exec and
/// cp work on every pod with a node.
async fn demo_pod(server: &ApiServer) -> Result<(), Box<dyn std::error::Error>> {
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "demo-web", "namespace": "default", "labels": {"app": "demo-web"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx",
            "ports": [{"containerPort": 8080, "name": "http"}]}]}
    });
    let pods: rudder_client::api::Api<k8s_openapi::api::core::v1::Pod> =
        rudder_client::api::Api::namespaced(server.client(), "default");
    pods.create(&Default::default(), &serde_json::from_value(pod)?).await?;
    server.control().serve_http("default", "demo-web", 8080, "hello from demo-web:8080\n").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprintln!("{USAGE}");
            std::process::exit(if e.is_empty() { 0 } else { 2 });
        }
    };
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();

    let mut builder = ApiServer::builder();
    if opts.kubelet {
        builder = builder.kubelet(KubeletOptions::default());
    }
    let server = if opts.plain {
        builder.start().await?
    } else {
        let token = opts.token.clone().unwrap_or_else(random_token);
        builder.tls().token(token).start().await?
    };
    if opts.kubelet {
        server.control().add_node("node-1", &[]);
        demo_pod(&server).await?;
    }
    let url = server.url().to_string();
    let url = url.trim_end_matches('/');
    kubeconfig::write(&opts.kubeconfig, url, server.ca_pem(), server.token(), None)?;
    let kubeconfig_path = std::fs::canonicalize(&opts.kubeconfig).unwrap_or(opts.kubeconfig.clone());

    if opts.seed > 0 {
        let started = Instant::now();
        let pods = GroupVersionResource::new("", "v1", "pods");
        let control = server.control();
        let mut done = 0;
        while done < opts.seed {
            let batch = (opts.seed - done).min(10_000);
            // The bytes fast path: only metadata is parsed, the rest is stored as rendered.
            control.insert_many_bytes(&pods, (done..done + batch).map(|i| seed::realistic_pod_bytes(i, "default")));
            done += batch;
        }
        println!("seeded {} pods in namespace default in {:.1?}", opts.seed, started.elapsed());
    }

    println!("embedded Kubernetes API server listening on {url}");
    println!("kubeconfig written to {}", kubeconfig_path.display());
    println!();
    println!("try:");
    println!("  export KUBECONFIG={}", kubeconfig_path.display());
    println!("  kubectl get namespaces");
    println!("  kubectl api-resources");
    println!("  kubectl create configmap demo --from-literal=hello=world");
    println!("  kubectl get configmaps --watch");
    println!("  kubectl get pods -o wide");
    if opts.kubelet {
        println!("  kubectl get nodes; kubectl top node");
        println!("  kubectl exec demo-web -- sh -c 'echo hello from $HOSTNAME; ls /'");
        println!("  kubectl port-forward pod/demo-web 8080:8080 & curl http://127.0.0.1:8080/");
        println!("  kubectl cp ./Cargo.toml demo-web:/tmp/Cargo.toml; kubectl cp demo-web:/tmp ./from-pod");
    }
    println!();
    println!("state lives in memory only; press Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    drop(server);
    Ok(())
}
