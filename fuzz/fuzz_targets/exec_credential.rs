#![no_main]
//! Arbitrary bytes as an exec plugin's output: the ExecCredential parser must never panic.
use rudder_client::config::exec::{parse_exec_credential, API_V1, API_V1BETA1};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = parse_exec_credential(data, API_V1);
    let _ = parse_exec_credential(data, API_V1BETA1);
});
