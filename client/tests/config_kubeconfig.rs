//! kubeconfig loading, merging, path resolution, context selection and overrides, against the
//! shared fixtures (copied into a temp dir together with the files they reference). No test
//! reads the machine's HOME or KUBECONFIG: all use the explicit-path APIs.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rudder_client::config::kubeconfig::{Kubeconfig, KubeconfigOptions};
use rudder_client::config::{Config, ConfigError, ConfigSources};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/kubeconfig");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).expect("fixture exists")
}

/// Copies fixture `name` into `dir` (with `replace` applied to its text) and returns the path.
fn copy_fixture(dir: &Path, name: &str, replace: &[(&str, &str)]) -> PathBuf {
    let mut text = fixture(name);
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn opts() -> KubeconfigOptions {
    KubeconfigOptions::default()
}

fn b64(data: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(data).unwrap()
}

#[test]
fn minikube_reads_certificate_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mk = tmp.path().join("minikube");
    let path = copy_fixture(tmp.path(), "minikube.yaml", &[("/home/dev/.minikube", mk.to_str().unwrap())]);
    write(&mk.join("ca.crt"), b"CA PEM");
    write(&mk.join("profiles/minikube/client.crt"), b"CLIENT CERT PEM");
    write(&mk.join("profiles/minikube/client.key"), b"CLIENT KEY PEM");

    let kc = Kubeconfig::read(&path).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("minikube"));
    assert_eq!(kc.clusters[0].cluster.extensions[0].name, "cluster_info");
    let config = Config::from_custom_kubeconfig(kc, &opts()).unwrap();
    assert_eq!(config.server_url(), "https://192.168.49.2:8443");
    assert!(config.is_https() && config.credentials_allowed());
    assert_eq!(config.default_namespace, "default");
    assert_eq!(config.context.as_deref(), Some("minikube"));
    assert_eq!(config.root_ca_pem.as_deref(), Some(&b"CA PEM"[..]));
    assert_eq!(config.auth.client_certificate_pem.as_deref(), Some(&b"CLIENT CERT PEM"[..]));
    assert_eq!(config.auth.client_key_pem.as_ref().unwrap().expose(), b"CLIENT KEY PEM");
    assert!(config.auth.token.is_none() && config.auth.exec.is_none());
}

#[test]
fn missing_pem_file_error_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mk = tmp.path().join("minikube");
    let path = copy_fixture(tmp.path(), "minikube.yaml", &[("/home/dev/.minikube", mk.to_str().unwrap())]);
    write(&mk.join("ca.crt"), b"CA PEM");
    write(&mk.join("profiles/minikube/client.crt"), b"CLIENT CERT PEM");
    let err = Config::from_custom_kubeconfig(Kubeconfig::read(&path).unwrap(), &opts()).unwrap_err();
    assert!(matches!(&err, ConfigError::Read { path, .. } if path.ends_with("profiles/minikube/client.key")), "{err}");
    assert!(err.to_string().contains("client.key"), "{err}");
}

