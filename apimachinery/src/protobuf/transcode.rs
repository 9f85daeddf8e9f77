//! A JSON document presented as a serde `Serialize` value that reads the document while it is
//! serialized, so JSON text becomes protobuf with no tree in between (no `serde_json::Value`,
//! no per-node allocation): the embedded server's path from a stored object to its message.
//!
//! Contract:
//! - Serializing [`Json`] into any serializer makes the same calls serializing the document's
//!   `serde_json::Value` would make, in document order (objects as maps with string keys,
//!   integers as `i64`/`u64`, other numbers as `f64`, `null` as unit), except that keys keep
//!   the document's order rather than being sorted.
//! - A serializer that is not human-readable (protobuf's fields that carry JSON, `FieldsV1` and
//!   `RawExtension`) is given the value's text as it stands in the document instead, as the
//!   newtype `ser::RAW_JSON` around a string (a borrowed `serde_json::value::RawValue`).
//! - Each value is read once: serializing the same [`Json`] twice is an error, not a re-read.
//! - A serializer's error comes out unchanged (not turned into a message); a JSON syntax error
//!   is the serializer's `custom` error with serde_json's text (line and column).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};

/// One JSON value still to be read from its deserializer (taken on first serialization).
pub(crate) struct Json<D>(Cell<Option<D>>);

impl<D> Json<D> {
    pub fn new(d: D) -> Self {
        Json(Cell::new(Some(d)))
    }
}

impl<'de, D: Deserializer<'de>> Serialize for Json<D> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let d = self.0.take().ok_or_else(|| ser::Error::custom("a JSON value was serialized twice"))?;
        if !serializer.is_human_readable() {
            // Asked for the text itself (a protobuf field that carries JSON): it is handed
            // over as it stands in the document, not parsed and written again.
            let text = <&serde_json::value::RawValue>::deserialize(d).map_err(ser::Error::custom)?;
            return serializer.serialize_newtype_struct(super::ser::RAW_JSON, text.get());
        }
        let failed = Cell::new(None);
        d.deserialize_any(Forward { ser: serializer, failed: &failed })
            .map_err(|e| failed.take().unwrap_or_else(|| ser::Error::custom(e)))
    }
}

/// Keeps the serializer's own error while the deserializer unwinds with a placeholder.
fn keep<E, F: de::Error>(failed: &Cell<Option<E>>, e: E) -> F {
    failed.set(Some(e));
    F::custom("serializer failed")
}

/// Visits one JSON value by serializing it.
struct Forward<'f, S: Serializer> {
    ser: S,
    failed: &'f Cell<Option<S::Error>>,
}

