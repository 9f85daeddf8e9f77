//! `RealFIFO`: the in-order event queue (client-go's `RealFIFO` with atomic events, the default
//! queue of client-go's shared informers since 1.36; rudder's informers default to `DeltaFIFO`
//! and use this one with `InformerOptions { queue: QueueKind::RealFifo, .. }`).
//!
//! Contract:
//! - Every add/update/delete is kept as its own [`RealItem::Delta`], in arrival order; nothing
//!   is merged, deletes of unknown keys are kept too.
//! - A relist enters as ONE [`RealItem::ReplacedAll`] holding the listed objects and resource
//!   version; a resync as ONE [`RealItem::SyncAll`]. The consumer applies them atomically with
//!   [`ReplacedAll::apply`] / [`sync_all`](crate::store::sync_all): deletions are computed against
//!   the cache *when the item is popped* (so every earlier event has been applied), the cache is
//!   replaced, then the consumer dispatches the deletes, then the adds/updates in list order.
//! - [`pop`](RealFIFO::pop) hands out one item at a time, oldest first, under the queue lock.
//!   A handler asking to requeue puts the item back at the *front* (its place in line), so order
//!   is never broken.
//! - `has_synced`: true once every item queued up to and including the first `replace` has been
//!   processed (the count drops after the handler returns), or at once after an
//!   add/update/delete that came before any replace.
//! - `close` wakes blocked pops; queued items still drain, then pops return `Closed`.
//! - The transformer applies to every object entering through add/update/delete/replace.
//!
//! # DeltaFIFO or RealFIFO?
//! Pick [`RealFIFO`] when handlers must see every event in the order the server
//! sent it: each update of a hot object is delivered, and a relist is one consistent step
//! rather than a burst of per-key deltas interleaved with watch events. Memory grows with the
//! number of *events* queued, not keys. Pick [`DeltaFIFO`](crate::delta_fifo::DeltaFIFO) when
//! a slow consumer should see per-key batches instead (a key that changes 100 times while the
//! handler is busy is popped once with 100 deltas, queue length bounded by the number of keys),
//! or for compatibility with code written against client-go's older informers. rudder's
//! default is `DeltaFIFO` (`QueueKind::DeltaFifo`), which the benchmarks measure.

use std::collections::VecDeque;

// foldhash instead of SipHash: keys are short `namespace/name` strings hashed several times
// per object (SipHash was ~15 % of the CPU applying a 10k-object list); seeded randomly per
// process, so collisions stay unpredictable.
use foldhash::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use rudder_apimachinery::keys::key_of;
use rudder_apimachinery::meta::HasMetadata;
use tokio::sync::Notify;

use crate::delta_fifo::{Delta, DeltaObject, DeltaType};
use crate::indexer::IndexError;
use crate::store::{FifoError, PopError, Popped, ProcessError, Queue, Store, StoreChange, TransformFunc};

/// A relist, to be applied to the cache as one step (client-go's `ReplacedAllInfo`).
#[derive(Debug)]
pub struct ReplacedAll<K> {
    /// The list's resource version.
    pub resource_version: String,
    /// The listed objects, transformed, in list order.
    pub objects: Vec<Arc<K>>,
}

impl<K> Clone for ReplacedAll<K> {
    fn clone(&self) -> Self {
        Self { resource_version: self.resource_version.clone(), objects: self.objects.clone() }
    }
}

