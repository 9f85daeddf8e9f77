//! JSON decoding that allocates every sequence at its exact length.
//!
//! `serde_json` gives a `Vec` no size hint, so a decoded `Vec<T>` grows by doubling and keeps
//! the spare capacity for as long as the object lives. For a k8s-openapi `Pod` (containers,
//! env, ports, volume mounts, managedFields, conditions...) that slack is about 6 KB per object,
//! more than the object's JSON. An informer keeps every object for the life of the process, so
//! [`from_slice`] decodes exactly as `serde_json::from_slice` does, with one difference: before
//! decoding it counts the elements of every JSON array in the input (one pass over the bytes,
//! skipping string contents with `memchr`) and reports each count as the sequence's size hint.
//! `Vec<T>` then allocates once, at the final length, which also
//! saves the reallocations and moves of the growing `Vec`.
//!
//! Contract:
//! - The result and every error are those of `serde_json::from_slice::<T>` on the same bytes
//!   (the wrapper only adds size hints; errors keep serde_json's line and column).
//! - A hint is only a hint: on malformed input, or a type that decodes arrays outside the
//!   wrapper, a wrong hint costs spare capacity or a reallocation, never a wrong value, and
//!   serde caps hinted pre-allocation at 1 MiB per sequence.
//! - Values a type ignores (`IgnoredAny`, unknown fields) are walked rather than skipped, so
//!   the array counts stay aligned with the document.
//!
//! ```
//! let v: Vec<Vec<u8>> = rudder_apimachinery::json::from_slice(br#"[[1,2,3],[4]]"#).unwrap();
//! assert_eq!(v, vec![vec![1, 2, 3], vec![4]]);
//! assert_eq!(v.capacity(), 2);
//! assert_eq!(v[0].capacity(), 3);
//! ```

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// Decodes `bytes` as `T`, like `serde_json::from_slice`, with exact-length sequences.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    decode(bytes).map(|(value, _)| value)
}

/// [`from_slice`], also saying whether the decoder's walk used up exactly the values the scan
/// found (the alignment every hint relies on; tests check it).
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<(T, bool)> {
    // The scan's tables are reused per thread: a fresh multi-KB table per object would be a
    // large-bin allocation, which makes glibc consolidate its fast bins on every decode. A
    // nested call (a Deserialize impl decoding JSON itself) finds the slot empty and allocates.
    let mut scratch = SCRATCH.try_with(|s| s.take()).unwrap_or_default();
    scan_into(bytes, &mut scratch);
    let result = (|| {
        let hints = Hints { nodes: &scratch.nodes, next: Cell::new(0) };
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = T::deserialize(Hinted { inner: &mut de, hints: &hints, value: None })?;
        de.end()?;
        Ok((value, hints.next.get() == scratch.nodes.len()))
    })();
    if scratch.nodes.capacity() <= MAX_KEPT_NODES {
        let _ = SCRATCH.try_with(|s| s.set(scratch));
    }
    result
}

/// Scratch tables kept per thread only up to this many nodes (8 bytes each), so one huge
/// document does not pin its table for the life of the thread.
const MAX_KEPT_NODES: usize = 1 << 17;

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// The tables [`scan_into`] fills.
#[derive(Default)]
struct Scratch {
    nodes: Vec<Node>,
    open: Vec<Open>,
}

/// One JSON value (not a key), in document order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    /// For an array, its element count; else 0.
    len: u32,
    /// The number of values in this value's subtree, itself included.
    size: u32,
}

/// One container still open during [`scan`]: its node, whether it is an array, and a flag
/// (arrays: a value was seen; objects: the next string is a key).
#[derive(Clone, Copy)]
struct Open {
    node: u32,
    array: bool,
    flag: bool,
}

/// Every value in `b` in document order, with array lengths and subtree sizes. Malformed
/// input gives nodes that may be wrong but never panics.
#[cfg(test)]
fn scan(b: &[u8]) -> Vec<Node> {
    let mut scratch = Scratch::default();
    scan_into(b, &mut scratch);
    scratch.nodes
}

