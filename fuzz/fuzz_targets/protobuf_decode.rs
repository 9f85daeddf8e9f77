#![no_main]
//! Arbitrary bytes through the protobuf codec: the envelope, typed (`Pod`), dynamic
//! (`DynamicObject`, `serde_json::Value`) and view decoding, and the watch frame decoder fed in
//! arbitrary chunks. Nothing may panic, hang or allocate from a length prefix; a Pod that
//! decodes must re-encode and decode to the same Pod.
//! Input layout: the first byte seeds the chunk sizes and the frame limit, the rest is the body
//! (the whole input is tried as an enveloped object too, so `testdata/protobuf/*.pb` seed it).

use bytes::BytesMut;
use k8s_openapi::api::core::v1::Pod;
use rudder_apimachinery::protobuf::{self, FrameDecoder, Unknown};
use rudder_apimachinery::{DynamicObject, WatchEvent};

#[path = "common/chunks.rs"]
mod chunks;

/// A 3-field view.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct View<'a> {
    #[serde(borrow)]
    metadata: Option<Meta<'a>>,
    spec: Option<serde_json::Map<String, serde_json::Value>>,
    status: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Meta<'a> {
    #[serde(borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else { return };

    // The input itself (a tracked .pb seed), and the body with and without the magic.
    let mut enveloped = b"k8s\0".to_vec();
    enveloped.extend_from_slice(body);
    for bytes in [data, body, &enveloped[..]] {
        let _ = Unknown::decode(bytes);
        if let Ok(pod) = protobuf::from_slice::<Pod>(bytes) {
            let again = protobuf::to_vec(&pod).expect("a decoded Pod encodes");
            let back: Pod = protobuf::from_slice(&again).expect("an encoded Pod decodes");
            assert_eq!(back, pod, "Pod round trip");
        }
        let _ = protobuf::from_slice::<DynamicObject>(bytes);
        let _ = protobuf::from_slice::<serde_json::Value>(bytes);
        let _ = protobuf::from_slice::<View>(bytes);
        let _ = protobuf::from_message::<Pod>(body, "v1", "Pod");
    }

    // As a watch stream: frames (limit 16 B..4 KiB from the seed) arriving in chunks.
    let decoder = FrameDecoder::new(16usize << (seed % 9));
    let mut buf = BytesMut::new();
    'stream: for chunk in chunks::cycling(body, usize::from(seed % 32) + 1) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= decoder.max_frame());
                    let _ = protobuf::from_watch_frame::<WatchEvent<DynamicObject>>(&frame);
                    let _ = protobuf::from_watch_frame::<WatchEvent<Pod>>(&frame);
                }
                Ok(None) => break,
                Err(_) => break 'stream,
            }
        }
    }
});
