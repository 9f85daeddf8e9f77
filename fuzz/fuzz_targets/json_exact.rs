#![no_main]
//! Fuzzes `json::from_slice` against `serde_json::from_slice` on the same bytes: the same value
//! or the same error message, for dynamic JSON and for a k8s-openapi Pod (whose vectors the
//! size hints pre-allocate), and every decoded vector at its exact length. Maps with arbitrary
//! (possibly escaped, so counted) keys and a type that ignores most of a Pod (so most arrays
//! are never scanned) must stay exact too.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rudder_apimachinery::json;
use serde_json::Value;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let ours = json::from_slice::<Value>(data).map_err(|e| e.to_string());
    let theirs = serde_json::from_slice::<Value>(data).map_err(|e| e.to_string());
    assert_eq!(ours, theirs);

    let ours = json::from_slice::<Pod>(data);
    let theirs = serde_json::from_slice::<Pod>(data);
    match (ours, theirs) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            if let Some(spec) = &a.spec {
                assert_eq!(spec.containers.capacity(), spec.containers.len(), "containers");
            }
            if let Some(m) = &a.metadata.managed_fields {
                assert_eq!(m.capacity(), m.len(), "managedFields");
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("json::from_slice gave {:?}, serde_json {:?}", a.map(|_| ()), b.map(|_| ())),
    }

    let ours = json::from_slice::<Vec<Vec<u32>>>(data);
    if let Ok(v) = &ours {
        assert_eq!(v.capacity(), v.len());
        assert!(v.iter().all(|x| x.capacity() == x.len()));
    }
    assert_eq!(
        ours.map_err(|e| e.to_string()),
        serde_json::from_slice::<Vec<Vec<u32>>>(data).map_err(|e| e.to_string())
    );

    let ours = json::from_slice::<BTreeMap<String, Vec<Vec<u32>>>>(data);
    if let Ok(m) = &ours {
        assert!(m.values().all(|v| v.capacity() == v.len() && v.iter().all(|x| x.capacity() == x.len())));
    }
    let theirs = serde_json::from_slice::<BTreeMap<String, Vec<Vec<u32>>>>(data);
    assert_eq!(ours.map_err(|e| e.to_string()), theirs.map_err(|e| e.to_string()));

    // A view: a Pod's metadata fields at the top level, everything else ignored.
    let ours = json::from_slice::<ObjectMeta>(data);
    if let Ok(m) = &ours {
        assert!(m.managed_fields.as_ref().is_none_or(|v| v.capacity() == v.len()), "managedFields");
        assert!(m.owner_references.as_ref().is_none_or(|v| v.capacity() == v.len()), "ownerReferences");
        assert!(m.finalizers.as_ref().is_none_or(|v| v.capacity() == v.len()), "finalizers");
    }
    let theirs = serde_json::from_slice::<ObjectMeta>(data);
    assert_eq!(ours.map_err(|e| e.to_string()), theirs.map_err(|e| e.to_string()));
});
