//! The byte-level half of [`super`]: counting the elements of an array (and of every array
//! nested in it) in one pass, and finding where a value starts.
//!
//! Every function here takes any bytes: on malformed input the positions and counts may be
//! wrong, but nothing panics and nothing reads out of bounds.

/// One array found by [`Tables::array_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Array {
    /// Byte offset of its `[`.
    pub pos: u32,
    /// Its element count.
    pub len: u32,
    /// Where its elements' offsets start in [`Tables::elems`] (while scanning: in `pending`).
    pub first: u32,
}

/// The arrays scanned so far in one document, reused per thread.
#[derive(Default)]
pub(super) struct Tables {
    /// Every array of every scanned region, in document order (increasing `pos`).
    pub arrays: Vec<Array>,
    /// Element offsets (just past the `[` or `,` before each element), each array's
    /// contiguous.
    pub elems: Vec<u32>,
    /// Scan stack: for each open array but the innermost, the enclosing array and how many
    /// objects were open in that one.
    open: Vec<(u32, u32)>,
    /// Element offsets of the arrays still open during a scan.
    pending: Vec<u32>,
    /// Start of the last scanned region (its `[`).
    start: usize,
    /// End of the last scanned region: arrays before it are in `arrays`, or absent.
    end: usize,
    /// The first array in `arrays` a later lookup can ask for.
    cursor: usize,
    /// Bytes scanned in this document (tests check the laziness with it).
    pub scanned: usize,
}

impl Tables {
    pub fn clear(&mut self) {
        self.arrays.clear();
        self.elems.clear();
        self.start = 0;
        self.end = 0;
        self.cursor = 0;
        self.scanned = 0;
    }

    /// The array whose value starts at `at` (after optional whitespace and `:`): its length
    /// and the index of its element offsets in [`Self::elems`]. The first call for an array
    /// outside the regions scanned so far scans it whole, nested arrays included, so lookups
    /// must come in document order (the order a streaming decoder meets values in).
    pub fn array_at(&mut self, b: &[u8], at: usize) -> Option<(u32, u32)> {
        let p = value_start(b, at);
        if b.get(p) != Some(&b'[') || b.len() > u32::MAX as usize {
            return None;
        }
        if p >= self.end {
            self.scan(b, p);
        }
        while self.arrays.get(self.cursor).is_some_and(|a| (a.pos as usize) < p) {
            self.cursor += 1;
        }
        let a = self.arrays.get(self.cursor)?;
        (a.pos as usize == p).then_some((a.len, a.first))
    }

    /// Appends every array of the array starting at `p` (a `[`), itself first.
    fn scan(&mut self, b: &[u8], p: usize) {
        let Tables { arrays, elems, open, pending, .. } = self;
        open.clear();
        pending.clear();
        // The innermost open array, and how many objects are open inside it (objects need no
        // bookkeeping beyond that: only an array's commas separate elements).
        let mut top = u32::MAX;
        let mut objects = 0u32;
        let mut i = p;
        while let Some(&c) = b.get(i) {
            i += 1;
            if c == b'"' {
                i = string_end(b, i);
                // Most strings are keys: step over the colon here rather than in a round of
                // the loop.
                if b.get(i) == Some(&b':') {
                    i += 1;
                }
                continue;
            }
            match c {
                b'{' => objects += 1,
                b'}' => objects = objects.saturating_sub(1),
                b',' if objects == 0 => pending.push(i as u32),
                b'[' => {
                    open.push((top, objects));
                    top = arrays.len() as u32;
                    objects = 0;
                    arrays.push(Array { pos: (i - 1) as u32, len: 0, first: pending.len() as u32 });
                    let j = skip_ws(b, i);
                    if b.get(j) == Some(&b']') {
                        i = j; // empty: the `]` comes next
                    } else {
                        pending.push(i as u32);
                    }
                }
                b']' => {
                    close(arrays.get_mut(top as usize), elems, pending);
                    match open.pop() {
                        Some((t, o)) if !open.is_empty() => (top, objects) = (t, o),
                        _ => break,
                    }
                }
                _ => {}
            }
        }
        // Unterminated (malformed) input: close what is still open.
        while let Some((t, _)) = open.pop() {
            close(arrays.get_mut(top as usize), elems, pending);
            top = t;
        }
        self.scanned += i - p;
        self.start = p;
        self.end = i;
    }

