//! Content negotiation with Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! as kube-apiserver does it (k8s.io/apiserver `endpoints/handlers/negotiation`, and for custom
//! resources apiextensions-apiserver's `customresource_handler.go`).
//!
//! Contract:
//! - **Request bodies.** A built-in kind's create/update body in protobuf (the `k8s\0` envelope)
//!   is decoded into the same JSON value the JSON path produces, so every later step is the
//!   same. A body that is not a protobuf envelope, or does not decode, is the real 400 (`the
//!   object provided is unrecognized (must be of type K): <why> (<hex of the first 30
//!   bytes>)`). A custom resource's body in protobuf is the real server's answer when it
//!   decodes (`fieldValidation=Ignore`): 400, `K in version "v" cannot be handled as a K:
//!   object *unstructured.Unstructured does not implement the protobuf marshalling interface
//!   ...` (with the default `Warn` and with `Strict` the real server dereferences the nil strict
//!   serializer of the CRD's protobuf entry, a 500 we do not copy).
//! - **Responses.** The `Accept` header is negotiated as goautoneg does (clauses by `q`, then
//!   the more specific first; the first clause a serializer accepts wins; `*/*` is JSON; no
//!   header is JSON). Protobuf is chosen only for built-in kinds without conversion or for
//!   `as=PartialObjectMetadata[List]`; a custom resource's endpoint leaves protobuf out of its
//!   standard serializers, and a `Table` is JSON or YAML only. When no clause is acceptable the
//!   answer is the real 406 (in JSON). YAML is answered as JSON (as before).
//! - A protobuf answer is the JSON answer re-encoded ([`encode_response`]): objects, lists,
//!   `Status` errors; a body with no protobuf message (e.g. `metrics.k8s.io`) stays JSON. A watch
//!   in protobuf is `application/vnd.kubernetes.protobuf;stream=watch`: each event one
//!   length-prefixed `WatchEvent` frame whose object is enveloped ([`line_to_frame`]).
//! - Lists of stored objects and watch events encode an object version straight from its
//!   stored JSON text (`protobuf::json_to_message`, no tree in between) and keep the message of
//!   each object's newest version in an [`EncodeCache`] by uid (as the real watch cache keeps
//!   each event's serializations), so every list and every watcher after a change reuse it; at
//!   most [`ENCODE_CACHE_ENTRIES`] objects (then emptied). A watch frame is written straight
//!   into the stream's buffer from the message (`protobuf::put_watch_frame`). A list of 1 MiB
//!   or more is sent in chunks as it is written ([`list_response`]), as JSON lists are.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use rudder_apimachinery::protobuf;
use serde_json::Value;

use crate::errors::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::server::{Body, Ctx};
use crate::store::Obj;

/// The protobuf media type.
pub const PROTOBUF: &str = protobuf::CONTENT_TYPE;
/// The media type of a protobuf watch stream.
pub const PROTOBUF_WATCH: &str = "application/vnd.kubernetes.protobuf;stream=watch";
/// The media types every API endpoint lists in its 406 and 415 answers.
const SUPPORTED: &str = "application/json, application/yaml, application/vnd.kubernetes.protobuf";

/// The encoding of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// JSON (also for YAML and `Table` requests).
    Json,
    /// Kubernetes' protobuf envelope.
    Protobuf,
}

/// One clause of an `Accept` header.
struct Clause<'a> {
    kind: &'a str,
    sub: &'a str,
    q: f64,
    params: Vec<(&'a str, &'a str)>,
}

