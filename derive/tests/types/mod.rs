//! Example custom resources shared by the golden, round-trip and kubectl tests.
#![allow(dead_code)]
// Clippy takes two printcolumn(type = "string") for one attribute given twice.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use rudder::schemars::JsonSchema;
use rudder::CustomResource;
use serde::{Deserialize, Serialize};

/// A cron job that runs an image on a schedule.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[resource(
    group = "stable.example.com",
    version = "v1",
    kind = "CronTab",
    namespaced,
    status = "CronTabStatus",
    derive = "PartialEq",
    scale(spec = ".spec.replicas", status = ".status.replicas", label_selector = ".status.selector"),
    printcolumn(name = "Schedule", json_path = ".spec.cronSpec", type = "string"),
    printcolumn(name = "Replicas", json_path = ".spec.replicas", type = "integer", description = "wanted copies"),
    printcolumn(name = "Image", json_path = ".spec.image", type = "string", priority = 1),
    shortname = "ct",
    category = "all",
    validation(rule = "self.metadata.name.size() <= 40", message = "names are at most 40 characters")
)]
#[serde(rename_all = "camelCase")]
pub struct CronTabSpec {
    /// The schedule, in cron format.
    #[schemars(regex(pattern = r"^(\S+\s){4}\S+$"))]
    pub cron_spec: String,
    /// How many copies run at once.
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// The image to run.
    #[schemars(length(min = 1))]
    pub image: String,
    /// What to do when a run is still going when the next is due.
    #[serde(default)]
    pub concurrency: Concurrency,
    /// Extra arguments, at most 8.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub args: Vec<String>,
    /// Deadline for starting a missed run: seconds or a percentage of the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline: Option<IntOrPercent>,
    /// Environment for the runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Free-form settings kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Value>,
    /// Runs to keep; must not shrink.
    #[serde(default = "default_history")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= oldSelf", "message": "history may only grow"}]))]
    pub history: u32,
}

fn default_history() -> u32 {
    3
}

/// What to do with overlapping runs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
pub enum Concurrency {
    /// Run them side by side.
    #[default]
    Allow,
    /// Skip the new run.
    Forbid,
    /// Stop the old run.
    Replace,
}

/// An integer or a string such as "25%".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[serde(untagged)]
pub enum IntOrPercent {
    Int(i32),
    Str(String),
}

/// What the controller saw.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
pub struct CronTabStatus {
    /// Copies running.
    pub replicas: i32,
    /// The selector of the copies' pods, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// When the last run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule: Option<String>,
}

/// The older version of CronTab, still served.
pub mod v1beta1 {
    use super::*;

    /// A cron job (v1beta1: no replicas yet).
    #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
    #[schemars(crate = "rudder::schemars")]
    #[resource(
        group = "stable.example.com",
        version = "v1beta1",
        kind = "CronTab",
        namespaced,
        storage = false,
        shortname = "ct",
        category = "all"
    )]
    #[serde(rename_all = "camelCase")]
    pub struct CronTabSpec {
        /// The schedule, in cron format.
        pub cron_spec: String,
        /// The image to run.
        pub image: String,
    }
}

/// A cluster-scoped kind without status whose spec is a tagged enum of sources.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[resource(group = "infra.example.com", version = "v1alpha1", kind = "Mirror", plural = "mirrors")]
pub struct MirrorSpec {
    /// Where to copy from.
    pub source: Source,
    /// Nested settings.
    pub options: Option<MirrorOptions>,
}

/// A source of data.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Source {
    /// A git repository.
    Git { url: String, branch: Option<String> },
    /// An S3 bucket.
    S3 { bucket: String },
}

/// Settings of a mirror.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[serde(deny_unknown_fields)]
pub struct MirrorOptions {
    /// Seconds between syncs.
    #[schemars(range(min = 1))]
    pub interval: u64,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
}

/// A kind whose spec is recursive: it has no structural schema.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
#[resource(group = "infra.example.com", version = "v1", kind = "Tree")]
pub struct TreeSpec {
    /// The root node.
    pub root: Node,
}

/// A node with children.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[schemars(crate = "rudder::schemars")]
pub struct Node {
    /// The children.
    pub children: Vec<Node>,
}
