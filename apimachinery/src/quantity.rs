//! Resource quantities (`"100m"`, `"1.5Gi"`, `"1e3"`), the Rust counterpart of Go's
//! `k8s.io/apimachinery/pkg/api/resource.Quantity`.
//!
//! Contract:
//! - [`Quantity::parse`] accepts exactly the documented Kubernetes grammar: an optional sign,
//!   digits with an optional fraction (`1`, `1.5`, `1.`, `.5`), then one suffix: decimal SI
//!   (`n u m "" k M G T P E`), binary SI (`Ki Mi Gi Ti Pi Ei`) or a decimal exponent
//!   (`e`/`E` with an optional sign and digits, at most ±2147483647 as in Go). Anything else
//!   (empty input, whitespace, a second `.`, unknown suffixes, a bare sign or `.`) is a
//!   [`ParseQuantityError`] naming the input and the byte position. Parsing is linear in the
//!   input length; no hostile input allocates more than a small multiple of its own size.
//! - Values are exact: a decimal mantissa (at most 38 significant digits) times a power of ten.
//!   Like Go, values are rounded *up* (away from zero) to a multiple of 1n (10^-9), and binary
//!   SI values are capped at 2^63-1 in magnitude. A non-zero binary SI value below 1 in
//!   magnitude switches to decimal SI.
//! - [`Display`](fmt::Display) prints the canonical form of Go's `CanonicalizeBytes`: the
//!   format of the input is kept, the largest suffix that loses no precision is used, and the
//!   exponent is a multiple of three (`1000m` -> `1`, `0.1` -> `100m`, `1.5Gi` -> `1536Mi`,
//!   `1.1Ki` -> `1126400m`, `1e4` -> `10e3`). Canonical strings parse back to equal values.
//! - Equality, hashing and ordering are by value, across formats (`1000m == 1`, `1Gi > 1G`).
//!
//! Deliberate differences from Go, all on inputs outside the documented grammar or range:
//! Go accepts `"."`, `"-"`, `"Ki"` (a suffix with no digits) as zero, and decimal values with
//! more than 38 significant digits; this module rejects them. Binary SI values above 2^127,
//! reachable only by arithmetic, print in exponent notation instead of as a binary multiple.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The smallest representable power of ten: values are multiples of 1n.
const NANO_EXP: i64 = -9;
/// Mantissas stay below 10^38, so aligned arithmetic never needs more than `i128`.
const MAX_DIGITS: usize = 38;
/// Binary SI quantities are capped at this magnitude on parse, as in Go.
const MAX_BINARY: u128 = i64::MAX as u128;
/// Largest accepted decimal exponent magnitude (Go stores it in an `int32` it negates).
const MAX_EXPONENT: i64 = i32::MAX as i64;
/// Largest normalized exponent: its canonical form (a multiple of three, rounded down) still
/// fits [`MAX_EXPONENT`], so every canonical string parses back.
const MAX_NORMALIZED_EXPONENT: i64 = MAX_EXPONENT + 1;
/// How much of an offending input an error keeps.
const ERROR_INPUT_LIMIT: usize = 64;

/// How a quantity is written; kept from the parsed input and used when printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Powers of ten with SI suffixes: `12M` is 12 * 10^6.
    #[default]
    DecimalSI,
    /// Powers of two with binary suffixes: `12Mi` is 12 * 2^20.
    BinarySI,
    /// Explicit decimal exponents: `12e6`.
    DecimalExponent,
}

/// What was wrong with a quantity string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseQuantityErrorKind {
    /// The string was empty.
    #[error("empty quantity")]
    Empty,
    /// A digit was required here (after the sign, or in an exponent).
    #[error("expected a digit")]
    ExpectedDigit,
    /// The text after the number is not a known suffix.
    #[error("unknown suffix (expected one of n u m k M G T P E Ki Mi Gi Ti Pi Ei or an exponent)")]
    UnknownSuffix,
    /// A character that does not belong in an exponent.
    #[error("unexpected character in exponent")]
    InvalidExponent,
    /// The decimal exponent is beyond ±2147483647, or the value beyond 10^2147483648.
    #[error("exponent out of range (at most ±2147483647)")]
    ExponentOutOfRange,
    /// The value needs more than 38 significant decimal digits.
    #[error("more than 38 significant digits")]
    TooManyDigits,
}

/// A string that is not a valid quantity; names the input (shortened if long) and the byte
/// position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {input:?} at byte {position}: {kind}")]
pub struct ParseQuantityError {
    /// The offending input, cut to 64 bytes (on a character boundary) with `...` if longer.
    pub input: String,
    /// Byte offset of the problem in the input.
    pub position: usize,
    /// What was wrong.
    pub kind: ParseQuantityErrorKind,
}

impl ParseQuantityError {
    fn new(input: &str, position: usize, kind: ParseQuantityErrorKind) -> Self {
        let input = if input.len() <= ERROR_INPUT_LIMIT {
            input.to_owned()
        } else {
            let mut end = ERROR_INPUT_LIMIT;
            while !input.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}...", &input[..end])
        };
        ParseQuantityError { input, position, kind }
    }
}

