//! [`RestMapper`]: kind ↔ resource mapping from discovery, cached, as kubectl resolves names.
//!
//! Contract:
//! - `GroupVersionKind` → [`ApiResource`] (its GVR and scope); a resource name as a user types
//!   it → `ApiResource`: plural, singular, short name or kind, case-insensitively
//!   (`po`, `pod`, `pods`, `Pod`), optionally qualified by group (`deployments.apps`) or by
//!   version and group (`deployments.v1.apps`).
//! - When several match, the first in discovery order wins: groups in server order (the core
//!   group first, so `events` is core `v1` events, as kubectl picks), and within a group the
//!   preferred version. An explicit version always selects that version.
//! - The mapping is cached. A lookup that misses refreshes from discovery at most once per
//!   miss, and never more often than [`RestMapper::with_min_refresh_interval`] (default 1 s)
//!   across all callers; concurrent misses share one refresh. A miss after that is
//!   [`MapError::NoMatch`].

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use tokio::time::Instant;

use rudder_apimachinery::resource::ApiResource;
use rudder_apimachinery::schema::{GroupVersionKind, GroupVersionResource};

use crate::client::Client;
use crate::discovery::{Discovery, DiscoveryClient, ResourceInfo};
use crate::error::Error;

/// A failed mapping.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// Nothing the server serves matches.
    #[error("the server doesn't have a resource type {0:?}")]
    NoMatch(String),
    /// Discovery failed.
    #[error("discovery failed: {0}")]
    Discovery(#[source] Box<Error>),
}

impl From<MapError> for Error {
    fn from(e: MapError) -> Self {
        match e {
            MapError::Discovery(e) => *e,
            e @ MapError::NoMatch(_) => Error::InvalidRequest(e.to_string()),
        }
    }
}

/// Cached kind/resource mapping backed by discovery. Clone freely (clones share the cache).
#[derive(Clone, Debug)]
pub struct RestMapper {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    discovery: Option<DiscoveryClient>,
    cache: RwLock<Arc<Discovery>>,
    /// Held while refreshing; remembers when the last refresh started and its generation.
    refresh: tokio::sync::Mutex<RefreshState>,
    generation: RwLock<u64>,
    min_interval: Duration,
}

#[derive(Debug, Default)]
struct RefreshState {
    last: Option<Instant>,
}

impl RestMapper {
    /// A mapper that discovers from `client` on first use.
    pub fn new(client: Client) -> Self {
        Self::build(Some(DiscoveryClient::new(client)), Discovery::default())
    }

    /// A fixed mapper over a discovery result (never refreshes).
    pub fn from_discovery(discovery: Discovery) -> Self {
        Self::build(None, discovery)
    }

    fn build(discovery: Option<DiscoveryClient>, d: Discovery) -> Self {
        Self {
            inner: Arc::new(Inner {
                discovery,
                cache: RwLock::new(Arc::new(d)),
                refresh: tokio::sync::Mutex::new(RefreshState::default()),
                generation: RwLock::new(0),
                min_interval: Duration::from_secs(1),
            }),
        }
    }

