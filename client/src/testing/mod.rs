//! STUB — the server helpers replace this file. The public API below is the agreed contract.

pub mod discovery;
pub mod kubeconfig;
pub mod registry;
pub mod seed;
pub mod tls;

use crate::{Client, Config};

/// An error starting the embedded server.
#[derive(Debug, thiserror::Error)]
#[error("embedded API server: {0}")]
pub struct ServerError(pub String);

/// A running embedded API server on 127.0.0.1 with a random port. Stops when dropped.
#[derive(Debug)]
pub struct ApiServer {
    url: http::Uri,
}

impl ApiServer {
    /// Starts a plain-HTTP server with the built-in kinds and the `default` and `kube-system`
    /// namespaces.
    pub async fn start() -> Result<ApiServer, ServerError> {
        Err(ServerError("not implemented yet".into()))
    }
    /// The server's base URL.
    pub fn url(&self) -> &http::Uri {
        &self.url
    }
    /// A client configuration for this server (rate limiter off, credentials as configured).
    pub fn config(&self) -> Config {
        Config::new(self.url.clone()).without_rate_limit()
    }
    /// A client for this server.
    pub fn client(&self) -> Client {
        match Client::new(self.config()) {
            Ok(c) => c,
            Err(e) => unreachable!("a plain-HTTP config always builds: {e}"),
        }
    }
}
