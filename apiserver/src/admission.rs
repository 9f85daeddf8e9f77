//! Dynamic admission: the embedded server calls the webhooks its
//! `MutatingWebhookConfiguration`s and `ValidatingWebhookConfiguration`s register
//! (`admissionregistration.k8s.io/v1`), as kube-apiserver's `MutatingAdmissionWebhook` and
//! `ValidatingAdmissionWebhook` plugins do, so webhooks are testable end to end without a
//! cluster.
//!
//! Contract of `admit`:
//! - A webhook is called when one of its `rules` matches the write (operations, apiGroups,
//!   apiVersions, resources with `*`, `*/*`, `res/*`, `*/sub` forms, scope), its
//!   `namespaceSelector` matches the namespace's labels (a Namespace's own labels; always for
//!   other cluster-scoped resources) and its `objectSelector` the new or the old object's labels.
//!   `matchPolicy` is taken as `Equivalent` with no other versions to convert to; `matchConditions`
//!   (CEL) are not evaluated (every webhook with them is called).
//! - Mutating webhooks run first, configurations in name order and webhooks in their order, each
//!   seeing the previous one's result; a `JSONPatch` response is applied to the object. Then the
//!   validating webhooks run on the final object, in the same order. No reinvocation.
//! - A denial is the real error: `admission webhook "<name>" denied the request: <message>`
//!   (or `... without explanation`), with the webhook's code, 400 when it gave none below 400.
//! - A webhook that cannot be called (connection refused, TLS failure, no answer within
//!   `timeoutSeconds`, default 10, at most 30; a response that is not an AdmissionReview for this
//!   uid) fails the write with 500 `Internal error occurred: failed calling webhook "<name>": ...`
//!   when `failurePolicy` is `Fail` (the default), and is skipped when it is `Ignore`.
//! - Only `clientConfig.url` (https) is called; a `service` reference cannot be resolved by the
//!   embedded server and counts as a call failure. `caBundle` is the only trust root (the
//!   platform's roots when it is empty). Responses are read up to [`MAX_RESPONSE`] bytes.
//! - Dry runs call only webhooks with `sideEffects` `None` or `NoneOnDryRun`; any other fails the
//!   write with 400, as upstream.
//!
//! Webhooks are called with no store lock held: `before_write` reads the current object,
//! computes what the write proposes (a PATCH applied to it), runs the webhooks, and hands the
//! handler the webhooks' object; a mutated PATCH becomes a PUT at the resourceVersion the
//! webhooks saw, so a concurrent write in between is a 409 Conflict rather than a lost change.
//! Server-side apply patches are not sent to webhooks (their result is only known under the
//! lock).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};

use rudder_apimachinery::admission::{AdmissionResponse, AdmissionReview, Operation};
use rudder_apimachinery::labels::Selector;
use rudder_apimachinery::status::{ReasonKind, Status};

use crate::authz::UserInfo;
use crate::errors::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::server::{Ctx, Shared, Target};

/// Largest webhook response read.
pub const MAX_RESPONSE: usize = 4 << 20;
const DEFAULT_TIMEOUT: u64 = 10;
const MAX_TIMEOUT: u64 = 30;

/// The write being admitted.
#[derive(Debug, Clone)]
pub(crate) struct Attributes<'a> {
    pub operation: Operation,
    pub info: &'a ResourceInfo,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub user: &'a UserInfo,
    pub dry_run: bool,
    /// `CreateOptions`, `UpdateOptions` or `DeleteOptions` as sent.
    pub options: Value,
}

