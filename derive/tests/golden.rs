//! The generated CRDs equal the checked-in YAML under tests/golden/ (regenerate them with
//! `RUDDER_BLESS=1 cargo test -p rudder-derive --test golden`).

mod types;

use std::path::PathBuf;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use rudder::crd::merge_versions;

fn check(name: &str, crd: &CustomResourceDefinition) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.yaml"));
    let got = serde_yaml_ng::to_string(crd).expect("a CRD serializes");
    if std::env::var_os("RUDDER_BLESS").is_some() {
        std::fs::write(&path, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with RUDDER_BLESS=1 to create it)", path.display()));
    assert!(got == want, "{name}: the generated CRD differs from {}:\n{got}", path.display());
}

#[test]
fn crontab() {
    check("crontab", &types::CronTab::crd().unwrap());
}

#[test]
fn mirror() {
    check("mirror", &types::Mirror::crd().unwrap());
}

#[test]
fn crontab_two_versions() {
    let merged =
        merge_versions([types::CronTab::crd().unwrap(), types::v1beta1::CronTab::crd().unwrap()], "v1").unwrap();
    check("crontab_versions", &merged);
}
