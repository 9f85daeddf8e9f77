//! Discovery documents of the embedded API server, built from its [`Registry`].
//!
//! Contract: every function returns the JSON body a real kube-apiserver (1.3x) sends for the
//! matching endpoint, with the same keys and value shapes as the fixtures in
//! `testdata/apiserver` and the transcripts in `testdata/recorded`:
//!
//! | endpoint | function |
//! |---|---|
//! | `/version` | [`version`] |
//! | `/api` | [`api_versions`] |
//! | `/apis` | [`api_group_list`] |
//! | `/apis/{group}` | [`api_group`] |
//! | `/api/v1`, `/apis/{group}/{version}` | [`api_resource_list`] |
//! | `/api`, `/apis` with the aggregated Accept header | [`aggregated`] |
//!
//! Versions of a group are listed in kube-apiserver's priority order (GA before beta before
//! alpha, higher numbers first), and the first one is the preferred version. Subresources appear
//! in the legacy documents as `pods/status` entries and in the aggregated document under their
//! parent, with the verbs and response kinds kube-apiserver gives them. Pure functions: no I/O.

use std::cmp::Ordering;

use rudder_apimachinery::resource::Scope;
use serde_json::{json, Map, Value};

use super::registry::{Registry, ResourceInfo};

/// The `Content-Type` of an aggregated discovery (v2) response.
pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The address advertised in `serverAddressByClientCIDRs` of `/api`.
const ADVERTISED_ADDRESS: &str = "127.0.0.1:6443";

/// The `/version` document: a Kubernetes version matching the newest k8s-openapi API version
/// the server serves (1.37), marked as rudder's build.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "37",
        "gitVersion": "v1.37.0-rudder",
        "gitCommit": "5f2b1c0e8d7a4b3c9e6f1a2d8c4b7e0f3a6d9c21",
        "gitTreeState": "clean",
        "buildDate": "2026-08-25T10:00:00Z",
        "goVersion": "go1.25.3",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// The `/api` document (`APIVersions`): the core group serves `v1` only.
pub fn api_versions() -> Value {
    api_versions_at(ADVERTISED_ADDRESS)
}

/// The `/api` document advertising `address` (`host:port`) in `serverAddressByClientCIDRs`.
pub fn api_versions_at(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]
    })
}