/// One registered webhook.
#[derive(Debug, Clone)]
struct Webhook {
    name: String,
    rules: Vec<Value>,
    fail_closed: bool,
    namespace_selector: Option<Value>,
    object_selector: Option<Value>,
    timeout: Duration,
    url: Option<String>,
    ca_bundle: Option<Vec<u8>>,
    side_effects_safe_on_dry_run: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn webhooks_of(config: &Value) -> Vec<Webhook> {
    let Some(hooks) = config.get("webhooks").and_then(Value::as_array) else { return Vec::new() };
    hooks
        .iter()
        .map(|h| {
            let cc = h.get("clientConfig");
            let ca_bundle = cc
                .and_then(|c| c.get("caBundle"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
            let timeout =
                h.get("timeoutSeconds").and_then(Value::as_u64).unwrap_or(DEFAULT_TIMEOUT).clamp(1, MAX_TIMEOUT);
            Webhook {
                name: h.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                rules: h.get("rules").and_then(Value::as_array).cloned().unwrap_or_default(),
                fail_closed: h.get("failurePolicy").and_then(Value::as_str) != Some("Ignore"),
                namespace_selector: h.get("namespaceSelector").cloned(),
                object_selector: h.get("objectSelector").cloned(),
                timeout: Duration::from_secs(timeout),
                url: cc.and_then(|c| c.get("url")).and_then(Value::as_str).map(str::to_owned),
                ca_bundle,
                side_effects_safe_on_dry_run: matches!(
                    h.get("sideEffects").and_then(Value::as_str),
                    Some("None" | "NoneOnDryRun")
                ),
            }
        })
        .collect()
}

fn list_matches(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

/// Whether a `resources` entry (`pods`, `pods/status`, `*`, `*/*`, `pods/*`, `*/status`)
/// matches a resource and subresource.
fn resource_matches(entry: &str, resource: &str, sub: Option<&str>) -> bool {
    let (r, s) = entry.split_once('/').map_or((entry, None), |(r, s)| (r, Some(s)));
    let resource_ok = r == "*" || r == resource;
    match (s, sub) {
        (None, None) => resource_ok,
        (None, Some(_)) => false,
        (Some(s), Some(sub)) => resource_ok && (s == "*" || s == sub),
        (Some(_), None) => false,
    }
}

fn rule_matches(rule: &Value, a: &Attributes<'_>) -> bool {
    let ops = strings(rule.get("operations"));
    let groups = strings(rule.get("apiGroups"));
    let versions = strings(rule.get("apiVersions"));
    let resources = strings(rule.get("resources"));
    let scope = rule.get("scope").and_then(Value::as_str).unwrap_or("*");
    let namespaced = a.namespace.is_some();
    let scope_ok = match scope {
        "Cluster" => !namespaced,
        "Namespaced" => namespaced,
        _ => true,
    };
    scope_ok
        && list_matches(&ops, a.operation.as_str())
        && list_matches(&groups, &a.info.api.group)
        && list_matches(&versions, &a.info.api.version)
        && resources.iter().any(|r| resource_matches(r, &a.info.api.plural, a.subresource))
}

fn selector_matches(selector: Option<&Value>, labels: &std::collections::BTreeMap<String, String>) -> bool {
    // An absent selector matches everything, as an empty one does.
    let Some(sel) = selector else { return true };
    let Ok(parsed) =
        serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>(sel.clone())
    else {
        return false;
    };
    Selector::from_label_selector(Some(&parsed)).is_ok_and(|s| s.matches(labels))
}

fn labels_of(v: Option<&Value>) -> std::collections::BTreeMap<String, String> {
    v.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned()))).collect())
        .unwrap_or_default()
}

/// The registered webhooks of one kind of configuration, configurations in name order.
fn registered(shared: &Arc<Shared>, plural: &str) -> Vec<Webhook> {
    let st = shared.state.lock();
    let res = ("admissionregistration.k8s.io".to_owned(), plural.to_owned());
    let Some(table) = st.store.tables.get(&res) else { return Vec::new() };
    // Table order is key order: `/<name>` for these cluster-scoped kinds.
    table.objects.values().flat_map(|o| webhooks_of(&o.value())).collect()
}

fn namespace_labels(shared: &Arc<Shared>, ns: &str) -> std::collections::BTreeMap<String, String> {
    let st = shared.state.lock();
    let v = st.store.get(&(String::new(), "namespaces".into()), "", ns).map(|o| o.value());
    labels_of(v.as_ref())
}

