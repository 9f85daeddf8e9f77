//! The serde `Serializer` from a value's JSON shape to protobuf wire bytes, guided by the
//! descriptor table: the reverse of `de.rs`. Fields are written in field-number order (each
//! message's fields are reordered at its end when the value serialized them in another order);
//! nested messages get their length patched in once written.

use serde::ser::{Impossible, Serialize, SerializeMap, SerializeSeq, SerializeStruct, Serializer};

use super::descriptor::{self, Field, Kind, Label, Message, Special};
use super::envelope::Unknown;
use super::special;
use super::wire::{self, put_bytes, put_tag, put_varint};
use super::{Error, MAX_DEPTH};

pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut sniff = Sniff::default();
    value.serialize(&mut sniff)?;
    let (Some(api_version), Some(kind)) = (sniff.api_version, sniff.kind) else {
        return Err(Error::MissingTypeMeta);
    };
    to_vec_as(value, &api_version, &kind)
}

pub(crate) fn to_vec_as<T: Serialize + ?Sized>(value: &T, api_version: &str, kind: &str) -> Result<Vec<u8>, Error> {
    let raw = message(value, api_version, kind)?;
    Ok(Unknown { api_version, kind, raw: &raw, content_encoding: "", content_type: "" }.encode())
}

/// The bare message of `api_version`/`kind` (no envelope).
pub(crate) fn message<T: Serialize + ?Sized>(value: &T, api_version: &str, kind: &str) -> Result<Vec<u8>, Error> {
    let msg = descriptor::for_kind(api_version, kind)
        .ok_or_else(|| Error::UnknownKind { api_version: api_version.to_owned(), kind: kind.to_owned() })?;
    let mut raw = Vec::with_capacity(1024);
    value.serialize(MessageSer { out: &mut raw, msg, depth: 0 })?;
    Ok(raw)
}

fn unsupported(what: &str) -> Error {
    Error::Message(format!("cannot encode {what} as protobuf here"))
}

/// Patches the one-byte length placeholder at `at` with the length of everything after it.
fn patch_len(out: &mut Vec<u8>, at: usize) {
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut v = [0u8; 10];
        let (mut n, mut rest) = (0, len as u64);
        while rest >= 0x80 {
            v[n] = (rest as u8) | 0x80;
            rest >>= 7;
            n += 1;
        }
        v[n] = rest as u8;
        out.splice(at..at + 1, v[..=n].iter().copied());
    }
}

/// The length placeholders of the fields enclosing a message being written, innermost last
/// (at most two: a wrapper message and the message inside it).
#[derive(Default)]
struct Patches {
    at: [usize; 2],
    len: usize,
}

impl Patches {
    fn push(&mut self, at: usize) {
        if let Some(slot) = self.at.get_mut(self.len) {
            *slot = at;
            self.len += 1;
        }
    }

    /// Patches them all, innermost first.
    fn apply(&self, out: &mut Vec<u8>) {
        for &at in self.at[..self.len].iter().rev() {
            patch_len(out, at);
        }
    }
}

/// Starts a nested message in field `number`: its tag and a length placeholder.
fn open(out: &mut Vec<u8>, number: u32) -> usize {
    put_tag(out, number, wire::LEN);
    out.push(0);
    out.len() - 1
}

// ---------------------------------------------------------------------------------------------
// Reading apiVersion and kind first.

#[derive(Default)]
struct Sniff {
    api_version: Option<String>,
    kind: Option<String>,
    key: Option<String>,
}

impl Sniff {
    fn take<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        match key {
            "apiVersion" => self.api_version = Some(value.serialize(str_capture())?),
            "kind" => self.kind = Some(value.serialize(str_capture())?),
            _ => {}
        }
        Ok(())
    }
}

