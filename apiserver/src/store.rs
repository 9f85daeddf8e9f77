//! Storage of the embedded API server: objects kept as pre-serialized JSON next to the parsed
//! metadata that lists, selectors and watches need, one global resourceVersion counter (like an
//! etcd revision) and a bounded history of changes (like the watch cache) for watch resumption
//! and consistent paginated lists.
//!
//! Contract:
//! - Every committed change gets the next resourceVersion; the history holds every change with
//!   an RV greater than [`Store::compacted`]. Older states answer 410.
//! - An object's `body` is its JSON without `kind`/`apiVersion`, beginning `{"metadata":{`, so a
//!   list item, a watch event or a metadata-only view is built by concatenating bytes.
//! - Watchers are fed under the store lock, so each receives every later change exactly once,
//!   in RV order, after the replay computed under the same lock. A watcher's queue holds at
//!   most [`Store::watch_queue_limit`] events: a watcher that would need more is closed (its
//!   token cancelled, its queue dropped) instead of buffering without bound.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::field_selectors::{render, SelectableField};

/// Identifies a storage table: `(group, plural)`; every version of a resource shares it.
pub type ResKey = (String, String);
/// Identifies an object in a table: `(namespace, name)`; namespace is empty at cluster scope.
pub type ObjKey = (String, String);

/// The opening of every stored body.
pub(crate) const META_OPEN: &[u8] = b"{\"metadata\":";

/// One stored object.
#[derive(Debug, Clone)]
pub struct Obj {
    /// Namespace (empty for cluster-scoped objects).
    pub ns: String,
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// resourceVersion.
    pub rv: u64,
    /// Labels (for label selectors); shared between the versions of an object that only differ
    /// in resourceVersion.
    pub labels: Arc<BTreeMap<String, String>>,
    /// Values of the resource's selectable fields (beyond metadata.name/namespace), by selector
    /// name.
    pub fields: Arc<Vec<(&'static str, String)>>,
    /// JSON without kind/apiVersion; begins with `{"metadata":`.
    pub body: Bytes,
    /// `body[META_OPEN.len()..meta_end]` is the metadata object.
    pub meta_end: usize,
    /// Byte range of the resourceVersion digits in `body`.
    pub rv_pos: (usize, usize),
}

impl Obj {
    /// The key of this object.
    pub fn key(&self) -> ObjKey {
        (self.ns.clone(), self.name.clone())
    }

    /// The metadata JSON.
    pub fn metadata(&self) -> &[u8] {
        &self.body[META_OPEN.len()..self.meta_end]
    }

    /// Parses the body (kind/apiVersion absent).
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The same object at another resourceVersion (only the digits in the body change).
    pub fn with_rv(&self, rv: u64) -> Obj {
        let digits = rv.to_string();
        let (s, e) = self.rv_pos;
        let mut b = BytesMut::with_capacity(self.body.len() + 4);
        b.put_slice(&self.body[..s]);
        b.put_slice(digits.as_bytes());
        b.put_slice(&self.body[e..]);
        let shift = digits.len() as isize - (e - s) as isize;
        Obj {
            ns: self.ns.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            rv,
            labels: self.labels.clone(),
            fields: self.fields.clone(),
            body: b.freeze(),
            meta_end: (self.meta_end as isize + shift) as usize,
            rv_pos: (s, s + digits.len()),
        }
    }

