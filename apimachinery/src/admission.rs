//! `admission.k8s.io/v1` `AdmissionReview`: what the API server sends an admission webhook and
//! what the webhook answers (k8s-openapi has no such types: the API server never stores them).
//!
//! Contract:
//! - [`AdmissionReview<T>`] decodes what a real API server sends (field names and casing of
//!   `k8s.io/api/admission/v1`), with `object`/`oldObject` decoded as `T` (a k8s-openapi kind,
//!   a custom resource type, or [`DynamicObject`](crate::DynamicObject) for any).
//! - [`AdmissionReview::request`] fails with a typed error when the review carries no request
//!   or is not `admission.k8s.io/v1` (the only version a webhook configuration may list today
//!   besides v1beta1, whose request has the same shape and which is accepted too).
//! - A response is built from its request ([`AdmissionResponse::allow`],
//!   [`AdmissionResponse::deny`]), so its `uid` always echoes the request's, as the API server
//!   requires; [`AdmissionResponse::with_patch`] attaches a JSON Patch (RFC 6902) base64-encoded
//!   with `patchType: JSONPatch`; [`AdmissionResponse::into_review`] wraps it for the wire.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::{GroupVersionKind, GroupVersionResource};
use crate::status::Status;

/// The API version of the reviews this module builds.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The kind of the wrapper.
pub const KIND: &str = "AdmissionReview";

/// The wrapper sent both ways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview<T> {
    /// `admission.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `AdmissionReview`.
    #[serde(default)]
    pub kind: String,
    /// What the API server asks (set in requests).
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub request: Option<AdmissionRequest<T>>,
    /// What the webhook answers (set in responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<AdmissionResponse>,
}

/// Why a review cannot be handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionError {
    /// The review has no `request`.
    #[error("the AdmissionReview carries no request")]
    NoRequest,
    /// The review is not an `admission.k8s.io` `AdmissionReview`.
    #[error("not an admission.k8s.io/v1 AdmissionReview: apiVersion {api_version:?}, kind {kind:?}")]
    WrongType {
        /// The apiVersion sent.
        api_version: String,
        /// The kind sent.
        kind: String,
    },
}

impl<T> AdmissionReview<T> {
    /// The request, checked to be one.
    pub fn request(self) -> Result<AdmissionRequest<T>, AdmissionError> {
        let known = matches!(self.api_version.as_str(), "admission.k8s.io/v1" | "admission.k8s.io/v1beta1");
        if !known || self.kind != KIND {
            return Err(AdmissionError::WrongType { api_version: self.api_version, kind: self.kind });
        }
        self.request.ok_or(AdmissionError::NoRequest)
    }

    /// A review carrying `request` (what the API server sends).
    pub fn for_request(request: AdmissionRequest<T>) -> Self {
        Self { api_version: API_VERSION.into(), kind: KIND.into(), request: Some(request), response: None }
    }
}

/// The operation being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// A create (including a create through `update` of a missing object).
    Create,
    /// An update or patch.
    Update,
    /// A delete.
    Delete,
    /// A connect (exec, attach, port-forward, proxy).
    Connect,
}

impl Operation {
    /// The wire name (`CREATE` ...), as webhook rules list it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// Who sent the request being admitted (`authentication.k8s.io/v1` `UserInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// The user's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// A unique value identifying the user across time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The groups the user is in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes from the authenticator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What is being admitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest<T> {
    /// Identifies this call; the response must echo it.
    pub uid: String,
    /// The kind of `object`, as the webhook asked for it (after conversion).
    pub kind: GroupVersionKind,
    /// The resource being written.
    pub resource: GroupVersionResource,
    /// The subresource (`status`, `scale` ...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_resource: Option<String>,
    /// The kind the client sent, before any conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_kind: Option<GroupVersionKind>,
    /// The resource the client wrote, before any conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_resource: Option<GroupVersionResource>,
    /// The subresource the client wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sub_resource: Option<String>,
    /// The object's name (may be empty on create with `generateName`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The namespace, for namespaced resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The operation.
    pub operation: Operation,
    /// Who asked.
    #[serde(default)]
    pub user_info: UserInfo,
    /// The new object (create, update; absent on delete).
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub object: Option<T>,
    /// The object before the change (update, delete).
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub old_object: Option<T>,
    /// Whether the write is a dry run (a webhook with side effects must not make them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// The operation's options (`CreateOptions`, `UpdateOptions`, `DeleteOptions`), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

fn none<T>() -> Option<T> {
    None
}

/// The webhook's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The request's uid.
    pub uid: String,
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Why not (shown to the user when denied: its message, reason and code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Status>,
    /// A JSON Patch (RFC 6902) to apply to the object, base64-encoded on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "base64_bytes")]
    pub patch: Option<Vec<u8>>,
    /// `JSONPatch` when `patch` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Annotations for the audit log.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
    /// Warnings returned to the client (`Warning` headers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl AdmissionResponse {
    /// Allows `request` unchanged.
    pub fn allow<T>(request: &AdmissionRequest<T>) -> Self {
        Self { uid: request.uid.clone(), allowed: true, ..Self::default() }
    }

    /// Denies `request`: the client sees `message` with `code` (403 is what the API server uses
    /// when a webhook gives none).
    pub fn deny<T>(request: &AdmissionRequest<T>, code: u16, message: impl Into<String>) -> Self {
        let status = Status::failure(code, crate::status::ReasonKind::from_code(code), message);
        Self { uid: request.uid.clone(), allowed: false, result: Some(status), ..Self::default() }
    }

    /// Attaches a JSON Patch (an array of RFC 6902 operations) to apply to the object; an
    /// empty array attaches nothing.
    pub fn with_patch(mut self, operations: &Value) -> Result<Self, serde_json::Error> {
        if operations.as_array().is_some_and(|a| a.is_empty()) {
            return Ok(self);
        }
        self.patch = Some(serde_json::to_vec(operations)?);
        self.patch_type = Some("JSONPatch".into());
        Ok(self)
    }

    /// Adds a warning for the client.
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// The JSON Patch operations, decoded; `None` without a patch.
    pub fn patch_operations(&self) -> Option<Result<Value, serde_json::Error>> {
        self.patch.as_deref().map(serde_json::from_slice)
    }

    /// The review that carries this response (what the webhook sends back).
    pub fn into_review(self) -> AdmissionReview<Value> {
        AdmissionReview { api_version: API_VERSION.into(), kind: KIND.into(), request: None, response: Some(self) }
    }
}

mod base64_bytes {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| base64::engine::general_purpose::STANDARD.decode(s).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DynamicObject;
    use serde_json::json;

