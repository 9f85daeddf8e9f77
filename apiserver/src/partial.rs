//! Metadata-only answers: what a request accepting `application/json;as=PartialObjectMetadata;
//! g=meta.k8s.io;v=v1` (or `as=PartialObjectMetadataList` for lists) gets.
//!
//! Contract: for every resource and every verb that answers with an object (get, create,
//! update, patch, apply, delete), the answer is `{"kind":"PartialObjectMetadata","apiVersion":
//! "meta.k8s.io/v1","metadata":{...}}` with the object's whole metadata, byte for byte as
//! stored; lists, deletecollection and watch events carry the same items in a
//! `PartialObjectMetadataList` (built where they are streamed, see `store::put_partial`).
//! `Status` answers (errors, a delete's Success) are sent as they are.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::registry::ResourceInfo;
use super::server::Body;

type Resp = http::Response<Body>;

/// The metadata-only form of an object answer; other answers unchanged.
pub fn object_response(info: &ResourceInfo, resp: Resp) -> Resp {
    let (mut parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Full(Some(b)) => b,
        other => return http::Response::from_parts(parts, other),
    };
    let out = match partial_of(info, &bytes) {
        Some(p) => {
            parts.headers.remove(http::header::CONTENT_LENGTH);
            p
        }
        None => bytes,
    };
    http::Response::from_parts(parts, Body::Full(Some(out)))
}

/// The members of a typed object this needs, borrowed from its bytes.
#[derive(Deserialize)]
struct Typed<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
}

/// `{"kind":"PartialObjectMetadata",...}` for a typed object of `info`'s kind.
fn partial_of(info: &ResourceInfo, bytes: &[u8]) -> Option<Bytes> {
    let typed: Typed = serde_json::from_slice(bytes).ok()?;
    if typed.kind.as_deref() != Some(&*info.api.kind) {
        return None;
    }
    let meta = typed.metadata?.get();
    let mut out = BytesMut::with_capacity(meta.len() + 80);
    out.put_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
    out.put_slice(meta.as_bytes());
    out.put_slice(b"}\n");
    Some(out.freeze())
}
