//! The JSON text forms of `metav1.Time`, `metav1.MicroTime` and `metav1.Duration`, both ways,
//! exactly as Kubernetes' Go types print them: `Time` is RFC 3339 in UTC with whole seconds,
//! `MicroTime` the same with six fraction digits, `Duration` Go's `time.Duration.String()`
//! (`1h2m3.5s`, `300ms`, `0s`). Formatting writes into a stack buffer (no allocation).

use super::Error;

/// A short text formed on the stack.
pub(crate) struct Buf {
    bytes: [u8; 40],
    start: usize,
    end: usize,
}

impl Buf {
    fn new() -> Self {
        Buf { bytes: [0; 40], start: 0, end: 0 }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII and 'µ' are ever written.
        std::str::from_utf8(&self.bytes[self.start..self.end]).unwrap_or("")
    }

    fn push(&mut self, b: u8) {
        if self.end < self.bytes.len() {
            self.bytes[self.end] = b;
            self.end += 1;
        }
    }

    fn digits(&mut self, v: u64, width: usize) {
        let mut tmp = [b'0'; 20];
        let mut n = v;
        let mut i = tmp.len();
        while n > 0 || i == tmp.len() {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let len = (tmp.len() - i).max(width);
        for &b in &tmp[tmp.len() - len..] {
            self.push(b);
        }
    }

    /// Prepends (for the right-to-left duration formatting).
    fn front(&mut self, b: u8) {
        if self.start > 0 {
            self.start -= 1;
            self.bytes[self.start] = b;
        }
    }
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `seconds`/`nanos` since the Unix epoch as RFC 3339 UTC; with `micros`, six fraction digits.
/// Years outside 0..=9999 are an error, as in Go's `Time.MarshalJSON`.
pub(crate) fn format_time(seconds: i64, nanos: i32, micros: bool) -> Result<Buf, Error> {
    // Go normalises nanos into [0, 1e9) by carrying into seconds.
    let seconds = seconds.checked_add(i64::from(nanos).div_euclid(1_000_000_000)).ok_or(Error::TimeRange)?;
    let nanos = i64::from(nanos).rem_euclid(1_000_000_000) as u64;
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400) as u64;
    let (year, month, day) = civil(days);
    if !(0..=9999).contains(&year) {
        return Err(Error::TimeRange);
    }
    let mut b = Buf::new();
    b.digits(year as u64, 4);
    b.push(b'-');
    b.digits(u64::from(month), 2);
    b.push(b'-');
    b.digits(u64::from(day), 2);
    b.push(b'T');
    b.digits(secs / 3600, 2);
    b.push(b':');
    b.digits(secs / 60 % 60, 2);
    b.push(b':');
    b.digits(secs % 60, 2);
    if micros {
        b.push(b'.');
        b.digits(nanos / 1000, 6);
    }
    b.push(b'Z');
    Ok(b)
}

/// RFC 3339 text -> (seconds, nanos) since the Unix epoch.
pub(crate) fn parse_time(text: &str) -> Result<(i64, i32), Error> {
    let ts: jiff::Timestamp = text.parse().map_err(|_| Error::Message(format!("invalid RFC 3339 time {text:?}")))?;
    Ok((ts.as_second(), ts.subsec_nanosecond()))
}

/// Nanoseconds as Go's `time.Duration.String()` prints them.
pub(crate) fn format_duration(nanos: i64) -> Buf {
    let mut b = Buf::new();
    b.start = b.bytes.len();
    b.end = b.bytes.len();
    let neg = nanos < 0;
    let mut u = nanos.unsigned_abs();
    if u == 0 {
        b.front(b's');
        b.front(b'0');
        return b;
    }
    // Writes the fraction u / 10^prec (trailing zeros and a bare '.' omitted), returns u / 10^prec.
    let frac = |b: &mut Buf, mut v: u64, prec: u32| {
        let mut print = false;
        for _ in 0..prec {
            let digit = v % 10;
            print = print || digit != 0;
            if print {
                b.front(b'0' + digit as u8);
            }
            v /= 10;
        }
        if print {
            b.front(b'.');
        }
        v
    };
    let int = |b: &mut Buf, mut v: u64| {
        if v == 0 {
            b.front(b'0');
        }
        while v > 0 {
            b.front(b'0' + (v % 10) as u8);
            v /= 10;
        }
    };
    b.front(b's');
    if u < 1_000_000_000 {
        let prec = if u < 1_000 {
            b.front(b'n');
            0
        } else if u < 1_000_000 {
            b.front(0xb5);
            b.front(0xc2);
            3
        } else {
            b.front(b'm');
            6
        };
        u = frac(&mut b, u, prec);
        int(&mut b, u);
    } else {
        u = frac(&mut b, u, 9);
        int(&mut b, u % 60);
        u /= 60;
        if u > 0 {
            b.front(b'm');
            int(&mut b, u % 60);
            u /= 60;
            if u > 0 {
                b.front(b'h');
                int(&mut b, u);
            }
        }
    }
    if neg {
        b.front(b'-');
    }
    b
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `<decimal><unit>` (`ns us µs ms s m h`),
/// or `0`. Overflow is an error.
pub(crate) fn parse_duration(text: &str) -> Result<i64, Error> {
    let bad = || Error::Message(format!("invalid duration {text:?}"));
    let (neg, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (int, rest) = s.split_at(int_end);
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(r) => {
                let e = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                r.split_at(e)
            }
            None => ("", rest),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_end);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let whole: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
        let mut value = whole.checked_mul(scale).ok_or_else(bad)?;
        let mut div = 1u128;
        let mut f = 0u128;
        // 18 digits (below a nanosecond of an hour) keep `f * scale` within u128.
        for c in frac.bytes().take(18) {
            f = f * 10 + u128::from(c - b'0');
            div *= 10;
        }
        value = value.checked_add(f * scale / div).ok_or_else(bad)?;
        total = total.checked_add(value).ok_or_else(bad)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return Err(bad());
        }
        s = rest;
    }
    let total = total as i128;
    i64::try_from(if neg { -total } else { total }).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_kubernetes_does() {
        assert_eq!(format_time(0, 0, false).unwrap().as_str(), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_700_000_000, 123_456_789, false).unwrap().as_str(), "2023-11-14T22:13:20Z");
        assert_eq!(format_time(1_700_000_000, 123_456_789, true).unwrap().as_str(), "2023-11-14T22:13:20.123456Z");
        assert_eq!(format_time(951_782_400, 0, false).unwrap().as_str(), "2000-02-29T00:00:00Z");
        assert!(format_time(i64::MAX, 0, false).is_err());
        assert!(format_time(i64::MIN, -1, false).is_err());
        assert_eq!(parse_time("2023-11-14T22:13:20.123456Z").unwrap(), (1_700_000_000, 123_456_000));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00").unwrap(), (1_700_000_000, 0));
    }

    #[test]
    fn durations_print_and_parse_as_go_does() {
        for (nanos, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (300_000_000, "300ms"),
            (1_000_000_000, "1s"),
            (90_000_000_000, "1m30s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (-2_000_000_000, "-2s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(format_duration(nanos).as_str(), text);
            assert_eq!(parse_duration(text).unwrap(), nanos, "{text}");
        }
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("1.0000000000000000000000000000000001h").unwrap(), 3_600_000_000_000);
        for bad in ["", "1", "h", "1x", "-", "9999999999999h", ".s", "340282366920938463463374607431768211455h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
