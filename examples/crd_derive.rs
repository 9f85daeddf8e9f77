//! A custom resource from a Rust type: `#[derive(CustomResource)]` generates the `CronTab` type
//! and its CustomResourceDefinition; the example installs the CRD (server-side apply), waits
//! until it is established, then creates, lists, scales and patches the status of typed objects.
//!
//! `cargo run --example crd_derive --features derive` (on a real cluster: `-- --yes`, after it has
//! said where it would write). It deletes its objects, and the CRD when it was the one that
//! created it. `-- --print-crd` prints the generated CRD as YAML and exits.

mod common;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use rudder::apimachinery::options::{DeleteOptions, ListOptions, PatchOptions, WriteOptions};
use rudder::apimachinery::{HasMetadata, Patch};
use rudder::client::api::Api;
use rudder::crd::{apply_crd, wait_established};
use rudder::schemars::JsonSchema;
use rudder::CustomResource;
use serde::{Deserialize, Serialize};

/// A job that runs an image on a schedule.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[resource(
    group = "derive.rudder.example.com",
    version = "v1",
    kind = "CronTab",
    namespaced,
    status = "CronTabStatus",
    shortname = "rct",
    scale(spec = ".spec.replicas", status = ".status.replicas"),
    printcolumn(name = "Schedule", json_path = ".spec.cronSpec", type = "string")
)]
#[serde(rename_all = "camelCase")]
pub struct CronTabSpec {
    /// The schedule, in cron format.
    #[schemars(regex(pattern = r"^(\S+\s){4}\S+$"))]
    cron_spec: String,
    /// The image to run.
    #[schemars(length(min = 1))]
    image: String,
    /// Copies that run at once.
    #[schemars(range(min = 0, max = 10))]
    replicas: i32,
}

/// What the controller saw.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[serde(rename_all = "camelCase")]
pub struct CronTabStatus {
    /// Copies running.
    replicas: i32,
}

const MANAGER: &str = "rudder-example-crd-derive";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let crd = CronTab::crd()?;
    if std::env::args().any(|a| a == "--print-crd") {
        print!("{}", serde_yaml_ng::to_string(&crd)?);
        return Ok(());
    }
    let (conn, namespace) = common::connect_to_write().await?;
    let client = conn.client.clone();
    let name = crd.metadata.name.clone().unwrap_or_default();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let existed = crds.get_opt(&name).await?.is_some();
    apply_crd(&client, &crd, MANAGER).await?;
    wait_established(&client, &name, Duration::from_secs(30)).await?;
    println!("CRD {name} applied and established");

    let cts: Api<CronTab> = Api::namespaced(client.clone(), &namespace);
    let result = use_it(&cts).await;
    for n in ["nightly", "hourly"] {
        if cts.get_opt(n).await?.is_some() {
            cts.delete(n, &DeleteOptions::default()).await?;
            println!("deleted crontab {n}");
        }
    }
    if !existed {
        crds.delete(&name, &DeleteOptions::default()).await?;
        println!("deleted CRD {name}");
    }
    result
}

async fn use_it(cts: &Api<CronTab>) -> Result<(), Box<dyn std::error::Error>> {
    let spec = |s: &str, r| CronTabSpec { cron_spec: s.into(), image: "busybox".into(), replicas: r };
    cts.create(&WriteOptions::default(), &CronTab::new("nightly", spec("0 3 * * *", 1))).await?;
    cts.create(&WriteOptions::default(), &CronTab::new("hourly", spec("0 * * * *", 2))).await?;
    for ct in cts.list(&ListOptions::default()).await?.items {
        println!("crontab {}: {:?} x{} ({})", ct.name(), ct.spec.cron_spec, ct.spec.replicas, ct.spec.image);
    }

    let mut scale = cts.get_scale("nightly").await?;
    scale.spec.get_or_insert_with(Default::default).replicas = Some(3);
    cts.replace_scale("nightly", &WriteOptions::default(), &scale).await?;
    println!("scaled nightly: spec.replicas is now {}", cts.get("nightly").await?.spec.replicas);

    let status = serde_json::json!({"status": CronTabStatus { replicas: 3 }});
    let ct = cts.patch_status("nightly", &PatchOptions::default(), &Patch::Merge(status)).await?;
    println!("nightly's status: {:?}", ct.status);
    Ok(())
}