#[test]
fn eks_exec_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let path = copy_fixture(tmp.path(), "exec-eks.yaml", &[]);
    let config = Config::from_custom_kubeconfig(Kubeconfig::read(&path).unwrap(), &opts()).unwrap();
    assert_eq!(config.server_url(), "https://ABCDEF0123456789.gr7.eu-west-1.eks.amazonaws.com");
    assert_eq!(config.root_ca_pem.as_deref(), Some(&b64("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJB")[..]));
    assert!(config.root_ca_pem.as_ref().unwrap().starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert_eq!(config.default_namespace, "default");
    let exec = config.auth.exec.as_ref().unwrap();
    assert_eq!(exec.api_version, "client.authentication.k8s.io/v1");
    assert_eq!(exec.command, "aws", "a bare command name is looked up in PATH, not resolved");
    assert_eq!(exec.args, ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod", "--output", "json"]);
    assert_eq!(exec.env, [("AWS_PROFILE".to_string(), "prod-admin".to_string())]);
    assert_eq!(exec.interactive_mode.as_deref(), Some("Never"));
    assert!(!exec.provide_cluster_info);
    assert!(config.auth.token.is_none() && config.auth.client_certificate_pem.is_none());
}

#[test]
fn gke_exec_plugin_with_cluster_info() {
    let text = fixture("exec-gke.yaml");
    let config = Config::from_custom_kubeconfig(Kubeconfig::from_yaml(&text).unwrap(), &opts()).unwrap();
    assert_eq!(config.server_url(), "https://34.76.10.20");
    let exec = config.auth.exec.as_ref().unwrap();
    assert_eq!(exec.api_version, "client.authentication.k8s.io/v1beta1");
    assert_eq!(exec.command, "gke-gcloud-auth-plugin");
    assert!(exec.install_hint.as_deref().unwrap().starts_with("Install gke-gcloud-auth-plugin for use with kubectl"));
    assert!(exec.provide_cluster_info);
    assert_eq!(exec.interactive_mode.as_deref(), Some("IfAvailable"));
    let kc = Kubeconfig::from_yaml(&text).unwrap();
    let ca_b64 = kc.clusters[0].cluster.certificate_authority_data.clone().unwrap();
    let info = config.exec_cluster_info();
    assert_eq!(info["server"], "https://34.76.10.20");
    assert_eq!(info["certificate-authority-data"], ca_b64.as_str());
    assert!(info.get("insecure-skip-tls-verify").is_none());
    assert!(config.exec_provider().is_some());
}

#[test]
fn relative_paths_resolve_against_the_file_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("conf");
    std::fs::create_dir_all(&dir).unwrap();
    let path = copy_fixture(&dir, "relative-paths.yaml", &[]);
    write(&dir.join("certs/ca.crt"), b"LAB CA");
    write(&dir.join("certs/ops.crt"), b"OPS CERT");
    write(&dir.join("certs/ops.key"), b"OPS KEY");
    write(&dir.join("secrets/robot.token"), b"robot-token\n");

    let kc = Kubeconfig::read(&path).unwrap();
    assert_eq!(kc.cluster("lab").unwrap().certificate_authority.as_deref(), Some(&*dir.join("certs/ca.crt")));
    assert_eq!(kc.user("robot").unwrap().token_file.as_deref(), Some(&*dir.join("secrets/robot.token")));

    let ops = Config::from_custom_kubeconfig(kc.clone(), &opts()).unwrap();
    assert_eq!(ops.context.as_deref(), Some("lab-ops"));
    assert_eq!(ops.server_url(), "https://10.0.0.10:6443");
    assert_eq!(ops.tls_server_name.as_deref(), Some("api.lab.internal"));
    assert_eq!(ops.default_namespace, "platform");
    assert_eq!(ops.root_ca_pem.as_deref(), Some(&b"LAB CA"[..]));
    assert_eq!(ops.auth.client_certificate_pem.as_deref(), Some(&b"OPS CERT"[..]));
    assert_eq!(ops.auth.client_key_pem.as_ref().unwrap().expose(), b"OPS KEY");

    let robot =
        Config::from_custom_kubeconfig(kc, &KubeconfigOptions { context: Some("lab-robot".into()), ..opts() }).unwrap();
    assert_eq!(robot.default_namespace, "default");
    assert_eq!(robot.auth.token_file.as_deref(), Some(&*dir.join("secrets/robot.token")));
    assert!(robot.auth.client_certificate_pem.is_none());

    // The process's working directory plays no part: read through a relative path from elsewhere.
    let from_yaml = Kubeconfig::from_yaml(&fixture("relative-paths.yaml")).unwrap();
    assert_eq!(
        from_yaml.cluster("lab").unwrap().certificate_authority.as_deref(),
        Some(Path::new("certs/ca.crt")),
        "from_yaml has no directory to resolve against"
    );
}

#[test]
fn relative_exec_command_resolves_only_with_a_separator() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kc.yaml");
    std::fs::write(
        &path,
        r#"
users:
- name: a
  user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./bin/plugin}}
- name: b
  user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: plugin}}
- name: c
  user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: /usr/bin/plugin}}
"#,
    )
    .unwrap();
    let kc = Kubeconfig::read(&path).unwrap();
    let cmd = |n: &str| kc.user(n).unwrap().exec.as_ref().unwrap().command.clone();
    assert_eq!(PathBuf::from(cmd("a")), tmp.path().join("./bin/plugin"));
    assert_eq!(cmd("b"), "plugin");
    assert_eq!(cmd("c"), "/usr/bin/plugin");
}

