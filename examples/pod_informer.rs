//! The main example: a pod informer with the namespace index and a by-node index, printing
//! adds, updates and deletes as they happen and a per-node summary every few seconds.
//!
//! Runs against the current kubeconfig (or in-cluster config) when there is one; otherwise it
//! starts the embedded API server, seeds it with realistic pods and keeps changing them, and
//! says so in its first line of output.
//!
//! ```sh
//! cargo run --example pod_informer              # until Ctrl-C
//! cargo run --example pod_informer -- --for 10  # stop after 10 seconds
//! ```

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::{CreateOptions, DeleteOptions, PatchOptions};
use rudder_apimachinery::patch::Patch;
use rudder_apimachinery::resource::Resource;
use rudder_apiserver::{seed, ApiServer};
use rudder_client::api::Api;
use rudder_informer::processor::{DeletedObject, HandlerFns};
use rudder_informer::{SharedInformerFactory, NAMESPACE_INDEX};

const NODE_INDEX: &str = "node";

fn node_of(p: &Pod) -> Option<&str> {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

fn describe(p: &Pod) -> String {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("-");
    format!("{}/{} on {} ({phase})", p.namespace().unwrap_or(""), p.name(), node_of(p).unwrap_or("<unscheduled>"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_for = parse_duration_arg();
    let conn = common::connect().await?;
    if let Some(server) = &conn.server {
        seed_and_churn(server).await?;
    }

    let factory = SharedInformerFactory::new(conn.client.clone());
    let pods = factory.informer::<Pod>();
    pods.add_indexer(NODE_INDEX, |p: &Pod| Ok(node_of(p).map(|n| vec![n.to_string()]).unwrap_or_default()))?;

    let initial = Arc::new(AtomicUsize::new(0));
    let initial2 = initial.clone();
    pods.add_event_handler(
        HandlerFns::new()
            .on_add(move |p: &Arc<Pod>, is_initial_list| {
                if is_initial_list {
                    initial2.fetch_add(1, Ordering::Relaxed);
                } else {
                    println!("ADDED    {}", describe(p));
                }
            })
            .on_update(|old: &Arc<Pod>, new: &Arc<Pod>| {
                if old.resource_version() != new.resource_version() {
                    println!(
                        "UPDATED  {} (resourceVersion {} -> {})",
                        describe(new),
                        old.resource_version().unwrap_or(""),
                        new.resource_version().unwrap_or("")
                    );
                }
            })
            .on_delete(|d: &DeletedObject<Pod>| {
                let how = if d.is_tombstone() { " (missed while disconnected)" } else { "" };
                println!("DELETED  {}{how}", describe(d.object()));
            }),
    )?;

    factory.start();
    factory.wait_for_cache_sync(Duration::from_secs(60)).await?;
    println!("synced: {} pods in the initial list", initial.load(Ordering::Relaxed));

    let summary = {
        let pods = pods.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let idx = pods.indexer();
                let mut nodes = idx.list_index_func_values(NODE_INDEX);
                nodes.sort();
                let namespaces = idx.list_index_func_values(NAMESPACE_INDEX).len();
                println!("-- {} pods in {namespaces} namespaces on {} nodes --", idx.len(), nodes.len());
                for n in nodes.iter().take(10) {
                    println!("   {n}: {} pods", idx.by_index(NODE_INDEX, n).map(|v| v.len()).unwrap_or(0));
                }
                if nodes.len() > 10 {
                    println!("   ... and {} more nodes", nodes.len() - 10);
                }
            }
        })
    };

    match run_for {
        Some(d) => tokio::time::sleep(d).await,
        None => tokio::signal::ctrl_c().await?,
    }
    summary.abort();
    factory.shutdown().await;
    println!("stopped");
    Ok(())
}

/// `--for SECONDS`.
fn parse_duration_arg() -> Option<Duration> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == "--for")?;
    args.get(i + 1)?.parse::<u64>().ok().map(Duration::from_secs)
}

/// Seeds the embedded server with realistic pods and keeps changing them.
async fn seed_and_churn(server: &ApiServer) -> Result<(), Box<dyn std::error::Error>> {
    let gvr = Pod::api_resource().gvr();
    let n = 300;
    server.control().insert_many(&gvr, seed::realistic_pods(n, "default"));
    println!("seeded {n} realistic pods; changing one every second");
    let api = Api::<Pod>::namespaced(server.client(), "default");
    tokio::spawn(async move {
        let mut next = n;
        let mut tick = tokio::time::interval(Duration::from_millis(1000));
        tick.tick().await;
        for round in 0u64.. {
            tick.tick().await;
            let result = match round % 3 {
                0 => {
                    let mut pod: Pod = match serde_json::from_value(seed::realistic_pod(next, "default")) {
                        Ok(p) => p,
                        Err(_) => continue,
                    };
                    pod.metadata.resource_version = None;
                    pod.metadata.uid = None;
                    next += 1;
                    api.create(&CreateOptions::default(), &pod).await.map(|_| ())
                }
                1 => {
                    let name = pod_name(&api, round as usize).await;
                    let patch =
                        Patch::Merge(serde_json::json!({"metadata": {"labels": {"touched": round.to_string()}}}));
                    api.patch(&name, &PatchOptions::default(), &patch).await.map(|_| ())
                }
                _ => {
                    let name = pod_name(&api, round as usize).await;
                    api.delete(&name, &DeleteOptions { grace_period_seconds: Some(0), ..Default::default() })
                        .await
                        .map(|_| ())
                }
            };
            if let Err(e) = result {
                eprintln!("churn: {e}");
            }
        }
    });
    Ok(())
}

async fn pod_name(api: &Api<Pod>, i: usize) -> String {
    let list = api.list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
    list.get(i % list.len().max(1)).map(|p| p.name().to_string()).unwrap_or_default()
}
