//! Watch streams of the embedded API server.
//!
//! Contract (as the real watch cache): a `200` with `Content-Type: application/json` and one
//! `{"type":..,"object":..}\n` line per event, flushed as events happen (batched when many are
//! queued). No resourceVersion or `0` → synthetic ADDED for every current object first; `n` →
//! every change after `n` from the history, or one ERROR event (410 Expired, `too old resource
//! version`) and the end when `n` is compacted. With selectors an object that stops matching is
//! sent as DELETED and one that starts matching as ADDED. `allowWatchBookmarks` → a BOOKMARK
//! (zero-valued object with only `metadata.resourceVersion`) every bookmark interval and ~2 s
//! before `timeoutSeconds`; at `timeoutSeconds` the body ends cleanly. `sendInitialEvents=true`
//! with `resourceVersionMatch=NotOlderThan` sends the current objects and then a bookmark
//! annotated `k8s.io/initial-events-end: "true"`. A watcher that falls so far behind that its
//! queue fills (see `limits.rs`) is closed: its stream ends without an ERROR event. When
//! `Accept` negotiates protobuf (`crate::negotiate`) the same events are length-prefixed
//! `WatchEvent` frames under `application/vnd.kubernetes.protobuf;stream=watch`.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rudder_apimachinery::status::{ReasonKind, Status};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::errors::{ApiError, ApiResult};
use super::handlers::{parse_rv, Filter, Rv};
use super::negotiate::{self, Output};
use super::registry::ResourceInfo;
use super::server::{response, Body, Ctx, Shared, Target};
use super::store::{put_event_line, type_prefix, Event, EventKind, Obj};

/// Flush threshold when many events are queued.
const BATCH: usize = 512 * 1024;

/// How one watcher formats objects.
struct Formatter {
    partial: bool,
    table: Option<super::table::Include>,
    table_started: std::cell::Cell<bool>,
    prefix: Bytes,
    info: ResourceInfo,
    /// Frames of `WatchEvent`s instead of JSON lines (`crate::negotiate`).
    protobuf: bool,
    /// The server (for its encode cache).
    shared: Arc<Shared>,
}

impl Formatter {
    /// Appends one event in the watcher's encoding.
    fn put(&self, out: &mut BytesMut, kind: &str, obj: &Obj) {
        if self.protobuf
            && !self.partial
            && negotiate::put_object_frame(&self.shared.encode_cache, &self.info, kind, obj, out)
        {
            return;
        }
        if self.protobuf {
            let mut line = BytesMut::new();
            self.put_json(&mut line, kind, obj);
            negotiate::line_to_frame(&line, out);
        } else {
            self.put_json(out, kind, obj);
        }
    }

    /// Appends a bookmark in the watcher's encoding.
    fn bookmark(&self, out: &mut BytesMut, rv: u64, initial_end: bool) {
        if self.protobuf {
            let mut line = BytesMut::new();
            self.bookmark_json(&mut line, rv, initial_end);
            negotiate::line_to_frame(&line, out);
        } else {
            self.bookmark_json(out, rv, initial_end);
        }
    }

    fn put_json(&self, out: &mut BytesMut, kind: &str, obj: &Obj) {
        if let Some(include) = self.table {
            let first = !self.table_started.replace(true);
            let t = super::table::table(&self.info, serde_json::json!({}), &[Arc::new(obj.clone())], include, first);
            out.put_slice(b"{\"type\":\"");
            out.put_slice(kind.as_bytes());
            out.put_slice(b"\",\"object\":");
            out.put_slice(t.to_string().as_bytes());
            out.put_slice(b"}\n");
            return;
        }
        if self.partial {
            out.put_slice(b"{\"type\":\"");
            out.put_slice(kind.as_bytes());
            out.put_slice(b"\",\"object\":");
            super::store::put_partial(out, obj);
            out.put_slice(b"}\n");
            return;
        }
        put_event_line(out, kind, &self.prefix, &obj.body);
    }

    fn bookmark_json(&self, out: &mut BytesMut, rv: u64, initial_end: bool) {
        if self.table.is_some() {
            let line = format!(
                "{{\"type\":\"BOOKMARK\",\"object\":{{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{{\"resourceVersion\":\"{rv}\"}},\"columnDefinitions\":null,\"rows\":null}}}}\n"
            );
            out.put_slice(line.as_bytes());
            return;
        }
        let (kind, api_version) = if self.partial {
            ("PartialObjectMetadata".to_string(), "meta.k8s.io/v1".to_string())
        } else {
            (self.info.api.kind.to_string(), self.info.api.api_version.to_string())
        };
        let annotations = if initial_end { ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}" } else { "" };
        let zero = if self.partial {
            ""
        } else if self.info.api.group.is_empty() && self.info.api.plural == "pods" {
            ",\"spec\":{\"containers\":null},\"status\":{}"
        } else if self.info.has_status() {
            ",\"spec\":{},\"status\":{}"
        } else {
            ""
        };
        let line = format!(
            "{{\"type\":\"BOOKMARK\",\"object\":{{\"kind\":{},\"apiVersion\":{},\"metadata\":{{\"resourceVersion\":\"{rv}\",\"creationTimestamp\":null{annotations}}}{zero}}}}}\n",
            serde_json::Value::String(kind),
            serde_json::Value::String(api_version),
        );
        out.put_slice(line.as_bytes());
    }
}

