//! JSON decoding that allocates every sequence at its exact length.
//!
//! `serde_json` gives a `Vec` no size hint, so a decoded `Vec<T>` grows by doubling and keeps
//! the spare capacity for as long as the object lives. For a k8s-openapi `Pod` (containers,
//! env, ports, volume mounts, managedFields, conditions...) that slack is about 6 KB per object,
//! more than the object's JSON. An informer keeps every object for the life of the process, so
//! [`from_slice`] decodes exactly as `serde_json::from_slice` does, with one difference: each
//! JSON array the decoder turns into a sequence reports its element count as the sequence's
//! size hint. `Vec<T>` then allocates once, at the final length, which also saves the
//! reallocations and moves of the growing `Vec`.
//!
//! How the counts are found, lazily:
//! - The wrapper around serde_json's deserializer knows the byte offset of the value being
//!   decoded: the root is at 0, an object member's value follows its key (an unescaped key
//!   reaches the visitor as a `&str` borrowed from the input, whose address gives its offset),
//!   and an array element starts where the scan below recorded it.
//! - When serde_json hands a sequence to a visitor, the array at that offset is scanned once
//!   (one pass, skipping strings eight bytes at a time): its length, the offsets of its
//!   elements, and the same for every array nested in it. Later sequences inside that array
//!   are looked up, in document order, without scanning again.
//! - An object that starts inside a scanned array after the last array found in it holds no
//!   array, so serde_json decodes it alone, without the wrapper: managedFields entries with
//!   their FieldsV1 trees (most of a Pod's keys), conditions, tolerations. Not when skipping
//!   managedFields, where every `metadata` object must be seen.
//! - Nothing else is scanned: values a type ignores (unknown fields, `IgnoredAny`), RawValues
//!   and objects and scalars outside arrays cost no scan at all, so a view type that keeps a
//!   few fields of a Pod pays only for the arrays it decodes.
//! - A key that is not borrowed (it holds an escape, like managedFields' `k:{\"type\":...}`
//!   keys, or decodes as a number) gives no offset; the member's value is then found by
//!   stepping over the members before it, resuming from the last member found that way, so
//!   each object costs at most one extra pass.
//! - Offsets are `u32`: a document over 4 GiB decodes the same, without hints.
//!
//! [`from_slice_with`] can also skip `managedFields` while decoding ([`JsonOptions`]): the
//! member `managedFields` of every object that is the value of a `metadata` member is passed
//! over unparsed (serde_json skips it as it would an unknown field), so an `ObjectMeta` gets
//! `managed_fields: None` without the decoder ever building its `FieldsV1` trees, which are
//! about half of a realistic Pod's heap and a third of its decode time. A `metadata` key
//! written with escapes is not recognised (its managedFields are then decoded as usual).
//!
//! Contract:
//! - The result and every error are those of `serde_json::from_slice::<T>` on the same bytes:
//!   the wrapper forwards every call unchanged and only adds size hints (errors keep
//!   serde_json's line and column).
//! - A hint is only a hint: on malformed input, or a type that decodes arrays outside the
//!   wrapper, a wrong hint costs spare capacity or a reallocation, never a wrong value, and
//!   serde caps hinted pre-allocation at 1 MiB per sequence. No input makes the scan panic.
//!
//! ```
//! let v: Vec<Vec<u8>> = rudder_apimachinery::json::from_slice(br#"[[1,2,3],[4]]"#).unwrap();
//! assert_eq!(v, vec![vec![1, 2, 3], vec![4]]);
//! assert_eq!(v.capacity(), 2);
//! assert_eq!(v[0].capacity(), 3);
//! ```

mod scan;

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use scan::Tables;

/// Decodes `bytes` as `T`, like `serde_json::from_slice`, with exact-length sequences.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    decode(bytes, JsonOptions::default()).map(|(value, _)| value)
}

/// What [`from_slice_with`] does besides decoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// Skip the `managedFields` member of every `metadata` object unparsed: the value decodes
    /// as if the document had no `managedFields` there (for `ObjectMeta`: `None`). Values
    /// and errors are otherwise those of [`from_slice`]; a malformed `managedFields` is still
    /// an error (serde_json checks what it skips).
    pub skip_managed_fields: bool,
}

/// [`from_slice`] with options.
///
/// ```
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use rudder_apimachinery::json::{from_slice_with, JsonOptions};
/// let doc = br#"{"metadata":{"name":"a","managedFields":[{"manager":"kubectl","fieldsV1":{"f:data":{}}}]}}"#;
/// let cm: ConfigMap = from_slice_with(doc, JsonOptions { skip_managed_fields: true }).unwrap();
/// assert_eq!(cm.metadata.name.as_deref(), Some("a"));
/// assert!(cm.metadata.managed_fields.is_none());
/// ```
pub fn from_slice_with<T: DeserializeOwned>(bytes: &[u8], opts: JsonOptions) -> serde_json::Result<T> {
    decode(bytes, opts).map(|(value, _)| value)
}

