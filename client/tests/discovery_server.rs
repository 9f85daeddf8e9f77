//! Discovery and the RESTMapper against the embedded API server over a real socket.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use rudder_apimachinery::{GroupVersion, GroupVersionKind, Scope};
use rudder_apiserver::ApiServer;
use rudder_client::clientset::ClientSet;
use rudder_client::discovery::DiscoveryClient;
use rudder_client::restmapper::RestMapper;
use serde_json::json;

#[tokio::test]
async fn server_version_and_full_discovery() {
    let s = ApiServer::start().await.unwrap();
    let dc = DiscoveryClient::new(s.client());
    let v = dc.server_version().await.unwrap();
    assert_eq!(v.major, "1");
    assert!(v.git_version.starts_with('v'), "{v:?}");

    let d = dc.discover().await.unwrap();
    assert!(d.failed.is_empty(), "{:?}", d.failed);
    assert_eq!(d.groups.first().map(|g| g.name.as_str()), Some(""), "core group first");
    let pods = d.resource_for_kind(&GroupVersionKind::new("", "v1", "Pod")).expect("pods served");
    assert_eq!((pods.name(), pods.singular.as_str(), pods.namespaced()), ("pods", "pod", true));
    for sub in ["status", "binding", "eviction", "log"] {
        assert!(pods.subresource(sub).is_some(), "pods/{sub}");
    }
    assert!(pods.supports("watch"));
    let deploy = d.resource_for_kind(&GroupVersionKind::new("apps", "v1", "Deployment")).unwrap();
    assert_eq!(deploy.subresource("scale").unwrap().kind, GroupVersionKind::new("autoscaling", "v1", "Scale"));
    let nodes = d.resource_for_kind(&GroupVersionKind::new("", "v1", "Node")).unwrap();
    assert_eq!(nodes.api.scope, Scope::Cluster);
    // Legacy per-group-version documents agree with the combined model.
    let apps = dc.resources_for(&GroupVersion::new("apps", "v1")).await.unwrap();
    assert!(apps.iter().any(|r| r.name() == "deployments" && r.subresource("scale").is_some()));
    assert_eq!(dc.legacy_core_versions().await.unwrap(), ["v1"]);
}

#[tokio::test]
async fn restmapper_resolves_kubectl_names_and_finds_new_crds() {
    let s = ApiServer::start().await.unwrap();
    let m = RestMapper::new(s.client()).with_min_refresh_interval(std::time::Duration::ZERO);
    let po = m.resource_for("po").await.unwrap();
    assert_eq!((po.group.as_ref(), po.plural.as_ref()), ("", "pods"));
    let deploy = m.resource_for("deploy").await.unwrap();
    assert_eq!((deploy.group.as_ref(), deploy.version.as_ref()), ("apps", "v1"));
    assert_eq!(m.resource_for("deployments.apps").await.unwrap(), deploy);
    assert_eq!(m.resource_for("events").await.unwrap().group, "", "core events win, as in kubectl");
    let lease = m.resource_for_kind(&GroupVersionKind::new("coordination.k8s.io", "v1", "Lease")).await.unwrap();
    assert_eq!(lease.plural, "leases");
    assert!(m.resource_for("crontabs").await.is_err());

    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    ClientSet::new(s.client())
        .apiextensions_v1()
        .custom_resource_definitions()
        .create(&Default::default(), &crd)
        .await
        .unwrap();
    // A miss refreshes the cache from discovery.
    let wd = m.resource_for("wd").await.unwrap();
    assert_eq!((wd.kind.as_ref(), wd.scope), ("Widget", Scope::Cluster));
}

#[tokio::test]
async fn misses_refresh_at_most_once_and_are_rate_limited() {
    let s = ApiServer::start().await.unwrap();
    let m = RestMapper::new(s.client()).with_min_refresh_interval(std::time::Duration::from_secs(3600));
    // First use: the empty cache misses and discovers once.
    m.resource_for("po").await.unwrap();
    let first = m.discovery();
    assert!(!first.groups.is_empty());
    // Hits never rediscover; misses within the interval do not either (they fail fast).
    m.resource_for("deploy").await.unwrap();
    assert!(m.resource_for("nosuchthing").await.is_err());
    assert!(std::sync::Arc::ptr_eq(&first, &m.discovery()), "no refresh inside the interval");

    // With no interval, every miss refreshes exactly once.
    let eager = RestMapper::new(s.client()).with_min_refresh_interval(std::time::Duration::ZERO);
    eager.resource_for("po").await.unwrap();
    let before = eager.discovery();
    eager.resource_for("po").await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&before, &eager.discovery()), "a hit keeps the cache");
    assert!(eager.resource_for("nosuchthing").await.is_err());
    assert!(!std::sync::Arc::ptr_eq(&before, &eager.discovery()), "a miss refreshed");
}