impl<K: HasMetadata> ReplacedAll<K> {
    /// Applies the relist to `store` (client-go's `processReplacedAllInfo` minus the handler
    /// calls) and returns what handlers must be told, in order: a `Deleted` tombstone (carrying
    /// the cached object) for every cached key not listed, sorted by key; then, in list order,
    /// `Updated{old,new}` for every listed key that was cached and `Added` for every other.
    /// The store holds exactly the listed objects afterwards. On an index error the store is
    /// unchanged.
    pub fn apply<S: Store<K> + ?Sized>(&self, store: &S) -> Result<Vec<StoreChange<K>>, IndexError> {
        let listed: HashSet<String> = self.objects.iter().map(|o| key_of(&**o)).collect();
        let mut gone: Vec<String> = store.list_keys().into_iter().filter(|k| !listed.contains(k)).collect();
        gone.sort_unstable();
        let mut changes = Vec::with_capacity(gone.len() + self.objects.len());
        for key in gone {
            let obj = store.get_by_key(&key);
            changes.push(StoreChange::Deleted(DeltaObject::DeletedFinalStateUnknown { key, obj }));
        }
        for o in &self.objects {
            changes.push(match store.get(o) {
                Some(old) => StoreChange::Updated { old, new: o.clone() },
                None => StoreChange::Added(o.clone()),
            });
        }
        store.replace(self.objects.clone(), &self.resource_version)?;
        Ok(changes)
    }
}

/// One queued RealFIFO item.
#[derive(Debug)]
pub enum RealItem<K> {
    /// One add/update/delete, as it arrived.
    Delta(Delta<K>),
    /// One relist.
    ReplacedAll(ReplacedAll<K>),
    /// One resync.
    SyncAll,
}

struct State<K> {
    items: VecDeque<RealItem<K>>,
    populated: bool,
    initial_population_count: usize,
    closed: bool,
}

impl<K> State<K> {
    fn has_synced(&self) -> bool {
        self.populated && self.initial_population_count == 0
    }
}

/// client-go's `RealFIFO` (atomic events); see the module docs for the contract.
pub struct RealFIFO<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    transformer: Option<TransformFunc<K>>,
}

impl<K> std::fmt::Debug for RealFIFO<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("RealFIFO").field("len", &s.items.len()).field("closed", &s.closed).finish()
    }
}

