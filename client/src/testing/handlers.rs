//! The verbs of the embedded API server: get, list, create, update, patch (JSON, merge,
//! strategic, apply), delete, deletecollection, and the status, scale, binding, eviction and log
//! subresources, with the real server's semantics and error bodies (see
//! `testdata/recorded`). Watches live in `watch.rs`.
//!
//! Contract: every write runs under the store lock from read to commit, so resourceVersion
//! checks are exact; a write that changes nothing commits nothing (same resourceVersion);
//! dry runs never commit.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::Method;
use rudder_apimachinery::fields::FieldSelector;
use rudder_apimachinery::labels::Selector;
use rudder_apimachinery::resource::{ApiResource, Scope};
use rudder_apimachinery::schema::GroupVersionKind;
use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use super::apply;
use super::control::Fault;
use super::defaults;
use super::errors::{ApiError, ApiResult};
use super::field_selectors::{self, selectable};
use super::limits;
use super::registry::ResourceInfo;
use super::server::{
    error_response, json, json_value, new_uid, now_rfc3339, res_key, response, Body, Ctx, Shared, State, Target,
};
use super::store::{encode, put_partial, put_typed, type_prefix, EventKind, Obj, ObjKey, ResKey};
use super::strategic;
use super::validation;

type Resp = http::Response<Body>;

/// Discovery documents (`/version`, `/api`, `/apis`, group and group-version documents).
pub fn discovery(shared: &Arc<Shared>, ctx: &Ctx) -> Option<Resp> {
    super::server::discovery_response(shared, ctx)
}

/// The answer to a request hit by an injected fault.
pub fn fault_response(shared: &Arc<Shared>, _ctx: &Ctx, t: &Target, verb: &str, f: &Fault) -> Resp {
    let status = match f.code {
        429 => Status::failure(429, ReasonKind::TooManyRequests, "Too many requests, please try again later.")
            .with_details(StatusDetails {
                retry_after_seconds: Some(f.retry_after.unwrap_or(1)),
                ..Default::default()
            }),
        410 => Status::failure(410, ReasonKind::Expired, "The resourceVersion for the provided list is too old."),
        503 => {
            Status::failure(503, ReasonKind::ServiceUnavailable, "The server is currently unable to handle the request")
        }
        504 => Status::failure(
            504,
            ReasonKind::Timeout,
            "The server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        500 => Status::failure(500, ReasonKind::InternalError, "Internal error occurred: injected fault").with_details(
            StatusDetails {
                causes: vec![StatusCause { message: "injected fault".into(), ..Default::default() }],
                ..Default::default()
            },
        ),
        c => Status::failure(c, ReasonKind::from_code(c), format!("injected failure {c}")),
    };
    let mut status = status;
    if let Some(secs) = f.retry_after {
        status.details.get_or_insert_with(Default::default).retry_after_seconds = Some(secs);
    }
    if verb == "watch" && f.code == 410 {
        let rv = shared.state.lock().store.rv;
        let mut s = Status::failure(410, ReasonKind::Expired, format!("too old resource version: 1 ({rv})"));
        s.details = None;
        let line = format!("{{\"type\":\"ERROR\",\"object\":{}}}\n", serde_json::to_string(&s).unwrap_or_default());
        let _ = t;
        return json(200, line);
    }
    error_response(&ApiError::from(status))
}

/// Runs one resource request.
pub async fn dispatch(shared: &Arc<Shared>, ctx: &Ctx, t: &Target, verb: &str) -> ApiResult<Resp> {
    let resp = run_verb(shared, ctx, t, verb).await?;
    let object_answer = matches!(verb, "create" | "update" | "patch" | "delete") && t.sub.as_deref() != Some("scale");
    if object_answer && ctx.wants_partial() {
        return Ok(super::partial::object_response(&t.info, resp));
    }
    Ok(resp)
}