/// The `/apis` document (`APIGroupList`): every non-core group with its versions (preferred
/// first) and its preferred version, in registry order.
pub fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_body(&g, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The `/apis/{group}` document (`APIGroup`), or `None` when the group is not served (and for
/// the core group, which lives at `/api`).
pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    if group.is_empty() {
        return None;
    }
    let (g, versions) = registry.groups().into_iter().find(|(g, _)| g == group)?;
    let mut body = Map::new();
    body.insert("kind".into(), "APIGroup".into());
    body.insert("apiVersion".into(), "v1".into());
    if let Value::Object(rest) = group_body(&g, versions) {
        body.extend(rest);
    }
    Some(Value::Object(body))
}

/// `name`, `versions` and `preferredVersion` of a group.
fn group_body(group: &str, mut versions: Vec<String>) -> Value {
    sort_versions(&mut versions);
    let entries: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
    let preferred = entries.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": entries, "preferredVersion": preferred})
}

/// The `/api/v1` or `/apis/{group}/{version}` document (`APIResourceList`), or `None` when
/// nothing is served at that group version. Entries are sorted by name, so a resource's
/// subresources (`pods/binding`, `pods/status`, ...) follow it.
pub fn api_resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let infos: Vec<&ResourceInfo> =
        registry.iter().filter(|i| i.api.group == group && i.api.version == version).collect();
    if infos.is_empty() {
        return None;
    }
    let mut entries: Vec<(String, Value)> = Vec::new();
    for info in infos {
        let namespaced = info.api.scope == Scope::Namespaced;
        let mut e = Map::new();
        e.insert("name".into(), info.api.plural.as_ref().into());
        e.insert("singularName".into(), info.singular.clone().into());
        e.insert("namespaced".into(), namespaced.into());
        e.insert("kind".into(), info.api.kind.as_ref().into());
        e.insert("verbs".into(), info.verbs.clone().into());
        if !info.short_names.is_empty() {
            e.insert("shortNames".into(), info.short_names.clone().into());
        }
        if !info.categories.is_empty() {
            e.insert("categories".into(), info.categories.clone().into());
        }
        e.insert("storageVersionHash".into(), storage_version_hash(info).into());
        entries.push((info.api.plural.to_string(), Value::Object(e)));
        for sub in &info.subresources {
            let spec = subresource_spec(info, sub);
            let name = format!("{}/{}", info.api.plural, sub);
            let mut e = Map::new();
            e.insert("name".into(), name.clone().into());
            e.insert("singularName".into(), "".into());
            e.insert("namespaced".into(), namespaced.into());
            if let Some((g, v)) = spec.group_version {
                e.insert("group".into(), g.into());
                e.insert("version".into(), v.into());
            }
            e.insert("kind".into(), spec.kind.into());
            e.insert("verbs".into(), spec.verbs.iter().map(|v| Value::from(*v)).collect());
            entries.push((name, Value::Object(e)));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    let mut body = Map::new();
    body.insert("kind".into(), "APIResourceList".into());
    // kube-apiserver omits apiVersion on the legacy /api/v1 document and sends it for groups.
    if !group.is_empty() {
        body.insert("apiVersion".into(), "v1".into());
    }
    body.insert("groupVersion".into(), group_version.into());
    body.insert("resources".into(), entries.into_iter().map(|(_, e)| e).collect());
    Some(Value::Object(body))
}

/// The aggregated discovery document (`APIGroupDiscoveryList`, apidiscovery.k8s.io/v2): for
/// `/api` when `core` (the core group only), else for `/apis` (every other group). Served with
/// [`AGGREGATED_CONTENT_TYPE`].
///
/// As kube-apiserver does, built-in resources carry a `responseKind` with empty group and
/// version ("same as the resource's group version"), while custom resources name theirs in full.
pub fn aggregated(registry: &Registry, core: bool) -> Value {
    let mut items = Vec::new();
    for (group, mut versions) in registry.groups() {
        if group.is_empty() != core {
            continue;
        }
        sort_versions(&mut versions);
        let version_docs: Vec<Value> = versions
            .iter()
            .map(|v| {
                let resources: Vec<Value> = registry
                    .iter()
                    .filter(|i| i.api.group == group && i.api.version == *v)
                    .map(aggregated_resource)
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        let mut metadata = Map::new();
        if !group.is_empty() {
            metadata.insert("name".into(), group.clone().into());
        }
        metadata.insert("creationTimestamp".into(), Value::Null);
        items.push(json!({"metadata": metadata, "versions": version_docs}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// One resource of an aggregated discovery version.
fn aggregated_resource(info: &ResourceInfo) -> Value {
    let own_kind = |kind: &str| {
        if info.custom {
            json!({"group": info.api.group.as_ref(), "version": info.api.version.as_ref(), "kind": kind})
        } else {
            json!({"group": "", "version": "", "kind": kind})
        }
    };
    let mut r = Map::new();
    r.insert("resource".into(), info.api.plural.as_ref().into());
    r.insert("responseKind".into(), own_kind(&info.api.kind));
    let scope = match info.api.scope {
        Scope::Namespaced => "Namespaced",
        Scope::Cluster => "Cluster",
    };
    r.insert("scope".into(), scope.into());
    r.insert("singularResource".into(), info.singular.clone().into());
    r.insert("verbs".into(), info.verbs.clone().into());
    if !info.short_names.is_empty() {
        r.insert("shortNames".into(), info.short_names.clone().into());
    }
    if !info.categories.is_empty() {
        r.insert("categories".into(), info.categories.clone().into());
    }
    if !info.subresources.is_empty() {
        // kube-apiserver lists subresources alphabetically.
        let mut names: Vec<&String> = info.subresources.iter().collect();
        names.sort();
        let subs: Vec<Value> = names
            .into_iter()
            .map(|sub| {
                let spec = subresource_spec(info, sub);
                let kind = match spec.group_version {
                    Some((g, v)) => json!({"group": g, "version": v, "kind": spec.kind}),
                    None => own_kind(&spec.kind),
                };
                json!({"subresource": sub, "responseKind": kind, "verbs": spec.verbs})
            })
            .collect();
        r.insert("subresources".into(), subs.into());
    }
    Value::Object(r)
}

/// What discovery says about one subresource.
struct SubresourceSpec {
    /// `(group, version)` when the response kind lives in another group version.
    group_version: Option<(&'static str, &'static str)>,
    kind: String,
    verbs: &'static [&'static str],
}

/// The kind and verbs kube-apiserver advertises for a subresource of `parent`.
fn subresource_spec(parent: &ResourceInfo, sub: &str) -> SubresourceSpec {
    let own = |verbs: &'static [&'static str]| SubresourceSpec {
        group_version: None,
        kind: parent.api.kind.to_string(),
        verbs,
    };
    match sub {
        "status" => own(&["get", "patch", "update"]),
        "scale" => SubresourceSpec {
            group_version: Some(("autoscaling", "v1")),
            kind: "Scale".into(),
            verbs: &["get", "patch", "update"],
        },
        "binding" => SubresourceSpec { group_version: None, kind: "Binding".into(), verbs: &["create"] },
        "eviction" => {
            SubresourceSpec { group_version: Some(("policy", "v1")), kind: "Eviction".into(), verbs: &["create"] }
        }
        "log" => own(&["get"]),
        "approval" => own(&["get", "patch", "update"]),
        "token" => SubresourceSpec {
            group_version: Some(("authentication.k8s.io", "v1")),
            kind: "TokenRequest".into(),
            verbs: &["create"],
        },
        "ephemeralcontainers" | "resize" => own(&["get", "patch", "update"]),
        "exec" | "attach" | "portforward" => SubresourceSpec {
            group_version: None,
            // PodExecOptions, PodAttachOptions, PodPortForwardOptions.
            kind: format!(
                "{}{}Options",
                parent.api.kind,
                if sub == "portforward" { "PortForward".into() } else { capitalize(sub) }
            ),
            verbs: &["create", "get"],
        },
        _ => own(&["get"]),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A stable 8-byte hash of the resource's storage identity, base64-encoded as kube-apiserver's
/// `storageVersionHash` is (12 characters ending in `=`).
fn storage_version_hash(info: &ResourceInfo) -> String {
    use base64::Engine as _;
    // FNV-1a, 64 bit: deterministic across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{}/{}/{}", info.api.group, info.api.version, info.api.kind).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    base64::engine::general_purpose::STANDARD.encode(h.to_be_bytes())
}

/// How kube-apiserver ranks a version string: `v{major}` (GA) above `v{major}beta{minor}` above
/// `v{major}alpha{minor}`, higher numbers first within each level; anything else ranks below,
/// alphabetically.
fn version_rank(v: &str) -> (u8, u64, u64) {
    let parsed = v.strip_prefix('v').and_then(|rest| {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let major: u64 = rest.get(..digits)?.parse().ok()?;
        let tail = rest.get(digits..)?;
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        let (level, minor) = if let Some(m) = tail.strip_prefix("beta") {
            (2, m)
        } else if let Some(m) = tail.strip_prefix("alpha") {
            (1, m)
        } else {
            return None;
        };
        Some((level, major, minor.parse().ok()?))
    });
    parsed.unwrap_or((0, 0, 0))
}

/// Compares two versions by kube-apiserver's priority: `Less` means `a` comes first (is preferred).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    version_rank(b).cmp(&version_rank(a)).then_with(|| a.cmp(b))
}

fn sort_versions(versions: &mut [String]) {
    versions.sort_by(|a, b| compare_versions(a, b));
}

/// Whether an `Accept` header asks for aggregated discovery (`APIGroupDiscoveryList`, v2 or
/// v2beta1, as JSON) ahead of the plain JSON documents.
///
/// Media ranges are ranked by their `q` value (default 1; `q=0` means "not acceptable"), ties
/// keep header order. The first range this server can answer decides: an aggregated JSON range
/// means yes; `application/json` without `as=`, `application/*` or `*/*` means no. Ranges the
/// server cannot produce (protobuf, YAML, unknown aggregated versions) are skipped.
///
/// ```
/// use rudder_apiserver::discovery::wants_aggregated;
/// assert!(wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"));
/// assert!(!wants_aggregated("application/json, */*"));
/// ```
pub fn wants_aggregated(accept: &str) -> bool {
    let mut ranges: Vec<(f32, usize, bool)> = Vec::new();
    for (pos, range) in accept.split(',').enumerate() {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let (mut q, mut g, mut v, mut as_) = (1.0f32, None, None, None);
        for p in parts {
            let Some((k, val)) = p.split_once('=') else { continue };
            let val = val.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => q = val.parse().unwrap_or(0.0),
                "g" => g = Some(val.to_string()),
                "v" => v = Some(val.to_string()),
                "as" => as_ = Some(val.to_string()),
                _ => {}
            }
        }
        if q <= 0.0 {
            continue;
        }
        let verdict = match (media.as_str(), as_.as_deref()) {
            ("application/json", Some("APIGroupDiscoveryList")) => {
                if g.as_deref() == Some("apidiscovery.k8s.io") && matches!(v.as_deref(), Some("v2" | "v2beta1")) {
                    Some(true)
                } else {
                    None
                }
            }
            ("application/json" | "application/*" | "*/*", None) => Some(false),
            _ => None,
        };
        if let Some(aggregated) = verdict {
            ranges.push((q, pos, aggregated));
        }
    }
    ranges.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal).then(a.1.cmp(&b.1)));
    ranges.first().is_some_and(|r| r.2)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../testdata/apiserver/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    fn find<'a>(list: &'a Value, field: &str, name: &str) -> &'a Value {
        list.as_array().unwrap().iter().find(|e| e[field] == name).unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn version_has_the_fixture_keys() {
        let v = version();
        assert_eq!(keys(&v), keys(&fixture("version.json")));
        assert_eq!(v["gitVersion"], "v1.37.0-rudder");
        assert_eq!(v["platform"], "linux/amd64");
        // The typed client decodes it.
        let _: k8s_openapi::apimachinery::pkg::version::Info = serde_json::from_value(v).unwrap();
    }

    #[test]
    fn api_versions_matches_fixture() {
        let ours = api_versions();
        let theirs = fixture("discovery-api.json");
        assert_eq!(keys(&ours), keys(&theirs));
        assert_eq!(ours["versions"], theirs["versions"]);
        assert_eq!(keys(&ours["serverAddressByClientCIDRs"][0]), keys(&theirs["serverAddressByClientCIDRs"][0]));
    }

    #[test]
    fn core_resource_list_matches_fixture() {
        let reg = Registry::builtin();
        let ours = api_resource_list(&reg, "", "v1").unwrap();
        let theirs = fixture("discovery-api-v1.json");
        assert_eq!(keys(&ours), keys(&theirs), "top-level keys");
        assert_eq!(ours["groupVersion"], "v1");
        // Every entry of the fixture exists with the same keys and values (but the hash).
        for expected in theirs["resources"].as_array().unwrap() {
            let name = expected["name"].as_str().unwrap();
            let got = find(&ours["resources"], "name", name);
            assert_eq!(keys(got), keys(expected), "keys of {name}");
            for k in keys(expected) {
                if k != "storageVersionHash" {
                    assert_eq!(got[&k], expected[&k], "{name}.{k}");
                }
            }
        }
        let hash = find(&ours["resources"], "name", "pods")["storageVersionHash"].as_str().unwrap().to_string();
        assert_eq!(hash.len(), 12);
        // Sorted by name, subresources right after their parent.
        let names: Vec<&str> =
            ours["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        let pods = names.iter().position(|n| *n == "pods").unwrap();
        assert_eq!(
            &names[pods..pods + 9],
            &[
                "pods",
                "pods/attach",
                "pods/binding",
                "pods/ephemeralcontainers",
                "pods/eviction",
                "pods/exec",
                "pods/log",
                "pods/portforward",
                "pods/status"
            ]
        );
        let pf = find(&ours["resources"], "name", "pods/portforward");
        assert_eq!(
            (pf["kind"].as_str(), &pf["verbs"]),
            (Some("PodPortForwardOptions"), &serde_json::json!(["create", "get"]))
        );
        // Decodes as the typed APIResourceList.
        let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList =
            serde_json::from_value(ours).unwrap();
        assert!(typed
            .resources
            .iter()
            .any(|r| r.name == "configmaps" && r.short_names.as_deref() == Some(&["cm".to_string()][..])));
    }

    #[test]
    fn group_resource_list_has_api_version_and_scale() {
        let reg = Registry::builtin();
        let apps = api_resource_list(&reg, "apps", "v1").unwrap();
        assert_eq!(apps["apiVersion"], "v1");
        assert_eq!(apps["groupVersion"], "apps/v1");
        let scale = find(&apps["resources"], "name", "deployments/scale");
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["version"], "v1");
        assert_eq!(scale["kind"], "Scale");
        assert_eq!(scale["verbs"], json!(["get", "patch", "update"]));
        assert_eq!(find(&apps["resources"], "name", "deployments")["shortNames"], json!(["deploy"]));
        assert!(api_resource_list(&reg, "apps", "v9").is_none());
        assert!(api_resource_list(&reg, "nope.example.com", "v1").is_none());
    }

    #[test]
    fn group_list_matches_fixture() {
        let reg = Registry::builtin();
        let ours = api_group_list(&reg);
        let theirs = fixture("discovery-apis.json");
        assert_eq!(keys(&ours), keys(&theirs));
        assert!(ours["groups"].as_array().unwrap().iter().all(|g| g["name"] != ""), "no core group in /apis");
        for name in ["apps", "batch", "coordination.k8s.io", "autoscaling"] {
            let got = find(&ours["groups"], "name", name);
            let expected = find(&theirs["groups"], "name", name);
            assert_eq!(keys(got), keys(expected), "group {name}");
            assert_eq!(got["preferredVersion"], expected["preferredVersion"], "group {name}");
            // k8s-openapi also has beta/alpha versions a default cluster does not serve: they
            // come after the fixture's versions.
            let n = expected["versions"].as_array().unwrap().len();
            assert_eq!(
                got["versions"].as_array().unwrap()[..n],
                expected["versions"].as_array().unwrap()[..],
                "{name}"
            );
        }
        let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroupList = serde_json::from_value(ours).unwrap();
        assert!(typed.groups.len() > 10);
    }

    #[test]
    fn api_group_document() {
        let reg = Registry::builtin();
        let g = api_group(&reg, "autoscaling").unwrap();
        assert_eq!(g["kind"], "APIGroup");
        assert_eq!(g["apiVersion"], "v1");
        assert_eq!(g["preferredVersion"], json!({"groupVersion": "autoscaling/v2", "version": "v2"}));
        assert_eq!(g["versions"][1]["version"], "v1");
        assert!(api_group(&reg, "").is_none());
        assert!(api_group(&reg, "nope.example.com").is_none());
        let _: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroup = serde_json::from_value(g).unwrap();
    }

    #[test]
    fn preferred_version_follows_kube_priority() {
        let mut v: Vec<String> = ["v1alpha1", "v1beta1", "v2beta2", "v1", "v1beta2", "v2", "v10", "foo", "v3alpha1"]
            .map(String::from)
            .to_vec();
        sort_versions(&mut v);
        assert_eq!(v, ["v10", "v2", "v1", "v2beta2", "v1beta2", "v1beta1", "v3alpha1", "v1alpha1", "foo"]);
    }

    #[test]
    fn aggregated_matches_fixture_shape() {
        let reg = Registry::builtin();
        let ours = aggregated(&reg, false);
        let theirs = fixture("discovery-aggregated-apis.json");
        assert_eq!(keys(&ours), keys(&theirs));
        assert_eq!(ours["apiVersion"], "apidiscovery.k8s.io/v2");
        let their_apps = &theirs["items"][0];
        let our_apps = ours["items"].as_array().unwrap().iter().find(|i| i["metadata"]["name"] == "apps").unwrap();
        assert_eq!(keys(our_apps), keys(their_apps));
        assert_eq!(our_apps["metadata"], their_apps["metadata"]);
        let (ov, tv) = (&our_apps["versions"][0], &their_apps["versions"][0]);
        assert_eq!(keys(ov), keys(tv));
        assert_eq!(ov["freshness"], "Current");
        for name in ["deployments", "replicasets"] {
            let (o, t) = (find(&ov["resources"], "resource", name), find(&tv["resources"], "resource", name));
            assert_eq!(o, t, "aggregated {name}");
        }
        assert!(ours["items"].as_array().unwrap().iter().all(|i| i["metadata"]["name"] != Value::Null));
    }

    #[test]
    fn aggregated_core_has_pods_with_subresources() {
        let reg = Registry::builtin();
        let core = aggregated(&reg, true);
        let items = core["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0]["metadata"].get("name").is_none());
        let v1 = &items[0]["versions"][0];
        assert_eq!(v1["version"], "v1");
        let pods = find(&v1["resources"], "resource", "pods");
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["singularResource"], "pod");
        assert_eq!(
            pods["verbs"],
            json!(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])
        );
        assert_eq!(pods["shortNames"], json!(["po"]));
        let ev = find(&pods["subresources"], "subresource", "eviction");
        assert_eq!(ev["responseKind"], json!({"group": "policy", "version": "v1", "kind": "Eviction"}));
        assert_eq!(ev["verbs"], json!(["create"]));
        let st = find(&pods["subresources"], "subresource", "status");
        assert_eq!(st["responseKind"], json!({"group": "", "version": "", "kind": "Pod"}));
        assert_eq!(find(&v1["resources"], "resource", "namespaces")["scope"], "Cluster");
    }

    #[test]
    fn aggregated_custom_resource_names_its_kind() {
        use rudder_apimachinery::resource::ApiResource;
        let mut reg = Registry::builtin();
        let mut info = ResourceInfo::new(ApiResource {
            group: "stable.example.com".into(),
            version: "v1".into(),
            api_version: "stable.example.com/v1".into(),
            kind: "CronTab".into(),
            plural: "crontabs".into(),
            scope: Scope::Namespaced,
        });
        info.custom = true;
        info.short_names = vec!["ct".into()];
        info.categories = vec!["all".into()];
        info.subresources = vec!["status".into()];
        reg.add(info);
        let apis = aggregated(&reg, false);
        let item =
            apis["items"].as_array().unwrap().iter().find(|i| i["metadata"]["name"] == "stable.example.com").unwrap();
        let ct = &item["versions"][0]["resources"][0];
        assert_eq!(ct["responseKind"], json!({"group": "stable.example.com", "version": "v1", "kind": "CronTab"}));
        assert_eq!(ct["subresources"][0]["responseKind"]["group"], "stable.example.com");
        let list = api_group_list(&reg);
        assert!(list["groups"].as_array().unwrap().iter().any(|g| g["name"] == "stable.example.com"));
    }

    #[test]
    fn accept_header_negotiation() {
        let v2 = AGGREGATED_CONTENT_TYPE;
        assert!(wants_aggregated(v2));
        assert!(wants_aggregated(&format!("{v2},application/json")));
        assert!(wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"));
        // What client-go (kubectl) sends: protobuf first, which this server skips.
        assert!(wants_aggregated(
            "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
             application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
             application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,\
             application/vnd.kubernetes.protobuf,application/json"
        ));
        // Spaces and case in parameters.
        assert!(wants_aggregated("application/json ; g=apidiscovery.k8s.io ; v=v2 ; as=APIGroupDiscoveryList"));
        // Plain JSON first, or a higher q on it, wins.
        assert!(!wants_aggregated(&format!("application/json,{v2}")));
        assert!(!wants_aggregated(&format!("{v2};q=0.5,application/json")));
        assert!(wants_aggregated(&format!("application/json;q=0.9,{v2}")));
        assert!(!wants_aggregated(&format!("{v2};q=0")));
        // Unknown versions and non-discovery requests.
        assert!(!wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"));
        assert!(!wants_aggregated("application/json"));
        assert!(!wants_aggregated("*/*"));
        assert!(!wants_aggregated(""));
        assert!(!wants_aggregated("application/json;as=Table;v=v1;g=meta.k8s.io"));
    }
}
