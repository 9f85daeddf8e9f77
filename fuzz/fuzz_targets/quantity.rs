#![no_main]
//! Fuzzes `Quantity::parse`: arbitrary strings never panic; every accepted quantity prints a
//! canonical string that parses back to an equal value (whose own canonical string is then a
//! fixed point), and arithmetic, accessors and serde never panic on it.
use rudder_apimachinery::quantity::Quantity;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(q) = Quantity::parse(s) else { return };
    let canonical = q.to_string();
    let again = match Quantity::parse(&canonical) {
        Ok(again) => again,
        Err(e) => panic!("canonical {canonical:?} of {s:?} does not parse: {e}"),
    };
    assert_eq!(again, q, "canonical {canonical:?} of {s:?} changed the value");
    // The format may change once (a binary value printed without suffix re-parses as decimal,
    // as in Go: "976.5625Ki" -> "1000000" -> "1M"); after that the canonical form is fixed.
    let second = again.to_string();
    let third = Quantity::parse(&second).map(|x| x.to_string());
    assert_eq!(third.as_deref(), Ok(second.as_str()), "canonical form of {s:?} is not stable");
    assert_eq!(q.cmp(&again), std::cmp::Ordering::Equal);
    let _ = (q.value(), q.milli_value(), q.as_approx_f64());
    if let Some(sum) = q.checked_add(&again) {
        let back = sum.checked_sub(&q);
        assert!(back.is_none() || back == Some(q), "({s:?} + itself) - itself != itself");
    }
    let json = serde_json::to_string(&q).expect("a quantity serializes");
    let from_json: Quantity = serde_json::from_str(&json).expect("a serialized quantity deserializes");
    assert_eq!(from_json, q);
});