    /// Sets the minimum time between two refreshes (builder style; before first use).
    pub fn with_min_refresh_interval(self, interval: Duration) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.min_interval = interval;
                Self { inner: Arc::new(inner) }
            }
            Err(inner) => Self { inner },
        }
    }

    /// The cached discovery result.
    pub fn discovery(&self) -> Arc<Discovery> {
        self.inner.cache.read().clone()
    }

    /// Refreshes the cache from discovery now.
    pub async fn reset(&self) -> Result<(), MapError> {
        let mut st = self.inner.refresh.lock().await;
        self.refresh_locked(&mut st).await
    }

    async fn refresh_locked(&self, st: &mut RefreshState) -> Result<(), MapError> {
        let Some(dc) = &self.inner.discovery else { return Ok(()) };
        st.last = Some(Instant::now());
        let d = dc.discover().await.map_err(|e| MapError::Discovery(Box::new(e)))?;
        *self.inner.cache.write() = Arc::new(d);
        *self.inner.generation.write() += 1;
        tracing::debug!("restmapper refreshed from discovery");
        Ok(())
    }

    /// Looks up with `f`; on a miss refreshes (at most once, rate-limited) and looks again.
    async fn lookup(&self, what: &str, f: impl Fn(&Discovery) -> Option<ApiResource>) -> Result<ApiResource, MapError> {
        let seen = *self.inner.generation.read();
        if let Some(r) = f(&self.discovery()) {
            return Ok(r);
        }
        if self.inner.discovery.is_none() {
            return Err(MapError::NoMatch(what.to_string()));
        }
        {
            let mut st = self.inner.refresh.lock().await;
            let refreshed_meanwhile = *self.inner.generation.read() != seen;
            let too_soon = st.last.is_some_and(|t| t.elapsed() < self.inner.min_interval);
            if !refreshed_meanwhile && !too_soon {
                self.refresh_locked(&mut st).await?;
            }
        }
        f(&self.discovery()).ok_or_else(|| MapError::NoMatch(what.to_string()))
    }

    /// The resource serving `gvk`. An empty version selects the group's preferred version.
    pub async fn resource_for_kind(&self, gvk: &GroupVersionKind) -> Result<ApiResource, MapError> {
        let what = display_gvk(gvk);
        self.lookup(&what, |d| find_kind(d, gvk)).await
    }

    /// Kind and scope of `gvr`. An empty version selects the group's preferred version.
    pub async fn resource_for_gvr(&self, gvr: &GroupVersionResource) -> Result<ApiResource, MapError> {
        let what = if gvr.group.is_empty() {
            format!("{}/{}", gvr.version, gvr.resource)
        } else {
            format!("{}/{}/{}", gvr.group, gvr.version, gvr.resource)
        };
        self.lookup(&what, |d| find_gvr(d, gvr)).await
    }

    /// Resolves a name as kubectl does: `po`, `pods`, `pod`, `Pod`, `deploy`,
    /// `deployments.apps`, `deployments.v1.apps`.
    pub async fn resource_for(&self, name: &str) -> Result<ApiResource, MapError> {
        self.lookup(name, |d| resolve_name(d, name)).await
    }
}

fn display_gvk(gvk: &GroupVersionKind) -> String {
    if gvk.group.is_empty() {
        format!("{}, Kind={}", gvk.version, gvk.kind)
    } else {
        format!("{}/{}, Kind={}", gvk.group, gvk.version, gvk.kind)
    }
}

/// The resources of `group` in version order (preferred first), or of the exact version.
fn candidates<'a>(d: &'a Discovery, group: &'a str, version: &'a str) -> impl Iterator<Item = &'a ResourceInfo> + 'a {
    d.groups
        .iter()
        .filter(move |g| g.name == group)
        .flat_map(|g| g.versions.iter())
        .filter(move |v| version.is_empty() || v.version == version)
        .flat_map(|v| v.resources.iter())
}

fn find_kind(d: &Discovery, gvk: &GroupVersionKind) -> Option<ApiResource> {
    candidates(d, &gvk.group, &gvk.version).find(|r| r.api.kind == gvk.kind).map(|r| r.api.clone())
}

fn find_gvr(d: &Discovery, gvr: &GroupVersionResource) -> Option<ApiResource> {
    candidates(d, &gvr.group, &gvr.version).find(|r| r.api.plural == gvr.resource).map(|r| r.api.clone())
}

