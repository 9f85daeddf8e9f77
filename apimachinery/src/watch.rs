//! Watch events as the API server streams them: `{"type": ..., "object": ...}`, one per line.
//!
//! Contract:
//! - ADDED, MODIFIED and DELETED decode their object as `T` directly from the input, with no
//!   intermediate JSON value (when `type` precedes `object`, as the API server always sends it).
//! - BOOKMARK objects are the Go zero value of the kind (`"containers":null` for pods, which a
//!   typed Pod cannot hold), so they decode into [`Bookmark`] (resourceVersion and annotations
//!   only) and never into `T`.
//! - ERROR carries a [`Status`]; an unknown `type` is a decode error naming it.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::status::Status;

/// The annotation on the bookmark that ends a streaming list's initial events.
pub const INITIAL_EVENTS_END_ANNOTATION: &str = "k8s.io/initial-events-end";

/// One event of a watch stream.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<T> {
    /// An object was created (or is part of the initial state).
    Added(T),
    /// An object was changed.
    Modified(T),
    /// An object was deleted; this is its last state.
    Deleted(T),
    /// The stream has progressed to a resourceVersion; no object changed.
    Bookmark(Bookmark),
    /// The server reports an error (for example 410 Expired); the stream ends after it.
    Error(Status),
}

impl<T> WatchEvent<T> {
    /// The wire name of the event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark(_) => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        }
    }

    /// Maps the carried object, keeping the event type.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> WatchEvent<U> {
        match self {
            WatchEvent::Added(o) => WatchEvent::Added(f(o)),
            WatchEvent::Modified(o) => WatchEvent::Modified(f(o)),
            WatchEvent::Deleted(o) => WatchEvent::Deleted(f(o)),
            WatchEvent::Bookmark(b) => WatchEvent::Bookmark(b),
            WatchEvent::Error(s) => WatchEvent::Error(s),
        }
    }
}

/// The object of a BOOKMARK event: only its resourceVersion and annotations matter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Bookmark {
    /// `apiVersion` of the zero-valued object, when present.
    #[serde(rename = "apiVersion", default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `kind` of the zero-valued object, when present.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `metadata` with the resourceVersion the stream has reached.
    #[serde(default)]
    pub metadata: BookmarkMeta,
}

/// Metadata of a bookmark.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BookmarkMeta {
    /// The resourceVersion the stream has reached.
    #[serde(rename = "resourceVersion", default)]
    pub resource_version: String,
    /// Annotations; `k8s.io/initial-events-end: "true"` ends a streaming list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Bookmark {
    /// Whether this bookmark ends the initial events of a streaming list.
    pub fn is_initial_events_end(&self) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INITIAL_EVENTS_END_ANNOTATION))
            .is_some_and(|v| v == "true")
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}

fn kind_of<E: de::Error>(s: &str) -> Result<Kind, E> {
    Ok(match s {
        "ADDED" => Kind::Added,
        "MODIFIED" => Kind::Modified,
        "DELETED" => Kind::Deleted,
        "BOOKMARK" => Kind::Bookmark,
        "ERROR" => Kind::Error,
        other => {
            return Err(E::custom(format_args!(
                "unknown watch event type {other:?} (expected ADDED, MODIFIED, DELETED, BOOKMARK or ERROR)"
            )))
        }
    })
}

fn decode_object<'de, T, D>(kind: Kind, d: D) -> Result<WatchEvent<T>, D::Error>
where
    T: DeserializeOwned,
    D: Deserializer<'de>,
{
    Ok(match kind {
        Kind::Added => WatchEvent::Added(T::deserialize(d)?),
        Kind::Modified => WatchEvent::Modified(T::deserialize(d)?),
        Kind::Deleted => WatchEvent::Deleted(T::deserialize(d)?),
        Kind::Bookmark => WatchEvent::Bookmark(Bookmark::deserialize(d)?),
        Kind::Error => WatchEvent::Error(Status::deserialize(d)?),
    })
}

struct ObjectSeed<T>(Kind, PhantomData<T>);

impl<'de, T: DeserializeOwned> de::DeserializeSeed<'de> for ObjectSeed<T> {
    type Value = WatchEvent<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        decode_object(self.0, d)
    }
}

