//! Reading: get and list (resourceVersion semantics, limit/continue, label and field
//! selectors, chunked list responses), and the parsing of those parameters that watch shares.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use rudder_apimachinery::fields::FieldSelector;
use rudder_apimachinery::labels::Selector;
use rudder_apimachinery::resource::Scope;
use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::errors::{ApiError, ApiResult};
use crate::field_selectors::{self};
use crate::registry::ResourceInfo;
use crate::server::{json, json_value, response, Body, Ctx, Shared, Target};
use crate::store::{put_partial, put_typed, type_prefix, Obj, ObjKey};

use super::Resp;

/// A parsed resourceVersion parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rv {
    /// Absent or empty: the latest.
    Unset,
    /// `0`: any.
    Zero,
    /// A number.
    At(u64),
}

/// Parses `resourceVersion` (non-numeric → 500, as recorded).
pub fn parse_rv(s: Option<&str>) -> ApiResult<Rv> {
    match s {
        None | Some("") => Ok(Rv::Unset),
        Some("0") => Ok(Rv::Zero),
        Some(s) => s.parse::<u64>().map(Rv::At).map_err(|_| {
            ApiError::internal_no_reason(format!(
                "resourceVersion: Invalid value: {s:?}: strconv.ParseUint: parsing {s:?}: invalid syntax"
            ))
        }),
    }
}

/// Label and field selectors plus the namespace of a request.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Namespace (None: all).
    pub ns: Option<String>,
    /// Label selector.
    pub labels: Selector,
    /// Field selector.
    pub fields: FieldSelector,
}

impl Filter {
    /// Parses the selectors of a request (400 on bad ones, as the API server words them).
    pub fn parse(ctx: &Ctx, t: &Target) -> ApiResult<Filter> {
        let labels = Selector::parse(ctx.q("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.message.clone()))?;
        let fields = FieldSelector::parse(ctx.q("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("invalid field selector: {}", go_rune_message(&e.message))))?;
        field_selectors::check(&t.info, &fields)?;
        Ok(Filter { ns: t.ns.clone(), labels, fields })
    }

    /// Whether selectors were given (lists then omit remainingItemCount).
    pub fn has_selectors(&self) -> bool {
        !self.labels.is_empty() || !self.fields.is_empty()
    }

    /// Whether an object passes.
    pub fn matches(&self, o: &Obj) -> bool {
        if let Some(ns) = &self.ns {
            if &o.ns != ns {
                return false;
            }
        }
        self.labels.matches(&o.labels) && self.fields.matches(&|p: &str| o.field(field_selectors::canonical(p)))
    }
}

/// The API server prints the offending character of a field selector as a Go rune (its code
/// point, `61` for `=`); the parser quotes it (`'='`).
pub(super) fn go_rune_message(msg: &str) -> String {
    const PREFIX: &str = "unescaped character in value: '";
    if let Some(rest) = msg.strip_prefix(PREFIX).and_then(|r| r.strip_suffix('\'')) {
        let mut chars = rest.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return format!("unescaped character in value: {}", c as u32);
        }
    }
    msg.to_string()
}

/// A decoded continue token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueToken {
    /// Snapshot RV (-1: the latest, after an expired token).
    pub rv: i64,
    /// The key to start at (inclusive).
    pub start: String,
}

impl ContinueToken {
    /// Encodes as the real server does: unpadded base64url of
    /// `{"v":"meta.k8s.io/v1","rv":N,"start":"key\u0000"}`.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let j =
            format!("{{\"v\":\"meta.k8s.io/v1\",\"rv\":{},\"start\":{}}}", self.rv, Value::String(self.start.clone()));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(j)
    }

    /// Decodes (400 `invalid continue token` on garbage).
    pub fn decode(s: &str) -> ApiResult<Self> {
        use base64::Engine;
        let bad = |why: String| ApiError::bad_request(format!("invalid continue token: {why}"));
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
            .map_err(|e| bad(format!("continue key is not valid: {e}")))?;
        let v: Value = serde_json::from_slice(&raw).map_err(|e| bad(format!("continue key is not valid: {e}")))?;
        if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
            return Err(bad("continue key is not valid: server does not recognize this encoded key".into()));
        }
        let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(|| bad("continue key is not valid: no rv".into()))?;
        let start = v.get("start").and_then(Value::as_str).unwrap_or_default().to_string();
        Ok(ContinueToken { rv, start })
    }

