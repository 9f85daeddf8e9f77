//! Streams into pods: [`exec`] and attach (`Api<Pod>::exec`, `Api<Pod>::attach`),
//! [`portforward`] (`Api<Pod>::portforward`, [`portforward::listen`]) and [`cp`] (tar over
//! exec, as `kubectl cp`).
//!
//! Every session is one WebSocket opened with an HTTP/1.1 upgrade over the client's transport
//! (same TLS, credentials, proxy; see `transport::upgrade`), framed by tokio-tungstenite, each
//! message `[channel] ++ data`. What the API server accepts (kube-apiserver 1.30+ with the
//! kubelet behind it):
//! - exec/attach: `v5.channel.k8s.io` (the API server itself terminates it and speaks SPDY to
//!   the kubelet: `TranslateStreamCloseWebsocketRequests`, on by default since 1.30) and
//!   `v4.channel.k8s.io` and older (proxied to the kubelet, which serves them); SPDY/3.1
//!   upgrades (client-go's older executor). rudder offers v5 then v4.
//! - port-forward: WebSocket `SPDY/3.1+portforward.k8s.io` (SPDY framing tunnelled in binary
//!   messages, terminated by the API server: `PortForwardWebsockets`, on by default since
//!   1.31; what kubectl 1.31+ tries first), WebSocket `v4.channel.k8s.io` (proxied to the
//!   kubelet's WebSocket port-forward, what kube-rs speaks), and a plain SPDY/3.1 upgrade.
//!   rudder speaks `v4.channel.k8s.io`: one WebSocket per forwarded connection.

pub mod cp;
pub mod exec;
pub mod portforward;
mod socket;

pub use exec::{AttachedProcess, ExecOptions, ExitStatus, ProcessOutput, ProcessStdin, TerminalSize};
pub use socket::MAX_MESSAGE;