    /// Whether the value starting at `at` is known to hold no array: it starts inside the
    /// last scanned region, after every array found in it, so no `[` of that region (which
    /// holds the whole value, the region being one balanced array) is at or after `at`.
    pub fn no_array_from(&self, at: usize) -> bool {
        at > self.start && at < self.end && self.arrays.last().is_none_or(|a| (a.pos as usize) < at)
    }
}

/// Closes an array: its elements move from `pending` to `elems`.
fn close(array: Option<&mut Array>, elems: &mut Vec<u32>, pending: &mut Vec<u32>) {
    if let Some(a) = array {
        let base = (a.first as usize).min(pending.len());
        a.len = (pending.len() - base) as u32;
        a.first = elems.len() as u32;
        elems.extend(pending.drain(base..));
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// The start of the value at or after `i`, past whitespace and a key's `:`.
pub(super) fn value_start(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t' | b':')) {
        i += 1;
    }
    i
}

/// The high bit set in every byte of `w` that is a `"`, and possibly in bytes above one (the
/// lowest flagged byte is always a real quote).
fn quotes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let q = w ^ (ONES * b'"' as u64);
    q.wrapping_sub(ONES) & !q & (ONES << 7)
}

/// The index just past the closing quote of the string whose contents start at `i` (or the
/// end of `b` when it is unterminated). Finds quotes eight bytes at a time (Kubernetes
/// strings are short and rarely escaped), then checks the run of backslashes before each: a
/// quote is escaped when the run is odd.
pub(super) fn string_end(b: &[u8], mut i: usize) -> usize {
    let start = i;
    loop {
        let quote = loop {
            if i + 8 <= b.len() {
                let mut word = [0; 8];
                word.copy_from_slice(&b[i..i + 8]);
                let m = quotes(u64::from_le_bytes(word));
                if m != 0 {
                    break i + (m.trailing_zeros() / 8) as usize;
                }
                i += 8;
            } else {
                match b.get(i..).and_then(|rest| rest.iter().position(|&c| c == b'"')) {
                    Some(k) => break i + k,
                    None => return b.len(),
                }
            }
        };
        if quote == start || b.get(quote - 1) != Some(&b'\\') || !escaped(b, start, quote) {
            return quote + 1;
        }
        i = quote + 1;
    }
}

/// Whether the quote at `quote` is escaped: preceded by an odd run of backslashes that starts
/// at or after `start`.
#[cold]
fn escaped(b: &[u8], start: usize, quote: usize) -> bool {
    let run = b.get(start..quote).map_or(0, |s| s.iter().rev().take_while(|&&c| c == b'\\').count());
    run % 2 == 1
}

/// The index just past the value starting at `i`.
fn skip_value(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some(&c) = b.get(i) {
        i += 1;
        match c {
            b'"' => i = string_end(b, i),
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' | b':' | b' ' | b'\n' | b'\r' | b'\t' => {}
            _ => {
                // A number, true, false or null: up to the next delimiter.
                while b.get(i).is_some_and(|c| !matches!(c, b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t' | b':')) {
                    i += 1;
                }
            }
        }
        if depth == 0 {
            break;
        }
    }
    i
}

/// The start of the value of the next member of an object, from just past its `{` or the
/// previous member's value; `None` at the end of the object.
fn next_member(b: &[u8], mut i: usize) -> Option<usize> {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t' | b',')) {
        i += 1;
    }
    (b.get(i) == Some(&b'"')).then(|| value_start(b, string_end(b, i + 1)))
}

