//! The protobuf codec against real data: bodies Go wrote (kubectl's protobuf requests, a real
//! API server's Status), every JSON fixture of the repository (JSON -> value == protobuf ->
//! value, round trips both ways), watch streams framed as the server frames them, and the
//! decoder's rules (interleaved repeated fields, views, borrowing, hostile input).

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResourceList, APIVersions, ObjectMeta, Status};
use rudder_apimachinery::protobuf::{self, FrameDecoder, Unknown};
use rudder_apimachinery::{DynamicObject, ObjectList, WatchEvent};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    let p = repo(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// JSON `null` and absent are one thing in protobuf: drop nulls before comparing.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        v => v,
    }
}

/// The first path where two JSON values differ.
fn diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .find_map(|(k, v)| match y.get(k) {
                None => Some(format!("{path}.{k}: only left ({v})")),
                Some(w) => diff(v, w, &format!("{path}.{k}")),
            })
            .or_else(|| y.keys().find(|k| !x.contains_key(*k)).map(|k| format!("{path}.{k}: only right ({})", y[k]))),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (v, w))| diff(v, w, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} != {b}")),
    }
}

#[track_caller]
fn same<T: Serialize + PartialEq + std::fmt::Debug>(a: &T, b: &T, what: &str) {
    if a != b {
        let (x, y) = (serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
        panic!("{what}: {}", diff(&x, &y, "").unwrap_or_else(|| format!("{a:?} != {b:?}")));
    }
}

/// The typed round trip: JSON -> T, T -> protobuf -> T equal; protobuf re-encodes identically.
fn typed<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(json: &[u8], what: &str) -> Vec<u8> {
    let from_json: T = serde_json::from_slice(json).unwrap_or_else(|e| panic!("{what}: json: {e}"));
    let tree: Value = serde_json::from_slice(json).unwrap();
    let pb = match protobuf::to_vec(&from_json) {
        // k8s-openapi's discovery types print no type meta (and the fixtures may lack
        // apiVersion, which is v1 there): say it.
        Err(protobuf::Error::MissingTypeMeta) => {
            protobuf::to_vec_as(&from_json, tree["apiVersion"].as_str().unwrap_or("v1"), tree["kind"].as_str().unwrap())
        }
        other => other,
    }
    .unwrap_or_else(|e| panic!("{what}: encode: {e}"));
    let from_pb: T = protobuf::from_slice(&pb).unwrap_or_else(|e| panic!("{what}: decode: {e}"));
    same(&from_json, &from_pb, what);
    let again = protobuf::to_vec(&from_pb).or_else(|_| {
        protobuf::to_vec_as(&from_pb, tree["apiVersion"].as_str().unwrap_or("v1"), tree["kind"].as_str().unwrap())
    });
    assert_eq!(again.unwrap(), pb, "{what}: re-encoding differs");
    pb
}

/// The untyped round trip: the JSON tree survives protobuf (nulls aside).
fn untyped(json: &[u8], api_version: &str, kind: &str, what: &str) {
    let tree: Value = serde_json::from_slice(json).unwrap();
    let pb = protobuf::to_vec_as(&tree, api_version, kind).unwrap_or_else(|e| panic!("{what}: encode: {e}"));
    let back: Value = protobuf::from_slice(&pb).unwrap_or_else(|e| panic!("{what}: decode: {e}"));
    let mut expected = strip_nulls(tree);
    // The envelope always names the type.
    expected["apiVersion"] = Value::from(api_version);
    if let Some(d) = diff(&expected, &back, "") {
        panic!("{what}: {d}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies Go wrote.

macro_rules! kubectl_kinds {
    ($($name:literal => $t:ty,)*) => {
        /// kubectl 1.32's protobuf request bodies decode to the object kubectl prints for the
        /// same command (`--dry-run=client -o json`), typed and dynamic, and survive our
        /// encoder.
        #[test]
        fn kubectl_protobuf_bodies_decode_to_the_objects_kubectl_builds() {
            let mut n = 0;
            $(
                n += 1;
                let pb = read(concat!("testdata/protobuf/", $name, ".pb"));
                let json = read(concat!("testdata/protobuf/", $name, ".json"));
                let expected: $t = serde_json::from_slice(&json).unwrap();
                let decoded: $t = protobuf::from_slice(&pb).unwrap_or_else(|e| panic!("{}: {e}", $name));
                same(&expected, &decoded, $name);

                let dynamic: DynamicObject = protobuf::from_slice(&pb).unwrap();
                let expected_tree = strip_nulls(serde_json::from_slice(&json).unwrap());
                if let Some(d) = diff(&expected_tree, &serde_json::to_value(&dynamic).unwrap(), "") {
                    panic!("{} (dynamic): {d}", $name);
                }

                // Ours re-encodes it (shorter: Go also writes zero values JSON omits) to bytes
                // that decode the same.
                let ours = protobuf::to_vec(&decoded).unwrap();
                assert!(ours.len() <= pb.len(), "{}", $name);
                let again: $t = protobuf::from_slice(&ours).unwrap();
                same(&expected, &again, $name);
            )*
            assert_eq!(n, 13);
        }
    };
}

kubectl_kinds! {
    "namespace" => k8s_openapi::api::core::v1::Namespace,
    "configmap" => k8s_openapi::api::core::v1::ConfigMap,
    "secret" => k8s_openapi::api::core::v1::Secret,
    "deployment" => k8s_openapi::api::apps::v1::Deployment,
    "service" => k8s_openapi::api::core::v1::Service,
    "job" => k8s_openapi::api::batch::v1::Job,
    "cronjob" => k8s_openapi::api::batch::v1::CronJob,
    "role" => k8s_openapi::api::rbac::v1::Role,
    "rolebinding" => k8s_openapi::api::rbac::v1::RoleBinding,
    "serviceaccount" => k8s_openapi::api::core::v1::ServiceAccount,
    "quota" => k8s_openapi::api::core::v1::ResourceQuota,
    "priorityclass" => k8s_openapi::api::scheduling::v1::PriorityClass,
    "poddisruptionbudget" => k8s_openapi::api::policy::v1::PodDisruptionBudget,
}

#[test]
fn a_real_servers_protobuf_status_decodes() {
    let pb = read("testdata/protobuf/recorded-status-406.pb");
    let envelope = Unknown::decode(&pb).unwrap();
    assert_eq!((envelope.api_version, envelope.kind), ("v1", "Status"));
    // Go writes the empty contentEncoding/contentType: our envelope encoder does too.
    assert_eq!(Unknown { raw: envelope.raw, ..envelope }.encode(), pb);
    let status: Status = protobuf::from_slice(&pb).unwrap();
    assert_eq!(status.code, Some(406));
    assert_eq!(status.reason.as_deref(), Some("NotAcceptable"));
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert!(status.message.unwrap().contains("does not implement the protobuf marshalling interface"));
    let ours: rudder_apimachinery::Status = protobuf::from_slice(&pb).unwrap();
    assert_eq!(ours.code, 406);
}

// ---------------------------------------------------------------------------------------------
// Every JSON fixture.

#[test]
fn every_json_fixture_decodes_the_same_from_protobuf() {
    let mut files: Vec<String> = Vec::new();
    for dir in ["testdata/apiserver", "apiserver/testdata/objects"] {
        for e in std::fs::read_dir(repo(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    let mut covered = 0;
    for f in &files {
        let json = read(f);
        let tree: Value = serde_json::from_slice(&json).unwrap();
        let api_version = tree["apiVersion"].as_str().unwrap_or("v1");
        let kind = tree["kind"].as_str().unwrap_or("");
        if !protobuf::has_message(api_version, kind) {
            // The real server answers these in JSON too: custom resources, /version (no
            // kind), aggregated discovery (apidiscovery.k8s.io is not a k8s-openapi group).
            assert!(
                matches!(
                    protobuf::to_vec(&tree),
                    Err(protobuf::Error::UnknownKind { .. } | protobuf::Error::MissingTypeMeta)
                ),
                "{f}"
            );
            continue;
        }
        covered += 1;
        // (Discovery answers may carry no apiVersion: the server's is v1.)
        untyped(&json, api_version, kind, f);
        match kind {
            "Pod" => {
                typed::<Pod>(&json, f);
                let d: DynamicObject = serde_json::from_slice(&json).unwrap();
                let pb = protobuf::to_vec(&d).unwrap();
                let back: DynamicObject = protobuf::from_slice(&pb).unwrap();
                let expected = strip_nulls(serde_json::to_value(&d).unwrap());
                if let Some(d) = diff(&expected, &serde_json::to_value(&back).unwrap(), "") {
                    panic!("{f} (dynamic): {d}");
                }
                let view: PodView = protobuf::from_slice(&pb).unwrap();
                assert_eq!(view, serde_json::from_slice::<PodView>(&json).unwrap(), "{f}");
            }
            "PodList" => {
                typed::<k8s_openapi::List<Pod>>(&json, f);
                let pb = protobuf::to_vec(&tree).unwrap();
                let list: ObjectList<Pod> = protobuf::from_slice(&pb).unwrap();
                assert_eq!(list.items, serde_json::from_slice::<ObjectList<Pod>>(&json).unwrap().items, "{f}");
            }
            "Status" => {
                typed::<Status>(&json, f);
            }
            "APIResourceList" => {
                typed::<APIResourceList>(&json, f);
            }
            "APIGroupList" => {
                typed::<APIGroupList>(&json, f);
            }
            "APIVersions" => {
                typed::<APIVersions>(&json, f);
            }
            other => panic!("{f}: add a typed check for {other}"),
        }
    }
    assert!(covered >= 15, "{covered} fixtures covered");
}

#[test]
fn watch_streams_framed_as_the_server_frames_them_decode_event_by_event() {
    for f in ["testdata/apiserver/watch-stream-pods.jsonl", "testdata/apiserver/watch-stream-initial-events.jsonl"] {
        let text = String::from_utf8(read(f)).unwrap();
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let event: Value = serde_json::from_str(line).unwrap();
            let object = protobuf::to_vec(&event["object"]).unwrap();
            let frame = protobuf::watch_frame(event["type"].as_str().unwrap(), &object);
            stream.extend(protobuf::encode_frame(&frame).unwrap());
            expected.push(serde_json::from_str::<WatchEvent<DynamicObject>>(line).unwrap());
        }
        // Fed 7 bytes at a time, as a network read might deliver them.
        let decoder = FrameDecoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for chunk in stream.chunks(7) {
            buf.extend_from_slice(chunk);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                got.push(protobuf::from_watch_frame::<WatchEvent<DynamicObject>>(&frame).unwrap());
            }
        }
        assert!(buf.is_empty(), "{f}");
        assert_eq!(got.len(), expected.len(), "{f}");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g.type_name(), e.type_name(), "{f}");
            let (g, e) = (event_object(g), strip_nulls(event_object(e)));
            if let Some(d) = diff(&e, &g, "") {
                panic!("{f}: {d}");
            }
        }
    }
}

fn event_object(e: &WatchEvent<DynamicObject>) -> Value {
    match e {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => serde_json::to_value(o).unwrap(),
        WatchEvent::Bookmark(b) => serde_json::to_value(b).unwrap(),
        WatchEvent::Error(s) => serde_json::to_value(s).unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// The decoder's rules.

fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
    out.push(number << 3 | 2);
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn named(name: &str) -> Vec<u8> {
    let mut m = Vec::new();
    field(&mut m, 1, name.as_bytes());
    m
}

/// A Pod whose spec interleaves `volumes` (1) and `containers` (2) elements.
fn interleaved_pod() -> Vec<u8> {
    let mut spec = Vec::new();
    field(&mut spec, 2, &named("a"));
    field(&mut spec, 1, &named("vol-x"));
    field(&mut spec, 2, &named("b"));
    field(&mut spec, 1, &named("vol-y"));
    field(&mut spec, 2, &named("c"));
    let mut pod = Vec::new();
    field(&mut pod, 1, &named("p"));
    field(&mut pod, 2, &spec);
    Unknown { api_version: "v1", kind: "Pod", raw: &pod, ..Default::default() }.encode()
}

#[test]
fn interleaved_repeated_fields_are_gathered_in_order_at_their_exact_length() {
    let pb = interleaved_pod();
    let pod: Pod = protobuf::from_slice(&pb).unwrap();
    let spec = pod.spec.unwrap();
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(spec.containers.capacity(), 3);
    let vols: Vec<&str> = spec.volumes.as_ref().unwrap().iter().map(|v| v.name.as_str()).collect();
    assert_eq!(vols, ["vol-x", "vol-y"]);

    let tree: Value = protobuf::from_slice(&pb).unwrap();
    assert_eq!(tree["spec"]["containers"].as_array().unwrap().len(), 3);
    assert_eq!(tree["spec"].as_object().unwrap().len(), 2, "each repeated field is one key");
    // Our encoder writes each field's elements together, in field-number order.
    let canonical = protobuf::to_vec(&tree).unwrap();
    assert_eq!(protobuf::from_slice::<Value>(&canonical).unwrap(), tree);
    assert_ne!(canonical, pb);
}

/// A 3-field view, as the benchmarks declare it.
#[derive(Debug, Default, PartialEq, Deserialize)]
struct PodView {
    #[serde(default, deserialize_with = "rudder_apimachinery::meta::without_managed_fields")]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<ViewSpec>,
    #[serde(default)]
    status: Option<ViewStatus>,
}

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewSpec {
    node_name: Option<String>,
}

#[derive(Debug, Default, PartialEq, Deserialize)]
struct ViewStatus {
    phase: Option<String>,
}

rudder_apimachinery::view!(PodView => Pod);

#[derive(Deserialize)]
struct Borrowed<'a> {
    #[serde(borrow)]
    metadata: BorrowedMeta<'a>,
}

#[derive(Deserialize)]
struct BorrowedMeta<'a> {
    name: &'a str,
    namespace: &'a str,
}

#[test]
fn strings_are_borrowed_from_the_input() {
    let pod: Pod = serde_json::from_slice(&read("apiserver/testdata/objects/pod-deployment.json")).unwrap();
    let pb = protobuf::to_vec(&pod).unwrap();
    let b: Borrowed<'_> = protobuf::from_slice(&pb).unwrap();
    assert_eq!(Some(b.metadata.name), pod.metadata.name.as_deref());
    assert_eq!(Some(b.metadata.namespace), pod.metadata.namespace.as_deref());
    let range = pb.as_ptr_range();
    assert!(range.contains(&b.metadata.name.as_ptr()), "name points into the input");
}

#[test]
fn every_prefix_and_corruption_of_a_pod_is_an_error_or_a_value_never_a_panic() {
    let pod: Pod = serde_json::from_slice(&read("apiserver/testdata/objects/pod-with-sidecar.json")).unwrap();
    let pb = protobuf::to_vec(&pod).unwrap();
    // A prefix that ends between fields is a valid (smaller) message; the others are errors.
    let mut errors = 0;
    for len in 0..pb.len() {
        errors += usize::from(protobuf::from_slice::<Pod>(&pb[..len]).is_err());
        let _ = protobuf::from_slice::<DynamicObject>(&pb[..len]);
    }
    assert!(errors > pb.len() * 9 / 10, "{errors} of {} prefixes fail", pb.len());
    let mut bytes = pb.clone();
    for i in (4..bytes.len()).step_by(3) {
        let saved = bytes[i];
        bytes[i] ^= 0xa5;
        let _ = protobuf::from_slice::<Pod>(&bytes);
        let _ = protobuf::from_slice::<Value>(&bytes);
        bytes[i] = saved;
    }
    // A message nested beyond the limit is an error, not a stack overflow.
    let mut deep = Vec::new();
    for _ in 0..200 {
        let mut outer = Vec::new();
        outer.push(0x0a);
        let mut len = Vec::new();
        let mut n = deep.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                len.push(b);
                break;
            }
            len.push(b | 0x80);
        }
        outer.extend(len);
        outer.extend(&deep);
        deep = outer;
    }
    let crd = Unknown {
        api_version: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        raw: &deep,
        ..Default::default()
    };
    assert!(protobuf::from_slice::<Value>(&crd.encode()).is_err());
}
