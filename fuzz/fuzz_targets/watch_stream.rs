#![no_main]
//! Feeds arbitrary bytes, cut into arbitrary chunks, through the incremental watch decoder.
//! Input layout: the first byte seeds the chunk sizes, the rest is the body. The stream must
//! end (never hang), never panic, and stop after an ERROR event.

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use rudder_apimachinery::dynamic::DynamicObject;
use rudder_client::decode::{DecodeOptions, DecodePool, WatchEvents};

#[path = "common/chunks.rs"]
mod chunks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else { return };
    // Chunk sizes cycle through 1..=(seed % 64 + 1).
    let mut frames = Vec::new();
    for chunk in chunks::cycling(body, usize::from(seed % 64) + 1) {
        // `Full::frame` yields the one data frame of a chunk (naming no http-body types).
        if let Some(frame) = futures::executor::block_on(Full::new(Bytes::copy_from_slice(chunk)).frame()) {
            frames.push(frame);
        }
    }
    // Decoded on the polling task (no pool threads), as the parallel path decodes each line.
    let body = StreamBody::new(futures::stream::iter(frames));
    let stream = WatchEvents::<DynamicObject, _>::with_pool(body, "/fuzz", DecodePool::new(0), DecodeOptions::default());
    let items: Vec<_> = futures::executor::block_on(stream.collect());
    // After an API error (an ERROR event) nothing else may follow.
    if let Some(pos) = items.iter().position(|i| matches!(i, Err(rudder_client::Error::Api { .. }))) {
        assert_eq!(pos + 1, items.len(), "items after an ERROR event");
    }
});