/// What a decode did, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stats {
    /// Sequences the decoder met whose array could not be found (no hint given).
    missed: usize,
    /// Bytes the scan went through.
    scanned: usize,
    /// Objects handed to serde_json whole, known to hold no array.
    plain: usize,
}

/// [`from_slice`], also saying what the hinting did.
fn decode<T: DeserializeOwned>(bytes: &[u8], opts: JsonOptions) -> serde_json::Result<(T, Stats)> {
    // The tables are reused per thread: fresh multi-KB tables per object would be large-bin
    // allocations, which make glibc consolidate its fast bins on every decode. A nested call
    // (a Deserialize impl decoding JSON itself) finds the slot empty and allocates.
    let mut tables = SCRATCH.try_with(|s| s.take()).unwrap_or_default();
    tables.clear();
    let hints = Hints {
        bytes,
        pending: Cell::new(0),
        tables: RefCell::new(tables),
        missed: Cell::new(0),
        plain: Cell::new(0),
        skip_managed_fields: opts.skip_managed_fields,
        metadata_next: Cell::new(false),
    };
    // serde_json checks every string of a byte slice for UTF-8 on its own; checking the whole
    // document once is several times cheaper and lets it read the document as a `str`. The
    // result is the same; a document that is not UTF-8 is decoded from the bytes, so its
    // error is serde_json's, where serde_json finds it.
    let result = match std::str::from_utf8(bytes) {
        Ok(text) => decode_with(serde_json::Deserializer::from_str(text), &hints),
        Err(_) => decode_with(serde_json::Deserializer::from_slice(bytes), &hints),
    };
    let tables = hints.tables.into_inner();
    let stats = Stats { missed: hints.missed.get(), scanned: tables.scanned, plain: hints.plain.get() };
    if tables.arrays.capacity().max(tables.elems.capacity()) <= MAX_KEPT {
        let _ = SCRATCH.try_with(|s| s.set(tables));
    }
    result.map(|value| (value, stats))
}

/// Decodes one `T` from `de` with `hints`, requiring nothing but whitespace after it.
fn decode_with<'de, R, T>(mut de: serde_json::Deserializer<R>, hints: &Hints<'_>) -> serde_json::Result<T>
where
    R: serde_json::de::Read<'de>,
    T: DeserializeOwned,
{
    let value = T::deserialize(Hinted { inner: &mut de, hints })?;
    de.end()?;
    Ok(value)
}

/// Tables kept per thread only up to this many entries, so one huge document does not pin its
/// tables for the life of the thread.
const MAX_KEPT: usize = 1 << 16;

thread_local! {
    static SCRATCH: Cell<Tables> = Cell::new(Tables::default());
}

/// Marks an unknown offset in [`Hints::pending`].
const UNKNOWN: usize = usize::MAX;

/// The document, where the next value starts, and the arrays scanned so far.
struct Hints<'h> {
    bytes: &'h [u8],
    /// The offset the value about to be decoded starts at (after optional whitespace and `:`):
    /// set by the root, by each key and by each array element just before its value.
    pending: Cell<usize>,
    tables: RefCell<Tables>,
    missed: Cell<usize>,
    /// Objects decoded without the wrapper ([`Stats::plain`]).
    plain: Cell<usize>,
    /// [`JsonOptions::skip_managed_fields`].
    skip_managed_fields: bool,
    /// The last key read was `metadata`, and no value or element has started since: a map
    /// visited now is a metadata object (tracked only with `skip_managed_fields`).
    metadata_next: Cell<bool>,
}

impl Hints<'_> {
    /// A key borrowed from the input: its value follows the closing quote.
    fn key(&self, key: &[u8]) {
        let offset = (key.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize);
        let end = offset.wrapping_add(key.len());
        if offset < self.bytes.len() && self.bytes.get(end) == Some(&b'"') {
            self.pending.set(end + 1);
        }
    }

    /// Remembers whether `key` (just read) is `metadata`, when skipping managedFields.
    fn note_key(&self, key: &[u8]) {
        if self.skip_managed_fields {
            self.metadata_next.set(key == b"metadata");
        }
    }

    /// Whether the value at `at` is known to hold no array, so decoding it needs no hints.
    /// Never when skipping managedFields: a `metadata` object inside must still be seen.
    fn holds_no_array(&self, at: usize) -> bool {
        !self.skip_managed_fields && at != UNKNOWN && self.tables.borrow().no_array_from(at)
    }

    /// The length of the array about to be decoded and where its element offsets are.
    fn array(&self) -> Option<(u32, u32)> {
        let at = self.pending.get();
        let found = if at == UNKNOWN { None } else { self.tables.borrow_mut().array_at(self.bytes, at) };
        if found.is_none() {
            self.missed.set(self.missed.get() + 1);
        }
        found
    }
}

/// A deserializer for one value that passes every visitor through [`HintVisitor`].
struct Hinted<'h, D> {
    inner: D,
    hints: &'h Hints<'h>,
}

macro_rules! forward {
    ($visitor:ident; $($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method($($arg,)* $visitor { inner: visitor, hints: self.hints })
        }
    )*};
}

