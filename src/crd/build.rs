//! What `#[derive(CustomResource)]`'s generated `Kind::crd()` calls (through
//! `rudder::__private`): the static description of one version of a kind, and the
//! CustomResourceDefinition built from it with a structural schema.
//!
//! Not a public API: the derive is its only caller, and it may change with the derive.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{json, Map, Value};

use super::CrdError;

/// One additional printer column.
pub struct PrinterColumn {
    pub name: &'static str,
    pub json_path: &'static str,
    pub type_: &'static str,
    pub description: Option<&'static str>,
    pub format: Option<&'static str>,
    pub priority: Option<i32>,
}

/// The scale subresource's paths.
pub struct ScalePaths {
    pub spec_replicas: &'static str,
    pub status_replicas: &'static str,
    pub label_selector: Option<&'static str>,
}

/// A CEL rule on the whole object.
pub struct Rule {
    pub rule: &'static str,
    pub message: Option<&'static str>,
}

/// Everything the derive knows about one version of a kind.
pub struct CrdParts {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub printer_columns: &'static [PrinterColumn],
    pub scale: Option<ScalePaths>,
    pub rules: &'static [Rule],
    pub served: bool,
    pub storage: bool,
    pub spec: fn() -> Schema,
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
fn subschema(kind: &str, f: fn() -> Schema, path: &str) -> Result<Value, CrdError> {
    let mut v = f().to_value();
    if let Value::Object(m) = &mut v {
        m.remove("title");
    }
    super::schema::structural(&mut v).map_err(|e| CrdError::NotStructural {
        kind: kind.into(),
        path: format!("{path}{}", e.path),
        reason: e.reason,
    })?;
    Ok(v)
}

/// The CustomResourceDefinition of one version.
pub fn build_crd(p: &CrdParts) -> Result<CustomResourceDefinition, CrdError> {
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
    serde_json::from_value(crd).map_err(|e| CrdError::Invalid { kind: p.kind.into(), reason: e.to_string() })
}
