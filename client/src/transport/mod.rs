//! The transport: one pooled hyper client per [`Config`], which sends a request and returns
//! the response head with a streaming body.
//!
//! Contract: `Transport::send` applies the user agent, credentials, impersonation, the
//! client-side rate limiter (skipped for watches) and the retry policy; it returns every HTTP
//! response as is (status classification happens in [`crate::Client`]), and turns connection
//! failures into [`Error::Connect`] naming the URL.
//!
//! This is the plain-HTTP baseline; TLS, auth, rate limiting and retries are added in the
//! submodules.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use crate::config::Config;
use crate::error::{Error, Result};

/// Whether a request is a long-running watch (not rate limited, no request timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestKind {
    /// An ordinary request.
    #[default]
    Normal,
    /// A watch or a followed log: long-running, exempt from the rate limiter and timeout.
    LongRunning,
}

/// A pooled HTTP client bound to one [`Config`].
#[derive(Clone)]
pub struct Transport {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    user_agent: http::HeaderValue,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

impl Transport {
    /// Builds the transport for `config`.
    pub fn new(config: &Config) -> Result<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let http = HyperClient::builder(TokioExecutor::new()).build(connector);
        let user_agent = http::HeaderValue::from_str(&config.user_agent)
            .map_err(|_| Error::InvalidRequest(format!("user agent {:?} is not a valid header", config.user_agent)))?;
        Ok(Self { http, user_agent })
    }

    /// Sends one request; `req`'s URI is absolute.
    pub async fn send(&self, mut req: http::Request<Bytes>, _kind: RequestKind) -> Result<http::Response<Incoming>> {
        req.headers_mut().entry(http::header::USER_AGENT).or_insert_with(|| self.user_agent.clone());
        let url = req.uri().to_string();
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, Full::new(body));
        self.http.request(req).await.map_err(|e| Error::Connect {
            url,
            message: error_chain(&e),
            source: Some(Box::new(e)),
        })
    }
}

/// Joins an error and its sources into one line.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