/// An exact fixed-point quantity such as `500m`, `1.5Gi` or `1e3`.
///
/// ```
/// use rudder_apimachinery::quantity::Quantity;
/// let q: Quantity = "1.5Gi".parse().unwrap();
/// assert_eq!(q.to_string(), "1536Mi");
/// assert_eq!(q.value(), 1_610_612_736);
/// assert!(q > "1.5G".parse().unwrap());
/// assert_eq!("1000m".parse::<Quantity>().unwrap(), "1".parse().unwrap());
/// ```
#[derive(Clone, Copy)]
pub struct Quantity {
    /// Normalized: zero, or not divisible by ten; `|mantissa| < 10^38`.
    mantissa: i128,
    /// Power of ten; `>= -9`; zero when the mantissa is zero.
    exponent: i64,
    format: Format,
}

impl Default for Quantity {
    fn default() -> Self {
        Quantity::zero()
    }
}

fn pow10_u128(n: u64) -> Option<u128> {
    10u128.checked_pow(u32::try_from(n).ok()?)
}

fn digit_count(n: u128) -> i64 {
    if n == 0 {
        1
    } else {
        i64::from(n.ilog10()) + 1
    }
}

/// Compares two non-negative normalized values `m * 10^e`.
fn cmp_magnitude(a: (u128, i64), b: (u128, i64)) -> Ordering {
    match (a.0 == 0, b.0 == 0) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let (ta, tb) = (digit_count(a.0) + a.1, digit_count(b.0) + b.1);
    if ta != tb {
        return ta.cmp(&tb);
    }
    // Same order of magnitude: the exponent difference is below 38, so aligning fits.
    let scale = |m: u128, by: i64| pow10_u128(by.unsigned_abs()).and_then(|p| m.checked_mul(p));
    match a.1.cmp(&b.1) {
        Ordering::Equal => a.0.cmp(&b.0),
        Ordering::Greater => scale(a.0, a.1 - b.1).map_or(Ordering::Greater, |x| x.cmp(&b.0)),
        Ordering::Less => scale(b.0, b.1 - a.1).map_or(Ordering::Less, |y| a.0.cmp(&y)),
    }
}

/// Rounds `mag * 10^exp` up to a multiple of 1n, strips trailing zeros, and checks the digit
/// limit. Returns the normalized magnitude and exponent.
fn normalize(mut mag: u128, mut exp: i64) -> Option<(u128, i64)> {
    if mag == 0 {
        return Some((0, 0));
    }
    if exp < NANO_EXP {
        let shift = (NANO_EXP - exp).unsigned_abs();
        mag = match pow10_u128(shift) {
            Some(p) if p <= mag => mag / p + u128::from(mag % p != 0),
            _ => 1,
        };
        exp = NANO_EXP;
    }
    while mag % 10 == 0 {
        mag /= 10;
        exp += 1;
    }
    if digit_count(mag) > MAX_DIGITS as i64 || exp > MAX_NORMALIZED_EXPONENT {
        return None;
    }
    Some((mag, exp))
}

/// Multiplies a big-endian decimal digit vector by a small factor in place.
fn mul_digits(digits: &mut Vec<u8>, factor: u32) {
    let mut carry = 0u32;
    for d in digits.iter_mut().rev() {
        let v = u32::from(*d) * factor + carry;
        *d = (v % 10) as u8;
        carry = v / 10;
    }
    let mut prefix = Vec::new();
    while carry > 0 {
        prefix.push((carry % 10) as u8);
        carry /= 10;
    }
    prefix.reverse();
    digits.splice(0..0, prefix);
}

/// Turns big-endian digits times `10^exp` into a normalized, nano-rounded digit string:
/// no leading or trailing zeros (empty means zero) and the matching exponent.
fn round_digits(digits: &[u8], exp: i64) -> (Vec<u8>, i64) {
    let Some(start) = digits.iter().position(|&d| d != 0) else {
        return (Vec::new(), 0);
    };
    let mut kept: Vec<u8> = digits[start..].to_vec();
    let mut exp = exp;
    if exp < NANO_EXP {
        let drop = (NANO_EXP - exp).unsigned_abs();
        let round_up = if drop >= kept.len() as u64 {
            kept.clear();
            true // the dropped part is the whole (non-zero) number
        } else {
            let keep = kept.len() - drop as usize;
            let any = kept[keep..].iter().any(|&d| d != 0);
            kept.truncate(keep);
            any
        };
        exp = NANO_EXP;
        if round_up {
            let mut i = kept.len();
            loop {
                if i == 0 {
                    kept.insert(0, 1);
                    break;
                }
                i -= 1;
                if kept[i] == 9 {
                    kept[i] = 0;
                } else {
                    kept[i] += 1;
                    break;
                }
            }
        }
    }
    while kept.last() == Some(&0) {
        kept.pop();
        exp += 1;
    }
    (kept, exp)
}

fn digits_to_u128(digits: &[u8]) -> u128 {
    digits.iter().fold(0u128, |acc, &d| acc * 10 + u128::from(d))
}

impl Quantity {
    /// Zero, in decimal SI format.
    pub const fn zero() -> Self {
        Quantity { mantissa: 0, exponent: 0, format: Format::DecimalSI }
    }

