//! Discovery: what the API server serves, as one model (groups → versions → resources),
//! whichever way the server describes it.
//!
//! Contract:
//! - [`DiscoveryClient::discover`] first asks `/api` and `/apis` for aggregated discovery
//!   (`apidiscovery.k8s.io` v2, or v2beta1 from older servers) with plain JSON as the last
//!   acceptable type, so one request per root describes everything. When the server answers
//!   with plain `APIVersions`/`APIGroupList` JSON, or 406, it falls back to legacy discovery:
//!   `/api`, `/api/{v}`, `/apis` and `/apis/{g}/{v}` (the group versions fetched
//!   concurrently). A 404 on `/api` means the server has no core group (generic API servers).
//! - Both forms produce the same [`Discovery`]: groups in server order (core first), each
//!   group's versions with the preferred one first, resources with their singular name (the
//!   lower-cased kind when the server leaves it empty, as client-go does), kind, scope, verbs,
//!   short names, categories and subresources (legacy `pods/status` entries are folded into
//!   their parent).
//! - A group version whose legacy document fails to load is left out and recorded in
//!   [`Discovery::failed`] (client-go's partial discovery failure); only root failures are
//!   errors.
//! - Parsing is pure (`Discovery::from_aggregated`, `Discovery::from_legacy`) and unit-tested
//!   on the recorded fixtures.

use std::borrow::Cow;

use bytes::Bytes;
use http::Method;
use serde::Deserialize;

use rudder_apimachinery::resource::{ApiResource, Scope};
use rudder_apimachinery::schema::{GroupVersion, GroupVersionKind};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::request::build;

/// `Accept` for aggregated discovery: v2, then v2beta1, then plain JSON (legacy answer).
pub const ACCEPT_AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// The server's `/version` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerVersion {
    /// Major version (`"1"`).
    #[serde(default)]
    pub major: String,
    /// Minor version (`"31"`, sometimes with a `+` suffix).
    #[serde(default)]
    pub minor: String,
    /// `v1.31.0`.
    #[serde(default)]
    pub git_version: String,
    /// Commit.
    #[serde(default)]
    pub git_commit: String,
    /// `clean` or `dirty`.
    #[serde(default)]
    pub git_tree_state: String,
    /// Build date.
    #[serde(default)]
    pub build_date: String,
    /// Go version.
    #[serde(default)]
    pub go_version: String,
    /// Compiler.
    #[serde(default)]
    pub compiler: String,
    /// `linux/amd64`.
    #[serde(default)]
    pub platform: String,
}

/// A subresource of a resource (`status`, `scale`, `log`, `eviction` ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubresourceInfo {
    /// Its name (`status`).
    pub name: String,
    /// The kind its requests and answers carry (`Scale`, `Eviction`), with its group/version.
    pub kind: GroupVersionKind,
    /// Verbs.
    pub verbs: Vec<String>,
}

/// One resource of one group version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// Group, version, kind, plural and scope (ready for `Api::with_resource`).
    pub api: ApiResource,
    /// Singular name (`deployment`).
    pub singular: String,
    /// Verbs (`get`, `list`, `watch` ...).
    pub verbs: Vec<String>,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Subresources.
    pub subresources: Vec<SubresourceInfo>,
}

impl ResourceInfo {
    /// Plural name.
    pub fn name(&self) -> &str {
        &self.api.plural
    }
    /// Whether it lives in namespaces.
    pub fn namespaced(&self) -> bool {
        self.api.scope == Scope::Namespaced
    }
    /// Whether it supports `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
    /// A subresource by name.
    pub fn subresource(&self, name: &str) -> Option<&SubresourceInfo> {
        self.subresources.iter().find(|s| s.name == name)
    }
}

/// One version of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// `v1`.
    pub version: String,
    /// Its resources.
    pub resources: Vec<ResourceInfo>,
}

/// One API group (`""` is the core group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group name.
    pub name: String,
    /// Versions, the preferred one first.
    pub versions: Vec<VersionInfo>,
}

impl GroupInfo {
    /// The preferred version (the first).
    pub fn preferred_version(&self) -> Option<&VersionInfo> {
        self.versions.first()
    }
    /// A version by name.
    pub fn version(&self, v: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|x| x.version == v)
    }
}

