//! [`Api<K>`]: every verb on one resource, in one generic implementation shared by every
//! k8s-openapi kind, every user view, custom resources and dynamic objects.
//!
//! Contract:
//! - The verbs need only `K: DeserializeOwned` (plus `Serialize` for writes); the kind's URL
//!   comes from an [`ApiResource`] fixed at construction ([`Resource`] types get theirs
//!   statically, dynamic objects at run time via [`Api::with_resource`]).
//! - Requests are built by [`crate::request`] (pure) and executed by the [`Client`]; failures
//!   are the client's typed errors (`err.is_not_found()`, `is_conflict()`, ...).
//! - One `list` and one `watch`: the body is split while it arrives and decoded on all cores,
//!   in order; [`Api::list_with`] / [`Api::watch_with`] take a [`Decoding`] for the rest
//!   (transform on the decoding thread, `Arc`-wrapped objects, another pool).
//! - List items get the type their list implies where they carry one and lack it (lists of
//!   built-in kinds never carry it): [`HasMetadata::set_type_if_missing`], a no-op for typed
//!   kinds and views, fills `DynamicObject`s; chosen at compile time.
//! - [`Api::metadata`] gives the same resource as `PartialObjectMetadata`: get, list and watch
//!   then ask the server for metadata only (the `Accept` header), which is what metadata-only
//!   informers use.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{Binding, Pod};
use k8s_openapi::api::policy::v1::Eviction;
use serde::de::DeserializeOwned;
use serde::Serialize;

use rudder_apimachinery::dynamic::DynamicObject;
use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::meta::{HasMetadata, PartialObjectMetadata};
use rudder_apimachinery::options::{DeleteOptions, GetOptions, ListOptions, PatchOptions, WriteOptions};
use rudder_apimachinery::patch::Patch;
use rudder_apimachinery::resource::{ApiResource, Resource, WholeObject};

use crate::client::{Client, ObjectOrStatus};
use crate::decode::LineStream;
use crate::decode::{DecodeOptions, DecodePool, ItemTransform, ListItems, WatchEvents};
use crate::error::{Error, Result};
use crate::request::{LogOptions, Request};

pub use rudder_apimachinery::options::{CreateOptions, UpdateOptions};

/// Typed access to one resource in one namespace, across all namespaces, or at cluster scope.
///
/// ```no_run
/// # async fn f(client: rudder_client::Client) -> rudder_client::Result<()> {
/// use k8s_openapi::api::core::v1::Pod;
/// use rudder_client::api::Api;
/// use rudder_apimachinery::ListOptions;
/// let pods: Api<Pod> = Api::namespaced(client, "default");
/// for p in pods.list(&ListOptions::default()).await?.items {
///     println!("{:?}", p.metadata.name);
/// }
/// # Ok(()) }
/// ```
pub struct Api<K> {
    client: Client,
    request: Request,
    /// Ask for metadata only (set on `Api<PartialObjectMetadata>` from [`Api::metadata`]).
    metadata_only: bool,
    _k: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            request: self.request.clone(),
            metadata_only: self.metadata_only,
            _k: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("resource", self.request.resource())
            .field("namespace", &self.request.namespace())
            .field("metadata_only", &self.metadata_only)
            .finish()
    }
}

impl<K: Resource> Api<K> {
    /// The kind in namespace `ns` (for a cluster-scoped kind the namespace is ignored).
    pub fn namespaced(client: Client, ns: &str) -> Self {
        Self::from_parts(client, K::api_resource(), Some(ns))
    }

    /// The kind across all namespaces, or at cluster scope.
    pub fn all(client: Client) -> Self {
        Self::from_parts(client, K::api_resource(), None)
    }

    /// The kind in the client's default namespace (the kubeconfig context's, or the pod's).
    pub fn default_namespaced(client: Client) -> Self {
        let ns = client.default_namespace().to_string();
        Self::from_parts(client, K::api_resource(), Some(&ns))
    }
}

impl Api<DynamicObject> {
    /// Objects of a kind known only at run time (a CRD, or any kind found by discovery), in
    /// namespace `ns` (`None`: all namespaces, or cluster scope).
    pub fn with_resource(client: Client, resource: &ApiResource, ns: Option<&str>) -> Self {
        Self::from_parts(client, resource.clone(), ns)
    }
}