async fn run_verb(shared: &Arc<Shared>, ctx: &Ctx, t: &Target, verb: &str) -> ApiResult<Resp> {
    match (verb, t.sub.as_deref()) {
        ("watch", _) => super::watch::watch(shared, ctx, t).await,
        ("list", _) => list(shared, ctx, t).await,
        ("get", None | Some("status")) => get(shared, ctx, t),
        ("get", Some("scale")) => get_scale(shared, t),
        ("get", Some("log")) => logs(shared, ctx, t),
        ("create", None) => create(shared, ctx, t),
        ("create", Some("binding")) => binding(shared, ctx, t),
        ("create", Some("eviction")) => eviction(shared, ctx, t),
        ("update", None | Some("status")) => update(shared, ctx, t),
        ("update", Some("scale")) | ("patch", Some("scale")) => write_scale(shared, ctx, t),
        ("patch", None | Some("status")) => patch(shared, ctx, t),
        ("delete", None) => delete(shared, ctx, t),
        ("deletecollection", None) if t.info.verbs.iter().any(|v| v == "deletecollection") => {
            delete_collection(shared, ctx, t)
        }
        _ => Err(ApiError::method_not_allowed(ctx.method.as_str())),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

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
fn go_rune_message(msg: &str) -> String {
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

fn list_kind(info: &ResourceInfo) -> String {
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

fn validate_list_rvm(rv: Rv, rvm: Option<&str>) -> ApiResult<()> {
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

fn too_large_rv(rv: u64, current: u64) -> ApiError {
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
async fn wait_for_rv(shared: &Arc<Shared>, rv: u64) -> ApiResult<()> {
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

async fn list(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
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
        return Ok(json_value(200, &super::table::table(&t.info, Value::Object(meta), &items, include, true)));
    }
    Ok(list_response(&t.info, ctx.wants_partial(), Value::Object(meta), items))
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

fn get(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.as_deref().unwrap_or_default();
    let ns = t.ns.as_deref().unwrap_or_default();
    let obj = shared.state.lock().store.get(&t.res, ns, name).ok_or_else(|| ApiError::not_found(&t.info, name))?;
    if let Some(include) = ctx.wants_table() {
        let meta = json!({"resourceVersion": obj.rv.to_string()});
        return Ok(json_value(200, &super::table::table(&t.info, meta, &[obj], include, true)));
    }
    if ctx.wants_partial() {
        let mut out = BytesMut::new();
        put_partial(&mut out, &obj);
        out.put_u8(b'\n');
        return Ok(json(200, out.freeze()));
    }
    Ok(json(200, typed_bytes(&t.info, &obj.body)))
}

// ---------------------------------------------------------------------------------------------
// Writing

fn api_version_of(info: &ResourceInfo) -> String {
    info.api.api_version.to_string()
}

/// Decodes a create/update body (415 for unknown media types, 400 for bad JSON or a wrong kind).
fn decode_body(ctx: &Ctx, info: &ResourceInfo) -> ApiResult<Value> {
    let ct = ctx.header("content-type");
    let media = ct.split(';').next().unwrap_or("").trim();
    let v: Value = match media {
        "application/json" | "" => serde_json::from_slice(&ctx.body).map_err(|e| {
            let snippet = String::from_utf8_lossy(&ctx.body[..ctx.body.len().min(64)]).into_owned();
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {e} ({snippet})",
                info.api.kind
            ))
        })?,
        "application/yaml" => serde_yaml_ng::from_slice(&ctx.body)
            .map_err(|e| ApiError::bad_request(format!("the object provided is unrecognized (must be of type {}): {e}", info.api.kind)))?,
        _ => return Err(ApiError::unsupported_body()),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: expected an object",
            info.api.kind
        )));
    }
    if let Some(kind) = v.get("kind").and_then(Value::as_str) {
        if !kind.is_empty() && kind != info.api.kind {
            return Err(ApiError::bad_request(format!(
                "{kind} in version {:?} cannot be handled as a {}: converting ({kind}) to ({}): unknown conversion",
                info.api.version, info.api.kind, info.api.kind
            )));
        }
    }
    Ok(v)
}

fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = Value::Object(Map::new());
    }
    match v.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

fn meta_str(v: &Value, k: &str) -> String {
    v.get("metadata").and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn random_suffix() -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5).map(|_| ALPHA[rand::random_range(0..ALPHA.len())] as char).collect()
}

fn namespace_exists(st: &State, ns: &str) -> bool {
    st.store.get(&(String::new(), "namespaces".into()), "", ns).is_some()
}

/// Creates an object (shared by POST and create-on-apply). `v` has metadata.
fn create_object(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    mut v: Value,
    manager: &str,
    operation: &str,
    dry_run: bool,
) -> ApiResult<Bytes> {
    let info = &t.info;
    let body_ns = meta_str(&v, "namespace");
    match (&t.ns, info.api.scope) {
        (Some(ns), Scope::Namespaced) => {
            if !body_ns.is_empty() && &body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta_mut(&mut v).insert("namespace".into(), Value::String(ns.clone()));
            if !namespace_exists(st, ns) {
                return Err(ApiError::namespace_not_found(ns));
            }
        }
        (None, Scope::Namespaced) => return Err(ApiError::route_not_found()),
        _ => {
            meta_mut(&mut v).remove("namespace");
        }
    }
    let ns = t.ns.clone().unwrap_or_default();
    let mut name = meta_str(&v, "name");
    let generate = meta_str(&v, "generateName");
    if name.is_empty() {
        if generate.is_empty() {
            let mut d = StatusDetails {
                group: info.api.group.to_string(),
                kind: info.api.kind.to_string(),
                ..Default::default()
            };
            d.causes = vec![StatusCause {
                reason: "FieldValueRequired".into(),
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            }];
            return Err(Status::failure(
                422,
                ReasonKind::Invalid,
                format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    super::errors::qualified_kind(info)
                ),
            )
            .with_details(d)
            .into());
        }
        for _ in 0..8 {
            name = format!("{generate}{}", random_suffix());
            if st.store.get(&t.res, &ns, &name).is_none() {
                break;
            }
        }
    }
    if st.store.get(&t.res, &ns, &name).is_some() {
        return Err(ApiError::already_exists(info, &name));
    }
    if let Value::Object(m) = &mut v {
        m.remove("kind");
        m.remove("apiVersion");
    }
    let now = now_rfc3339();
    {
        let m = meta_mut(&mut v);
        m.insert("name".into(), Value::String(name.clone()));
        m.insert("uid".into(), Value::String(new_uid()));
        m.insert("creationTimestamp".into(), Value::String(now.clone()));
        for k in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"] {
            m.remove(k);
        }
        m.insert("generation".into(), Value::from(1));
    }
    prepare_kind_on_create(info, &mut v);
    // Defaults belong to whoever sent an update, and to no applier.
    if operation != "Apply" {
        defaults::apply(info, &mut v, None);
    }
    defaults::on_create(info, &mut v);
    if operation == "Apply" {
        let applied = v.clone();
        v = apply::apply(&json!({"metadata": {}}), &applied, manager, &api_version_of(info), &now, true)
            .unwrap_or_else(|_| applied.clone());
        for k in ["name", "uid", "creationTimestamp", "generation", "namespace"] {
            if let Some(x) = applied.get("metadata").and_then(|m| m.get(k)) {
                meta_mut(&mut v).insert(k.into(), x.clone());
            }
        }
        defaults::apply(info, &mut v, None);
    } else if !manager.is_empty() {
        apply::track_update(None, &mut v, manager, &api_version_of(info), &now, "");
    }
    if dry_run {
        let mut o = encode(&v, 0, &[]);
        // A dry run has no resourceVersion.
        let mut val = o.value();
        if let Some(Value::Object(m)) = val.get_mut("metadata") {
            m.remove("resourceVersion");
        }
        o.body = Bytes::from(serde_json::to_vec(&val).unwrap_or_default());
        return Ok(typed_bytes(info, &o.body));
    }
    let rv = st.store.next_rv();
    let obj = encode(&v, rv, selectable(info));
    let obj = limits::fit_in_storage(obj, &mut v, true, |v| encode(v, rv, selectable(info)))?;
    let body = obj.body.clone();
    st.store.commit(&t.res, EventKind::Added, obj);
    after_commit(shared, st, info, &v, EventKind::Added);
    Ok(typed_bytes(info, &body))
}