    /// Parses a quantity string such as `"250m"`, `"1.5Gi"` or `"-1e3"`.
    pub fn parse(s: &str) -> Result<Self, ParseQuantityError> {
        use ParseQuantityErrorKind as K;
        let err = |pos, kind| ParseQuantityError::new(s, pos, kind);
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(err(0, K::Empty));
        }
        let mut pos = 0;
        let negative = match b[0] {
            b'-' => {
                pos = 1;
                true
            }
            b'+' => {
                pos = 1;
                false
            }
            _ => false,
        };
        let number_start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        let int_part = &b[number_start..pos];
        let mut frac_part: &[u8] = &[];
        if pos < b.len() && b[pos] == b'.' {
            pos += 1;
            let frac_start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
            frac_part = &b[frac_start..pos];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err(number_start, K::ExpectedDigit));
        }
        // Everything before `pos` is ASCII, so this slice is on a character boundary.
        let suffix = &s[pos..];
        let (mut format, suffix_exp, binary_power) = match suffix {
            "" => (Format::DecimalSI, 0i64, 0u32),
            "n" => (Format::DecimalSI, -9, 0),
            "u" => (Format::DecimalSI, -6, 0),
            "m" => (Format::DecimalSI, -3, 0),
            "k" => (Format::DecimalSI, 3, 0),
            "M" => (Format::DecimalSI, 6, 0),
            "G" => (Format::DecimalSI, 9, 0),
            "T" => (Format::DecimalSI, 12, 0),
            "P" => (Format::DecimalSI, 15, 0),
            "E" => (Format::DecimalSI, 18, 0),
            "Ki" => (Format::BinarySI, 0, 1),
            "Mi" => (Format::BinarySI, 0, 2),
            "Gi" => (Format::BinarySI, 0, 3),
            "Ti" => (Format::BinarySI, 0, 4),
            "Pi" => (Format::BinarySI, 0, 5),
            "Ei" => (Format::BinarySI, 0, 6),
            _ if suffix.starts_with(['e', 'E']) => (Format::DecimalExponent, parse_exponent(s, pos + 1)?, 0),
            _ => return Err(err(pos, K::UnknownSuffix)),
        };

        let mut digits: Vec<u8> = Vec::with_capacity(int_part.len() + frac_part.len() + 20);
        digits.extend(int_part.iter().chain(frac_part).map(|c| c - b'0'));
        let leading_zeros = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading_zeros);
        for _ in 0..binary_power {
            mul_digits(&mut digits, 1024);
        }
        let exp = suffix_exp - frac_part.len() as i64;
        let (digits, exp) = round_digits(&digits, exp);
        if digits.is_empty() {
            return Ok(Quantity { mantissa: 0, exponent: 0, format });
        }
        if exp > MAX_NORMALIZED_EXPONENT && format != Format::BinarySI {
            return Err(err(number_start, K::ExponentOutOfRange));
        }

        let (mag, exp) = if format == Format::BinarySI && digits.len() as i64 + exp > 19 {
            (MAX_BINARY, 0)
        } else if digits.len() > MAX_DIGITS {
            return Err(err(number_start, K::TooManyDigits));
        } else {
            let v = (digits_to_u128(&digits), exp);
            if format == Format::BinarySI && cmp_magnitude(v, (MAX_BINARY, 0)) == Ordering::Greater {
                (MAX_BINARY, 0)
            } else {
                v
            }
        };
        if format == Format::BinarySI && cmp_magnitude((mag, exp), (1, 0)) == Ordering::Less {
            format = Format::DecimalSI;
        }
        // mag < 10^38 < i128::MAX, so the cast and the negation are exact.
        let mantissa = if negative { -(mag as i128) } else { mag as i128 };
        Ok(Quantity { mantissa, exponent: exp, format })
    }

    /// Builds `value` in the given format (Go's `NewQuantity`).
    pub fn from_int(value: i64, format: Format) -> Self {
        Self::from_scaled(value, 0, format)
    }

    /// Builds `value / 1000` in the given format (Go's `NewMilliQuantity`).
    pub fn from_milli(value: i64, format: Format) -> Self {
        Self::from_scaled(value, -3, format)
    }

    /// Builds `value * 10^exponent` in the given format, rounded up to 1n like a parse.
    pub fn from_scaled(value: i64, exponent: i32, format: Format) -> Self {
        let (mag, exp) = normalize(u128::from(value.unsigned_abs()), i64::from(exponent)).unwrap_or((0, 0));
        let mantissa = if value < 0 { -(mag as i128) } else { mag as i128 };
        Quantity { mantissa, exponent: exp, format }
    }

    fn from_parts(mantissa: i128, exponent: i64, format: Format) -> Option<Self> {
        let (mag, exp) = normalize(mantissa.unsigned_abs(), exponent)?;
        let mantissa = if mantissa < 0 { -(mag as i128) } else { mag as i128 };
        Some(Quantity { mantissa, exponent: exp, format })
    }

    /// The format used when printing.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The same value printed in another format.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// -1, 0 or 1 by the sign of the value.
    pub fn signum(&self) -> i32 {
        self.mantissa.signum() as i32
    }

    /// `self + other`, or `None` if the exact result needs more than 38 significant digits.
    /// The result keeps `self`'s format, unless `self` is zero (then `other`'s), as in Go.
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        let format = if self.is_zero() { other.format } else { self.format };
        if other.is_zero() {
            return Some(self.with_format(format));
        }
        if self.is_zero() {
            return Some(other.with_format(format));
        }
        let e = self.exponent.min(other.exponent);
        let align = |q: &Quantity| {
            let p = pow10_u128((q.exponent - e).unsigned_abs())?;
            q.mantissa.checked_mul(i128::try_from(p).ok()?)
        };
        let sum = align(self)?.checked_add(align(other)?)?;
        Quantity::from_parts(sum, e, format)
    }

    /// `self - other`, or `None` if the exact result needs more than 38 significant digits.
    /// Formats follow [`checked_add`](Self::checked_add).
    pub fn checked_sub(&self, other: &Quantity) -> Option<Quantity> {
        self.checked_add(&-*other)
    }

    /// `ceil(self / 10^scale)` rounded away from zero, saturating at the `i64` bounds
    /// (Go's `ScaledValue`). `scaled_value(0)` is [`value`](Self::value).
    pub fn scaled_value(&self, scale: i32) -> i64 {
        if self.mantissa == 0 {
            return 0;
        }
        let mag = self.mantissa.unsigned_abs();
        let shift = self.exponent - i64::from(scale);
        let result: Option<u128> = if shift >= 0 {
            pow10_u128(shift.unsigned_abs()).and_then(|p| mag.checked_mul(p))
        } else {
            Some(match pow10_u128(shift.unsigned_abs()) {
                Some(p) => mag / p + u128::from(mag % p != 0),
                None => 1,
            })
        };
        match (result, self.mantissa < 0) {
            (Some(v), false) => i64::try_from(v).unwrap_or(i64::MAX),
            (Some(v), true) if v <= i64::MAX as u128 + 1 => (v as i128).wrapping_neg() as i64,
            (_, true) => i64::MIN,
            (None, false) => i64::MAX,
        }
    }

    /// The value rounded up (away from zero) to an integer, saturating (Go's `Value`).
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// The value in thousandths, rounded up (away from zero), saturating (Go's `MilliValue`).
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The nearest `f64` (possibly infinite); for display and heuristics, not for arithmetic.
    pub fn as_approx_f64(&self) -> f64 {
        if self.mantissa == 0 {
            return 0.0;
        }
        let base = self.mantissa as f64;
        let e = self.exponent;
        if e > 400 {
            return base * f64::INFINITY;
        }
        base * pow10_f64(e as i32)
    }

    /// The canonical string (same as `to_string()`).
    pub fn canonical(&self) -> String {
        self.to_string()
    }
}

