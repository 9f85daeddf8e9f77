//! The `log` subresource of simulated pods: the lines a test appended
//! ([`Control::append_container_logs`](crate::Control::append_container_logs)), with `tailLines`,
//! `timestamps`, `previous` and `follow` as a kubelet serves them, and the 400s of the real
//! server for a container that is not in the pod or has not started.
//!
//! Contract: a followed log sends the current lines, then each appended line as it arrives, and
//! ends when the container's instance ends (it exits or restarts), the pod goes, the client
//! leaves, or the server drops its watches; it never polls.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::LogLine;
use crate::errors::{ApiError, ApiResult};
use crate::server::{Body, Ctx, Shared};

fn render(lines: &[LogLine], timestamps: bool) -> Bytes {
    let mut out = String::new();
    for l in lines {
        if timestamps {
            out.push_str(&l.time);
            out.push(' ');
        }
        out.push_str(&l.text);
        out.push('\n');
    }
    Bytes::from(out)
}

/// Answers `GET pods/<name>/log` for a simulated pod (`pod` is its stored JSON).
pub(crate) fn serve(shared: &Arc<Shared>, ctx: &Ctx, ns: &str, name: &str, pod: &Value) -> ApiResult<Body> {
    let names: Vec<String> =
        ["/spec/containers", "/spec/initContainers"].iter().flat_map(|p| super::container_names(pod, p)).collect();
    let container = match ctx.q("container") {
        Some(c) => c.to_string(),
        None => names.first().cloned().unwrap_or_default(),
    };
    if !names.contains(&container) {
        return Err(ApiError::bad_request(format!("container {container} is not valid for pod {name}")));
    }
    let previous = ctx.flag("previous");
    let timestamps = ctx.flag("timestamps");
    let tail = ctx.q("tailLines").and_then(|n| n.parse::<usize>().ok());
    let (lines, instance, mut changed) = {
        let mut st = shared.state.lock();
        let k = &mut st.kubelet;
        if !previous && !k.container_started(ns, name, &container) {
            return Err(ApiError::bad_request(format!(
                "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
            )));
        }
        let lines = k.container_log(ns, name, &container, previous).map_err(ApiError::bad_request)?;
        (lines, k.container_instance(ns, name, &container), k.logs_changed())
    };
    let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
    let first = render(&lines[skip..], timestamps);
    if !ctx.flag("follow") || previous {
        return Ok(Body::Full(Some(first)));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let weak = Arc::downgrade(shared);
    let mut epoch = shared.watch_epoch.subscribe();
    epoch.borrow_and_update();
    let (ns, name) = (ns.to_string(), name.to_string());
    tokio::spawn(async move {
        if tx.send(first).await.is_err() {
            return;
        }
        let mut sent = lines.len();
        loop {
            tokio::select! {
                _ = epoch.changed() => return,
                _ = tx.closed() => return,
                r = changed.changed() => if r.is_err() { return },
            }
            let (more, now) = {
                let Some(shared) = weak.upgrade() else { return };
                let st = shared.state.lock();
                let more = st.kubelet.container_log(&ns, &name, &container, false).unwrap_or_default();
                (more, st.kubelet.container_instance(&ns, &name, &container))
            };
            let same = now.is_some_and(|(restarts, _)| Some(restarts) == instance.map(|i| i.0));
            if same && more.len() > sent {
                if tx.send(render(&more[sent..], timestamps)).await.is_err() {
                    return;
                }
                sent = more.len();
            }
            if !same || now.is_some_and(|(_, ended)| ended) {
                return;
            }
        }
    });
    Ok(Body::Chan(rx))
}