/// Every `deserialize_*` method but `ignored_any` and `newtype_struct`.
macro_rules! forward_all {
    ($visitor:ident) => {
        forward!($visitor;
            deserialize_any(),
            deserialize_bool(),
            deserialize_i8(),
            deserialize_i16(),
            deserialize_i32(),
            deserialize_i64(),
            deserialize_i128(),
            deserialize_u8(),
            deserialize_u16(),
            deserialize_u32(),
            deserialize_u64(),
            deserialize_u128(),
            deserialize_f32(),
            deserialize_f64(),
            deserialize_char(),
            deserialize_str(),
            deserialize_string(),
            deserialize_bytes(),
            deserialize_byte_buf(),
            deserialize_option(),
            deserialize_unit(),
            deserialize_seq(),
            deserialize_map(),
            deserialize_identifier(),
            deserialize_unit_struct(name: &'static str),
            deserialize_tuple(len: usize),
            deserialize_tuple_struct(name: &'static str, len: usize),
            deserialize_struct(name: &'static str, fields: &'static [&'static str]),
            deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        );
    };
}

impl<'de, 'h, D: Deserializer<'de>> Deserializer<'de> for Hinted<'h, D> {
    type Error = D::Error;

    forward_all!(HintVisitor);

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // serde_json skips the value; nothing in it is ever looked up.
        self.inner.deserialize_ignored_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        if name == RAW_VALUE {
            // serde_json captures the text without visiting what is inside.
            return self.inner.deserialize_newtype_struct(name, visitor);
        }
        self.inner.deserialize_newtype_struct(name, HintVisitor { inner: visitor, hints: self.hints })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// serde_json's marker for `RawValue`, whose contents the decoder never visits.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// A visitor that hands a sequence its counted length and wraps every nested deserializer.
struct HintVisitor<'h, V> {
    inner: V,
    hints: &'h Hints<'h>,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

/// Every scalar `visit_*` method but `borrowed_str` and `borrowed_bytes`.
macro_rules! forward_scalars {
    () => {
        forward_visit!(
            visit_bool(bool),
            visit_i8(i8),
            visit_i16(i16),
            visit_i32(i32),
            visit_i64(i64),
            visit_i128(i128),
            visit_u8(u8),
            visit_u16(u16),
            visit_u32(u32),
            visit_u64(u64),
            visit_u128(u128),
            visit_f32(f32),
            visit_f64(f64),
            visit_char(char),
            visit_str(&str),
            visit_string(String),
            visit_bytes(&[u8]),
            visit_byte_buf(Vec<u8>),
        );

        fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_unit()
        }
    };
}

impl<'de, 'h, V: Visitor<'de>> Visitor<'de> for HintVisitor<'h, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_scalars!();
    forward_visit!(visit_borrowed_str(&'de str), visit_borrowed_bytes(&'de [u8]));

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Hinted { inner: d, hints: self.hints })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Hinted { inner: d, hints: self.hints })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let (len, first) = self.hints.array().map_or((None, 0), |(len, first)| (Some(len), first));
        self.inner.visit_seq(HintSeq { inner: seq, hints: self.hints, len, first, next: 0 })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let at = self.hints.pending.get();
        let metadata = self.hints.metadata_next.replace(false);
        if self.hints.holds_no_array(at) {
            // Nothing inside needs a hint: serde_json decodes the object on its own (the
            // FieldsV1 trees of managedFields, conditions, tolerations...).
            self.hints.plain.set(self.hints.plain.get() + 1);
            return self.inner.visit_map(map);
        }
        self.inner.visit_map(HintMap { inner: map, hints: self.hints, members: Members::new(at), metadata })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let at = self.hints.pending.get();
        self.inner.visit_enum(HintEnum { inner: data, hints: self.hints, at })
    }
}

/// A seed for a new value, whose deserializer is wrapped in [`Hinted`].
struct HintSeed<'h, S> {
    inner: S,
    hints: &'h Hints<'h>,
}

impl<'de, 'h, S: DeserializeSeed<'de>> DeserializeSeed<'de> for HintSeed<'h, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Hinted { inner: d, hints: self.hints })
    }
}

/// A sequence with its counted length (when found): each element is announced at the offset
/// the scan recorded for it.
struct HintSeq<'h, A> {
    inner: A,
    hints: &'h Hints<'h>,
    len: Option<u32>,
    /// Where the element offsets start in the scan's tables.
    first: u32,
    /// Elements decoded so far.
    next: u32,
}

impl<'de, 'h, A: SeqAccess<'de>> SeqAccess<'de> for HintSeq<'h, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        let at = match self.len {
            Some(len) if self.next < len => {
                let tables = self.hints.tables.borrow();
                tables.elems.get((self.first + self.next) as usize).map_or(UNKNOWN, |&at| at as usize)
            }
            _ => UNKNOWN,
        };
        self.hints.pending.set(at);
        self.hints.metadata_next.set(false);
        let element = self.inner.next_element_seed(HintSeed { inner: seed, hints: self.hints })?;
        if element.is_some() {
            self.next = self.next.saturating_add(1);
        }
        Ok(element)
    }

    fn size_hint(&self) -> Option<usize> {
        match self.len {
            Some(len) => Some(len.saturating_sub(self.next) as usize),
            None => self.inner.size_hint(),
        }
    }
}

