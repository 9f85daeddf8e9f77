//! `#[derive(CustomResource)]` with only `rudder-apimachinery` (feature `derive`), `k8s-openapi`,
//! `serde` and `schemars` as dependencies: the derive finds `rudder_apimachinery::__private` by
//! itself, and the kind, its `Resource` impl and its CRD come out as through the facade.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rudder_apimachinery::crd::{merge_versions, CrdBuildError};
use rudder_apimachinery::{CustomResource, HasMetadata, Resource, Scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A backup job.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[resource(
    group = "ops.example.com",
    version = "v1",
    kind = "Backup",
    namespaced,
    status = "BackupStatus",
    derive = "PartialEq",
    shortname = "bk",
    printcolumn(name = "Target", json_path = ".spec.target", type = "string"),
    validation(rule = "self.metadata.name.size() <= 20")
)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// What to back up.
    #[schemars(length(min = 1))]
    pub target: String,
    /// How many to keep: a count or a percentage.
    pub keep: IntOrString,
    /// When to run, if not now.
    pub schedule: Option<String>,
}

/// What the controller saw.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct BackupStatus {
    /// Backups taken.
    pub taken: u32,
}

#[test]
fn the_derive_builds_the_kind_and_its_crd_without_the_facade() {
    assert_eq!(Backup::API_VERSION, "ops.example.com/v1");
    assert_eq!((Backup::PLURAL, Backup::SCOPE), ("backups", Scope::Namespaced));

    let mut backup = Backup::new(
        "nightly",
        BackupSpec { target: "db".into(), keep: IntOrString::String("50%".into()), schedule: None },
    );
    backup.status = Some(BackupStatus { taken: 2 });
    assert_eq!(backup.name(), "nightly");
    let v = serde_json::to_value(&backup).expect("a Backup serializes");
    assert_eq!(
        v,
        json!({"apiVersion": "ops.example.com/v1", "kind": "Backup", "metadata": {"name": "nightly"},
               "spec": {"target": "db", "keep": "50%", "schedule": null}, "status": {"taken": 2}})
    );
    assert_eq!(serde_json::from_value::<Backup>(v).expect("and decodes"), backup);

    let crd = serde_json::to_value(Backup::crd().expect("a CRD")).expect("a CRD serializes");
    assert_eq!(
        crd,
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "backups.ops.example.com"},
            "spec": {
                "group": "ops.example.com",
                "names": {"kind": "Backup", "listKind": "BackupList", "plural": "backups", "singular": "backup",
                          "shortNames": ["bk"]},
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1",
                    "served": true,
                    "storage": true,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [{"name": "Target", "jsonPath": ".spec.target", "type": "string"}],
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "required": ["spec"],
                        "x-kubernetes-validations": [{"rule": "self.metadata.name.size() <= 20"}],
                        "properties": {
                            "spec": {
                                "description": "A backup job.",
                                "type": "object",
                                "required": ["target", "keep"],
                                "properties": {
                                    "target": {"description": "What to back up.", "type": "string", "minLength": 1},
                                    "keep": {"description": "How many to keep: a count or a percentage.",
                                             "x-kubernetes-int-or-string": true},
                                    "schedule": {"description": "When to run, if not now.", "type": "string",
                                                 "nullable": true},
                                },
                            },
                            "status": {
                                "description": "What the controller saw.",
                                "type": "object",
                                "nullable": true,
                                "required": ["taken"],
                                "properties": {"taken": {"description": "Backups taken.", "type": "integer",
                                                         "minimum": 0.0}},
                            },
                        },
                    }},
                }],
            },
        })
    );
}

/// The older version, not stored.
pub mod v1beta1 {
    use super::*;

    /// A backup job (v1beta1).
    #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
    #[resource(group = "ops.example.com", version = "v1beta1", kind = "Backup", namespaced, storage = false)]
    pub struct BackupSpec {
        /// What to back up.
        pub target: String,
    }
}

#[test]
fn versions_merge_with_one_storage_version() {
    let merged = merge_versions([Backup::crd().unwrap(), v1beta1::Backup::crd().unwrap()], "v1").unwrap();
    let versions: Vec<(&str, bool)> = merged.spec.versions.iter().map(|v| (v.name.as_str(), v.storage)).collect();
    assert_eq!(versions, [("v1", true), ("v1beta1", false)]);
    let err = merge_versions([Backup::crd().unwrap(), Backup::crd().unwrap()], "v1").unwrap_err();
    assert!(matches!(&err, CrdBuildError::Versions(m) if m.contains("given twice")), "{err}");
}

/// A recursive spec: no structural schema.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[resource(group = "ops.example.com", version = "v1", kind = "Chain")]
pub struct ChainSpec {
    /// The next link.
    pub next: Option<Box<ChainSpec>>,
}

#[test]
fn a_type_without_a_structural_schema_is_a_typed_error() {
    match Chain::crd().unwrap_err() {
        CrdBuildError::NotStructural { kind, path, reason } => {
            assert_eq!(kind, "Chain");
            assert!(path.starts_with(".spec.properties.next"), "{path}");
            assert!(reason.contains("recursive"), "{reason}");
        }
        other => panic!("expected NotStructural, got {other}"),
    }
}

/// Where `crate = "..."` points instead: a module re-exporting the same items.
mod reexports {
    pub use rudder_apimachinery::__private::*;
}

/// A kind whose generated code names its dependencies through `crate = "..."`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[resource(group = "ops.example.com", version = "v1", kind = "Probe", crate = "crate::reexports")]
pub struct ProbeSpec {
    /// The port.
    pub port: u16,
}

#[test]
fn the_crate_option_still_overrides_the_search() {
    let crd = Probe::crd().unwrap();
    assert_eq!(crd.metadata.name.as_deref(), Some("probes.ops.example.com"));
    assert_eq!(crd.spec.scope, "Cluster");
}
