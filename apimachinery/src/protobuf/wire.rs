//! Protobuf wire primitives: varints, tags, length-delimited slices, and their encoding.
//! Every read is bounds-checked and returns [`Error`] on short or malformed input.

use super::Error;

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const FIXED32: u8 = 5;

/// One field's value as it sits on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'de> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'de [u8]),
}

impl Value<'_> {
    /// Whether this is the zero value of its type (0, false, "", empty bytes).
    pub fn is_zero(&self) -> bool {
        match *self {
            Value::Varint(v) | Value::Fixed64(v) => v == 0,
            Value::Fixed32(v) => v == 0,
            Value::Len(b) => b.is_empty(),
        }
    }
}

/// A cursor over one message's bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'de> {
    pub buf: &'de [u8],
    pub pos: usize,
}

impl<'de> Reader<'de> {
    pub fn new(buf: &'de [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub fn varint(&mut self) -> Result<u64, Error> {
        // Tags and most lengths fit in one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_long()
    }

    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64, Error> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(Error::Truncated);
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(Error::VarintOverflow);
            }
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(Error::VarintOverflow)
    }

    fn take(&mut self, n: usize) -> Result<&'de [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(Error::Truncated)?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn fixed32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().map_err(|_| Error::Truncated)?))
    }

    pub fn fixed64(&mut self) -> Result<u64, Error> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| Error::Truncated)?))
    }

    /// The next field: (number, value). Groups (wire types 3 and 4) are not used by Kubernetes
    /// and are an error.
    #[inline]
    pub fn field(&mut self) -> Result<(u64, Value<'de>), Error> {
        let tag = self.varint()?;
        let number = tag >> 3;
        if number == 0 {
            return Err(Error::InvalidTag);
        }
        let value = match (tag & 7) as u8 {
            VARINT => Value::Varint(self.varint()?),
            FIXED64 => Value::Fixed64(self.fixed64()?),
            LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| Error::Truncated)?;
                Value::Len(self.take(len)?)
            }
            FIXED32 => Value::Fixed32(self.fixed32()?),
            wire => return Err(Error::WireType { wire }),
        };
        Ok((number, value))
    }
}

/// Appends `v` as a varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The encoded size of `v` as a varint.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends a field tag.
#[inline]
pub(crate) fn put_tag(out: &mut Vec<u8>, number: u32, wire: u8) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire));
}

/// Appends a length-delimited field.
pub(crate) fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_tag(out, number, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            assert_eq!(Reader::new(&out).varint().unwrap(), v);
        }
        assert!(matches!(Reader::new(&[0xff; 11]).varint(), Err(Error::VarintOverflow)));
        assert!(matches!(Reader::new(&[0x80]).varint(), Err(Error::Truncated)));
        // A length prefix beyond the input is Truncated, not an allocation.
        assert!(matches!(Reader::new(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).field(), Err(Error::Truncated)));
    }
}