#[test]
fn merge_first_file_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let a = copy_fixture(tmp.path(), "merge-a.yaml", &[]);
    let b = copy_fixture(tmp.path(), "merge-b.yaml", &[]);
    let list = std::env::join_paths([&a, &b]).unwrap();
    let kc = Kubeconfig::load_from(Some(&list), None).unwrap();

    assert_eq!(kc.current_context.as_deref(), Some("dev"), "merge-a's current-context wins");
    assert_eq!(kc.cluster("shared").unwrap().server.as_deref(), Some("https://a.example:6443"));
    assert_eq!(kc.cluster("prodcluster").unwrap().server.as_deref(), Some("https://prod.example:6443"));
    assert_eq!(kc.context_names(), ["dev", "prod"]);
    assert!(kc.user("alice").is_some() && kc.user("bob").is_some());

    let dev = Config::from_custom_kubeconfig(kc.clone(), &opts()).unwrap();
    assert_eq!(dev.server_url(), "https://a.example:6443");
    assert!(dev.insecure_skip_tls_verify);
    assert_eq!(dev.default_namespace, "team-a");
    assert_eq!(dev.auth.token.as_ref().unwrap().expose(), "token-from-a");

    let prod =
        Config::from_custom_kubeconfig(kc, &KubeconfigOptions { context: Some("prod".into()), ..opts() }).unwrap();
    assert_eq!(prod.server_url(), "https://prod.example:6443");
    assert_eq!(prod.default_namespace, "default");
    assert_eq!(prod.auth.username.as_deref(), Some("bob"));
    assert_eq!(prod.auth.password.as_ref().unwrap().expose(), "s3cret");

    // The order matters: b first makes b's values win.
    let reversed = Kubeconfig::read(&b).unwrap().merge(Kubeconfig::read(&a).unwrap());
    assert_eq!(reversed.current_context.as_deref(), Some("prod"));
    assert_eq!(reversed.cluster("shared").unwrap().server.as_deref(), Some("https://b.example:6443"));
}

#[test]
fn kubeconfig_list_skips_missing_and_empty_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let a = copy_fixture(tmp.path(), "merge-a.yaml", &[]);
    let b = copy_fixture(tmp.path(), "merge-b.yaml", &[]);
    let missing = tmp.path().join("nope.yaml");
    let list = format!("{}::{}:{}:{}", missing.display(), b.display(), a.display(), b.display());
    let kc = Kubeconfig::load_from(Some(list.as_ref()), Some(tmp.path())).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("prod"), "b comes first in this list");
    assert_eq!(kc.cluster("shared").unwrap().server.as_deref(), Some("https://b.example:6443"));

    let only_missing = Kubeconfig::load_from(Some(missing.as_os_str()), Some(tmp.path())).unwrap_err();
    assert!(matches!(only_missing, ConfigError::NotFound(ref m) if m.contains("nope.yaml")), "{only_missing}");
}

#[test]
fn home_kube_config_is_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Kubeconfig::load_from(None, Some(tmp.path())).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound(ref m) if m.contains(".kube")), "{err}");

    std::fs::create_dir_all(tmp.path().join(".kube")).unwrap();
    std::fs::write(tmp.path().join(".kube/config"), fixture("merge-b.yaml")).unwrap();
    let kc = Kubeconfig::load_from(None, Some(tmp.path())).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("prod"));
    // An empty KUBECONFIG counts as unset.
    let kc = Kubeconfig::load_from(Some("".as_ref()), Some(tmp.path())).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("prod"));
}