impl<K: HasMetadata + Send + Sync + 'static> Default for RealFIFO<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: HasMetadata + Send + Sync + 'static> RealFIFO<K> {
    /// An empty, open FIFO. It needs no view of the cache: relists and resyncs are resolved
    /// against the cache by the consumer.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                populated: false,
                initial_population_count: 0,
                closed: false,
            }),
            notify: Notify::new(),
            transformer: None,
        }
    }

    /// Sets the transformer applied to objects as they enter.
    pub fn with_transformer(mut self, transformer: TransformFunc<K>) -> Self {
        self.transformer = Some(transformer);
        self
    }

    fn transform(&self, obj: Arc<K>) -> Result<Arc<K>, FifoError> {
        match &self.transformer {
            Some(t) => t(obj.clone()).map_err(|source| FifoError::Transform { key: key_of(&*obj), source }),
            None => Ok(obj),
        }
    }

    fn push(&self, item: RealItem<K>, sets_populated: bool) {
        {
            let mut st = self.state.lock();
            let first_replace = !sets_populated && !st.populated;
            st.items.push_back(item);
            if sets_populated {
                st.populated = true;
            } else if first_replace && matches!(st.items.back(), Some(RealItem::ReplacedAll(_))) {
                st.populated = true;
                st.initial_population_count = st.items.len();
            }
        }
        self.notify.notify_waiters();
    }

    fn push_delta(&self, kind: DeltaType, obj: Arc<K>) -> Result<(), FifoError> {
        let obj = self.transform(obj)?;
        self.push(RealItem::Delta(Delta::new(kind, obj)), true);
        Ok(())
    }

    /// Queues an `Added` event.
    pub fn add(&self, obj: Arc<K>) -> Result<(), FifoError> {
        self.push_delta(DeltaType::Added, obj)
    }

    /// Queues an `Updated` event.
    pub fn update(&self, obj: Arc<K>) -> Result<(), FifoError> {
        self.push_delta(DeltaType::Updated, obj)
    }

    /// Queues a `Deleted` event.
    pub fn delete(&self, obj: Arc<K>) -> Result<(), FifoError> {
        self.push_delta(DeltaType::Deleted, obj)
    }

    /// Nothing: this FIFO does not know the cache its consumer keeps, so a relist through it
    /// holds the new list beside the cache (the reflector's reuse needs the DeltaFIFO).
    pub(crate) fn cached(&self, _obj: &K) -> Option<Arc<K>> {
        None
    }

    /// Queues one `ReplacedAll` item. Transformation happens first; on error nothing is queued.
    pub fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), FifoError> {
        let objects = list.into_iter().map(|o| self.transform(o)).collect::<Result<Vec<_>, _>>()?;
        self.push(
            RealItem::ReplacedAll(ReplacedAll { resource_version: resource_version.to_string(), objects }),
            false,
        );
        Ok(())
    }

    /// Queues one `SyncAll` item.
    pub fn resync(&self) -> Result<(), FifoError> {
        {
            let mut st = self.state.lock();
            st.items.push_back(RealItem::SyncAll);
        }
        self.notify.notify_waiters();
        Ok(())
    }

    fn try_pop<E, F>(&self, process: F) -> Result<Result<(), PopError<E>>, F>
    where
        F: for<'a> FnOnce(Popped<'a, K>, bool) -> Result<(), ProcessError<E>>,
    {
        let mut st = self.state.lock();
        let Some(item) = st.items.pop_front() else {
            return if st.closed { Ok(Err(PopError::Closed)) } else { Err(process) };
        };
        let in_initial_list = !st.has_synced();
        let res = match &item {
            RealItem::Delta(d) => process(Popped::Deltas(std::slice::from_ref(d)), in_initial_list),
            RealItem::ReplacedAll(r) => process(Popped::ReplacedAll(r), in_initial_list),
            RealItem::SyncAll => process(Popped::SyncAll, in_initial_list),
        };
        Ok(match res {
            Err(ProcessError::Requeue(e)) => {
                st.items.push_front(item);
                drop(st);
                self.notify.notify_waiters();
                Err(PopError::Requeued(e))
            }
            other => {
                if st.initial_population_count > 0 {
                    st.initial_population_count -= 1;
                }
                match other {
                    Ok(()) => Ok(()),
                    Err(ProcessError::Failed(e) | ProcessError::Requeue(e)) => Err(PopError::Failed(e)),
                }
            }
        })
    }

    /// Waits for the oldest item and hands it to `process` under the queue lock, with
    /// `is_in_initial_list`. See [`Queue::pop`].
    pub async fn pop<E, F>(&self, mut process: F) -> Result<(), PopError<E>>
    where
        F: for<'a> FnOnce(Popped<'a, K>, bool) -> Result<(), ProcessError<E>>,
    {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
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

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: HasMetadata + Send + Sync + 'static> Queue<K> for RealFIFO<K> {
    fn add(&self, obj: Arc<K>) -> Result<(), FifoError> {
        RealFIFO::add(self, obj)
    }
    fn update(&self, obj: Arc<K>) -> Result<(), FifoError> {
        RealFIFO::update(self, obj)
    }
    fn delete(&self, obj: Arc<K>) -> Result<(), FifoError> {
        RealFIFO::delete(self, obj)
    }
    fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), FifoError> {
        RealFIFO::replace(self, list, resource_version)
    }
    fn resync(&self) -> Result<(), FifoError> {
        RealFIFO::resync(self)
    }
    fn pop<E, F>(&self, process: F) -> impl std::future::Future<Output = Result<(), PopError<E>>> + Send
    where
        E: Send,
        F: for<'a> FnOnce(Popped<'a, K>, bool) -> Result<(), ProcessError<E>> + Send,
    {
        RealFIFO::pop(self, process)
    }
    fn has_synced(&self) -> bool {
        RealFIFO::has_synced(self)
    }
    fn close(&self) {
        RealFIFO::close(self)
    }
    fn is_closed(&self) -> bool {
        RealFIFO::is_closed(self)
    }
    fn len(&self) -> usize {
        RealFIFO::len(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indexer::Indexer;
    use crate::store::{apply_delta, sync_all};
    use crate::test_util::{obj, Obj};

    #[derive(Debug, PartialEq)]
    enum Seen {
        D(DeltaType, String, u32),
        All(String, Vec<String>),
        Sync,
    }

    async fn pop_one(f: &RealFIFO<Obj>) -> (Seen, bool) {
        let mut out = None;
        f.pop(|p, initial| {
            out = Some((
                match p {
                    Popped::Deltas(d) => {
                        assert_eq!(d.len(), 1);
                        Seen::D(d[0].kind, d[0].object.key(), d[0].object.object().map_or(0, |o| o.v))
                    }
                    Popped::ReplacedAll(r) => {
                        Seen::All(r.resource_version.clone(), r.objects.iter().map(|o| key_of(&**o)).collect())
                    }
                    Popped::SyncAll => Seen::Sync,
                },
                initial,
            ));
            Ok::<(), ProcessError<()>>(())
        })
        .await
        .unwrap();
        out.unwrap()
    }

    fn change(c: &StoreChange<Obj>) -> String {
        match c {
            StoreChange::Added(o) => format!("add {}@{}", key_of(&**o), o.v),
            StoreChange::Updated { old, new } => format!("update {}@{}->{}", key_of(&**new), old.v, new.v),
            StoreChange::Deleted(d) => {
                format!("delete {}@{} tombstone={}", d.key(), d.object().map_or(0, |o| o.v), d.is_tombstone())
            }
        }
    }

    #[tokio::test]
    async fn every_event_in_arrival_order_without_merging() {
        let f = RealFIFO::new();
        f.add(obj("ns", "a", 1)).unwrap();
        f.update(obj("ns", "a", 2)).unwrap();
        f.delete(obj("ns", "a", 3)).unwrap();
        f.delete(obj("ns", "a", 4)).unwrap();
        f.add(obj("ns", "b", 1)).unwrap();
        use DeltaType::*;
        let want =
            [(Added, "ns/a", 1), (Updated, "ns/a", 2), (Deleted, "ns/a", 3), (Deleted, "ns/a", 4), (Added, "ns/b", 1)];
        for (k, key, v) in want {
            assert_eq!(pop_one(&f).await.0, Seen::D(k, key.into(), v));
        }
        assert!(f.is_empty());
    }

    #[tokio::test]
    async fn relist_is_one_atomic_item_applied_against_the_cache() {
        let idx = Indexer::new();
        let f = RealFIFO::new();
        // Events before the relist are applied before it, so deletions see them.
        f.add(obj("ns", "a", 1)).unwrap();
        f.add(obj("ns", "c", 1)).unwrap();
        f.add(obj("ns", "z", 1)).unwrap();
        f.replace(vec![obj("ns", "a", 2), obj("ns", "b", 1)], "9").unwrap();
        f.add(obj("ns", "d", 1)).unwrap();
        assert_eq!(f.len(), 5);
        let mut log = Vec::new();
        while !f.is_empty() {
            f.pop(|p, _| {
                match p {
                    Popped::Deltas(d) => log.push(change(&apply_delta(&idx, &d[0]).unwrap())),
                    Popped::ReplacedAll(r) => log.extend(r.apply(&idx).unwrap().iter().map(change)),
                    Popped::SyncAll => log.extend(sync_all(&idx).iter().map(change)),
                }
                Ok::<(), ProcessError<()>>(())
            })
            .await
            .unwrap();
        }
        assert_eq!(
            log,
            [
                "add ns/a@1",
                "add ns/c@1",
                "add ns/z@1",
                "delete ns/c@1 tombstone=true",
                "delete ns/z@1 tombstone=true",
                "update ns/a@1->2",
                "add ns/b@1",
                "add ns/d@1",
            ]
        );
        let mut keys = idx.list_keys();
        keys.sort();
        assert_eq!(keys, ["ns/a", "ns/b", "ns/d"]);
        assert_eq!(idx.resource_version(), "9");
    }

    #[tokio::test]
    async fn resync_is_one_item() {
        let idx = Indexer::new();
        idx.add(obj("ns", "a", 1)).unwrap();
        let f = RealFIFO::<Obj>::new();
        f.resync().unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(pop_one(&f).await.0, Seen::Sync);
        assert_eq!(sync_all(&idx).iter().map(change).collect::<Vec<_>>(), ["update ns/a@1->1"]);
    }

    #[tokio::test]
    async fn has_synced_semantics() {
        assert!(!RealFIFO::<Obj>::new().has_synced());
        let f = RealFIFO::new();
        f.delete(obj("ns", "a", 1)).unwrap();
        assert!(f.has_synced(), "an event before any replace syncs at once");
        let f = RealFIFO::new();
        f.replace(vec![obj("ns", "a", 1)], "1").unwrap();
        f.add(obj("ns", "b", 1)).unwrap();
        assert!(!f.has_synced());
        assert_eq!(pop_one(&f).await, (Seen::All("1".into(), vec!["ns/a".into()]), true));
        assert!(f.has_synced());
        assert!(!pop_one(&f).await.1);
        // A failed handler still counts as processed; a requeue does not.
        let f = RealFIFO::<Obj>::new();
        f.replace(vec![], "1").unwrap();
        assert_eq!(f.pop(|_, _| Err(ProcessError::Requeue(()))).await, Err(PopError::Requeued(())));
        assert!(!f.has_synced());
        assert_eq!(f.pop(|_, _| Err(ProcessError::Failed(()))).await, Err(PopError::Failed(())));
        assert!(f.has_synced());
    }

    #[tokio::test]
    async fn requeue_keeps_the_item_first_in_line() {
        let f = RealFIFO::new();
        f.add(obj("ns", "a", 1)).unwrap();
        f.add(obj("ns", "b", 1)).unwrap();
        assert_eq!(f.pop(|_, _| Err(ProcessError::Requeue(()))).await, Err(PopError::Requeued(())));
        assert_eq!(pop_one(&f).await.0, Seen::D(DeltaType::Added, "ns/a".into(), 1));
    }

    #[tokio::test]
    async fn close_drains_then_reports_closed() {
        let f = Arc::new(RealFIFO::<Obj>::new());
        let waiter = {
            let f = f.clone();
            tokio::spawn(async move { f.pop(|_, _| Ok::<(), ProcessError<()>>(())).await })
        };
        tokio::task::yield_now().await;
        f.close();
        assert_eq!(waiter.await.unwrap(), Err(PopError::Closed));
        let f = RealFIFO::new();
        f.add(obj("ns", "a", 1)).unwrap();
        f.close();
        assert_eq!(pop_one(&f).await.0, Seen::D(DeltaType::Added, "ns/a".into(), 1));
        assert_eq!(f.pop(|_, _| Ok::<(), ProcessError<()>>(())).await, Err(PopError::Closed));
    }

    /// Both FIFOs behind the `Queue` trait, as the informer will hold them.
    async fn drain_keys<Q: Queue<Obj>>(q: &Q) -> Vec<String> {
        let mut keys = Vec::new();
        q.close();
        loop {
            let r = q
                .pop(|p, _| {
                    if let Popped::Deltas(d) = p {
                        keys.extend(d.iter().map(|d| d.object.key()));
                    }
                    Ok::<(), ProcessError<()>>(())
                })
                .await;
            if r == Err(PopError::Closed) {
                return keys;
            }
        }
    }

    #[tokio::test]
    async fn both_fifos_implement_queue() {
        let d = crate::delta_fifo::DeltaFIFO::new(None);
        let r = RealFIFO::new();
        let adders: [&dyn Fn(Arc<Obj>) -> Result<(), FifoError>; 2] = [&|o| d.add(o), &|o| r.add(o)];
        for add in adders {
            add(obj("ns", "a", 1)).unwrap();
            add(obj("ns", "a", 2)).unwrap();
        }
        assert_eq!(drain_keys(&d).await, ["ns/a", "ns/a"]);
        assert_eq!(drain_keys(&r).await, ["ns/a", "ns/a"]);
    }
}