    /// The value of a selectable field, by selector name.
    pub fn field(&self, path: &str) -> Option<String> {
        match path {
            "metadata.name" => Some(self.name.clone()),
            "metadata.namespace" => Some(self.ns.clone()),
            _ => self.fields.iter().find(|(p, _)| *p == path).map(|(_, v)| v.clone()),
        }
    }
}

/// Order of ObjectMeta fields as the API server writes them.
const META_ORDER: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn write_json(out: &mut Vec<u8>, v: &Value) {
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

fn write_key(out: &mut Vec<u8>, k: &str) {
    let _ = serde_json::to_writer(&mut *out, k);
    out.push(b':');
}

/// Reads a dotted path (`spec.nodeName`) as the string a field selector compares with.
pub(crate) fn field_string(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for seg in path.split('.') {
        cur = cur.get(seg)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Serializes an object (kind/apiVersion are dropped; resourceVersion is set to `rv`).
pub fn encode(value: &Value, rv: u64, selectable: &[SelectableField]) -> Obj {
    let empty = Map::new();
    let obj = value.as_object().unwrap_or(&empty);
    let meta = obj.get("metadata").and_then(Value::as_object).unwrap_or(&empty);
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(META_OPEN);
    out.push(b'{');
    let mut first = true;
    let mut rv_pos = (0, 0);
    let mut emit = |out: &mut Vec<u8>, k: &str, v: Option<&Value>, first: &mut bool| {
        if !*first {
            out.push(b',');
        }
        *first = false;
        write_key(out, k);
        if k == "resourceVersion" {
            out.push(b'"');
            let s = out.len();
            out.extend_from_slice(rv.to_string().as_bytes());
            rv_pos = (s, out.len());
            out.push(b'"');
        } else if let Some(v) = v {
            write_json(out, v);
        }
    };
    for k in META_ORDER {
        if *k == "resourceVersion" {
            emit(&mut out, k, None, &mut first);
        } else if let Some(v) = meta.get(*k) {
            if !v.is_null() {
                emit(&mut out, k, Some(v), &mut first);
            }
        }
    }
    for (k, v) in meta {
        if !META_ORDER.contains(&k.as_str()) && !v.is_null() {
            emit(&mut out, k, Some(v), &mut first);
        }
    }
    out.push(b'}');
    let meta_end = out.len();
    for (k, v) in obj {
        if matches!(k.as_str(), "metadata" | "kind" | "apiVersion" | "status") {
            continue;
        }
        out.push(b',');
        write_key(&mut out, k);
        write_json(&mut out, v);
    }
    if let Some(st) = obj.get("status") {
        out.push(b',');
        write_key(&mut out, "status");
        write_json(&mut out, st);
    }
    out.push(b'}');
    let s = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let labels = meta
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    let fields = selectable.iter().map(|f| (f.name, render(f, field_string(value, f.path)))).collect();
    Obj {
        ns: s("namespace"),
        name: s("name"),
        uid: s("uid"),
        rv,
        labels: Arc::new(labels),
        fields: Arc::new(fields),
        body: Bytes::from(out),
        meta_end,
        rv_pos,
    }
}

/// A JSON object key, borrowed from the input unless it contains escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of a JSON object in input order, values left unparsed.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some((k, v)) = m.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k.0, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Entries<'a> {
    fn parse(raw: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(raw)
    }
    fn get(&self, k: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| *v)
    }
}

/// The string a field selector compares with, from an unparsed scalar (`None` for
/// objects, arrays and null).
fn raw_scalar(v: &RawValue) -> Option<String> {
    let s = v.get();
    match s.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(s).ok(),
        b't' | b'f' | b'-' | b'0'..=b'9' => Some(s.to_string()),
        _ => None,
    }
}

/// Stores pre-serialized JSON without building a `Value`: only the object's members and its
/// metadata are split (values stay raw bytes), and the output is spliced together. For the
/// same object it produces the same bytes as [`encode`] when the input is compact with sorted
/// keys (as `serde_json` writes a `Value`); otherwise member order and any whitespace inside
/// values are kept. `defaults` are metadata strings set when absent (uid, creationTimestamp).
pub fn encode_bytes(
    raw: &[u8],
    rv: u64,
    selectable: &[SelectableField],
    defaults: &[(&str, &str)],
) -> Result<Obj, serde_json::Error> {
    let text = std::str::from_utf8(raw).map_err(|e| de::Error::custom(format!("the object is not UTF-8: {e}")))?;
    let top = Entries::parse(text)?;
    let meta = match top.get("metadata") {
        Some(m) if m.get().starts_with('{') => Entries::parse(m.get())?,
        _ => Entries(Vec::new()),
    };
    let mut out = Vec::with_capacity(raw.len() + 128);
    out.extend_from_slice(META_OPEN);
    out.push(b'{');
    let mut first = true;
    let mut rv_pos = (0, 0);
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    let is_null = |v: &RawValue| v.get() == "null";
    for k in META_ORDER {
        if *k == "resourceVersion" {
            sep(&mut out);
            out.extend_from_slice(b"\"resourceVersion\":\"");
            let s = out.len();
            out.extend_from_slice(rv.to_string().as_bytes());
            rv_pos = (s, out.len());
            out.push(b'"');
        } else if let Some(v) = meta.get(k).filter(|v| !is_null(v)) {
            sep(&mut out);
            write_key(&mut out, k);
            out.extend_from_slice(v.get().as_bytes());
        } else if let Some((_, d)) = defaults.iter().find(|(dk, _)| dk == k) {
            sep(&mut out);
            write_key(&mut out, k);
            let _ = serde_json::to_writer(&mut out, d);
        }
    }
    for (k, v) in &meta.0 {
        if !META_ORDER.contains(&k.as_ref()) && !is_null(v) {
            sep(&mut out);
            write_key(&mut out, k);
            out.extend_from_slice(v.get().as_bytes());
        }
    }
    out.push(b'}');
    let meta_end = out.len();
    for (k, v) in &top.0 {
        if matches!(k.as_ref(), "metadata" | "kind" | "apiVersion" | "status") {
            continue;
        }
        out.push(b',');
        write_key(&mut out, k);
        out.extend_from_slice(v.get().as_bytes());
    }
    if let Some(st) = top.get("status") {
        out.extend_from_slice(b",\"status\":");
        out.extend_from_slice(st.get().as_bytes());
    }
    out.push(b'}');
    let meta_string = |k: &str| -> Result<String, serde_json::Error> {
        match meta.get(k) {
            Some(v) if v.get().starts_with('"') => serde_json::from_str(v.get()),
            _ => Ok(defaults.iter().find(|(dk, _)| *dk == k).map(|(_, d)| d.to_string()).unwrap_or_default()),
        }
    };
    let labels = match meta.get("labels") {
        Some(l) if l.get().starts_with('{') => {
            Entries::parse(l.get())?.0.into_iter().filter_map(|(k, v)| Some((k.into_owned(), raw_scalar(v)?))).collect()
        }
        _ => BTreeMap::new(),
    };
    // Selectable fields: each first-level member is split once.
    let mut parsed: Vec<(&str, Entries)> = Vec::new();
    let mut fields = Vec::with_capacity(selectable.len());
    for field in selectable {
        let segs: Vec<&'static str> = field.path.split('.').collect();
        let value = match segs.as_slice() {
            [] => None,
            [one] => top.get(one),
            [head, second, deeper @ ..] => {
                let idx = match parsed.iter().position(|(h, _)| h == head) {
                    Some(i) => i,
                    None => {
                        let e = match top.get(head) {
                            Some(v) if v.get().starts_with('{') => Entries::parse(v.get())?,
                            _ => Entries(Vec::new()),
                        };
                        parsed.push((head, e));
                        parsed.len() - 1
                    }
                };
                let mut node = parsed.get(idx).and_then(|(_, e)| e.get(second));
                for seg in deeper {
                    node = match node {
                        Some(n) if n.get().starts_with('{') => Entries::parse(n.get())?.get(seg),
                        _ => None,
                    };
                }
                node
            }
        };
        fields.push((field.name, render(field, value.and_then(raw_scalar))));
    }
    Ok(Obj {
        ns: meta_string("namespace")?,
        name: meta_string("name")?,
        uid: meta_string("uid")?,
        rv,
        labels: Arc::new(labels),
        fields: Arc::new(fields),
        body: Bytes::from(out),
        meta_end,
        rv_pos,
    })
}

/// The kind of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Which table.
    pub res: ResKey,
    /// The new state (for Deleted: the last state, at the deletion's RV).
    pub obj: Arc<Obj>,
    /// The state before (None for Added).
    pub prev: Option<Arc<Obj>>,
}

