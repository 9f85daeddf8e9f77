//! Event handlers of a shared informer and the processor that fans notifications out to them.
//!
//! Contract (client-go's `sharedProcessor` / `processorListener`):
//! - Every registered handler has its own unbounded buffer and its own thread, so a slow or
//!   blocking handler delays only itself, never the informer or other handlers. Handlers are
//!   plain synchronous callbacks (enqueue into a workqueue from them); a handler that panics is
//!   logged and keeps receiving later notifications.
//! - Notifications reach each handler in the order the informer produced them. They are
//!   queued without waking the handler's thread; [`Processor::flush`] (called whenever the
//!   informer's queue runs empty, and after every [`FLUSH_EVERY`] notifications) wakes
//!   each handler that waits. A sync of 10,000 objects then wakes a handler a few dozen times
//!   instead of up to once per object (each wake-up is a futex system call on the informer's
//!   thread).
//! - Resync notifications (updates whose old and new objects have the same resourceVersion)
//!   go only to handlers whose own resync period is due; periods under 1 s are raised to 1 s.
//! - Per-registration `has_synced`: the informer has synced AND this handler has processed
//!   every notification flagged as part of the initial list. [`Registration::synced`] waits
//!   for it without polling (woken when the informer syncs, when the handler takes its last
//!   initial notification, and when the handler stops).
//! - `on_delete` receives a [`DeletedObject`], which is either the final object or a tombstone
//!   (key + last known state) for a deletion the informer missed, so handlers cannot confuse
//!   the two (client-go's `DeletedFinalStateUnknown` that crashes type assertions).
//! - Objects a notification held last (the old state of an update, a deleted object) are
//!   dropped with `rudder_client::decode::drop_where_decoded`, on the decode thread that
//!   allocated them when it is busy: freeing a Pod on the handler thread contends with the
//!   decode threads' allocator locks.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::collections::VecDeque;

use parking_lot::{Condvar, Mutex, RwLock};
use rudder_apimachinery::meta::HasMetadata;
use rudder_client::decode::drop_where_decoded;
use tokio::time::Instant;

/// The smallest resync period a handler may have (client-go's `minimumResyncPeriod`).
pub const MINIMUM_RESYNC_PERIOD: Duration = Duration::from_secs(1);

/// What `on_delete` receives.
#[derive(Debug)]
pub enum DeletedObject<K> {
    /// The object's final state, as the API server reported its deletion.
    Final(Arc<K>),
    /// The deletion was not observed (it happened while the watch was down and a relist found
    /// the object gone): the key and the last state the cache knew.
    Unknown {
        /// `namespace/name`.
        key: String,
        /// The last known state.
        last_known: Arc<K>,
    },
}

impl<K> Clone for DeletedObject<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Final(o) => Self::Final(o.clone()),
            Self::Unknown { key, last_known } => Self::Unknown { key: key.clone(), last_known: last_known.clone() },
        }
    }
}

impl<K> DeletedObject<K> {
    /// The object: the final state or the last known one.
    pub fn object(&self) -> &Arc<K> {
        match self {
            Self::Final(o) => o,
            Self::Unknown { last_known, .. } => last_known,
        }
    }
    /// Whether the deletion was missed (a tombstone).
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Self::Unknown { .. })
    }
}

/// One notification for handlers.
#[derive(Debug)]
pub enum Notification<K> {
    /// An object appeared; `is_initial_list` while the informer delivers its initial state
    /// (or, for a handler added late, the store's contents at the time it was added).
    Add {
        /// The object.
        obj: Arc<K>,
        /// Part of the initial list.
        is_initial_list: bool,
    },
    /// An object changed (or, with equal resourceVersions, a resync).
    Update {
        /// The previous state.
        old: Arc<K>,
        /// The new state.
        new: Arc<K>,
    },
    /// An object was deleted.
    Delete(DeletedObject<K>),
}

impl<K: HasMetadata + Send + Sync + 'static> Notification<K> {
    /// Ends this notification: objects no one else holds (the old state of an update, a
    /// deleted object) are dropped where they were decoded; see the module docs.
    fn retire(self) {
        match self {
            Self::Add { .. } => {}
            Self::Update { old, new } => {
                drop(new);
                drop_where_decoded(old);
            }
            Self::Delete(DeletedObject::Final(obj) | DeletedObject::Unknown { last_known: obj, .. }) => {
                drop_where_decoded(obj)
            }
        }
    }
}

