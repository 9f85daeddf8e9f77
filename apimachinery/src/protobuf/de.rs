//! The serde `Deserializer` over protobuf wire bytes, guided by the descriptor table: each
//! message is presented as the map its JSON form is (see the module docs of `protobuf` for the
//! rules on presence, repeated fields, maps and special messages).

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

use super::descriptor::{self, Field, Kind, Label, Message, Special};
use super::envelope::Unknown;
use super::special;
use super::wire::{Reader, Value};
use super::{Error, MAX_DEPTH};

/// Decodes an envelope's content: its message, with its type meta as top-level keys.
pub(crate) fn from_unknown<'de, T: de::Deserialize<'de>>(u: &Unknown<'de>, depth: u32) -> Result<T, Error> {
    check_content(u)?;
    if is_json(u) {
        let mut d = serde_json::Deserializer::from_slice(u.raw);
        let v = T::deserialize(&mut d)?;
        d.end()?;
        return Ok(v);
    }
    let message = descriptor::for_kind(u.api_version, u.kind)
        .ok_or_else(|| Error::UnknownKind { api_version: u.api_version.to_owned(), kind: u.kind.to_owned() })?;
    T::deserialize(MessageDeserializer { buf: u.raw, msg: message, type_meta: Some((u.api_version, u.kind)), depth })
}

fn check_content(u: &Unknown<'_>) -> Result<(), Error> {
    let protobuf = u.content_type.is_empty() || u.content_type.starts_with(super::CONTENT_TYPE);
    if !u.content_encoding.is_empty() || !(protobuf || is_json(u)) {
        return Err(Error::UnsupportedContent {
            encoding: u.content_encoding.to_owned(),
            content_type: u.content_type.to_owned(),
        });
    }
    Ok(())
}

fn is_json(u: &Unknown<'_>) -> bool {
    u.content_type.starts_with("application/json")
}

/// One message's bytes, presented by its descriptor.
pub(crate) struct MessageDeserializer<'de> {
    buf: &'de [u8],
    msg: &'static Message,
    type_meta: Option<(&'de str, &'de str)>,
    depth: u32,
}

impl<'de> MessageDeserializer<'de> {
    pub fn new(buf: &'de [u8], msg: &'static Message, depth: u32) -> Self {
        MessageDeserializer { buf, msg, type_meta: None, depth }
    }

    pub fn top(buf: &'de [u8], msg: &'static Message, api_version: &'de str, kind: &'de str) -> Self {
        MessageDeserializer { buf, msg, type_meta: Some((api_version, kind)), depth: 0 }
    }

    fn nested(buf: &'de [u8], msg: &'static Message, depth: u32) -> Result<Self, Error> {
        if depth >= MAX_DEPTH {
            return Err(Error::Depth);
        }
        Ok(MessageDeserializer { buf, msg, type_meta: None, depth: depth + 1 })
    }

    /// The singular field `number`'s last value, if present.
    fn single(&self, number: u64) -> Result<Option<Value<'de>>, Error> {
        let mut r = Reader::new(self.buf);
        let mut found = None;
        while !r.is_empty() {
            let (n, v) = r.field()?;
            if n == number {
                found = Some(v);
            }
        }
        Ok(found)
    }

    /// The last values of fields 1 to 3 (at index 0 to 2), in one pass: the special messages'
    /// fields.
    fn first_three(&self) -> Result<[Option<Value<'de>>; 3], Error> {
        let mut r = Reader::new(self.buf);
        let mut found = [None; 3];
        while !r.is_empty() {
            let (n, v) = r.field()?;
            if let Some(slot) = n.checked_sub(1).and_then(|i| found.get_mut(i as usize)) {
                *slot = Some(v);
            }
        }
        Ok(found)
    }

    fn int(&self, number: u64, value: Option<Value<'de>>) -> Result<i64, Error> {
        match value {
            None => Ok(0),
            Some(Value::Varint(v)) => Ok(v as i64),
            Some(_) => Err(self.wrong(number)),
        }
    }

    fn str(&self, number: u64, value: Option<Value<'de>>) -> Result<&'de str, Error> {
        match value {
            None => Ok(""),
            Some(Value::Len(b)) => std::str::from_utf8(b).map_err(|_| Error::Utf8 { field: self.json(number) }),
            Some(_) => Err(self.wrong(number)),
        }
    }

    fn json(&self, number: u64) -> &'static str {
        self.msg.field(number).map_or("?", |f| f.json)
    }

    fn wrong(&self, number: u64) -> Error {
        Error::WrongWireType { message: self.msg.name, field: self.json(number) }
    }

    /// The sequence of field `number`'s elements.
    fn seq_of(&self, number: u64) -> Result<Repeated<'de>, Error> {
        let field = self.msg.field(number).ok_or(Error::Message(format!("{} has no field {number}", self.msg.name)))?;
        Ok(Repeated { msg: self.msg, field, reader: Reader::new(self.buf), depth: self.depth })
    }

    fn is_present(&self, number: u64) -> Result<bool, Error> {
        Ok(self.single(number)?.is_some())
    }

    /// Whether the JSON form is `null` (an empty Time, RawExtension or JSON).
    fn is_null(&self) -> bool {
        self.buf.is_empty()
            && matches!(self.msg.special, Special::Time | Special::MicroTime | Special::RawExtension | Special::RawJson)
    }
}

