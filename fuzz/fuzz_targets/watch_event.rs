#![no_main]
//! Fuzzes watch event decoding: arbitrary bytes decoded as a typed Pod event and as a dynamic
//! object event must never panic; a decoded event re-encodes its object without panicking.
use k8s_openapi::api::core::v1::Pod;
use rudder_apimachinery::watch::WatchEvent;
use rudder_apimachinery::DynamicObject;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice::<WatchEvent<Pod>>(data) {
        let _ = event.type_name();
    }
    if let Ok(event) = serde_json::from_slice::<WatchEvent<DynamicObject>>(data) {
        if let WatchEvent::Added(obj) | WatchEvent::Modified(obj) | WatchEvent::Deleted(obj) = event {
            let _ = serde_json::to_vec(&obj);
        }
    }
});
