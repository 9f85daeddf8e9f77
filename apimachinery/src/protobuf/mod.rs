//! Kubernetes' protobuf wire format (`application/vnd.kubernetes.protobuf`), decoded straight
//! into the same Rust types as JSON, and encoded from them.
//!
//! # The format
//! - **Object** (a response body, a request body): the 4-byte magic `k8s\0`, then a
//!   `runtime.Unknown` message: `typeMeta` (1: {`apiVersion` 1, `kind` 2}), `raw` (2: the
//!   object's own message, e.g. `k8s.io.api.core.v1.Pod`), `contentEncoding` (3) and
//!   `contentType` (4), both empty for protobuf. See [`Unknown`].
//! - **List**: the same envelope around the list kind's message (`PodList`: `metadata` 1,
//!   `items` 2, each item a `Pod` message without type meta, as in JSON lists).
//! - **Watch** (`watch=true` with `Accept: application/vnd.kubernetes.protobuf;stream=watch`):
//!   frames, each a 4-byte big-endian length then that many bytes ([`FrameDecoder`]). Read from
//!   apimachinery's codec factory: the stream serializer is the *raw* protobuf serializer, so a
//!   frame is a bare `metav1.WatchEvent` message (no magic, no `Unknown`): `type` (1, `ADDED`...)
//!   and `object` (2, a `runtime.RawExtension` whose `raw` is the object encoded by the
//!   ordinary serializer, i.e. a full `k8s\0` + `Unknown` envelope). [`from_watch_frame`]
//!   decodes one into [`crate::watch::WatchEvent`] or any type that reads `type`/`object`.
//!
//! # Decoding: one serde `Deserializer`, no intermediate tree
//! [`from_slice`] reads the envelope, finds the message of `apiVersion`/`kind` in the
//! descriptor table and walks the wire bytes with it, presenting each message as a map of JSON
//! names (`&'static str` from the table, no allocation), so every `Deserialize` impl that reads
//! the JSON form works unchanged: k8s-openapi kinds, [`crate::DynamicObject`], `view!` structs.
//! The top-level object also gets the envelope's `apiVersion` and `kind`, as in JSON.
//! - Strings are borrowed from the input where the target allows (`&'de str`, `Cow`).
//! - A field the target ignores (`deserialize_ignored_any`) is skipped by its length prefix,
//!   never parsed.
//! - Repeated fields: protobuf allows one field's elements to be interleaved with other
//!   fields. They are gathered: the first element yields the key, its sequence walks the rest
//!   of the message for the same field number (counted first, so `Vec`s get their exact length
//!   as a size hint), and later elements are then skipped. Packed scalars are accepted too.
//! - Maps are repeated entry messages (`key` 1, `value` 2; absent ones are the zero value).
//! - Presence follows the JSON the Go types produce: an absent field is an absent key; a zero
//!   scalar in a Go value field whose JSON tag has `omitempty` (which Go's encoder always
//!   writes) is an absent key; an empty `Time` (Go's zero time) is an absent key.
//! - Special messages take their JSON forms: `Time` (RFC 3339, seconds), `MicroTime` (RFC 3339,
//!   microseconds), `Duration` (Go's `1h2m3s`), `Quantity` (its string), `IntOrString` (number or
//!   string), `FieldsV1` and apiextensions' `JSON` (raw JSON, parsed by serde_json),
//!   `RawExtension` (raw JSON, or a nested `k8s\0` envelope decoded as an object), Go named slices
//!   (`Verbs`, `ExtraValue`: arrays), `JSONSchemaPropsOr{Array,Bool,StringArray}`; `bytes`
//!   fields are base64 strings (Secret `data`).
//! - Bounded: every length is checked against the input before use (no allocation is sized by
//!   a length prefix), nesting is limited to [`MAX_DEPTH`] messages, and every malformed input is
//!   an [`Error`], never a panic.
//!
//! # Encoding
//! [`to_vec`] is a serde `Serializer` the other way: the value's `apiVersion` and `kind` pick the
//! message and fill the envelope; fields are written in field-number order, as Go does. It is
//! not byte-for-byte Go's output: Go also writes the zero values of non-pointer fields that
//! JSON omits (and so the Rust value does not hold); Go decodes both the same.
//! [`json_to_message`] encodes JSON text the same way while it parses it (a serde transcoder,
//! no `serde_json::Value` in between), and [`put_watch_frame`] writes a whole watch frame
//! around a message in one pass: the embedded server's path from stored JSON to the wire.
//!
//! # Where the descriptors come from
//! `apimachinery/proto/` vendors Kubernetes' own `generated.proto` files for every group
//! version k8s-openapi 0.29 covers, plus apimachinery's meta/v1, runtime, runtime/schema,
//! util/intstr and api/resource, apiextensions v1 and apiregistration v1, and the facts the
//! `.proto` files lack (JSON names, which fields are Go values with `omitempty`, Go named slices,
//! each package's API group), extracted from the Go sources at the same commits. A generator,
//! `tools/protobuf/gen` (protox, pure Rust, no `protoc`), compiles them into `table.rs`, checked
//! in. Chosen over a `build.rs` that runs protox on every build: protox and its dependencies
//! would add to every clean build on a 2-core CI, and an embedded `FileDescriptorSet` would
//! have to be decoded into lookup tables at run time; the generated table is `static` data, and
//! finding a field is an array index. `apimachinery/proto/README.md` says how to regenerate it.