/// Kind-specific defaults on create.
fn prepare_kind_on_create(info: &ResourceInfo, v: &mut Value) {
    match (info.api.group.as_ref(), info.api.plural.as_ref()) {
        ("", "namespaces") => {
            v["spec"] = json!({"finalizers": ["kubernetes"]});
            v["status"] = json!({"phase": "Active"});
        }
        ("", "pods") => {
            let mut status = json!({"phase": "Pending"});
            if let Some(qos) = v.pointer("/status/qosClass") {
                status["qosClass"] = qos.clone();
            }
            v["status"] = status;
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => v["status"] = crd_status(v),
        _ if info.has_status() => {
            if let Value::Object(m) = v {
                m.remove("status");
            }
        }
        _ => {}
    }
}

/// The status the apiextensions controllers give a new CRD at once here: names accepted (as
/// requested, with the defaults filled in), established, the storage version stored.
fn crd_status(crd: &Value) -> Value {
    let now = now_rfc3339();
    let names = crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
    let kind = names.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut accepted = names.clone();
    if accepted.get("singular").is_none() {
        accepted["singular"] = Value::String(kind.to_lowercase());
    }
    if accepted.get("listKind").is_none() {
        accepted["listKind"] = Value::String(format!("{kind}List"));
    }
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now,
                "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now,
                "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "acceptedNames": accepted,
        "storedVersions": stored,
    })
}

/// Side effects of committed changes: CRDs serve their resources, namespaces take their
/// contents with them.
fn after_commit(_shared: &Arc<Shared>, st: &mut State, info: &ResourceInfo, v: &Value, kind: EventKind) {
    if info.api.group == "apiextensions.k8s.io" && info.api.plural == "customresourcedefinitions" {
        let group = v.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default().to_string();
        let plural = v.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default().to_string();
        // Remove every version first (spec.versions may have shrunk).
        let old: Vec<ResourceInfo> = st
            .registry
            .iter()
            .filter(|r| r.custom && r.api.group == group && r.api.plural == plural)
            .cloned()
            .collect();
        for r in &old {
            st.registry.remove(&r.api.group, &r.api.version, &r.api.plural);
        }
        if kind == EventKind::Deleted {
            st.store.drop_table(&(group, plural));
            return;
        }
        for info in crd_resources(v) {
            let res = res_key(&info);
            st.store.ensure_table(&res, type_prefix(&info.api.kind, &info.api.api_version));
            st.registry.add(info);
        }
    }
}

/// The resources a CustomResourceDefinition serves.
pub fn crd_resources(crd: &Value) -> Vec<ResourceInfo> {
    let s = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let group = s("/spec/group");
    let plural = s("/spec/names/plural");
    let kind = s("/spec/names/kind");
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let scope = if s("/spec/scope") == "Cluster" { Scope::Cluster } else { Scope::Namespaced };
    let strings = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|v| {
            let name = v.get("name").and_then(Value::as_str)?;
            let api = ApiResource::from_gvk(&GroupVersionKind::new(&group, name, &kind), &plural, scope);
            let mut info = ResourceInfo::new(api);
            info.custom = true;
            let singular = s("/spec/names/singular");
            info.singular = if singular.is_empty() { kind.to_lowercase() } else { singular };
            info.short_names = strings("/spec/names/shortNames");
            info.categories = strings("/spec/names/categories");
            if v.pointer("/subresources/status").is_some() {
                info.subresources.push("status".into());
            }
            if v.pointer("/subresources/scale").is_some() {
                info.subresources.push("scale".into());
            }
            Some(info)
        })
        .collect()
}