impl Event {
    /// The event's resourceVersion.
    pub fn rv(&self) -> u64 {
        self.obj.rv
    }
}

/// `{"kind":K,"apiVersion":AV,` — the typed opening of an object.
pub fn type_prefix(kind: &str, api_version: &str) -> Bytes {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(b"{\"kind\":");
    write_json(&mut out, &Value::String(kind.to_string()));
    out.extend_from_slice(b",\"apiVersion\":");
    write_json(&mut out, &Value::String(api_version.to_string()));
    out.push(b',');
    Bytes::from(out)
}

/// Appends the object typed with `prefix` (from [`type_prefix`]).
pub fn put_typed(out: &mut BytesMut, prefix: &[u8], body: &[u8]) {
    out.put_slice(prefix);
    out.put_slice(body.get(1..).unwrap_or_default());
}

/// Appends one watch line.
pub fn put_event_line(out: &mut BytesMut, kind: &str, prefix: &[u8], body: &[u8]) {
    out.put_slice(b"{\"type\":\"");
    out.put_slice(kind.as_bytes());
    out.put_slice(b"\",\"object\":");
    put_typed(out, prefix, body);
    out.put_slice(b"}\n");
}

/// Appends a metadata-only (`PartialObjectMetadata`) view of an object.
pub fn put_partial(out: &mut BytesMut, obj: &Obj) {
    out.put_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
    out.put_slice(obj.metadata());
    out.put_slice(b"}");
}