mod de;
mod descriptor;
mod envelope;
mod ser;
mod special;
mod table;
#[cfg(test)]
mod tests;
mod transcode;
mod wire;

pub use envelope::{
    encode_frame, list_head, list_item_len, put_list_item, put_watch_frame, FrameDecoder, Unknown, DEFAULT_MAX_FRAME,
    LIST_TRAILER, MAGIC,
};

use serde::{Deserialize, Serialize};

/// Nested messages deeper than this are an error (a bound on recursion for hostile input;
/// Kubernetes objects nest a few dozen levels at most, CRD schemas included).
pub const MAX_DEPTH: u32 = 128;

/// The media type of Kubernetes' protobuf encoding.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why protobuf bytes could not be decoded, or a value encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends inside a field.
    #[error("protobuf: input truncated")]
    Truncated,
    /// A varint longer than 64 bits.
    #[error("protobuf: varint overflows 64 bits")]
    VarintOverflow,
    /// A tag with field number 0.
    #[error("protobuf: invalid tag")]
    InvalidTag,
    /// A wire type Kubernetes does not use (groups) or that does not exist.
    #[error("protobuf: unsupported wire type {wire}")]
    WireType {
        /// The wire type.
        wire: u8,
    },
    /// A field's wire type does not match its declared type.
    #[error("protobuf: field {message}.{field} has the wrong wire type")]
    WrongWireType {
        /// The message's name.
        message: &'static str,
        /// The field's JSON name.
        field: &'static str,
    },
    /// A string field that is not UTF-8.
    #[error("protobuf: field {field} is not valid UTF-8")]
    Utf8 {
        /// The field's JSON name.
        field: &'static str,
    },
    /// The bytes do not start with `k8s\0`.
    #[error("protobuf: missing the k8s\\0 magic prefix")]
    Magic,
    /// The envelope's content is encoded (gzip...) or not protobuf/JSON.
    #[error("protobuf: unsupported envelope content (encoding {encoding:?}, type {content_type:?})")]
    UnsupportedContent {
        /// `contentEncoding`.
        encoding: String,
        /// `contentType`.
        content_type: String,
    },
    /// No message in the descriptor table for this apiVersion/kind (a custom resource, or a
    /// kind newer than the vendored `.proto` files).
    #[error("protobuf: no message for apiVersion {api_version:?} kind {kind:?}")]
    UnknownKind {
        /// `apiVersion`.
        api_version: String,
        /// `kind`.
        kind: String,
    },
    /// A value to encode has a field its message does not define.
    #[error("protobuf: {message} has no field {field:?}")]
    UnknownField {
        /// The message's name.
        message: &'static str,
        /// The field's JSON name.
        field: String,
    },
    /// A value to encode has no `apiVersion`/`kind`.
    #[error("protobuf: the value has no apiVersion and kind to pick its message")]
    MissingTypeMeta,
    /// Messages nested deeper than [`MAX_DEPTH`].
    #[error("protobuf: messages nested deeper than {MAX_DEPTH}")]
    Depth,
    /// A time outside years 0..=9999 (Go cannot print it either).
    #[error("protobuf: time outside years 0 to 9999")]
    TimeRange,
    /// A watch frame's length prefix is over the decoder's limit.
    #[error("protobuf: frame of {len} bytes is over the limit of {max}")]
    FrameTooLarge {
        /// The length prefix.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// Raw JSON embedded in a `RawExtension`/`FieldsV1` is invalid.
    #[error("protobuf: embedded JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A message from the target type's `Deserialize` or the value's `Serialize`.
    #[error("protobuf: {0}")]
    Message(String),
}