#[test]
fn broken_file_in_the_list_is_an_error_with_position() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "clusters:\n- name: x\n  cluster: [unclosed\n").unwrap();
    let err = Kubeconfig::load_from(Some(bad.as_os_str()), None).unwrap_err();
    match &err {
        ConfigError::Parse { path, message } => {
            assert_eq!(path, &bad);
            assert!(message.contains("line"), "{message}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn unknown_context_lists_the_contexts() {
    let kc = Kubeconfig::from_yaml(&fixture("merge-a.yaml"))
        .unwrap()
        .merge(Kubeconfig::from_yaml(&fixture("merge-b.yaml")).unwrap());
    let err = Config::from_custom_kubeconfig(kc, &KubeconfigOptions { context: Some("staging".into()), ..opts() })
        .unwrap_err();
    match &err {
        ConfigError::UnknownContext { name, available } => {
            assert_eq!(name, "staging");
            assert_eq!(available, &["dev", "prod"]);
        }
        other => panic!("expected UnknownContext, got {other:?}"),
    }
    assert_eq!(err.to_string(), r#"context "staging" not found; contexts are: dev, prod"#);
}

#[test]
fn overrides_replace_context_values() {
    let kc = Kubeconfig::from_yaml(&fixture("merge-a.yaml"))
        .unwrap()
        .merge(Kubeconfig::from_yaml(&fixture("merge-b.yaml")).unwrap());
    let config = Config::from_custom_kubeconfig(
        kc.clone(),
        &KubeconfigOptions {
            context: None,
            cluster: Some("prodcluster".into()),
            user: Some("bob".into()),
            namespace: Some("kube-system".into()),
            server: None,
        },
    )
    .unwrap();
    assert_eq!(config.context.as_deref(), Some("dev"));
    assert_eq!(config.server_url(), "https://prod.example:6443");
    assert!(!config.insecure_skip_tls_verify);
    assert_eq!(config.default_namespace, "kube-system");
    assert_eq!(config.auth.username.as_deref(), Some("bob"));
    assert!(config.auth.token.is_none());

    let config = Config::from_custom_kubeconfig(
        kc.clone(),
        &KubeconfigOptions { server: Some("https://override.example:443/prefix".into()), ..opts() },
    )
    .unwrap();
    assert_eq!(config.server_url(), "https://override.example:443/prefix");
    assert_eq!(config.auth.token.as_ref().unwrap().expose(), "token-from-a");

    let err =
        Config::from_custom_kubeconfig(kc, &KubeconfigOptions { user: Some("carol".into()), ..opts() }).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid(ref m) if m.contains("carol") && m.contains("alice, bob")), "{err}");
}

#[test]
fn data_fields_win_over_files_and_bad_base64_names_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kc.yaml");
    let ca = base64::engine::general_purpose::STANDARD.encode("CA FROM DATA");
    let cert = base64::engine::general_purpose::STANDARD.encode("CERT FROM DATA");
    let key = base64::engine::general_purpose::STANDARD.encode("KEY FROM DATA");
    std::fs::write(
        &path,
        format!(
            r#"
current-context: c
clusters:
- name: k
  cluster: {{server: "https://k:6443", certificate-authority: missing-ca.crt, certificate-authority-data: "{ca}"}}
users:
- name: u
  user: {{client-certificate: missing.crt, client-certificate-data: "{cert}", client-key: missing.key, client-key-data: "{key}"}}
- name: bad
  user: {{client-certificate-data: "not base64!", client-key-data: "{key}"}}
contexts:
- name: c
  context: {{cluster: k, user: u}}
- name: b
  context: {{cluster: k, user: bad}}
"#
        ),
    )
    .unwrap();
    let kc = Kubeconfig::read(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kc.clone(), &opts()).unwrap();
    assert_eq!(config.root_ca_pem.as_deref(), Some(&b"CA FROM DATA"[..]));
    assert_eq!(config.auth.client_certificate_pem.as_deref(), Some(&b"CERT FROM DATA"[..]));
    assert_eq!(config.auth.client_key_pem.as_ref().unwrap().expose(), b"KEY FROM DATA");

    let err =
        Config::from_custom_kubeconfig(kc, &KubeconfigOptions { context: Some("b".into()), ..opts() }).unwrap_err();
    assert!(
        matches!(err, ConfigError::Base64 { ref field, .. } if field == "users[bad].client-certificate-data"),
        "{err}"
    );
}

