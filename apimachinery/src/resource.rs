//! What a kind is on the wire: its group, version, kind, plural and scope, and the URL paths the
//! API server serves it under.
//!
//! Contract:
//! - [`Resource`] is the static description of a Rust type that (de)serializes as a Kubernetes
//!   kind. It is implemented for every `k8s-openapi` resource type, and users implement it for
//!   their custom resources and for *views* of built-in kinds (see [`view!`](crate::view)).
//! - [`ApiResource`] is the same description as a runtime value, for dynamic clients and for code
//!   that only knows a kind at run time. All URL building goes through it, so typed and dynamic
//!   requests use the same paths.
//! - Path segments (namespace, name, subresource) are percent-encoded, so a name that is not a
//!   valid Kubernetes name can never escape its segment.

use std::borrow::Cow;

use percent_encoding_lite::encode_segment;

use crate::schema::{GroupVersion, GroupVersionKind, GroupVersionResource};

/// Whether a resource lives in a namespace or at cluster scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Objects live in a namespace (`/namespaces/{ns}/{plural}`).
    Namespaced,
    /// Objects live at cluster scope (`/{plural}`).
    Cluster,
}

/// Static description of a Kubernetes kind bound to a Rust type.
///
/// Implemented for every `k8s-openapi` resource. Implement it yourself for a custom resource:
///
/// ```
/// use rudder_apimachinery::resource::{Resource, Scope};
/// struct CronTab;
/// impl Resource for CronTab {
///     const GROUP: &'static str = "stable.example.com";
///     const VERSION: &'static str = "v1";
///     const API_VERSION: &'static str = "stable.example.com/v1";
///     const KIND: &'static str = "CronTab";
///     const PLURAL: &'static str = "crontabs";
///     const SCOPE: Scope = Scope::Namespaced;
/// }
/// assert_eq!(CronTab::api_resource().collection_path(Some("ns")),
///            "/apis/stable.example.com/v1/namespaces/ns/crontabs");
/// ```
pub trait Resource {
    /// API group; empty for the core group.
    const GROUP: &'static str;
    /// Version within the group.
    const VERSION: &'static str;
    /// `apiVersion` as sent on the wire (`v1`, `apps/v1`).
    const API_VERSION: &'static str;
    /// Kind (`Pod`).
    const KIND: &'static str;
    /// Plural resource name used in URLs (`pods`).
    const PLURAL: &'static str;
    /// Namespaced or cluster-scoped.
    const SCOPE: Scope;

    /// The runtime description of this kind.
    fn api_resource() -> ApiResource {
        ApiResource {
            group: Self::GROUP.into(),
            version: Self::VERSION.into(),
            api_version: Self::API_VERSION.into(),
            kind: Self::KIND.into(),
            plural: Self::PLURAL.into(),
            scope: Self::SCOPE,
        }
    }
}

/// Maps a `k8s-openapi` scope marker type to [`Scope`].
pub trait ScopeOf {
    /// The scope.
    const SCOPE: Scope;
}
impl ScopeOf for k8s_openapi::NamespaceResourceScope {
    const SCOPE: Scope = Scope::Namespaced;
}
impl ScopeOf for k8s_openapi::ClusterResourceScope {
    const SCOPE: Scope = Scope::Cluster;
}
/// Subresource types (Binding, Eviction, Scale ...) are posted under a namespaced parent.
impl ScopeOf for k8s_openapi::SubResourceScope {
    const SCOPE: Scope = Scope::Namespaced;
}

impl<K> Resource for K
where
    K: k8s_openapi::Resource,
    K::Scope: ScopeOf,
{
    const GROUP: &'static str = K::GROUP;
    const VERSION: &'static str = K::VERSION;
    const API_VERSION: &'static str = K::API_VERSION;
    const KIND: &'static str = K::KIND;
    const PLURAL: &'static str = K::URL_PATH_SEGMENT;
    const SCOPE: Scope = <K::Scope as ScopeOf>::SCOPE;
}

