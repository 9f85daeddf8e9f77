//! The channel protocols of `pods/exec`, `pods/attach` and `pods/portforward` over WebSockets
//! (k8s.io/apimachinery's `util/remotecommand` and `util/portforward` constants): subprotocol
//! names and channel numbers, one definition for the client and the embedded server.
//!
//! Every binary message starts with its channel number; exec and attach use the channels below,
//! port-forward gives port *i* the data channel `2i` and the error channel `2i + 1`.

/// Exec/attach protocol with the stdin close signal ([`CLOSE`]), Kubernetes 1.30+.
pub const V5_CHANNEL: &str = "v5.channel.k8s.io";
/// Exec/attach protocol whose error channel carries a JSON `Status`; also the port-forward
/// protocol of the WebSocket path the kubelet serves.
pub const V4_CHANNEL: &str = "v4.channel.k8s.io";

/// Standard input, client to container.
pub const STDIN: u8 = 0;
/// Standard output.
pub const STDOUT: u8 = 1;
/// Standard error (absent with a TTY: merged into stdout).
pub const STDERR: u8 = 2;
/// The error channel: the final `Status` (exit code in its causes) with v4 and v5.
pub const ERROR: u8 = 3;
/// Terminal size changes, JSON `{"Width":..,"Height":..}`, client to container.
pub const RESIZE: u8 = 4;
/// v5 only: the next byte names a channel the sender closes (stdin's end of file).
pub const CLOSE: u8 = 255;
