//! Pure request building: every verb on every resource as an `http::Request<Bytes>` value,
//! computed without I/O (the [`Client`](crate::Client) only executes what this module builds).
//!
//! Contract:
//! - URIs are relative (`/api/v1/namespaces/ns/pods?limit=5`); the client makes them absolute.
//!   Paths come from [`ApiResource`], so typed and dynamic requests share them, and every path
//!   segment is percent-encoded.
//! - A namespace, name or subresource that is given but empty is rejected with
//!   [`Error::InvalidRequest`] naming it, before anything is sent. A namespace given for a
//!   cluster-scoped kind is ignored (as client-go does).
//! - Query strings are exactly the option structs' encodings; option fields at their defaults
//!   are not sent.
//! - Bodies are JSON, or protobuf for object bodies when [`Request::content_type`] chose it
//!   for a kind with a protobuf message (see [`ContentType`]). Objects written to the main resource (create, replace) get `apiVersion`
//!   and `kind` from the `ApiResource` when they lack them (views and dynamic objects often do).
//!   DELETE carries `DeleteOptions` as its body.
//! - Patches carry `Patch::content_type()`; server-side apply without a field manager, and
//!   `force` on anything but apply, are rejected locally (the server would answer 422).
//! - `Accept` is `application/json` (with protobuf: `application/vnd.kubernetes.protobuf,
//!   application/json` for gets, lists, watches, creates and replaces); the metadata-only forms ask for `PartialObjectMetadata`
//!   (single objects) or `PartialObjectMetadataList` (lists and watches).

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::Method;
use serde::Serialize;

use rudder_apimachinery::options::{encode_query, DeleteOptions, GetOptions, ListOptions, PatchOptions, WriteOptions};
use rudder_apimachinery::patch::Patch;
use rudder_apimachinery::resource::{ApiResource, Scope};

use crate::config::ContentType;
use crate::error::{Error, Result};

/// `Accept` for ordinary JSON requests.
pub const ACCEPT_JSON: &str = "application/json";
/// `Accept` preferring protobuf, with JSON as the fallback (client-go's for protobuf clients).
pub const ACCEPT_PROTOBUF: &str = "application/vnd.kubernetes.protobuf, application/json";
/// `Accept` asking for one object's metadata only.
pub const ACCEPT_METADATA: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
/// `Accept` asking for a list (or watch) of metadata only.
pub const ACCEPT_METADATA_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

/// Options of a `pods/log` request (client-go's `PodLogOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// The container to read; required when the pod has more than one.
    pub container: Option<String>,
    /// Keep the response open and stream new lines as they are written.
    pub follow: bool,
    /// Read the previous (terminated) instance of the container.
    pub previous: bool,
    /// Only lines newer than this many seconds.
    pub since_seconds: Option<i64>,
    /// Only the last N lines.
    pub tail_lines: Option<i64>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<i64>,
}

impl LogOptions {
    /// The query parameters.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(c) = self.container.as_deref().filter(|c| !c.is_empty()) {
            q.push(("container", c.to_string()));
        }
        if self.follow {
            q.push(("follow", "true".into()));
        }
        if self.previous {
            q.push(("previous", "true".into()));
        }
        if let Some(s) = self.since_seconds {
            q.push(("sinceSeconds", s.to_string()));
        }
        if let Some(t) = self.tail_lines {
            q.push(("tailLines", t.to_string()));
        }
        if self.timestamps {
            q.push(("timestamps", "true".into()));
        }
        if let Some(l) = self.limit_bytes {
            q.push(("limitBytes", l.to_string()));
        }
        q
    }
}

/// Builds requests for one resource, in one namespace or across all (or at cluster scope).
///
/// ```
/// use rudder_client::request::Request;
/// use rudder_apimachinery::{ApiResource, ListOptions};
/// use k8s_openapi::api::core::v1::Pod;
/// let r = Request::new(ApiResource::of::<Pod>(), Some("default"));
/// let req = r.list(&ListOptions::default().limit(5)).unwrap();
/// assert_eq!(req.uri(), "/api/v1/namespaces/default/pods?limit=5");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    resource: ApiResource,
    namespace: Option<String>,
    /// Protobuf for objects of this kind (chosen and available).
    protobuf: bool,
}