/// [`scan`] into reused tables (cleared first).
fn scan_into(b: &[u8], scratch: &mut Scratch) {
    let Scratch { nodes, open } = scratch;
    nodes.clear();
    open.clear();
    // About one value per 10 bytes of Kubernetes JSON.
    nodes.reserve(b.len() / 8 + 1);
    // The innermost open container, kept out of `open` so each token touches a local.
    let mut top: Option<Open> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        match c {
            b' ' | b'\n' | b'\r' | b'\t' | b':' => continue,
            b',' => {
                if let Some(o) = &mut top {
                    if o.array {
                        let n = &mut nodes[o.node as usize];
                        n.len = n.len.saturating_add(1);
                    } else {
                        o.flag = true;
                    }
                }
                continue;
            }
            b']' | b'}' => {
                if let Some(o) = top {
                    let size = (nodes.len() - o.node as usize) as u32;
                    let n = &mut nodes[o.node as usize];
                    n.size = size;
                    if o.array && o.flag {
                        n.len = n.len.saturating_add(1);
                    }
                    top = open.pop();
                }
                continue;
            }
            _ => {}
        }
        // A token starts: a key (a string where an object expects one) or a value.
        let key = match &mut top {
            Some(o) if o.array => {
                o.flag = true;
                false
            }
            Some(o) => std::mem::replace(&mut o.flag, false),
            None => false,
        };
        if !key {
            if nodes.len() >= u32::MAX as usize {
                break; // 4 G values: leave the rest unhinted
            }
            nodes.push(Node { len: 0, size: 1 });
        }
        match c {
            b'[' | b'{' => {
                if let Some(o) = top {
                    open.push(o);
                }
                top = Some(Open { node: (nodes.len() - 1) as u32, array: c == b'[', flag: c == b'{' });
            }
            b'"' => i = string_end(b, i),
            _ => {
                // A number, true, false or null: up to the next delimiter.
                while i < b.len() && !matches!(b[i], b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t' | b':' | b'"') {
                    i += 1;
                }
            }
        }
    }
    let total = nodes.len();
    for o in top.into_iter().chain(open.drain(..)) {
        nodes[o.node as usize].size = (total - o.node as usize) as u32;
    }
}

/// The index just past the closing quote of the string whose contents start at `i` (or the
/// end of `b` when it is unterminated).
fn string_end(b: &[u8], mut i: usize) -> usize {
    loop {
        let rest = b.get(i..).unwrap_or_default();
        match memchr::memchr2(b'"', b'\\', rest) {
            Some(p) if rest[p] == b'\\' => i += p + 2,
            Some(p) => return i + p + 1,
            None => return b.len(),
        }
    }
}

/// The scanned values and the next one the decoder will meet.
struct Hints<'h> {
    nodes: &'h [Node],
    next: Cell<usize>,
}

impl Hints<'_> {
    /// The value the decoder starts now.
    fn take(&self) -> usize {
        let i = self.next.get();
        self.next.set(i.saturating_add(1));
        i
    }

    /// Value `i` is skipped whole: the next value is the one after its subtree.
    fn skip(&self, i: usize) {
        let size = self.nodes.get(i).map_or(1, |n| n.size.max(1) as usize);
        self.next.set(i.saturating_add(size));
    }

    fn len(&self, i: usize) -> Option<usize> {
        self.nodes.get(i).map(|n| n.len as usize)
    }
}

/// A deserializer for one value that passes every visitor through [`HintVisitor`].
struct Hinted<'h, D> {
    inner: D,
    hints: &'h Hints<'h>,
    /// The value's index when it was already counted (the inside of an `Option` or newtype).
    value: Option<usize>,
}

impl<D> Hinted<'_, D> {
    fn index(&self) -> usize {
        self.value.unwrap_or_else(|| self.hints.take())
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            let value = self.index();
            self.inner.$method($($arg,)* HintVisitor { inner: visitor, hints: self.hints, value })
        }
    )*};
}

impl<'de, 'h, D: Deserializer<'de>> Deserializer<'de> for Hinted<'h, D> {
    type Error = D::Error;

    forward!(
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

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // serde_json skips the value fast; the hints step over its subtree.
        let value = self.index();
        self.hints.skip(value);
        self.inner.deserialize_ignored_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        let value = self.index();
        if name == RAW_VALUE {
            // serde_json captures the text without visiting what is inside.
            self.hints.skip(value);
            return self.inner.deserialize_newtype_struct(name, visitor);
        }
        self.inner.deserialize_newtype_struct(name, HintVisitor { inner: visitor, hints: self.hints, value })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// serde_json's marker for `RawValue`, whose contents the decoder never visits.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// A visitor for value `value` that hands a sequence its counted length and wraps every
/// nested deserializer.
struct HintVisitor<'h, V> {
    inner: V,
    hints: &'h Hints<'h>,
    value: usize,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, 'h, V: Visitor<'de>> Visitor<'de> for HintVisitor<'h, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

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
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Hinted { inner: d, hints: self.hints, value: Some(self.value) })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Hinted { inner: d, hints: self.hints, value: Some(self.value) })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let remaining = self.hints.len(self.value);
        self.inner.visit_seq(HintSeq { inner: seq, hints: self.hints, remaining })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(HintMap { inner: map, hints: self.hints })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(HintEnum { inner: data, hints: self.hints })
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
        self.inner.deserialize(Hinted { inner: d, hints: self.hints, value: None })
    }
}

struct HintSeq<'h, A> {
    inner: A,
    hints: &'h Hints<'h>,
    remaining: Option<usize>,
}

impl<'de, 'h, A: SeqAccess<'de>> SeqAccess<'de> for HintSeq<'h, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        let next = self.inner.next_element_seed(HintSeed { inner: seed, hints: self.hints })?;
        if next.is_some() {
            self.remaining = self.remaining.map(|n| n.saturating_sub(1));
        }
        Ok(next)
    }

    fn size_hint(&self) -> Option<usize> {
        self.remaining.or_else(|| self.inner.size_hint())
    }
}