#[test]
fn impersonation_and_proxy() {
    let kc = Kubeconfig::from_yaml(
        r#"
current-context: c
clusters:
- name: k
  cluster: {server: "https://k:6443", proxy-url: "http://proxy.local:3128", tls-server-name: k.internal}
users:
- name: u
  user:
    token: t
    as: jane
    as-uid: "1234"
    as-groups: [devs, ops]
    as-user-extra: {scopes: [view, edit], dept: [eng]}
contexts:
- name: c
  context: {cluster: k, user: u}
"#,
    )
    .unwrap();
    let config = Config::from_custom_kubeconfig(kc, &opts()).unwrap();
    let imp = config.impersonate.as_ref().unwrap();
    assert_eq!(imp.user.as_deref(), Some("jane"));
    assert_eq!(imp.uid.as_deref(), Some("1234"));
    assert_eq!(imp.groups, ["devs", "ops"]);
    assert_eq!(
        imp.extra,
        [("dept".to_string(), vec!["eng".to_string()]), ("scopes".to_string(), vec!["view".into(), "edit".into()])]
    );
    assert_eq!(config.proxy_url.as_ref().unwrap().to_string(), "http://proxy.local:3128/");
    let info = config.exec_cluster_info();
    assert_eq!(info["proxy-url"], "http://proxy.local:3128");
    assert_eq!(info["tls-server-name"], "k.internal");
}

#[test]
fn http_server_keeps_credentials_but_disallows_sending_them() {
    let kc = Kubeconfig::from_yaml(
        "current-context: c\nclusters: [{name: k, cluster: {server: 'http://127.0.0.1:8080'}}]\n\
         users: [{name: u, user: {token: abc}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n",
    )
    .unwrap();
    let config = Config::from_custom_kubeconfig(kc, &opts()).unwrap();
    assert!(!config.is_https());
    assert!(!config.credentials_allowed());
    assert_eq!(config.auth.token.as_ref().unwrap().expose(), "abc");
}

#[test]
fn invalid_combinations_are_rejected() {
    let base = "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n";
    let cases = [
        ("clusters: [{name: k, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {token: t, username: x, password: y}}]", "more than one"),
        ("clusters: [{name: k, cluster: {server: 'https://k', insecure-skip-tls-verify: true, certificate-authority-data: QQ==}}]\nusers: [{name: u, user: {}}]", "insecure"),
        ("clusters: [{name: k, cluster: {}}]\nusers: [{name: u, user: {}}]", "no server"),
        ("clusters: [{name: other, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {}}]", "cluster \"k\""),
        ("clusters: [{name: k, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: x}}}]", "interactiveMode"),
        ("clusters: [{name: k, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {client-certificate-data: QQ==}}]", "without a client key"),
    ];
    for (yaml, expected) in cases {
        let kc = Kubeconfig::from_yaml(&format!("{base}{yaml}")).unwrap();
        let err = Config::from_custom_kubeconfig(kc, &opts()).unwrap_err();
        assert!(err.to_string().contains(expected), "{yaml}: {err}");
    }
    let err = Config::from_custom_kubeconfig(Kubeconfig::default(), &opts()).unwrap_err();
    assert!(err.to_string().contains("no current-context"), "{err}");
}

#[test]
fn json_null_lists_and_unknown_fields_parse() {
    let kc = Kubeconfig::from_yaml(
        r#"{"apiVersion":"v1","kind":"Config","clusters":[{"name":"k","cluster":{"server":"https://k:1","futureField":1}}],
            "users":null,"contexts":[{"name":"c","context":{"cluster":"k"}}],"current-context":"c","preferences":{},
            "extensions":[{"name":"x","extension":{"a":[1,2]}}]}"#,
    )
    .unwrap();
    let config = Config::from_custom_kubeconfig(kc.clone(), &opts()).unwrap();
    assert_eq!(config.server_url(), "https://k:1");
    assert!(config.auth.is_empty());
    assert_eq!(kc.extensions[0].name, "x");
    assert_eq!(Kubeconfig::from_yaml("").unwrap(), Kubeconfig::default());
    assert_eq!(Kubeconfig::from_yaml("# only a comment\n").unwrap(), Kubeconfig::default());
    assert!(matches!(Kubeconfig::from_yaml("clusters: 5"), Err(ConfigError::Parse { .. })));
}

#[test]
fn exec_cluster_extension_is_passed_as_config() {
    let kc = Kubeconfig::from_yaml(
        r#"
current-context: c
clusters:
- name: k
  cluster:
    server: https://k:6443
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {audience: sts, nested: {x: 1}}
users:
- name: u
  user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: p, provideClusterInfo: true}}
contexts:
- name: c
  context: {cluster: k, user: u}