impl serde::de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }
}

impl serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }
}

/// Decodes an enveloped object or list (`k8s\0` + `runtime.Unknown`) into `T`.
///
/// The message is the one of the envelope's `apiVersion`/`kind`; `T` sees them as the
/// `apiVersion` and `kind` keys. Kinds without a message (custom resources) are
/// [`Error::UnknownKind`]; an envelope holding JSON (`contentType: application/json`) is
/// decoded as JSON.
pub fn from_slice<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    let unknown = Unknown::decode(bytes)?;
    de::from_unknown(&unknown, 0)
}

/// Decodes a bare message (no envelope) of `apiVersion`/`kind` into `T`, presenting that
/// type meta as the top-level `apiVersion` and `kind` keys, as [`from_slice`] does.
pub fn from_message<'de, T: Deserialize<'de>>(
    raw: &'de [u8],
    api_version: &'de str,
    kind: &'de str,
) -> Result<T, Error> {
    let message = descriptor::for_kind(api_version, kind)
        .ok_or_else(|| Error::UnknownKind { api_version: api_version.to_owned(), kind: kind.to_owned() })?;
    T::deserialize(de::MessageDeserializer::top(raw, message, api_version, kind))
}

/// Decodes one watch frame's payload (a bare `metav1.WatchEvent`, see the module docs) into
/// `T`, typically [`crate::watch::WatchEvent<K>`]: its `object` is the nested envelope,
/// decoded as the object it holds.
pub fn from_watch_frame<'de, T: Deserialize<'de>>(frame: &'de [u8]) -> Result<T, Error> {
    T::deserialize(de::MessageDeserializer::new(frame, descriptor::watch_event(), 0))
}

/// Encodes `value` (any `Serialize` whose JSON form is a built-in object or list with
/// `apiVersion` and `kind`) as an enveloped protobuf body.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    ser::to_vec(value)
}

/// Encodes `value` as the message of `api_version`/`kind`, for types whose JSON form carries no
/// type meta (discovery's `APIResourceList` in k8s-openapi, a view); any `apiVersion`/`kind`
/// keys the value has are ignored.
pub fn to_vec_as<T: Serialize + ?Sized>(value: &T, api_version: &str, kind: &str) -> Result<Vec<u8>, Error> {
    ser::to_vec_as(value, api_version, kind)
}

/// Encodes the JSON text of a built-in object (`json`) as the bare message (no envelope) of
/// `api_version`/`kind`, reading the text once as it encodes (no `serde_json::Value` in
/// between). Map entries and embedded raw JSON (`FieldsV1`...) keep the text's key order, so
/// for text whose keys are sorted (as `serde_json::Value` writes them) the bytes are those of
/// [`to_vec_as`] on the parsed value, without its envelope. Bad JSON is an error
/// ([`Error::Json`], or [`Error::Message`] when met inside a value).
pub fn json_to_message(json: &[u8], api_version: &str, kind: &str) -> Result<Vec<u8>, Error> {
    transcode::message_from_json(json, api_version, kind)
}

/// Encodes a watch event's frame payload (a bare `metav1.WatchEvent` whose object is the
/// enveloped `object`), as the API server sends it; frame it with [`encode_frame`].
pub fn watch_frame(event_type: &str, object: &[u8]) -> Vec<u8> {
    envelope::watch_event(event_type, object)
}

/// Whether this apiVersion/kind has a protobuf message (built-in kinds do; custom resources
/// do not, and the API server answers them in JSON).
pub fn has_message(api_version: &str, kind: &str) -> bool {
    descriptor::for_kind(api_version, kind).is_some()
}
