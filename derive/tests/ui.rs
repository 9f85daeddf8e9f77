//! Compile errors point at the wrong option and say what is expected
//! (`TRYBUILD=overwrite cargo test -p rudder-derive --test ui` regenerates the .stderr files).

#[test]
fn wrong_options_are_compile_errors_at_the_option() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
