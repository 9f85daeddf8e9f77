//! Registers a CustomResourceDefinition, then creates, lists, patches and deletes custom
//! objects through the DynamicClient (no Rust type for the kind exists).
//!
//! `cargo run --example dynamic_crd` (on a real cluster: `-- --yes`, after it has said where it
//! would write). It deletes its custom objects, and the CRD when it was the one that created it.

mod common;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use rudder_client::apimachinery::options::{DeleteOptions, ListOptions, PatchOptions};
use rudder_client::apimachinery::{DynamicObject, GroupVersionResource, Patch};
use rudder_client::clientset::ClientSet;
use rudder_client::dynamic::DynamicClient;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (conn, namespace) = common::connect_to_write().await?;
    let crds = ClientSet::new(conn.client.clone()).apiextensions_v1().custom_resource_definitions();
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    }))?;
    let created_crd = match crds.create(&Default::default(), &crd).await {
        Ok(_) => {
            println!("registered CRD crontabs.stable.example.com");
            true
        }
        Err(e) if e.is_already_exists() => {
            println!("CRD already registered (it stays when this example ends)");
            false
        }
        Err(e) => return Err(e.into()),
    };
    let result = custom_objects(&conn, &namespace).await;
    if created_crd {
        crds.delete("crontabs.stable.example.com", &DeleteOptions::default()).await?;
        println!("deleted CRD crontabs.stable.example.com");
    }
    result
}

async fn custom_objects(conn: &common::Connection, namespace: &str) -> Result<(), Box<dyn std::error::Error>> {
    // Kind and scope come from discovery (refreshed on a miss, so the new CRD is found).
    let dynamic = DynamicClient::new(conn.client.clone());
    let crontabs = dynamic
        .resource_gvr(&GroupVersionResource::new("stable.example.com", "v1", "crontabs"))
        .await?
        .namespace(namespace);
    println!("resolved {:?} (scope {:?})", crontabs.resource().kind, crontabs.resource().scope);

    for (name, spec) in [("every-minute", "* * * * *"), ("hourly", "0 * * * *")] {
        let obj = DynamicObject::new(name, crontabs.resource())
            .with_field("spec", json!({"cronSpec": spec, "image": "my-cron-image"}));
        let created = crontabs.create(&Default::default(), &obj).await?;
        println!("created {} uid {:?}", created.metadata.name.unwrap_or_default(), created.metadata.uid);
    }

    let list = crontabs.list(&ListOptions::default()).await?;
    for item in &list.items {
        println!(
            "listed {}/{} {} spec={}",
            item.api_version(),
            item.kind(),
            item.metadata.name.as_deref().unwrap_or(""),
            item.data["spec"]
        );
    }

    let patched = crontabs
        .patch("hourly", &PatchOptions::default(), &Patch::Merge(json!({"spec": {"cronSpec": "30 * * * *"}})))
        .await?;
    println!("patched hourly: {}", patched.data["spec"]["cronSpec"]);

    for name in ["every-minute", "hourly"] {
        crontabs.delete(name, &DeleteOptions::default()).await?;
    }
    println!("remaining: {}", crontabs.list(&ListOptions::default()).await?.items.len());
    Ok(())
}
