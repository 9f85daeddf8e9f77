//! Upgraded connections: `pods/exec`, `pods/attach` and `pods/portforward` (WebSocket channel
//! protocols and SPDY). Until they are served, every upgrade request is answered with the
//! real server's 400 for an upgrade it cannot handle.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::authz::UserInfo;
use crate::errors::ApiError;
use crate::server::{error_response, Body, Shared};

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

/// Serves one upgrade request from an authenticated `user`.
pub(crate) async fn handle(_shared: &Arc<Shared>, _req: Request<Incoming>, _user: UserInfo) -> Response<Body> {
    error_response(&ApiError::bad_request("upgrade requests are not supported by this server"))
}
