//! Cutting a fuzz input into chunks, shared by the targets that feed incremental decoders.

/// `body` cut into chunks whose sizes cycle through `1..=max`, so that every split position
/// gets exercised.
pub fn cycling(body: &[u8], max: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = body;
    let mut size = 1;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        chunks.push(chunk);
        rest = tail;
        size = size % max + 1;
    }
    chunks
}