impl Request {
    /// Requests for `resource` in `namespace` (`None`: all namespaces, or cluster scope).
    pub fn new(resource: ApiResource, namespace: Option<&str>) -> Self {
        Self { resource, namespace: namespace.map(str::to_string), protobuf: false }
    }

    /// Uses `content_type` for object requests; protobuf applies only to kinds with a protobuf
    /// message (built-in kinds), the others stay JSON.
    pub fn content_type(mut self, content_type: ContentType) -> Self {
        self.protobuf = content_type == ContentType::Protobuf
            && rudder_apimachinery::protobuf::has_message(&self.resource.api_version, &self.resource.kind);
        self
    }

    /// Whether object requests use protobuf.
    pub fn is_protobuf(&self) -> bool {
        self.protobuf
    }

    fn accept(&self) -> &'static str {
        if self.protobuf {
            ACCEPT_PROTOBUF
        } else {
            ACCEPT_JSON
        }
    }

    /// The resource.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// The namespace requests are scoped to (`None` for cluster-scoped kinds and all-namespace
    /// requests).
    pub fn namespace(&self) -> Option<&str> {
        match self.resource.scope {
            Scope::Namespaced => self.namespace.as_deref(),
            Scope::Cluster => None,
        }
    }

    fn ns(&self) -> Result<Option<&str>> {
        match self.namespace() {
            Some("") => Err(Error::InvalidRequest(format!(
                "empty namespace for {} (use all namespaces instead of \"\")",
                self.resource.plural
            ))),
            ns => Ok(ns),
        }
    }

    fn collection(&self) -> Result<String> {
        Ok(self.resource.collection_path(self.ns()?))
    }

    fn object(&self, name: &str, subresource: Option<&str>) -> Result<String> {
        if name.is_empty() {
            return Err(Error::InvalidRequest(format!("empty name for a {} request", self.resource.plural)));
        }
        if subresource == Some("") {
            return Err(Error::InvalidRequest(format!("empty subresource of {}/{name}", self.resource.plural)));
        }
        Ok(self.resource.object_path(self.ns()?, name, subresource))
    }

    /// GET one object.
    pub fn get(&self, name: &str, opts: &GetOptions) -> Result<http::Request<Bytes>> {
        build(Method::GET, &self.object(name, None)?, opts.query(), self.accept(), None)
    }

    /// GET one object's metadata only (`PartialObjectMetadata`).
    pub fn get_metadata(&self, name: &str, opts: &GetOptions) -> Result<http::Request<Bytes>> {
        build(Method::GET, &self.object(name, None)?, opts.query(), ACCEPT_METADATA, None)
    }

    /// LIST the collection.
    pub fn list(&self, opts: &ListOptions) -> Result<http::Request<Bytes>> {
        build(Method::GET, &self.collection()?, opts.list_query(), self.accept(), None)
    }

    /// LIST the collection's metadata only (`PartialObjectMetadataList`).
    pub fn list_metadata(&self, opts: &ListOptions) -> Result<http::Request<Bytes>> {
        build(Method::GET, &self.collection()?, opts.list_query(), ACCEPT_METADATA_LIST, None)
    }

    /// WATCH the collection (`watch=1`).
    pub fn watch(&self, opts: &ListOptions) -> Result<http::Request<Bytes>> {
        build(Method::GET, &self.collection()?, opts.watch_query(), self.accept(), None)
    }

    /// WATCH the collection's metadata only.
    pub fn watch_metadata(&self, opts: &ListOptions) -> Result<http::Request<Bytes>> {
        build(Method::GET, &self.collection()?, opts.watch_query(), ACCEPT_METADATA_LIST, None)
    }

    /// POST a new object to the collection.
    pub fn create<T: Serialize>(&self, opts: &WriteOptions, obj: &T) -> Result<http::Request<Bytes>> {
        let body = self.object_body(obj)?;
        build(Method::POST, &self.collection()?, opts.query(), self.accept(), Some(body))
    }

    /// PUT an object (client-go's Update).
    pub fn replace<T: Serialize>(&self, name: &str, opts: &WriteOptions, obj: &T) -> Result<http::Request<Bytes>> {
        let body = self.object_body(obj)?;
        build(Method::PUT, &self.object(name, None)?, opts.query(), self.accept(), Some(body))
    }

    /// PATCH an object.
    pub fn patch(&self, name: &str, opts: &PatchOptions, patch: &Patch) -> Result<http::Request<Bytes>> {
        self.patch_at(name, None, opts, patch)
    }

    /// DELETE an object, with `opts` as the body.
    pub fn delete(&self, name: &str, opts: &DeleteOptions) -> Result<http::Request<Bytes>> {
        let body = json(&opts.to_body(), "DeleteOptions")?;
        build(Method::DELETE, &self.object(name, None)?, Vec::new(), ACCEPT_JSON, Some((ACCEPT_JSON, body)))
    }

    /// DELETE every object `list` selects (deletecollection), with `delete` as the body.
    pub fn delete_collection(&self, list: &ListOptions, delete: &DeleteOptions) -> Result<http::Request<Bytes>> {
        let body = json(&delete.to_body(), "DeleteOptions")?;
        build(Method::DELETE, &self.collection()?, list.list_query(), ACCEPT_JSON, Some((ACCEPT_JSON, body)))
    }

    /// GET a subresource (`status`, `scale`, ...).
    pub fn get_subresource(&self, subresource: &str, name: &str) -> Result<http::Request<Bytes>> {
        build(Method::GET, &self.object(name, Some(subresource))?, Vec::new(), ACCEPT_JSON, None)
    }

    /// POST to a subresource (`binding`, `eviction`). The body is sent as given.
    pub fn create_subresource<T: Serialize>(
        &self,
        subresource: &str,
        name: &str,
        opts: &WriteOptions,
        body: &T,
    ) -> Result<http::Request<Bytes>> {
        let body = json(body, subresource)?;
        let path = self.object(name, Some(subresource))?;
        build(Method::POST, &path, opts.query(), ACCEPT_JSON, Some((ACCEPT_JSON, body)))
    }

    /// PUT a subresource. A `status` body is the main object, so it gets `apiVersion`/`kind`
    /// like [`Request::replace`]; other subresource bodies (Scale) are sent as given.
    pub fn replace_subresource<T: Serialize>(
        &self,
        subresource: &str,
        name: &str,
        opts: &WriteOptions,
        body: &T,
    ) -> Result<http::Request<Bytes>> {
        let (accept, body) = if subresource == "status" {
            (self.accept(), self.object_body(body)?)
        } else {
            (ACCEPT_JSON, (ACCEPT_JSON, json(body, subresource)?))
        };
        let path = self.object(name, Some(subresource))?;
        build(Method::PUT, &path, opts.query(), accept, Some(body))
    }

    /// PATCH a subresource.
    pub fn patch_subresource(
        &self,
        subresource: &str,
        name: &str,
        opts: &PatchOptions,
        patch: &Patch,
    ) -> Result<http::Request<Bytes>> {
        self.patch_at(name, Some(subresource), opts, patch)
    }

    /// GET a pod's log (`pods/{name}/log`); the answer is plain text.
    pub fn logs(&self, name: &str, opts: &LogOptions) -> Result<http::Request<Bytes>> {
        build(Method::GET, &self.object(name, Some("log"))?, opts.query(), "text/plain, */*", None)
    }

    fn patch_at(
        &self,
        name: &str,
        subresource: Option<&str>,
        opts: &PatchOptions,
        patch: &Patch,
    ) -> Result<http::Request<Bytes>> {
        let path = self.object(name, subresource)?;
        if patch.is_apply() && opts.write.field_manager.as_deref().is_none_or(str::is_empty) {
            return Err(Error::InvalidRequest(format!(
                "server-side apply of {path} needs a field manager (PatchOptions::apply(\"name\"))"
            )));
        }
        if opts.force && !patch.is_apply() {
            return Err(Error::InvalidRequest(format!(
                "force is only valid for server-side apply, not for a {} patch of {path}",
                patch.content_type()
            )));
        }
        let body = Bytes::from(patch.to_bytes());
        build(Method::PATCH, &path, opts.query(), ACCEPT_JSON, Some((patch.content_type(), body)))
    }

    /// Serializes an object for the main resource, adding `apiVersion`/`kind` when absent:
    /// its content type and bytes.
    fn object_body<T: Serialize>(&self, obj: &T) -> Result<(&'static str, Bytes)> {
        let mut v = serde_json::to_value(obj)
            .map_err(|e| Error::InvalidRequest(format!("cannot serialize the {} object: {e}", self.resource.kind)))?;
        let Some(m) = v.as_object_mut() else {
            return Err(Error::InvalidRequest(format!(
                "a {} object must serialize to a JSON object, not {}",
                self.resource.kind,
                kind_of_json(&v)
            )));
        };
        if m.get("apiVersion").and_then(|a| a.as_str()).is_none_or(str::is_empty) {
            m.insert("apiVersion".into(), self.resource.api_version.to_string().into());
        }
        if m.get("kind").and_then(|a| a.as_str()).is_none_or(str::is_empty) {
            m.insert("kind".into(), self.resource.kind.to_string().into());
        }
        if self.protobuf {
            let bytes = rudder_apimachinery::protobuf::to_vec(&v).map_err(|e| {
                Error::InvalidRequest(format!("cannot encode the {} body as protobuf: {e}", self.resource.kind))
            })?;
            return Ok((rudder_apimachinery::protobuf::CONTENT_TYPE, Bytes::from(bytes)));
        }
        Ok((ACCEPT_JSON, json(&v, &self.resource.kind)?))
    }
}