fn visit_raw_json<'de, V: Visitor<'de>>(raw: &'de [u8], visitor: V, depth: u32) -> Result<V::Value, Error> {
    if raw.starts_with(&super::MAGIC) {
        let u = Unknown::decode(raw)?;
        check_content(&u)?;
        if depth >= MAX_DEPTH {
            return Err(Error::Depth);
        }
        if !is_json(&u) {
            let message = descriptor::for_kind(u.api_version, u.kind)
                .ok_or_else(|| Error::UnknownKind { api_version: u.api_version.to_owned(), kind: u.kind.to_owned() })?;
            return MessageDeserializer {
                buf: u.raw,
                msg: message,
                type_meta: Some((u.api_version, u.kind)),
                depth: depth + 1,
            }
            .deserialize_any(visitor);
        }
        return visit_raw_json(u.raw, visitor, depth + 1);
    }
    if raw.is_empty() {
        return visitor.visit_unit();
    }
    // One UTF-8 check of the whole text is cheaper than serde_json's check of every string of a
    // byte slice (`FieldsV1` is mostly short keys); text that is not UTF-8 is read from the
    // bytes, so its error is serde_json's.
    match std::str::from_utf8(raw) {
        Ok(text) => {
            let mut d = serde_json::Deserializer::from_str(text);
            let v = d.deserialize_any(visitor)?;
            d.end()?;
            Ok(v)
        }
        Err(_) => {
            let mut d = serde_json::Deserializer::from_slice(raw);
            let v = d.deserialize_any(visitor)?;
            d.end()?;
            Ok(v)
        }
    }
}

impl<'de> Deserializer<'de> for MessageDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.msg.special {
            Special::None | Special::MapEntry => visitor.visit_map(MessageMap::new(self)),
            Special::Time | Special::MicroTime => {
                if self.buf.is_empty() {
                    return visitor.visit_unit();
                }
                let [seconds, nanos, _] = self.first_three()?;
                let (seconds, nanos) = (self.int(1, seconds)?, self.int(2, nanos)? as i32);
                let text = special::format_time(seconds, nanos, self.msg.special == Special::MicroTime)?;
                visitor.visit_str(text.as_str())
            }
            Special::Duration => visitor.visit_str(special::format_duration(self.int(1, self.single(1)?)?).as_str()),
            Special::Quantity => visitor.visit_borrowed_str(self.str(1, self.single(1)?)?),
            Special::IntOrString => {
                let [kind, int, text] = self.first_three()?;
                if self.int(1, kind)? == 1 {
                    visitor.visit_borrowed_str(self.str(3, text)?)
                } else {
                    visitor.visit_i64(i64::from(self.int(2, int)? as i32))
                }
            }
            Special::RawExtension | Special::RawJson => {
                let raw = match self.single(1)? {
                    None => &[][..],
                    Some(Value::Len(b)) => b,
                    Some(_) => return Err(self.wrong(1)),
                };
                if self.msg.special == Special::RawJson && raw.starts_with(&super::MAGIC) {
                    return Err(Error::Message(format!("{}: raw is not JSON", self.msg.name)));
                }
                visit_raw_json(raw, visitor, self.depth)
            }
            Special::Array => visitor.visit_seq(self.seq_of(1)?.into_seq()?),
            Special::SchemaOrArray | Special::SchemaOrStringArray => {
                if self.is_present(2)? {
                    visitor.visit_seq(self.seq_of(2)?.into_seq()?)
                } else {
                    match self.single(1)? {
                        Some(Value::Len(b)) => {
                            let schema = self.seq_of(1)?.field;
                            nested_message(b, schema, self.depth)?.deserialize_any(visitor)
                        }
                        Some(_) => Err(self.wrong(1)),
                        None => visitor.visit_unit(),
                    }
                }
            }
            Special::SchemaOrBool => match self.single(2)? {
                Some(Value::Len(b)) => {
                    let schema = self.seq_of(2)?.field;
                    nested_message(b, schema, self.depth)?.deserialize_any(visitor)
                }
                Some(_) => Err(self.wrong(2)),
                None => visitor.visit_bool(self.int(1, self.single(1)?)? != 0),
            },
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct enum identifier
    }
}

