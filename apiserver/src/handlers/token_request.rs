//! `serviceaccounts/token` (TokenRequest, authentication.k8s.io/v1), as
//! pkg/registry/core/serviceaccount/storage/token.go serves it: a JWT-shaped token for the
//! service account, bound to a Pod, Secret or Node when asked.
//!
//! Contract:
//! - `spec.expirationSeconds` defaults to 3600; below 600 or above 2^32 is the real 422;
//!   `status.expirationTimestamp` is now plus that many seconds; empty `spec.audiences` become
//!   the server's audience (`https://kubernetes.default.svc.cluster.local`).
//! - The token has the claims a real one carries (`aud`, `exp`, `iat`, `nbf`, `iss`, `jti`,
//!   `sub` = `system:serviceaccount:<ns>:<name>`, `kubernetes.io`); its signature is random
//!   bytes (it is signed-looking, not verifiable, and the server does not accept it as a
//!   credential). It appears only in the response body: never in a log, error or event.
//! - A missing service account or bound object is 404; a Pod running as another service account
//!   or an unsupported bound kind is 400; a bound uid that does not match is 409.

use std::sync::Arc;

use base64::Engine as _;
use rudder_apimachinery::resource::{ApiResource, Scope};
use rudder_apimachinery::schema::GroupVersionKind;
use rudder_apimachinery::status::{ReasonKind, Status, StatusDetails};
use serde_json::{json, Value};

use crate::errors::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::server::{json_value, new_uid, now_rfc3339, Ctx, Shared, Target};

use super::{invalid_kind, FieldError, Resp};

/// The issuer and default audience (`--service-account-issuer`, `--api-audiences`).
pub(crate) const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const GROUP: &str = "authentication.k8s.io";
const KIND: &str = "TokenRequest";
const DEFAULT_EXPIRATION: i64 = 3600;
const MIN_EXPIRATION: i64 = 600;
const MAX_EXPIRATION: i64 = 1 << 32;

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT-shaped token carrying `claims`, with a random signature.
fn token(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "kid": b64url(&rand::random::<[u8; 32]>())});
    let signature: Vec<u8> = (0..256).map(|_| rand::random::<u8>()).collect();
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(&signature)
    )
}

fn bad_request(msg: String) -> ApiError {
    ApiError::bad_request(msg)
}

/// POST `serviceaccounts/<name>/token`.
pub(super) fn create(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    // Decoded like any create body (media types, kind), so every body format the server
    // learns is accepted here too.
    let api = ApiResource::from_gvk(&GroupVersionKind::new(GROUP, "v1", KIND), "tokenrequests", Scope::Namespaced);
    let req = super::create::decode_body(ctx, &ResourceInfo::new(api))?;
    let sa_name = t.name.clone().unwrap_or_default();
    let ns = t.ns.clone().unwrap_or_default();
    let req_name = req.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let req_ns = req.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default().to_string();
    let expiration = match req.pointer("/spec/expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION,
        Some(v) => v.as_i64().ok_or_else(|| {
            bad_request(format!("{KIND} in version \"v1\" cannot be handled as a {KIND}: json: cannot unmarshal {v} into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64"))
        })?,
    };
    let mut errs = Vec::new();
    if expiration < MIN_EXPIRATION {
        errs.push(FieldError::invalid_raw(
            "spec.expirationSeconds".into(),
            &expiration.to_string(),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > MAX_EXPIRATION {
        errs.push(FieldError::invalid_raw(
            "spec.expirationSeconds".into(),
            &expiration.to_string(),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !errs.is_empty() {
        return Err(invalid_kind(GROUP, KIND, &req_name, errs));
    }
    if !req_name.is_empty() && req_name != sa_name {
        let e =
            FieldError::invalid("metadata.name".into(), &req_name, "must match the service account name if specified");
        return Err(invalid_kind(GROUP, KIND, &sa_name, vec![e]));
    }
    if !req_ns.is_empty() && req_ns != ns {
        let e = FieldError::invalid(
            "metadata.namespace".into(),
            &req_ns,
            "must match the service account namespace if specified",
        );
        return Err(invalid_kind(GROUP, KIND, &sa_name, vec![e]));
    }
    let st = shared.state.lock();
    let sa = st.store.get(&t.res, &ns, &sa_name).ok_or_else(|| ApiError::not_found(&t.info, &sa_name))?;
    let mut bound = json!({"namespace": ns, "serviceaccount": {"name": sa_name, "uid": sa.uid}});
    let bound_ref = req.pointer("/spec/boundObjectRef").filter(|r| r.is_object()).cloned();
    if let Some(r) = &bound_ref {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let (api_version, kind, name, uid) = (s("apiVersion"), s("kind"), s("name"), s("uid"));
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
        let (plural, claim, namespaced) = match (group, kind.as_str()) {
            ("", "Pod") => ("pods", "pod", true),
            ("", "Secret") => ("secrets", "secret", true),
            ("", "Node") => ("nodes", "node", false),
            _ => {
                let version = api_version.rsplit('/').next().unwrap_or_default();
                return Err(bad_request(format!("cannot bind token to object of type {group}/{version}, Kind={kind}")));
            }
        };
        let obj_ns = if namespaced { ns.as_str() } else { "" };
        let Some(obj) = st.store.get(&(String::new(), plural.to_string()), obj_ns, &name) else {
            let info = st.registry.get("", "v1", plural).cloned().unwrap_or_else(|| t.info.clone());
            return Err(ApiError::not_found(&info, &name));
        };
        if kind == "Pod" {
            let pod_sa =
                obj.value().pointer("/spec/serviceAccountName").and_then(Value::as_str).unwrap_or_default().to_string();
            if pod_sa != sa_name {
                return Err(bad_request(format!(
                    "cannot bind token for serviceaccount {sa_name:?} to pod running with serviceaccount {pod_sa:?}"
                )));
            }
        }
        if !uid.is_empty() && uid != obj.uid {
            return Err(Status::failure(
                409,
                ReasonKind::Conflict,
                format!(
                    "Operation cannot be fulfilled on {kind} {name:?}: the UID in the bound object reference ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                    obj.uid
                ),
            )
            .with_details(StatusDetails { name: name.clone(), kind: kind.clone(), ..Default::default() })
            .into());
        }
        bound[claim] = json!({"name": name, "uid": obj.uid});
    }
    drop(st);
    let audiences: Vec<Value> = match req.pointer("/spec/audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a.clone(),
        _ => vec![Value::from(ISSUER)],
    };
    let now = jiff::Timestamp::now();
    let iat = now.as_second();
    let exp = iat + expiration;
    let expires =
        jiff::Timestamp::from_second(exp).map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default();
    let claims = json!({
        "aud": audiences, "exp": exp, "iat": iat, "iss": ISSUER, "jti": new_uid(),
        "kubernetes.io": bound, "nbf": iat, "sub": format!("system:serviceaccount:{ns}:{sa_name}"),
    });
    let out = json!({
        "kind": KIND, "apiVersion": format!("{GROUP}/v1"),
        "metadata": {"name": sa_name, "namespace": ns, "creationTimestamp": now_rfc3339()},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": bound_ref},
        "status": {"token": token(&claims), "expirationTimestamp": expires},
    });
    Ok(json_value(201, &out))
}
