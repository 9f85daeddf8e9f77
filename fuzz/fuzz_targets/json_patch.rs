#![no_main]
//! Fuzzes RFC 6902 JSON Patch application: the input is `document NUL patch` (both JSON).
//! Applying must not panic, and a failed patch must leave the document unchanged.
use rudder_apimachinery::patch::json_patch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else { return };
    let (doc_bytes, patch_bytes) = (&data[..split], &data[split + 1..]);
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(doc_bytes) else { return };
    let Ok(patch) = serde_json::from_slice::<serde_json::Value>(patch_bytes) else { return };
    let original = doc.clone();
    if json_patch::apply(&mut doc, &patch).is_err() {
        assert_eq!(doc, original, "a failed patch modified the document");
    }
});
