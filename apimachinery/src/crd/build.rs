//! What `#[derive(CustomResource)]`'s generated `Kind::crd()` calls (through
//! `rudder_apimachinery::__private`, or the facade's `rudder::__private` re-exporting it): the
//! static description of one version of a kind, and the CustomResourceDefinition built from it
//! with a structural schema.
//!
//! Not a public API: the derive is its only caller, and it may change with the derive.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{json, Map, Value};

use super::CrdBuildError;

/// One additional printer column.
pub struct PrinterColumn {
    /// The column's header.
    pub name: &'static str,
    /// What it shows, a JSONPath into the object.
    pub json_path: &'static str,
    /// The OpenAPI type of the value (`string`, `integer`, `date` ...).
    pub type_: &'static str,
    /// The column's description.
    pub description: Option<&'static str>,
    /// The OpenAPI format of the value.
    pub format: Option<&'static str>,
    /// 0 (shown by default) or more (shown with `-o wide`).
    pub priority: Option<i32>,
}

/// The scale subresource's paths.
pub struct ScalePaths {
    /// `specReplicasPath`.
    pub spec_replicas: &'static str,
    /// `statusReplicasPath`.
    pub status_replicas: &'static str,
    /// `labelSelectorPath`.
    pub label_selector: Option<&'static str>,
}

/// A CEL rule on the whole object.
pub struct Rule {
    /// The CEL expression.
    pub rule: &'static str,
    /// The message when it fails.
    pub message: Option<&'static str>,
}

/// Everything the derive knows about one version of a kind.
pub struct CrdParts {
    /// The API group.
    pub group: &'static str,
    /// This version's name.
    pub version: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// The resource name.
    pub plural: &'static str,
    /// The singular name.
    pub singular: &'static str,
    /// Namespaced, else cluster-scoped.
    pub namespaced: bool,
    /// `kubectl` short names.
    pub short_names: &'static [&'static str],
    /// Categories (`all` ...).
    pub categories: &'static [&'static str],
    /// Additional printer columns.
    pub printer_columns: &'static [PrinterColumn],
    /// The scale subresource, if any.
    pub scale: Option<ScalePaths>,
    /// CEL rules on the whole object.
    pub rules: &'static [Rule],
    /// This version is served.
    pub served: bool,
    /// This version is the storage version.
    pub storage: bool,
    /// The spec type's schema.
    pub spec: fn() -> Schema,
    /// The status type's schema, when the kind has a status (and the status subresource).
    pub status: Option<fn() -> Schema>,
}

/// The OpenAPI v3 schema of `T`, every subschema inlined (what a CRD needs: no `$ref`).
pub fn schema_of<T: JsonSchema>() -> Schema {
    SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator()
        .into_root_schema_for::<T>()
}

/// A root schema of a type as a plain subschema: no title (the Rust type's name), no
/// definitions (inlining leaves some only for recursive types, whose `$ref`s then fail).
fn subschema(kind: &str, f: fn() -> Schema, path: &str) -> Result<Value, CrdBuildError> {
    let mut v = f().to_value();
    if let Value::Object(m) = &mut v {
        m.remove("title");
    }
    super::schema::structural(&mut v).map_err(|e| CrdBuildError::NotStructural {
        kind: kind.into(),
        path: format!("{path}{}", e.path),
        reason: e.reason,
    })?;
    Ok(v)
}

/// The CustomResourceDefinition of one version.
pub fn build_crd(p: &CrdParts) -> Result<CustomResourceDefinition, CrdBuildError> {
    let mut properties = Map::new();
    properties.insert("spec".into(), subschema(p.kind, p.spec, ".spec")?);
    if let Some(status) = p.status {
        let mut s = subschema(p.kind, status, ".status")?;
        s["nullable"] = Value::Bool(true);
        properties.insert("status".into(), s);
    }
    let mut root = json!({
        "type": "object",
        "properties": properties,
        "required": ["spec"],
    });
    if !p.rules.is_empty() {
        let rules: Vec<Value> = p
            .rules
            .iter()
            .map(|r| match r.message {
                Some(m) => json!({"rule": r.rule, "message": m}),
                None => json!({"rule": r.rule}),
            })
            .collect();
        root["x-kubernetes-validations"] = Value::Array(rules);
    }
    let mut version = json!({
        "name": p.version,
        "served": p.served,
        "storage": p.storage,
        "schema": {"openAPIV3Schema": root},
    });
    let mut subresources = Map::new();
    if p.status.is_some() {
        subresources.insert("status".into(), json!({}));
    }
    if let Some(s) = &p.scale {
        let mut scale = json!({"specReplicasPath": s.spec_replicas, "statusReplicasPath": s.status_replicas});
        if let Some(sel) = s.label_selector {
            scale["labelSelectorPath"] = sel.into();
        }
        subresources.insert("scale".into(), scale);
    }
    if !subresources.is_empty() {
        version["subresources"] = Value::Object(subresources);
    }
    if !p.printer_columns.is_empty() {
        let columns: Vec<Value> = p
            .printer_columns
            .iter()
            .map(|c| {
                let mut col = json!({"name": c.name, "jsonPath": c.json_path, "type": c.type_});
                if let Some(d) = c.description {
                    col["description"] = d.into();
                }
                if let Some(f) = c.format {
                    col["format"] = f.into();
                }
                if let Some(pr) = c.priority {
                    col["priority"] = pr.into();
                }
                col
            })
            .collect();
        version["additionalPrinterColumns"] = Value::Array(columns);
    }
    let mut names = json!({
        "kind": p.kind,
        "listKind": format!("{}List", p.kind),
        "plural": p.plural,
        "singular": p.singular,
    });
    if !p.short_names.is_empty() {
        names["shortNames"] = json!(p.short_names);
    }
    if !p.categories.is_empty() {
        names["categories"] = json!(p.categories);
    }
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{}", p.plural, p.group)},
        "spec": {
            "group": p.group,
            "names": names,
            "scope": if p.namespaced { "Namespaced" } else { "Cluster" },
            "versions": [version],
        },
    });
    serde_json::from_value(crd).map_err(|e| CrdBuildError::Invalid { kind: p.kind.into(), reason: e.to_string() })
}