/// Parses `Accept` as goautoneg does, sorted by preference (stable).
fn clauses(header: &str) -> Vec<Clause<'_>> {
    let mut out: Vec<Clause<'_>> = Vec::new();
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let media = pieces.next().unwrap_or("").trim();
        let (kind, sub) = match media.split_once('/') {
            Some((t, s)) => (t.trim(), s.trim()),
            None if media == "*" => ("*", "*"),
            None => continue,
        };
        let mut c = Clause { kind, sub, q: 1.0, params: Vec::new() };
        for p in pieces {
            let Some((k, v)) = p.split_once('=') else { continue };
            let (k, v) = (k.trim(), v.trim());
            if k == "q" {
                c.q = v.parse().unwrap_or(0.0);
            } else {
                c.params.push((k, v));
            }
        }
        out.push(c);
    }
    let rank = |c: &Clause<'_>| (u8::from(c.kind == "*"), u8::from(c.sub == "*"));
    out.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal).then(rank(a).cmp(&rank(b))));
    out
}

/// The serializers of an API endpoint, in the server's order (`*/*` takes the first).
const SERIALIZERS: [(&str, Output, bool); 3] =
    [("json", Output::Json, true), ("yaml", Output::Json, false), ("vnd.kubernetes.protobuf", Output::Protobuf, true)];

/// Whether the endpoint takes a clause's parameters with this serializer
/// (`acceptMediaTypeOptions` and the request scope's `AllowsMediaTypeTransform`).
fn acceptable(c: &Clause<'_>, sub: &str, streams: bool, info: &ResourceInfo) -> bool {
    let mut convert: Option<(&str, &str, &str)> = None;
    for &(k, v) in &c.params {
        match k {
            "as" => convert.get_or_insert(("", "", "")).2 = v,
            "g" => convert.get_or_insert(("", "", "")).0 = v,
            "v" => convert.get_or_insert(("", "", "")).1 = v,
            "stream" if !v.is_empty() && (!streams || v != "watch") => return false,
            "sv" if !v.is_empty() && v != "v1" => return false,
            _ => {}
        }
    }
    match convert {
        // A custom resource's standard serializers leave protobuf out.
        None => !(info.custom && sub == "vnd.kubernetes.protobuf"),
        Some((group, version, kind)) if group == "meta.k8s.io" && matches!(version, "v1" | "v1beta1") => match kind {
            "Table" => matches!(sub, "json" | "yaml"),
            "PartialObjectMetadata" | "PartialObjectMetadataList" => true,
            _ => false,
        },
        Some(_) => false,
    }
}

/// Negotiates the answer's encoding for a request on `info` (406 when nothing in `Accept` is
/// acceptable, with the real message).
pub fn output(accept: &str, info: &ResourceInfo) -> ApiResult<Output> {
    if accept.trim().is_empty() {
        return Ok(Output::Json);
    }
    for c in clauses(accept) {
        for (sub, out, streams) in SERIALIZERS {
            let matches =
                (c.kind == "application" && (c.sub == sub || c.sub == "*")) || (c.kind == "*" && c.sub == "*");
            if matches && acceptable(&c, sub, streams, info) {
                return Ok(out);
            }
        }
    }
    Err(ApiError::not_acceptable(SUPPORTED))
}

/// The negotiated encoding of `ctx`'s answer on `info` (JSON when negotiation fails: the route
/// answers that 406 before any handler runs).
pub fn output_of(ctx: &Ctx, info: &ResourceInfo) -> Output {
    output(ctx.header("accept"), info).unwrap_or(Output::Json)
}

/// Go's `summarizeData(body, 30)`: the start of a body for a decode error (text when it looks
/// like JSON, hex otherwise).
fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let (head, more) = (&body[..body.len().min(MAX)], body.len() > MAX);
    let text = match body.first() {
        None => return "<empty>".into(),
        Some(b'{') => String::from_utf8_lossy(head).into_owned(),
        Some(_) => head.iter().map(|b| format!("{b:02x}")).collect(),
    };
    if more {
        format!("{text} ...")
    } else {
        text
    }
}