struct EventVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for EventVisitor<T> {
    type Value = WatchEvent<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a watch event {\"type\": ..., \"object\": ...}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind: Option<Kind> = None;
        let mut event: Option<WatchEvent<T>> = None;
        // `object` before `type` (never sent by the API server) is buffered once.
        let mut early_object: Option<serde_json::Value> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "type" => {
                    if kind.is_some() {
                        return Err(de::Error::duplicate_field("type"));
                    }
                    let s: std::borrow::Cow<'de, str> = map.next_value()?;
                    kind = Some(kind_of(&s)?);
                }
                "object" => {
                    if event.is_some() || early_object.is_some() {
                        return Err(de::Error::duplicate_field("object"));
                    }
                    match kind {
                        Some(k) => event = Some(map.next_value_seed(ObjectSeed::<T>(k, PhantomData))?),
                        None => early_object = Some(map.next_value()?),
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("type"))?;
        if let Some(ev) = event {
            return Ok(ev);
        }
        let obj = early_object.ok_or_else(|| de::Error::missing_field("object"))?;
        decode_object(kind, obj).map_err(de::Error::custom)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for WatchEvent<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventVisitor(PhantomData))
    }
}

impl<T: Serialize> Serialize for WatchEvent<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("type", self.type_name())?;
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                m.serialize_entry("object", o)?
            }
            WatchEvent::Bookmark(b) => m.serialize_entry("object", b)?,
            WatchEvent::Error(st) => m.serialize_entry("object", st)?,
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::DynamicObject;
    use crate::meta::HasMetadata;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};

    fn lines(name: &str) -> Vec<String> {
        let p = format!("{}/../testdata/apiserver/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect()
    }

    fn kind_of_line(l: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let obj_kind = v["object"]["kind"].as_str().unwrap_or("").to_string();
        obj_kind
    }

    /// Every line of every watch fixture decodes as the typed object its `kind` names.
    #[test]
    fn every_fixture_line_decodes_typed() {
        let mut seen = std::collections::BTreeSet::new();
        for f in ["watch-stream-pods.jsonl", "watch-stream-initial-events.jsonl"] {
            for l in lines(f) {
                let ev_type =
                    serde_json::from_str::<serde_json::Value>(&l).unwrap()["type"].as_str().unwrap().to_string();
                seen.insert(ev_type.clone());
                let name = match kind_of_line(&l).as_str() {
                    "ConfigMap" => serde_json::from_str::<WatchEvent<ConfigMap>>(&l).map(|e| e.type_name()),
                    _ => serde_json::from_str::<WatchEvent<Pod>>(&l).map(|e| e.type_name()),
                }
                .unwrap_or_else(|e| panic!("{f}: {e}: {l}"));
                assert_eq!(name, ev_type);
                // Dynamic decoding works on every line too.
                serde_json::from_str::<WatchEvent<DynamicObject>>(&l).unwrap();
            }
        }
        for t in ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"] {
            assert!(seen.contains(t), "fixtures cover {t}");
        }
    }

    #[test]
    fn zero_valued_bookmark_pod_is_a_bookmark() {
        let l = r#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12746","creationTimestamp":null},"spec":{"containers":null},"status":{}}}"#;
        match serde_json::from_str::<WatchEvent<Pod>>(l).unwrap() {
            WatchEvent::Bookmark(b) => {
                assert_eq!(b.metadata.resource_version, "12746");
                assert!(!b.is_initial_events_end());
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn initial_events_end_bookmark_is_recognised() {
        let ends: Vec<bool> = lines("watch-stream-initial-events.jsonl")
            .iter()
            .filter_map(|l| match serde_json::from_str::<WatchEvent<DynamicObject>>(l).unwrap() {
                WatchEvent::Bookmark(b) => Some(b.is_initial_events_end()),
                _ => None,
            })
            .collect();
        assert!(ends.contains(&true));
    }

    #[test]
    fn error_event_carries_status() {
        let l = r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 45 (58)","reason":"Expired","code":410}}"#;
        match serde_json::from_str::<WatchEvent<Pod>>(l).unwrap() {
            WatchEvent::Error(s) => assert!(s.is_expired()),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn object_before_type_still_decodes() {
        let l = r#"{"object":{"metadata":{"name":"a"}},"type":"ADDED"}"#;
        match serde_json::from_str::<WatchEvent<ConfigMap>>(l).unwrap() {
            WatchEvent::Added(cm) => assert_eq!(cm.name(), "a"),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn bad_events_are_errors_not_panics() {
        for l in [
            r#"{"type":"WAT","object":{}}"#,
            r#"{"type":"ADDED"}"#,
            r#"{"object":{}}"#,
            r#"[]"#,
            r#"{"type":"ADDED","object":{"metadata":{"name":5}}}"#,
            r#"{"type":"ADDED","type":"ADDED","object":{}}"#,
        ] {
            assert!(serde_json::from_str::<WatchEvent<ConfigMap>>(l).is_err(), "{l}");
        }
    }

    #[test]
    fn round_trip() {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("x".into());
        let ev = WatchEvent::Modified(cm);
        let s = serde_json::to_string(&ev).unwrap();
        assert_eq!(serde_json::from_str::<WatchEvent<ConfigMap>>(&s).unwrap(), ev);
    }
}
