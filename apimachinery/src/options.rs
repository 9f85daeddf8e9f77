//! Request options (`ListOptions`, `GetOptions`, `CreateOptions`, `UpdateOptions`,
//! `PatchOptions`, `DeleteOptions`) and their exact query-string encoding.
//!
//! Contract: a field left at its default is not sent; names are the API server's camelCase
//! parameter names; `dryRun=All` is the only dry-run value. `DeleteOptions` travels as a JSON
//! body (as client-go sends it), so preconditions can be expressed.

use serde::{Deserialize, Serialize};

/// Encodes `(name, value)` pairs as a URL query string (without the leading `?`).
pub fn encode_query<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, &v);
    }
    s.finish()
}

/// How `resourceVersion` is interpreted by a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceVersionMatch {
    /// Any state at least as new as the given resourceVersion.
    NotOlderThan,
    /// Exactly the state at the given resourceVersion.
    Exact,
}

impl ResourceVersionMatch {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotOlderThan => "NotOlderThan",
            Self::Exact => "Exact",
        }
    }
}

/// How strictly the server validates fields of an object sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields and return a Warning header (the server default).
    Warn,
    /// Reject unknown or duplicate fields with 400.
    Strict,
}

impl FieldValidation {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "Ignore",
            Self::Warn => "Warn",
            Self::Strict => "Strict",
        }
    }
}

/// Options for list and watch requests (client-go's `metav1.ListOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Label selector, e.g. `app=web,tier!=db`.
    pub label_selector: Option<String>,
    /// Field selector, e.g. `spec.nodeName=node-a`.
    pub field_selector: Option<String>,
    /// resourceVersion to list at or watch from (`""` unset, `"0"` any cached state).
    pub resource_version: Option<String>,
    /// How `resource_version` is matched (lists only).
    pub resource_version_match: Option<ResourceVersionMatch>,
    /// Page size; `None` or 0 for no paging.
    pub limit: Option<i64>,
    /// Continue token of the previous page.
    pub continue_token: Option<String>,
    /// Server-side timeout of the list or watch.
    pub timeout_seconds: Option<i64>,
    /// Ask the server for BOOKMARK events (watch only).
    pub allow_watch_bookmarks: bool,
    /// Streaming list: start the watch with ADDED events for the current state (watch only).
    pub send_initial_events: Option<bool>,
}

impl ListOptions {
    /// Sets the label selector (builder style).
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }
    /// Sets the field selector (builder style).
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }
    /// Sets the page size (builder style).
    pub fn limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit);
        self
    }
    /// Sets the resourceVersion (builder style).
    pub fn at(mut self, resource_version: impl Into<String>) -> Self {
        self.resource_version = Some(resource_version.into());
        self
    }

    /// The query parameters of a list request.
    pub fn list_query(&self) -> Vec<(&'static str, String)> {
        let mut q = self.common();
        if let Some(m) = self.resource_version_match {
            q.push(("resourceVersionMatch", m.as_str().into()));
        }
        if let Some(l) = self.limit.filter(|l| *l > 0) {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = self.continue_token.as_deref().filter(|c| !c.is_empty()) {
            q.push(("continue", c.into()));
        }
        q
    }

    /// The query parameters of a watch request (`watch=1` included).
    pub fn watch_query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("watch", "1".to_string())];
        q.extend(self.common());
        if self.allow_watch_bookmarks {
            q.push(("allowWatchBookmarks", "true".into()));
        }
        if let Some(s) = self.send_initial_events {
            q.push(("sendInitialEvents", s.to_string()));
            if let Some(m) = self.resource_version_match {
                q.push(("resourceVersionMatch", m.as_str().into()));
            }
        }
        q
    }

    fn common(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(s) = self.label_selector.as_deref().filter(|s| !s.is_empty()) {
            q.push(("labelSelector", s.into()));
        }
        if let Some(s) = self.field_selector.as_deref().filter(|s| !s.is_empty()) {
            q.push(("fieldSelector", s.into()));
        }
        if let Some(rv) = self.resource_version.as_deref().filter(|s| !s.is_empty()) {
            q.push(("resourceVersion", rv.into()));
        }
        if let Some(t) = self.timeout_seconds {
            q.push(("timeoutSeconds", t.to_string()));
        }
        q
    }
}

/// Options for get requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// resourceVersion to read at (`"0"`: any cached state).
    pub resource_version: Option<String>,
}

impl GetOptions {
    /// The query parameters.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        self.resource_version.iter().filter(|s| !s.is_empty()).map(|rv| ("resourceVersion", rv.clone())).collect()
    }
}

/// Options shared by create, update and patch: dry run, field manager, field validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Validate and admit, but do not persist (`dryRun=All`).
    pub dry_run: bool,
    /// Name of the actor making the change (recorded in managedFields).
    pub field_manager: Option<String>,
    /// How unknown fields are treated.
    pub field_validation: Option<FieldValidation>,
}

