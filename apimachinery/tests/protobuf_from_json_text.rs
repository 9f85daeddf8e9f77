//! `protobuf::json_to_message` (JSON text straight to a message, the embedded server's path
//! for stored objects) against the encoder over a parsed `serde_json::Value`, for every JSON
//! fixture of a built-in kind: the same bytes, and the same object decoded back.

use std::path::{Path, PathBuf};

use rudder_apimachinery::protobuf;
use serde_json::Value;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["testdata/apiserver", "apiserver/testdata/objects"] {
        for e in std::fs::read_dir(repo(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") {
                let path = format!("{dir}/{name}");
                let bytes = std::fs::read(repo(&path)).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn json_text_encodes_to_the_message_of_its_value() {
    let mut covered = 0;
    for (f, json) in fixtures() {
        let tree: Value = serde_json::from_slice(&json).unwrap();
        let api_version = tree["apiVersion"].as_str().unwrap_or("v1");
        let kind = tree["kind"].as_str().unwrap_or("");
        if !protobuf::has_message(api_version, kind) {
            let err = protobuf::json_to_message(&json, api_version, kind).unwrap_err();
            assert!(matches!(err, protobuf::Error::UnknownKind { .. }), "{f}: {err}");
            continue;
        }
        covered += 1;
        // The value's text has sorted keys, like the embedded server's stored objects.
        let sorted = serde_json::to_vec(&tree).unwrap();
        let direct = protobuf::json_to_message(&sorted, api_version, kind).unwrap_or_else(|e| panic!("{f}: {e}"));
        let enveloped = protobuf::to_vec_as(&tree, api_version, kind).unwrap();
        assert_eq!(direct, protobuf::Unknown::decode(&enveloped).unwrap().raw, "{f}: bytes differ");
        // The fixture's own key order encodes to the same object.
        let as_written = protobuf::json_to_message(&json, api_version, kind).unwrap_or_else(|e| panic!("{f}: {e}"));
        let a: Value = protobuf::from_message(&as_written, api_version, kind).unwrap();
        let b: Value = protobuf::from_message(&direct, api_version, kind).unwrap();
        assert_eq!(a, b, "{f}");
    }
    assert!(covered >= 15, "{covered} fixtures covered");
}

#[test]
fn bad_json_text_is_an_error_never_a_panic() {
    let pod = std::fs::read(repo("apiserver/testdata/objects/pod-with-sidecar.json")).unwrap();
    for end in (0..pod.len()).step_by(7) {
        assert!(protobuf::json_to_message(&pod[..end], "v1", "Pod").is_err(), "prefix of {end} bytes");
    }
    let err = protobuf::json_to_message(br#"{"metadata":{"name":"a"},"spec":{"nope":1}}"#, "v1", "Pod").unwrap_err();
    assert!(matches!(err, protobuf::Error::UnknownField { field, .. } if field == "nope"));
    let err = protobuf::json_to_message(br#"{"metadata":{"name":7}}"#, "v1", "Pod").unwrap_err();
    assert!(matches!(err, protobuf::Error::Message(ref m) if m.contains("name")), "{err}");
    assert!(protobuf::json_to_message(br#"{"metadata":{}} trailing"#, "v1", "Pod").is_err());
    assert!(protobuf::json_to_message(b"\xff", "v1", "Pod").is_err());
}

#[test]
fn fields_v1_and_raw_extensions_carry_their_text_as_written() {
    // As Go's FieldsV1 and RawExtension keep the bytes they were given: key order and spacing
    // included, not parsed and written again.
    let fields = r#"{"f:data": {"f:z": {}, "f:a": {}}}"#;
    let cm = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"c","managedFields":[{{"manager":"m","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{fields}}}]}}}}"#
    );
    let msg = protobuf::json_to_message(cm.as_bytes(), "v1", "ConfigMap").unwrap();
    assert!(msg.windows(fields.len()).any(|w| w == fields.as_bytes()), "{msg:?}");
    let back: Value = protobuf::from_message(&msg, "v1", "ConfigMap").unwrap();
    assert_eq!(back["metadata"]["managedFields"][0]["fieldsV1"], serde_json::from_str::<Value>(fields).unwrap());
}
