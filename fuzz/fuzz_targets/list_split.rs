#![no_main]
//! Feeds arbitrary bytes through the list splitter twice: as one chunk (where containers are
//! scanned 64 bytes at a time) and cut into small chunks of cycling sizes (where most bytes
//! go through the eight-byte and byte-by-byte paths). Input layout: the first byte seeds the
//! chunk sizes, the rest is the body. Both runs must find the same items and the same
//! outcome (a complete list or an error), and never panic.

use bytes::Bytes;
use rudder_client::decode::split::{ListSplitter, Split};

#[path = "common/chunks.rs"]
mod chunks;

/// Items (as bytes) and the outcome: `Ok(())` for a complete list, the error text otherwise.
fn split(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Result<(), String>) {
    let mut s = ListSplitter::new();
    let mut items = Vec::new();
    let drain = |s: &mut ListSplitter, items: &mut Vec<Vec<u8>>| -> Result<(), String> {
        while let Some(split) = s.next().map_err(|e| e.to_string())? {
            if let Split::Item(b) = split {
                items.push(b.to_vec());
            }
        }
        Ok(())
    };
    for c in chunks {
        s.push(Bytes::copy_from_slice(c));
        if let Err(e) = drain(&mut s, &mut items) {
            return (items, Err(e));
        }
    }
    s.end_of_input();
    let end = drain(&mut s, &mut items);
    (items, end.and_then(|()| if s.is_finished() { Ok(()) } else { Err("not finished".into()) }))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else { return };
    let whole = split(&[body]);
    let cut = split(&chunks::cycling(body, usize::from(seed % 96) + 1));
    assert_eq!(whole.0, cut.0, "items differ");
    assert_eq!(whole.1.is_ok(), cut.1.is_ok(), "outcomes differ: {:?} vs {:?}", whole.1, cut.1);
});