/// Map access whose values (not keys: keys are not values and hold no arrays) are wrapped.
struct HintMap<'h, A> {
    inner: A,
    hints: &'h Hints<'h>,
}

impl<'de, 'h, A: MapAccess<'de>> MapAccess<'de> for HintMap<'h, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(HintSeed { inner: seed, hints: self.hints })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Enum access: the variant name is a key (`{"Variant": ...}`) or the value itself
/// (`"Variant"`), so only the variant's content is a new value.
struct HintEnum<'h, A> {
    inner: A,
    hints: &'h Hints<'h>,
}

impl<'de, 'h, A: EnumAccess<'de>> EnumAccess<'de> for HintEnum<'h, A> {
    type Error = A::Error;
    type Variant = HintVariant<'h, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.inner.variant_seed(seed)?;
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
        let value = self.hints.take();
        self.inner.tuple_variant(len, HintVisitor { inner: visitor, hints: self.hints, value })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let value = self.hints.take();
        self.inner.struct_variant(fields, HintVisitor { inner: visitor, hints: self.hints, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::{json, Value};

    fn n(len: u32, size: u32) -> Node {
        Node { len, size }
    }

    /// Decodes with both decoders: equal values, and the walk stayed aligned with the scan.
    fn same<T: DeserializeOwned + PartialEq + std::fmt::Debug>(b: &[u8]) -> T {
        let (ours, aligned) = decode::<T>(b).unwrap();
        assert_eq!(ours, serde_json::from_slice::<T>(b).unwrap());
        assert!(aligned, "walk out of step with the scan for {}", String::from_utf8_lossy(b));
        ours
    }

    #[test]
    fn scan_lists_values_in_document_order() {
        let b = br#"{"a":[1,[2,3],[]],"s":"x"}"#;
        let want = vec![n(0, 8), n(3, 6), n(0, 1), n(2, 3), n(0, 1), n(0, 1), n(0, 1), n(0, 1)];
        assert_eq!(scan(b), want);
        // Strings holding structure, escapes, whitespace, keys that look like values.
        let b = br#" { "[" : "]\"[" , "b" : [ {"x":[ true ,null]}, "]\\", {} ] , "c":[ ] } "#;
        let want = vec![n(0, 10), n(0, 1), n(3, 7), n(0, 4), n(2, 3), n(0, 1), n(0, 1), n(0, 1), n(0, 1), n(0, 1)];
        assert_eq!(scan(b), want);
        assert_eq!(scan(b"[]"), vec![n(0, 1)]);
        assert_eq!(scan(b"[ -1.5e3 ]"), vec![n(1, 2), n(0, 1)]);
    }

    #[test]
    fn malformed_input_never_panics_and_errors_match_serde_json() {
        for bad in [&b"[[[["[..], b"]]]", b"\"\\", b"[1,,2]", b"{\"a\":[1,}", b"", b"[\"\\\"]", b"\xff"] {
            let _ = scan(bad);
            let ours = from_slice::<Value>(bad).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Value>(bad).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "input {:?}", String::from_utf8_lossy(bad));
        }
        let ours = from_slice::<Vec<u8>>(b"[1, 2, 300]").unwrap_err().to_string();
        assert_eq!(ours, serde_json::from_slice::<Vec<u8>>(b"[1, 2, 300]").unwrap_err().to_string());
        assert!(ours.contains("line 1 column"), "{ours}");
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
    fn dynamic_values_and_enums_decode_identically() {
        #[derive(Deserialize, Debug, PartialEq)]
        enum E {
            Unit,
            New(Vec<u8>),
            Tup(u8, Vec<u8>),
            Rec { v: Vec<u8> },
        }
        let b = br#"[ "Unit", {"New":[1,2]}, {"Tup":[1,[2,3]]}, {"Rec":{"v":[4]}} ]"#;
        let ours: Vec<E> = same(b);
        match &ours[1] {
            E::New(v) => assert_eq!(v.capacity(), 2),
            other => panic!("{other:?}"),
        }
        let doc = json!({"a": [1, {"b": [true, null, "x\"]"]}], "n": -1.5e3, "u": "\u{1F600}"});
        let text = serde_json::to_vec(&doc).unwrap();
        assert_eq!(same::<Value>(&text), doc);
    }

    #[test]
    fn options_newtypes_and_raw_values_keep_the_walk_aligned() {
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
        let (doc, aligned) = decode::<Doc>(b).unwrap();
        assert!(aligned);
        assert_eq!(doc.a.as_ref().map(|w| w.0.capacity()), Some(2));
        assert_eq!(doc.raw.get(), "[[1],[2,3]]");
        let inner = doc.b.as_ref().and_then(|v| v[1].as_ref()).map(Vec::capacity);
        assert_eq!(inner, Some(3));
        assert!(doc.c.is_some());
        assert_eq!(doc.d.capacity(), 1);
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
}
