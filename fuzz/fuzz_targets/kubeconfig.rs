#![no_main]
//! Arbitrary bytes as a kubeconfig: parsing (YAML or JSON) must never panic, and a parsed
//! kubeconfig must survive merging and re-serialising. (Building a `Config` is left out: it reads
//! the files the input names, and an input naming /dev/zero would hang the fuzzer.)
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(kc) = rudder_client::config::Kubeconfig::from_yaml(text) {
        let names = kc.context_names();
        let merged = kc.clone().merge(kc);
        assert_eq!(merged.context_names(), names, "merging a kubeconfig with itself adds nothing");
        let _ = serde_json::to_string(&merged);
    }
});