impl<K> Clone for Notification<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Add { obj, is_initial_list } => Self::Add { obj: obj.clone(), is_initial_list: *is_initial_list },
            Self::Update { old, new } => Self::Update { old: old.clone(), new: new.clone() },
            Self::Delete(d) => Self::Delete(d.clone()),
        }
    }
}

/// Receives an informer's notifications. All methods default to doing nothing.
pub trait ResourceEventHandler<K>: Send + Sync + 'static {
    /// An object was added.
    fn on_add(&self, obj: &Arc<K>, is_initial_list: bool) {
        let _ = (obj, is_initial_list);
    }
    /// An object was updated (also called for resyncs, with `old` and `new` at the same
    /// resourceVersion).
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        let _ = (old, new);
    }
    /// An object was deleted.
    fn on_delete(&self, obj: &DeletedObject<K>) {
        let _ = obj;
    }
}

type AddFn<K> = Box<dyn Fn(&Arc<K>, bool) + Send + Sync>;
type UpdateFn<K> = Box<dyn Fn(&Arc<K>, &Arc<K>) + Send + Sync>;
type DeleteFn<K> = Box<dyn Fn(&DeletedObject<K>) + Send + Sync>;

/// A handler built from closures (client-go's `ResourceEventHandlerFuncs`).
///
/// ```
/// use rudder_informer::processor::HandlerFns;
/// let h = HandlerFns::<String>::new()
///     .on_add(|obj, _initial| println!("added {obj}"))
///     .on_delete(|d| println!("deleted {}", d.object()));
/// ```
pub struct HandlerFns<K> {
    add: Option<AddFn<K>>,
    update: Option<UpdateFn<K>>,
    delete: Option<DeleteFn<K>>,
}

impl<K> Default for HandlerFns<K> {
    fn default() -> Self {
        Self { add: None, update: None, delete: None }
    }
}

impl<K> HandlerFns<K> {
    /// A handler that does nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the add callback.
    pub fn on_add(mut self, f: impl Fn(&Arc<K>, bool) + Send + Sync + 'static) -> Self {
        self.add = Some(Box::new(f));
        self
    }
    /// Sets the update callback.
    pub fn on_update(mut self, f: impl Fn(&Arc<K>, &Arc<K>) + Send + Sync + 'static) -> Self {
        self.update = Some(Box::new(f));
        self
    }
    /// Sets the delete callback.
    pub fn on_delete(mut self, f: impl Fn(&DeletedObject<K>) + Send + Sync + 'static) -> Self {
        self.delete = Some(Box::new(f));
        self
    }
}

impl<K: Send + Sync + 'static> ResourceEventHandler<K> for HandlerFns<K> {
    fn on_add(&self, obj: &Arc<K>, is_initial_list: bool) {
        if let Some(f) = &self.add {
            f(obj, is_initial_list)
        }
    }
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        if let Some(f) = &self.update {
            f(old, new)
        }
    }
    fn on_delete(&self, obj: &DeletedObject<K>) {
        if let Some(f) = &self.delete {
            f(obj)
        }
    }
}

/// A handler that forwards notifications into a tokio channel: the basis of an informer's
/// `Stream` of events.
pub struct ChannelHandler<K>(pub tokio::sync::mpsc::UnboundedSender<Notification<K>>);

impl<K: Send + Sync + 'static> ResourceEventHandler<K> for ChannelHandler<K> {
    fn on_add(&self, obj: &Arc<K>, is_initial_list: bool) {
        let _ = self.0.send(Notification::Add { obj: obj.clone(), is_initial_list });
    }
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        let _ = self.0.send(Notification::Update { old: old.clone(), new: new.clone() });
    }
    fn on_delete(&self, obj: &DeletedObject<K>) {
        let _ = self.0.send(Notification::Delete(obj.clone()));
    }
}

struct ListenerShared {
    /// Initial-list notifications sent but not yet processed.
    pending_initial: AtomicUsize,
    stopped: AtomicBool,
    finished: AtomicBool,
    /// Woken (`notify_waiters`) when the thread ends, when `pending_initial` drops to zero and
    /// when the informer syncs.
    done: tokio::sync::Notify,
}

impl ListenerShared {
    /// One initial-list notification is done with (processed or refused).
    fn initial_done(&self) {
        if self.pending_initial.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.done.notify_waiters();
        }
    }
}

/// The most notifications the informer queues for handlers before it wakes them (see
/// [`Processor::flush`]).
pub const FLUSH_EVERY: usize = 128;