fn name_matches(r: &ResourceInfo, name: &str) -> bool {
    r.api.plural.eq_ignore_ascii_case(name)
        || r.singular.eq_ignore_ascii_case(name)
        || r.api.kind.eq_ignore_ascii_case(name)
        || r.short_names.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Resolves a kubectl-style name against a discovery result.
pub fn resolve_name(d: &Discovery, input: &str) -> Option<ApiResource> {
    let input = input.trim();
    if input.is_empty() {
        return None;
    }
    let (name, qualifier) = match input.split_once('.') {
        Some((n, q)) => (n, Some(q)),
        None => (input, None),
    };
    let Some(q) = qualifier else {
        // Unqualified: first match in discovery order. Plural/singular/kind matches win over
        // short names (a short name never shadows a real resource name).
        let all = || d.groups.iter().flat_map(|g| g.versions.iter()).flat_map(|v| v.resources.iter());
        let exact = all().find(|r| {
            r.api.plural.eq_ignore_ascii_case(name)
                || r.singular.eq_ignore_ascii_case(name)
                || r.api.kind.eq_ignore_ascii_case(name)
        });
        return exact.or_else(|| all().find(|r| name_matches(r, name))).map(|r| r.api.clone());
    };
    // `name.version.group`: the first qualifier segment is a version of the rest's group.
    if let Some((version, group)) = q.split_once('.') {
        if let Some(r) = candidates(d, group, version).find(|r| name_matches(r, name)) {
            return Some(r.api.clone());
        }
    }
    // `name.group` (the group may itself contain dots).
    candidates(d, q, "").find(|r| name_matches(r, name)).map(|r| r.api.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_apimachinery::resource::Scope;

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!("{}/../testdata/apiserver/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap()
    }

    fn discovery() -> Discovery {
        let mut d = Discovery::from_legacy(
            vec![("v1".into(), fixture("discovery-api-v1.json"))],
            br#"{"groups":[]}"#,
            Vec::new(),
        )
        .unwrap();
        d.groups.extend(Discovery::from_aggregated(&fixture("discovery-aggregated-apis.json")).unwrap());
        // A group with two versions, v2 preferred, and a kind also named like a core one.
        let extra = br#"{"items":[{"metadata":{"name":"autoscaling"},"versions":[
            {"version":"v2","resources":[{"resource":"horizontalpodautoscalers","responseKind":{"kind":"HorizontalPodAutoscaler"},"scope":"Namespaced","singularResource":"horizontalpodautoscaler","verbs":["get"],"shortNames":["hpa"]}]},
            {"version":"v1","resources":[{"resource":"horizontalpodautoscalers","responseKind":{"kind":"HorizontalPodAutoscaler"},"scope":"Namespaced","singularResource":"horizontalpodautoscaler","verbs":["get"],"shortNames":["hpa"]}]}]},
            {"metadata":{"name":"events.k8s.io"},"versions":[{"version":"v1","resources":[{"resource":"pods","responseKind":{"kind":"Pod"},"scope":"Namespaced","singularResource":"pod","verbs":["get"]}]}]}]}"#;
        d.groups.extend(Discovery::from_aggregated(extra).unwrap());
        d
    }

    #[tokio::test]
    async fn kubectl_names_resolve() {
        let m = RestMapper::from_discovery(discovery());
        for (input, group, version, plural) in [
            ("po", "", "v1", "pods"),
            ("pod", "", "v1", "pods"),
            ("Pods", "", "v1", "pods"),
            ("Pod", "", "v1", "pods"),
            ("cm", "", "v1", "configmaps"),
            ("deploy", "apps", "v1", "deployments"),
            ("deployments.apps", "apps", "v1", "deployments"),
            ("deployment.v1.apps", "apps", "v1", "deployments"),
            ("rs", "apps", "v1", "replicasets"),
            ("ct", "stable.example.com", "v1", "crontabs"),
            ("crontabs.stable.example.com", "stable.example.com", "v1", "crontabs"),
            ("hpa", "autoscaling", "v2", "horizontalpodautoscalers"),
            ("hpa.v1.autoscaling", "autoscaling", "v1", "horizontalpodautoscalers"),
            ("pods.events.k8s.io", "events.k8s.io", "v1", "pods"),
        ] {
            let r = m.resource_for(input).await.unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!((r.group.as_ref(), r.version.as_ref(), r.plural.as_ref()), (group, version, plural), "{input}");
        }
        assert!(matches!(m.resource_for("nope").await, Err(MapError::NoMatch(ref n)) if n == "nope"));
        assert!(matches!(m.resource_for("deploy.batch").await, Err(MapError::NoMatch(_))));
    }

    #[tokio::test]
    async fn kinds_and_gvrs_map_both_ways() {
        let m = RestMapper::from_discovery(discovery());
        let ns = m.resource_for_kind(&GroupVersionKind::new("", "v1", "Namespace")).await.unwrap();
        assert_eq!((ns.plural.as_ref(), ns.scope), ("namespaces", Scope::Cluster));
        let hpa =
            m.resource_for_kind(&GroupVersionKind::new("autoscaling", "", "HorizontalPodAutoscaler")).await.unwrap();
        assert_eq!(hpa.version, "v2", "empty version picks the preferred one");
        let ct = m.resource_for_gvr(&GroupVersionResource::new("stable.example.com", "v1", "crontabs")).await.unwrap();
        assert_eq!((ct.kind.as_ref(), ct.scope), ("CronTab", Scope::Namespaced));
        assert!(m.resource_for_kind(&GroupVersionKind::new("apps", "v2", "Deployment")).await.is_err());
    }
}
