//! HTTP/1.1 upgrades (`pods/exec`, `attach`, `portforward`): one request on a connection of
//! its own that, answered `101 Switching Protocols`, becomes a raw byte stream.
//!
//! Contract:
//! - The connection is opened like every other (TCP or the proxy's CONNECT, TLS with the
//!   cluster's trust and client certificate, `Config.connect_timeout`), but TLS offers only
//!   ALPN `http/1.1`, and it is never pooled. The request carries the same headers as any other
//!   (user agent, impersonation, credentials over https only, `Proxy-Authorization` for a plain
//!   proxy, which gets the absolute URL).
//! - The handshake (connecting, sending, the response head) is bounded by `Config.timeout` when
//!   set; what flows after the upgrade has no deadline (an interactive session may last
//!   forever). There are no retries, and the rate limiter is not consulted (client-go's
//!   executors bypass it too).
//! - Errors name the URL without its query (an exec's command line is never shown).
//! - Any answer but 101 becomes the usual error ([`Error::Api`] for a Status body, else
//!   [`Error::UnexpectedResponse`]); the body read for it is bounded as for every error.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use tokio::time::Instant;

use super::{classify_connect, without_user_info, RequestKind, Transport};
use crate::config::redact;
use crate::error::{Error, Result};

/// How long an error answer's body may take when `Config.timeout` is unset.
const ERROR_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Transport {
    /// Sends `req` (absolute URI, empty body) asking to upgrade; returns the 101 response head
    /// and the upgraded stream (see the module docs).
    pub(crate) async fn upgrade(&self, req: http::Request<()>) -> Result<(http::response::Parts, Upgraded)> {
        let deadline = self.deadline(RequestKind::Normal);
        let method = req.method().to_string();
        // Never the query: it holds the command line of an exec.
        let url = req.uri().path().to_string();
        let fut = self.upgrade_once(req, deadline);
        match deadline {
            Some(d) => self.by_deadline(d, method, url, fut).await,
            None => fut.await,
        }
    }

    async fn upgrade_once(
        &self,
        req: http::Request<()>,
        deadline: Option<Instant>,
    ) -> Result<(http::response::Parts, Upgraded)> {
        let (parts, ()) = req.into_parts();
        let headers = self.request_headers(&parts).await?;
        let connector = self.inner.upgrade.read().clone();
        let uri = without_user_info(&parts.uri);
        let shown = redact::uri(&without_query(&parts.uri));
        let conn = {
            use tower_service::Service as _;
            let mut c = connector;
            c.call(uri.clone()).await.map_err(|e| classify_connect(e, shown.clone()))?
        };
        let proxied = conn.proxied;
        let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(conn)
            .await
            .map_err(|e| Error::Connect { url: shown.clone(), message: e.to_string(), source: Some(Box::new(e)) })?;
        tokio::spawn(async move {
            // Ends when the upgraded stream is dropped (or at once on failure).
            let _ = connection.with_upgrades().await;
        });
        let target = if proxied {
            uri.clone()
        } else {
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").parse().unwrap_or_else(|_| uri.clone())
        };
        let mut out = http::Request::new(Empty::<Bytes>::new());
        *out.method_mut() = parts.method.clone();
        *out.uri_mut() = target;
        *out.headers_mut() = headers;
        if let Some(authority) = uri.authority() {
            if let Ok(v) = http::HeaderValue::from_str(authority.as_str()) {
                out.headers_mut().insert(http::header::HOST, v);
            }
        }
        let resp = sender.send_request(out).await.map_err(|e| Error::Connect {
            url: shown.clone(),
            message: e.to_string(),
            source: Some(Box::new(e)),
        })?;
        self.surface_warnings(resp.headers());
        if resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            let deadline = deadline.unwrap_or_else(|| Instant::now() + ERROR_BODY_TIMEOUT);
            let url = parts.uri.path().to_string();
            return Err(crate::client::error_from_response(resp, parts.method.to_string(), url, deadline).await);
        }
        let (head, body) = resp.into_parts();
        let upgraded = hyper::upgrade::on(http::Response::from_parts(head.clone(), body)).await.map_err(|e| {
            Error::Connect { url: shown, message: format!("upgrade failed: {e}"), source: Some(Box::new(e)) }
        })?;
        Ok((head, upgraded))
    }
}

/// `uri` without its query (errors never show an exec's command line).
fn without_query(uri: &http::Uri) -> http::Uri {
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = uri.path().parse().ok();
    http::Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}