/// Runs the mutating then the validating webhooks on `object` (see the module docs); returns
/// the webhooks' warnings.
pub(crate) async fn admit(
    shared: &Arc<Shared>,
    a: &Attributes<'_>,
    object: &mut Value,
    old: Option<&Value>,
) -> ApiResult<Vec<String>> {
    let mutating = registered(shared, "mutatingwebhookconfigurations");
    let validating = registered(shared, "validatingwebhookconfigurations");
    if mutating.is_empty() && validating.is_empty() {
        return Ok(Vec::new());
    }
    let ns_labels = match a.namespace {
        Some(ns) => namespace_labels(shared, ns),
        None if crate::namespaces::is_namespaces(a.info) => labels_of(Some(object)),
        None => Default::default(),
    };
    let cluster_scoped_other = a.namespace.is_none() && !crate::namespaces::is_namespaces(a.info);
    let applies = |h: &Webhook, object: &Value| {
        h.rules.iter().any(|r| rule_matches(r, a))
            && (cluster_scoped_other || selector_matches(h.namespace_selector.as_ref(), &ns_labels))
            && (selector_matches(h.object_selector.as_ref(), &labels_of(Some(object)))
                || old.is_some_and(|o| selector_matches(h.object_selector.as_ref(), &labels_of(Some(o)))))
    };
    let mut warnings = Vec::new();
    for hook in mutating.iter() {
        if !applies(hook, object) {
            continue;
        }
        let Some(response) = call_checked(hook, a, object, old).await? else { continue };
        warnings.extend(response.warnings.iter().cloned());
        if !response.allowed {
            return Err(denied(&hook.name, response.result));
        }
        if let Some(ops) = response.patch_operations() {
            let ops = ops.map_err(|e| call_failed(&hook.name, &format!("the JSONPatch does not decode: {e}")))?;
            if response.patch_type.as_deref() != Some("JSONPatch") {
                return Err(call_failed(&hook.name, "a patch was sent without patchType JSONPatch"));
            }
            rudder_apimachinery::patch::json_patch::apply(object, &ops)
                .map_err(|e| call_failed(&hook.name, &format!("applying its JSONPatch: {e}")))?;
        }
    }
    for hook in validating.iter() {
        if !applies(hook, object) {
            continue;
        }
        let Some(response) = call_checked(hook, a, object, old).await? else { continue };
        warnings.extend(response.warnings.iter().cloned());
        if !response.allowed {
            return Err(denied(&hook.name, response.result));
        }
    }
    Ok(warnings)
}

/// Calls one webhook; `Ok(None)` when a failure is ignored by its policy.
async fn call_checked(
    hook: &Webhook,
    a: &Attributes<'_>,
    object: &Value,
    old: Option<&Value>,
) -> ApiResult<Option<AdmissionResponse>> {
    if a.dry_run && !hook.side_effects_safe_on_dry_run {
        let message = format!("admission webhook {:?} does not support dry run", hook.name);
        return Err(Status::failure(400, ReasonKind::BadRequest, message).into());
    }
    match call(hook, a, object, old).await {
        Ok(r) => Ok(Some(r)),
        Err(reason) if hook.fail_closed => Err(call_failed(&hook.name, &reason)),
        Err(reason) => {
            tracing::debug!(webhook = %hook.name, %reason, "failing open (failurePolicy Ignore)");
            Ok(None)
        }
    }
}

fn call_failed(name: &str, reason: &str) -> ApiError {
    ApiError::internal(format!("failed calling webhook {name:?}: {reason}"))
}

/// The real server's error for a denial (apiserver's `webhookerrors.ToStatusErr`).
fn denied(name: &str, result: Option<Status>) -> ApiError {
    let denied_by = format!("admission webhook {name:?} denied the request");
    let mut status = result.unwrap_or_default();
    if status.code < 400 {
        status.code = 400;
    }
    status.status = "Failure".into();
    (status.kind, status.api_version) = ("Status".into(), "v1".into());
    status.message = if !status.message.is_empty() {
        format!("{denied_by}: {}", status.message)
    } else if !status.reason.is_empty() {
        format!("{denied_by}: {}", status.reason)
    } else {
        format!("{denied_by} without explanation")
    };
    status.into()
}

fn typed(v: &Value, info: &ResourceInfo) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.entry("apiVersion").or_insert_with(|| Value::String(info.api.api_version.to_string()));
        m.entry("kind").or_insert_with(|| Value::String(info.api.kind.to_string()));
    }
    v
}

