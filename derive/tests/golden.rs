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

#[test]
fn merging_versions_checks_them() {
    use rudder::crd::CrdBuildError;
    let v1 = || types::CronTab::crd().unwrap();
    let err = merge_versions([v1(), v1()], "v1").unwrap_err();
    assert!(matches!(&err, CrdBuildError::Versions(m) if m.contains("v1 is given twice")), "{err}");
    let err = merge_versions([v1(), types::v1beta1::CronTab::crd().unwrap()], "v2").unwrap_err();
    assert!(matches!(&err, CrdBuildError::Versions(m) if m.contains("v2 is not among")), "{err}");
    let err = merge_versions([v1(), types::Mirror::crd().unwrap()], "v1").unwrap_err();
    assert!(matches!(&err, CrdBuildError::Versions(m) if m.contains("not the same kind")), "{err}");
    // The storage flag follows the argument, whatever each CRD said.
    let merged = merge_versions([v1(), types::v1beta1::CronTab::crd().unwrap()], "v1beta1").unwrap();
    let storage: Vec<(&str, bool)> = merged.spec.versions.iter().map(|v| (v.name.as_str(), v.storage)).collect();
    assert_eq!(storage, [("v1", false), ("v1beta1", true)]);
}

#[test]
fn a_recursive_type_is_an_error_not_a_ref() {
    use rudder::crd::CrdBuildError;
    let err = types::Tree::crd().unwrap_err();
    match &err {
        CrdBuildError::NotStructural { kind, path, reason } => {
            assert_eq!(kind, "Tree");
            assert!(path.starts_with(".spec.properties.root"), "{path}");
            assert!(reason.contains("recursive"), "{reason}");
        }
        other => panic!("expected NotStructural, got {other}"),
    }
}
