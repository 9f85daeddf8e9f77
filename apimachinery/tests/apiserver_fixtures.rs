//! Every file in `testdata/apiserver` decodes as what it is. A new fixture without an
//! expectation here fails the test, so coverage cannot silently fall behind.

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResourceList, APIVersions};
use k8s_openapi::apimachinery::pkg::version::Info;

use rudder_apimachinery::dynamic::{DynamicList, DynamicObject};
use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::status::Status;
use rudder_apimachinery::watch::WatchEvent;

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/apiserver")
}

fn check(name: &str, bytes: &[u8]) -> Result<(), String> {
    let e = |e: serde_json::Error| format!("{name}: {e}");
    match name {
        n if n.starts_with("status-") => {
            let s: Status = serde_json::from_slice(bytes).map_err(e)?;
            if s.kind != "Status" {
                return Err(format!("{name}: kind {}", s.kind));
            }
        }
        n if n.starts_with("watch-stream-") => {
            for (i, line) in std::str::from_utf8(bytes).map_err(|e| e.to_string())?.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let kind = serde_json::from_str::<serde_json::Value>(line).map_err(e)?["object"]["kind"].clone();
                let r = if kind == "ConfigMap" {
                    serde_json::from_str::<WatchEvent<ConfigMap>>(line).map(|_| ())
                } else {
                    serde_json::from_str::<WatchEvent<Pod>>(line).map(|_| ())
                };
                r.map_err(|err| format!("{name} line {}: {err}", i + 1))?;
                serde_json::from_str::<WatchEvent<DynamicObject>>(line).map_err(e)?;
            }
        }
        "list-pods-page1.json" | "list-pods-page2.json" => {
            let l: ObjectList<Pod> = serde_json::from_slice(bytes).map_err(e)?;
            if l.items.is_empty() {
                return Err(format!("{name}: no items"));
            }
        }
        "list-crd-objects.json" => {
            let l = DynamicList::from_slice(bytes).map_err(e)?;
            if l.items.iter().any(|i| i.kind().is_empty()) {
                return Err(format!("{name}: item without kind"));
            }
        }
        "discovery-api.json" => {
            let v: APIVersions = serde_json::from_slice(bytes).map_err(e)?;
            if !v.versions.contains(&"v1".to_string()) {
                return Err(format!("{name}: no v1"));
            }
        }
        "discovery-apis.json" => {
            let g: APIGroupList = serde_json::from_slice(bytes).map_err(e)?;
            if g.groups.is_empty() {
                return Err(format!("{name}: no groups"));
            }
        }
        "discovery-api-v1.json" => {
            let r: APIResourceList = serde_json::from_slice(bytes).map_err(e)?;
            if !r.resources.iter().any(|r| r.name == "pods/status") {
                return Err(format!("{name}: no pods/status"));
            }
        }
        "discovery-aggregated-apis.json" => {
            // k8s-openapi has no apidiscovery types: check the shape clients rely on.
            let v: serde_json::Value = serde_json::from_slice(bytes).map_err(e)?;
            let items = v["items"].as_array().ok_or(format!("{name}: no items"))?;
            for g in items {
                let versions = g["versions"].as_array().ok_or(format!("{name}: group without versions"))?;
                for ver in versions {
                    for r in ver["resources"].as_array().ok_or(format!("{name}: version without resources"))? {
                        if r["resource"].as_str().is_none() || r["scope"].as_str().is_none() {
                            return Err(format!("{name}: resource without name or scope: {r}"));
                        }
                    }
                }
            }
        }
        "version.json" => {
            let i: Info = serde_json::from_slice(bytes).map_err(e)?;
            if i.git_version.is_empty() {
                return Err(format!("{name}: empty gitVersion"));
            }
        }
        "README.md" => {}
        other => return Err(format!("{other}: no expectation for this fixture; add one")),
    }
    Ok(())
}

#[test]
fn every_apiserver_fixture_decodes() {
    let mut n = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(dir()).expect("fixtures directory") {
        let entry = entry.expect("directory entry");
        let name = entry.file_name().into_string().expect("utf-8 name");
        let bytes = std::fs::read(entry.path()).expect("readable fixture");
        if let Err(f) = check(&name, &bytes) {
            failures.push(f);
        }
        n += 1;
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(n >= 19, "only {n} fixtures found");
}