/// One table of objects.
#[derive(Debug, Default)]
pub struct Table {
    /// Objects by key, in key order.
    pub objects: BTreeMap<ObjKey, Arc<Obj>>,
    /// Typed opening for event lines (`{"kind":..,"apiVersion":..,`).
    pub prefix: Bytes,
}

impl Table {
    /// The objects of one namespace (empty: the cluster-scoped ones), in name order: a range
    /// of [`Table::objects`], whose keys are ordered by namespace first.
    pub fn in_namespace<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a Arc<Obj>> + 'a {
        self.objects.range((ns.to_string(), String::new())..).take_while(move |(k, _)| k.0 == ns).map(|(_, o)| o)
    }
}

/// A registered watcher.
#[derive(Debug)]
pub struct WatcherTx {
    /// Id (for removal).
    pub id: u64,
    /// Where events go (bounded by [`Store::watch_queue_limit`]).
    pub tx: mpsc::Sender<Arc<Event>>,
    /// Cancelled when the watcher fell too far behind and was closed.
    pub closed: CancellationToken,
}

/// Why a historical state cannot be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryError {
    /// The RV is older than the history.
    Compacted,
    /// The RV is in the future.
    Future,
}

/// All objects, the RV counter and the history.
#[derive(Debug)]
pub struct Store {
    /// Current resourceVersion (last committed change).
    pub rv: u64,
    /// Tables.
    pub tables: HashMap<ResKey, Table>,
    /// Changes with RV > `compacted`, oldest first.
    pub history: VecDeque<Arc<Event>>,
    /// Maximum history length.
    pub history_limit: usize,
    /// Every change with RV <= this is forgotten.
    pub compacted: u64,
    /// Watchers by table.
    pub watchers: HashMap<ResKey, Vec<WatcherTx>>,
    /// The most events one watcher may have queued; a watcher that falls further behind is
    /// closed.
    pub watch_queue_limit: usize,
    next_watcher: u64,
}

impl Store {
    /// An empty store.
    pub fn new(history_limit: usize) -> Self {
        Store {
            rv: 1,
            tables: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 1,
            watchers: HashMap::new(),
            watch_queue_limit: super::limits::DEFAULT_WATCH_QUEUE,
            next_watcher: 1,
        }
    }

    /// Makes sure a table exists (the prefix is used for event lines).
    pub fn ensure_table(&mut self, res: &ResKey, prefix: Bytes) {
        let t = self.tables.entry(res.clone()).or_default();
        if t.prefix.is_empty() {
            t.prefix = prefix;
        }
    }

    /// Drops a table (CRD deletion); open watchers on it are closed.
    pub fn drop_table(&mut self, res: &ResKey) {
        self.tables.remove(res);
        self.watchers.remove(res);
    }

    /// Looks an object up.
    pub fn get(&self, res: &ResKey, ns: &str, name: &str) -> Option<Arc<Obj>> {
        self.tables.get(res)?.objects.get(&(ns.to_string(), name.to_string())).cloned()
    }

    /// The next resourceVersion (not yet committed).
    pub fn next_rv(&self) -> u64 {
        self.rv + 1
    }

    /// Commits a change: `obj` must carry `self.next_rv()`. For `Deleted`, `obj` is the final
    /// state at the deletion RV.
    pub fn commit(&mut self, res: &ResKey, kind: EventKind, obj: Obj) -> Arc<Event> {
        let ev = self.commit_quiet(res, kind, obj);
        self.notify(res, std::slice::from_ref(&ev));
        ev
    }

