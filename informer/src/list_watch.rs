//! `ListerWatcher`: how a reflector lists and watches one collection.
//!
//! Contract: `list` returns one page (honouring `limit`/`continue` in the options) with the
//! list's resourceVersion; `watch` returns a stream of events that ends when the server ends the
//! watch, with ERROR events surfaced as `Err` items (see `rudder_client::watch_stream`).
//! Implementations exist for the typed and dynamic `Api` (any kind, any view) and for
//! metadata-only access; selectors and namespace are fixed when the lister-watcher is built.

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::options::ListOptions;
use rudder_apimachinery::watch::WatchEvent;
use rudder_client::Error;

/// A stream of watch events.
pub type WatchEvents<K> = BoxStream<'static, Result<WatchEvent<K>, Error>>;

/// Lists and watches one collection of `K`.
pub trait ListerWatcher<K>: Send + Sync + 'static {
    /// Lists (one page when `opts.limit` is set).
    fn list<'a>(&'a self, opts: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList<K>, Error>>;
    /// Starts a watch.
    fn watch<'a>(&'a self, opts: &'a ListOptions) -> BoxFuture<'a, Result<WatchEvents<K>, Error>>;
}
