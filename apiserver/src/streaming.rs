//! Upgraded connections: `pods/exec`, `pods/attach` and `pods/portforward`, as kube-apiserver
//! (with the kubelet behind it) serves them.
//!
//! Contract:
//! - Only `/api/v1/namespaces/{ns}/pods/{name}/{exec|attach|portforward}` is upgraded; any other
//!   upgrade request is 404 (an unknown path) or 400 (a known resource that is not streamed).
//! - The authorizer sees verb `create` on `pods/exec` (`attach`, `portforward`): the real
//!   server's check for WebSocket upgrades (`AuthorizePodWebsocketUpgradeCreatePermission`,
//!   on since 1.31). A denial is the usual 403 Status.
//! - Before upgrading, as the pod registry's `ExecLocation`/`PortForwardLocation`: a missing
//!   pod is 404; an unnamed container in a pod with several is 400 `a container name must be
//!   specified for pod P, choose one of: [a b]`; an unknown one 400 `container C is not valid
//!   for pod P`; a pod without `spec.nodeName` 400 `pod P does not have a host assigned`; exec
//!   without `command` 400 and with none of stdin/stdout/stderr 400 (the kubelet's messages).
//! - WebSocket (RFC 6455, `Sec-WebSocket-Version: 13`) subprotocols: exec and attach accept
//!   `v5.channel.k8s.io`, `v4.channel.k8s.io`, `channel.k8s.io` (the kubelet's binary channel
//!   protocols; none offered means `channel.k8s.io`); port-forward accepts
//!   `SPDY/3.1+portforward.k8s.io` (kubectl 1.31+: SPDY framing tunnelled in binary messages,
//!   [`spdy`]) and `v4.channel.k8s.io` / `portforward.k8s.io` (the kubelet's WebSocket
//!   protocol, which kube-rs speaks). An offer with none of them is 403 with an empty body, as
//!   the real server's WebSocket handshake answers; a request that is not a valid WebSocket
//!   handshake (no key, another version, a bare `Upgrade: SPDY/3.1`) is 400. The base64
//!   channel variants and the raw SPDY upgrade are not served.
//! - Frames and messages are bounded ([`MAX_MESSAGE`]); what a session does after the upgrade
//!   is in [`exec`] and [`portforward`]. Sessions end when the server's connections are
//!   dropped (`Control::drop_connections`) or the client goes away; an interactive session can
//!   otherwise legitimately last forever (as `kubectl exec -it` does), so there is no deadline.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;

use crate::authz::{AuthorizationAttributes, Decision, UserInfo};
use crate::errors::ApiError;
use crate::server::{error_response, response, Body, Shared};

pub mod exec;
pub mod fs;
pub mod portforward;
pub mod shell;
pub mod spdy;
mod state;
mod ws;

pub use exec::{ExecHandler, ExecIo, ExecRequest, TerminalSize};
pub use fs::Fs;

/// The largest WebSocket message (and frame) read from a client: 16 MiB, far above what
/// kubectl and client-go send (32 KiB chunks).
pub const MAX_MESSAGE: usize = 16 << 20;

/// Whether the request asks to switch protocols (`Connection: Upgrade` with an `Upgrade` header).
pub(crate) fn is_upgrade(headers: &http::HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(http::header::UPGRADE)
}

/// Which streamed subresource a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Exec,
    Attach,
    PortForward,
}

impl Kind {
    fn subresource(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Attach => "attach",
            Kind::PortForward => "portforward",
        }
    }
}

/// The query of a streaming request, parameters in order (`command` repeats).
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default())
    }
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    pub(crate) fn all(&self, k: &str) -> Vec<String> {
        self.0.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect()
    }
    /// A boolean parameter as the API server converts it (`true`/`1`; the kubelet's `1`).
    pub(crate) fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True" | "TRUE"))
    }
}

/// The pod a request streams to, checked.
pub(crate) struct Target {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) uid: String,
    /// The container (empty for port-forward).
    pub(crate) container: String,
    /// The pod object.
    pub(crate) object: Value,
}

