//! kubectl 1.32 against the server's validation and review APIs: `kubectl apply` of a built-in
//! object with an unknown field (kubectl leaves field validation to the server with
//! `fieldValidation=Strict`) and of a custom object breaking its CRD's schema shows the
//! server's answer; `kubectl auth can-i` and `kubectl auth whoami` work, and can-i follows the
//! server's authorizer. Each test skips when kubectl is not on PATH.

#[path = "common/kubectl.rs"]
mod kubectl;

use kubectl::Env;
use rudder_apiserver::authz::{AuthorizationAttributes, Decision};
use rudder_apiserver::ApiServer;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              replicas: {type: integer, minimum: 1, maximum: 10}
"#;

#[tokio::test]
async fn apply_shows_the_servers_strict_and_schema_errors() {
    let Some(env) = Env::start(ApiServer::builder()).await else { return };
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  k: v\nbogus: 1\n";
    let out = env.run(&["apply", "-f", "-"], Some(cm)).await;
    assert!(!out.ok, "{out:?}");
    assert!(
        out.stderr.contains(
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"bogus\""
        ),
        "{}",
        out.stderr
    );
    // --validate=warn: stored without the field, kubectl prints the server's warning.
    let out = env.run(&["apply", "--validate=warn", "-f", "-"], Some(cm)).await;
    assert!(out.ok, "{out:?}");
    assert!(out.stderr.contains("unknown field \"bogus\""), "{}", out.stderr);

    env.run(&["apply", "-f", "-"], Some(CRD)).await.ok();
    let bad = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: t\n  namespace: default\nspec:\n  cronSpec: x\n  replicas: 20\n";
    let out = env.run(&["apply", "-f", "-"], Some(bad)).await;
    assert!(!out.ok, "{out:?}");
    // kubectl renders a 422 from its causes: `The <Kind> "<name>" is invalid: <field>: <message>`.
    assert!(
        out.stderr.contains(
            "The CronTab \"t\" is invalid: spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn auth_can_i_and_whoami() {
    let Some(env) = Env::start(ApiServer::builder()).await else { return };
    // kubectl's typed client sends the review as protobuf.
    let out = env.run(&["auth", "can-i", "list", "pods"], None).await;
    assert_eq!(out.stdout.trim(), "yes", "{out:?}");
    let out = env.run(&["auth", "whoami"], None).await.ok();
    assert!(out.contains("Username") && out.contains("rudder-test"), "{out}");
    assert!(out.contains("system:authenticated"), "{out}");

    let deny = |a: &AuthorizationAttributes| {
        if a.resource == "pods" && a.verb == "list" {
            Decision::Deny(String::new())
        } else {
            Decision::Allow
        }
    };
    let Some(env) = Env::start(ApiServer::builder().authorizer(deny)).await else { return };
    let out = env.run(&["auth", "can-i", "list", "pods"], None).await;
    assert_eq!(out.stdout.trim(), "no", "{out:?}");
    assert_eq!(out.code, Some(1), "kubectl auth can-i exits 1 for no");
    assert_eq!(env.run(&["auth", "can-i", "get", "pods"], None).await.stdout.trim(), "yes");
    let out = env.run(&["get", "pods", "-n", "default"], None).await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains(
            "pods is forbidden: User \"rudder-test\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        ),
        "{}",
        out.stderr
    );
}