    /// The object key to start at, for a list in `ns` (None: all namespaces / cluster scope).
    pub fn start_key(&self, ns: Option<&str>, namespaced: bool) -> ObjKey {
        match (ns, namespaced) {
            (Some(ns), _) => (ns.to_string(), self.start.clone()),
            (None, true) => match self.start.split_once('/') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None => (self.start.clone(), String::new()),
            },
            (None, false) => (String::new(), self.start.clone()),
        }
    }

    /// The start string that resumes after `key`.
    pub fn after(key: &ObjKey, ns: Option<&str>, namespaced: bool) -> String {
        if ns.is_some() || !namespaced {
            format!("{}\u{0}", key.1)
        } else {
            format!("{}/{}\u{0}", key.0, key.1)
        }
    }
}

pub(super) fn list_kind(info: &ResourceInfo) -> String {
    format!("{}List", info.api.kind)
}

/// Formats one object for a response at the target's version.
pub fn typed_bytes(info: &ResourceInfo, body: &[u8]) -> Bytes {
    let prefix = type_prefix(&info.api.kind, &info.api.api_version);
    let mut out = BytesMut::with_capacity(body.len() + prefix.len() + 1);
    put_typed(&mut out, &prefix, body);
    out.put_u8(b'\n');
    out.freeze()
}