impl<'de, S: Serializer> Visitor<'de> for Forward<'_, S> {
    type Value = S::Ok;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<S::Ok, E> {
        self.ser.serialize_bool(v).map_err(|e| keep(self.failed, e))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<S::Ok, E> {
        self.ser.serialize_i64(v).map_err(|e| keep(self.failed, e))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<S::Ok, E> {
        self.ser.serialize_u64(v).map_err(|e| keep(self.failed, e))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<S::Ok, E> {
        self.ser.serialize_f64(v).map_err(|e| keep(self.failed, e))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<S::Ok, E> {
        self.ser.serialize_str(v).map_err(|e| keep(self.failed, e))
    }
    fn visit_unit<E: de::Error>(self) -> Result<S::Ok, E> {
        self.ser.serialize_unit().map_err(|e| keep(self.failed, e))
    }
    fn visit_none<E: de::Error>(self) -> Result<S::Ok, E> {
        self.ser.serialize_none().map_err(|e| keep(self.failed, e))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<S::Ok, D::Error> {
        self.ser.serialize_some(&Json::new(d)).map_err(|e| keep(self.failed, e))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<S::Ok, A::Error> {
        let mut out = self.ser.serialize_seq(seq.size_hint()).map_err(|e| keep(self.failed, e))?;
        while seq.next_element_seed(Element { out: &mut out, failed: self.failed })?.is_some() {}
        out.end().map_err(|e| keep(self.failed, e))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<S::Ok, A::Error> {
        let mut out = self.ser.serialize_map(map.size_hint()).map_err(|e| keep(self.failed, e))?;
        while map.next_key_seed(Entry { out: &mut out, failed: self.failed, key: true })?.is_some() {
            map.next_value_seed(Entry { out: &mut out, failed: self.failed, key: false })?;
        }
        out.end().map_err(|e| keep(self.failed, e))
    }
}

/// The next array element, serialized as it is read.
struct Element<'a, 'f, Q: SerializeSeq> {
    out: &'a mut Q,
    failed: &'f Cell<Option<Q::Error>>,
}

impl<'de, Q: SerializeSeq> DeserializeSeed<'de> for Element<'_, '_, Q> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.out.serialize_element(&Json::new(d)).map_err(|e| keep(self.failed, e))
    }
}

/// The next object key or value, serialized as it is read.
struct Entry<'a, 'f, M: SerializeMap> {
    out: &'a mut M,
    failed: &'f Cell<Option<M::Error>>,
    key: bool,
}

impl<'de, M: SerializeMap> DeserializeSeed<'de> for Entry<'_, '_, M> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let value = Json::new(d);
        let done = if self.key { self.out.serialize_key(&value) } else { self.out.serialize_value(&value) };
        done.map_err(|e| keep(self.failed, e))
    }
}

/// The protobuf message (no envelope) of the JSON document `json`, as the message of
/// `api_version`/`kind`.
///
/// Text that is valid UTF-8 (all stored JSON) is checked once, whole, and read as a `str`:
/// serde_json then borrows every string without validating it again, which on a realistic Pod
/// was a tenth of the encode. Other bytes go through the byte reader, which reports the bad
/// string where it is.
pub(crate) fn message_from_json(json: &[u8], api_version: &str, kind: &str) -> Result<Vec<u8>, super::Error> {
    match std::str::from_utf8(json) {
        Ok(text) => transcode(serde_json::Deserializer::from_str(text), api_version, kind),
        Err(_) => transcode(serde_json::Deserializer::from_slice(json), api_version, kind),
    }
}

fn transcode<'de, R: serde_json::de::Read<'de>>(
    mut d: serde_json::Deserializer<R>,
    api_version: &str,
    kind: &str,
) -> Result<Vec<u8>, super::Error> {
    let raw = super::ser::message(&Json::new(&mut d), api_version, kind)?;
    d.end()?;
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn json_transcodes_to_the_same_message_as_its_value() {
        let doc = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"x": "y"}, "creationTimestamp": "2024-01-02T03:04:05Z",
                "managedFields": [{"manager": "m", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}}}}]},
            "data": {"k": "v"}, "binaryData": {"b": "AAE="}, "immutable": true});
        let text = serde_json::to_vec(&doc).unwrap();
        let direct = message_from_json(&text, "v1", "ConfigMap").unwrap();
        let via_value = super::super::ser::message(&doc, "v1", "ConfigMap").unwrap();
        assert_eq!(direct, via_value);
        let back: Value = super::super::from_message(&direct, "v1", "ConfigMap").unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn errors_keep_their_kind() {
        let e = message_from_json(br#"{"metadata": {"name": 1}}"#, "v1", "ConfigMap").unwrap_err();
        assert!(matches!(e, super::super::Error::Message(ref m) if m.contains("name")), "{e}");
        let e = message_from_json(br#"{"nope": 1}"#, "v1", "ConfigMap").unwrap_err();
        assert!(matches!(e, super::super::Error::UnknownField { .. }), "{e}");
        let e = message_from_json(br#"{"data": {"k": "v"}"#, "v1", "ConfigMap").unwrap_err();
        assert!(matches!(e, super::super::Error::Message(_) | super::super::Error::Json(_)), "{e}");
        assert!(message_from_json(br#"{} x"#, "v1", "ConfigMap").is_err());
    }

    #[test]
    fn text_that_is_not_utf8_is_an_error_not_a_message() {
        let e = message_from_json(b"{\"data\": {\"k\": \"\xff\xfe\"}}", "v1", "ConfigMap").unwrap_err();
        assert!(e.to_string().contains("invalid unicode"), "{e}");
        let ok = message_from_json("{\"data\": {\"k\": \"caf\u{e9}\"}}".as_bytes(), "v1", "ConfigMap").unwrap();
        let back: Value = super::super::from_message(&ok, "v1", "ConfigMap").unwrap();
        assert_eq!(back["data"]["k"], "caf\u{e9}");
    }
}
