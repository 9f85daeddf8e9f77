//! Shared by the examples (included with `mod common;`, not an example itself): connects to a
//! cluster and says how in the first line of output.
//!
//! Order: the current kubeconfig / in-cluster config (`Config::infer`), else an embedded API
//! server started in-process, so every example runs anywhere.

use rudder_client::testing::ApiServer;
use rudder_client::{Client, Config};

/// A connected client; keeps the embedded server (if any) alive while it lives.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The embedded server, when no cluster config was found.
    #[allow(dead_code)]
    pub server: Option<ApiServer>,
}

/// Connects, printing where to.
pub async fn connect() -> Result<Connection, Box<dyn std::error::Error>> {
    if let Some(config) = infer_config().await {
        println!("using the current kubeconfig context / in-cluster config: {}", config.cluster_url);
        return Ok(Connection { client: Client::new(config)?, server: None });
    }
    let server = ApiServer::start().await?;
    println!("no cluster configuration found: using an embedded API server at {}", server.url());
    Ok(Connection { client: server.client(), server: Some(server) })
}

/// The one place that decides whether a real cluster is used: `Config::infer` (the current
/// kubeconfig, else in-cluster); `None` when neither exists.
async fn infer_config() -> Option<Config> {
    match Config::infer().await {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("no cluster configuration ({e})");
            None
        }
    }
}