/// Serves one upgrade request from an authenticated `user`.
pub(crate) async fn handle(shared: &Arc<Shared>, req: Request<Incoming>, user: UserInfo) -> Response<Body> {
    match serve(shared, req, user).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn serve(shared: &Arc<Shared>, req: Request<Incoming>, user: UserInfo) -> Result<Response<Body>, ApiError> {
    let (namespace, pod, kind) = route(req.uri().path())?;
    authorize(shared, user, &namespace, &pod, kind)?;
    let query = Query::parse(req.uri().query());
    let target = locate(shared, &namespace, &pod, kind, &query)?;
    let offered = ws::offered_protocols(req.headers());
    let Some(key) = ws::handshake_key(req.headers()) else {
        return Ok(plain(400, "not a WebSocket handshake (the raw SPDY/3.1 upgrade is not served)"));
    };
    let accepted = match kind {
        Kind::Exec | Kind::Attach => ws::negotiate(&offered, exec::PROTOCOLS),
        Kind::PortForward => ws::negotiate(&offered, portforward::PROTOCOLS),
    };
    let Some(protocol) = accepted else {
        // x/net/websocket's handshake failure: 403 and nothing else.
        return Ok(plain(403, ""));
    };
    let session = match kind {
        Kind::Exec | Kind::Attach => {
            let opts = exec::Options::from_query(kind, &query)?;
            Session::Exec(opts)
        }
        Kind::PortForward => {
            let ports = portforward::ports_from_query(&query)?;
            if ports.is_empty() && protocol != portforward::SPDY_TUNNEL {
                return Ok(plain(400, "query parameter \"port\" is required"));
            }
            Session::PortForward(ports)
        }
    };
    let state = state::of(shared);
    let upgrade = hyper::upgrade::on(req);
    let shared = shared.clone();
    tokio::spawn(async move {
        let io = match upgrade.await {
            Ok(io) => hyper_util::rt::TokioIo::new(io),
            Err(e) => {
                tracing::debug!("embedded API server: upgrade failed: {e}");
                return;
            }
        };
        let conn = ws::accept(io).await;
        let mut epoch = shared.conn_epoch.subscribe();
        epoch.borrow_and_update();
        let run = async {
            match session {
                Session::Exec(opts) => exec::run(conn, protocol, opts, target, state).await,
                Session::PortForward(ports) => portforward::run(conn, protocol, ports, target, state).await,
            }
        };
        tokio::select! {
            _ = run => {}
            _ = epoch.changed() => {}
        }
    });
    Ok(ws::switching_protocols(&key, protocol))
}

enum Session {
    Exec(exec::Options),
    PortForward(Vec<u16>),
}

fn plain(code: u16, text: &str) -> Response<Body> {
    response(code, "text/plain; charset=utf-8", Body::Full(Some(bytes::Bytes::from(text.to_string()))))
}

/// `(namespace, pod, kind)` of a streaming path.
fn route(path: &str) -> Result<(String, String, Kind), ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", name, sub] if !ns.is_empty() && !name.is_empty() => {
            let kind = match *sub {
                "exec" => Kind::Exec,
                "attach" => Kind::Attach,
                "portforward" => Kind::PortForward,
                other => return Err(ApiError::bad_request(format!("the subresource {other:?} cannot be upgraded"))),
            };
            Ok((ns.to_string(), name.to_string(), kind))
        }
        _ => Err(ApiError::route_not_found()),
    }
}

fn authorize(shared: &Arc<Shared>, user: UserInfo, ns: &str, pod: &str, kind: Kind) -> Result<(), ApiError> {
    let attrs = AuthorizationAttributes {
        user,
        verb: "create".into(),
        resource_request: true,
        namespace: ns.into(),
        api_group: String::new(),
        api_version: "v1".into(),
        resource: "pods".into(),
        subresource: kind.subresource().into(),
        name: pod.into(),
        path: String::new(),
    };
    match crate::authz::decide(&shared.opts, &attrs) {
        Decision::Allow => Ok(()),
        Decision::Deny(reason) => Err(crate::authz::forbidden(&attrs, &reason)),
        Decision::NoOpinion => Err(crate::authz::forbidden(&attrs, "")),
    }
}

/// The pod registry's checks before a stream is opened (see the module docs).
fn locate(shared: &Arc<Shared>, ns: &str, pod: &str, kind: Kind, query: &Query) -> Result<Target, ApiError> {
    let object = {
        let st = shared.state.lock();
        let info = st.registry.get("", "v1", "pods").cloned();
        let Some(info) = info else { return Err(ApiError::route_not_found()) };
        let res = crate::server::res_key(&info);
        match st.store.get(&res, ns, pod) {
            Some(o) => o.value(),
            None => return Err(ApiError::not_found(&info, pod)),
        }
    };
    let names = |field: &str| -> Vec<String> {
        object
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .map(|cs| cs.iter().filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from)).collect())
            .unwrap_or_default()
    };
    let mut container = String::new();
    if kind != Kind::PortForward {
        let containers = names("containers");
        container = query.get("container").unwrap_or_default().to_string();
        if container.is_empty() {
            match containers.as_slice() {
                [one] => container = one.clone(),
                [] => return Err(ApiError::bad_request(format!("a container name must be specified for pod {pod}"))),
                many => {
                    let mut msg = format!(
                        "a container name must be specified for pod {pod}, choose one of: [{}]",
                        many.join(" ")
                    );
                    let init = names("initContainers");
                    if !init.is_empty() {
                        msg.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
                    }
                    return Err(ApiError::bad_request(msg));
                }
            }
        } else {
            let known = containers
                .iter()
                .chain(names("initContainers").iter())
                .chain(names("ephemeralContainers").iter())
                .any(|c| *c == container);
            if !known {
                return Err(ApiError::bad_request(format!("container {container} is not valid for pod {pod}")));
            }
        }
    }
    let node = object.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    if node.is_empty() {
        return Err(ApiError::bad_request(format!("pod {pod} does not have a host assigned")));
    }
    let uid = object.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(Target { namespace: ns.into(), pod: pod.into(), uid, container, object })
}
