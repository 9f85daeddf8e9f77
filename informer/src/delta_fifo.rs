//! `DeltaFIFO`: a producer/consumer queue of per-key delta lists, with client-go's semantics.
//!
//! Contract (client-go's `tools/cache/delta_fifo.go`, with `EmitDeltaTypeReplaced` on):
//! - Each key holds the ordered list of [`Delta`]s that arrived for it since it was last popped.
//!   A key takes its place in line with its first delta and keeps it while more deltas arrive.
//! - [`pop`](DeltaFIFO::pop) removes the first key with its *whole* delta list and hands the
//!   list to a handler that runs under the queue lock (see [`crate::store`] for why).
//! - The only merge: when the two newest deltas of a key are both `Deleted`, they collapse into
//!   one, keeping the older unless the older is a [`DeltaObject::DeletedFinalStateUnknown`]
//!   tombstone, in which case the newer is kept.
//! - [`delete`](DeltaFIFO::delete) of a key that is neither queued nor known to `known_objects`
//!   adds nothing (it was presumably reported by a relist already).
//! - [`replace`](DeltaFIFO::replace) queues a `Replaced` delta for every listed object, then a
//!   `Deleted` tombstone for every queued key not listed (carrying the newest queued object) and
//!   for every key `known_objects` knows that is neither listed nor queued (carrying the known
//!   object).
//! - [`resync`](DeltaFIFO::resync) queues a `Sync` delta for every known key with nothing queued.
//! - [`has_synced`](DeltaFIFO::has_synced): true once as many pops happened as the first
//!   `replace` left keys in line, or at once when an add/update/delete came before any replace.
//! - [`close`](DeltaFIFO::close) wakes blocked pops; queued keys still drain, then pops return
//!   [`PopError::Closed`].
//! - The transformer, if set, is applied to every object entering through add/update/delete/
//!   replace (not to tombstones nor to `Sync` deltas, whose objects come from the cache).

use std::collections::VecDeque;

// foldhash instead of SipHash: keys are short `namespace/name` strings hashed several times
// per object (SipHash was ~15 % of the CPU applying a 10k-object list); seeded randomly per
// process, so collisions stay unpredictable.
use foldhash::{HashMap, HashMapExt, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use rudder_apimachinery::keys::key_of;
use rudder_apimachinery::meta::HasMetadata;
use tokio::sync::Notify;

use crate::store::{FifoError, KeyListerGetter, PopError, Popped, ProcessError, Queue, TransformFunc};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeltaType {
    /// Created (from a watch).
    Added,
    /// Changed (from a watch).
    Updated,
    /// Deleted (from a watch, or detected by a relist: then the object is a tombstone).
    Deleted,
    /// Listed by a relist (client-go's `Replaced`; the object may or may not be new).
    Replaced,
    /// Re-delivered by a periodic resync; nothing changed on the server.
    Sync,
}

/// The object a delta carries.
#[derive(Debug)]
pub enum DeltaObject<K> {
    /// The object as received.
    Object(Arc<K>),
    /// A deletion detected by a relist: the final state is unknown, `obj` is the last state
    /// known (client-go's `DeletedFinalStateUnknown`); `None` if the cache lost it too.
    DeletedFinalStateUnknown {
        /// The deleted object's key.
        key: String,
        /// The last known state, possibly stale.
        obj: Option<Arc<K>>,
    },
}

impl<K> Clone for DeltaObject<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Object(o) => Self::Object(o.clone()),
            Self::DeletedFinalStateUnknown { key, obj } => {
                Self::DeletedFinalStateUnknown { key: key.clone(), obj: obj.clone() }
            }
        }
    }
}

impl<K> DeltaObject<K> {
    /// The object, or the tombstone's last known object.
    pub fn object(&self) -> Option<&Arc<K>> {
        match self {
            Self::Object(o) => Some(o),
            Self::DeletedFinalStateUnknown { obj, .. } => obj.as_ref(),
        }
    }

    /// Whether this is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Self::DeletedFinalStateUnknown { .. })
    }
}

impl<K: HasMetadata> DeltaObject<K> {
    /// The key: the object's, or the tombstone's.
    pub fn key(&self) -> String {
        match self {
            Self::Object(o) => key_of(&**o),
            Self::DeletedFinalStateUnknown { key, .. } => key.clone(),
        }
    }
}

/// One change: its type and the object after it (client-go's `Delta`; `kind` is `Type`).
#[derive(Debug)]
pub struct Delta<K> {
    /// What happened.
    pub kind: DeltaType,
    /// The object.
    pub object: DeltaObject<K>,
}

