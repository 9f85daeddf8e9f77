//! Lists pods in every namespace, page by page, then prints them.
//!
//! `cargo run --example list_pods`

mod common;

use k8s_openapi::api::core::v1::Pod;
use rudder_client::api::Api;
use rudder_client::apimachinery::ListOptions;
use rudder_client::clientset::ClientSet;
use rudder_client::pager::Pager;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let conn = common::connect().await?;
    let cs = ClientSet::new(conn.client.clone());

    if conn.server.is_some() {
        // An empty embedded server: add a few pods to list.
        for (ns, name) in [("default", "web-0"), ("default", "web-1"), ("kube-system", "dns-0")] {
            let pod: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"app": name.trim_end_matches(char::is_numeric).trim_end_matches('-')}},
                "spec": {"containers": [{"name": "main", "image": "nginx"}]}
            }))?;
            cs.core_v1().pods(ns).create(&Default::default(), &pod).await?;
        }
    }

    // Api::all: across all namespaces. The pager fetches 500 at a time.
    let all = Pager::new(Api::<Pod>::all(conn.client.clone())).collect_all(&ListOptions::default()).await?;
    println!("{} pods at resourceVersion {}", all.items.len(), all.resource_version());
    for p in &all.items {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("-");
        println!(
            "{:<16} {:<24} {}",
            p.metadata.namespace.as_deref().unwrap_or(""),
            p.metadata.name.as_deref().unwrap_or(""),
            phase
        );
    }
    Ok(())
}