/// Where the members of one object start, for keys that do not give their offset.
struct Members {
    /// The offset the object starts at (after optional whitespace and `:`).
    at: usize,
    /// Keys decoded so far.
    keys: u32,
    /// The last member found by counting: its index and value offset.
    found: Option<(u32, usize)>,
}

impl Members {
    fn new(at: usize) -> Self {
        Members { at, keys: 0, found: None }
    }

    /// Called after each key, before its value: when the key gave no offset, finds the value
    /// by counting members from the start of the object.
    fn after_key(&mut self, hints: &Hints<'_>) {
        let m = self.keys;
        self.keys = self.keys.saturating_add(1);
        if hints.pending.get() != UNKNOWN || self.at == UNKNOWN {
            return;
        }
        if let Some(pos) = scan::member_value(hints.bytes, self.at, self.found, m) {
            self.found = Some((m, pos));
            hints.pending.set(pos);
        }
    }
}

/// Map access whose keys report their offsets and whose values are wrapped.
struct HintMap<'h, A> {
    inner: A,
    hints: &'h Hints<'h>,
    members: Members,
    /// This map is the value of a `metadata` member and managedFields are skipped: its keys
    /// are read here first, and `managedFields` with its value is passed over.
    metadata: bool,
}

impl<'de, 'h, A: MapAccess<'de>> MapAccess<'de> for HintMap<'h, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        // Only the key read next says whether a map value is a metadata object.
        self.hints.metadata_next.set(false);
        if self.metadata {
            return self.next_metadata_key(seed);
        }
        self.hints.pending.set(UNKNOWN);
        let key = self.inner.next_key_seed(KeySeed { inner: seed, hints: self.hints })?;
        if key.is_some() {
            self.members.after_key(self.hints);
        }
        Ok(key)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(HintSeed { inner: seed, hints: self.hints })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, 'h, A: MapAccess<'de>> HintMap<'h, A> {
    /// The next key of a metadata object other than `managedFields`, whose value is skipped.
    fn next_metadata_key<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        loop {
            self.hints.pending.set(UNKNOWN);
            let Some(key) = self.inner.next_key_seed(KeySeed { inner: RawKey, hints: self.hints })? else {
                return Ok(None);
            };
            self.members.after_key(self.hints);
            // `note_key` saw this key: a map value is a metadata object only under `metadata`.
            if key.as_str() == "managedFields" {
                self.inner.next_value::<de::IgnoredAny>()?;
                continue;
            }
            let value = match key {
                RawKeyValue::Borrowed(k) => seed.deserialize(de::value::BorrowedStrDeserializer::new(k)),
                RawKeyValue::Owned(k) => seed.deserialize(de::value::StringDeserializer::new(k)),
            };
            return value.map(Some);
        }
    }
}

/// A key read as text, to be handed to the real key seed afterwards.
struct RawKey;

enum RawKeyValue<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl RawKeyValue<'_> {
    fn as_str(&self) -> &str {
        match self {
            RawKeyValue::Borrowed(k) => k,
            RawKeyValue::Owned(k) => k,
        }
    }
}

impl<'de> DeserializeSeed<'de> for RawKey {
    type Value = RawKeyValue<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawKeyValue<'de>, D::Error> {
        d.deserialize_str(RawKey)
    }
}

impl<'de> Visitor<'de> for RawKey {
    type Value = RawKeyValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<RawKeyValue<'de>, E> {
        Ok(RawKeyValue::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawKeyValue<'de>, E> {
        Ok(RawKeyValue::Owned(v.to_string()))
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<RawKeyValue<'de>, E> {
        std::str::from_utf8(v).map(RawKeyValue::Borrowed).map_err(|_| E::invalid_value(de::Unexpected::Bytes(v), &self))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawKeyValue<'de>, E> {
        std::str::from_utf8(v)
            .map(|k| RawKeyValue::Owned(k.to_string()))
            .map_err(|_| E::invalid_value(de::Unexpected::Bytes(v), &self))
    }
}

/// A seed for a key (a map key or an enum variant name), whose deserializer reports where
/// the key ends.
struct KeySeed<'h, S> {
    inner: S,
    hints: &'h Hints<'h>,
}

impl<'de, 'h, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'h, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(KeyDe { inner: d, hints: self.hints })
    }
}

struct KeyDe<'h, D> {
    inner: D,
    hints: &'h Hints<'h>,
}