fn create(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let v = decode_body(ctx, &t.info)?;
    validation::check(&t.info, &v).map_err(|f| validation::body_error(&t.info, &f))?;
    let mut st = shared.state.lock();
    let body = create_object(shared, &mut st, t, v, &ctx.manager(), "Update", ctx.dry_run())?;
    Ok(json(201, body))
}

fn strip_managed(v: &Value) -> Value {
    let mut c = strip_rv(v);
    if let Some(Value::Object(m)) = c.get_mut("metadata") {
        m.remove("managedFields");
    }
    c
}

fn strip_rv(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(Value::Object(m)) = c.get_mut("metadata") {
        m.remove("resourceVersion");
    }
    c
}

fn without(v: &Value, keys: &[&str]) -> Value {
    let mut c = v.clone();
    if let Value::Object(m) = &mut c {
        for k in keys {
            m.remove(*k);
        }
    }
    c
}

/// Commits `new` as the next state of `cur` (update, patch, status). `tracked` says
/// managedFields were already computed (apply). Returns the code and the response body.
#[allow(clippy::too_many_arguments)]
fn write_update(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    cur: &Arc<Obj>,
    mut new: Value,
    manager: &str,
    tracked: bool,
    dry_run: bool,
) -> ApiResult<(u16, Bytes)> {
    let info = &t.info;
    let old = cur.value();
    let sub = t.sub.clone().unwrap_or_default();
    if let Value::Object(m) = &mut new {
        m.remove("kind");
        m.remove("apiVersion");
    }
    defaults::apply(info, &mut new, Some(&old));
    {
        let old_meta = old.get("metadata").cloned().unwrap_or(Value::Null);
        let m = meta_mut(&mut new);
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(k) {
                Some(x) => m.insert(k.into(), x.clone()),
                None => m.remove(k),
            };
        }
        m.remove("resourceVersion");
        if !tracked {
            match old_meta.get("managedFields") {
                Some(x) => m.insert("managedFields".into(), x.clone()),
                None => m.remove("managedFields"),
            };
        }
    }
    if info.has_status() && sub.is_empty() {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Value::Object(m) = &mut new {
                    m.remove("status");
                }
            }
        }
    }
    // Finalizers cannot be added to an object being deleted.
    let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
    let fin = |v: &Value| -> Vec<String> {
        v.pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    if deleting {
        let old_f = fin(&old);
        let added: Vec<String> = fin(&new).into_iter().filter(|f| !old_f.contains(f)).collect();
        if !added.is_empty() {
            let list = added.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ");
            let detail = format!(
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"
            );
            return Err(ApiError::invalid(
                info,
                &cur.name,
                "metadata.finalizers",
                "FieldValueForbidden",
                &detail,
                false,
            ));
        }
    }
    if without(&old, &["metadata", "status"]) != without(&new, &["metadata", "status"]) {
        let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        meta_mut(&mut new).insert("generation".into(), Value::from(g + 1));
    }
    if strip_managed(&new) == strip_managed(&old) && (!tracked || strip_rv(&new) == strip_rv(&old)) {
        return Ok((200, typed_bytes(info, &cur.body)));
    }
    if !tracked && !manager.is_empty() {
        apply::track_update(Some(&old), &mut new, manager, &api_version_of(info), &now_rfc3339(), &sub);
    }
    // A dry run stores nothing: the answer keeps the stored resourceVersion.
    let rv = if dry_run { cur.rv } else { st.store.next_rv() };
    let obj = encode(&new, rv, selectable(info));
    if dry_run {
        return Ok((200, typed_bytes(info, &obj.body)));
    }
    // Server-side apply keeps its managedFields; every other write may lose them to fit.
    let obj = limits::fit_in_storage(obj, &mut new, !tracked, |v| encode(v, rv, selectable(info)))?;
    if deleting && fin(&new).is_empty() {
        let body = obj.body.clone();
        st.store.commit(&t.res, EventKind::Deleted, obj);
        after_commit(shared, st, info, &new, EventKind::Deleted);
        return Ok((200, typed_bytes(info, &body)));
    }
    let body = obj.body.clone();
    st.store.commit(&t.res, EventKind::Modified, obj);
    after_commit(shared, st, info, &new, EventKind::Modified);
    Ok((200, typed_bytes(info, &body)))
}

fn check_name_ns(t: &Target, v: &Value) -> ApiResult<()> {
    let url_name = t.name.as_deref().unwrap_or_default();
    let name = meta_str(v, "name");
    if !name.is_empty() && name != url_name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url_name})"
        )));
    }
    let ns = meta_str(v, "namespace");
    if let Some(url_ns) = &t.ns {
        if !ns.is_empty() && &ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    Ok(())
}