impl<K> Api<K> {
    /// Access to `resource` decoded as `K`, for any `K` (a view bound at run time, a
    /// `PartialObjectMetadata`, a `DynamicObject`).
    pub fn from_parts(client: Client, resource: ApiResource, ns: Option<&str>) -> Self {
        let request = Request::new(resource, ns).content_type(client.config().content_type);
        Self { client, request, metadata_only: false, _k: PhantomData }
    }

    /// The resource this handle talks to.
    pub fn resource(&self) -> &ApiResource {
        self.request.resource()
    }

    /// The namespace requests go to (`None`: all namespaces or cluster scope).
    pub fn namespace(&self) -> Option<&str> {
        self.request.namespace()
    }

    /// The pure request builder behind this handle.
    pub fn request_builder(&self) -> &Request {
        &self.request
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The same resource and namespace, decoded as metadata only: `get`, `list` and `watch` on
    /// the result ask the server for `PartialObjectMetadata`.
    pub fn metadata(&self) -> Api<PartialObjectMetadata> {
        Api { client: self.client.clone(), request: self.request.clone(), metadata_only: true, _k: PhantomData }
    }
}

impl<K: DeserializeOwned + 'static> Api<K> {
    /// Gets one object (404 is an error; see [`Api::get_opt`]).
    pub async fn get(&self, name: &str) -> Result<K> {
        self.get_with(name, &GetOptions::default()).await
    }

    /// Gets one object with options (e.g. `resourceVersion=0` to read from the watch cache).
    pub async fn get_with(&self, name: &str, opts: &GetOptions) -> Result<K> {
        let req =
            if self.metadata_only { self.request.get_metadata(name, opts)? } else { self.request.get(name, opts)? };
        self.client.request(req).await
    }

    /// Gets one object, or `None` when it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>> {
        match self.get(name).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes one object. The answer is the object when deletion is graceful or held by
    /// finalizers (it then carries `deletionTimestamp`), else the server's Success `Status`.
    pub async fn delete(&self, name: &str, opts: &DeleteOptions) -> Result<ObjectOrStatus<K>> {
        self.client.request_object_or_status(self.request.delete(name, opts)?).await
    }

    /// Patches one object.
    pub async fn patch(&self, name: &str, opts: &PatchOptions, patch: &Patch) -> Result<K> {
        self.client.request(self.request.patch(name, opts, patch)?).await
    }

    /// Gets the object through its `status` subresource.
    pub async fn get_status(&self, name: &str) -> Result<K> {
        self.get_subresource("status", name).await
    }

    /// Patches the `status` subresource (changes outside `status` are ignored by the server).
    pub async fn patch_status(&self, name: &str, opts: &PatchOptions, patch: &Patch) -> Result<K> {
        self.patch_subresource("status", name, opts, patch).await
    }

    /// Gets any subresource, decoded as `T`.
    pub async fn get_subresource<T: DeserializeOwned>(&self, subresource: &str, name: &str) -> Result<T> {
        self.client.request(self.request.get_subresource(subresource, name)?).await
    }

    /// Patches any subresource, decoding the answer as `T`.
    pub async fn patch_subresource<T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
        opts: &PatchOptions,
        patch: &Patch,
    ) -> Result<T> {
        self.client.request(self.request.patch_subresource(subresource, name, opts, patch)?).await
    }

    /// Replaces any subresource with `body`, decoding the answer as `T`.
    pub async fn replace_subresource<B: Serialize, T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
        opts: &UpdateOptions,
        body: &B,
    ) -> Result<T> {
        self.client.request(self.request.replace_subresource(subresource, name, opts, body)?).await
    }

    /// Posts `body` to any subresource, decoding the answer as `T`.
    pub async fn create_subresource<B: Serialize, T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
        opts: &CreateOptions,
        body: &B,
    ) -> Result<T> {
        self.client.request(self.request.create_subresource(subresource, name, opts, body)?).await
    }

    /// Gets the `scale` subresource (Deployments, ReplicaSets, StatefulSets, CRDs with scale).
    pub async fn get_scale(&self, name: &str) -> Result<Scale> {
        self.get_subresource("scale", name).await
    }

    /// Replaces the `scale` subresource.
    pub async fn replace_scale(&self, name: &str, opts: &UpdateOptions, scale: &Scale) -> Result<Scale> {
        self.replace_subresource("scale", name, opts, scale).await
    }

    /// Patches the `scale` subresource.
    pub async fn patch_scale(&self, name: &str, opts: &PatchOptions, patch: &Patch) -> Result<Scale> {
        self.patch_subresource("scale", name, opts, patch).await
    }
}