macro_rules! refuse {
    ($($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ret, Error> { Err(unsupported(stringify!($name))) })*
    };
    // A serializer of one scalar: every compound value (sequence, tuple, map, struct, variant
    // with fields) is refused, and its compound serializer types are `Impossible`.
    (compounds -> $ret:ty) => {
        type SerializeSeq = Impossible<$ret, Error>;
        type SerializeTuple = Impossible<$ret, Error>;
        type SerializeTupleStruct = Impossible<$ret, Error>;
        type SerializeTupleVariant = Impossible<$ret, Error>;
        type SerializeMap = Impossible<$ret, Error>;
        type SerializeStruct = Impossible<$ret, Error>;
        type SerializeStructVariant = Impossible<$ret, Error>;
        refuse! {
            serialize_seq(Option<usize>) -> Self::SerializeSeq;
            serialize_tuple(usize) -> Self::SerializeTuple;
            serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
            serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
            serialize_map(Option<usize>) -> Self::SerializeMap;
            serialize_struct(&'static str, usize) -> Self::SerializeStruct;
            serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
        }
    };
    // An enum variant with data (generic, so it cannot take the form above): `$err`.
    (newtype_variant -> $ret:ty = $err:expr) => {
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<$ret, Error> {
            Err($err)
        }
    };
}

impl Serializer for &mut Sniff {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Error> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        Ok(self)
    }
    refuse!(newtype_variant -> () = Error::MissingTypeMeta);
    refuse! {
        serialize_bool(bool) -> (); serialize_i8(i8) -> (); serialize_i16(i16) -> (); serialize_i32(i32) -> ();
        serialize_i64(i64) -> (); serialize_u8(u8) -> (); serialize_u16(u16) -> (); serialize_u32(u32) -> ();
        serialize_u64(u64) -> (); serialize_f32(f32) -> (); serialize_f64(f64) -> (); serialize_char(char) -> ();
        serialize_str(&str) -> (); serialize_bytes(&[u8]) -> (); serialize_none() -> (); serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

impl SerializeStruct for &mut Sniff {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.take(key, value)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl SerializeMap for &mut Sniff {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(str_capture())?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().unwrap_or_default();
        self.take(&key, value)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// Accepts only a string (or a unit variant's name, or either inside `Some` or a newtype) and
/// hands it to `F`: capturing a map key, apiVersion or kind ([`str_capture`]), or resolving a
/// map key to its field in a message ([`key_field`]).
struct StrArg<F>(F);

/// Captures a string (a map key, apiVersion, kind).
fn str_capture() -> StrArg<impl FnOnce(&str) -> Result<String, Error>> {
    StrArg(|v: &str| Ok(v.to_owned()))
}

/// Resolves a map key to its field in the message (see [`resolve`]).
fn key_field(msg: &'static Message) -> StrArg<impl FnOnce(&str) -> Result<Resolved, Error>> {
    StrArg(move |v: &str| resolve(msg, v))
}

impl<R, F: FnOnce(&str) -> Result<R, Error>> Serializer for StrArg<F> {
    type Ok = R;
    type Error = Error;
    refuse!(compounds -> R);

    fn serialize_str(self, v: &str) -> Result<R, Error> {
        (self.0)(v)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<R, Error> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<R, Error> {
        v.serialize(self)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<R, Error> {
        (self.0)(variant)
    }
    refuse!(newtype_variant -> R = unsupported("a variant as a string"));
    refuse! {
        serialize_bool(bool) -> R; serialize_i8(i8) -> R; serialize_i16(i16) -> R;
        serialize_i32(i32) -> R; serialize_i64(i64) -> R; serialize_u8(u8) -> R;
        serialize_u16(u16) -> R; serialize_u32(u32) -> R; serialize_u64(u64) -> R;
        serialize_f32(f32) -> R; serialize_f64(f64) -> R; serialize_char(char) -> R;
        serialize_bytes(&[u8]) -> R; serialize_none() -> R; serialize_unit() -> R;
        serialize_unit_struct(&'static str) -> R;
    }
}

// ---------------------------------------------------------------------------------------------
// Messages.

/// A whole message's fields, written at the end of `out` (the top-level object).
struct MessageSer<'a> {
    out: &'a mut Vec<u8>,
    msg: &'static Message,
    depth: u32,
}

impl<'a> MessageSer<'a> {
    fn fields(self, patches: Patches) -> Fields<'a> {
        let start = self.out.len();
        Fields {
            out: self.out,
            msg: self.msg,
            depth: self.depth,
            start,
            segments: Vec::new(),
            simple: true,
            patches,
            key: None,
        }
    }
}

impl<'a> Serializer for MessageSer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Fields<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_none(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Fields<'a>, Error> {
        Ok(self.fields(Patches::default()))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'a>, Error> {
        Ok(self.fields(Patches::default()))
    }
    refuse!(newtype_variant -> () = unsupported("an enum variant"));
    refuse! {
        serialize_bool(bool) -> (); serialize_i8(i8) -> (); serialize_i16(i16) -> (); serialize_i32(i32) -> ();
        serialize_i64(i64) -> (); serialize_u8(u8) -> (); serialize_u16(u16) -> (); serialize_u32(u32) -> ();
        serialize_u64(u64) -> (); serialize_f32(f32) -> (); serialize_f64(f64) -> (); serialize_char(char) -> ();
        serialize_str(&str) -> (); serialize_bytes(&[u8]) -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

/// The fields of one message being written; reordered by number (and inline fields' keys
/// gathered into their embedded message) and length-patched at `end`.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    msg: &'static Message,
    depth: u32,
    /// Where this message's fields start.
    start: usize,
    /// Each field written, to reorder them.
    segments: Vec<Segment>,
    /// In number order and with no inline field so far: nothing to rearrange at the end.
    simple: bool,
    /// Length placeholders of the enclosing field(s), innermost last.
    patches: Patches,
    /// The field of the key just serialized (map form).
    key: Option<Resolved>,
}

/// One field's bytes in the output, and the inline fields it belongs in.
struct Segment {
    path: Vec<&'static Field>,
    number: u32,
    start: usize,
    end: usize,
}

impl Segment {
    fn number_at(&self, level: usize) -> u32 {
        self.path.get(level).map_or(self.number, |f| f.number)
    }
}

/// A key's field (with the inline fields leading to it), or `None` for a key that is not
/// encoded.
type Resolved = Option<(Vec<&'static Field>, &'static Field)>;

/// Finds the field of JSON name `key` in `msg`.
fn resolve(msg: &'static Message, key: &str) -> Result<Resolved, Error> {
    let mut path = Vec::new();
    match msg.field_by_json(key, &mut path) {
        Some(field) => Ok(Some((path, field))),
        // Type meta is the envelope's at the top, and not encoded at all in nested objects
        // (Go embeds TypeMeta without a protobuf tag: a StatefulSet's PVC templates).
        None if key == "apiVersion" || key == "kind" => Ok(None),
        None => Err(Error::UnknownField { message: msg.name, field: key.to_owned() }),
    }
}

impl Fields<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, resolved: Resolved, value: &T) -> Result<(), Error> {
        let Some((path, field)) = resolved else {
            // Still read to its end: a value serialized as it is parsed (`transcode`) must be.
            value.serialize(&mut serde_json::Serializer::new(std::io::sink()))?;
            return Ok(());
        };
        let begin = self.out.len();
        encode_field(self.out, field, value, self.depth + path.len() as u32)?;
        if self.out.len() > begin {
            let segment = Segment { path, number: field.number, start: begin, end: self.out.len() };
            if !segment.path.is_empty() || self.segments.last().is_some_and(|s| s.number_at(0) > segment.number) {
                self.simple = false;
            }
            self.segments.push(segment);
        }
        Ok(())
    }

    fn finish(self) -> Result<(), Error> {
        if !self.simple {
            let body = self.out.split_off(self.start);
            let all: Vec<&Segment> = self.segments.iter().collect();
            arrange(self.out, &all, &body, self.start, 0);
        }
        self.patches.apply(self.out);
        Ok(())
    }
}

/// Writes `segments` (bytes in `body`, which starts at offset `base`) in field-number order,
/// those under an inline field at `level` inside that field's message.
fn arrange(out: &mut Vec<u8>, segments: &[&Segment], body: &[u8], base: usize, level: usize) {
    let mut order: Vec<(u32, &Segment)> = segments.iter().map(|s| (s.number_at(level), *s)).collect();
    order.sort_by_key(|&(n, _)| n);
    let mut i = 0;
    while i < order.len() {
        let (n, s) = order[i];
        if s.path.len() == level {
            out.extend_from_slice(&body[s.start - base..s.end - base]);
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < order.len() && order[i].0 == n && order[i].1.path.len() > level {
            group.push(order[i].1);
            i += 1;
        }
        let at = open(out, n);
        arrange(out, &group, body, base, level + 1);
        patch_len(out, at);
    }
}

impl SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.field(resolve(self.msg, key)?, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl SerializeMap for Fields<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        // Resolved at once: the key's text is not kept (no allocation per key).
        self.key = Some(key.serialize(key_field(self.msg))?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let resolved = self.key.take().ok_or_else(|| unsupported("a map value without its key"))?;
        self.field(resolved, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// Writes one field (all of its elements, for repeated and map fields).
fn encode_field<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    field: &'static Field,
    value: &T,
    depth: u32,
) -> Result<(), Error> {
    match field.label {
        Label::Single => encode_single(out, field, value, depth),
        Label::Repeated | Label::Map => value.serialize(Many { out, field, depth }),
    }
}

/// Writes one value of `field` (one element, for a repeated field).
fn encode_single<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    field: &'static Field,
    value: &T,
    depth: u32,
) -> Result<(), Error> {
    if depth >= MAX_DEPTH {
        return Err(Error::Depth);
    }
    if let Kind::Message(idx) = field.kind {
        if matches!(descriptor::message(idx).special, Special::RawExtension | Special::RawJson) {
            // A value read from JSON text hands over its text as it stands; any other is
            // serialized to JSON.
            let mut text = Vec::new();
            let json = match value.serialize(RawText(&mut text)) {
                Ok(()) => text,
                Err(_) => serde_json::to_vec(value)?,
            };
            if json != b"null" {
                let at = open(out, field.number);
                put_bytes(out, 1, &json);
                patch_len(out, at);
            }
            return Ok(());
        }
    }
    value.serialize(One { out, field, depth })
}

/// The newtype name under which a value read from JSON text (`transcode::Json`) hands its
/// text to a serializer that is not human-readable.
pub(crate) const RAW_JSON: &str = "$rudder::protobuf::RawJson";

/// Takes a value's JSON text as it stands in its document, for the fields whose message carries
/// JSON (`FieldsV1`, `RawExtension`): not human-readable, it accepts only the [`RAW_JSON`]
/// newtype (given by `transcode::Json`) and refuses everything else, which is then serialized
/// to JSON instead.
struct RawText<'a>(&'a mut Vec<u8>);

impl Serializer for RawText<'_> {
    type Ok = ();
    type Error = Error;
    refuse!(compounds -> ());

    fn is_human_readable(&self) -> bool {
        false
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, v: &T) -> Result<(), Error> {
        if name != RAW_JSON {
            return Err(unsupported("a value not read from JSON text"));
        }
        let out = self.0;
        v.serialize(StrArg(|text: &str| {
            out.extend_from_slice(text.as_bytes());
            Ok(())
        }))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    refuse!(newtype_variant -> () = unsupported("a value not read from JSON text"));
    refuse! {
        serialize_str(&str) -> (); serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_bool(bool) -> (); serialize_i8(i8) -> (); serialize_i16(i16) -> ();
        serialize_i32(i32) -> (); serialize_i64(i64) -> (); serialize_u8(u8) -> ();
        serialize_u16(u16) -> (); serialize_u32(u32) -> (); serialize_u64(u64) -> ();
        serialize_f32(f32) -> (); serialize_f64(f64) -> (); serialize_char(char) -> ();
        serialize_bytes(&[u8]) -> (); serialize_none() -> (); serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
    }
}

/// One value of a field.
struct One<'a> {
    out: &'a mut Vec<u8>,
    field: &'static Field,
    depth: u32,
}

impl One<'_> {
    fn special(&self) -> Special {
        match self.field.kind {
            Kind::Message(idx) => descriptor::message(idx).special,
            _ => Special::None,
        }
    }

    fn mismatch(&self, what: &str) -> Error {
        Error::Message(format!("field {}: cannot encode {what} as its type", self.field.json))
    }

    fn int(self, v: i128) -> Result<(), Error> {
        let n = self.field.number;
        let range = |lo: i128, hi: i128| {
            if v < lo || v > hi {
                Err(Error::Message(format!("field {}: {v} out of range", self.field.json)))
            } else {
                Ok(())
            }
        };
        match self.field.kind {
            Kind::Int32 | Kind::SInt32 | Kind::SFixed32 => range(i32::MIN.into(), i32::MAX.into())?,
            Kind::Int64 | Kind::SInt64 | Kind::SFixed64 => range(i64::MIN.into(), i64::MAX.into())?,
            Kind::UInt32 | Kind::Fixed32 => range(0, u32::MAX.into())?,
            Kind::UInt64 | Kind::Fixed64 => range(0, u64::MAX.into())?,
            Kind::Double | Kind::Float => return self.float(v as f64),
            Kind::Message(_) if self.special() == Special::IntOrString => {
                range(i32::MIN.into(), i32::MAX.into())?;
                let at = open(self.out, n);
                put_tag(self.out, 1, wire::VARINT);
                put_varint(self.out, 0);
                put_tag(self.out, 2, wire::VARINT);
                put_varint(self.out, v as i64 as u64);
                put_bytes(self.out, 3, b"");
                patch_len(self.out, at);
                return Ok(());
            }
            _ => return Err(self.mismatch("a number")),
        }
        match self.field.kind {
            Kind::Int32 | Kind::Int64 => {
                put_tag(self.out, n, wire::VARINT);
                put_varint(self.out, v as i64 as u64);
            }
            Kind::UInt32 | Kind::UInt64 => {
                put_tag(self.out, n, wire::VARINT);
                put_varint(self.out, v as u64);
            }
            Kind::SInt32 | Kind::SInt64 => {
                let v = v as i64;
                put_tag(self.out, n, wire::VARINT);
                put_varint(self.out, ((v << 1) ^ (v >> 63)) as u64);
            }
            Kind::Fixed32 | Kind::SFixed32 => {
                put_tag(self.out, n, wire::FIXED32);
                self.out.extend_from_slice(&(v as u32).to_le_bytes());
            }
            _ => {
                put_tag(self.out, n, wire::FIXED64);
                self.out.extend_from_slice(&(v as u64).to_le_bytes());
            }
        }
        Ok(())
    }

    fn float(self, v: f64) -> Result<(), Error> {
        let n = self.field.number;
        match self.field.kind {
            Kind::Double => {
                put_tag(self.out, n, wire::FIXED64);
                self.out.extend_from_slice(&v.to_bits().to_le_bytes());
                Ok(())
            }
            Kind::Float => {
                put_tag(self.out, n, wire::FIXED32);
                self.out.extend_from_slice(&(v as f32).to_bits().to_le_bytes());
                Ok(())
            }
            _ if v.fract() == 0.0 && v.is_finite() => self.int(v as i128),
            _ => Err(self.mismatch("a fraction")),
        }
    }

    /// A nested message of this field holding the inner field `inner` (for the special
    /// wrapper messages), returning the placeholders to patch.
    fn wrapper(&mut self, inner: Option<u32>) -> Patches {
        let mut patches = Patches::default();
        patches.push(open(self.out, self.field.number));
        if let Some(number) = inner {
            patches.push(open(self.out, number));
        }
        patches
    }
}

impl<'a> Serializer for One<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Elements<'a>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Fields<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        match (self.field.kind, self.special()) {
            (Kind::Bool, _) => {
                put_tag(self.out, self.field.number, wire::VARINT);
                put_varint(self.out, u64::from(v));
                Ok(())
            }
            (_, Special::SchemaOrBool) => {
                let at = open(self.out, self.field.number);
                put_tag(self.out, 1, wire::VARINT);
                put_varint(self.out, u64::from(v));
                patch_len(self.out, at);
                Ok(())
            }
            _ => Err(self.mismatch("a boolean")),
        }
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.int(v.into())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.int(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.int(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.int(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.int(v.into())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        let n = self.field.number;
        match (self.field.kind, self.special()) {
            (Kind::String, _) => put_bytes(self.out, n, v.as_bytes()),
            (Kind::Bytes, _) => {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| Error::Message(format!("field {}: invalid base64", self.field.json)))?;
                put_bytes(self.out, n, &bytes);
            }
            (_, Special::Quantity) => {
                let at = open(self.out, n);
                put_bytes(self.out, 1, v.as_bytes());
                patch_len(self.out, at);
            }
            (_, Special::IntOrString) => {
                let at = open(self.out, n);
                put_tag(self.out, 1, wire::VARINT);
                put_varint(self.out, 1);
                put_tag(self.out, 2, wire::VARINT);
                put_varint(self.out, 0);
                put_bytes(self.out, 3, v.as_bytes());
                patch_len(self.out, at);
            }
            (_, s @ (Special::Time | Special::MicroTime)) => {
                let (seconds, mut nanos) = special::parse_time(v)?;
                if s == Special::Time {
                    nanos = 0;
                }
                let at = open(self.out, n);
                put_tag(self.out, 1, wire::VARINT);
                put_varint(self.out, seconds as u64);
                put_tag(self.out, 2, wire::VARINT);
                put_varint(self.out, nanos as i64 as u64);
                patch_len(self.out, at);
            }
            (_, Special::Duration) => {
                let nanos = special::parse_duration(v)?;
                let at = open(self.out, n);
                put_tag(self.out, 1, wire::VARINT);
                put_varint(self.out, nanos as u64);
                patch_len(self.out, at);
            }
            _ => return Err(self.mismatch("a string")),
        }
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        match self.field.kind {
            Kind::Bytes | Kind::String => {
                put_bytes(self.out, self.field.number, v);
                Ok(())
            }
            _ => Err(self.mismatch("bytes")),
        }
    }
    fn serialize_none(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    refuse!(newtype_variant -> () = unsupported("an enum variant"));
    fn serialize_seq(mut self, _: Option<usize>) -> Result<Elements<'a>, Error> {
        let Kind::Message(idx) = self.field.kind else { return Err(self.mismatch("an array")) };
        let msg = descriptor::message(idx);
        let inner = match msg.special {
            Special::Array => 1,
            Special::SchemaOrArray | Special::SchemaOrStringArray => 2,
            _ => return Err(self.mismatch("an array")),
        };
        let patches = self.wrapper(None);
        let field = msg.field(inner).ok_or_else(|| self.mismatch("an array"))?;
        Ok(Elements { out: self.out, field, depth: self.depth + 1, patches })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Fields<'a>, Error> {
        self.serialize_struct("", 0)
    }
    fn serialize_struct(mut self, _: &'static str, _: usize) -> Result<Fields<'a>, Error> {
        let Kind::Message(idx) = self.field.kind else { return Err(self.mismatch("an object")) };
        let msg = descriptor::message(idx);
        let (patches, msg) = match msg.special {
            Special::None => (self.wrapper(None), msg),
            Special::SchemaOrArray | Special::SchemaOrStringArray | Special::SchemaOrBool => {
                let number = if msg.special == Special::SchemaOrBool { 2 } else { 1 };
                let schema = msg.field(u64::from(number)).ok_or_else(|| self.mismatch("an object"))?;
                let Kind::Message(s) = schema.kind else { return Err(self.mismatch("an object")) };
                (self.wrapper(Some(number)), descriptor::message(s))
            }
            _ => return Err(self.mismatch("an object")),
        };
        let out = self.out;
        let start = out.len();
        Ok(Fields { out, msg, depth: self.depth + 1, start, segments: Vec::new(), simple: true, patches, key: None })
    }
    refuse! {
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

/// Elements of a repeated field written one after another (the array inside a wrapper message
/// when `patches` is not empty).
struct Elements<'a> {
    out: &'a mut Vec<u8>,
    field: &'static Field,
    depth: u32,
    patches: Patches,
}

impl SerializeSeq for Elements<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let before = self.out.len();
        encode_single(self.out, self.field, value, self.depth)?;
        if self.out.len() == before {
            // A null element still counts: Go would write an empty one.
            write_empty(self.out, self.field);
        }
        Ok(())
    }
    fn end(self) -> Result<(), Error> {
        self.patches.apply(self.out);
        Ok(())
    }
}

/// An element or map value with the zero value of its type.
fn write_empty(out: &mut Vec<u8>, field: &Field) {
    match field.kind {
        Kind::String | Kind::Bytes | Kind::Message(_) => put_bytes(out, field.number, b""),
        Kind::Double | Kind::Fixed64 | Kind::SFixed64 => {
            put_tag(out, field.number, wire::FIXED64);
            out.extend_from_slice(&[0; 8]);
        }
        Kind::Float | Kind::Fixed32 | Kind::SFixed32 => {
            put_tag(out, field.number, wire::FIXED32);
            out.extend_from_slice(&[0; 4]);
        }
        _ => {
            put_tag(out, field.number, wire::VARINT);
            put_varint(out, 0);
        }
    }
}

/// A repeated or map field's whole value.
struct Many<'a> {
    out: &'a mut Vec<u8>,
    field: &'static Field,
    depth: u32,
}

impl<'a> Serializer for Many<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Elements<'a>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Entries<'a>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_none(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Elements<'a>, Error> {
        if self.field.label != Label::Repeated {
            return Err(Error::Message(format!("field {} is a map, not an array", self.field.json)));
        }
        Ok(Elements { out: self.out, field: self.field, depth: self.depth, patches: Patches::default() })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Entries<'a>, Error> {
        let Kind::Message(idx) = self.field.kind else {
            return Err(Error::Message(format!("field {} is not a map", self.field.json)));
        };
        let entry = descriptor::message(idx);
        if self.field.label != Label::Map {
            return Err(Error::Message(format!("field {} is an array, not a map", self.field.json)));
        }
        let key = entry.field(1).ok_or_else(|| unsupported("a map without key"))?;
        let value = entry.field(2).ok_or_else(|| unsupported("a map without value"))?;
        Ok(Entries { out: self.out, number: self.field.number, key, value, depth: self.depth, open: None })
    }
    refuse!(newtype_variant -> () = unsupported("an enum variant"));
    refuse! {
        serialize_bool(bool) -> (); serialize_i8(i8) -> (); serialize_i16(i16) -> (); serialize_i32(i32) -> ();
        serialize_i64(i64) -> (); serialize_u8(u8) -> (); serialize_u16(u16) -> (); serialize_u32(u32) -> ();
        serialize_u64(u64) -> (); serialize_f32(f32) -> (); serialize_f64(f64) -> (); serialize_char(char) -> ();
        serialize_str(&str) -> (); serialize_bytes(&[u8]) -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

/// A map field's entries, each an entry message with `key` 1 and `value` 2 (both always
/// written, as Go does).
struct Entries<'a> {
    out: &'a mut Vec<u8>,
    number: u32,
    key: &'static Field,
    value: &'static Field,
    depth: u32,
    /// The open entry's length placeholder.
    open: Option<usize>,
}

impl SerializeMap for Entries<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let at = open(self.out, self.number);
        self.open = Some(at);
        let before = self.out.len();
        encode_single(self.out, self.key, key, self.depth + 1)?;
        if self.out.len() == before {
            write_empty(self.out, self.key);
        }
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let at = self.open.take().ok_or_else(|| unsupported("a map value without its key"))?;
        let before = self.out.len();
        encode_single(self.out, self.value, value, self.depth + 1)?;
        if self.out.len() == before {
            write_empty(self.out, self.value);
        }
        patch_len(self.out, at);
        Ok(())
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}
