//! Fuzzes `fields::FieldSelector::parse`: no input panics, and every selector that parses prints
//! an escaped string that parses back to an equal selector.
#![no_main]

use rudder_apimachinery::fields::FieldSelector;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let Ok(sel) = FieldSelector::parse(&input) else { return };
    let printed = sel.to_string();
    let again = match FieldSelector::parse(&printed) {
        Ok(again) => again,
        Err(e) => panic!("printed form {printed:?} of {input:?} does not parse: {e}"),
    };
    assert_eq!(again, sel, "round trip of {input:?} via {printed:?}");
    assert_eq!(again.to_string(), printed);
    let get = |f: &str| match f {
        "metadata.name" => Some("x"),
        "spec.nodeName" => Some(""),
        "a" => Some("b"),
        _ => None,
    };
    let m = sel.matches_ref(get);
    assert_eq!(m, sel.matches(&|f: &str| get(f).map(str::to_owned)));
    if sel.is_empty() {
        assert!(m);
    }
});