fn update(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let v = decode_body(ctx, &t.info)?;
    validation::check(&t.info, &v).map_err(|f| validation::body_error(&t.info, &f))?;
    check_name_ns(t, &v)?;
    let name = t.name.clone().unwrap_or_default();
    let mut st = shared.state.lock();
    let cur = st
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    let rv = meta_str(&v, "resourceVersion");
    if rv.is_empty() {
        if t.info.custom {
            return Err(ApiError::invalid(
                &t.info,
                &name,
                "metadata.resourceVersion",
                "FieldValueInvalid",
                "Invalid value: 0x0: must be specified for an update",
                true,
            ));
        }
    } else if rv != cur.rv.to_string() {
        return Err(ApiError::conflict(&t.info, &name));
    }
    let new = if t.sub.as_deref() == Some("status") {
        let mut n = cur.value();
        match v.get("status") {
            Some(s) => n["status"] = s.clone(),
            None => {
                if let Value::Object(m) = &mut n {
                    m.remove("status");
                }
            }
        }
        n
    } else {
        v
    };
    let (code, body) = write_update(shared, &mut st, t, &cur, new, &ctx.manager(), false, ctx.dry_run())?;
    Ok(json(code, body))
}

fn patch(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let info = &t.info;
    let ct = ctx.header("content-type").split(';').next().unwrap_or("").trim().to_string();
    let is_apply = ct == "application/apply-patch+yaml";
    if !matches!(
        ct.as_str(),
        "application/json-patch+json" | "application/merge-patch+json" | "application/strategic-merge-patch+json"
    ) && !is_apply
    {
        return Err(ApiError::unsupported_patch(""));
    }
    if ct == "application/strategic-merge-patch+json" && info.custom {
        return Err(ApiError::unsupported_patch(
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ));
    }
    if ctx.flag("force") && !is_apply {
        return Err(ApiError::invalid_options(
            "PatchOptions",
            vec![(
                "FieldValueForbidden".into(),
                "force".into(),
                "Forbidden: may not be specified for non-apply patch".into(),
            )],
        ));
    }
    let patch: Value = if is_apply {
        serde_json::from_slice(&ctx.body)
            .or_else(|_| serde_yaml_ng::from_slice(&ctx.body))
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(&ctx.body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };
    let name = t.name.clone().unwrap_or_default();
    let manager = ctx.q("fieldManager").unwrap_or_default().to_string();
    if is_apply {
        if manager.is_empty() {
            return Err(ApiError::invalid_options(
                "PatchOptions",
                vec![(
                    "FieldValueRequired".into(),
                    "fieldManager".into(),
                    "Required value: is required for apply patch".into(),
                )],
            ));
        }
        let av = patch.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = patch.get("kind").and_then(Value::as_str).unwrap_or_default();
        if av != info.api.api_version || kind != info.api.kind {
            return Err(ApiError::bad_request(format!(
                "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {}",
                info.api.api_version
            )));
        }
        check_name_ns(t, &patch)?;
        // The applied configuration must fit the schema before anything is merged.
        validation::check(info, &patch)
            .map_err(|f| validation::apply_error(info, t.ns.as_deref().unwrap_or_default(), &name, &f))?;
    }
    let mut st = shared.state.lock();
    let ns = t.ns.clone().unwrap_or_default();
    let Some(cur) = st.store.get(&t.res, &ns, &name) else {
        if is_apply && t.sub.is_none() {
            let mut v = patch;
            meta_mut(&mut v).insert("name".into(), Value::String(name.clone()));
            let body = create_object(shared, &mut st, t, v, &manager, "Apply", ctx.dry_run())?;
            return Ok(json(201, body));
        }
        return Err(ApiError::not_found(info, &name));
    };
    let mut doc = cur.value();
    if let Value::Object(m) = &mut doc {
        m.insert("kind".into(), Value::String(info.api.kind.to_string()));
        m.insert("apiVersion".into(), Value::String(info.api.api_version.to_string()));
    }
    let manager_or_ua = if manager.is_empty() { ctx.manager() } else { manager.clone() };
    let mut tracked = false;
    let mut new = match ct.as_str() {
        "application/json-patch+json" => limits::json_patch(&doc, &patch)?,
        "application/merge-patch+json" => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: json: cannot unmarshal into Go value of type map[string]interface {}",
                ));
            }
            let mut d = doc.clone();
            strategic::merge_patch(&mut d, &patch);
            d
        }
        "application/strategic-merge-patch+json" => {
            let mut d = doc.clone();
            strategic::strategic_merge(&mut d, &patch).map_err(|e| ApiError::bad_request(e.to_string()))?;
            d
        }
        _ => {
            tracked = true;
            apply::apply(&doc, &patch, &manager, &api_version_of(info), &now_rfc3339(), ctx.flag("force")).map_err(
                |c| {
                    ApiError::from(
                        Status::failure(409, ReasonKind::Conflict, apply::conflict_message(&c)).with_details(
                            StatusDetails {
                                causes: c
                                    .iter()
                                    .map(|c| StatusCause {
                                        reason: "FieldManagerConflict".into(),
                                        message: format!("conflict with {:?}", c.manager),
                                        field: c.field.clone(),
                                    })
                                    .collect(),
                                ..Default::default()
                            },
                        ),
                    )
                },
            )?
        }
    };
    let prv = meta_str(&new, "resourceVersion");
    if !prv.is_empty() && prv != cur.rv.to_string() {
        return Err(ApiError::conflict(info, &name));
    }
    if !new.is_object() {
        return Err(ApiError::bad_request("the patch did not produce an object"));
    }
    if let Err(f) = validation::check(info, &new) {
        return Err(match ct.as_str() {
            "application/strategic-merge-patch+json" => {
                validation::patch_error(validation::PatchKind::Strategic, &new, &patch, &f)
            }
            "application/apply-patch+yaml" => validation::apply_error(info, &ns, &name, &f),
            _ => validation::patch_error(validation::PatchKind::Json, &new, &patch, &f),
        });
    }
    if t.sub.as_deref() == Some("status") {
        let mut n = cur.value();
        match new.get("status") {
            Some(s) => n["status"] = s.clone(),
            None => {
                if let Value::Object(m) = &mut n {
                    m.remove("status");
                }
            }
        }
        if tracked {
            if let Some(mf) = new.pointer("/metadata/managedFields") {
                meta_mut(&mut n).insert("managedFields".into(), mf.clone());
            }
        }
        new = n;
    }
    let (code, body) = write_update(shared, &mut st, t, &cur, new, &manager_or_ua, tracked, ctx.dry_run())?;
    Ok(json(code, body))
}