/// A Rust type that holds *every* field of its kind, so that writing it (create, replace)
/// sends the whole object and drops nothing the server stored.
///
/// Write verbs that send a whole object (`Api::create`, `Api::replace`, `Api::replace_status`)
/// require it. It is implemented for every `k8s-openapi` kind and for `DynamicObject` (which
/// keeps unknown fields); implement it for your custom resource's type when that type declares
/// all of the resource's fields (the `CustomResource` derive will do so). A *view* (see
/// [`view!`](crate::view)) never implements it: a view decodes only some fields, so replacing an
/// object through it would wipe the rest. Change what a view sees with a patch instead.
///
/// ```
/// use rudder_apimachinery::resource::{Resource, Scope, WholeObject};
/// struct CronTab { /* metadata, spec, status: every field of the kind */ }
/// impl Resource for CronTab {
///     const GROUP: &'static str = "stable.example.com";
///     const VERSION: &'static str = "v1";
///     const API_VERSION: &'static str = "stable.example.com/v1";
///     const KIND: &'static str = "CronTab";
///     const PLURAL: &'static str = "crontabs";
///     const SCOPE: Scope = Scope::Namespaced;
/// }
/// impl WholeObject for CronTab {}
/// ```
pub trait WholeObject {}

impl<K: k8s_openapi::Resource> WholeObject for K {}

/// Runtime description of a kind: everything needed to build its URLs and type metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiResource {
    /// API group; empty for the core group.
    pub group: Cow<'static, str>,
    /// Version.
    pub version: Cow<'static, str>,
    /// `apiVersion` string.
    pub api_version: Cow<'static, str>,
    /// Kind.
    pub kind: Cow<'static, str>,
    /// Plural resource name.
    pub plural: Cow<'static, str>,
    /// Scope.
    pub scope: Scope,
}

impl ApiResource {
    /// The description of a statically known kind.
    pub fn of<K: Resource>() -> Self {
        K::api_resource()
    }

    /// Builds a description from a GVK, its plural and its scope.
    pub fn from_gvk(gvk: &GroupVersionKind, plural: impl Into<String>, scope: Scope) -> Self {
        Self {
            group: gvk.group.clone().into(),
            version: gvk.version.clone().into(),
            api_version: gvk.api_version().into(),
            kind: gvk.kind.clone().into(),
            plural: plural.into().into(),
            scope,
        }
    }

    /// Builds a description from a GVR, its kind and its scope.
    pub fn from_gvr(gvr: &GroupVersionResource, kind: impl Into<String>, scope: Scope) -> Self {
        Self::from_gvk(&gvr.group_version().with_kind(kind), gvr.resource.clone(), scope)
    }

    /// The group version.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(self.group.as_ref(), self.version.as_ref())
    }

    /// The group version kind.
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::new(self.group.as_ref(), self.version.as_ref(), self.kind.as_ref())
    }

    /// The group version resource.
    pub fn gvr(&self) -> GroupVersionResource {
        GroupVersionResource::new(self.group.as_ref(), self.version.as_ref(), self.plural.as_ref())
    }

    /// `/api/v1` or `/apis/{group}/{version}`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// Path of the collection: in `namespace` when given and the kind is namespaced, else across
    /// all namespaces (or at cluster scope). A namespace given for a cluster-scoped kind is ignored.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let mut p = self.group_version_path();
        if let (Scope::Namespaced, Some(ns)) = (self.scope, namespace) {
            p.push_str("/namespaces/");
            p.push_str(&encode_segment(ns));
        }
        p.push('/');
        p.push_str(&self.plural);
        p
    }

    /// Path of one object, optionally of one of its subresources (`status`, `scale`, ...).
    pub fn object_path(&self, namespace: Option<&str>, name: &str, subresource: Option<&str>) -> String {
        let mut p = self.collection_path(namespace);
        p.push('/');
        p.push_str(&encode_segment(name));
        if let Some(sub) = subresource {
            p.push('/');
            p.push_str(&encode_segment(sub));
        }
        p
    }
}