impl<K> Clone for Delta<K> {
    fn clone(&self) -> Self {
        Self { kind: self.kind, object: self.object.clone() }
    }
}

impl<K> Delta<K> {
    /// A delta carrying `obj`.
    pub fn new(kind: DeltaType, obj: Arc<K>) -> Self {
        Self { kind, object: DeltaObject::Object(obj) }
    }
}

/// The deltas of one key, oldest first (`first()` is client-go's `Oldest`, `last()` `Newest`).
pub type Deltas<K> = Vec<Delta<K>>;

// One `Arc<str>` per queued key, shared by `items` and `queue`: a relist of N objects queues N
// keys at once, and every allocation made for them is freed when they are popped, leaving glibc
// free heap behind for as long as the process lives.
struct State<K> {
    items: HashMap<Arc<str>, Queued<K>>,
    queue: VecDeque<Arc<str>>,
    populated: bool,
    initial_population_count: usize,
    closed: bool,
}

/// Capacity (keys) an empty queue keeps; above it the tables are freed once the queue drains.
const IDLE_CAPACITY: usize = 1024;

impl<K> State<K> {
    /// Once the queue is empty, frees tables a relist grew far beyond what a quiet watch needs
    /// (after a relist of 100k objects, ~100 bytes an object that would otherwise stay
    /// allocated for good).
    fn release_spare_room(&mut self) {
        if self.queue.is_empty() && self.items.is_empty() && self.items.capacity() > IDLE_CAPACITY {
            self.items = HashMap::new();
            self.queue = VecDeque::new();
        }
    }

    fn has_synced(&self) -> bool {
        self.populated && self.initial_population_count == 0
    }

    /// Appends a delta for `key`, collapsing two consecutive deletions. Returns whether the
    /// key took a new place in line.
    fn queue_action(&mut self, key: &str, kind: DeltaType, object: DeltaObject<K>) -> bool {
        let delta = Delta { kind, object };
        if let Some(queued) = self.items.get_mut(key) {
            queued.push(delta);
            return false;
        }
        let key: Arc<str> = Arc::from(key);
        self.queue.push_back(key.clone());
        self.items.insert(key, Queued::One(delta));
        true
    }
}

/// The deltas queued for one key. Most keys never get a second delta before they are popped
/// (a relist queues one `Replaced` each), so one is held inline, without an allocation.
#[derive(Debug)]
enum Queued<K> {
    One(Delta<K>),
    More(Deltas<K>),
}

impl<K> Queued<K> {
    fn as_slice(&self) -> &[Delta<K>] {
        match self {
            Queued::One(d) => std::slice::from_ref(d),
            Queued::More(v) => v,
        }
    }

    /// Appends `delta`, collapsing two consecutive deletions.
    fn push(&mut self, delta: Delta<K>) {
        let mut deltas = match std::mem::replace(self, Queued::More(Vec::new())) {
            Queued::One(first) => {
                let mut v = vec![first];
                v.reserve_exact(1);
                v
            }
            Queued::More(v) => v,
        };
        deltas.push(delta);
        dedup_deltas(&mut deltas);
        *self = Queued::More(deltas);
    }
}

/// Collapses the two newest deltas if both are deletions (client-go's `dedupDeltas`).
fn dedup_deltas<K>(deltas: &mut Deltas<K>) {
    let n = deltas.len();
    if n < 2 || deltas[n - 1].kind != DeltaType::Deleted || deltas[n - 2].kind != DeltaType::Deleted {
        return;
    }
    if deltas[n - 2].object.is_tombstone() {
        // Keep the newer one: it carries more information than a tombstone.
        deltas.remove(n - 2);
    } else {
        deltas.truncate(n - 1);
    }
}

/// client-go's `DeltaFIFO`; see the module docs for the contract.
pub struct DeltaFIFO<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    known_objects: Option<Arc<dyn KeyListerGetter<K>>>,
    transformer: Option<TransformFunc<K>>,
}

impl<K> std::fmt::Debug for DeltaFIFO<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("DeltaFIFO").field("len", &s.queue.len()).field("closed", &s.closed).finish()
    }
}

