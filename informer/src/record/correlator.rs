//! The event correlator (client-go's `EventCorrelator`): aggregation, deduplication and spam
//! filtering of events before they are written. Pure: no I/O, time is passed in.
//!
//! Contract, per event, in this order:
//! 1. **Aggregate**: events alike except for their message (same source, object, type, reason,
//!    reporting component/instance) are counted per key within `aggregate_interval` of the
//!    previous one; from the `aggregate_max_events`-th distinct message on, the event is replaced
//!    by a single new event whose message is prefixed [`COMBINED_PREFIX`], keyed by the
//!    aggregate key (so later ones count up that one event).
//! 2. **Observe**: an event identical to one seen before (same source, object incl. fieldPath,
//!    type, reason, message; or the same aggregate) takes the earlier event's name, count + 1
//!    and firstTimestamp, and carries a patch of `count`, `lastTimestamp` and `message`.
//! 3. **Filter**: a token bucket per (source, object) — `spam_burst` tokens, one more every
//!    `spam_refill_interval` — drops events beyond the rate.
//!
//! Each cache keeps at most `cache_size` keys, evicting the least recently used.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use tokio::time::Instant;

use super::RecorderOptions;

/// The prefix of an aggregated event's message.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// A least-recently-used map with string keys.
#[derive(Debug)]
struct Lru<V> {
    cap: usize,
    tick: u64,
    map: HashMap<String, (V, u64)>,
    order: BTreeMap<u64, String>,
}

impl<V> Lru<V> {
    fn new(cap: usize) -> Self {
        Self { cap: cap.max(1), tick: 0, map: HashMap::new(), order: BTreeMap::new() }
    }

    fn touch(&mut self, key: &str) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        let (v, t) = self.map.get_mut(key)?;
        self.order.remove(t);
        *t = tick;
        self.order.insert(tick, key.to_owned());
        Some(v)
    }

    fn put(&mut self, key: String, v: V) {
        if let Some(slot) = self.touch(&key) {
            *slot = v;
            return;
        }
        if self.map.len() >= self.cap {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.map.remove(&oldest);
            }
        }
        self.order.insert(self.tick, key.clone());
        self.map.insert(key, (v, self.tick));
    }
}

#[derive(Debug)]
struct AggregateRecord {
    /// Distinct messages seen within the interval.
    messages: std::collections::HashSet<String>,
    last: Instant,
}

#[derive(Debug, Clone)]
struct Observed {
    count: i32,
    first_timestamp: Option<Time>,
    name: Option<String>,
    resource_version: Option<String>,
}

#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

/// What to write for one event.
#[derive(Debug, Clone)]
pub(crate) struct Correlated {
    /// The event to create (or whose name to patch).
    pub event: Event,
    /// The merge patch for an event seen before, `None` to create.
    pub patch: Option<serde_json::Value>,
    /// The observation key, for [`Correlator::update_state`].
    pub key: String,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Correlator {
    max_events: usize,
    interval: Duration,
    burst: f64,
    refill: Duration,
    aggregates: Lru<AggregateRecord>,
    observed: Lru<Observed>,
    spam: Lru<TokenBucket>,
    last_name_nanos: i128,
}

fn key(parts: &[&str]) -> String {
    parts.join("\u{0}")
}

fn source_parts(e: &Event) -> (&str, &str) {
    let s = e.source.as_ref();
    (s.and_then(|s| s.component.as_deref()).unwrap_or(""), s.and_then(|s| s.host.as_deref()).unwrap_or(""))
}

fn object_parts(e: &Event) -> [&str; 5] {
    let o = &e.involved_object;
    [
        o.kind.as_deref().unwrap_or(""),
        o.namespace.as_deref().unwrap_or(""),
        o.name.as_deref().unwrap_or(""),
        o.uid.as_deref().unwrap_or(""),
        o.api_version.as_deref().unwrap_or(""),
    ]
}

fn aggregate_key(e: &Event) -> String {
    let (component, host) = source_parts(e);
    let [kind, ns, name, uid, api_version] = object_parts(e);
    key(&[
        component,
        host,
        kind,
        ns,
        name,
        uid,
        api_version,
        e.type_.as_deref().unwrap_or(""),
        e.reason.as_deref().unwrap_or(""),
        e.reporting_component.as_deref().unwrap_or(""),
        e.reporting_instance.as_deref().unwrap_or(""),
    ])
}

fn event_key(e: &Event) -> String {
    let (component, host) = source_parts(e);
    let [kind, ns, name, uid, api_version] = object_parts(e);
    key(&[
        component,
        host,
        kind,
        ns,
        name,
        e.involved_object.field_path.as_deref().unwrap_or(""),
        uid,
        api_version,
        e.type_.as_deref().unwrap_or(""),
        e.reason.as_deref().unwrap_or(""),
        e.message.as_deref().unwrap_or(""),
    ])
}

fn spam_key(e: &Event) -> String {
    let (component, host) = source_parts(e);
    let [kind, ns, name, uid, api_version] = object_parts(e);
    key(&[component, host, kind, ns, name, uid, api_version])
}

impl Correlator {
    pub(crate) fn new(opts: &RecorderOptions) -> Self {
        Self {
            max_events: opts.aggregate_max_events.max(1),
            interval: opts.aggregate_interval,
            burst: f64::from(opts.spam_burst),
            refill: opts.spam_refill_interval,
            aggregates: Lru::new(opts.cache_size),
            observed: Lru::new(opts.cache_size),
            spam: Lru::new(opts.cache_size),
            last_name_nanos: 0,
        }
    }