/// Decodes a protobuf create/update body for `info` into its JSON form (see the module docs for
/// the errors).
pub fn decode_body(body: &[u8], info: &ResourceInfo) -> ApiResult<Value> {
    let kind = &info.api.kind;
    let unrecognized = |why: String| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): {why} ({})",
            summarize(body)
        ))
    };
    let unknown = match protobuf::Unknown::decode(body) {
        Ok(u) => u,
        Err(protobuf::Error::Magic) if body.is_empty() => return Err(unrecognized("empty data".into())),
        Err(protobuf::Error::Magic) => {
            return Err(unrecognized(
                "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]".into(),
            ))
        }
        Err(e) => return Err(unrecognized(e.to_string())),
    };
    let sent_kind = if unknown.kind.is_empty() { kind.as_ref() } else { unknown.kind };
    let sent_version = match unknown.api_version.rsplit_once('/') {
        Some((_, v)) => v,
        None if unknown.api_version.is_empty() => info.api.version.as_ref(),
        None => unknown.api_version,
    };
    let cannot = |why: &str| {
        ApiError::bad_request(format!("{sent_kind} in version {sent_version:?} cannot be handled as a {kind}: {why}"))
    };
    if info.custom {
        return Err(cannot(
            "object *unstructured.Unstructured does not implement the protobuf marshalling interface and cannot be encoded to a protobuf message",
        ));
    }
    if sent_kind != kind.as_ref() {
        return Err(cannot(&format!("converting ({sent_kind}) to ({kind}): unknown conversion")));
    }
    // An envelope without type meta takes the endpoint's, as the real decoder's defaults do.
    let api_version = if unknown.api_version.is_empty() { info.api.api_version.as_ref() } else { unknown.api_version };
    protobuf::from_message::<Value>(unknown.raw, api_version, sent_kind).map_err(|e| cannot(&e.to_string()))
}

/// Re-encodes a JSON answer as protobuf when `out` asks for it (see the module docs); anything
/// else (text, streams already encoded, bodies with no message) passes unchanged.
pub async fn encode_response(out: Output, resp: Response<Body>) -> Response<Body> {
    if out != Output::Protobuf
        || resp.headers().get(http::header::CONTENT_TYPE).is_none_or(|v| v.as_bytes() != b"application/json")
    {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Full(b) => b.unwrap_or_default(),
        chan @ Body::Chan(_) => match chan.collect().await {
            Ok(c) => c.to_bytes(),
            Err(never) => match never {},
        },
    };
    let encoded = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| protobuf::to_vec(&v).ok());
    let Some(encoded) = encoded else {
        parts.headers.remove(http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::Full(Some(bytes)));
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
    Response::from_parts(parts, Body::Full(Some(Bytes::from(encoded))))
}

/// Appends the protobuf frame of one JSON watch line (`{"type":..,"object":..}`); a line that
/// does not parse or whose object has no message is dropped (cannot happen for the lines the
/// server writes for built-in kinds, the only ones served in protobuf).
pub fn line_to_frame(line: &[u8], out: &mut BytesMut) {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(rename = "type")]
        kind: String,
        object: Value,
    }
    let Ok(ev) = serde_json::from_slice::<Line>(line) else { return };
    let Ok(object) = protobuf::to_vec(&ev.object) else { return };
    let payload = protobuf::watch_frame(&ev.kind, &object);
    if let Ok(frame) = protobuf::encode_frame(&payload) {
        out.put_slice(&frame);
    }
}

/// The whole answer of a watch that ends at once with one event (`line`, JSON), in `out`'s
/// encoding.
pub fn single_event(out: Output, line: &[u8]) -> Response<Body> {
    match out {
        Output::Json => crate::server::json(200, Bytes::copy_from_slice(line)),
        Output::Protobuf => {
            let mut buf = BytesMut::new();
            line_to_frame(line, &mut buf);
            crate::server::response(200, PROTOBUF_WATCH, Body::Full(Some(buf.freeze())))
        }
    }
}

/// The most object messages an [`EncodeCache`] keeps before it starts over.
pub const ENCODE_CACHE_ENTRIES: usize = 200_000;