fn kind_of_json(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn json<T: Serialize + ?Sized>(v: &T, what: &str) -> Result<Bytes> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(|e| Error::InvalidRequest(format!("cannot serialize the {what} body: {e}")))
}

/// Builds a request with a path, query pairs, an `Accept` header and an optional
/// `(content type, body)`.
pub(crate) fn build(
    method: Method,
    path: &str,
    query: Vec<(&'static str, String)>,
    accept: &str,
    body: Option<(&str, Bytes)>,
) -> Result<http::Request<Bytes>> {
    let q = encode_query(query);
    let uri = if q.is_empty() { path.to_string() } else { format!("{path}?{q}") };
    let mut b = http::Request::builder().method(method).uri(&uri).header(ACCEPT, accept);
    let body = match body {
        Some((ct, body)) => {
            b = b.header(CONTENT_TYPE, ct);
            body
        }
        None => Bytes::new(),
    };
    b.body(body).map_err(|e| Error::InvalidRequest(format!("cannot build a request for {uri:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
    use rudder_apimachinery::options::{PropagationPolicy, ResourceVersionMatch};
    use rudder_apimachinery::DynamicObject;
    use serde_json::json;

    fn pods(ns: Option<&str>) -> Request {
        Request::new(ApiResource::of::<Pod>(), ns)
    }

    fn header(r: &http::Request<Bytes>, h: http::header::HeaderName) -> Option<&str> {
        r.headers().get(h).and_then(|v| v.to_str().ok())
    }

    fn body_json(r: &http::Request<Bytes>) -> serde_json::Value {
        serde_json::from_slice(r.body()).unwrap()
    }

    #[test]
    fn get_list_watch_paths_and_queries() {
        let r = pods(Some("default"));
        let g = r.get("web-0", &GetOptions { resource_version: Some("0".into()) }).unwrap();
        assert_eq!(g.method(), Method::GET);
        assert_eq!(g.uri(), "/api/v1/namespaces/default/pods/web-0?resourceVersion=0");
        assert_eq!(header(&g, ACCEPT), Some("application/json"));
        assert!(g.body().is_empty());
        assert_eq!(header(&g, CONTENT_TYPE), None);

        let l = pods(None).list(&ListOptions::default().labels("app=web").limit(2)).unwrap();
        assert_eq!(l.uri(), "/api/v1/pods?labelSelector=app%3Dweb&limit=2");

        let w = r
            .watch(&ListOptions {
                resource_version: Some("42".into()),
                allow_watch_bookmarks: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(w.uri(), "/api/v1/namespaces/default/pods?watch=1&resourceVersion=42&allowWatchBookmarks=true");

        let d = Request::new(ApiResource::of::<Deployment>(), Some("web"));
        assert_eq!(d.list(&ListOptions::default()).unwrap().uri(), "/apis/apps/v1/namespaces/web/deployments");
    }

    #[test]
    fn cluster_scoped_kinds_ignore_the_namespace() {
        let r = Request::new(ApiResource::of::<Namespace>(), Some("ignored"));
        assert_eq!(r.namespace(), None);
        assert_eq!(r.get("kube-system", &GetOptions::default()).unwrap().uri(), "/api/v1/namespaces/kube-system");
        // Even an empty one: it is not used.
        let r = Request::new(ApiResource::of::<Namespace>(), Some(""));
        assert!(r.list(&ListOptions::default()).is_ok());
    }

    #[test]
    fn protobuf_applies_to_built_in_kinds_only() {
        let r = pods(Some("ns")).content_type(ContentType::Protobuf);
        assert!(r.is_protobuf());
        let get = r.get("a", &GetOptions::default()).unwrap();
        assert_eq!(header(&get, ACCEPT), Some(ACCEPT_PROTOBUF));
        let create = r.create(&WriteOptions::default(), &json!({"metadata": {"name": "a"}})).unwrap();
        assert_eq!(header(&create, CONTENT_TYPE), Some("application/vnd.kubernetes.protobuf"));
        let back: serde_json::Value = rudder_apimachinery::protobuf::from_slice(create.body()).unwrap();
        assert_eq!((back["kind"].as_str(), back["metadata"]["name"].as_str()), (Some("Pod"), Some("a")));
        // Patches, deletes and metadata-only requests stay JSON.
        let patch = r.patch("a", &PatchOptions::default(), &Patch::Merge(json!({}))).unwrap();
        assert_eq!(header(&patch, ACCEPT), Some(ACCEPT_JSON));
        assert_eq!(header(&r.list_metadata(&ListOptions::default()).unwrap(), ACCEPT), Some(ACCEPT_METADATA_LIST));
        // A custom resource has no protobuf message.
        let widgets = ApiResource::from_gvk(
            &rudder_apimachinery::GroupVersionKind::new("example.com", "v1", "Widget"),
            "widgets",
            Scope::Namespaced,
        );
        let w = Request::new(widgets, Some("ns")).content_type(ContentType::Protobuf);
        assert!(!w.is_protobuf());
        assert_eq!(header(&w.list(&ListOptions::default()).unwrap(), ACCEPT), Some(ACCEPT_JSON));
        assert!(!pods(None).content_type(ContentType::Json).is_protobuf());
    }

    #[test]
    fn metadata_only_accept_headers() {
        let r = pods(Some("ns"));
        let accept = |req: http::Request<Bytes>| header(&req, ACCEPT).unwrap().to_string();
        assert_eq!(accept(r.get_metadata("a", &GetOptions::default()).unwrap()), ACCEPT_METADATA);
        assert_eq!(accept(r.list_metadata(&ListOptions::default()).unwrap()), ACCEPT_METADATA_LIST);
        assert_eq!(accept(r.watch_metadata(&ListOptions::default()).unwrap()), ACCEPT_METADATA_LIST);
        assert_eq!(ACCEPT_METADATA, "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1");
        assert_eq!(ACCEPT_METADATA_LIST, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1");
        let w = r.watch_metadata(&ListOptions::default()).unwrap();
        assert_eq!(w.uri(), "/api/v1/namespaces/ns/pods?watch=1");
    }

    #[test]
    fn create_and_replace_bodies() {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("c".into());
        let r = Request::new(ApiResource::of::<ConfigMap>(), Some("ns"));
        let opts = WriteOptions { dry_run: true, field_manager: Some("me".into()), ..Default::default() };
        let c = r.create(&opts, &cm).unwrap();
        assert_eq!(c.method(), Method::POST);
        assert_eq!(c.uri(), "/api/v1/namespaces/ns/configmaps?dryRun=All&fieldManager=me");
        assert_eq!(header(&c, CONTENT_TYPE), Some("application/json"));
        assert_eq!(body_json(&c), json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}));

        let u = r.replace("c", &WriteOptions::default(), &cm).unwrap();
        assert_eq!(u.method(), Method::PUT);
        assert_eq!(u.uri(), "/api/v1/namespaces/ns/configmaps/c");
    }

    #[test]
    fn bodies_without_type_get_it_from_the_resource() {
        #[derive(serde::Serialize)]
        struct View {
            metadata: serde_json::Value,
        }
        let ar = ApiResource::of::<ConfigMap>();
        let r = Request::new(ar.clone(), Some("ns"));
        let c = r.create(&WriteOptions::default(), &View { metadata: json!({"name":"v"}) }).unwrap();
        assert_eq!(body_json(&c), json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"v"}}));
        // A dynamic object with its own type keeps it.
        let d = DynamicObject::new("x", &ar);
        let c = r.create(&WriteOptions::default(), &d).unwrap();
        assert_eq!(body_json(&c)["kind"], "ConfigMap");
        // Non-objects are refused.
        let e = r.create(&WriteOptions::default(), &vec![1]).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(ref m) if m.contains("an array")), "{e}");
    }

    #[test]
    fn patches_carry_their_content_type() {
        let r = pods(Some("ns"));
        for (p, ct) in [
            (Patch::Json(json!([{"op":"add","path":"/metadata/labels/a","value":"b"}])), "application/json-patch+json"),
            (Patch::Merge(json!({"metadata":{"labels":{"a":"b"}}})), "application/merge-patch+json"),
            (Patch::Strategic(json!({"metadata":{"labels":{"a":"b"}}})), "application/strategic-merge-patch+json"),
        ] {
            let req = r.patch("p", &PatchOptions::default(), &p).unwrap();
            assert_eq!(req.method(), Method::PATCH);
            assert_eq!(req.uri(), "/api/v1/namespaces/ns/pods/p");
            assert_eq!(header(&req, CONTENT_TYPE), Some(ct));
            assert_eq!(&body_json(&req), p.body());
        }
    }

    #[test]
    fn server_side_apply_needs_a_field_manager() {
        let r = pods(Some("ns"));
        let p = Patch::Apply(json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}));
        let e = r.patch("p", &PatchOptions::default(), &p).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(ref m) if m.contains("field manager")), "{e}");
        let req = r.patch("p", &PatchOptions::apply("rudder").force(), &p).unwrap();
        assert_eq!(req.uri(), "/api/v1/namespaces/ns/pods/p?fieldManager=rudder&force=true");
        assert_eq!(header(&req, CONTENT_TYPE), Some("application/apply-patch+yaml"));
        // force on a merge patch is refused locally.
        let e = r.patch("p", &PatchOptions::default().force(), &Patch::Merge(json!({}))).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(ref m) if m.contains("force")), "{e}");
    }

    #[test]
    fn delete_and_delete_collection() {
        let r = pods(Some("ns"));
        let opts = DeleteOptions { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() }
            .with_resource_version("9");
        let d = r.delete("p", &opts).unwrap();
        assert_eq!(d.method(), Method::DELETE);
        assert_eq!(d.uri(), "/api/v1/namespaces/ns/pods/p");
        assert_eq!(header(&d, CONTENT_TYPE), Some("application/json"));
        assert_eq!(
            body_json(&d),
            json!({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background","preconditions":{"resourceVersion":"9"}})
        );
        let list = ListOptions {
            label_selector: Some("a=b".into()),
            resource_version_match: Some(ResourceVersionMatch::NotOlderThan),
            resource_version: Some("5".into()),
            ..Default::default()
        };
        let dc = r.delete_collection(&list, &DeleteOptions::default()).unwrap();
        assert_eq!(dc.method(), Method::DELETE);
        assert_eq!(
            dc.uri(),
            "/api/v1/namespaces/ns/pods?labelSelector=a%3Db&resourceVersion=5&resourceVersionMatch=NotOlderThan"
        );
        assert_eq!(body_json(&dc), json!({"kind":"DeleteOptions","apiVersion":"v1"}));
    }

    #[test]
    fn subresources() {
        let d = Request::new(ApiResource::of::<Deployment>(), Some("web"));
        let g = d.get_subresource("scale", "api").unwrap();
        assert_eq!(g.uri(), "/apis/apps/v1/namespaces/web/deployments/api/scale");
        let scale =
            json!({"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"api"},"spec":{"replicas":3}});
        let u = d.replace_subresource("scale", "api", &WriteOptions::default(), &scale).unwrap();
        assert_eq!((u.method(), u.uri().path()), (&Method::PUT, "/apis/apps/v1/namespaces/web/deployments/api/scale"));
        assert_eq!(body_json(&u)["kind"], "Scale");
        let p = d
            .patch_subresource("scale", "api", &PatchOptions::default(), &Patch::Merge(json!({"spec":{"replicas":1}})))
            .unwrap();
        assert_eq!(p.uri(), "/apis/apps/v1/namespaces/web/deployments/api/scale");
        assert_eq!(header(&p, CONTENT_TYPE), Some("application/merge-patch+json"));
        // A status body is the object itself and is typed from the resource.
        let s = d.replace_subresource("status", "api", &WriteOptions::default(), &json!({"metadata":{}})).unwrap();
        assert_eq!(body_json(&s)["kind"], "Deployment");
        let b = pods(Some("ns"))
            .create_subresource("binding", "p", &WriteOptions::default(), &json!({"target":{"name":"n1"}}))
            .unwrap();
        assert_eq!((b.method(), b.uri().path()), (&Method::POST, "/api/v1/namespaces/ns/pods/p/binding"));
        assert_eq!(body_json(&b), json!({"target":{"name":"n1"}}));
    }

    #[test]
    fn log_options() {
        let r = pods(Some("ns"));
        let all = LogOptions {
            container: Some("c".into()),
            follow: true,
            previous: true,
            since_seconds: Some(10),
            tail_lines: Some(5),
            timestamps: true,
            limit_bytes: Some(100),
        };
        let l = r.logs("p", &all).unwrap();
        assert_eq!(
            l.uri(),
            "/api/v1/namespaces/ns/pods/p/log?container=c&follow=true&previous=true&sinceSeconds=10&tailLines=5&timestamps=true&limitBytes=100"
        );
        assert_eq!(r.logs("p", &LogOptions::default()).unwrap().uri(), "/api/v1/namespaces/ns/pods/p/log");
    }

    #[test]
    fn empty_names_and_namespaces_are_typed_errors() {
        let r = pods(Some(""));
        let e = r.list(&ListOptions::default()).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(ref m) if m.contains("empty namespace")), "{e}");
        let r = pods(Some("ns"));
        for e in [
            r.get("", &GetOptions::default()).unwrap_err(),
            r.delete("", &DeleteOptions::default()).unwrap_err(),
            r.patch("", &PatchOptions::default(), &Patch::Merge(json!({}))).unwrap_err(),
            r.logs("", &LogOptions::default()).unwrap_err(),
        ] {
            assert!(matches!(e, Error::InvalidRequest(ref m) if m.contains("empty name")), "{e}");
        }
        let e = r.get_subresource("", "p").unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(ref m) if m.contains("empty subresource")), "{e}");
    }

    #[test]
    fn hostile_names_are_encoded() {
        let r = pods(Some("a/b"));
        assert_eq!(r.get("x?y", &GetOptions::default()).unwrap().uri(), "/api/v1/namespaces/a%2Fb/pods/x%3Fy");
    }
}