    /// `<object name>.<hex unix nanoseconds>`, strictly increasing across calls so two events
    /// never share a name.
    pub(crate) fn unique_name(&mut self, object_name: &str, now: Timestamp) -> String {
        let nanos = now.as_nanosecond().max(self.last_name_nanos + 1);
        self.last_name_nanos = nanos;
        format!("{object_name}.{nanos:x}")
    }

    /// Runs the three steps; `None` when the spam filter drops the event.
    pub(crate) fn correlate(&mut self, event: Event, now: Instant, wall: Timestamp) -> Option<Correlated> {
        let (event, key) = self.aggregate(event, now, wall);
        let (event, patch) = self.observe(event, &key);
        if !self.spam_allows(&event, now) {
            return None;
        }
        Some(Correlated { event, patch, key })
    }

    fn aggregate(&mut self, event: Event, now: Instant, wall: Timestamp) -> (Event, String) {
        let agg_key = aggregate_key(&event);
        let message = event.message.clone().unwrap_or_default();
        let interval = self.interval;
        let record = match self.aggregates.touch(&agg_key) {
            Some(r) if now.saturating_duration_since(r.last) <= interval => r,
            _ => {
                let fresh = AggregateRecord { messages: Default::default(), last: now };
                self.aggregates.put(agg_key.clone(), fresh);
                match self.aggregates.touch(&agg_key) {
                    Some(r) => r,
                    None => return (event.clone(), event_key(&event)),
                }
            }
        };
        record.messages.insert(message.clone());
        record.last = now;
        if record.messages.len() < self.max_events {
            let k = event_key(&event);
            return (event, k);
        }
        // Keep the set from growing past the threshold.
        if let Some(any) = record.messages.iter().find(|m| **m != message).cloned() {
            record.messages.remove(&any);
        }
        let object_name = event.involved_object.name.clone().unwrap_or_default();
        let name = self.unique_name(&object_name, wall);
        let combined = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: event.metadata.namespace.clone(),
                ..Default::default()
            },
            count: Some(1),
            first_timestamp: Some(Time(wall)),
            last_timestamp: Some(Time(wall)),
            message: Some(format!("{COMBINED_PREFIX}{message}")),
            ..event
        };
        (combined, agg_key)
    }

    fn observe(&mut self, mut event: Event, key: &str) -> (Event, Option<serde_json::Value>) {
        let mut patch = None;
        if let Some(last) = self.observed.touch(key).cloned() {
            event.count = Some(last.count.saturating_add(1));
            event.first_timestamp = last.first_timestamp;
            event.metadata.name = last.name;
            event.metadata.resource_version = last.resource_version;
            patch = Some(json!({
                "count": event.count,
                "lastTimestamp": event.last_timestamp,
                "message": event.message,
            }));
        }
        let observed = Observed {
            count: event.count.unwrap_or(1),
            first_timestamp: event.first_timestamp.clone(),
            name: event.metadata.name.clone(),
            resource_version: event.metadata.resource_version.clone(),
        };
        self.observed.put(key.to_owned(), observed);
        (event, patch)
    }

    fn spam_allows(&mut self, event: &Event, now: Instant) -> bool {
        let k = spam_key(event);
        let (burst, refill) = (self.burst, self.refill);
        let bucket = match self.spam.touch(&k) {
            Some(b) => b,
            None => {
                self.spam.put(k.clone(), TokenBucket { tokens: burst, last: now });
                match self.spam.touch(&k) {
                    Some(b) => b,
                    None => return true,
                }
            }
        };
        if !refill.is_zero() {
            let gained = now.saturating_duration_since(bucket.last).as_secs_f64() / refill.as_secs_f64();
            bucket.tokens = (bucket.tokens + gained).min(burst);
        }
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Records what the server stored for the event observed under `key` (its name,
    /// resourceVersion and count), so the next identical event patches it.
    pub(crate) fn update_state(&mut self, key: &str, stored: &Event) {
        let observed = Observed {
            count: stored.count.unwrap_or(1),
            first_timestamp: stored.first_timestamp.clone(),
            name: stored.metadata.name.clone(),
            resource_version: stored.metadata.resource_version.clone(),
        };
        self.observed.put(key.to_owned(), observed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EventSource, ObjectReference};

    fn ev(object: &str, reason: &str, message: &str) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.1")),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                name: Some(object.into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some("Normal".into()),
            count: Some(1),
            source: Some(EventSource { component: Some("c".into()), host: None }),
            ..Default::default()
        }
    }

    fn correlator() -> Correlator {
        Correlator::new(&RecorderOptions::default())
    }

    #[test]
    fn identical_events_count_up_with_a_patch() {
        let mut c = correlator();
        let (t, w) = (Instant::now(), Timestamp::UNIX_EPOCH);
        let first = c.correlate(ev("p", "R", "m"), t, w).expect("kept");
        assert!(first.patch.is_none());
        c.update_state(&first.key, &first.event);
        let second = c.correlate(ev("p", "R", "m"), t, w).expect("kept");
        assert_eq!(second.event.count, Some(2));
        assert_eq!(second.event.metadata.name.as_deref(), Some("p.1"));
        assert_eq!(second.patch.expect("patch")["count"], 2);
        // A different message is a different event.
        assert!(c.correlate(ev("p", "R", "other"), t, w).expect("kept").patch.is_none());
    }

    #[test]
    fn aggregation_window_resets_after_the_interval() {
        let mut c = correlator();
        let (t, w) = (Instant::now(), Timestamp::UNIX_EPOCH);
        for i in 0..9 {
            let r = c.correlate(ev("p", "R", &format!("m{i}")), t, w).expect("kept");
            assert!(!r.event.message.unwrap_or_default().starts_with(COMBINED_PREFIX));
        }
        let tenth = c.correlate(ev("p", "R", "m9"), t, w).expect("kept");
        assert_eq!(tenth.event.message.as_deref(), Some("(combined from similar events): m9"));
        // Eleven minutes later the similar-message set starts over.
        let later = t + Duration::from_secs(660);
        let r = c.correlate(ev("p", "R", "m10"), later, w).expect("kept");
        assert_eq!(r.event.message.as_deref(), Some("m10"));
    }

    #[test]
    fn spam_bucket_refills_one_token_per_interval() {
        let mut c = correlator();
        let (t, w) = (Instant::now(), Timestamp::UNIX_EPOCH);
        let kept = (0..30).filter(|i| c.correlate(ev("p", &format!("R{i}"), "m"), t, w).is_some()).count();
        assert_eq!(kept, 25);
        // Another object has its own bucket.
        assert!(c.correlate(ev("q", "R", "m"), t, w).is_some());
        assert!(c.correlate(ev("p", "X", "m"), t + Duration::from_secs(299), w).is_none());
        assert!(c.correlate(ev("p", "Y", "m"), t + Duration::from_secs(301), w).is_some());
        assert!(c.correlate(ev("p", "Z", "m"), t + Duration::from_secs(302), w).is_none());
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut l = Lru::new(2);
        l.put("a".into(), 1);
        l.put("b".into(), 2);
        assert!(l.touch("a").is_some());
        l.put("c".into(), 3);
        assert!(l.touch("b").is_none(), "b was least recently used");
        assert_eq!(l.touch("a").copied(), Some(1));
        assert_eq!(l.touch("c").copied(), Some(3));
    }

    #[test]
    fn names_are_unique_and_increasing() {
        let mut c = correlator();
        let w = Timestamp::UNIX_EPOCH;
        assert_eq!(c.unique_name("p", w), "p.1");
        assert_eq!(c.unique_name("p", w), "p.2");
    }
}