/// The protobuf message (no envelope) of each stored object's newest version encoded so far,
/// by uid.
#[derive(Debug, Default)]
pub struct EncodeCache {
    messages: Mutex<HashMap<String, (u64, Bytes)>>,
}

impl EncodeCache {
    /// The message of `obj` (a stored object of `info`); `None` when it does not encode (no
    /// message for the kind). A version is encoded once while it is the newest one asked for;
    /// an older version (a watcher far behind) is encoded again and not kept.
    pub fn message(&self, info: &ResourceInfo, obj: &Obj) -> Option<Bytes> {
        if let Some((rv, m)) = self.messages.lock().get(obj.uid.as_str()) {
            if *rv == obj.rv {
                return Some(m.clone());
            }
        }
        // Straight from the stored JSON text: no `Value`, no envelope to strip.
        let message = Bytes::from(protobuf::json_to_message(&obj.body, &info.api.api_version, &info.api.kind).ok()?);
        let mut messages = self.messages.lock();
        match messages.get_mut(obj.uid.as_str()) {
            Some((rv, _)) if *rv > obj.rv => {}
            Some(entry) => *entry = (obj.rv, message.clone()),
            None => {
                if messages.len() >= ENCODE_CACHE_ENTRIES {
                    messages.clear();
                }
                messages.insert(obj.uid.clone(), (obj.rv, message.clone()));
            }
        }
        Some(message)
    }
}

/// A protobuf list of stored objects, as its parts: `head` is the envelope and the list message
/// up to its items (every length is known from the cached item messages), then each item is
/// field 2 around its message, then the envelope's two empty trailing fields.
pub struct ListParts {
    head: Vec<u8>,
    messages: Vec<Bytes>,
}

/// Lists at least this large are sent in chunks from their own task (see [`list_response`]).
const STREAM_LIST_BYTES: usize = 1 << 20;
/// The size of those chunks.
const LIST_CHUNK: usize = 256 * 1024;

/// The parts of the list body of `items` (their cached messages, encoded now where missing);
/// `None` when one does not encode.
pub fn list_parts(cache: &EncodeCache, info: &ResourceInfo, meta: &Value, items: &[Arc<Obj>]) -> Option<ListParts> {
    let list_kind = format!("{}List", info.api.kind);
    let meta_msg = protobuf::to_vec_as(meta, "v1", "ListMeta").ok()?;
    let meta_raw = protobuf::Unknown::decode(&meta_msg).ok()?.raw;
    let messages: Vec<Bytes> = items.iter().map(|o| cache.message(info, o)).collect::<Option<_>>()?;
    let head = protobuf::list_head(&info.api.api_version, &list_kind, meta_raw, messages.iter().map(|m| m.len()));
    Some(ListParts { head, messages })
}

impl ListParts {
    /// The whole body's length.
    fn len(&self) -> usize {
        self.head.len()
            + self.messages.iter().map(|m| protobuf::list_item_len(m.len())).sum::<usize>()
            + protobuf::LIST_TRAILER.len()
    }

    /// Writes the items from the `from`-th on into `out` until it holds at least `until` bytes;
    /// the trailer after the last. Answers the next item to write.
    fn write(&self, out: &mut BytesMut, from: usize, until: usize) -> usize {
        let mut i = from;
        while i < self.messages.len() && out.len() < until {
            protobuf::put_list_item(out, &self.messages[i]);
            i += 1;
        }
        if i == self.messages.len() && out.len() < until {
            out.put_slice(&protobuf::LIST_TRAILER);
            i += 1;
        }
        i
    }

    /// The whole body in one buffer.
    pub fn into_bytes(self) -> Bytes {
        let total = self.len();
        let mut out = BytesMut::with_capacity(total);
        out.put_slice(&self.head);
        self.write(&mut out, 0, usize::MAX);
        debug_assert_eq!(out.len(), total);
        out.freeze()
    }
}