/// Verbs that read collections. Their items get the type their list implies
/// ([`HasMetadata::set_type_if_missing`]) and are decoded on other threads, hence the bounds.
impl<K: DeserializeOwned + HasMetadata + Send + 'static> Api<K> {
    /// Lists the collection (one page when `opts.limit` is set; see [`crate::pager`]).
    ///
    /// The body is split while it arrives and the items are decoded on all cores, in order
    /// ([`crate::decode::ListItems`]); [`Api::list_with`] chooses otherwise.
    pub async fn list(&self, opts: &ListOptions) -> Result<ObjectList<K>> {
        self.list_with(opts, Decoding::default()).await
    }

    /// Lists like [`Api::list`], decoding as `decoding` says: a transform run on each item on
    /// the thread that decoded it (so the untransformed list never exists whole), items wrapped
    /// in `Arc`s there ([`Decoding::shared`]: what informers cache), or another pool (a
    /// [`DecodePool::new(0)`](DecodePool::new) decodes on the caller's task).
    pub async fn list_with<T: Send + 'static>(
        &self,
        opts: &ListOptions,
        decoding: Decoding<K, T>,
    ) -> Result<ObjectList<T>> {
        let req = if self.metadata_only { self.request.list_metadata(opts)? } else { self.request.list(opts)? };
        let url = crate::client::path_of(req.uri());
        let Decoding { transform, wrap, unwrap_mut, reuse, skip_managed_fields, pool } = decoding;
        let finish = finish_item(transform, wrap, reuse);
        let decode_options = DecodeOptions { skip_managed_fields, ..self.client.decode_options() };
        let pool = pool.unwrap_or_else(|| DecodePool::global().clone());
        // One deadline (`Config.timeout`) for the request and the whole body.
        let (metadata, mut items, list_api_version, list_kind) = self
            .client
            .within_deadline(req, |req, deadline| async move {
                let resp = self.client.send_until(req, crate::transport::RequestKind::Normal, deadline).await?;
                let mut stream =
                    ListItems::<T, _>::decoded_as::<K, _>(resp.into_body(), url, pool, decode_options, finish);
                let mut items = Vec::new();
                while let Some(item) = futures::StreamExt::next(&mut stream).await {
                    items.push(item?);
                }
                let metadata = stream.list_meta().cloned().unwrap_or_default();
                let api_version = stream.api_version().unwrap_or("").to_string();
                let kind = stream.kind().unwrap_or("").to_string();
                Ok((metadata, items, api_version, kind))
            })
            .await?;
        let (api_version, kind) = item_type(&list_api_version, &list_kind, self.resource());
        // Nobody else holds the items yet, so items in `Arc`s can be reached too.
        for item in items.iter_mut().filter_map(unwrap_mut) {
            item.set_type_if_missing(&api_version, &kind);
        }
        Ok(ObjectList { metadata, items })
    }

    /// Watches the collection from `opts.resource_version`: a stream of events that ends when
    /// the server closes it (at `timeoutSeconds`) or after an ERROR event (an `Err` item).
    /// Events are decoded on all cores, in order; [`Api::watch_with`] chooses otherwise.
    pub async fn watch(&self, opts: &ListOptions) -> Result<WatchEvents<K>> {
        self.watch_with(opts, Decoding::default()).await
    }

    /// Watches like [`Api::watch`], decoding as `decoding` says (see [`Api::list_with`]); a
    /// transform runs on the objects of ADDED, MODIFIED and DELETED events.
    pub async fn watch_with<T: Send + 'static>(
        &self,
        opts: &ListOptions,
        decoding: Decoding<K, T>,
    ) -> Result<WatchEvents<T>> {
        let req = if self.metadata_only { self.request.watch_metadata(opts)? } else { self.request.watch(opts)? };
        let Decoding { transform, wrap, reuse, skip_managed_fields, pool, .. } = decoding;
        let pool = pool.unwrap_or_else(|| DecodePool::global().clone());
        let opts = DecodeOptions { skip_managed_fields, ..self.client.decode_options() };
        self.client.watch_decoded(req, pool, opts, finish_item(transform, wrap, reuse)).await
    }

    /// Deletes every object `list` selects; the answer is the list of deleted objects (or a
    /// Status).
    pub async fn delete_collection(
        &self,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> Result<ObjectOrStatus<ObjectList<K>>> {
        let req = self.request.delete_collection(list, opts)?;
        let what = format!("{}List from DELETE {}", self.resource().kind, crate::client::path_of(req.uri()));
        let bytes = self.client.request_bytes(req).await?;
        if is_status(&bytes) {
            let s = serde_json::from_slice(&bytes).map_err(|source| Error::Decode { what, source })?;
            return Ok(ObjectOrStatus::Status(s));
        }
        let mut list: ObjectList<K> =
            rudder_apimachinery::json::from_slice(&bytes).map_err(|source| Error::Decode { what, source })?;
        #[derive(serde::Deserialize)]
        struct ListType {
            #[serde(rename = "apiVersion", default)]
            api_version: String,
            #[serde(default)]
            kind: String,
        }
        let lt = serde_json::from_slice::<ListType>(&bytes)
            .unwrap_or(ListType { api_version: String::new(), kind: String::new() });
        let (api_version, kind) = item_type(&lt.api_version, &lt.kind, self.resource());
        for item in &mut list.items {
            item.set_type_if_missing(&api_version, &kind);
        }
        Ok(ObjectOrStatus::Object(list))
    }
}

