//! Server-side apply: two field managers own different fields of one Deployment; a conflicting
//! apply is refused until forced.
//!
//! `cargo run --example server_side_apply` (on a real cluster: `-- --yes`, after it has said
//! where it would write; the Deployment is deleted at the end, also when a step fails).

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use rudder_client::api::Api;
use rudder_client::apimachinery::options::{DeleteOptions, PatchOptions};
use rudder_client::apimachinery::Patch;
use rudder_client::clientset::ClientSet;
use serde_json::json;

fn intent(replicas: i32, image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ssa-demo"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "ssa-demo"}},
            "template": {
                "metadata": {"labels": {"app": "ssa-demo"}},
                "spec": {"containers": [{"name": "web", "image": image}]}
            }
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (conn, namespace) = common::connect_to_write().await?;
    let deployments = ClientSet::new(conn.client.clone()).apps_v1().deployments(&namespace);
    let result = two_managers(&deployments).await;
    if deployments.get_opt("ssa-demo").await?.is_some() {
        deployments.delete("ssa-demo", &DeleteOptions::default()).await?;
        println!("deleted deployment ssa-demo");
    }
    result
}

async fn two_managers(deployments: &Api<Deployment>) -> Result<(), Box<dyn std::error::Error>> {
    // The first apply creates the object; "deployer" owns every field it sent.
    let d: Deployment =
        deployments.patch("ssa-demo", &PatchOptions::apply("deployer"), &Patch::Apply(intent(2, "nginx:1.27"))).await?;
    println!("applied by deployer: replicas {:?}", d.spec.replicas);

    // An autoscaler wants a different replica count: conflict with "deployer".
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ssa-demo"}, "spec": {"replicas": 5}});
    match deployments.patch("ssa-demo", &PatchOptions::apply("autoscaler"), &Patch::Apply(scale.clone())).await {
        Err(e) if e.is_conflict() => println!("autoscaler's apply conflicts: {e}"),
        Ok(_) => println!("autoscaler's apply went through (this server does not track field ownership)"),
        Err(e) => return Err(e.into()),
    }
    // Forcing takes ownership of spec.replicas.
    let d = deployments.patch("ssa-demo", &PatchOptions::apply("autoscaler").force(), &Patch::Apply(scale)).await?;
    println!("forced by autoscaler: replicas {:?}", d.spec.replicas);
    for mf in d.metadata.managed_fields.iter().flatten() {
        println!("  field manager {:?} ({:?})", mf.manager, mf.operation);
    }
    // A missing field manager is refused before anything is sent.
    let err = deployments.patch("ssa-demo", &PatchOptions::default(), &Patch::Apply(intent(1, "x"))).await.unwrap_err();
    println!("apply without a field manager: {err}");
    Ok(())
}