/// Everything the server serves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discovery {
    /// Groups in server order, the core group first.
    pub groups: Vec<GroupInfo>,
    /// Group versions whose legacy discovery document failed to load, with the reason.
    pub failed: Vec<(GroupVersion, String)>,
    /// Whether the server answered with aggregated discovery.
    pub aggregated: bool,
}

impl Discovery {
    /// A group by name (`""` for core).
    pub fn group(&self, name: &str) -> Option<&GroupInfo> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The resources of one group version.
    pub fn resources(&self, gv: &GroupVersion) -> Option<&[ResourceInfo]> {
        self.group(&gv.group)?.version(&gv.version).map(|v| v.resources.as_slice())
    }

    /// The resource serving a kind (exact group, version and kind).
    pub fn resource_for_kind(&self, gvk: &GroupVersionKind) -> Option<&ResourceInfo> {
        self.resources(&gvk.group_version())?.iter().find(|r| r.api.kind == gvk.kind)
    }

    /// Every resource: groups in order, versions preferred first.
    pub fn all_resources(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.groups.iter().flat_map(|g| g.versions.iter()).flat_map(|v| v.resources.iter())
    }

    /// Parses aggregated discovery (`APIGroupDiscoveryList`, v2 or v2beta1) into groups.
    pub fn from_aggregated(bytes: &[u8]) -> std::result::Result<Vec<GroupInfo>, serde_json::Error> {
        let list: agg::GroupList = serde_json::from_slice(bytes)?;
        Ok(list.items.into_iter().map(agg::Group::into_info).collect())
    }

    /// Builds groups from legacy documents: the core `APIVersions` resource lists and the
    /// `APIGroupList` with each group version's `APIResourceList`.
    pub fn from_legacy(
        core: Vec<(String, Vec<u8>)>,
        groups: &[u8],
        group_versions: Vec<(GroupVersion, Vec<u8>)>,
    ) -> Result<Self> {
        let mut d = Discovery::default();
        let mut core_versions = Vec::new();
        for (v, bytes) in core {
            let gv = GroupVersion::new("", v.clone());
            core_versions.push(VersionInfo { version: v, resources: legacy::resources(&gv, &bytes, "/api")? });
        }
        if !core_versions.is_empty() {
            d.groups.push(GroupInfo { name: String::new(), versions: core_versions });
        }
        let list: legacy::GroupList = decode(groups, "APIGroupList from /apis")?;
        for g in list.groups {
            let mut versions = Vec::new();
            for v in g.ordered_versions() {
                let gv = GroupVersion::new(g.name.clone(), v.clone());
                if let Some((_, bytes)) = group_versions.iter().find(|(x, _)| *x == gv) {
                    versions.push(VersionInfo { version: v, resources: legacy::resources(&gv, bytes, "/apis")? });
                }
            }
            if !versions.is_empty() {
                d.groups.push(GroupInfo { name: g.name, versions });
            }
        }
        Ok(d)
    }
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode { what: what.to_string(), source })
}

/// The `kind` of a JSON document, if it has one.
fn kind_of(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct K<'a> {
        #[serde(borrow)]
        kind: Option<Cow<'a, str>>,
    }
    serde_json::from_slice::<K<'_>>(bytes).ok().and_then(|k| k.kind.map(Cow::into_owned))
}

/// Fetches discovery documents from a server.
#[derive(Clone, Debug)]
pub struct DiscoveryClient {
    client: Client,
}

/// What a root answered.
enum Root {
    Aggregated(Vec<GroupInfo>),
    Legacy(Bytes),
    Missing,
}

impl DiscoveryClient {
    /// A discovery client over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// `GET /version`.
    pub async fn server_version(&self) -> Result<ServerVersion> {
        self.client.request(get("/version", "application/json")?).await
    }