"#,
    )
    .unwrap();
    let config = Config::from_custom_kubeconfig(kc, &opts()).unwrap();
    assert_eq!(config.exec_cluster_info()["config"], serde_json::json!({"audience": "sts", "nested": {"x": 1}}));
}

#[test]
fn debug_output_redacts_secrets() {
    let kc = Kubeconfig::from_yaml(
        r#"
current-context: c
clusters: [{name: k, cluster: {server: "https://k"}}]
users:
- name: u
  user:
    token: TOKEN-SECRET-1
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZLVNFQ1JFVC0y
    auth-provider: {name: oidc, config: {id-token: IDTOKEN-SECRET-3}}
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: p, env: [{name: AWS_SECRET, value: ENV-SECRET-4}]}
- name: basic
  user: {username: bob, password: PASSWORD-SECRET-5}
contexts: [{name: c, context: {cluster: k, user: u}}, {name: b, context: {cluster: k, user: basic}}]
"#,
    )
    .unwrap();
    let secrets =
        ["TOKEN-SECRET-1", "S0VZLVNFQ1JFVC0y", "KEY-SECRET-2", "IDTOKEN-SECRET-3", "ENV-SECRET-4", "PASSWORD-SECRET-5"];
    let kc_debug = format!("{kc:?} {kc:#?}");
    let err = Config::from_custom_kubeconfig(kc.clone(), &opts()).unwrap_err();
    assert!(err.to_string().contains("auth-provider"), "{err}");
    let mut kc_no_provider = kc.clone();
    kc_no_provider.users[0].user.auth_provider = None;
    let config = Config::from_custom_kubeconfig(kc_no_provider.clone(), &opts()).unwrap();
    let basic =
        Config::from_custom_kubeconfig(kc_no_provider, &KubeconfigOptions { context: Some("b".into()), ..opts() })
            .unwrap();
    assert_eq!(config.auth.client_key_pem.as_ref().unwrap().expose(), b"KEY-SECRET-2");
    for text in [kc_debug, format!("{config:?}"), format!("{basic:#?}"), format!("{:?}", config.exec_provider())] {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert!(text.contains("REDACTED"));
    }
}

#[test]
fn infer_prefers_kubeconfig_then_incluster_then_explains() {
    let tmp = tempfile::tempdir().unwrap();
    let sa = tmp.path().join("sa");
    write(&sa.join("token"), b"sa-token");
    write(&sa.join("ca.crt"), b"SA CA");
    write(&sa.join("namespace"), b"apps");
    let mut sources = ConfigSources {
        kubeconfig: None,
        home: Some(tmp.path().to_path_buf()),
        service_host: Some("10.96.0.1".into()),
        service_port: Some("443".into()),
        service_account_dir: sa.clone(),
    };
    // No ~/.kube/config: in-cluster.
    let config = Config::infer_from(&sources, &opts()).unwrap();
    assert_eq!(config.server_url(), "https://10.96.0.1:443");
    assert_eq!(config.default_namespace, "apps");

    // A kubeconfig exists: it wins.
    write(&tmp.path().join(".kube/config"), fixture("merge-a.yaml").as_bytes());
    let config = Config::infer_from(&sources, &opts()).unwrap();
    assert_eq!(config.server_url(), "https://a.example:6443");

    // KUBECONFIG naming only missing files falls through to in-cluster as well.
    sources.kubeconfig = Some(tmp.path().join("missing").into_os_string());
    assert_eq!(Config::infer_from(&sources, &opts()).unwrap().server_url(), "https://10.96.0.1:443");

    // Neither: the error explains both.
    sources.service_host = None;
    let err = Config::infer_from(&sources, &opts()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::NotFound(_)), "{msg}");
    assert!(msg.contains("KUBECONFIG") && msg.contains("KUBERNETES_SERVICE_HOST"), "{msg}");
}

#[test]
fn hostile_yaml_is_an_error_not_a_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                  extensions: [{name: x, extension: [*f, *f, *f, *f, *f, *f, *f, *f, *f]}]\n";
    for input in [deep.as_str(), laughs, "--- {}\n--- {}\n", "clusters: [{name: [1]}]", "\u{feff}\t: :"] {
        let _ = Kubeconfig::from_yaml(input);
    }
    assert!(Kubeconfig::from_yaml(&deep).is_err());
}
