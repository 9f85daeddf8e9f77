//! `json::from_slice` on real Pods: the same value as serde_json, with no spare capacity in
//! the vectors an informer keeps for the life of the process.

use k8s_openapi::api::core::v1::Pod;
use rudder_apimachinery::json;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../apiserver/testdata/objects").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn tight<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(|v| v.capacity() == v.len())
}

#[test]
fn realistic_pods_decode_equal_and_tight() {
    for name in ["pod-deployment.json", "pod-with-sidecar.json"] {
        let bytes = fixture(name);
        let ours: Pod = json::from_slice(&bytes).unwrap();
        let plain: Pod = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(ours, plain, "{name}");

        assert!(tight(&ours.metadata.managed_fields), "{name}: managedFields");
        assert!(tight(&ours.metadata.owner_references), "{name}: ownerReferences");
        let spec = ours.spec.as_ref().expect("spec");
        assert_eq!(spec.containers.capacity(), spec.containers.len(), "{name}: containers");
        for c in &spec.containers {
            assert!(tight(&c.env) && tight(&c.ports) && tight(&c.volume_mounts), "{name}: container {}", c.name);
        }
        assert!(tight(&spec.volumes) && tight(&spec.tolerations), "{name}: volumes/tolerations");
        let status = ours.status.as_ref().expect("status");
        assert!(tight(&status.conditions) && tight(&status.container_statuses), "{name}: status");

        // The fixture has vectors whose doubling growth leaves slack, so this test can fail.
        let plain_spec = plain.spec.as_ref().expect("spec");
        let slack = |p: &Pod| {
            let s = p.spec.as_ref().expect("spec");
            s.containers.iter().map(|c| c.env.as_ref().map_or(0, |e| e.capacity() - e.len())).sum::<usize>()
                + p.metadata.managed_fields.as_ref().map_or(0, |m| m.capacity() - m.len())
                + s.volumes.as_ref().map_or(0, |v| v.capacity() - v.len())
        };
        assert!(slack(&plain) > 0, "{name}: serde_json left no slack ({} containers)", plain_spec.containers.len());
        assert_eq!(slack(&ours), 0);
    }
}