impl<'de, 'h, D: Deserializer<'de>> Deserializer<'de> for KeyDe<'h, D> {
    type Error = D::Error;

    forward_all!(KeyVisitor);
    forward!(KeyVisitor; deserialize_ignored_any(), deserialize_newtype_struct(name: &'static str));

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A key's visitor: a key borrowed from the input reports its offset.
struct KeyVisitor<'h, V> {
    inner: V,
    hints: &'h Hints<'h>,
}

impl<'de, 'h, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'h, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_scalars!();

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.hints.key(v.as_bytes());
        self.hints.note_key(v.as_bytes());
        self.inner.visit_borrowed_str(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        self.hints.key(v);
        self.hints.note_key(v);
        self.inner.visit_borrowed_bytes(v)
    }

    // serde_json keys are strings (or numbers in quotes); the rest is passed on as is.
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

/// Enum access: the variant name is a key (`{"Variant": ...}`) or the value itself
/// (`"Variant"`), so only the variant's content is a new value, found after the name.
struct HintEnum<'h, A> {
    inner: A,
    hints: &'h Hints<'h>,
    /// The offset the enum's value starts at.
    at: usize,
}

impl<'de, 'h, A: EnumAccess<'de>> EnumAccess<'de> for HintEnum<'h, A> {
    type Error = A::Error;
    type Variant = HintVariant<'h, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        self.hints.pending.set(UNKNOWN);
        let (value, variant) = self.inner.variant_seed(KeySeed { inner: seed, hints: self.hints })?;
        Members::new(self.at).after_key(self.hints);
        Ok((value, HintVariant { inner: variant, hints: self.hints }))
    }
}

struct HintVariant<'h, A> {
    inner: A,
    hints: &'h Hints<'h>,
}