/// Verbs that send a whole object. They need [`WholeObject`]: a view (`view!`) is not one, so
/// replacing through a view, which would wipe every field it does not declare, does not compile.
///
/// The three examples below differ only where they say so; the first two compile, the third
/// must not.
///
/// A view reads, patches and deletes as its kind:
/// ```no_run
/// # use k8s_openapi::api::core::v1::ConfigMap;
/// # use rudder_apimachinery::{ObjectMeta, Patch, options::PatchOptions};
/// # use rudder_client::api::Api;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct CmView { metadata: ObjectMeta }
/// rudder_apimachinery::view!(CmView => ConfigMap);
/// # async fn f(views: Api<CmView>, v: CmView) {
/// let _ = views.get("name").await;
/// let _ = views.patch("name", &PatchOptions::default(), &Patch::Merge(serde_json::json!({}))).await;
/// let _ = views.delete("name", &Default::default()).await;
/// # }
/// ```
/// The kind itself is created and replaced:
/// ```no_run
/// # use k8s_openapi::api::core::v1::ConfigMap;
/// # use rudder_client::api::Api;
/// # async fn f(views: Api<ConfigMap>, v: ConfigMap) {
/// let _ = views.create(&Default::default(), &v).await;
/// let _ = views.replace("name", &Default::default(), &v).await;
/// let _ = views.replace_status("name", &Default::default(), &v).await;
/// # }
/// ```
/// The view is not:
/// ```compile_fail
/// # use k8s_openapi::api::core::v1::ConfigMap;
/// # use rudder_apimachinery::ObjectMeta;
/// # use rudder_client::api::Api;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct CmView { metadata: ObjectMeta }
/// rudder_apimachinery::view!(CmView => ConfigMap);
/// # async fn f(views: Api<CmView>, v: CmView) {
/// let _ = views.replace("name", &Default::default(), &v).await;
/// # }
/// ```
impl<K: Serialize + DeserializeOwned + WholeObject + 'static> Api<K> {
    /// Creates an object; the answer is the object as stored (uid, resourceVersion ...).
    pub async fn create(&self, opts: &CreateOptions, obj: &K) -> Result<K> {
        self.client.request(self.request.create(opts, obj)?).await
    }

    /// Replaces an object (client-go's Update); `obj`'s resourceVersion makes it a
    /// compare-and-swap (409 Conflict when stale).
    pub async fn replace(&self, name: &str, opts: &UpdateOptions, obj: &K) -> Result<K> {
        self.client.request(self.request.replace(name, opts, obj)?).await
    }

    /// Replaces the `status` subresource.
    pub async fn replace_status(&self, name: &str, opts: &UpdateOptions, obj: &K) -> Result<K> {
        self.replace_subresource("status", name, opts, obj).await
    }
}