impl WriteOptions {
    fn push(&self, q: &mut Vec<(&'static str, String)>) {
        if self.dry_run {
            q.push(("dryRun", "All".into()));
        }
        if let Some(m) = self.field_manager.as_deref().filter(|s| !s.is_empty()) {
            q.push(("fieldManager", m.into()));
        }
        if let Some(v) = self.field_validation {
            q.push(("fieldValidation", v.as_str().into()));
        }
    }
}

/// Options for create requests.
pub type CreateOptions = WriteOptions;
/// Options for update requests.
pub type UpdateOptions = WriteOptions;

impl WriteOptions {
    /// The query parameters.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        self.push(&mut q);
        q
    }
}

/// Options for patch requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchOptions {
    /// Dry run, field manager (required for server-side apply), field validation.
    pub write: WriteOptions,
    /// Server-side apply only: take ownership of conflicting fields.
    pub force: bool,
}

impl PatchOptions {
    /// Options for server-side apply as `manager`.
    pub fn apply(manager: impl Into<String>) -> Self {
        Self { write: WriteOptions { field_manager: Some(manager.into()), ..WriteOptions::default() }, force: false }
    }
    /// Sets `force` (builder style).
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }
    /// The query parameters.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        self.write.push(&mut q);
        if self.force {
            q.push(("force", "true".into()));
        }
        q
    }
}

/// What happens to an object's dependents when it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PropagationPolicy {
    /// Leave dependents.
    Orphan,
    /// Delete the object now; the garbage collector deletes dependents.
    Background,
    /// Delete dependents first; the object waits with the `foregroundDeletion` finalizer.
    Foreground,
}

/// Preconditions a delete checks before acting (409 Conflict when they fail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preconditions {
    /// The uid the object must have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The resourceVersion the object must have.
    #[serde(rename = "resourceVersion", skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// Options for delete and deletecollection, sent as the JSON body (`kind: DeleteOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteOptions {
    /// Seconds before the object is removed (0: at once).
    #[serde(rename = "gracePeriodSeconds", skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    /// Preconditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preconditions: Option<Preconditions>,
    /// Dependents policy.
    #[serde(rename = "propagationPolicy", skip_serializing_if = "Option::is_none")]
    pub propagation_policy: Option<PropagationPolicy>,
    /// `["All"]` for a dry run.
    #[serde(rename = "dryRun", default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<String>,
}

impl DeleteOptions {
    /// The JSON body sent with DELETE.
    pub fn to_body(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}));
        if let Some(m) = v.as_object_mut() {
            m.insert("kind".into(), "DeleteOptions".into());
            m.insert("apiVersion".into(), "v1".into());
        }
        v
    }

    /// Requires the object to have this resourceVersion (builder style).
    pub fn with_resource_version(mut self, rv: impl Into<String>) -> Self {
        self.preconditions.get_or_insert_with(Preconditions::default).resource_version = Some(rv.into());
        self
    }

    /// Requires the object to have this uid (builder style).
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.preconditions.get_or_insert_with(Preconditions::default).uid = Some(uid.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_encodes_exactly() {
        let o = ListOptions {
            label_selector: Some("app in (a,b),!x".into()),
            field_selector: Some("spec.nodeName=n1".into()),
            resource_version: Some("0".into()),
            resource_version_match: Some(ResourceVersionMatch::NotOlderThan),
            limit: Some(500),
            continue_token: Some("abc=".into()),
            timeout_seconds: Some(30),
            allow_watch_bookmarks: true,
            send_initial_events: Some(true),
        };
        assert_eq!(
            encode_query(o.list_query()),
            "labelSelector=app+in+%28a%2Cb%29%2C%21x&fieldSelector=spec.nodeName%3Dn1&resourceVersion=0&timeoutSeconds=30&resourceVersionMatch=NotOlderThan&limit=500&continue=abc%3D"
        );
        assert_eq!(
            encode_query(o.watch_query()),
            "watch=1&labelSelector=app+in+%28a%2Cb%29%2C%21x&fieldSelector=spec.nodeName%3Dn1&resourceVersion=0&timeoutSeconds=30&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        );
        assert_eq!(encode_query(ListOptions::default().list_query()), "");
        // resourceVersionMatch is forbidden on a plain watch: not sent without sendInitialEvents.
        let w = ListOptions { resource_version_match: Some(ResourceVersionMatch::Exact), ..Default::default() };
        assert_eq!(encode_query(w.watch_query()), "watch=1");
    }

    #[test]
    fn write_and_patch_queries() {
        let p = PatchOptions::apply("rudder").force();
        assert_eq!(encode_query(p.query()), "fieldManager=rudder&force=true");
        let w = WriteOptions { dry_run: true, field_validation: Some(FieldValidation::Strict), ..Default::default() };
        assert_eq!(encode_query(w.query()), "dryRun=All&fieldValidation=Strict");
    }

    #[test]
    fn delete_body() {
        let d = DeleteOptions { propagation_policy: Some(PropagationPolicy::Foreground), ..Default::default() }
            .with_uid("u1")
            .with_resource_version("7");
        assert_eq!(
            d.to_body(),
            serde_json::json!({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground","preconditions":{"uid":"u1","resourceVersion":"7"}})
        );
    }
}