fn nested_message<'de>(buf: &'de [u8], field: &'static Field, depth: u32) -> Result<MessageDeserializer<'de>, Error> {
    match field.kind {
        Kind::Message(idx) => MessageDeserializer::nested(buf, descriptor::message(idx), depth),
        _ => Err(Error::Message(format!("field {} is not a message", field.json))),
    }
}

/// Field numbers already presented (repeated and map fields are presented once, at their
/// first element).
struct Seen {
    low: u64,
    high: Vec<u64>,
}

impl Seen {
    /// Marks `n`; false if it was already marked.
    fn insert(&mut self, n: u64) -> bool {
        if n < 64 {
            let bit = 1u64 << n;
            let new = self.low & bit == 0;
            self.low |= bit;
            new
        } else if self.high.contains(&n) {
            false
        } else {
            self.high.push(n);
            true
        }
    }
}

enum Pending<'de> {
    None,
    Str(&'de str),
    Single(&'static Field, Value<'de>),
    Repeated(Repeated<'de>),
}

struct MessageMap<'de> {
    reader: Reader<'de>,
    msg: &'static Message,
    /// The enclosing messages while inside inline (embedded) fields.
    outer: Vec<(Reader<'de>, &'static Message, Seen)>,
    type_meta: Option<(&'de str, &'de str)>,
    type_meta_step: u8,
    pending: Pending<'de>,
    seen: Seen,
    depth: u32,
}

impl<'de> MessageMap<'de> {
    fn new(d: MessageDeserializer<'de>) -> Self {
        MessageMap {
            reader: Reader::new(d.buf),
            msg: d.msg,
            outer: Vec::new(),
            type_meta: d.type_meta,
            type_meta_step: 0,
            pending: Pending::None,
            seen: Seen { low: 0, high: Vec::new() },
            depth: d.depth,
        }
    }
}

/// A map key: a `&'static str` JSON name from the table.
struct Key(&'static str);

impl<'de> Deserializer<'de> for Key {
    type Error = Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.0)
    }
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for MessageMap<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        if let Some((api_version, kind)) = self.type_meta {
            while self.type_meta_step < 2 {
                self.type_meta_step += 1;
                let (key, value) = if self.type_meta_step == 1 { ("apiVersion", api_version) } else { ("kind", kind) };
                if !value.is_empty() {
                    self.pending = Pending::Str(value);
                    return seed.deserialize(Key(key)).map(Some);
                }
            }
        }
        loop {
            if self.reader.is_empty() {
                // The end of an inline field's message: back to its parent.
                let Some((reader, msg, seen)) = self.outer.pop() else { return Ok(None) };
                (self.reader, self.msg, self.seen) = (reader, msg, seen);
                continue;
            }
            let start = self.reader;
            let (number, value) = self.reader.field()?;
            let Some(field) = self.msg.field(number) else { continue };
            match field.label {
                Label::Single if field.inline => {
                    let (Kind::Message(idx), Value::Len(b)) = (field.kind, value) else {
                        return Err(Error::WrongWireType { message: self.msg.name, field: field.json });
                    };
                    if self.depth + self.outer.len() as u32 >= MAX_DEPTH {
                        return Err(Error::Depth);
                    }
                    let seen = std::mem::replace(&mut self.seen, Seen { low: 0, high: Vec::new() });
                    self.outer.push((std::mem::replace(&mut self.reader, Reader::new(b)), self.msg, seen));
                    self.msg = descriptor::message(idx);
                    continue;
                }
                Label::Single => {
                    if field.omit_zero && value.is_zero() {
                        continue;
                    }
                    if let (Kind::Message(idx), Value::Len(b)) = (field.kind, value) {
                        if b.is_empty()
                            && matches!(descriptor::message(idx).special, Special::Time | Special::MicroTime)
                        {
                            // Go's zero time: `null`, omitted by omitempty/omitzero.
                            continue;
                        }
                    }
                    self.pending = Pending::Single(field, value);
                }
                Label::Repeated | Label::Map => {
                    if !self.seen.insert(number) {
                        continue;
                    }
                    self.pending =
                        Pending::Repeated(Repeated { msg: self.msg, field, reader: start, depth: self.depth });
                }
            }
            return seed.deserialize(Key(field.json)).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => Err(Error::Message("value requested before its key".into())),
            Pending::Str(s) => seed.deserialize(s.into_deserializer()),
            Pending::Single(field, value) => {
                seed.deserialize(FieldValue { msg: self.msg, field, value, depth: self.depth })
            }
            Pending::Repeated(r) => seed.deserialize(r),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        None
    }
}

