//! SPDY/3.1 framing (placeholder until the tunnel is served).

use std::sync::Arc;

use super::state::Streams;
use super::ws::Conn;
use super::Target;

/// Serves a port-forward SPDY session tunnelled in WebSocket binary messages.
pub(crate) async fn serve_portforward(_conn: Conn, _target: Target, _streams: Arc<Streams>) {}