pub(super) fn validate_list_rvm(rv: Rv, rvm: Option<&str>) -> ApiResult<()> {
    let Some(m) = rvm.filter(|m| !m.is_empty()) else { return Ok(()) };
    let forbidden = |msg: &str| {
        ApiError::invalid_options(
            "ListOptions",
            vec![("FieldValueForbidden".into(), "resourceVersionMatch".into(), format!("Forbidden: {msg}"))],
        )
    };
    match m {
        "Exact" | "NotOlderThan" => {}
        other => {
            let msg = format!("Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\", \"\"");
            return Err(ApiError::invalid_options(
                "ListOptions",
                vec![("FieldValueNotSupported".into(), "resourceVersionMatch".into(), msg)],
            ));
        }
    }
    match rv {
        Rv::Unset => Err(forbidden("resourceVersionMatch is forbidden unless resourceVersion is provided")),
        Rv::Zero if m == "Exact" => {
            Err(forbidden("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""))
        }
        _ => Ok(()),
    }
}

pub(super) fn too_large_rv(rv: u64, current: u64) -> ApiError {
    Status::failure(504, ReasonKind::Timeout, format!("Timeout: Too large resource version: {rv}, current: {current}"))
        .with_details(StatusDetails {
            causes: vec![StatusCause {
                reason: "ResourceVersionTooLarge".into(),
                message: "Too large resource version".into(),
                ..Default::default()
            }],
            retry_after_seconds: Some(1),
            ..Default::default()
        })
        .into()
}

/// Waits (briefly) until the store reaches `rv`; 504 when it does not.
pub(super) async fn wait_for_rv(shared: &Arc<Shared>, rv: u64) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + shared.opts.future_rv_wait;
    loop {
        let current = shared.state.lock().store.rv;
        if current >= rv {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(too_large_rv(rv, current));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub(super) async fn list(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let filter = Filter::parse(ctx, t)?;
    let rv = parse_rv(ctx.q("resourceVersion"))?;
    let rvm = ctx.q("resourceVersionMatch").filter(|m| !m.is_empty());
    validate_list_rvm(rv, rvm)?;
    let limit = ctx.q("limit").and_then(|l| l.parse::<i64>().ok()).filter(|l| *l > 0).map(|l| l as usize);
    let cont = match ctx.q("continue").filter(|c| !c.is_empty()) {
        Some(c) => {
            if rv != Rv::Unset {
                return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
            }
            Some(ContinueToken::decode(c)?)
        }
        None => None,
    };
    // Which snapshot, and whether limit applies (RV=0 and NotOlderThan-without-limit are
    // served from the "watch cache": latest state, no paging).
    let exact = match (rv, rvm) {
        (Rv::At(n), Some("Exact")) => Some(n),
        (Rv::At(n), None) if limit.is_some() => Some(n),
        _ => None,
    };
    if let (Rv::At(n), None) = (rv, exact) {
        wait_for_rv(shared, n).await?;
    }
    let limit =
        if rv == Rv::Zero || (matches!(rv, Rv::At(_)) && exact.is_none() && rvm.is_none()) { None } else { limit };
    let namespaced = t.info.api.scope == Scope::Namespaced;
    let st = shared.state.lock();
    let current = st.store.rv;
    let (snap_rv, start) = match &cont {
        Some(c) => {
            let at = if c.rv < 0 { current } else { c.rv as u64 };
            if at < st.store.compacted && c.rv >= 0 {
                let fresh = ContinueToken { rv: -1, start: c.start.clone() }.encode();
                let mut s = Status::failure(
                    410,
                    ReasonKind::Expired,
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                );
                s.metadata.continue_ = Some(fresh);
                return Err(s.into());
            }
            (at.min(current), Some(c.start_key(t.ns.as_deref(), namespaced)))
        }
        None => match exact {
            Some(n) => {
                if n > current {
                    return Err(ApiError::internal_no_reason(
                        "etcdserver: mvcc: required revision is a future revision",
                    ));
                }
                (n, None)
            }
            None => (current, None),
        },
    };
    let objs = match st.store.snapshot(&t.res, t.ns.as_deref(), snap_rv, start.as_ref()) {
        Ok(o) => o,
        Err(_) => return Err(ApiError::expired("The resourceVersion for the provided list is too old.")),
    };
    drop(st);
    let mut items: Vec<Arc<Obj>> = Vec::new();
    let mut remaining = 0usize;
    let mut next = None;
    for o in objs {
        if !filter.matches(&o) {
            continue;
        }
        if let Some(l) = limit {
            if items.len() >= l {
                if next.is_none() {
                    next = items.last().map(|last| ContinueToken::after(&last.key(), t.ns.as_deref(), namespaced));
                }
                remaining += 1;
                continue;
            }
        }
        items.push(o);
    }
    let mut meta = Map::new();
    meta.insert("resourceVersion".into(), Value::String(snap_rv.to_string()));
    if let Some(start) = next {
        meta.insert("continue".into(), Value::String(ContinueToken { rv: snap_rv as i64, start }.encode()));
        if !filter.has_selectors() {
            meta.insert("remainingItemCount".into(), Value::from(remaining));
        }
    }
    if let Some(include) = ctx.wants_table() {
        return Ok(json_value(200, &crate::table::table(&t.info, Value::Object(meta), &items, include, true)));
    }
    let meta = Value::Object(meta);
    if !ctx.wants_partial() && crate::negotiate::output_of(ctx, &t.info) == crate::negotiate::Output::Protobuf {
        if let Some(parts) = crate::negotiate::list_parts(&shared.encode_cache, &t.info, &meta, &items) {
            return Ok(crate::negotiate::list_response(parts));
        }
    }
    Ok(list_response(&t.info, ctx.wants_partial(), meta, items))
}

/// A list response, streamed in chunks when large.
pub fn list_response(info: &ResourceInfo, partial: bool, meta: Value, items: Vec<Arc<Obj>>) -> Resp {
    let (kind, api_version) = if partial {
        ("PartialObjectMetadataList".to_string(), "meta.k8s.io/v1".to_string())
    } else {
        (list_kind(info), info.api.api_version.to_string())
    };
    let mut head = BytesMut::new();
    head.put_slice(b"{\"kind\":");
    head.put_slice(json!(kind).to_string().as_bytes());
    head.put_slice(b",\"apiVersion\":");
    head.put_slice(json!(api_version).to_string().as_bytes());
    head.put_slice(b",\"metadata\":");
    head.put_slice(meta.to_string().as_bytes());
    head.put_slice(b",\"items\":[");
    let prefix = if info.custom { Some(type_prefix(&info.api.kind, &info.api.api_version)) } else { None };
    let put_item = move |out: &mut BytesMut, o: &Obj| {
        if partial {
            put_partial(out, o);
        } else if let Some(p) = &prefix {
            put_typed(out, p, &o.body);
        } else {
            out.put_slice(&o.body);
        }
    };
    let total: usize = items.iter().map(|o| o.body.len() + 64).sum();
    const CHUNK: usize = 256 * 1024;
    if total < 4 * CHUNK {
        let mut out = head;
        out.reserve(total + 4);
        for (i, o) in items.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            put_item(&mut out, o);
        }
        out.put_slice(b"]}\n");
        return json(200, out.freeze());
    }
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let mut out = head;
        for (i, o) in items.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            put_item(&mut out, o);
            if out.len() >= CHUNK {
                if tx.send(out.split().freeze()).await.is_err() {
                    return;
                }
                out.reserve(CHUNK + 8192);
            }
        }
        out.put_slice(b"]}\n");
        let _ = tx.send(out.freeze()).await;
    });
    response(200, "application/json", Body::Chan(rx))
}

pub(super) fn get(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.as_deref().unwrap_or_default();
    let ns = t.ns.as_deref().unwrap_or_default();
    let obj = shared.state.lock().store.get(&t.res, ns, name).ok_or_else(|| ApiError::not_found(&t.info, name))?;
    if let Some(include) = ctx.wants_table() {
        let meta = json!({"resourceVersion": obj.rv.to_string()});
        return Ok(json_value(200, &crate::table::table(&t.info, meta, &[obj], include, true)));
    }
    if ctx.wants_partial() {
        let mut out = BytesMut::new();
        put_partial(&mut out, &obj);
        out.put_u8(b'\n');
        return Ok(json(200, out.freeze()));
    }
    Ok(json(200, typed_bytes(&t.info, &obj.body)))
}