/// Declares a Rust struct to be a *view* of a Kubernetes kind: it is listed, watched, cached and
/// indexed as that kind, but only the fields the struct declares are decoded and kept.
///
/// The struct must have a field `metadata: ObjectMeta`; the macro implements
/// [`Resource`] (copied from the viewed kind) and
/// [`HasMetadata`](crate::meta::HasMetadata), but not [`WholeObject`]: a view can be read,
/// listed, watched, deleted and patched, never created or replaced (that would send only the
/// declared fields and wipe the others). Decorate that field with
/// `#[serde(default, deserialize_with = "rudder_apimachinery::meta::without_managed_fields")]`
/// to skip `managedFields` (about half of a typical object's JSON) while decoding.
///
/// ```
/// use k8s_openapi::api::core::v1::Pod;
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
/// use rudder_apimachinery::resource::Resource;
/// #[derive(serde::Deserialize)]
/// struct PodView { metadata: ObjectMeta }
/// rudder_apimachinery::view!(PodView => Pod);
/// assert_eq!(PodView::PLURAL, "pods");
/// ```
#[macro_export]
macro_rules! view {
    ($view:ty => $kind:ty) => {
        impl $crate::resource::Resource for $view {
            const GROUP: &'static str = <$kind as $crate::resource::Resource>::GROUP;
            const VERSION: &'static str = <$kind as $crate::resource::Resource>::VERSION;
            const API_VERSION: &'static str = <$kind as $crate::resource::Resource>::API_VERSION;
            const KIND: &'static str = <$kind as $crate::resource::Resource>::KIND;
            const PLURAL: &'static str = <$kind as $crate::resource::Resource>::PLURAL;
            const SCOPE: $crate::resource::Scope = <$kind as $crate::resource::Resource>::SCOPE;
        }
        impl $crate::meta::HasMetadata for $view {
            fn metadata(&self) -> &$crate::meta::ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut $crate::meta::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// Minimal percent-encoding for URL path segments (RFC 3986 unreserved characters pass).
mod percent_encoding_lite {
    use std::borrow::Cow;

    fn is_unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'@')
    }

    /// Encodes one path segment; borrows when nothing needs escaping (the common case).
    pub fn encode_segment(s: &str) -> Cow<'_, str> {
        if s.bytes().all(is_unreserved) && s != "." && s != ".." {
            return Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(s.len() + 8);
        for b in s.bytes() {
            if is_unreserved(b) && b != b'.' {
                out.push(b as char);
            } else if b == b'.' && s != "." && s != ".." {
                out.push('.');
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Namespace, Pod};

    #[test]
    fn typed_paths() {
        let pods = ApiResource::of::<Pod>();
        assert_eq!(pods.collection_path(Some("default")), "/api/v1/namespaces/default/pods");
        assert_eq!(pods.collection_path(None), "/api/v1/pods");
        assert_eq!(
            pods.object_path(Some("default"), "web-0", Some("status")),
            "/api/v1/namespaces/default/pods/web-0/status"
        );
        let d = ApiResource::of::<Deployment>();
        assert_eq!(
            d.object_path(Some("ns"), "api", Some("scale")),
            "/apis/apps/v1/namespaces/ns/deployments/api/scale"
        );
        let ns = ApiResource::of::<Namespace>();
        assert_eq!(ns.scope, Scope::Cluster);
        assert_eq!(ns.object_path(Some("ignored"), "kube-system", None), "/api/v1/namespaces/kube-system");
    }

    #[test]
    fn hostile_names_stay_in_their_segment() {
        let pods = ApiResource::of::<Pod>();
        assert_eq!(pods.object_path(Some("a/b"), "..", None), "/api/v1/namespaces/a%2Fb/pods/%2E%2E");
        assert_eq!(pods.object_path(Some("x"), "a?b#c d", None), "/api/v1/namespaces/x/pods/a%3Fb%23c%20d");
    }
}