    fn sample() -> Value {
        // The shape a 1.32 API server sends for `kubectl create configmap x` (trimmed).
        json!({
            "kind": "AdmissionReview",
            "apiVersion": "admission.k8s.io/v1",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "resource": {"group": "", "version": "v1", "resource": "configmaps"},
                "requestKind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "requestResource": {"group": "", "version": "v1", "resource": "configmaps"},
                "name": "x",
                "namespace": "default",
                "operation": "CREATE",
                "userInfo": {"username": "admin", "uid": "014fbff9", "groups": ["system:authenticated"]},
                "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}, "data": {"a": "b"}},
                "oldObject": null,
                "dryRun": false,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
            }
        })
    }

    #[test]
    fn requests_decode_into_typed_and_dynamic_objects() {
        let typed: AdmissionReview<k8s_openapi::api::core::v1::ConfigMap> = serde_json::from_value(sample()).unwrap();
        let req = typed.request().unwrap();
        assert_eq!(req.operation, Operation::Create);
        assert_eq!(req.kind.kind, "ConfigMap");
        assert_eq!(req.resource.resource, "configmaps");
        assert_eq!(req.namespace.as_deref(), Some("default"));
        assert_eq!(req.user_info.groups, ["system:authenticated"]);
        let data = req.object.as_ref().and_then(|o| o.data.as_ref()).unwrap();
        assert_eq!(data.get("a").map(String::as_str), Some("b"));
        assert!(req.old_object.is_none(), "null oldObject is None");
        let dynamic: AdmissionReview<DynamicObject> = serde_json::from_value(sample()).unwrap();
        assert_eq!(dynamic.request().unwrap().object.unwrap().data["data"]["a"], "b");
    }

    #[test]
    fn reviews_without_a_request_or_of_another_type_are_typed_errors() {
        let mut v = sample();
        v["request"] = Value::Null;
        let r: AdmissionReview<Value> = serde_json::from_value(v).unwrap();
        assert_eq!(r.request().unwrap_err(), AdmissionError::NoRequest);
        let mut v = sample();
        v["apiVersion"] = json!("v1");
        let r: AdmissionReview<Value> = serde_json::from_value(v).unwrap();
        assert!(matches!(r.request(), Err(AdmissionError::WrongType { .. })));
    }

    #[test]
    fn responses_echo_the_uid_and_carry_a_base64_json_patch() {
        let req = AdmissionReview::<Value>::request(serde_json::from_value(sample()).unwrap()).unwrap();
        let ops = json!([{"op": "add", "path": "/metadata/labels", "value": {"admitted": "true"}}]);
        let review = AdmissionResponse::allow(&req).with_patch(&ops).unwrap().with_warning("w").into_review();
        let wire = serde_json::to_value(&review).unwrap();
        assert_eq!(wire["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(wire["kind"], "AdmissionReview");
        assert_eq!(wire["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(wire["response"]["allowed"], true);
        assert_eq!(wire["response"]["patchType"], "JSONPatch");
        let patch =
            base64::engine::general_purpose::STANDARD.decode(wire["response"]["patch"].as_str().unwrap()).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&patch).unwrap(), ops);
        assert_eq!(wire["response"]["warnings"], json!(["w"]));
        // And back: what the API server reads.
        let back: AdmissionReview<Value> = serde_json::from_value(wire).unwrap();
        assert_eq!(back.response.unwrap().patch_operations().unwrap().unwrap(), ops);

        let denied = serde_json::to_value(AdmissionResponse::deny(&req, 403, "no limits").into_review()).unwrap();
        assert_eq!(denied["response"]["allowed"], false);
        assert_eq!(denied["response"]["result"]["message"], "no limits");
        assert_eq!(denied["response"]["result"]["code"], 403);
        assert!(denied["response"].get("patch").is_none());
        let empty = AdmissionResponse::allow(&req).with_patch(&json!([])).unwrap();
        assert!(empty.patch.is_none() && empty.patch_type.is_none(), "an empty patch is no patch");
    }
}