/// One field's value.
struct FieldValue<'de> {
    msg: &'static Message,
    field: &'static Field,
    value: Value<'de>,
    depth: u32,
}

impl FieldValue<'_> {
    fn wrong(&self) -> Error {
        Error::WrongWireType { message: self.msg.name, field: self.field.json }
    }
}

impl<'de> Deserializer<'de> for FieldValue<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        use Value::*;
        match (self.field.kind, self.value) {
            (Kind::Bool, Varint(v)) => visitor.visit_bool(v != 0),
            (Kind::Int32, Varint(v)) => visitor.visit_i64(i64::from(v as i32)),
            (Kind::Int64, Varint(v)) => visitor.visit_i64(v as i64),
            (Kind::UInt32, Varint(v)) => visitor.visit_u64(u64::from(v as u32)),
            (Kind::UInt64, Varint(v)) => visitor.visit_u64(v),
            (Kind::SInt32, Varint(v)) => visitor.visit_i64(i64::from(((v as u32) >> 1) as i32 ^ -((v & 1) as i32))),
            (Kind::SInt64, Varint(v)) => visitor.visit_i64((v >> 1) as i64 ^ -((v & 1) as i64)),
            (Kind::Fixed32, Fixed32(v)) => visitor.visit_u64(u64::from(v)),
            (Kind::SFixed32, Fixed32(v)) => visitor.visit_i64(i64::from(v as i32)),
            (Kind::Float, Fixed32(v)) => visitor.visit_f32(f32::from_bits(v)),
            (Kind::Fixed64, Fixed64(v)) => visitor.visit_u64(v),
            (Kind::SFixed64, Fixed64(v)) => visitor.visit_i64(v as i64),
            (Kind::Double, Fixed64(v)) => visitor.visit_f64(f64::from_bits(v)),
            (Kind::String, Len(b)) => match std::str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => Err(Error::Utf8 { field: self.field.json }),
            },
            (Kind::Bytes, Len(b)) => {
                use base64::Engine as _;
                visitor.visit_string(base64::engine::general_purpose::STANDARD.encode(b))
            }
            (Kind::Message(idx), Len(b)) => {
                MessageDeserializer::nested(b, descriptor::message(idx), self.depth)?.deserialize_any(visitor)
            }
            _ => Err(self.wrong()),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let (Kind::Message(idx), Value::Len(b)) = (self.field.kind, self.value) {
            let m = MessageDeserializer::nested(b, descriptor::message(idx), self.depth)?;
            return m.deserialize_option(visitor);
        }
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct enum identifier
    }
}

/// A repeated or map field, from its first element to the end of its message.
struct Repeated<'de> {
    msg: &'static Message,
    field: &'static Field,
    /// Positioned at (or before) the first element's tag.
    reader: Reader<'de>,
    depth: u32,
}