    /// [`Store::commit`] without telling the watchers; the caller must pass the events to
    /// [`Store::notify`], in order, before it releases the store (bulk writers notify in
    /// batches, so a watcher wakes once per batch instead of once per event).
    pub fn commit_quiet(&mut self, res: &ResKey, kind: EventKind, obj: Obj) -> Arc<Event> {
        self.rv = obj.rv.max(self.rv + 1);
        let obj = Arc::new(obj);
        let table = self.tables.entry(res.clone()).or_default();
        let key = obj.key();
        let prev = match kind {
            EventKind::Deleted => table.objects.remove(&key),
            _ => table.objects.insert(key, obj.clone()),
        };
        let ev = Arc::new(Event { kind, res: res.clone(), obj, prev });
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv();
            }
        }
        ev
    }

    /// Sends committed events of `res` to its watchers; closes the watchers whose queue is
    /// full.
    pub fn notify(&mut self, res: &ResKey, events: &[Arc<Event>]) {
        if let Some(ws) = self.watchers.get_mut(res) {
            ws.retain(|w| {
                events.iter().all(|ev| match w.tx.try_send(ev.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!("embedded API server: closing watcher {} that fell behind", w.id);
                        w.closed.cancel();
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                })
            });
        }
    }

    /// The number of open watchers.
    pub fn watcher_count(&self) -> usize {
        self.watchers.values().map(Vec::len).sum()
    }

    /// Forgets the whole history: every older RV now answers 410.
    pub fn compact_all(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Registers a watcher on a table: its id, its queue and the token cancelled when it is
    /// closed for falling behind.
    pub fn add_watcher(&mut self, res: &ResKey) -> (u64, mpsc::Receiver<Arc<Event>>, CancellationToken) {
        let (tx, rx) = mpsc::channel(self.watch_queue_limit.max(1));
        let closed = CancellationToken::new();
        let id = self.next_watcher;
        self.next_watcher += 1;
        self.watchers.entry(res.clone()).or_default().push(WatcherTx { id, tx, closed: closed.clone() });
        (id, rx, closed)
    }

    /// Closes every watcher (their streams end).
    pub fn drop_watchers(&mut self) {
        self.watchers.clear();
    }

    /// Changes to `res` with RV > `after`, oldest first.
    pub fn events_after(&self, res: &ResKey, after: u64) -> Result<Vec<Arc<Event>>, HistoryError> {
        if after < self.compacted {
            return Err(HistoryError::Compacted);
        }
        let start = self.history.partition_point(|e| e.rv() <= after);
        Ok(self.history.range(start..).filter(|e| &e.res == res).cloned().collect())
    }

    /// The objects of `res` (optionally in one namespace) at resourceVersion `at`, in key order,
    /// starting at key `from` (inclusive).
    pub fn snapshot(
        &self,
        res: &ResKey,
        ns: Option<&str>,
        at: u64,
        from: Option<&ObjKey>,
    ) -> Result<Vec<Arc<Obj>>, HistoryError> {
        if at > self.rv {
            return Err(HistoryError::Future);
        }
        let Some(table) = self.tables.get(res) else { return Ok(Vec::new()) };
        let in_range = |k: &ObjKey| ns.is_none_or(|n| k.0 == n) && from.is_none_or(|f| k >= f);
        let current = || -> Vec<Arc<Obj>> {
            let start = match (from, ns) {
                (Some(f), _) => f.clone(),
                (None, Some(n)) => (n.to_string(), String::new()),
                (None, None) => (String::new(), String::new()),
            };
            table
                .objects
                .range(start..)
                .take_while(|(k, _)| ns.is_none_or(|n| k.0 == n))
                .map(|(_, o)| o.clone())
                .collect()
        };
        if at == self.rv {
            return Ok(current());
        }
        let changed = self.events_after(res, at)?;
        if changed.is_empty() {
            return Ok(current());
        }
        // Undo the later changes: the state at `at` of a changed key is the `prev` of its
        // first later change.
        let mut overlay: BTreeMap<ObjKey, Option<Arc<Obj>>> = BTreeMap::new();
        for ev in &changed {
            let key = ev.obj.key();
            if in_range(&key) {
                overlay.entry(key).or_insert_with(|| ev.prev.clone());
            }
        }
        let skip: HashSet<&ObjKey> = overlay.keys().collect();
        let mut out: Vec<Arc<Obj>> = current().into_iter().filter(|o| !skip.contains(&o.key())).collect();
        out.extend(overlay.values().flatten().cloned());
        out.sort_by(|a, b| (&a.ns, &a.name).cmp(&(&b.ns, &b.name)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Selectable fields read from their own paths (`spec.hostNetwork` is a boolean).
    fn selectable(names: &[&'static str]) -> Vec<SelectableField> {
        use crate::field_selectors::FieldKind;
        names
            .iter()
            .map(|&name| SelectableField {
                name,
                path: name,
                kind: if name == "spec.hostNetwork" { FieldKind::Bool } else { FieldKind::Str },
            })
            .collect()
    }

    fn res() -> ResKey {
        (String::new(), "configmaps".into())
    }

    #[test]
    fn encode_orders_metadata_and_tracks_rv() {
        let v = json!({"kind":"Pod","apiVersion":"v1","status":{"phase":"Running"},"spec":{"nodeName":"n1"},
            "metadata":{"uid":"u","name":"p","namespace":"ns","labels":{"resourceVersion":"x"}}});
        let o = encode(&v, 42, &selectable(&["spec.nodeName", "status.phase", "spec.hostNetwork"]));
        let s = std::str::from_utf8(&o.body).unwrap();
        assert!(s.starts_with(r#"{"metadata":{"name":"p","namespace":"ns","uid":"u","resourceVersion":"42""#), "{s}");
        assert!(s.ends_with(r#""spec":{"nodeName":"n1"},"status":{"phase":"Running"}}"#), "{s}");
        assert_eq!(o.field("spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(o.field("status.phase").as_deref(), Some("Running"));
        assert_eq!(o.field("spec.hostNetwork").as_deref(), Some("false"), "an absent boolean is false");
        let o2 = o.with_rv(1234567);
        let v2: Value = serde_json::from_slice(&o2.body).unwrap();
        assert_eq!(v2["metadata"]["resourceVersion"], "1234567");
        assert_eq!(v2["metadata"]["labels"]["resourceVersion"], "x");
        let meta: Value = serde_json::from_slice(o2.metadata()).unwrap();
        assert_eq!(meta["name"], "p");
    }

    #[test]
    fn encode_bytes_matches_encode() {
        let paths =
            selectable(&["spec.nodeName", "spec.hostNetwork", "status.phase", "status.podIP", "involvedObject.kind"]);
        let mut pod = crate::seed::realistic_pod(3, "ns-\"q\"");
        pod["spec"]["hostNetwork"] = json!(true);
        pod["metadata"]["labels"]["n\u{e9}"] = json!("x\"y");
        for v in [pod, json!({"metadata":{"name":"a"}}), json!({"kind":"X","data":{"k":"v"},"metadata":null})] {
            let raw = serde_json::to_vec(&v).unwrap();
            let a = encode(&v, 77, &paths);
            let b = encode_bytes(&raw, 77, &paths, &[]).unwrap();
            assert_eq!(std::str::from_utf8(&a.body).unwrap(), std::str::from_utf8(&b.body).unwrap());
            assert_eq!((a.meta_end, a.rv_pos, &*a.labels, &*a.fields), (b.meta_end, b.rv_pos, &*b.labels, &*b.fields));
            assert_eq!((&a.ns, &a.name, &a.uid), (&b.ns, &b.name, &b.uid));
        }
        // Defaults fill missing metadata; present values win.
        let o = encode_bytes(
            br#"{"metadata":{"name":"a","uid":"mine"}}"#,
            5,
            &[],
            &[("uid", "u"), ("creationTimestamp", "t")],
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&o.body).unwrap(),
            r#"{"metadata":{"name":"a","uid":"mine","resourceVersion":"5","creationTimestamp":"t"}}"#
        );
        assert!(encode_bytes(b"[1]", 1, &[], &[]).is_err());
        assert!(encode_bytes(b"{\"metadata\":", 1, &[], &[]).is_err());
    }

    #[test]
    fn snapshots_undo_later_changes_and_compaction_forgets() {
        let mut s = Store::new(3);
        s.ensure_table(&res(), type_prefix("ConfigMap", "v1"));
        let mk = |name: &str, v: &str, rv| {
            encode(&json!({"metadata":{"name":name,"namespace":"d"},"data":{"v":v}}), rv, &[])
        };
        let a = mk("a", "1", s.next_rv());
        s.commit(&res(), EventKind::Added, a);
        let at = s.rv;
        let a2 = mk("a", "2", s.next_rv());
        s.commit(&res(), EventKind::Modified, a2);
        let b = mk("b", "1", s.next_rv());
        s.commit(&res(), EventKind::Added, b);
        let old = s.snapshot(&res(), Some("d"), at, None).unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].value()["data"]["v"], "1");
        assert_eq!(s.snapshot(&res(), None, s.rv, None).unwrap().len(), 2);
        assert_eq!(s.snapshot(&res(), None, s.rv + 1, None).unwrap_err(), HistoryError::Future);
        let c = mk("c", "1", s.next_rv());
        s.commit(&res(), EventKind::Added, c);
        assert!(s.snapshot(&res(), None, at, None).is_ok(), "every change after `at` is still known");
        let d = mk("d", "1", s.next_rv());
        s.commit(&res(), EventKind::Added, d);
        assert_eq!(s.snapshot(&res(), None, at, None).unwrap_err(), HistoryError::Compacted);
        assert_eq!(s.events_after(&res(), s.rv - 2).unwrap().len(), 2);
    }
}
