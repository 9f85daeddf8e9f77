//! The envelope (`k8s\0` + `runtime.Unknown`) and watch framing (4-byte big-endian length
//! prefixes), as pure functions over byte slices and a frame decoder over a growing buffer.

use bytes::{Buf, Bytes, BytesMut};

use super::wire::{self, put_bytes, put_tag, put_varint, Reader, Value};
use super::Error;

/// The magic prefix of every enveloped protobuf object.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// The default largest watch frame [`FrameDecoder::default`] accepts: 64 MiB, the client's
/// default limit for one watch event.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// `runtime.Unknown`, the envelope around every protobuf object, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unknown<'a> {
    /// `typeMeta.apiVersion`.
    pub api_version: &'a str,
    /// `typeMeta.kind`.
    pub kind: &'a str,
    /// The object's message bytes.
    pub raw: &'a [u8],
    /// Empty for plain bytes (Kubernetes never sets it).
    pub content_encoding: &'a str,
    /// Empty for protobuf; `application/json` when `raw` is JSON.
    pub content_type: &'a str,
}

fn string<'a>(value: Value<'a>, field: &'static str) -> Result<&'a str, Error> {
    match value {
        Value::Len(b) => std::str::from_utf8(b).map_err(|_| Error::Utf8 { field }),
        _ => Err(Error::WrongWireType { message: "Unknown", field }),
    }
}

impl<'a> Unknown<'a> {
    /// Reads `k8s\0` + `runtime.Unknown`. Unknown fields are skipped; the last of a repeated
    /// singular field wins, as in protobuf.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        let body = bytes.strip_prefix(&MAGIC[..]).ok_or(Error::Magic)?;
        Self::decode_message(body)
    }

    /// Reads a bare `runtime.Unknown` message (no magic).
    pub fn decode_message(body: &'a [u8]) -> Result<Self, Error> {
        let mut out = Unknown::default();
        let mut r = Reader::new(body);
        while !r.is_empty() {
            match r.field()? {
                (1, Value::Len(meta)) => {
                    let mut m = Reader::new(meta);
                    while !m.is_empty() {
                        match m.field()? {
                            (1, v) => out.api_version = string(v, "apiVersion")?,
                            (2, v) => out.kind = string(v, "kind")?,
                            _ => {}
                        }
                    }
                }
                (1, _) => return Err(Error::WrongWireType { message: "Unknown", field: "typeMeta" }),
                (2, Value::Len(raw)) => out.raw = raw,
                (2, _) => return Err(Error::WrongWireType { message: "Unknown", field: "raw" }),
                (3, v) => out.content_encoding = string(v, "contentEncoding")?,
                (4, v) => out.content_type = string(v, "contentType")?,
                _ => {}
            }
        }
        Ok(out)
    }

    /// `k8s\0` + this envelope, as Go writes it (every field, in number order).
    pub fn encode(&self) -> Vec<u8> {
        let mut meta = Vec::with_capacity(self.api_version.len() + self.kind.len() + 4);
        put_bytes(&mut meta, 1, self.api_version.as_bytes());
        put_bytes(&mut meta, 2, self.kind.as_bytes());
        let mut out = Vec::with_capacity(self.raw.len() + meta.len() + 24);
        out.extend_from_slice(&MAGIC);
        put_bytes(&mut out, 1, &meta);
        put_bytes(&mut out, 2, self.raw);
        put_bytes(&mut out, 3, self.content_encoding.as_bytes());
        put_bytes(&mut out, 4, self.content_type.as_bytes());
        out
    }
}

/// A bare `metav1.WatchEvent` message: `type` and an `object` RawExtension around `object`.
pub(crate) fn watch_event(event_type: &str, object: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(object.len() + event_type.len() + 16);
    put_bytes(&mut out, 1, event_type.as_bytes());
    put_tag(&mut out, 2, wire::LEN);
    put_varint(&mut out, (object.len() + 1 + wire::varint_len(object.len() as u64)) as u64);
    put_bytes(&mut out, 1, object);
    out
}