/// Where the value of member `m` of the object starting at `obj` (after optional whitespace
/// and `:`) starts, continuing from `from` (member index and value start) when it is not
/// past `m`, which keeps repeated calls for one object linear.
pub(super) fn member_value(b: &[u8], obj: usize, from: Option<(u32, usize)>, m: u32) -> Option<usize> {
    let (mut j, mut pos) = match from {
        Some((j, pos)) if j <= m => (j, pos),
        _ => {
            let s = value_start(b, obj);
            if b.get(s) != Some(&b'{') {
                return None;
            }
            (0, next_member(b, s + 1)?)
        }
    };
    while j < m {
        pos = next_member(b, skip_value(b, pos))?;
        j += 1;
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans the root array of `b`; `(pos, len, element offsets)` for every array.
    fn arrays(b: &[u8]) -> Vec<(u32, u32, Vec<u32>)> {
        let mut t = Tables::default();
        t.array_at(b, 0);
        t.arrays.iter().map(|a| (a.pos, a.len, t.elems[a.first as usize..][..a.len as usize].to_vec())).collect()
    }

    #[test]
    fn scan_counts_every_nested_array_and_records_element_offsets() {
        let b = br#"[1,[2,3],[],{"a":[4],"[":"]\"["}]"#;
        // [ at 0, [2,3] at 3, [] at 9, [4] at 17.
        let want = vec![(0, 4, vec![1, 3, 9, 12]), (3, 2, vec![4, 6]), (9, 0, vec![]), (17, 1, vec![18])];
        assert_eq!(arrays(b), want);
        // Whitespace: an empty array with blanks, element offsets before the blanks.
        let b = b" [ [ ] , \"\\\\\" , [ 1 ] ] ";
        let got = arrays(b);
        assert_eq!(got.iter().map(|a| (a.0, a.1)).collect::<Vec<_>>(), vec![(1, 3), (3, 0), (16, 1)]);
        assert_eq!(got[0].2, vec![2, 8, 15]);
        assert_eq!(value_start(b, 8), 9);
    }

    #[test]
    fn lookups_find_arrays_in_document_order_and_scan_each_region_once() {
        let b = br#"{"a":[[1,2],[3]],"skip":[[9,9,9]],"b":[5,6,7]}"#;
        let mut t = Tables::default();
        assert_eq!(t.array_at(b, 4).map(|h| h.0), Some(2)); // "a", after the key's closing quote
        let scanned = t.scanned;
        assert_eq!(scanned, 11);
        assert_eq!(t.array_at(b, 6).map(|h| h.0), Some(2)); // [1,2], inside the scanned region
        assert_eq!(t.array_at(b, 12).map(|h| h.0), Some(1)); // [3]
        assert_eq!(t.scanned, scanned);
        // "skip" is never asked for, so never scanned.
        assert_eq!(t.array_at(b, 38).map(|h| h.0), Some(3)); // "b": a new region
        assert_eq!(t.scanned, scanned + 7);
        // Not an array, or out of order: no answer.
        assert_eq!(t.array_at(b, 0), None);
        assert_eq!(t.array_at(b, 5), None);
    }

    #[test]
    fn strings_end_at_the_first_unescaped_quote() {
        for (s, end) in [
            (&br#""""#[..], 2),
            (br#""abc" "#, 5),
            (br#""0123456789abcdef\"x" "#, 21),
            (br#""a\\" "#, 5),
            (br#""0123456\\" "#, 11),
            (br#""01234567\\\"" "#, 14),
            (br#""unterminated"#, 13),
            (br#""esc at end\"#, 12),
            (br#""\\\\\\\"\\" "#, 12),
            (br#""0123456789\\\\\\\"abcdef\\\\" "#, 30),
        ] {
            assert_eq!(string_end(s, 1), end, "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn members_are_found_by_counting_from_the_object_start() {
        let b = br#" { "a" : [1,{"x":"}"}] , "b\"":"s", "c" : {"d":1}, "e":7 } "#;
        let at = |m| member_value(b, 0, None, m).map(|p| b[p]);
        assert_eq!(at(0), Some(b'['));
        assert_eq!(at(1), Some(b'"'));
        assert_eq!(at(2), Some(b'{'));
        assert_eq!(at(3), Some(b'7'));
        assert_eq!(at(4), None);
        let c = member_value(b, 0, None, 2).unwrap();
        assert_eq!(member_value(b, 0, Some((2, c)), 3), member_value(b, 0, None, 3));
        assert_eq!(member_value(b"[1]", 0, None, 0), None);
    }

    #[test]
    fn malformed_input_never_panics() {
        for bad in [&b"[[[["[..], b"]]]", b"[\"\\", b"[1,,2]", b"[{\"a\":[1,}", b"", b"[\"\\\"]", b"\xff", b"[}}]"] {
            let mut t = Tables::default();
            let _ = t.array_at(bad, 0);
            for m in 0..3 {
                let _ = member_value(bad, 0, None, m);
            }
            let _ = skip_value(bad, 0);
        }
    }
}