fn pow10_f64(e: i32) -> f64 {
    const EXACT: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    match usize::try_from(e.unsigned_abs()) {
        Ok(i) if i < EXACT.len() => {
            if e >= 0 {
                EXACT[i]
            } else {
                1.0 / EXACT[i]
            }
        }
        _ => 10f64.powi(e),
    }
}

/// Parses the exponent digits of a `e`/`E` suffix starting at byte `pos` of `s`.
fn parse_exponent(s: &str, mut pos: usize) -> Result<i64, ParseQuantityError> {
    use ParseQuantityErrorKind as K;
    let b = s.as_bytes();
    let mut negative = false;
    if let Some(&c) = b.get(pos) {
        if c == b'+' || c == b'-' {
            negative = c == b'-';
            pos += 1;
        }
    }
    let digits_start = pos;
    if pos >= b.len() {
        return Err(ParseQuantityError::new(s, pos, K::ExpectedDigit));
    }
    let mut value: i64 = 0;
    while pos < b.len() {
        let c = b[pos];
        if !c.is_ascii_digit() {
            return Err(ParseQuantityError::new(s, pos, K::InvalidExponent));
        }
        value = (value * 10 + i64::from(c - b'0')).min(MAX_EXPONENT + 1);
        pos += 1;
    }
    if value > MAX_EXPONENT {
        return Err(ParseQuantityError::new(s, digits_start, K::ExponentOutOfRange));
    }
    Ok(if negative { -value } else { value })
}

fn decimal_si_suffix(exp: i64) -> Option<&'static str> {
    Some(match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa == 0 {
            return f.write_str("0");
        }
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let mag = self.mantissa.unsigned_abs();
        let mut format = self.format;
        if format == Format::BinarySI {
            if cmp_magnitude((mag, self.exponent), (1024, 0)) == Ordering::Less || self.exponent < 0 {
                // Small or fractional binary values print as decimal SI (no rounding).
                format = Format::DecimalSI;
            } else {
                let whole = pow10_u128(self.exponent.unsigned_abs()).and_then(|p| mag.checked_mul(p));
                match whole {
                    Some(mut n) => {
                        let mut power = 0usize;
                        while n % 1024 == 0 {
                            n /= 1024;
                            power += 1;
                        }
                        match BINARY_SUFFIXES.get(power) {
                            Some(suffix) => return write!(f, "{sign}{n}{suffix}"),
                            // Beyond Ei there is no binary suffix: exact exponent notation.
                            None => format = Format::DecimalExponent,
                        }
                    }
                    None => format = Format::DecimalExponent,
                }
            }
        }
        // Decimal: make the exponent a multiple of three by appending zeros to the digits.
        let pad = self.exponent.rem_euclid(3);
        let exp = self.exponent - pad;
        let zeros = &"00"[..pad as usize];
        match (format, decimal_si_suffix(exp)) {
            (Format::DecimalSI, Some(suffix)) => write!(f, "{sign}{mag}{zeros}{suffix}"),
            _ if exp == 0 => write!(f, "{sign}{mag}{zeros}"),
            _ => write!(f, "{sign}{mag}{zeros}e{exp}"),
        }
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({self}, {:?})", self.format)
    }
}