/// Which event (if any) a watcher with filter `pass` sees for a change.
fn translate(ev: &Event, pass: &dyn Fn(&Obj) -> bool) -> Option<&'static str> {
    match ev.kind {
        EventKind::Added => pass(&ev.obj).then_some("ADDED"),
        EventKind::Deleted => pass(&ev.obj).then_some("DELETED"),
        EventKind::Modified => {
            let now = pass(&ev.obj);
            let before = ev.prev.as_deref().is_some_and(pass);
            match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
    }
}

fn too_old_line(rv: u64, oldest: u64) -> String {
    let mut s = Status::failure(410, ReasonKind::Expired, format!("too old resource version: {rv} ({oldest})"));
    s.details = None;
    format!("{{\"type\":\"ERROR\",\"object\":{}}}\n", serde_json::to_string(&s).unwrap_or_default())
}

/// Starts a watch.
pub async fn watch(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<http::Response<Body>> {
    let filter = Filter::parse(ctx, t)?;
    let rv = parse_rv(ctx.q("resourceVersion"))?;
    let send_initial = ctx.flag("sendInitialEvents");
    let rvm = ctx.q("resourceVersionMatch").filter(|m| !m.is_empty());
    let streaming = match rvm {
        Some("NotOlderThan") if send_initial => true,
        Some(_) => {
            let mut causes = Vec::new();
            if rv == Rv::Unset {
                causes.push((
                    "FieldValueForbidden".into(),
                    "resourceVersionMatch".into(),
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
                ));
            }
            causes.push((
                "FieldValueForbidden".into(),
                "resourceVersionMatch".into(),
                "Forbidden: resourceVersionMatch is forbidden for watch".into(),
            ));
            return Err(ApiError::invalid_options("ListOptions", causes));
        }
        None => false,
    };
    let timeout = ctx.q("timeoutSeconds").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let bookmarks = ctx.flag("allowWatchBookmarks");
    let name_only = t.name.clone();
    let pass = move |o: &Obj| filter.matches(o) && name_only.as_ref().is_none_or(|n| &o.name == n);
    let output = negotiate::output_of(ctx, &t.info);
    let fmt = Formatter {
        partial: ctx.wants_partial(),
        table: ctx.wants_table(),
        table_started: std::cell::Cell::new(false),
        prefix: type_prefix(&t.info.api.kind, &t.info.api.api_version),
        info: t.info.clone(),
        protobuf: output == Output::Protobuf,
        shared: shared.clone(),
    };
    // Only the objects are taken under the store's lock (reference counts); the watch's own
    // task formats them, chunk by chunk, so the first events reach the client while the rest
    // are still being written and other requests are not held up meanwhile.
    let mut initial: Vec<(&'static str, Arc<Obj>)> = Vec::new();
    let (id, rx, min_rv, initial_end_rv) = {
        let mut st = shared.state.lock();
        let current = st.store.rv;
        let mut min_rv = 0;
        match (rv, streaming) {
            (Rv::Unset | Rv::Zero, _) | (_, true) => {
                for o in st.store.snapshot(&t.res, t.ns.as_deref(), current, None).unwrap_or_default() {
                    if pass(&o) {
                        initial.push(("ADDED", o));
                    }
                }
            }
            (Rv::At(n), false) if n > current => min_rv = n,
            (Rv::At(n), false) => match st.store.events_after(&t.res, n) {
                Ok(evs) => {
                    for ev in evs {
                        if let Some(kind) = translate(&ev, &pass) {
                            initial.push((kind, ev.obj.clone()));
                        }
                    }
                }
                Err(_) => {
                    let line = too_old_line(n, st.store.compacted + 1);
                    return Ok(negotiate::single_event(output, line.as_bytes()));
                }
            },
        }
        let (id, rx, closed) = st.store.add_watcher(&t.res);
        (id, (rx, closed), min_rv, current)
    };
    let initial = Initial { events: initial, end_bookmark: streaming.then_some(initial_end_rv) };
    let (tx, body_rx) = mpsc::channel::<Bytes>(16);
    let shared2 = shared.clone();
    let res = t.res.clone();
    let opts = WatchOpts { timeout, bookmarks, min_rv };
    tokio::spawn(async move {
        run(&shared2, fmt, pass, rx, tx, initial, opts).await;
        if let Some(ws) = shared2.state.lock().store.watchers.get_mut(&res) {
            ws.retain(|w| w.id != id);
        }
    });
    let content_type = match output {
        Output::Json => "application/json",
        Output::Protobuf => negotiate::PROTOBUF_WATCH,
    };
    Ok(response(200, content_type, Body::Chan(body_rx)))
}

/// What a watch sends before its live events: the initial events (the snapshot's objects as
/// ADDED, or the history after the requested resourceVersion), then, for a streaming list, the
/// bookmark that ends the initial events.
struct Initial {
    events: Vec<(&'static str, Arc<Obj>)>,
    end_bookmark: Option<u64>,
}

struct WatchOpts {
    timeout: i64,
    bookmarks: bool,
    min_rv: u64,
}

async fn run(
    shared: &Arc<Shared>,
    fmt: Formatter,
    pass: impl Fn(&Obj) -> bool,
    (mut rx, closed): (mpsc::Receiver<Arc<Event>>, CancellationToken),
    tx: mpsc::Sender<Bytes>,
    initial: Initial,
    o: WatchOpts,
) {
    let mut epoch = shared.watch_epoch.subscribe();
    epoch.borrow_and_update();
    let mut stalled = shared.stalled.subscribe();
    // Initial events, formatted and sent in chunks of about BATCH bytes; each object's
    // reference is dropped once it is written.
    let mut out = BytesMut::new();
    // Each chunk sized once, for what is left of the events (a few for a small watch): growing
    // it by doubling would copy every byte again, and its large steps are fresh mappings.
    let mut left: usize = initial.events.iter().map(|(_, obj)| obj.body.len() + 64).sum();
    for (kind, obj) in initial.events {
        if out.is_empty() {
            out.reserve(left.min(BATCH) + obj.body.len() + 128);
        }
        left = left.saturating_sub(obj.body.len() + 64);
        fmt.put(&mut out, kind, &obj);
        if out.len() >= BATCH && !deliver(&tx, &closed, out.split().freeze()).await {
            return;
        }
    }
    if let Some(rv) = initial.end_bookmark {
        fmt.bookmark(&mut out, rv, true);
    }
    if !out.is_empty() && !deliver(&tx, &closed, out.split().freeze()).await {
        return;
    }
    if o.timeout < 0 {
        return;
    }
    let start = Instant::now();
    let deadline = (o.timeout > 0).then(|| start + Duration::from_secs(o.timeout as u64));
    let interval = shared.opts.bookmark_interval;
    let mut next_bookmark = start + interval;
    let mut final_bookmark = deadline.filter(|_| o.timeout > 2).map(|d| d - Duration::from_secs(2));
    let far = start + Duration::from_secs(86400 * 365);
    loop {
        let is_stalled = *stalled.borrow_and_update();
        let bookmark_at =
            if o.bookmarks { final_bookmark.map_or(next_bookmark, |f| f.min(next_bookmark)) } else { far };
        tokio::select! {
            biased;
            _ = closed.cancelled() => return,
            _ = epoch.changed() => return,
            _ = tx.closed() => return,
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => return,
            _ = stalled.changed() => continue,
            _ = tokio::time::sleep_until(bookmark_at), if !is_stalled => {
                let now = Instant::now();
                if final_bookmark.is_some_and(|f| f <= now) {
                    final_bookmark = None;
                }
                if next_bookmark <= now {
                    next_bookmark = now + interval;
                }
                let rv = shared.state.lock().store.rv;
                while let Ok(ev) = rx.try_recv() {
                    push(&fmt, &pass, &ev, o.min_rv, &mut out);
                }
                if rv >= o.min_rv {
                    fmt.bookmark(&mut out, rv, false);
                }
                if !deliver(&tx, &closed, out.split().freeze()).await {
                    return;
                }
            }
            ev = rx.recv(), if !is_stalled => {
                let Some(ev) = ev else { return };
                // Size the frame once: growing it by doubling would copy every byte again.
                let hint = ev.obj.body.len() + 128;
                out.reserve(if rx.is_empty() { hint } else { BATCH + hint });
                push(&fmt, &pass, &ev, o.min_rv, &mut out);
                while out.len() < BATCH {
                    match rx.try_recv() {
                        Ok(ev) => push(&fmt, &pass, &ev, o.min_rv, &mut out),
                        Err(_) => break,
                    }
                }
                if !out.is_empty() && !deliver(&tx, &closed, out.split().freeze()).await {
                    return;
                }
            }
        }
    }
}

/// Hands a chunk to the response body; false when the client is gone or the watcher was
/// closed meanwhile (a client that stopped reading must not keep the watcher alive).
async fn deliver(tx: &mpsc::Sender<Bytes>, closed: &CancellationToken, chunk: Bytes) -> bool {
    tokio::select! {
        biased;
        _ = closed.cancelled() => false,
        sent = tx.send(chunk) => sent.is_ok(),
    }
}

fn push(fmt: &Formatter, pass: &impl Fn(&Obj) -> bool, ev: &Event, min_rv: u64, out: &mut BytesMut) {
    if ev.rv() <= min_rv {
        return;
    }
    if let Some(kind) = translate(ev, pass) {
        fmt.put(out, kind, &ev.obj);
    }
}