/// A 200 answer carrying a protobuf list: in one piece when small, else written in chunks by
/// its own task as the client reads (never the whole body in one buffer), as JSON lists are.
pub fn list_response(parts: ListParts) -> Response<crate::server::Body> {
    use crate::server::{response, Body};
    if parts.len() < STREAM_LIST_BYTES {
        return response(200, PROTOBUF, Body::Full(Some(parts.into_bytes())));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let mut out = BytesMut::with_capacity(LIST_CHUNK + 64 * 1024);
        out.put_slice(&parts.head);
        let mut next = 0;
        while next <= parts.messages.len() {
            next = parts.write(&mut out, next, LIST_CHUNK);
            if tx.send(out.split().freeze()).await.is_err() {
                return;
            }
            out.reserve(LIST_CHUNK + 64 * 1024);
        }
    });
    response(200, PROTOBUF, Body::Chan(rx))
}

/// Appends the frame of one watch event about a stored object, written straight into `out`
/// from the cached message; false when it does not encode.
pub fn put_object_frame(cache: &EncodeCache, info: &ResourceInfo, event: &str, obj: &Obj, out: &mut BytesMut) -> bool {
    let Some(message) = cache.message(info, obj) else { return false };
    protobuf::put_watch_frame(out, event, &info.api.api_version, &info.api.kind, &message).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn info(plural: &str) -> ResourceInfo {
        Registry::builtin().iter().find(|i| i.api.plural == plural && i.api.group.is_empty()).cloned().unwrap()
    }

    #[test]
    fn accept_headers_negotiate_like_the_real_server() {
        let pods = info("pods");
        let mut custom = pods.clone();
        custom.custom = true;
        let client_go = "application/vnd.kubernetes.protobuf, application/json";
        assert_eq!(output(client_go, &pods).unwrap(), Output::Protobuf);
        assert_eq!(output(client_go, &custom).unwrap(), Output::Json);
        assert_eq!(output("application/vnd.kubernetes.protobuf", &pods).unwrap(), Output::Protobuf);
        assert_eq!(output("application/vnd.kubernetes.protobuf", &custom).unwrap_err().status.code, 406);
        assert_eq!(output("", &custom).unwrap(), Output::Json);
        assert_eq!(output("*/*", &pods).unwrap(), Output::Json);
        assert_eq!(
            output("application/json;q=0.5, application/vnd.kubernetes.protobuf", &pods).unwrap(),
            Output::Protobuf
        );
        assert_eq!(output("application/vnd.kubernetes.protobuf;q=0.5, application/json", &pods).unwrap(), Output::Json);
        // Tables are JSON or YAML only; metadata-only answers come in protobuf too.
        let table = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json;as=Table;v=v1;g=meta.k8s.io";
        assert_eq!(output(table, &pods).unwrap(), Output::Json);
        assert_eq!(
            output("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io", &pods).unwrap_err().status.code,
            406
        );
        let partial =
            "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(output(partial, &custom).unwrap(), Output::Protobuf);
        assert_eq!(
            output("text/html", &pods).unwrap_err().status.message,
            format!("only the following media types are accepted: {SUPPORTED}")
        );
        assert_eq!(output("application/vnd.kubernetes.protobuf;stream=watch", &pods).unwrap(), Output::Protobuf);
        assert!(output("application/yaml;stream=watch", &pods).is_err());
    }

    fn pod(name: &str, rv: u64) -> Arc<Obj> {
        let body = format!(
            r#"{{"metadata":{{"name":"{name}","namespace":"default","uid":"uid-{name}","resourceVersion":"{rv}"}},"spec":{{"containers":[{{"name":"app","image":"busybox"}}]}}}}"#
        );
        Arc::new(Obj {
            ns: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            rv,
            labels: Default::default(),
            fields: Default::default(),
            body: Bytes::from(body),
            meta_end: 0,
            rv_pos: (0, 0),
        })
    }

    #[tokio::test]
    async fn large_lists_are_streamed_as_the_same_bytes() {
        let pods = info("pods");
        let cache = EncodeCache::default();
        let items: Vec<_> = (0..25_000).map(|i| pod(&format!("p{i}"), 10 + i)).collect();
        let meta = serde_json::json!({"resourceVersion": "99"});
        let whole = list_parts(&cache, &pods, &meta, &items).unwrap().into_bytes();
        assert!(whole.len() > 2 * LIST_CHUNK && whole.len() >= STREAM_LIST_BYTES, "{}", whole.len());
        let resp = list_response(list_parts(&cache, &pods, &meta, &items).unwrap());
        assert!(matches!(resp.body(), crate::server::Body::Chan(_)), "a large list is streamed");
        let streamed = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(streamed, whole);
        // A small one is sent whole.
        let small = list_response(list_parts(&cache, &pods, &meta, &items[..3]).unwrap());
        assert!(matches!(small.body(), crate::server::Body::Full(_)));
    }

    #[test]
    fn lists_are_one_envelope_around_the_cached_messages() {
        let pods = info("pods");
        let cache = EncodeCache::default();
        // Enough pods for multi-byte lengths.
        let items: Vec<_> = (0..40).map(|i| pod(&format!("p{i}"), 10 + i)).collect();
        let meta = serde_json::json!({"resourceVersion": "99"});
        let body = list_parts(&cache, &pods, &meta, &items).unwrap().into_bytes();
        let mut list = Vec::new();
        let meta_msg = protobuf::to_vec_as(&meta, "v1", "ListMeta").unwrap();
        // Length-delimited field `n`, written here independently of the code under test.
        let field = |out: &mut Vec<u8>, n: u8, b: &[u8]| {
            out.push(n << 3 | 2);
            let mut v = b.len() as u64;
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
            out.extend_from_slice(b);
        };
        field(&mut list, 1, protobuf::Unknown::decode(&meta_msg).unwrap().raw);
        for o in &items {
            let v: Value = serde_json::from_slice(&o.body).unwrap();
            let enveloped = protobuf::to_vec_as(&v, "v1", "Pod").unwrap();
            field(&mut list, 2, protobuf::Unknown::decode(&enveloped).unwrap().raw);
        }
        let expected =
            protobuf::Unknown { api_version: "v1", kind: "PodList", raw: &list, ..Default::default() }.encode();
        assert_eq!(body[..], expected[..]);
        let decoded: Value = protobuf::from_slice(&body).unwrap();
        assert_eq!(decoded["items"][39]["metadata"]["name"], "p39");
        assert_eq!(decoded["metadata"]["resourceVersion"], "99");
    }

    #[test]
    fn the_cache_keeps_each_objects_newest_version() {
        let pods = info("pods");
        let cache = EncodeCache::default();
        let (old, new) = (pod("a", 5), pod("a", 6));
        let m6 = cache.message(&pods, &new).unwrap();
        let m5 = cache.message(&pods, &old).unwrap();
        assert_ne!(m5, m6);
        // The older version did not replace the newer one.
        assert_eq!(cache.messages.lock().get("uid-a").map(|(rv, _)| *rv), Some(6));
        assert_eq!(cache.message(&pods, &new).unwrap(), m6);
        let m7 = cache.message(&pods, &pod("a", 7)).unwrap();
        assert_eq!(cache.messages.lock().get("uid-a").map(|(rv, m)| (*rv, m.clone())), Some((7, m7)));
    }

    #[test]
    fn summaries_are_gos() {
        assert_eq!(summarize(b""), "<empty>");
        assert_eq!(summarize(b"{\"a\":1}"), "{\"a\":1}");
        assert_eq!(summarize(&[1, 2, 255]), "0102ff");
        assert_eq!(summarize(&[0u8; 31]), format!("{} ...", "00".repeat(30)));
    }
}