    /// Discovers everything the server serves (aggregated when available, else legacy).
    pub async fn discover(&self) -> Result<Discovery> {
        let (core, apis) = futures::future::try_join(self.root("/api"), self.root("/apis")).await?;
        let mut d = Discovery::default();
        let mut legacy_core = Vec::new();
        let mut legacy_groups: Option<Bytes> = None;
        match core {
            Root::Aggregated(g) => {
                d.aggregated = true;
                d.groups.extend(g);
            }
            Root::Legacy(b) => {
                let v: legacy::Versions = decode(&b, "APIVersions from /api")?;
                legacy_core = v.versions;
            }
            Root::Missing => {}
        }
        match apis {
            Root::Aggregated(g) => {
                d.aggregated = true;
                d.groups.extend(g);
            }
            Root::Legacy(b) => legacy_groups = Some(b),
            Root::Missing => {}
        }
        if legacy_core.is_empty() && legacy_groups.is_none() {
            return Ok(d);
        }
        // Legacy: fetch every group version's resource list concurrently.
        let mut wanted: Vec<(GroupVersion, String)> =
            legacy_core.iter().map(|v| (GroupVersion::new("", v.clone()), format!("/api/{v}"))).collect();
        if let Some(b) = &legacy_groups {
            let list: legacy::GroupList = decode(b, "APIGroupList from /apis")?;
            for g in &list.groups {
                for v in g.ordered_versions() {
                    wanted.push((GroupVersion::new(g.name.clone(), v.clone()), format!("/apis/{}/{v}", g.name)));
                }
            }
        }
        let fetched = futures::future::join_all(wanted.into_iter().map(|(gv, path)| async move {
            let r = match get(&path, "application/json") {
                Ok(req) => self.client.request_bytes(req).await,
                Err(e) => Err(e),
            };
            (gv, r)
        }))
        .await;
        let mut core_docs = Vec::new();
        let mut group_docs = Vec::new();
        for (gv, r) in fetched {
            match r {
                Ok(b) if gv.group.is_empty() => core_docs.push((gv.version.clone(), b.to_vec())),
                Ok(b) => group_docs.push((gv, b.to_vec())),
                Err(e) => d.failed.push((gv, e.to_string())),
            }
        }
        let groups_doc = legacy_groups.map(|b| b.to_vec()).unwrap_or_else(|| br#"{"groups":[]}"#.to_vec());
        let mut legacy = Discovery::from_legacy(core_docs, &groups_doc, group_docs)?;
        // Aggregated groups (if one root was aggregated) keep their place: core first.
        let core_first = legacy.groups.first().is_some_and(|g| g.name.is_empty());
        if core_first {
            let core = legacy.groups.remove(0);
            d.groups.insert(0, core);
        }
        d.groups.extend(legacy.groups);
        d.failed.extend(legacy.failed);
        Ok(d)
    }

    async fn root(&self, path: &str) -> Result<Root> {
        let bytes = match self.client.request_bytes(get(path, ACCEPT_AGGREGATED)?).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(Root::Missing),
            Err(e) if e.status().is_some_and(|s| s.code == 406) => {
                match self.client.request_bytes(get(path, "application/json")?).await {
                    Ok(b) => b,
                    Err(e) if e.is_not_found() => return Ok(Root::Missing),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        match kind_of(&bytes).as_deref() {
            Some("APIGroupDiscoveryList") => Discovery::from_aggregated(&bytes)
                .map(Root::Aggregated)
                .map_err(|source| Error::Decode { what: format!("APIGroupDiscoveryList from {path}"), source }),
            _ => Ok(Root::Legacy(bytes)),
        }
    }

    /// `GET /api` (legacy): the core group's versions.
    pub async fn legacy_core_versions(&self) -> Result<Vec<String>> {
        let b = self.client.request_bytes(get("/api", "application/json")?).await?;
        Ok(decode::<legacy::Versions>(&b, "APIVersions from /api")?.versions)
    }

    /// `GET /api/{v}` or `/apis/{g}/{v}` (legacy): one group version's resources.
    pub async fn resources_for(&self, gv: &GroupVersion) -> Result<Vec<ResourceInfo>> {
        let (root, path) = if gv.group.is_empty() {
            ("/api", format!("/api/{}", gv.version))
        } else {
            ("/apis", format!("/apis/{}/{}", gv.group, gv.version))
        };
        let b = self.client.request_bytes(get(&path, "application/json")?).await?;
        legacy::resources(gv, &b, root)
    }
}

fn get(path: &str, accept: &str) -> Result<http::Request<Bytes>> {
    build(Method::GET, path, Vec::new(), accept, None)
}

fn singular_or_kind(singular: String, kind: &str) -> String {
    if singular.is_empty() {
        kind.to_lowercase()
    } else {
        singular
    }
}

/// Legacy discovery documents.
mod legacy {
    use super::*;

    #[derive(Deserialize)]
    pub(super) struct Versions {
        #[serde(default)]
        pub versions: Vec<String>,
    }

    #[derive(Deserialize)]
    pub(super) struct GroupList {
        #[serde(default)]
        pub groups: Vec<Group>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Group {
        pub name: String,
        #[serde(default)]
        pub versions: Vec<GroupVersionForDiscovery>,
        #[serde(default)]
        pub preferred_version: Option<GroupVersionForDiscovery>,
    }

    #[derive(Deserialize)]
    pub(super) struct GroupVersionForDiscovery {
        #[serde(default)]
        pub version: String,
    }

    impl Group {
        /// Versions with the preferred one first.
        pub fn ordered_versions(&self) -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            if let Some(p) = self.preferred_version.as_ref().filter(|p| !p.version.is_empty()) {
                out.push(p.version.clone());
            }
            for v in &self.versions {
                if !v.version.is_empty() && !out.contains(&v.version) {
                    out.push(v.version.clone());
                }
            }
            out
        }
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ResourceList {
        #[serde(default)]
        resources: Vec<Resource>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Resource {
        name: String,
        #[serde(default)]
        singular_name: String,
        #[serde(default)]
        namespaced: bool,
        #[serde(default)]
        group: Option<String>,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        kind: String,
        #[serde(default)]
        verbs: Vec<String>,
        #[serde(default)]
        short_names: Vec<String>,
        #[serde(default)]
        categories: Vec<String>,
    }

    /// Decodes an `APIResourceList`, folding `parent/sub` entries into their parent.
    pub(super) fn resources(gv: &GroupVersion, bytes: &[u8], root: &str) -> Result<Vec<ResourceInfo>> {
        let what = if gv.group.is_empty() {
            format!("APIResourceList from {root}/{}", gv.version)
        } else {
            format!("APIResourceList from {root}/{}/{}", gv.group, gv.version)
        };
        let list: ResourceList = decode(bytes, &what)?;
        let mut out: Vec<ResourceInfo> = Vec::new();
        let mut subs = Vec::new();
        for r in list.resources {
            if r.name.contains('/') {
                subs.push(r);
                continue;
            }
            let scope = if r.namespaced { Scope::Namespaced } else { Scope::Cluster };
            let gvk = gv.with_kind(r.kind.clone());
            out.push(ResourceInfo {
                api: ApiResource::from_gvk(&gvk, r.name, scope),
                singular: singular_or_kind(r.singular_name, &r.kind),
                verbs: r.verbs,
                short_names: r.short_names,
                categories: r.categories,
                subresources: Vec::new(),
            });
        }
        for s in subs {
            let Some((parent, sub)) = s.name.split_once('/') else { continue };
            if let Some(p) = out.iter_mut().find(|p| p.api.plural == parent) {
                let group = s.group.unwrap_or_else(|| gv.group.clone());
                let version = s.version.unwrap_or_else(|| gv.version.clone());
                p.subresources.push(SubresourceInfo {
                    name: sub.to_string(),
                    kind: GroupVersionKind::new(group, version, s.kind),
                    verbs: s.verbs,
                });
            }
        }
        Ok(out)
    }
}

/// Aggregated discovery documents (`apidiscovery.k8s.io` v2 / v2beta1).
mod agg {
    use super::*;

    #[derive(Deserialize)]
    pub(super) struct GroupList {
        #[serde(default)]
        pub items: Vec<Group>,
    }

    #[derive(Deserialize, Default)]
    struct Meta {
        #[serde(default)]
        name: String,
    }

    #[derive(Deserialize)]
    pub(super) struct Group {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        versions: Vec<Version>,
    }

    #[derive(Deserialize)]
    struct Version {
        version: String,
        #[serde(default)]
        resources: Vec<Resource>,
    }

    #[derive(Deserialize, Default)]
    struct Kind {
        #[serde(default)]
        group: String,
        #[serde(default)]
        version: String,
        #[serde(default)]
        kind: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Resource {
        resource: String,
        #[serde(default)]
        response_kind: Option<Kind>,
        #[serde(default)]
        scope: String,
        #[serde(default)]
        singular_resource: String,
        #[serde(default)]
        verbs: Vec<String>,
        #[serde(default)]
        short_names: Vec<String>,
        #[serde(default)]
        categories: Vec<String>,
        #[serde(default)]
        subresources: Vec<Subresource>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Subresource {
        subresource: String,
        #[serde(default)]
        response_kind: Option<Kind>,
        #[serde(default)]
        verbs: Vec<String>,
    }

    /// An empty responseKind group/version means "the resource's own".
    fn gvk(k: Option<Kind>, group: &str, version: &str) -> GroupVersionKind {
        let k = k.unwrap_or_default();
        if k.group.is_empty() && k.version.is_empty() {
            GroupVersionKind::new(group, version, k.kind)
        } else {
            GroupVersionKind::new(k.group, k.version, k.kind)
        }
    }

    impl Group {
        pub fn into_info(self) -> GroupInfo {
            let group = self.metadata.name;
            let versions = self
                .versions
                .into_iter()
                .map(|v| {
                    let resources = v
                        .resources
                        .into_iter()
                        .map(|r| {
                            let scope = if r.scope == "Cluster" { Scope::Cluster } else { Scope::Namespaced };
                            // The resource's own kind is always in its group version.
                            let kind = r.response_kind.map(|k| k.kind).unwrap_or_default();
                            let own = GroupVersionKind::new(group.clone(), v.version.clone(), kind.clone());
                            ResourceInfo {
                                api: ApiResource::from_gvk(&own, r.resource, scope),
                                singular: singular_or_kind(r.singular_resource, &kind),
                                verbs: r.verbs,
                                short_names: r.short_names,
                                categories: r.categories,
                                subresources: r
                                    .subresources
                                    .into_iter()
                                    .map(|s| SubresourceInfo {
                                        name: s.subresource,
                                        kind: gvk(s.response_kind, &group, &v.version),
                                        verbs: s.verbs,
                                    })
                                    .collect(),
                            }
                        })
                        .collect();
                    VersionInfo { version: v.version, resources }
                })
                .collect();
            GroupInfo { name: group, versions }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!("{}/../testdata/apiserver/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn version_fixture_decodes() {
        let v: ServerVersion = serde_json::from_slice(&fixture("version.json")).unwrap();
        assert_eq!((v.major.as_str(), v.minor.as_str(), v.git_version.as_str()), ("1", "31", "v1.31.0"));
        assert_eq!(v.platform, "linux/amd64");
    }

    #[test]
    fn aggregated_fixture_decodes() {
        let groups = Discovery::from_aggregated(&fixture("discovery-aggregated-apis.json")).unwrap();
        let d = Discovery { groups, ..Default::default() };
        let apps = d.group("apps").unwrap();
        assert_eq!(apps.preferred_version().unwrap().version, "v1");
        let deploy = d.resource_for_kind(&GroupVersionKind::new("apps", "v1", "Deployment")).unwrap();
        assert_eq!(deploy.name(), "deployments");
        assert_eq!(deploy.singular, "deployment");
        assert!(deploy.namespaced());
        assert_eq!(deploy.short_names, ["deploy"]);
        assert!(deploy.supports("watch"));
        let scale = deploy.subresource("scale").unwrap();
        assert_eq!(scale.kind, GroupVersionKind::new("autoscaling", "v1", "Scale"));
        // An empty responseKind group/version means the resource's own.
        assert_eq!(deploy.subresource("status").unwrap().kind, GroupVersionKind::new("apps", "v1", "Deployment"));
        let ct = d.resource_for_kind(&GroupVersionKind::new("stable.example.com", "v1", "CronTab")).unwrap();
        assert_eq!((ct.name(), ct.short_names.as_slice()), ("crontabs", &["ct".to_string()][..]));
        assert_eq!(ct.api.api_version, "stable.example.com/v1");
    }

    #[test]
    fn recorded_v2beta1_with_empty_singulars_decodes() {
        let body = br#"{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2beta1","metadata":{},"items":[{"metadata":{"name":"wardle.example.com","creationTimestamp":null},"versions":[{"version":"v1beta1","resources":[{"resource":"flunders","responseKind":{"group":"","version":"","kind":"Flunder"},"scope":"Namespaced","singularResource":"","verbs":["create","delete","deletecollection","get","list","patch","update","watch"]}]},{"version":"v1alpha1","resources":[{"resource":"fischers","responseKind":{"group":"","version":"","kind":"Fischer"},"scope":"Cluster","singularResource":"","verbs":["create","delete","deletecollection","get","list","patch","update","watch"]}]}]}]}"#;
        let groups = Discovery::from_aggregated(body).unwrap();
        assert_eq!(groups[0].preferred_version().unwrap().version, "v1beta1");
        let f = &groups[0].version("v1alpha1").unwrap().resources[0];
        assert_eq!((f.singular.as_str(), f.api.scope), ("fischer", Scope::Cluster));
    }

    #[test]
    fn legacy_fixtures_decode_into_the_same_model() {
        let api: legacy::Versions = serde_json::from_slice(&fixture("discovery-api.json")).unwrap();
        assert_eq!(api.versions, ["v1"]);
        let d = Discovery::from_legacy(
            vec![("v1".into(), fixture("discovery-api-v1.json"))],
            &fixture("discovery-apis.json"),
            Vec::new(),
        )
        .unwrap();
        // Only the core group has a resource list here; groups without any are left out.
        assert_eq!(d.groups.len(), 1);
        let core = d.group("").unwrap();
        let pods = core.version("v1").unwrap().resources.iter().find(|r| r.name() == "pods").unwrap();
        assert_eq!(pods.api.kind, "Pod");
        assert_eq!(pods.short_names, ["po"]);
        assert_eq!(pods.categories, ["all"]);
        let subs: Vec<&str> = pods.subresources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(subs, ["binding", "eviction", "log", "status"]);
        assert_eq!(pods.subresource("eviction").unwrap().kind, GroupVersionKind::new("policy", "v1", "Eviction"));
        assert_eq!(pods.subresource("binding").unwrap().kind, GroupVersionKind::new("", "v1", "Binding"));
        let ns = core.version("v1").unwrap().resources.iter().find(|r| r.name() == "namespaces").unwrap();
        assert!(!ns.namespaced());
        assert!(!ns.supports("deletecollection"));
        // No "pods/status" entries at the top level.
        assert!(d.all_resources().all(|r| !r.name().contains('/')));
    }

    #[test]
    fn legacy_group_list_orders_preferred_version_first() {
        let list: legacy::GroupList = serde_json::from_slice(&fixture("discovery-apis.json")).unwrap();
        let autoscaling = list.groups.iter().find(|g| g.name == "autoscaling").unwrap();
        assert_eq!(autoscaling.ordered_versions(), ["v2", "v1"]);
        let apps_v1 = br#"{"kind":"APIResourceList","groupVersion":"apps/v1","resources":[{"name":"deployments","singularName":"","namespaced":true,"kind":"Deployment","verbs":["get"],"shortNames":["deploy"]},{"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale","verbs":["get","patch","update"]}]}"#;
        let d = Discovery::from_legacy(
            Vec::new(),
            &fixture("discovery-apis.json"),
            vec![(GroupVersion::new("apps", "v1"), apps_v1.to_vec())],
        )
        .unwrap();
        let dep = d.resource_for_kind(&GroupVersionKind::new("apps", "v1", "Deployment")).unwrap();
        assert_eq!(dep.singular, "deployment");
        assert_eq!(dep.subresource("scale").unwrap().kind.group, "autoscaling");
    }

    #[test]
    fn malformed_documents_are_decode_errors() {
        assert!(Discovery::from_aggregated(b"{\"items\":5}").is_err());
        let e = Discovery::from_legacy(vec![("v1".into(), b"[".to_vec())], b"{}", Vec::new()).unwrap_err();
        assert!(matches!(e, Error::Decode { ref what, .. } if what.contains("/api/v1")), "{e}");
    }
}