impl FromStr for Quantity {
    type Err = ParseQuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        // Normalized representation: equal values have equal parts.
        self.mantissa == other.mantissa && self.exponent == other.exponent
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.mantissa.hash(state);
        self.exponent.hash(state);
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.mantissa, other.mantissa);
        match a.signum().cmp(&b.signum()) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        let mag = cmp_magnitude((a.unsigned_abs(), self.exponent), (b.unsigned_abs(), other.exponent));
        if a < 0 {
            mag.reverse()
        } else {
            mag
        }
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::ops::Neg for Quantity {
    type Output = Quantity;

    fn neg(self) -> Quantity {
        // |mantissa| < 10^38, so negation cannot overflow.
        Quantity { mantissa: -self.mantissa, ..self }
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    /// Accepts a string (surrounding whitespace trimmed, as Go does) or a JSON number.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity string such as \"100m\" or \"1Gi\", or a number")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                Quantity::parse(v.trim()).map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity::from_int(v, Format::DecimalSI))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                Quantity::parse(&v.to_string()).map_err(E::custom)
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                if !v.is_finite() {
                    return Err(E::custom(format_args!("quantity must be finite, got {v}")));
                }
                // Rust prints finite floats in plain positional notation, exactly.
                Quantity::parse(&v.to_string()).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl From<&Quantity> for k8s_openapi::apimachinery::pkg::api::resource::Quantity {
    fn from(q: &Quantity) -> Self {
        k8s_openapi::apimachinery::pkg::api::resource::Quantity(q.to_string())
    }
}

impl From<Quantity> for k8s_openapi::apimachinery::pkg::api::resource::Quantity {
    fn from(q: Quantity) -> Self {
        (&q).into()
    }
}

impl TryFrom<&k8s_openapi::apimachinery::pkg::api::resource::Quantity> for Quantity {
    type Error = ParseQuantityError;

    fn try_from(q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity) -> Result<Self, Self::Error> {
        Quantity::parse(&q.0)
    }
}

impl TryFrom<k8s_openapi::apimachinery::pkg::api::resource::Quantity> for Quantity {
    type Error = ParseQuantityError;

    fn try_from(q: k8s_openapi::apimachinery::pkg::api::resource::Quantity) -> Result<Self, Self::Error> {
        Quantity::parse(&q.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        match Quantity::parse(s) {
            Ok(q) => q,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    /// Parse-then-print cases from Go's quantity_test.go (TestQuantityParse values rendered
    /// through TestQuantityString / TestQuantityParseEmit rules) plus the brief's examples.
    #[test]
    fn canonical_table() {
        let table: &[(&str, &str)] = &[
            ("0", "0"),
            ("0n", "0"),
            ("0Ki", "0"),
            ("0Ti", "0"),
            ("-0", "0"),
            ("1", "1"),
            ("1Ki", "1Ki"),
            ("8Ki", "8Ki"),
            ("7Mi", "7Mi"),
            ("6Gi", "6Gi"),
            ("5Ti", "5Ti"),
            ("4Pi", "4Pi"),
            ("3Ei", "3Ei"),
            ("10Ti", "10Ti"),
            ("100Ti", "100Ti"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("307200Ki", "300Mi"),
            ("1025024Mi", "1001Gi"),
            ("1024Gi", "1Ti"),
            ("5n", "5n"),
            ("4u", "4u"),
            ("3m", "3m"),
            ("9", "9"),
            ("8k", "8k"),
            ("50k", "50k"),
            ("7M", "7M"),
            ("6G", "6G"),
            ("5T", "5T"),
            ("40T", "40T"),
            ("300T", "300T"),
            ("2P", "2P"),
            ("1E", "1E"),
            ("12E", "12E"),
            ("1000M", "1G"),
            ("0.001T", "1G"),
            ("1000m", "1"),
            ("100m", "100m"),
            ("0.1", "100m"),
            ("-1.5", "-1500m"),
            ("1.08", "1080m"),
            ("1080000000n", "1080m"),
            ("1000u", "1m"),
            ("0.5", "500m"),
            ("1E-3", "1e-3"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("1e9", "1e9"),
            ("1E12", "1e12"),
            ("1e15", "1e15"),
            ("1E18", "1e18"),
            ("1e14", "100e12"),
            ("1e13", "10e12"),
            ("1e4", "10e3"),
            (".001e12", "1e9"),
            ("0.001e0", "1e-3"),
            ("1000e-12", "1e-9"),
            ("0.5e0", "500e-3"),
            ("0.5e-1", "50e-3"),
            ("1.5E-2", "15e-3"),
            ("1.2e3", "1200"),
            ("1.3E+6", "1300e3"),
            ("00", "0"),
            ("100.035k", "100035"),
            ("0.0005k", "500m"),
            ("10.035M", "10035k"),
            ("9.01", "9010m"),
            ("8.1k", "8100"),
            ("7.123456M", "7123456"),
            ("6.987654321G", "6987654321"),
            ("5.444T", "5444G"),
            ("2.5P", "2500T"),
            ("1.01E", "1010P"),
            // Rounding up to 1n.
            ("3.001n", "4n"),
            ("1.1E-9", "2e-9"),
            ("0.0000000001", "1n"),
            ("0.0000000005", "1n"),
            ("0.5e-9", "1e-9"),
            ("0.9n", "1n"),
            ("0.00000012345", "124n"),
            ("0.00000012354", "124n"),
            ("-0.9n", "-1n"),
            ("-.484785E-7466", "-1e-9"),
            ("-.484785n", "-1n"),
            // Binary caps at 2^63-1 and falls back to decimal when inexact or small.
            ("9Ei", "9223372036854775807"),
            ("9223372036854775807Ki", "9223372036854775807"),
            ("1.1Ki", "1126400m"),
            ("100.035Ki", "102435840m"),
            ("0.5Mi", "512Ki"),
            ("0.05Gi", "53687091200m"),
            ("0.025Ti", "27487790694400m"),
            (".001Ki", "1024m"),
            (".000001Ki", "1024u"),
            (".000000001Ki", "1024n"),
            (".000000000001Ki", "2n"),
            ("1025Ki", "1025Ki"),
            ("1Ki", "1Ki"),
            ("0.5Ki", "512"),
            // Sloppy but accepted by Go.
            (".001", "1m"),
            (".0001k", "100m"),
            ("1.", "1"),
            ("1.G", "1G"),
            ("+1.5", "1500m"),
            // DecimalSI beyond E / huge exponents: exact exponent notation.
            ("1000E", "1e21"),
            ("5000E", "5e21"),
            ("1e999999999", "1e999999999"),
            ("1e2147483647", "10e2147483646"),
            ("10e2147483647", "100e2147483646"),
            ("1e-2147483647", "1e-9"),
            ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ];
        for (input, want) in table {
            let parsed = q(input);
            assert_eq!(parsed.to_string(), *want, "canonical of {input:?}");
            let again = q(want);
            assert_eq!(again, parsed, "{want:?} re-parses to the value of {input:?}");
            assert_eq!(again.to_string(), *want, "canonical of {want:?} is stable");
            if !parsed.is_zero() && !input.starts_with(['+', '-']) {
                let neg = q(&format!("-{input}"));
                assert_eq!(neg.to_string(), format!("-{want}"), "canonical of -{input:?}");
            }
        }
    }

    #[test]
    fn formats_are_kept_or_adjusted_like_go() {
        assert_eq!(q("1Ki").format(), Format::BinarySI);
        assert_eq!(q("1e3").format(), Format::DecimalExponent);
        assert_eq!(q("1k").format(), Format::DecimalSI);
        assert_eq!(q("0Ki").format(), Format::BinarySI);
        // Non-zero binary values below one switch to decimal SI on parse.
        assert_eq!(q("0.5Ki").format(), Format::BinarySI);
        assert_eq!(q(".000000000001Ki").format(), Format::DecimalSI);
    }

    #[test]
    fn invalid_inputs_name_input_and_position() {
        use ParseQuantityErrorKind as K;
        let table: &[(&str, usize, K)] = &[
            ("", 0, K::Empty),
            ("1.2.3", 3, K::UnknownSuffix),
            ("5Q", 1, K::UnknownSuffix),
            (" 1", 0, K::ExpectedDigit),
            ("1 ", 1, K::UnknownSuffix),
            ("--1", 1, K::ExpectedDigit),
            ("-", 1, K::ExpectedDigit),
            (".", 0, K::ExpectedDigit),
            ("Ki", 0, K::ExpectedDigit),
            ("1.1.M", 3, K::UnknownSuffix),
            ("1+1.0M", 1, K::UnknownSuffix),
            ("0.1mi", 3, K::UnknownSuffix),
            ("0.1am", 3, K::UnknownSuffix),
            ("aoeu", 0, K::ExpectedDigit),
            (".5i", 2, K::UnknownSuffix),
            ("1i", 1, K::UnknownSuffix),
            ("-3.01i", 5, K::UnknownSuffix),
            ("-3.01e-", 7, K::ExpectedDigit),
            ("1e", 2, K::ExpectedDigit),
            ("1e5x", 3, K::InvalidExponent),
            ("1e+-5", 3, K::InvalidExponent),
            ("1K", 1, K::UnknownSuffix),
            ("1KiB", 1, K::UnknownSuffix),
            ("1e4294967297", 2, K::ExponentOutOfRange),
            ("1e2147483648", 2, K::ExponentOutOfRange),
            ("1e-2147483648", 3, K::ExponentOutOfRange),
            ("1e99999999999999999999999999999", 2, K::ExponentOutOfRange),
            ("100e2147483647", 0, K::ExponentOutOfRange),
            ("-1000e2147483646", 1, K::ExponentOutOfRange),
            ("123456789012345678901234567890123456789", 0, K::TooManyDigits),
            ("1µ", 1, K::UnknownSuffix),
        ];
        for (input, position, kind) in table {
            let err = Quantity::parse(input).expect_err(input);
            assert_eq!((err.position, err.kind), (*position, *kind), "{input:?}: {err}");
            assert_eq!(err.input, *input);
            assert!(err.to_string().contains(&format!("{input:?}")), "{err}");
        }
        let long = "9".repeat(500);
        let err = Quantity::parse(&format!("{long}x")).expect_err("long");
        assert!(err.input.len() < 80 && err.input.ends_with("..."), "{}", err.input);
    }

    #[test]
    fn hostile_inputs_are_fast_and_bounded() {
        // A long fraction rounds; a long integer part is rejected (decimal) or capped (binary).
        let long_frac = format!("1.{}1", "0".repeat(100_000));
        assert_eq!(q(&long_frac).to_string(), "1000000001n");
        let long_int = "9".repeat(100_000);
        assert!(Quantity::parse(&long_int).is_err());
        assert_eq!(q(&format!("{long_int}Ei")).to_string(), "9223372036854775807");
        let many_zeros = format!("{}1", "0".repeat(100_000));
        assert_eq!(q(&many_zeros).to_string(), "1");
        let big = q("1e2147483647");
        assert_eq!(big.value(), i64::MAX);
        assert_eq!((-big).value(), i64::MIN);
        assert!(big.as_approx_f64().is_infinite());
        assert_eq!(big.checked_add(&q("1")), None);
        let top = q("50e2147483647");
        assert_eq!(top.checked_add(&top), None, "1e2147483649 would not print parseably");
        assert_eq!(q("10e2147483647").checked_add(&q("90e2147483647")), None);
    }

    /// A small deterministic in-tree fuzz over the grammar's alphabet: every accepted string's
    /// canonical form parses back to the same value, and ordering agrees with subtraction.
    #[test]
    fn random_strings_round_trip() {
        const ALPHABET: &[u8] = b"0123456789012345.+-eEinumkKMGTP";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = Vec::new();
        for _ in 0..20_000 {
            let len = 1 + (next() % 12) as usize;
            let s: String = (0..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char).collect();
            let Ok(parsed) = Quantity::parse(&s) else { continue };
            let canonical = parsed.to_string();
            let again = Quantity::parse(&canonical).unwrap_or_else(|e| panic!("{s:?} -> {canonical:?}: {e}"));
            assert_eq!(again, parsed, "{s:?} -> {canonical:?}");
            let second = again.to_string();
            assert_eq!(q(&second).to_string(), second, "{s:?} -> {canonical:?} -> {second:?}");
            accepted.push(parsed);
        }
        assert!(accepted.len() > 1000, "only {} accepted", accepted.len());
        for pair in accepted.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if let Some(diff) = a.checked_sub(&b) {
                assert_eq!(a.cmp(&b), diff.signum().cmp(&0), "{a} vs {b}");
                assert_eq!(diff.checked_add(&b), Some(a), "{a} - {b} + {b}");
            }
        }
    }

    #[test]
    fn ordering_and_equality_by_value() {
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1k"), q("1e3"));
        assert_eq!(q("1Ki"), q("1024"));
        assert!(q("100m") > q("50m"));
        assert!(q("10000T") > q("100Gi"));
        assert!(q("-1") < q("0"));
        assert!(q("-2") < q("-1"));
        assert!(q("-1Ki") < q("-1k"));
        assert!(q("1e999999999") > q("9223372036854775807"));
        assert!(q("1n") > q("0"));
        assert!(q("999n") < q("1u"));
        let mut v = [q("1Gi"), q("1G"), q("-5"), q("100m"), q("0")];
        v.sort();
        let s: Vec<String> = v.iter().map(Quantity::to_string).collect();
        assert_eq!(s, ["-5", "0", "100m", "1G", "1Gi"]);
        use std::collections::HashSet;
        let set: HashSet<Quantity> = [q("1000m"), q("1"), q("1e0")].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn add_and_sub_keep_left_format() {
        // Go's TestAdd / TestSub.
        let add = |a: &str, b: &str| q(a).checked_add(&q(b)).expect("add");
        let sub = |a: &str, b: &str| q(a).checked_sub(&q(b)).expect("sub");
        assert_eq!(add("10", "1e1"), q("20"));
        assert_eq!(add("10", "1Ki").to_string(), "1034");
        assert_eq!(add("1Ki", "1k").to_string(), "2024");
        assert_eq!(add("1Gi", "1Gi").to_string(), "2Gi");
        assert_eq!(add("1Ki", "1").to_string(), "1025");
        assert_eq!(add("1Ki", "1").format(), Format::BinarySI);
        assert_eq!(add("0", "1Gi").to_string(), "1Gi");
        assert_eq!(add("100m", "0").to_string(), "100m");
        assert_eq!(add("1e3", "1").to_string(), "1001");
        assert_eq!(add("1e3", "1k").to_string(), "2e3");
        assert_eq!(sub("10", "1e1"), q("0"));
        assert_eq!(sub("10Ki", "1"), q("10239"));
        assert_eq!(sub("0", "1Gi").to_string(), "-1Gi");
        assert_eq!(sub("100m", "0").to_string(), "100m");
        assert_eq!(sub("1", "1500m").to_string(), "-500m");
        // Overflow of 38 digits is reported, not wrapped.
        let big = q("99999999999999999999999999999999999999");
        assert_eq!(big.checked_add(&q("1")), Some(q("1e38")));
        assert_eq!(big.checked_add(&q("2")), None);
        assert_eq!(big.checked_add(&q("1n")), None);
        // Exact across scales: add then subtract cancels.
        let parts = ["1n", "3.5Gi", "7e12", "123m", "-42", "1Ei"];
        let mut acc = Quantity::zero();
        for p in parts {
            acc = acc.checked_add(&q(p)).expect("add");
        }
        for p in parts {
            acc = acc.checked_sub(&q(p)).expect("sub");
        }
        assert!(acc.is_zero());
    }

    #[test]
    fn values_round_away_from_zero() {
        // Go's TestNegativeValueRoundsAwayFromZero.
        let table: &[(&str, i64, i64)] = &[
            ("-.484785E-7466", -1, -1),
            (".484785E-7466", 1, 1),
            ("-.484785E-1", -1, -49),
            (".484785E-1", 1, 49),
            ("-0.0005", -1, -1),
            ("0.0005", 1, 1),
            ("-1500m", -2, -1500),
            ("1500m", 2, 1500),
            ("-9.5000000001Gi", -10200547329, -10200547328108),
            ("9.5000000001Gi", 10200547329, 10200547328108),
            ("-1", -1, -1000),
            ("1", 1, 1000),
            ("0", 0, 0),
            ("1Ki", 1024, 1_024_000),
            ("9223372036854775807", i64::MAX, i64::MAX),
            ("-9223372036854775808", i64::MIN, i64::MIN),
            ("9223372036854775808", i64::MAX, i64::MAX),
        ];
        for (input, value, milli) in table {
            assert_eq!(q(input).value(), *value, "value of {input}");
            assert_eq!(q(input).milli_value(), *milli, "milli of {input}");
        }
        // Go's TestScaledValue (NewScaledQuantity(1, from).ScaledValue(to)).
        for (from, to, want) in [(-9, -9, 1), (-9, 0, 1), (-6, -9, 1000), (0, -9, 1_000_000_000), (2, -2, 10_000)] {
            assert_eq!(Quantity::from_scaled(1, from, Format::DecimalSI).scaled_value(to), want);
        }
    }

    #[test]
    fn constructors_match_go() {
        // Go's TestNewSet, TestMilliNewSet, TestNewScaledSet.
        assert_eq!(Quantity::from_int(1000, Format::DecimalSI).to_string(), "1k");
        assert_eq!(Quantity::from_int(1234000, Format::DecimalSI).to_string(), "1234k");
        assert_eq!(Quantity::from_int(1024, Format::BinarySI).to_string(), "1Ki");
        assert_eq!(Quantity::from_int(1024 * 1024, Format::BinarySI).to_string(), "1Mi");
        assert_eq!(Quantity::from_int(1_000_000, Format::DecimalExponent).to_string(), "1e6");
        assert_eq!(Quantity::from_milli(1, Format::DecimalSI).to_string(), "1m");
        assert_eq!(Quantity::from_milli(1000, Format::DecimalSI).to_string(), "1");
        assert_eq!(Quantity::from_milli(1024, Format::BinarySI).to_string(), "1024m");
        assert_eq!(Quantity::from_milli(1024 * 1024, Format::BinarySI).to_string(), "1048576m");
        assert_eq!(Quantity::from_milli(1_000_000, Format::DecimalExponent).to_string(), "1e3");
        assert_eq!(Quantity::from_scaled(1000, -9, Format::DecimalSI).to_string(), "1u");
        assert_eq!(Quantity::from_scaled(1, -12, Format::DecimalSI).to_string(), "1n");
        assert_eq!(Quantity::from_int(i64::MIN, Format::DecimalSI).to_string(), "-9223372036854775808");
        assert_eq!(Quantity::from_int(5, Format::BinarySI).to_string(), "5");
        assert_eq!(Quantity::from_int(2000, Format::BinarySI).to_string(), "2000");
        // 2^70 has no binary suffix left: plain digits (Go's BinarySI-past-Ei fallback).
        let ei = q("1Ei");
        let mut big = Quantity::zero().with_format(Format::BinarySI);
        for _ in 0..1024 {
            big = big.checked_add(&ei).expect("add");
        }
        assert_eq!(big.to_string(), "1180591620717411303424");
        assert_eq!(q(&big.to_string()), big);
        let two63 = q("8Ei").checked_add(&q("1")).and_then(|x| x.checked_sub(&q("1")));
        assert_eq!(two63.map(|x| x.to_string()).as_deref(), Some("9223372036854775807"));
    }

    #[test]
    fn approx_f64_matches_go() {
        for (input, want) in [("2Ki", 2048.0), ("1.1Ki", 1126.4), ("1Mi", 1.048576e6), ("2Gi", 2.147483648e9)] {
            assert_eq!(q(input).as_approx_f64(), want, "{input}");
        }
        assert_eq!(q("-1.5").as_approx_f64(), -1.5);
        assert_eq!(q("12E").as_approx_f64(), 1.2e19);
        assert_eq!(q("0").as_approx_f64(), 0.0);
        assert_eq!(q("-1e500").as_approx_f64(), f64::NEG_INFINITY);
    }

    #[test]
    fn serde_string_and_numbers() {
        let v: Quantity = serde_json::from_str(r#""1.5Gi""#).expect("string");
        assert_eq!(serde_json::to_string(&v).expect("ser"), r#""1536Mi""#);
        for (json, want) in [
            (r#"" 1""#, "1"),
            (r#""1 ""#, "1"),
            ("1", "1"),
            (" 10", "10"),
            ("-1", "-1"),
            ("1.5", "1500m"),
            ("0.1", "100m"),
            ("18446744073709551615", "18446744073709551615"),
            ("1e3", "1k"),
        ] {
            let got: Quantity = serde_json::from_str(json).expect(json);
            assert_eq!(got.to_string(), want, "{json}");
        }
        for bad in [r#""""#, r#""1x""#, "true", "[]", "{}"] {
            assert!(serde_json::from_str::<Quantity>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Quantity>(r#""5Q""#).expect_err("5Q").to_string();
        assert!(err.contains("\"5Q\"") && err.contains("byte 1"), "{err}");
    }

    #[test]
    fn k8s_openapi_conversions() {
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
        let k = K8sQuantity("1500m".into());
        let ours = Quantity::try_from(&k).expect("parse");
        assert_eq!(ours.milli_value(), 1500);
        let back: K8sQuantity = (&ours.checked_add(&q("500m")).expect("add")).into();
        assert_eq!(back.0, "2");
        assert!(Quantity::try_from(K8sQuantity("nope".into())).is_err());
    }
}