impl Api<Pod> {
    /// Binds the pod to a node (`pods/{name}/binding`), as a scheduler does. The server answers
    /// with a Success Status; failures (404, 409 when already bound) are errors.
    pub async fn create_binding(&self, name: &str, binding: &Binding) -> Result<()> {
        let req = self.request.create_subresource("binding", name, &WriteOptions::default(), &typed(binding))?;
        self.client.request_bytes(req).await.map(drop)
    }

    /// Evicts the pod (`pods/{name}/eviction`), honouring PodDisruptionBudgets: a blocked
    /// eviction is a 429 error (`err.is_too_many_requests()`). The Eviction's name and
    /// namespace are filled in from `name` and this handle when it leaves them out (the server
    /// answers 400 when the body names another pod).
    pub async fn evict(&self, name: &str, eviction: &Eviction) -> Result<()> {
        let mut body = typed(eviction);
        if let Some(meta) = body.as_object_mut().map(|m| m.entry("metadata").or_insert_with(|| serde_json::json!({}))) {
            if let Some(meta) = meta.as_object_mut() {
                meta.entry("name").or_insert_with(|| name.into());
                if let Some(ns) = self.namespace() {
                    meta.entry("namespace").or_insert_with(|| ns.into());
                }
            }
        }
        let req = self.request.create_subresource("eviction", name, &WriteOptions::default(), &body)?;
        self.client.request_bytes(req).await.map(drop)
    }

    /// Reads the pod's log as text (with `follow` it returns when the stream ends, and, being
    /// long-running, has no deadline). At most `Config.max_body_bytes`.
    pub async fn logs(&self, name: &str, opts: &LogOptions) -> Result<String> {
        use crate::transport::RequestKind;
        let kind = if opts.follow { RequestKind::LongRunning } else { RequestKind::Normal };
        self.client.read_text(self.request.logs(name, opts)?, kind).await
    }

    /// Streams the pod's log line by line (set `follow` to keep receiving new lines). Lines
    /// come without their `\n`; empty lines are skipped.
    pub async fn log_stream(&self, name: &str, opts: &LogOptions) -> Result<LineStream> {
        self.client.request_lines(self.request.logs(name, opts)?).await
    }
}

/// A k8s-openapi object as JSON with its `apiVersion`/`kind` (they serialize them anyway; this
/// keeps subresource bodies self-describing whatever `T` is).
fn typed<T: Serialize + Resource>(obj: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(obj).unwrap_or(serde_json::Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.entry("apiVersion").or_insert_with(|| T::API_VERSION.into());
        m.entry("kind").or_insert_with(|| T::KIND.into());
    }
    v
}

fn is_status(bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct KindOnly {
        #[serde(default)]
        kind: String,
    }
    serde_json::from_slice::<KindOnly>(bytes).is_ok_and(|k| k.kind == "Status")
}

/// The type a list's items have: the list's `apiVersion` and its kind minus `List`, else the
/// resource's.
fn item_type(list_api_version: &str, list_kind: &str, resource: &ApiResource) -> (String, String) {
    let api_version =
        if list_api_version.is_empty() { resource.api_version.to_string() } else { list_api_version.to_string() };
    let kind = match list_kind.strip_suffix("List") {
        Some(k) if !k.is_empty() => k.to_string(),
        _ => resource.kind.to_string(),
    };
    (api_version, kind)
}