struct MailState<T> {
    items: VecDeque<T>,
    /// The handler's thread waits for items: a flush must wake it.
    waiting: bool,
    /// The sender is gone: the thread ends once `items` is empty.
    closed: bool,
    /// The handler's thread has ended: nothing more is accepted.
    gone: bool,
}

/// A handler's unbounded buffer. The informer appends without waking the handler's thread
/// and wakes it with [`Mailbox::flush`]; the thread takes everything queued at once.
struct Mailbox<T> {
    state: Mutex<MailState<T>>,
    ready: Condvar,
}

impl<T> Mailbox<T> {
    fn new() -> Self {
        Self {
            state: Mutex::new(MailState { items: VecDeque::new(), waiting: false, closed: false, gone: false }),
            ready: Condvar::new(),
        }
    }

    /// Queues `item`; gives it back when the handler's thread has ended.
    fn push(&self, item: T) -> Result<(), T> {
        let mut s = self.state.lock();
        if s.gone {
            return Err(item);
        }
        s.items.push_back(item);
        Ok(())
    }

    /// Wakes the handler's thread if it waits and something is queued.
    fn flush(&self) {
        let s = self.state.lock();
        if s.waiting && !s.items.is_empty() {
            self.ready.notify_one();
        }
    }

    /// No more items will come (the sender's side); the thread drains what is queued.
    fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_one();
    }

    /// The handler's thread: moves everything queued into `out`, waiting while nothing is;
    /// false once the mailbox is closed and empty.
    fn take_all(&self, out: &mut VecDeque<T>) -> bool {
        let mut s = self.state.lock();
        while s.items.is_empty() {
            if s.closed {
                return false;
            }
            s.waiting = true;
            self.ready.wait(&mut s);
            s.waiting = false;
        }
        std::mem::swap(&mut s.items, out);
        true
    }

    /// The handler's thread has ended: drops what is queued and refuses more.
    fn hang_up(&self) -> VecDeque<T> {
        let mut s = self.state.lock();
        s.gone = true;
        std::mem::take(&mut s.items)
    }
}

struct Listener<K> {
    id: u64,
    mailbox: Arc<Mailbox<Notification<K>>>,
    resync_period: Option<Duration>,
    next_resync: Mutex<Instant>,
    shared: Arc<ListenerShared>,
}

impl<K> Drop for Listener<K> {
    fn drop(&mut self) {
        self.mailbox.close();
    }
}

/// Fans notifications out to the registered handlers.
pub struct Processor<K> {
    listeners: RwLock<Vec<Listener<K>>>,
    /// Notifications distributed since the last flush.
    unflushed: AtomicUsize,
    syncing: Mutex<HashSet<u64>>,
    next_id: AtomicU64,
    upstream_synced: Arc<AtomicBool>,
}

impl<K> Processor<K> {
    /// The informer has set its synced flag: wakes every [`Registration::synced`] waiter.
    pub fn notify_upstream_synced(&self) {
        for l in self.listeners.read().iter() {
            l.shared.done.notify_waiters();
        }
    }
}

