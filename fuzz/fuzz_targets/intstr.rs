#![no_main]
//! Fuzzes `intstr::scaled_value` and `intstr::int_value` against Go's formula. Input layout: four
//! bytes of `total` (little-endian), one byte whose low bit is `round_up`, the rest the string.
//! Neither function may panic; an accepted percentage must equal Go's
//! `math.Ceil`/`math.Floor(float64(v) * float64(total) / 100)`, an overflow must be outside `i32`,
//! and a rejected string must not be an `i32` percentage.
use rudder_apimachinery::intstr::{int_value, scaled_value, IntOrString, IntOrStringError};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<5>() else { return };
    let total = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let round_up = head[4] & 1 == 1;
    let s = String::from_utf8_lossy(rest).into_owned();
    let value = IntOrString::String(s.clone());

    let parsed = s.strip_suffix('%').and_then(|n| n.parse::<i32>().ok());
    match scaled_value(&value, total, round_up) {
        Ok(got) => {
            let v = parsed.expect("an accepted percentage is an i32");
            let go = f64::from(v) * f64::from(total) / 100.0;
            let go = if round_up { go.ceil() } else { go.floor() };
            assert_eq!(f64::from(got), go, "{s:?} of {total} (up: {round_up})");
        }
        Err(IntOrStringError::Overflow { .. }) => {
            let v = parsed.expect("an overflowing percentage is an i32");
            let go = f64::from(v) * f64::from(total) / 100.0;
            let go = if round_up { go.ceil() } else { go.floor() };
            assert!(go < f64::from(i32::MIN) || go > f64::from(i32::MAX), "{s:?} of {total}: {go}");
        }
        Err(IntOrStringError::NotAPercentage { .. }) => assert!(!s.ends_with('%')),
        Err(IntOrStringError::NotAnInteger { .. }) => assert!(parsed.is_none(), "{s:?} was rejected"),
    }
    assert_eq!(scaled_value(&IntOrString::Int(total), 100, round_up), Ok(total));

    match int_value(&value) {
        Ok(v) => assert_eq!(s.parse::<i32>().ok(), Some(v)),
        Err(_) => assert!(s.parse::<i32>().is_err(), "{s:?} was rejected"),
    }
});
