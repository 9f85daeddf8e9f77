//! Fuzzes `labels::Selector::parse`: no input panics, and every selector that parses prints a
//! canonical string that parses back to an equal selector, which prints identically.
#![no_main]

use std::collections::BTreeMap;

use rudder_apimachinery::labels::Selector;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let Ok(sel) = Selector::parse(&input) else { return };
    let printed = sel.to_string();
    let again = match Selector::parse(&printed) {
        Ok(again) => again,
        Err(e) => panic!("canonical form {printed:?} of {input:?} does not parse: {e}"),
    };
    assert_eq!(again, sel, "round trip of {input:?} via {printed:?}");
    assert_eq!(again.to_string(), printed);
    let labels: BTreeMap<String, String> =
        [("a", "1"), ("b", ""), ("app", "web"), ("example.com/tier", "api"), ("n", "-5")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let m = sel.matches(&labels);
    assert_eq!(m, again.matches(&labels));
    assert_eq!(m, sel.matches_fn(|k| labels.get(k).map(String::as_str)));
    if sel.is_empty() {
        assert!(m);
    }
});
