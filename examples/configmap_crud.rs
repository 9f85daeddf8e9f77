//! A ConfigMap round trip: create, get, update (replace), patch (merge and JSON), list by
//! label, delete, and see it gone.
//!
//! `cargo run --example configmap_crud` (on a real cluster: `-- --yes`, after it has said
//! where it would write; the ConfigMap is deleted at the end, also when a step fails).

mod common;

use k8s_openapi::api::core::v1::ConfigMap;
use rudder_client::api::Api;
use rudder_client::apimachinery::options::{DeleteOptions, ListOptions, PatchOptions};
use rudder_client::apimachinery::Patch;
use rudder_client::clientset::ClientSet;
use rudder_client::ObjectOrStatus;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (conn, namespace) = common::connect_to_write().await?;
    let cms = ClientSet::new(conn.client.clone()).core_v1().config_maps(&namespace);
    let result = round_trip(&cms).await;
    // Whatever happened above, leave nothing behind.
    if cms.get_opt("rudder-example").await?.is_some() {
        cms.delete("rudder-example", &DeleteOptions::default()).await?;
    }
    result
}

async fn round_trip(cms: &Api<ConfigMap>) -> Result<(), Box<dyn std::error::Error>> {
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "rudder-example", "labels": {"app": "rudder-example"}},
        "data": {"greeting": "hello"}
    }))?;
    let created = cms.create(&Default::default(), &cm).await?;
    println!("created {} (uid {:?}, rv {:?})", name(&created), created.metadata.uid, created.metadata.resource_version);

    let mut got = cms.get("rudder-example").await?;
    println!("got data {:?}", got.data);

    got.data.get_or_insert_with(Default::default).insert("greeting".into(), "hello again".into());
    let updated = cms.replace("rudder-example", &Default::default(), &got).await?;
    println!("replaced: rv {:?} -> {:?}", got.metadata.resource_version, updated.metadata.resource_version);

    // Replacing with the stale object is a 409 Conflict: the resourceVersion is a CAS token.
    match cms.replace("rudder-example", &Default::default(), &got).await {
        Err(e) if e.is_conflict() => println!("stale replace refused as expected: conflict"),
        other => println!("unexpected answer to a stale replace: {other:?}"),
    }

    let merged = cms
        .patch("rudder-example", &PatchOptions::default(), &Patch::Merge(json!({"data": {"color": "blue"}})))
        .await?;
    println!("merge-patched data {:?}", merged.data);
    let jsonp = cms
        .patch(
            "rudder-example",
            &PatchOptions::default(),
            &Patch::Json(json!([{"op": "remove", "path": "/data/greeting"}])),
        )
        .await?;
    println!("json-patched data {:?}", jsonp.data);

    let listed = cms.list(&ListOptions::default().labels("app=rudder-example")).await?;
    println!("list by label: {} item(s)", listed.items.len());

    match cms.delete("rudder-example", &DeleteOptions::default()).await? {
        ObjectOrStatus::Object(o) => println!("deleting {} (held by finalizers or graceful)", name(&o)),
        ObjectOrStatus::Status(s) => println!("deleted: {}", s.status),
    }
    println!("get after delete: {:?}", cms.get_opt("rudder-example").await?.map(|c| name(&c)));
    Ok(())
}

fn name(cm: &ConfigMap) -> String {
    cm.metadata.name.clone().unwrap_or_default()
}