// ---------------------------------------------------------------------------------------------
// Delete

#[derive(Debug, Default, Clone)]
struct DeleteOpts {
    policy: Option<String>,
    grace: Option<i64>,
    orphan: Option<bool>,
    uid: Option<String>,
    rv: Option<String>,
    dry_run: bool,
}

fn delete_opts(ctx: &Ctx) -> ApiResult<DeleteOpts> {
    let mut o = DeleteOpts::default();
    if !ctx.body.is_empty() {
        if let Ok(v) = serde_json::from_slice::<Value>(&ctx.body) {
            o.policy = v.get("propagationPolicy").and_then(Value::as_str).map(String::from);
            o.grace = v.get("gracePeriodSeconds").and_then(Value::as_i64);
            o.orphan = v.get("orphanDependents").and_then(Value::as_bool);
            o.uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from);
            o.rv = v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from);
            o.dry_run = v.get("dryRun").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        }
    }
    if let Some(p) = ctx.q("propagationPolicy") {
        o.policy = Some(p.to_string());
    }
    if let Some(g) = ctx.q("gracePeriodSeconds").and_then(|g| g.parse().ok()) {
        o.grace = Some(g);
    }
    if let Some(b) = ctx.q("orphanDependents") {
        o.orphan = Some(b == "true");
    }
    if let Some(u) = ctx.q("preconditions.uid") {
        o.uid = Some(u.to_string());
    }
    if let Some(r) = ctx.q("preconditions.resourceVersion") {
        o.rv = Some(r.to_string());
    }
    o.dry_run |= ctx.dry_run();
    if let Some(p) = &o.policy {
        if !matches!(p.as_str(), "Foreground" | "Background" | "Orphan") {
            let msg = format!(
                "Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            );
            return Err(ApiError::invalid_options(
                "DeleteOptions",
                vec![("FieldValueNotSupported".into(), "propagationPolicy".into(), msg)],
            ));
        }
    }
    Ok(o)
}

/// Deletes one object; returns the HTTP code and body (the object, or a Success Status).
fn delete_object(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    ns: &str,
    name: &str,
    o: &DeleteOpts,
) -> ApiResult<(u16, Bytes, Option<Arc<Obj>>)> {
    let info = &t.info;
    let cur = st.store.get(&t.res, ns, name).ok_or_else(|| ApiError::not_found(info, name))?;
    if let Some(uid) = &o.uid {
        if *uid != cur.uid {
            return Err(ApiError::precondition(
                info,
                name,
                &format!(
                    "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                    cur.uid
                ),
            ));
        }
    }
    if let Some(rv) = &o.rv {
        if *rv != cur.rv.to_string() {
            return Err(ApiError::precondition(
                info,
                name,
                &format!(
                    "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                    cur.rv
                ),
            ));
        }
    }
    let mut v = cur.value();
    if v.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok((200, typed_bytes(info, &cur.body), None));
    }
    let mut fins: Vec<String> = v
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let extra = match (o.policy.as_deref(), o.orphan) {
        (Some("Foreground"), _) => Some("foregroundDeletion"),
        (Some("Orphan"), _) | (None, Some(true)) => Some("orphan"),
        _ => None,
    };
    if let Some(f) = extra {
        if !fins.iter().any(|x| x == f) {
            fins.push(f.to_string());
        }
    }
    let now = now_rfc3339();
    let is_pod = info.api.group.is_empty() && info.api.plural == "pods";
    if !fins.is_empty() {
        {
            let m = meta_mut(&mut v);
            m.insert("finalizers".into(), json!(fins));
            m.insert("deletionTimestamp".into(), Value::String(now));
            m.insert("deletionGracePeriodSeconds".into(), Value::from(0));
        }
        let rv = st.store.next_rv();
        let obj = encode(&v, rv, selectable(info));
        let body = typed_bytes(info, &obj.body);
        if !o.dry_run {
            st.store.commit(&t.res, EventKind::Modified, obj);
            if extra.is_some() {
                schedule_gc(shared, t.clone(), ns.to_string(), name.to_string());
            }
        }
        let code = if o.orphan == Some(false) { 202 } else { 200 };
        return Ok((code, body, None));
    }
    let mut last = cur.clone();
    if o.dry_run {
        return Ok((200, delete_result(info, &cur, is_pod), None));
    }
    if is_pod {
        let grace = o
            .grace
            .unwrap_or_else(|| v.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30));
        let scheduled = v.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        if grace > 0 && scheduled {
            let m = meta_mut(&mut v);
            m.insert("deletionTimestamp".into(), Value::String(now));
            m.insert("deletionGracePeriodSeconds".into(), Value::from(grace));
            let rv = st.store.next_rv();
            let obj = encode(&v, rv, selectable(info));
            let ev = st.store.commit(&t.res, EventKind::Modified, obj);
            last = ev.obj.clone();
        }
    }
    let rv = st.store.next_rv();
    let ev = st.store.commit(&t.res, EventKind::Deleted, last.with_rv(rv));
    after_commit(shared, st, info, &v, EventKind::Deleted);
    if info.api.group.is_empty() && info.api.plural == "namespaces" {
        delete_namespace_contents(st, name);
    }
    Ok((200, delete_result(info, &ev.obj, is_pod), Some(ev.obj.clone())))
}