/// Appends one whole watch frame to `out`: the 4-byte length, then a `WatchEvent` of
/// `event_type` whose object is `message` (a bare `api_version`/`kind` message) in its
/// envelope. The same bytes as [`encode_frame`] of a `WatchEvent` message around [`Unknown::encode`],
/// written once, with no intermediate buffers. A frame over 4 GiB is an error and writes
/// nothing.
pub fn put_watch_frame<B: bytes::BufMut>(
    out: &mut B,
    event_type: &str,
    api_version: &str,
    kind: &str,
    message: &[u8],
) -> Result<(), Error> {
    let field = field_size;
    let meta = field(api_version.len()) + field(kind.len());
    let unknown = MAGIC.len() + field(meta) + field(message.len()) + field(0) + field(0);
    let event = field(event_type.len()) + field(field(unknown));
    let len = u32::try_from(event).map_err(|_| Error::FrameTooLarge { len: event as u64, max: u32::MAX as usize })?;
    out.put_slice(&len.to_be_bytes());
    put_len(out, 1, event_type.len());
    out.put_slice(event_type.as_bytes());
    put_len(out, 2, field(unknown));
    put_len(out, 1, unknown);
    out.put_slice(&MAGIC);
    put_len(out, 1, meta);
    put_len(out, 1, api_version.len());
    out.put_slice(api_version.as_bytes());
    put_len(out, 2, kind.len());
    out.put_slice(kind.as_bytes());
    put_len(out, 2, message.len());
    out.put_slice(message);
    put_len(out, 3, 0);
    put_len(out, 4, 0);
    Ok(())
}

/// Appends the tag of length-delimited field `number` (below 16) and the length `len`.
fn put_len<B: bytes::BufMut>(out: &mut B, number: u32, len: usize) {
    out.put_u8(((number << 3) | u32::from(wire::LEN)) as u8);
    let mut v = len as u64;
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// What follows the last item of a list body: the envelope's empty `contentEncoding` (3) and
/// `contentType` (4), as Go writes them.
pub const LIST_TRAILER: [u8; 4] = [3 << 3 | 2, 0, 4 << 3 | 2, 0];

/// The size of a length-delimited field (number below 16) holding `len` bytes.
fn field_size(len: usize) -> usize {
    1 + wire::varint_len(len as u64) + len
}

/// The bytes [`put_list_item`] writes for an item message of `len` bytes.
pub fn list_item_len(len: usize) -> usize {
    field_size(len)
}

/// The start of an enveloped list body, up to its first item: `k8s\0`, then `runtime.Unknown`
/// whose typeMeta is `api_version`/`kind` (the list kind, `PodList`) and whose raw bytes are the
/// list message: `list_meta` (a bare `ListMeta` message) as field 1, then the items as field 2,
/// of the lengths `item_lens` (bare messages). Write each item with [`put_list_item`], in the
/// same order, then [`LIST_TRAILER`]: the body is then what the API server sends, and its
/// lengths are known before any item is written, so it can be streamed.
pub fn list_head(
    api_version: &str,
    kind: &str,
    list_meta: &[u8],
    item_lens: impl IntoIterator<Item = usize>,
) -> Vec<u8> {
    let field = field_size;
    let list = field(list_meta.len()) + item_lens.into_iter().map(field).sum::<usize>();
    let type_meta = field(api_version.len()) + field(kind.len());
    let mut out = Vec::with_capacity(MAGIC.len() + field(type_meta) + 24 + list_meta.len());
    out.extend_from_slice(&MAGIC);
    put_len(&mut out, 1, type_meta);
    put_len(&mut out, 1, api_version.len());
    out.extend_from_slice(api_version.as_bytes());
    put_len(&mut out, 2, kind.len());
    out.extend_from_slice(kind.as_bytes());
    put_len(&mut out, 2, list);
    put_len(&mut out, 1, list_meta.len());
    out.extend_from_slice(list_meta);
    out
}

/// Appends one list item (field 2 of the list message) holding the bare message `message`;
/// see [`list_head`].
pub fn put_list_item<B: bytes::BufMut>(out: &mut B, message: &[u8]) {
    put_len(out, 2, message.len());
    out.put_slice(message);
}

/// Prepends the 4-byte big-endian length to `payload`. A payload over 4 GiB cannot be framed.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, Error> {
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::FrameTooLarge { len: payload.len() as u64, max: u32::MAX as usize })?;
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Splits a watch stream into frames: feed it the bytes read so far, take complete frames.
///
/// It never allocates from a length prefix: a frame is returned only once all its bytes are in
/// the buffer (the caller's reads grow it), and a prefix over the limit is
/// [`Error::FrameTooLarge`] as soon as the 4 prefix bytes arrive.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame: usize,
}