impl<'de, 'h, A: VariantAccess<'de>> VariantAccess<'de> for HintVariant<'h, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(HintSeed { inner: seed, hints: self.hints })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, HintVisitor { inner: visitor, hints: self.hints })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(fields, HintVisitor { inner: visitor, hints: self.hints })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    /// Decodes with both decoders: equal values, and every sequence got its hint.
    fn same<T: DeserializeOwned + PartialEq + std::fmt::Debug>(b: &[u8]) -> T {
        let (ours, stats) = decode::<T>(b, JsonOptions::default()).unwrap();
        assert_eq!(ours, serde_json::from_slice::<T>(b).unwrap());
        assert_eq!(stats.missed, 0, "a sequence got no hint in {}", String::from_utf8_lossy(b));
        ours
    }

    #[test]
    fn malformed_input_never_panics_and_errors_match_serde_json() {
        for bad in [&b"[[[["[..], b"]]]", b"\"\\", b"[1,,2]", b"{\"a\":[1,}", b"", b"[\"\\\"]", b"\xff", b"{\"a\":[1,2"]
        {
            let ours = from_slice::<Value>(bad).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Value>(bad).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "input {:?}", String::from_utf8_lossy(bad));
        }
        let ours = from_slice::<Vec<u8>>(b"[1, 2, 300]").unwrap_err().to_string();
        assert_eq!(ours, serde_json::from_slice::<Vec<u8>>(b"[1, 2, 300]").unwrap_err().to_string());
        assert!(ours.contains("line 1 column"), "{ours}");
    }

    #[test]
    fn documents_that_are_not_utf8_fail_as_in_serde_json() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Two {
            a: u8,
            b: String,
        }
        // The bad byte in a kept string, in an ignored string, after a type error, in a key.
        let docs: [&[u8]; 5] = [
            b"{\"a\":1,\"b\":\"x\xff\"}",
            b"{\"a\":1,\"zz\":\"\xc3\",\"b\":\"ok\"}",
            b"{\"a\":\"no\",\"b\":\"\xff\"}",
            b"{\"\xff\":1,\"a\":1,\"b\":\"\"}",
            b"{\"a\":1,\"b\":\"\xe2\x82\"}",
        ];
        for doc in docs {
            let ours = from_slice::<Two>(doc).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Two>(doc).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(doc));
        }
        // serde_json does not check strings it skips: neither do we.
        assert!(from_slice::<Two>(docs[1]).is_ok());
        assert!(from_slice::<Two>(docs[0]).is_err());
        // Valid multi-byte text is decoded as before.
        let v: Two = same("{\"a\":7,\"b\":\"h\u{e9}llo \u{1F600} \\u00e9\"}".as_bytes());
        assert_eq!(v.b, "h\u{e9}llo \u{1F600} \u{e9}");
    }

    /// A Pod document with what real ones hold: nested arrays, managedFields, escapes and
    /// multi-byte text.
    fn pod_doc() -> Vec<u8> {
        let v = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-0", "namespace": "d\u{e9}mo", "resourceVersion": "42",
                "labels": {"app": "web", "tier": "fr\u{f6}nt"},
                "annotations": {"note": "quote \" and \\ and \n, \u{1F600}"},
                "managedFields": [{
                    "manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                                 "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}}}}}
                }]
            },
            "spec": {
                "nodeName": "n1",
                "containers": [
                    {"name": "app", "image": "nginx", "args": ["-a", "-b"],
                     "ports": [{"containerPort": 80}, {"containerPort": 443}],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "\u{e9}"}]},
                    {"name": "side", "image": "busybox", "command": []}
                ],
                "volumes": [{"name": "v", "emptyDir": {}}]
            },
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        });
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn mutated_pods_decode_or_fail_exactly_as_in_serde_json() {
        use k8s_openapi::api::core::v1::Pod;
        let base = pod_doc();
        let _: Pod = same(&base);
        // Bytes that matter to a JSON scanner, and bytes that break UTF-8.
        let alphabet: &[u8] = b"\"\\[]{},:0 e-\xff\xc3\xa9\x80\xe2";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut decoded, mut not_utf8) = (0, 0);
        for round in 0..3000 {
            let mut doc = base.clone();
            for _ in 0..1 + next(3) {
                let at = next(doc.len());
                match next(3) {
                    0 => doc[at] = alphabet[next(alphabet.len())],
                    1 => {
                        doc.remove(at);
                    }
                    _ => doc.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            let ours = from_slice::<Pod>(&doc).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Pod>(&doc).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "round {round}: {}", String::from_utf8_lossy(&doc));
            decoded += usize::from(ours.is_ok());
            not_utf8 += usize::from(std::str::from_utf8(&doc).is_err());
            let ours = from_slice::<Value>(&doc).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Value>(&doc).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "round {round}: {}", String::from_utf8_lossy(&doc));
        }
        // Both paths were taken often: documents that decode, and documents that are not UTF-8.
        assert!(decoded > 100 && not_utf8 > 300, "{decoded} decoded, {not_utf8} not UTF-8");
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Outer {
        items: Vec<Inner>,
        tags: Option<Vec<String>>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Inner {
        ports: Vec<u16>,
    }

    #[test]
    fn vecs_are_exact_even_after_ignored_values_holding_arrays() {
        let b = br#"{"unknown":[[1,2],[3,[4,5,6]]],"items":[{"ports":[1,2,3,4,5]},{"x":[9,9],"ports":[7]}],
                     "more":{"deep":[1,2,3,4,5,6,7,8,9]},"tags":["a","b","c"]}"#;
        let v: Outer = same(b);
        assert_eq!(v.items.capacity(), 2);
        assert_eq!(v.items[0].ports.capacity(), 5);
        assert_eq!(v.items[1].ports.capacity(), 1);
        assert_eq!(v.tags.as_ref().map(Vec::capacity), Some(3));
        // serde_json alone leaves the doubling slack (the reason this module exists).
        let plain: Outer = serde_json::from_slice(b).unwrap();
        assert!(plain.items[0].ports.capacity() > 5);
    }

    #[test]
    fn ignored_values_and_objects_outside_arrays_are_never_scanned() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct View {
            name: String,
            spec: Spec,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct Spec {
            ports: Vec<u16>,
        }
        let b = br#"{"managed":[{"f":{"a":[1,2,3]}},{"g":[[4]]}],"name":"x","big":{"list":[1,2,3,4,5,6,7,8]},
                     "spec":{"other":[5,6],"ports":[80,443]}}"#;
        let (v, stats) = decode::<View>(b, JsonOptions::default()).unwrap();
        assert_eq!(stats, Stats { missed: 0, scanned: "[80,443]".len(), plain: 0 });
        assert_eq!(v.spec.ports.capacity(), 2);
        // Values decoding everything scan every array, once.
        let (_, stats) = decode::<Value>(b, JsonOptions::default()).unwrap();
        let arrays = r#"[{"f":{"a":[1,2,3]}},{"g":[[4]]}][1,2,3,4,5,6,7,8][5,6][80,443]"#;
        assert_eq!(stats, Stats { missed: 0, scanned: arrays.len(), plain: 0 });
    }

    #[test]
    fn objects_after_the_last_array_of_a_scanned_array_skip_the_wrapper() {
        // The first element holds no array but one follows it: wrapped, and `b` gets its hint.
        // The last two hold none and none follows: decoded by serde_json alone.
        let b = br#"{"l":[{"x":{"y":1}},{"b":[1,2,3]},{"c":{"d":{}}},{"e":2}],"after":[4,5]}"#;
        #[derive(Deserialize, Debug, PartialEq)]
        struct Doc {
            l: Vec<Elem>,
            after: Vec<u8>,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct Elem {
            #[serde(default)]
            b: Vec<u8>,
            x: Option<Value>,
            c: Option<Value>,
            e: Option<u8>,
        }
        let (doc, stats) = decode::<Doc>(b, JsonOptions::default()).unwrap();
        assert_eq!(doc, serde_json::from_slice::<Doc>(b).unwrap());
        assert_eq!(stats.missed, 0);
        assert_eq!(stats.plain, 2);
        assert_eq!(doc.l[1].b.capacity(), 3);
        assert_eq!(doc.after.capacity(), 2);
        // A Pod: its managedFields entries and its conditions, each after the last array of
        // the array holding it; the containers (arrays follow) keep their hints.
        use k8s_openapi::api::core::v1::Pod;
        let pod_bytes = pod_doc();
        let (pod, stats) = decode::<Pod>(&pod_bytes, JsonOptions::default()).unwrap();
        assert_eq!(pod, serde_json::from_slice::<Pod>(&pod_bytes).unwrap());
        assert_eq!(stats.missed, 0);
        assert!(stats.plain >= 2, "{stats:?}");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.containers.capacity(), 2);
        assert_eq!(spec.containers[0].env.as_ref().map(Vec::capacity), Some(2));
        // Skipping managedFields keeps every object wrapped (a metadata object must be seen).
        let (_, stats) = decode::<Pod>(&pod_bytes, JsonOptions { skip_managed_fields: true }).unwrap();
        assert_eq!(stats.plain, 0);
    }

    #[test]
    fn arrays_nested_directly_in_arrays_and_in_objects_in_arrays() {
        let b = br#" [ [ [1,2,3] , [] ] , [ {"a" : [[4,5],[6]]} ] , [[7]] ] "#;
        let v: Vec<Vec<Value>> = same(b);
        assert_eq!(v.capacity(), 3);
        assert!(v.iter().all(|x| x.capacity() == x.len()));
        type Nested = Vec<BTreeMap<String, Vec<Vec<u8>>>>;
        let v: (Vec<Vec<u8>>, Nested, Vec<Vec<u8>>) = same(b);
        assert_eq!(v.0[0].capacity(), 3);
        assert_eq!(v.1[0]["a"].capacity(), 2);
        assert_eq!(v.1[0]["a"][0].capacity(), 2);
        assert_eq!(v.2[0].capacity(), 1);
    }

    #[test]
    fn keys_that_give_no_offset_are_found_by_counting_members() {
        // Escaped keys (decoded into scratch, not borrowed), mixed with borrowed ones.
        let b = br#"{"it\u0065ms":[{"ports":[1,2,3]}],"tags":["a"],"x\"":[[1]],"more":{"\u0061":[1,2]}}"#;
        #[derive(Deserialize, Debug, PartialEq)]
        struct Doc {
            items: Vec<Inner>,
            tags: Vec<String>,
            more: BTreeMap<String, Vec<u8>>,
        }
        let v: Doc = same(b);
        assert_eq!(v.items.capacity(), 1);
        assert_eq!(v.items[0].ports.capacity(), 3);
        assert_eq!(v.more["a"].capacity(), 2);
        // (serde_json's `Value` ignores size hints, but every array must still be found.)
        let _: Value = same(b);
        // Keys that decode as numbers.
        let b = br#"{ "1" : [1,2], "22":[3,4,5], "-3":[]}"#;
        let v: BTreeMap<i32, Vec<u8>> = same(b);
        assert_eq!(v.values().map(Vec::capacity).collect::<Vec<_>>(), vec![0, 2, 3]);
        // Many escaped keys: the counting continues from the last member found.
        let many: String = (0..300).map(|i| format!(r#""\u006b{i}":[{i},{i}]"#)).collect::<Vec<_>>().join(",");
        let v: BTreeMap<String, Vec<u32>> = same(format!("{{{many}}}").as_bytes());
        assert!(v.values().all(|x| x.capacity() == 2));
    }

    #[test]
    fn dynamic_values_and_enums_decode_identically() {
        #[derive(Deserialize, Debug, PartialEq)]
        enum E {
            Unit,
            New(Vec<u8>),
            Tup(u8, Vec<u8>),
            Rec { v: Vec<u8> },
        }
        let b =
            br#"[ "Unit", {"New":[1,2]}, {"Tup":[1,[2,3]]}, {"Rec":{"v":[4]}}, {"N\u0065w":[5,6,7]}, "\u0055nit" ]"#;
        let ours: Vec<E> = same(b);
        match (&ours[1], &ours[2], &ours[4]) {
            (E::New(a), E::Tup(_, b), E::New(c)) => assert_eq!((a.capacity(), b.capacity(), c.capacity()), (2, 2, 3)),
            other => panic!("{other:?}"),
        }
        let doc = json!({"a": [1, {"b": [true, null, "x\"]"]}], "n": -1.5e3, "u": "\u{1F600}"});
        let text = serde_json::to_vec(&doc).unwrap();
        assert_eq!(same::<Value>(&text), doc);
    }

    #[test]
    fn options_newtypes_and_raw_values_keep_their_offsets() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Wrapper(Vec<u8>);
        #[derive(Deserialize, Debug)]
        struct Doc {
            a: Option<Wrapper>,
            raw: Box<serde_json::value::RawValue>,
            b: Option<Vec<Option<Vec<u8>>>>,
            c: Option<serde::de::IgnoredAny>,
            d: Vec<u8>,
        }
        let b = br#"{"a":[1,2],"raw":[[1],[2,3]],"b":[null,[4,5,6]],"c":[[7],[8]],"d":[9]}"#;
        let (doc, stats) = decode::<Doc>(b, JsonOptions::default()).unwrap();
        assert_eq!(stats.missed, 0);
        assert_eq!(doc.a.as_ref().map(|w| w.0.capacity()), Some(2));
        assert_eq!(doc.raw.get(), "[[1],[2,3]]");
        let inner = doc.b.as_ref().and_then(|v| v[1].as_ref()).map(Vec::capacity);
        assert_eq!(inner, Some(3));
        assert!(doc.c.is_some());
        assert_eq!(doc.d.capacity(), 1);
    }

    #[test]
    fn flattened_and_untagged_types_buffer_through_the_wrapper() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Doc {
            v: Vec<u8>,
            #[serde(flatten)]
            rest: BTreeMap<String, Vec<u8>>,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        #[serde(untagged)]
        enum U {
            A { a: Vec<u8> },
            B(Vec<Vec<u8>>),
        }
        let v: Doc = same(br#"{"x":[1,2,3],"v":[4],"y":[]}"#);
        assert_eq!((v.v.capacity(), v.rest["x"].capacity()), (1, 3));
        let v: Vec<U> = same(br#"[{"a":[1,2]},[[3,4,5]]]"#);
        assert_eq!(v.capacity(), 2);
    }

    #[test]
    fn a_deserialize_impl_may_decode_json_itself() {
        #[derive(Debug, PartialEq)]
        struct Embedded(Vec<u8>);
        impl<'de> Deserialize<'de> for Embedded {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                from_slice(text.as_bytes()).map(Embedded).map_err(de::Error::custom)
            }
        }
        let v: Vec<(Embedded, Vec<u8>)> = same(br#"[["[1,2]",[7,8,9]],["[3]",[]]]"#);
        assert_eq!(v[0].0, Embedded(vec![1, 2]));
        assert_eq!(v[0].1.capacity(), 3);
        assert_eq!(v[1].0 .0.capacity(), 1);
    }

    #[test]
    fn trailing_data_is_an_error_as_in_serde_json() {
        let err = from_slice::<Vec<u8>>(b"[1] [2]").unwrap_err();
        assert_eq!(err.to_string(), serde_json::from_slice::<Vec<u8>>(b"[1] [2]").unwrap_err().to_string());
    }

    fn skipping<T: DeserializeOwned>(b: &[u8]) -> serde_json::Result<T> {
        from_slice_with(b, JsonOptions { skip_managed_fields: true })
    }

    #[test]
    fn skipping_managed_fields_equals_decoding_then_dropping_them() {
        use k8s_openapi::api::core::v1::Pod;
        for file in ["pod-deployment.json", "pod-with-sidecar.json"] {
            let path = format!("{}/../apiserver/testdata/objects/{file}", env!("CARGO_MANIFEST_DIR"));
            let doc = std::fs::read(&path).unwrap();
            let mut want: Pod = from_slice(&doc).unwrap();
            assert!(want.metadata.managed_fields.is_some(), "{file} has managedFields");
            want.metadata.managed_fields = None;
            assert_eq!(skipping::<Pod>(&doc).unwrap(), want, "{file}");
            // Inside a watch event and a list, and as an untyped value.
            let event = [&br#"{"type":"ADDED","object":"#[..], &doc, b"}"].concat();
            let got: crate::watch::WatchEvent<Pod> = skipping(&event).unwrap();
            assert!(matches!(got, crate::watch::WatchEvent::Added(p) if p == want));
            let list = [&br#"{"metadata":{"resourceVersion":"9"},"items":["#[..], &doc, b",", &doc, b"]}"].concat();
            let got: crate::list::ObjectList<Pod> = skipping(&list).unwrap();
            assert_eq!(got.items, vec![want.clone(), want.clone()]);
            assert_eq!(got.metadata.resource_version.as_deref(), Some("9"));
            let mut raw: Value = serde_json::from_slice(&doc).unwrap();
            raw["metadata"].as_object_mut().unwrap().remove("managedFields");
            assert_eq!(skipping::<Value>(&doc).unwrap(), raw);
        }
    }

    #[test]
    fn only_metadata_objects_lose_managed_fields() {
        let doc = br#"{"spec":{"managedFields":[1]},"metadata":5,"other":{"managedFields":[2]},
            "items":[{"metadata":{"name":"a","managedFields":[3],"labels":{"managedFields":"x"}}}],
            "m":{"metadata":{"managedFields":{"deep":[4]},"z":1}}}"#;
        let want = json!({"spec":{"managedFields":[1]},"metadata":5,"other":{"managedFields":[2]},
            "items":[{"metadata":{"name":"a","labels":{"managedFields":"x"}}}],
            "m":{"metadata":{"z":1}}});
        assert_eq!(skipping::<Value>(doc).unwrap(), want);
        // Without the option nothing is skipped.
        assert_eq!(from_slice::<Value>(doc).unwrap(), serde_json::from_slice::<Value>(doc).unwrap());
    }

    #[test]
    fn a_malformed_skipped_member_is_still_an_error() {
        let doc = br#"{"metadata":{"managedFields":[1,}}"#;
        let err = skipping::<Value>(doc).unwrap_err();
        assert_eq!(err.to_string(), serde_json::from_slice::<Value>(doc).unwrap_err().to_string());
    }
}