async fn call(
    hook: &Webhook,
    a: &Attributes<'_>,
    object: &Value,
    old: Option<&Value>,
) -> Result<AdmissionResponse, String> {
    let url = hook.url.as_deref().ok_or("the embedded server calls only clientConfig.url webhooks")?;
    let uri: http::Uri = url.parse().map_err(|e| format!("bad url {url:?}: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("failed to call webhook: url {url:?} is not https"));
    }
    let host = uri.host().ok_or_else(|| format!("url {url:?} has no host"))?.to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let uid = crate::server::new_uid();
    let gvk = json!({"group": a.info.api.group, "version": a.info.api.version, "kind": a.info.api.kind});
    let gvr = json!({"group": a.info.api.group, "version": a.info.api.version, "resource": a.info.api.plural});
    let (new_obj, old_obj) = match a.operation {
        Operation::Delete => (Value::Null, old.map(|o| typed(o, a.info)).unwrap_or(Value::Null)),
        _ => (typed(object, a.info), old.map(|o| typed(o, a.info)).unwrap_or(Value::Null)),
    };
    let mut request = json!({
        "uid": uid,
        "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
        "name": a.name,
        "operation": a.operation.as_str(),
        "userInfo": {"username": a.user.name, "groups": a.user.groups},
        "object": new_obj, "oldObject": old_obj,
        "dryRun": a.dry_run,
        "options": a.options,
    });
    if let Some(ns) = a.namespace {
        request["namespace"] = json!(ns);
    }
    if let Some(sub) = a.subresource {
        request["subResource"] = json!(sub);
        request["requestSubResource"] = json!(sub);
    }
    let body = serde_json::to_vec(
        &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}),
    )
    .map_err(|e| e.to_string())?;

    let exchange = async {
        let config = client_config(hook.ca_bundle.as_deref())?;
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("failed to call webhook: Post {url:?}: {e}"))?;
        let server_name = ServerName::try_from(host.clone()).map_err(|e| format!("bad host {host:?}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("failed to call webhook: Post {url:?}: tls: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("failed to call webhook: Post {url:?}: {e}"))?;
        tokio::spawn(conn);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let req = http::Request::post(path)
            .header(http::header::HOST, uri.authority().map_or(host.clone(), |a| a.to_string()))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| format!("failed to call webhook: Post {url:?}: {e}"))?;
        let code = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| format!("reading the webhook's response: {e}"))?
            .to_bytes();
        if !code.is_success() {
            return Err(format!(
                "received invalid webhook response: the server responded with status {}",
                code.as_u16()
            ));
        }
        Ok(bytes)
    };
    let bytes = tokio::time::timeout(hook.timeout, exchange)
        .await
        .map_err(|_| format!("failed to call webhook: Post {url:?}: context deadline exceeded"))??;
    let review: AdmissionReview<Value> =
        serde_json::from_slice(&bytes).map_err(|e| format!("received invalid webhook response: {e}"))?;
    let response = review.response.ok_or("received invalid webhook response: the response is missing")?;
    if response.uid != uid {
        return Err(format!("expected response.uid={uid:?}, got {:?}", response.uid));
    }
    Ok(response)
}