impl<K: HasMetadata + Send + Sync + 'static> Processor<K> {
    /// A processor; `upstream_synced` is the informer's own HasSynced flag.
    pub fn new(upstream_synced: Arc<AtomicBool>) -> Self {
        Self {
            listeners: RwLock::new(Vec::new()),
            unflushed: AtomicUsize::new(0),
            syncing: Mutex::new(HashSet::new()),
            next_id: AtomicU64::new(1),
            upstream_synced,
        }
    }

    /// Registers a handler. `initial` objects (the store's contents, for a handler added after
    /// start) are delivered first as initial-list adds, before any later notification.
    pub fn add(
        &self,
        handler: Arc<dyn ResourceEventHandler<K>>,
        resync_period: Option<Duration>,
        initial: Vec<Arc<K>>,
    ) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let resync_period = resync_period.filter(|d| !d.is_zero()).map(|d| d.max(MINIMUM_RESYNC_PERIOD));
        let shared = Arc::new(ListenerShared {
            pending_initial: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            done: tokio::sync::Notify::new(),
        });
        let mailbox = Arc::new(Mailbox::<Notification<K>>::new());
        let thread_shared = shared.clone();
        let thread_mailbox = mailbox.clone();
        let spawned = std::thread::Builder::new().name(format!("rudder-handler-{id}")).spawn(move || {
            run_listener(handler, &thread_mailbox, &thread_shared);
            // What is still queued is dropped outside the mailbox lock.
            drop(thread_mailbox.hang_up());
            thread_shared.finished.store(true, Ordering::SeqCst);
            thread_shared.done.notify_waiters();
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a handler thread");
            mailbox.hang_up();
            shared.finished.store(true, Ordering::SeqCst);
        }
        // Queue the initial adds while holding the write lock, so no live notification can
        // overtake them.
        let mut listeners = self.listeners.write();
        for obj in initial {
            shared.pending_initial.fetch_add(1, Ordering::SeqCst);
            if mailbox.push(Notification::Add { obj, is_initial_list: true }).is_err() {
                shared.initial_done();
            }
        }
        mailbox.flush();
        let next = Instant::now() + resync_period.unwrap_or_default();
        listeners.push(Listener { id, mailbox, resync_period, next_resync: Mutex::new(next), shared: shared.clone() });
        Registration { id, shared, upstream_synced: self.upstream_synced.clone() }
    }

    /// Removes a handler: it receives nothing more; notifications already queued are dropped.
    /// Returns false if it was not registered.
    pub fn remove(&self, reg: &Registration) -> bool {
        let mut ls = self.listeners.write();
        let before = ls.len();
        ls.retain(|l| l.id != reg.id);
        reg.shared.stopped.store(true, Ordering::SeqCst);
        reg.shared.done.notify_waiters();
        self.syncing.lock().remove(&reg.id);
        before != ls.len()
    }

    /// Queues a notification for every handler, or (for a resync) only for those due; they
    /// receive it at the next [`flush`](Self::flush).
    pub fn distribute(&self, n: Notification<K>, is_sync: bool) {
        let listeners = self.listeners.read();
        let syncing = if is_sync { Some(self.syncing.lock().clone()) } else { None };
        for l in listeners.iter() {
            if let Some(s) = &syncing {
                if !s.contains(&l.id) {
                    continue;
                }
            }
            let initial = matches!(n, Notification::Add { is_initial_list: true, .. });
            if initial {
                l.shared.pending_initial.fetch_add(1, Ordering::SeqCst);
            }
            if l.mailbox.push(n.clone()).is_err() && initial {
                l.shared.initial_done();
            }
        }
        drop(syncing);
        drop(listeners);
        n.retire();
        if self.unflushed.fetch_add(1, Ordering::Relaxed) + 1 >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Wakes every handler that waits and has notifications queued. The informer calls it
    /// whenever its queue is empty; [`distribute`](Self::distribute) calls it every
    /// [`FLUSH_EVERY`] notifications.
    pub fn flush(&self) {
        self.unflushed.store(0, Ordering::Relaxed);
        for l in self.listeners.read().iter() {
            l.mailbox.flush();
        }
    }

    /// Decides which handlers are due for a resync now; true if any is (the reflector then
    /// resyncs). client-go's `shouldResync`.
    pub fn should_resync(&self) -> bool {
        let now = Instant::now();
        let listeners = self.listeners.read();
        let mut syncing = self.syncing.lock();
        syncing.clear();
        for l in listeners.iter() {
            let Some(p) = l.resync_period else { continue };
            let mut next = l.next_resync.lock();
            if now >= *next {
                syncing.insert(l.id);
                *next = now + p;
            }
        }
        !syncing.is_empty()
    }

    /// The smallest resync period among handlers (the informer's resync check period).
    pub fn min_resync_period(&self) -> Option<Duration> {
        self.listeners.read().iter().filter_map(|l| l.resync_period).min()
    }

    /// Number of registered handlers.
    pub fn len(&self) -> usize {
        self.listeners.read().len()
    }

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The registrations of every handler registered now.
    pub fn registrations(&self) -> Vec<Registration> {
        self.listeners
            .read()
            .iter()
            .map(|l| Registration { id: l.id, shared: l.shared.clone(), upstream_synced: self.upstream_synced.clone() })
            .collect()
    }

    /// Stops every handler (queued notifications still drain) and forgets them.
    pub fn shutdown(&self) -> Vec<Registration> {
        let mut ls = self.listeners.write();
        ls.drain(..)
            .map(|l| Registration { id: l.id, shared: l.shared.clone(), upstream_synced: self.upstream_synced.clone() })
            .collect()
    }
}