fn delete_result(info: &ResourceInfo, obj: &Obj, return_object: bool) -> Bytes {
    if return_object || (info.api.group.is_empty() && info.api.plural == "namespaces") {
        return typed_bytes(info, &obj.body);
    }
    let d = StatusDetails {
        name: obj.name.clone(),
        group: info.api.group.to_string(),
        kind: info.api.plural.to_string(),
        uid: obj.uid.clone(),
        ..Default::default()
    };
    let mut b =
        b"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"details\":".to_vec();
    b.extend_from_slice(&serde_json::to_vec(&d).unwrap_or_default());
    b.extend_from_slice(b"}\n");
    Bytes::from(b)
}

fn delete_namespace_contents(st: &mut State, ns: &str) {
    let tables: Vec<ResKey> = st.store.tables.keys().cloned().collect();
    for res in tables {
        let objs: Vec<Arc<Obj>> = st
            .store
            .tables
            .get(&res)
            .map(|t| {
                t.objects
                    .range((ns.to_string(), String::new())..)
                    .take_while(|(k, _)| k.0 == ns)
                    .map(|(_, o)| o.clone())
                    .collect()
            })
            .unwrap_or_default();
        for o in objs {
            let rv = st.store.next_rv();
            st.store.commit(&res, EventKind::Deleted, o.with_rv(rv));
        }
    }
}

/// Emulates the garbage collector for objects without dependents: the `foregroundDeletion` and
/// `orphan` finalizers are removed shortly after they were added.
fn schedule_gc(shared: &Arc<Shared>, t: Target, ns: String, name: String) {
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut st = shared.state.lock();
        let Some(cur) = st.store.get(&t.res, &ns, &name) else { return };
        let mut v = cur.value();
        if let Some(Value::Array(f)) = v.pointer_mut("/metadata/finalizers") {
            f.retain(|x| !matches!(x.as_str(), Some("foregroundDeletion" | "orphan")));
        }
        let _ = write_update(&shared, &mut st, &t, &cur, v, "", true, false);
    });
}

fn delete(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let o = delete_opts(ctx)?;
    let mut st = shared.state.lock();
    let (code, body, _) = delete_object(
        shared,
        &mut st,
        t,
        t.ns.as_deref().unwrap_or_default(),
        t.name.as_deref().unwrap_or_default(),
        &o,
    )?;
    Ok(json(code, body))
}

fn delete_collection(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let o = delete_opts(ctx)?;
    let filter = Filter::parse(ctx, t)?;
    let mut st = shared.state.lock();
    let rv = st.store.rv;
    let objs = st.store.snapshot(&t.res, t.ns.as_deref(), rv, None).unwrap_or_default();
    let mut deleted = Vec::new();
    for obj in objs.into_iter().filter(|x| filter.matches(x)) {
        if let Ok((_, _, gone)) = delete_object(shared, &mut st, t, &obj.ns, &obj.name, &o) {
            deleted.push(gone.unwrap_or(obj));
        }
    }
    let rv = st.store.rv;
    drop(st);
    Ok(list_response(&t.info, ctx.wants_partial(), json!({"resourceVersion": rv.to_string()}), deleted))
}

// ---------------------------------------------------------------------------------------------
// Subresources

fn scale_of(info: &ResourceInfo, v: &Value) -> Value {
    let selector = match v.pointer("/spec/selector") {
        Some(Value::Object(m)) if m.contains_key("matchLabels") || m.contains_key("matchExpressions") => m
            .get("matchLabels")
            .and_then(Value::as_object)
            .map(|l| {
                l.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")
            })
            .unwrap_or_default(),
        Some(Value::Object(m)) => {
            m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")
        }
        _ => String::new(),
    };
    let meta = v.get("metadata").cloned().unwrap_or(json!({}));
    let mut m = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": v.pointer("/spec/replicas").cloned().unwrap_or(Value::from(if info.custom { 0 } else { 1 }))},
        "status": {"replicas": v.pointer("/status/replicas").cloned().unwrap_or(Value::from(0))},
    });
    if !selector.is_empty() {
        m["status"]["selector"] = Value::String(selector);
    }
    if let Some(Value::Object(md)) = m.get_mut("metadata") {
        md.retain(|_, v| !v.is_null());
    }
    m
}