impl<'de> Repeated<'de> {
    /// Elements of the field from the reader on (a packed run counts as one: only a hint).
    fn count(&self) -> usize {
        let mut r = self.reader;
        let mut n = 0;
        while !r.is_empty() {
            match r.field() {
                Ok((num, _)) if num == u64::from(self.field.number) => n += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        n
    }

    fn into_seq(self) -> Result<Elements<'de>, Error> {
        let remaining = self.count();
        Ok(Elements { rep: self, remaining, packed: None })
    }
}

impl<'de> Deserializer<'de> for Repeated<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.field.label {
            Label::Map => {
                let remaining = self.count();
                visitor.visit_map(Entries { elements: Elements { rep: self, remaining, packed: None }, value: None })
            }
            _ => visitor.visit_seq(self.into_seq()?),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct enum identifier
    }
}

/// The elements of a repeated field, gathered over the rest of its message.
struct Elements<'de> {
    rep: Repeated<'de>,
    remaining: usize,
    /// Inside a packed run of scalars.
    packed: Option<Reader<'de>>,
}

impl<'de> Elements<'de> {
    fn next(&mut self) -> Result<Option<Value<'de>>, Error> {
        let field = self.rep.field;
        if let Some(p) = &mut self.packed {
            if !p.is_empty() {
                let v = match field.kind {
                    Kind::Fixed32 | Kind::SFixed32 | Kind::Float => Value::Fixed32(p.fixed32()?),
                    Kind::Fixed64 | Kind::SFixed64 | Kind::Double => Value::Fixed64(p.fixed64()?),
                    _ => Value::Varint(p.varint()?),
                };
                return Ok(Some(v));
            }
            self.packed = None;
        }
        while self.remaining > 0 && !self.rep.reader.is_empty() {
            let (number, value) = self.rep.reader.field()?;
            if number != u64::from(field.number) {
                continue;
            }
            self.remaining -= 1;
            let scalar = !matches!(field.kind, Kind::Message(_) | Kind::String | Kind::Bytes);
            if let (true, Value::Len(b)) = (scalar, value) {
                self.packed = Some(Reader::new(b));
                return self.next();
            }
            return Ok(Some(value));
        }
        Ok(None)
    }
}

impl<'de> SeqAccess<'de> for Elements<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(value) = self.next()? else { return Ok(None) };
        let rep = &self.rep;
        seed.deserialize(FieldValue { msg: rep.msg, field: rep.field, value, depth: rep.depth }).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

/// A map field's entries.
struct Entries<'de> {
    elements: Elements<'de>,
    value: Option<(&'static Message, Option<Value<'de>>)>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some(value) = self.elements.next()? else { return Ok(None) };
        let (Kind::Message(idx), Value::Len(entry)) = (self.elements.rep.field.kind, value) else {
            return Err(Error::WrongWireType { message: "map", field: self.elements.rep.field.json });
        };
        let entry_msg = descriptor::message(idx);
        let mut key = None;
        let mut val = None;
        let mut r = Reader::new(entry);
        while !r.is_empty() {
            match r.field()? {
                (1, v) => key = Some(v),
                (2, v) => val = Some(v),
                _ => {}
            }
        }
        self.value = Some((entry_msg, val));
        let key_field = entry_msg.field(1).ok_or(Error::Message("map entry without key".into()))?;
        let depth = self.elements.rep.depth;
        match key {
            Some(v) => seed.deserialize(FieldValue { msg: entry_msg, field: key_field, value: v, depth }).map(Some),
            None => seed.deserialize(Zero { field: key_field, depth }).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (entry_msg, val) = self.value.take().ok_or(Error::Message("value requested before its key".into()))?;
        let field = entry_msg.field(2).ok_or(Error::Message("map entry without value".into()))?;
        let depth = self.elements.rep.depth;
        match val {
            Some(v) => seed.deserialize(FieldValue { msg: entry_msg, field, value: v, depth }),
            None => seed.deserialize(Zero { field, depth }),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.elements.remaining)
    }
}

/// An absent map key or value: its type's zero value.
struct Zero {
    field: &'static Field,
    depth: u32,
}

impl<'de> Deserializer<'de> for Zero {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.field.kind {
            Kind::Bool => visitor.visit_bool(false),
            Kind::String | Kind::Bytes => visitor.visit_borrowed_str(""),
            Kind::Double | Kind::Float => visitor.visit_f64(0.0),
            Kind::Message(idx) => {
                MessageDeserializer::nested(&[], descriptor::message(idx), self.depth)?.deserialize_any(visitor)
            }
            _ => visitor.visit_i64(0),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}