fn client_config(ca_bundle: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_bundle {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("caBundle: {e}"))?;
                roots.add(cert).map_err(|e| format!("caBundle: {e}"))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What admission did to a request before its handler runs.
#[derive(Debug, Default)]
pub(crate) struct Admitted {
    /// The request to run instead (a mutated body), if any webhook changed the object.
    pub ctx: Option<Ctx>,
    /// Run it as an update (a mutated PATCH becomes a PUT of the mutated object at the
    /// resourceVersion the webhooks saw).
    pub as_update: bool,
    /// The webhooks' warnings.
    pub warnings: Vec<String>,
}

/// Runs the webhooks for a write before its handler (see the module docs): creates, updates
/// and patches (not server-side apply) of objects and their `status`, and deletes. `Ok` with
/// nothing to do when no webhook is registered.
pub(crate) async fn before_write(shared: &Arc<Shared>, ctx: &Ctx, t: &Target, verb: &str) -> ApiResult<Admitted> {
    let apply = ctx.header("content-type").starts_with("application/apply-patch");
    let operation = match (verb, t.sub.as_deref()) {
        ("create", None) => Operation::Create,
        ("update", None | Some("status")) => Operation::Update,
        ("patch", None | Some("status")) if !apply => Operation::Update,
        ("delete", None) => Operation::Delete,
        _ => return Ok(Admitted::default()),
    };
    if registered(shared, "mutatingwebhookconfigurations").is_empty()
        && registered(shared, "validatingwebhookconfigurations").is_empty()
    {
        return Ok(Admitted::default());
    }
    let cur = match operation {
        Operation::Create => None,
        _ => {
            let name = t.name.clone().unwrap_or_default();
            let st = shared.state.lock();
            let cur = st.store.get(&t.res, t.ns.as_deref().unwrap_or_default(), &name);
            // A missing object: the handler gives the real 404.
            let Some(cur) = cur else { return Ok(Admitted::default()) };
            Some(cur)
        }
    };
    let mut object = match (&operation, &cur) {
        (Operation::Create, _) => {
            let mut v = crate::handlers::decode_body(ctx, &t.info)?;
            crate::defaults::apply(&t.info, &mut v, None);
            v
        }
        (Operation::Delete, Some(cur)) => cur.value(),
        (_, Some(cur)) => crate::handlers::proposed(ctx, &t.info, &cur.value())?,
        (_, None) => return Ok(Admitted::default()),
    };
    // Built-in mutating admission runs before the webhooks, so they see its result.
    if operation != Operation::Delete && t.sub.is_none() {
        crate::default_tolerations::admit(&t.info, &mut object, shared.opts.default_toleration_seconds);
    }
    let before = object.clone();
    let old = cur.as_ref().map(|c| c.value());
    let name = match &t.name {
        Some(n) => n.clone(),
        None => object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned(),
    };
    let options_kind = match operation {
        Operation::Create => "CreateOptions",
        Operation::Delete => "DeleteOptions",
        _ => "UpdateOptions",
    };
    let attrs = Attributes {
        operation,
        info: &t.info,
        subresource: t.sub.as_deref(),
        namespace: t.ns.as_deref(),
        name: &name,
        user: &ctx.user,
        dry_run: ctx.dry_run(),
        options: json!({"kind": options_kind, "apiVersion": "meta.k8s.io/v1"}),
    };
    let warnings = admit(shared, &attrs, &mut object, old.as_ref()).await?;
    if operation == Operation::Delete || object == before {
        return Ok(Admitted { ctx: None, as_update: false, warnings });
    }
    // Mutated: the handler runs on the webhooks' object.
    let as_update = verb == "patch";
    if as_update {
        if let (Some(cur), Some(meta)) = (&cur, object.get_mut("metadata").and_then(Value::as_object_mut)) {
            meta.insert("resourceVersion".into(), Value::String(cur.rv.to_string()));
        }
    }
    let body = serde_json::to_vec(&object).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut headers = ctx.headers.clone();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    headers.remove(http::header::CONTENT_LENGTH);
    let method = if as_update { http::Method::PUT } else { ctx.method.clone() };
    let mutated = Ctx {
        method,
        path: ctx.path.clone(),
        query: ctx.query.clone(),
        headers,
        body: Bytes::from(body),
        user: ctx.user.clone(),
    };
    Ok(Admitted { ctx: Some(mutated), as_update, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_match_with_wildcards_and_subresources() {
        assert!(resource_matches("pods", "pods", None));
        assert!(!resource_matches("pods", "pods", Some("status")));
        assert!(resource_matches("pods/status", "pods", Some("status")));
        assert!(resource_matches("pods/*", "pods", Some("exec")));
        assert!(!resource_matches("pods/*", "pods", None));
        assert!(resource_matches("*", "deployments", None));
        assert!(!resource_matches("*", "deployments", Some("scale")));
        assert!(resource_matches("*/*", "deployments", Some("scale")));
        assert!(resource_matches("*/scale", "deployments", Some("scale")));
        assert!(!resource_matches("configmaps", "pods", None));
    }

    #[test]
    fn denials_read_and_code_as_upstream() {
        let e = denied("deny.example.com", Some(Status::failure(403, ReasonKind::Forbidden, "no limits")));
        assert_eq!(
            (e.status.code, e.status.message.as_str()),
            (403, "admission webhook \"deny.example.com\" denied the request: no limits")
        );
        let e = denied("d", None);
        assert_eq!(
            (e.status.code, e.status.message.as_str()),
            (400, "admission webhook \"d\" denied the request without explanation")
        );
        let s = Status { reason: "Because".into(), code: 200, ..Default::default() };
        let e = denied("d", Some(s));
        assert_eq!(
            (e.status.code, e.status.message.as_str()),
            (400, "admission webhook \"d\" denied the request: Because")
        );
    }

    #[test]
    fn configurations_parse_with_upstream_defaults() {
        let config = json!({"webhooks": [{
            "name": "a.example.com",
            "clientConfig": {"url": "https://127.0.0.1:1/m", "caBundle": base64::engine::general_purpose::STANDARD.encode("pem")},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"]
        }, {"name": "b", "failurePolicy": "Ignore", "timeoutSeconds": 99, "sideEffects": "Some"}]});
        let hooks = webhooks_of(&config);
        assert_eq!(hooks.len(), 2);
        assert!(hooks[0].fail_closed && !hooks[1].fail_closed, "Fail is the default");
        assert_eq!((hooks[0].timeout, hooks[1].timeout), (Duration::from_secs(10), Duration::from_secs(30)));
        assert_eq!(hooks[0].ca_bundle.as_deref(), Some(&b"pem"[..]));
        assert!(hooks[0].side_effects_safe_on_dry_run && !hooks[1].side_effects_safe_on_dry_run);
        assert!(selector_matches(None, &Default::default()), "no selector: everything");
        let sel = json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]});
        let prod = std::collections::BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
        assert!(!selector_matches(Some(&sel), &prod));
        assert!(selector_matches(Some(&sel), &Default::default()));
    }
}