fn get_scale(shared: &Arc<Shared>, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let obj = shared
        .state
        .lock()
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    Ok(json_value(200, &scale_of(&t.info, &obj.value())))
}

fn write_scale(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let mut st = shared.state.lock();
    let cur = st
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    let mut v = cur.value();
    let scale = scale_of(&t.info, &v);
    let new_scale: Value = if ctx.method == Method::PUT {
        serde_json::from_slice(&ctx.body).map_err(|e| {
            ApiError::bad_request(format!("the object provided is unrecognized (must be of type Scale): {e}"))
        })?
    } else {
        let patch: Value = serde_json::from_slice(&ctx.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        let mut s = scale.clone();
        match ctx.header("content-type").split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => s = limits::json_patch(&s, &patch)?,
            "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | "application/apply-patch+yaml" => strategic::merge_patch(&mut s, &patch),
            _ => return Err(ApiError::unsupported_patch("")),
        }
        s
    };
    let srv = new_scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default();
    if !srv.is_empty() && srv != cur.rv.to_string() {
        return Err(ApiError::conflict(&t.info, &name));
    }
    let replicas = new_scale.pointer("/spec/replicas").cloned().unwrap_or(Value::from(0));
    if !v.get("spec").is_some_and(Value::is_object) {
        v["spec"] = json!({});
    }
    v["spec"]["replicas"] = replicas;
    let main = Target { sub: None, ..t.clone() };
    write_update(shared, &mut st, &main, &cur, v, &ctx.manager(), false, ctx.dry_run())?;
    let after = st.store.get(&t.res, t.ns.as_deref().unwrap_or_default(), &name).unwrap_or(cur);
    Ok(json_value(200, &scale_of(&t.info, &after.value())))
}

fn success_201() -> Resp {
    json(201, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"code\":201}\n")
}

fn binding(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let b: Value = serde_json::from_slice(&ctx.body).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type Binding): couldn't get version/kind; json parse error: {e}"
        ))
    })?;
    let node = b.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let name = t.name.clone().unwrap_or_default();
    let mut st = shared.state.lock();
    let cur = st
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    let mut v = cur.value();
    let bound = v.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().to_string();
    if !bound.is_empty() {
        return Err(Status::failure(
            409,
            ReasonKind::Conflict,
            format!("Operation cannot be fulfilled on pods/binding {name:?}: pod {name} is already assigned to node {bound:?}"),
        )
        .with_details(StatusDetails { name: name.clone(), kind: "pods/binding".into(), ..Default::default() })
        .into());
    }
    if v.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::conflict_msg(&t.info, &name, "pod is being deleted, cannot be assigned to a host"));
    }
    if !v.get("spec").is_some_and(Value::is_object) {
        v["spec"] = json!({});
    }
    v["spec"]["nodeName"] = Value::String(node);
    let main = Target { sub: None, ..t.clone() };
    write_update(shared, &mut st, &main, &cur, v, &ctx.manager(), false, ctx.dry_run())?;
    Ok(success_201())
}

fn eviction(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let mut st = shared.state.lock();
    let o = DeleteOpts { dry_run: ctx.dry_run(), grace: Some(0), ..Default::default() };
    let main = Target { sub: None, ..t.clone() };
    delete_object(shared, &mut st, &main, t.ns.as_deref().unwrap_or_default(), &name, &o)?;
    Ok(success_201())
}

fn logs(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let obj = shared
        .state
        .lock()
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    let v = obj.value();
    let container = ctx
        .q("container")
        .map(String::from)
        .or_else(|| v.pointer("/spec/containers/0/name").and_then(Value::as_str).map(String::from))
        .unwrap_or_default();
    let timestamps = ctx.flag("timestamps");
    let line = move |i: usize| -> String {
        let msg = format!("log line {i} from {name}/{container}\n");
        if timestamps {
            format!("{} {msg}", jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        } else {
            msg
        }
    };
    const CANNED: usize = 10;
    let tail = ctx.q("tailLines").and_then(|n| n.parse::<usize>().ok()).unwrap_or(CANNED).min(CANNED);
    let first: String = (CANNED - tail..CANNED).map(&line).collect();
    if !ctx.flag("follow") {
        return Ok(response(200, "text/plain", Body::Full(Some(Bytes::from(first)))));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let interval = shared.opts.log_interval;
    // drop_watches() and restart() end followed logs as they end watches.
    let mut epoch = shared.watch_epoch.subscribe();
    epoch.borrow_and_update();
    tokio::spawn(async move {
        if tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        let mut i = CANNED;
        loop {
            tokio::select! {
                _ = epoch.changed() => return,
                _ = tx.closed() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            if tx.send(Bytes::from(line(i))).await.is_err() {
                return;
            }
            i += 1;
        }
    });
    Ok(response(200, "text/plain", Body::Chan(rx)))
}