impl Default for FrameDecoder {
    /// A decoder with the [`DEFAULT_MAX_FRAME`] limit.
    fn default() -> Self {
        FrameDecoder { max_frame: DEFAULT_MAX_FRAME }
    }
}

impl FrameDecoder {
    /// A decoder that refuses frames over `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder { max_frame }
    }

    /// The limit.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The next complete frame's payload, split off the front of `buf`; `None` until one is
    /// complete. After an error the stream is unusable (the buffer is left as it was).
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
        if len_usize > self.max_frame {
            return Err(Error::FrameTooLarge { len: u64::from(len), max: self.max_frame });
        }
        if buf.len() - 4 < len_usize {
            return Ok(None);
        }
        buf.advance(4);
        Ok(Some(buf.split_to(len_usize).freeze()))
    }

    /// Bytes still needed before the next frame is complete (0 when one is ready): lets a
    /// reader size its next read. Never more than `max_frame + 4`.
    pub fn needed(&self, buf: &[u8]) -> usize {
        match buf.get(..4) {
            None => 4 - buf.len(),
            Some(p) => {
                let len = (u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize).min(self.max_frame);
                (len + 4).saturating_sub(buf.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let u = Unknown { api_version: "v1", kind: "Pod", raw: b"\x0a\x00", content_encoding: "", content_type: "" };
        let bytes = u.encode();
        assert!(bytes.starts_with(b"k8s\0"));
        assert_eq!(Unknown::decode(&bytes).unwrap(), u);
        assert!(matches!(Unknown::decode(b"k8s"), Err(Error::Magic)));
        assert!(matches!(Unknown::decode(b"{\"kind\":1}"), Err(Error::Magic)));
        assert!(matches!(Unknown::decode(&bytes[..bytes.len() - 3]), Err(Error::Truncated)));
    }

    #[test]
    fn watch_frames_are_written_in_one_pass_as_in_steps() {
        for (event, message) in [("ADDED", vec![0x0a, 0x00]), ("MODIFIED", vec![7; 300]), ("DELETED", vec![1; 20_000])]
        {
            let unknown = Unknown { api_version: "apps/v1", kind: "Deployment", raw: &message, ..Default::default() };
            let steps = encode_frame(&watch_event(event, &unknown.encode())).unwrap();
            let mut once = BytesMut::new();
            put_watch_frame(&mut once, event, "apps/v1", "Deployment", &message).unwrap();
            assert_eq!(once[..], steps[..], "{event}");
        }
    }

    #[test]
    fn frames_split_across_reads_and_refuse_oversized_prefixes() {
        let dec = FrameDecoder::new(16);
        let mut stream = encode_frame(b"hello").unwrap();
        stream.extend(encode_frame(b"").unwrap());
        stream.extend(encode_frame(b"world!").unwrap());
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for b in stream {
            buf.extend_from_slice(&[b]);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames, vec![Bytes::from_static(b"hello"), Bytes::new(), Bytes::from_static(b"world!")]);
        assert!(buf.is_empty());

        let mut big = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert_eq!(dec.needed(&big), 20 - 4);
        assert!(matches!(dec.decode(&mut big), Err(Error::FrameTooLarge { len: 4294967295, max: 16 })));
        assert_eq!(big.len(), 4);
    }
}