impl<K: HasMetadata + Send + Sync + 'static> DeltaFIFO<K> {
    /// A FIFO consulting `known_objects` (the informer's indexer) for deletes, relists and
    /// resyncs. Without it, only queued keys are "known" and resync does nothing.
    pub fn new(known_objects: Option<Arc<dyn KeyListerGetter<K>>>) -> Self {
        Self {
            state: Mutex::new(State {
                items: HashMap::new(),
                queue: VecDeque::new(),
                populated: false,
                initial_population_count: 0,
                closed: false,
            }),
            notify: Notify::new(),
            known_objects,
            transformer: None,
        }
    }

    /// Sets the transformer applied to objects as they enter (see the module docs).
    pub fn with_transformer(mut self, transformer: TransformFunc<K>) -> Self {
        self.transformer = Some(transformer);
        self
    }

    fn transform(&self, key: &str, obj: Arc<K>) -> Result<Arc<K>, FifoError> {
        match &self.transformer {
            Some(t) => t(obj).map_err(|source| FifoError::Transform { key: key.to_string(), source }),
            None => Ok(obj),
        }
    }

    fn enqueue(&self, kind: DeltaType, obj: Arc<K>) -> Result<(), FifoError> {
        let key = key_of(&*obj);
        let obj = self.transform(&key, obj)?;
        {
            let mut st = self.state.lock();
            st.populated = true;
            st.queue_action(&key, kind, DeltaObject::Object(obj));
        }
        self.notify.notify_waiters();
        Ok(())
    }

    /// Queues an `Added` delta.
    pub fn add(&self, obj: Arc<K>) -> Result<(), FifoError> {
        self.enqueue(DeltaType::Added, obj)
    }

    /// Queues an `Updated` delta.
    pub fn update(&self, obj: Arc<K>) -> Result<(), FifoError> {
        self.enqueue(DeltaType::Updated, obj)
    }

    /// Queues a `Deleted` delta, unless the key is neither queued nor known.
    pub fn delete(&self, obj: Arc<K>) -> Result<(), FifoError> {
        let key = key_of(&*obj);
        let obj = self.transform(&key, obj)?;
        {
            let mut st = self.state.lock();
            st.populated = true;
            if !st.items.contains_key(key.as_str()) {
                let known = self.known_objects.as_ref().is_some_and(|k| k.get_by_key(&key).is_some());
                if !known {
                    return Ok(());
                }
            }
            st.queue_action(&key, DeltaType::Deleted, DeltaObject::Object(obj));
        }
        self.notify.notify_waiters();
        Ok(())
    }

    /// Queues a relist: `Replaced` for every listed object, then tombstones for what vanished.
    /// Transformation happens first, so a transform error leaves the FIFO unchanged.
    pub fn replace(&self, list: Vec<Arc<K>>, _resource_version: &str) -> Result<(), FifoError> {
        let list = list
            .into_iter()
            .map(|o| {
                let key = key_of(&*o);
                // The known object itself (the reflector reuses unchanged objects on a
                // relist) went through the transformer when it entered.
                let known = self.transformer.is_some()
                    && self
                        .known_objects
                        .as_ref()
                        .and_then(|k| k.get_by_key(&key))
                        .is_some_and(|k| Arc::ptr_eq(&k, &o));
                let o = if known { o } else { self.transform(&key, o)? };
                Ok((key, o))
            })
            .collect::<Result<Vec<_>, FifoError>>()?;
        {
            let mut st = self.state.lock();
            // Keys queued before this relist that the list does not contain get tombstones.
            // Only those are tracked (usually none): a set of every listed key would cost an
            // allocation per object for nothing.
            let queued_before = st.queue.len();
            let mut unlisted: HashSet<Arc<str>> = st.queue.iter().cloned().collect();
            let mut listed = 0;
            for (key, obj) in list {
                // A key counts once: when it takes its place, or when it was in line already.
                let new = st.queue_action(&key, DeltaType::Replaced, DeltaObject::Object(obj));
                if new || unlisted.remove(key.as_str()) {
                    listed += 1;
                }
            }
            // Queued keys that vanished: tombstone with the newest queued object.
            let vanished: Vec<(Arc<str>, Option<Arc<K>>)> = st
                .queue
                .iter()
                .take(queued_before)
                .filter(|k| unlisted.contains(&**k))
                .map(|k| {
                    let last = st.items.get(k).and_then(|q| q.as_slice().last());
                    (k.clone(), last.and_then(|d| d.object.object().cloned()))
                })
                .collect();
            let mut queued_deletions = vanished.len();
            for (key, obj) in vanished {
                let tombstone = DeltaObject::DeletedFinalStateUnknown { key: key.to_string(), obj };
                st.queue_action(&key, DeltaType::Deleted, tombstone);
            }
            // Known keys that vanished: tombstone with the known object. Every listed key has
            // its `Replaced` delta queued now, so "nothing queued" means "not listed" too.
            if let Some(known) = &self.known_objects {
                for key in known.list_keys() {
                    if st.items.get(key.as_str()).is_some_and(|q| !q.as_slice().is_empty()) {
                        continue;
                    }
                    let obj = known.get_by_key(&key);
                    if obj.is_none() {
                        tracing::debug!(%key, "key vanished from known objects during replace; tombstone without object");
                    }
                    queued_deletions += 1;
                    st.queue_action(
                        &key,
                        DeltaType::Deleted,
                        DeltaObject::DeletedFinalStateUnknown { key: key.clone(), obj },
                    );
                }
            }
            if !st.populated {
                st.populated = true;
                st.initial_population_count = listed + queued_deletions;
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    /// The known object's copy of `obj` when it is the same object at the same
    /// resourceVersion (see [`ReflectorStore::cached`](crate::reflector::ReflectorStore::cached)).
    pub(crate) fn cached(&self, obj: &K) -> Option<Arc<K>> {
        let known = self.known_objects.as_ref()?.get_by_key(&key_of(obj));
        crate::reflector::same_version(known, obj)
    }

    /// Queues a `Sync` delta for every known object whose key has nothing queued.
    pub fn resync(&self) -> Result<(), FifoError> {
        let Some(known) = &self.known_objects else { return Ok(()) };
        {
            let mut st = self.state.lock();
            for key in known.list_keys() {
                let Some(obj) = known.get_by_key(&key) else { continue };
                let id = key_of(&*obj);
                if st.items.get(id.as_str()).is_some_and(|q| !q.as_slice().is_empty()) {
                    continue;
                }
                st.queue_action(&id, DeltaType::Sync, DeltaObject::Object(obj));
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    /// Pops without waiting: `Err(process)` when nothing is queued and the FIFO is open.
    fn try_pop<E, F>(&self, process: F) -> Result<Result<(), PopError<E>>, F>
    where
        F: for<'a> FnOnce(Popped<'a, K>, bool) -> Result<(), ProcessError<E>>,
    {
        let mut st = self.state.lock();
        loop {
            let Some(key) = st.queue.pop_front() else {
                return if st.closed { Ok(Err(PopError::Closed)) } else { Err(process) };
            };
            let in_initial_list = !st.has_synced();
            if st.initial_population_count > 0 {
                st.initial_population_count -= 1;
            }
            let Some(deltas) = st.items.remove(&*key) else {
                tracing::error!(%key, "DeltaFIFO key was queued without deltas; skipped");
                continue;
            };
            st.release_spare_room();
            return Ok(match process(Popped::Deltas(deltas.as_slice()), in_initial_list) {
                Ok(()) => Ok(()),
                Err(ProcessError::Failed(e)) => Err(PopError::Failed(e)),
                Err(ProcessError::Requeue(e)) => {
                    // client-go's addIfNotPresent: back of the line.
                    st.populated = true;
                    if !st.items.contains_key(&*key) {
                        st.queue.push_back(key.clone());
                        st.items.insert(key, deltas);
                    }
                    drop(st);
                    self.notify.notify_waiters();
                    Err(PopError::Requeued(e))
                }
            });
        }
    }

    /// Waits for a key and hands its whole delta list (oldest first) to `process`, under the
    /// queue lock, with `is_in_initial_list`. See [`Queue::pop`].
    pub async fn pop<E, F>(&self, mut process: F) -> Result<(), PopError<E>>
    where
        F: for<'a> FnOnce(Popped<'a, K>, bool) -> Result<(), ProcessError<E>>,
    {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Register before looking, so a push between the look and the wait is not missed.
            notified.as_mut().enable();
            match self.try_pop(process) {
                Ok(r) => return r,
                Err(p) => process = p,
            }
            notified.await;
        }
    }

    /// See the module docs.
    pub fn has_synced(&self) -> bool {
        self.state.lock().has_synced()
    }

    /// Closes the FIFO and wakes blocked pops.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.notify.notify_waiters();
    }

    /// Whether the FIFO was closed.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Queued keys, in pop order.
    pub fn list_keys(&self) -> Vec<String> {
        self.state.lock().queue.iter().map(|k| k.to_string()).collect()
    }

    /// The deltas queued for `key` (a copy of the list; objects shared).
    pub fn get_by_key(&self, key: &str) -> Option<Deltas<K>> {
        self.state.lock().items.get(key).map(|q| q.as_slice().to_vec())
    }

    /// Number of queued keys.
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// Whether no key is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: HasMetadata + Send + Sync + 'static> Queue<K> for DeltaFIFO<K> {
    fn add(&self, obj: Arc<K>) -> Result<(), FifoError> {
        DeltaFIFO::add(self, obj)
    }
    fn update(&self, obj: Arc<K>) -> Result<(), FifoError> {
        DeltaFIFO::update(self, obj)
    }
    fn delete(&self, obj: Arc<K>) -> Result<(), FifoError> {
        DeltaFIFO::delete(self, obj)
    }
    fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), FifoError> {
        DeltaFIFO::replace(self, list, resource_version)
    }
    fn resync(&self) -> Result<(), FifoError> {
        DeltaFIFO::resync(self)
    }
    fn pop<E, F>(&self, process: F) -> impl std::future::Future<Output = Result<(), PopError<E>>> + Send
    where
        E: Send,
        F: for<'a> FnOnce(Popped<'a, K>, bool) -> Result<(), ProcessError<E>> + Send,
    {
        DeltaFIFO::pop(self, process)
    }
    fn has_synced(&self) -> bool {
        DeltaFIFO::has_synced(self)
    }
    fn close(&self) {
        DeltaFIFO::close(self)
    }
    fn is_closed(&self) -> bool {
        DeltaFIFO::is_closed(self)
    }
    fn len(&self) -> usize {
        DeltaFIFO::len(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indexer::Indexer;
    use crate::test_util::{obj, Obj};

    /// `(type, key, version or None for a tombstone without object, is tombstone)`.
    type Summary = (DeltaType, String, Option<u32>, bool);

    fn summarize(d: &[Delta<Obj>]) -> Vec<Summary> {
        d.iter().map(|d| (d.kind, d.object.key(), d.object.object().map(|o| o.v), d.object.is_tombstone())).collect()
    }

    fn s(kind: DeltaType, key: &str, v: Option<u32>, tomb: bool) -> Summary {
        (kind, key.to_string(), v, tomb)
    }

    async fn pop_one(f: &DeltaFIFO<Obj>) -> (Vec<Summary>, bool) {
        let mut out = None;
        f.pop(|p, initial| {
            if let Popped::Deltas(d) = p {
                out = Some((summarize(d), initial));
            }
            Ok::<(), ProcessError<()>>(())
        })
        .await
        .unwrap();
        out.unwrap()
    }

    fn known(objs: &[Arc<Obj>]) -> Arc<Indexer<Obj>> {
        let idx = Arc::new(Indexer::new());
        for o in objs {
            idx.add(o.clone()).unwrap();
        }
        idx
    }

    fn fifo_with(idx: &Arc<Indexer<Obj>>) -> DeltaFIFO<Obj> {
        DeltaFIFO::new(Some(idx.clone() as Arc<dyn KeyListerGetter<Obj>>))
    }

    fn tomb(key: &str, o: Option<Arc<Obj>>) -> DeltaObject<Obj> {
        DeltaObject::DeletedFinalStateUnknown { key: key.into(), obj: o }
    }

    #[test]
    fn dedup_of_consecutive_deletes() {
        use DeltaType::*;
        let a = |v| DeltaObject::Object(obj("ns", "a", v));
        type Case = (&'static str, Vec<(DeltaType, DeltaObject<Obj>)>, Vec<Summary>);
        let cases: Vec<Case> = vec![
            (
                "two deletes keep the older",
                vec![(Deleted, a(1)), (Deleted, a(2))],
                vec![s(Deleted, "ns/a", Some(1), false)],
            ),
            (
                "older tombstone yields to newer",
                vec![(Deleted, tomb("ns/a", None)), (Deleted, a(2))],
                vec![s(Deleted, "ns/a", Some(2), false)],
            ),
            (
                "newer tombstone yields to older",
                vec![(Deleted, a(1)), (Deleted, tomb("ns/a", Some(obj("ns", "a", 9))))],
                vec![s(Deleted, "ns/a", Some(1), false)],
            ),
            (
                "two tombstones keep the newer",
                vec![
                    (Deleted, tomb("ns/a", Some(obj("ns", "a", 1)))),
                    (Deleted, tomb("ns/a", Some(obj("ns", "a", 2)))),
                ],
                vec![s(Deleted, "ns/a", Some(2), true)],
            ),
            (
                "only the two newest merge",
                vec![(Added, a(1)), (Deleted, a(2)), (Deleted, a(3))],
                vec![s(Added, "ns/a", Some(1), false), s(Deleted, "ns/a", Some(2), false)],
            ),
            (
                "non-deletes never merge",
                vec![(Updated, a(1)), (Updated, a(2)), (Sync, a(3))],
                vec![
                    s(Updated, "ns/a", Some(1), false),
                    s(Updated, "ns/a", Some(2), false),
                    s(Sync, "ns/a", Some(3), false),
                ],
            ),
        ];
        for (name, input, want) in cases {
            let mut st = State {
                items: HashMap::new(),
                queue: VecDeque::new(),
                populated: false,
                initial_population_count: 0,
                closed: false,
            };
            for (k, o) in input {
                st.queue_action("ns/a", k, o);
            }
            assert_eq!(summarize(st.items["ns/a"].as_slice()), want, "{name}");
            assert_eq!(st.queue.len(), 1, "{name}");
        }
    }

    #[tokio::test]
    async fn key_keeps_its_place_and_pop_takes_the_whole_list() {
        let f = DeltaFIFO::new(None);
        f.add(obj("ns", "a", 1)).unwrap();
        f.add(obj("ns", "b", 1)).unwrap();
        f.update(obj("ns", "a", 2)).unwrap();
        f.delete(obj("ns", "b", 2)).unwrap();
        assert_eq!(f.list_keys(), ["ns/a", "ns/b"]);
        assert_eq!(f.get_by_key("ns/a").map(|d| d.len()), Some(2));
        use DeltaType::*;
        assert_eq!(pop_one(&f).await.0, [s(Added, "ns/a", Some(1), false), s(Updated, "ns/a", Some(2), false)]);
        f.add(obj("ns", "a", 3)).unwrap(); // back of the line now
        assert_eq!(pop_one(&f).await.0, [s(Added, "ns/b", Some(1), false), s(Deleted, "ns/b", Some(2), false)]);
        assert_eq!(pop_one(&f).await.0, [s(Added, "ns/a", Some(3), false)]);
        assert!(f.is_empty());
    }

    #[test]
    fn delete_of_unknown_key_adds_nothing() {
        // No known objects, nothing queued.
        let f = DeltaFIFO::new(None);
        f.delete(obj("ns", "a", 1)).unwrap();
        assert!(f.is_empty());
        // Known to the store.
        let idx = known(&[obj("ns", "a", 1)]);
        let f = fifo_with(&idx);
        f.delete(obj("ns", "b", 1)).unwrap();
        assert!(f.is_empty());
        f.delete(obj("ns", "a", 1)).unwrap();
        assert_eq!(f.list_keys(), ["ns/a"]);
        // Queued but unknown.
        let f = fifo_with(&idx);
        f.add(obj("ns", "c", 1)).unwrap();
        f.delete(obj("ns", "c", 2)).unwrap();
        assert_eq!(f.get_by_key("ns/c").unwrap().len(), 2);
    }

    #[tokio::test]
    async fn replace_emits_replaced_then_tombstones_for_queued_and_known_keys() {
        use DeltaType::*;
        let idx = known(&[obj("ns", "a", 1), obj("ns", "b", 1), obj("ns", "c", 1)]);
        let f = fifo_with(&idx);
        f.update(obj("ns", "b", 2)).unwrap(); // queued, vanishes
        f.add(obj("ns", "d", 1)).unwrap(); // queued only, vanishes
        f.delete(obj("ns", "e", 1)).unwrap(); // unknown: ignored
        f.replace(vec![obj("ns", "a", 5)], "10").unwrap();
        assert_eq!(f.list_keys(), ["ns/b", "ns/d", "ns/a", "ns/c"]);
        assert_eq!(pop_one(&f).await.0, [s(Updated, "ns/b", Some(2), false), s(Deleted, "ns/b", Some(2), true)]);
        assert_eq!(pop_one(&f).await.0, [s(Added, "ns/d", Some(1), false), s(Deleted, "ns/d", Some(1), true)]);
        assert_eq!(pop_one(&f).await.0, [s(Replaced, "ns/a", Some(5), false)]);
        assert_eq!(pop_one(&f).await.0, [s(Deleted, "ns/c", Some(1), true)]);
    }

    #[test]
    fn replace_tombstone_unwraps_a_queued_tombstone() {
        let f = DeltaFIFO::new(None);
        f.add(obj("ns", "a", 1)).unwrap();
        f.replace(vec![], "1").unwrap();
        f.replace(vec![], "2").unwrap();
        let d = f.get_by_key("ns/a").unwrap();
        // Second tombstone carries the object (not a tombstone of a tombstone) and replaced the first.
        assert_eq!(
            summarize(&d),
            [s(DeltaType::Added, "ns/a", Some(1), false), s(DeltaType::Deleted, "ns/a", Some(1), true)]
        );
    }

    #[test]
    fn resync_skips_keys_with_queued_deltas() {
        let idx = known(&[obj("ns", "a", 1), obj("ns", "b", 1)]);
        let f = fifo_with(&idx);
        f.update(obj("ns", "a", 2)).unwrap();
        f.resync().unwrap();
        assert_eq!(summarize(&f.get_by_key("ns/a").unwrap()), [s(DeltaType::Updated, "ns/a", Some(2), false)]);
        assert_eq!(summarize(&f.get_by_key("ns/b").unwrap()), [s(DeltaType::Sync, "ns/b", Some(1), false)]);
        // Without known objects resync does nothing.
        let f = DeltaFIFO::<Obj>::new(None);
        f.resync().unwrap();
        assert!(f.is_empty());
    }

    #[tokio::test]
    async fn has_synced_semantics() {
        // Nothing happened yet.
        assert!(!DeltaFIFO::<Obj>::new(None).has_synced());
        // Add before any replace: synced at once, and later replaces do not unsync.
        let f = DeltaFIFO::new(None);
        f.add(obj("ns", "a", 1)).unwrap();
        assert!(f.has_synced());
        f.replace(vec![obj("ns", "b", 1)], "1").unwrap();
        assert!(f.has_synced());
        // Replace first: synced after as many pops as keys it left (listed + deletions).
        let idx = known(&[obj("ns", "gone", 1)]);
        let f = fifo_with(&idx);
        f.replace(vec![obj("ns", "a", 1), obj("ns", "b", 1)], "1").unwrap();
        assert!(!f.has_synced());
        f.add(obj("ns", "c", 1)).unwrap(); // after the replace: not part of the initial list
        let mut initial = Vec::new();
        for _ in 0..3 {
            initial.push(pop_one(&f).await.1);
            assert_eq!(f.has_synced(), initial.len() == 3);
        }
        assert_eq!(initial, [true, true, true]);
        assert!(!pop_one(&f).await.1);
        // An empty first replace syncs at once.
        let f = DeltaFIFO::<Obj>::new(None);
        f.replace(vec![], "1").unwrap();
        assert!(f.has_synced());
    }

    #[tokio::test]
    async fn first_replace_counts_each_listed_key_once() {
        // `ns/a` is queued (by a resync) before the first replace and listed; `ns/b` is listed
        // twice: two keys in line, so the initial list is popped after two pops.
        let idx = known(&[obj("ns", "a", 1)]);
        let f = fifo_with(&idx);
        f.resync().unwrap();
        f.replace(vec![obj("ns", "a", 2), obj("ns", "b", 1), obj("ns", "b", 2)], "1").unwrap();
        assert_eq!(f.list_keys(), ["ns/a", "ns/b"]);
        assert!(!f.has_synced());
        assert_eq!(
            pop_one(&f).await,
            (vec![s(DeltaType::Sync, "ns/a", Some(1), false), s(DeltaType::Replaced, "ns/a", Some(2), false)], true)
        );
        assert!(!f.has_synced());
        assert_eq!(
            pop_one(&f).await.0,
            [s(DeltaType::Replaced, "ns/b", Some(1), false), s(DeltaType::Replaced, "ns/b", Some(2), false)]
        );
        assert!(f.has_synced());
    }

    #[tokio::test]
    async fn a_drained_queue_gives_back_the_room_a_relist_took() {
        let n = 4 * IDLE_CAPACITY;
        let f = DeltaFIFO::new(None);
        f.replace((0..n).map(|i| obj("ns", &format!("p{i}"), 1)).collect(), "1").unwrap();
        for _ in 0..n {
            pop_one(&f).await;
        }
        {
            let st = f.state.lock();
            assert!(st.items.capacity() <= IDLE_CAPACITY, "{}", st.items.capacity());
            assert!(st.queue.capacity() <= IDLE_CAPACITY, "{}", st.queue.capacity());
        }
        f.add(obj("ns", "x", 1)).unwrap();
        assert_eq!(pop_one(&f).await.0, [s(DeltaType::Added, "ns/x", Some(1), false)]);
    }

    #[tokio::test]
    async fn close_wakes_pops_and_queued_items_still_drain() {
        let f = Arc::new(DeltaFIFO::<Obj>::new(None));
        let waiter = {
            let f = f.clone();
            tokio::spawn(async move { f.pop(|_, _| Ok::<(), ProcessError<()>>(())).await })
        };
        tokio::task::yield_now().await;
        f.close();
        assert_eq!(waiter.await.unwrap(), Err(PopError::Closed));
        let f = DeltaFIFO::new(None);
        f.add(obj("ns", "a", 1)).unwrap();
        f.add(obj("ns", "b", 1)).unwrap();
        f.close();
        assert!(f.is_closed());
        assert_eq!(pop_one(&f).await.0[0].1, "ns/a");
        assert_eq!(pop_one(&f).await.0[0].1, "ns/b");
        assert_eq!(f.pop(|_, _| Ok::<(), ProcessError<()>>(())).await, Err(PopError::Closed));
    }

    #[tokio::test]
    async fn blocked_pop_wakes_on_add() {
        let f = Arc::new(DeltaFIFO::<Obj>::new(None));
        let waiter = {
            let f = f.clone();
            tokio::spawn(async move {
                let mut key = String::new();
                f.pop(|p, _| {
                    if let Popped::Deltas(d) = p {
                        key = d[0].object.key();
                    }
                    Ok::<(), ProcessError<()>>(())
                })
                .await
                .map(|_| key)
            })
        };
        tokio::task::yield_now().await;
        f.add(obj("ns", "a", 1)).unwrap();
        assert_eq!(waiter.await.unwrap().unwrap(), "ns/a");
    }

    #[tokio::test]
    async fn requeue_puts_the_deltas_back_at_the_end() {
        let f = DeltaFIFO::new(None);
        f.add(obj("ns", "a", 1)).unwrap();
        f.add(obj("ns", "b", 1)).unwrap();
        let r = f.pop(|_, _| Err(ProcessError::Requeue("try later"))).await;
        assert_eq!(r, Err(PopError::Requeued("try later")));
        assert_eq!(f.list_keys(), ["ns/b", "ns/a"]);
        let r = f.pop(|_, _| Err(ProcessError::Failed("broken"))).await;
        assert_eq!(r, Err(PopError::Failed("broken")));
        assert_eq!(f.list_keys(), ["ns/a"]);
    }

    #[tokio::test]
    async fn transformer_applies_on_entry_but_not_to_sync_or_tombstones() {
        let idx = known(&[obj("ns", "k", 1)]);
        let t: TransformFunc<Obj> = Arc::new(|o: Arc<Obj>| {
            if o.v == 666 {
                return Err("evil".into());
            }
            let mut c = (*o).clone();
            c.v += 100;
            Ok(Arc::new(c))
        });
        let f = fifo_with(&idx).with_transformer(t);
        f.add(obj("ns", "a", 1)).unwrap();
        f.resync().unwrap();
        assert_eq!(f.get_by_key("ns/a").unwrap()[0].object.object().unwrap().v, 101);
        assert_eq!(f.get_by_key("ns/k").unwrap()[0].object.object().unwrap().v, 1, "sync not transformed");
        assert!(
            matches!(f.replace(vec![obj("ns", "x", 1), obj("ns", "y", 666)], "1"), Err(FifoError::Transform { ref key, .. }) if key == "ns/y")
        );
        assert_eq!(f.list_keys(), ["ns/a", "ns/k"], "failed replace queued nothing");
        f.replace(vec![obj("ns", "a", 2)], "1").unwrap();
        let k = f.get_by_key("ns/k").unwrap();
        assert_eq!(k.last().unwrap().object.object().unwrap().v, 1, "tombstone object untouched");
    }

    #[test]
    fn a_relisted_known_object_is_not_transformed_again() {
        let meta = |name: &str| {
            let mut o = (*obj("ns", name, 1)).clone();
            o.metadata.resource_version = Some("7".into());
            o.metadata.uid = Some(format!("uid-{name}"));
            Arc::new(o)
        };
        let (cached, other) = (meta("k"), meta("j"));
        let idx = known(&[cached.clone(), other.clone()]);
        let t: TransformFunc<Obj> = Arc::new(|o: Arc<Obj>| {
            let mut c = (*o).clone();
            c.v += 100;
            Ok(Arc::new(c))
        });
        let f = fifo_with(&idx).with_transformer(t);
        // What the reflector does with a listed copy: the same version is the cached object.
        let listed = Arc::new((*cached).clone());
        let reused = f.cached(&listed).expect("same uid and resourceVersion");
        assert!(Arc::ptr_eq(&reused, &cached));
        let mut newer = (*other).clone();
        newer.metadata.resource_version = Some("8".into());
        assert!(f.cached(&newer).is_none(), "another resourceVersion is a new state");
        f.replace(vec![reused, Arc::new(newer)], "8").unwrap();
        assert_eq!(f.get_by_key("ns/k").unwrap()[0].object.object().unwrap().v, 1, "not transformed twice");
        assert_eq!(f.get_by_key("ns/j").unwrap()[0].object.object().unwrap().v, 101, "a new copy is transformed");
    }
}