/// How [`Api::list_with`] and [`Api::watch_with`] decode objects and hand them out: one options
/// value instead of one method per variant. The default decodes each object as `K` on the
/// global [`DecodePool`] and hands it out as it is.
///
/// ```no_run
/// # async fn f(pods: rudder_client::api::Api<k8s_openapi::api::core::v1::Pod>) -> rudder_client::Result<()> {
/// use std::sync::Arc;
/// use k8s_openapi::api::core::v1::Pod;
/// use rudder_client::api::Decoding;
/// let drop_managed_fields = Arc::new(|mut p: Pod| {
///     p.metadata.managed_fields = None;
///     p
/// });
/// let decoding = Decoding::default().transform(drop_managed_fields).shared();
/// let page = pods.list_with(&Default::default(), decoding).await?;
/// let first: Option<&Arc<Pod>> = page.items.first();
/// # Ok(()) }
/// ```
pub struct Decoding<K, T = K> {
    transform: Option<ItemTransform<K>>,
    wrap: fn(K) -> T,
    unwrap_mut: fn(&mut T) -> Option<&mut K>,
    reuse: Option<Reuse<K, T>>,
    skip_managed_fields: bool,
    pool: Option<DecodePool>,
}

/// Asked with every decoded (and transformed) object: a value to hand out instead of it, or
/// `None` to hand out the object itself. See [`Decoding::reuse`].
pub type Reuse<K, T> = Arc<dyn Fn(&K) -> Option<T> + Send + Sync>;

impl<K> Default for Decoding<K, K> {
    fn default() -> Self {
        Self {
            transform: None,
            wrap: |k| k,
            unwrap_mut: |k| Some(k),
            reuse: None,
            skip_managed_fields: false,
            pool: None,
        }
    }
}

impl<K> Decoding<K, K> {
    /// Hands every object out in an `Arc` made on the thread that decoded it, so a list of
    /// large structs reaches the caller as pointers and is never moved by value there.
    pub fn shared(self) -> Decoding<K, Arc<K>> {
        Decoding {
            transform: self.transform,
            wrap: Arc::new,
            unwrap_mut: Arc::get_mut,
            reuse: None,
            skip_managed_fields: self.skip_managed_fields,
            pool: self.pool,
        }
    }
}

impl<K, T> Decoding<K, T> {
    /// Runs `transform` on every object right after it is decoded, on the decoding thread (for
    /// watches: the objects of ADDED, MODIFIED and DELETED events).
    pub fn transform(mut self, transform: ItemTransform<K>) -> Self {
        self.transform = Some(transform);
        self
    }

    /// Decodes on `pool` instead of the global one; `DecodePool::new(0)` decodes on the task
    /// that polls the list or watch.
    pub fn pool(mut self, pool: DecodePool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Asks `reuse` about every object right after it is decoded and transformed, on the
    /// decoding thread: when it answers with a value, that value is handed out and the new
    /// object is dropped there and then. An informer passes its cache's copy of objects it
    /// already holds at the same resourceVersion, so a relist never holds two copies of them.
    pub fn reuse(mut self, reuse: Reuse<K, T>) -> Self {
        self.reuse = Some(reuse);
        self
    }

    /// Skips every object's `metadata.managedFields` while decoding JSON, unparsed (see
    /// `rudder_apimachinery::json::JsonOptions`): objects arrive with `managed_fields: None`,
    /// decoded faster and holding about half the memory of a realistic Pod. Protobuf bodies
    /// are decoded whole (add a transform to drop the field there).
    pub fn skip_managed_fields(mut self) -> Self {
        self.skip_managed_fields = true;
        self
    }
}

/// The per-object step of a decoding: transform, then the reused value or the wrapped object.
fn finish_item<K, T>(
    transform: Option<ItemTransform<K>>,
    wrap: fn(K) -> T,
    reuse: Option<Reuse<K, T>>,
) -> impl Fn(K) -> T + Send + Sync + 'static
where
    K: 'static,
    T: 'static,
{
    let keep = crate::decode::transform_or_keep(transform);
    move |item: K| {
        let item = keep(item);
        match reuse.as_ref().and_then(|r| r(&item)) {
            Some(reused) => reused,
            None => wrap(item),
        }
    }
}

impl<K, T> fmt::Debug for Decoding<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoding")
            .field("transform", &self.transform.is_some())
            .field("reuse", &self.reuse.is_some())
            .field("skip_managed_fields", &self.skip_managed_fields)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}