fn run_listener<K: HasMetadata + Send + Sync + 'static>(
    handler: Arc<dyn ResourceEventHandler<K>>,
    mailbox: &Mailbox<Notification<K>>,
    shared: &ListenerShared,
) {
    let mut batch = VecDeque::new();
    while mailbox.take_all(&mut batch) {
        while let Some(n) = batch.pop_front() {
            if shared.stopped.load(Ordering::SeqCst) {
                return;
            }
            let initial = matches!(n, Notification::Add { is_initial_list: true, .. });
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match &n {
                Notification::Add { obj, is_initial_list } => handler.on_add(obj, *is_initial_list),
                Notification::Update { old, new } => handler.on_update(old, new),
                Notification::Delete(d) => handler.on_delete(d),
            }));
            if outcome.is_err() {
                tracing::error!("an event handler panicked; it keeps receiving later events");
            }
            if initial {
                shared.initial_done();
            }
            n.retire();
        }
    }
}

/// A handler's registration: its own HasSynced, and removal.
#[derive(Clone)]
pub struct Registration {
    id: u64,
    shared: Arc<ListenerShared>,
    upstream_synced: Arc<AtomicBool>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("id", &self.id).field("has_synced", &self.has_synced()).finish()
    }
}

impl Registration {
    /// True once the informer has synced and this handler has processed its initial list.
    pub fn has_synced(&self) -> bool {
        self.upstream_synced.load(Ordering::SeqCst) && self.shared.pending_initial.load(Ordering::SeqCst) == 0
    }

    /// Waits until [`has_synced`](Self::has_synced) (client-go's
    /// `ResourceEventHandlerRegistration.HasSynced`, without polling): true once it holds,
    /// false if the handler stopped first (removed, or the informer shut down) and it never
    /// will. Waits as long as neither happens (an informer that cannot list never syncs): bound
    /// it with a timeout. Cancel-safe: dropping the future loses nothing, and any number of
    /// tasks may wait at once.
    pub async fn synced(&self) -> bool {
        loop {
            let notified = self.shared.done.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.has_synced() {
                return true;
            }
            if self.shared.finished.load(Ordering::SeqCst) || self.shared.stopped.load(Ordering::SeqCst) {
                return self.has_synced();
            }
            notified.await;
        }
    }

    /// Waits until the handler's thread has finished (after removal or shutdown).
    pub async fn stopped(&self) {
        loop {
            let notified = self.shared.done.notified();
            if self.shared.finished.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(i: usize) -> Arc<ConfigMap> {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(format!("c{i}"));
        Arc::new(c)
    }

    /// A processor with one handler that records the names it is given.
    fn recording() -> (Processor<ConfigMap>, Arc<Mutex<Vec<String>>>, Registration) {
        let p = Processor::new(Arc::new(AtomicBool::new(true)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let reg = p.add(
            Arc::new(HandlerFns::new().on_add(move |o: &Arc<ConfigMap>, _| {
                s.lock().push(o.metadata.name.clone().unwrap_or_default());
            })),
            None,
            Vec::new(),
        );
        (p, seen, reg)
    }

    fn wait_for(cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_flush_delivers_what_was_queued_in_order() {
        let (p, seen, _reg) = recording();
        for i in 0..10 {
            p.distribute(Notification::Add { obj: cm(i), is_initial_list: false }, false);
        }
        p.flush();
        wait_for(|| seen.lock().len() == 10);
        assert_eq!(*seen.lock(), (0..10).map(|i| format!("c{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn a_long_burst_is_delivered_without_waiting_for_its_end() {
        let (p, seen, _reg) = recording();
        // No explicit flush: every FLUSH_EVERY notifications wake the handler.
        for i in 0..FLUSH_EVERY {
            p.distribute(Notification::Add { obj: cm(i), is_initial_list: false }, false);
        }
        wait_for(|| seen.lock().len() == FLUSH_EVERY);
    }

    #[test]
    fn shutdown_drains_what_is_queued_and_ends_the_thread() {
        let (p, seen, _reg) = recording();
        for i in 0..5 {
            p.distribute(Notification::Add { obj: cm(i), is_initial_list: false }, false);
        }
        let regs = p.shutdown();
        assert_eq!(regs.len(), 1);
        wait_for(|| regs[0].shared.finished.load(Ordering::SeqCst));
        assert_eq!(seen.lock().len(), 5, "queued notifications still reach the handler");
    }

    #[test]
    fn a_mailbox_refuses_items_once_its_thread_has_ended() {
        let m = Mailbox::new();
        assert!(m.push(1).is_ok());
        m.close();
        let mut out = VecDeque::new();
        assert!(m.take_all(&mut out), "what was queued before closing is still taken");
        assert_eq!(out, [1]);
        out.clear();
        assert!(!m.take_all(&mut out), "closed and empty");
        assert_eq!(m.hang_up().len(), 0);
        assert_eq!(m.push(2), Err(2));
    }
}
