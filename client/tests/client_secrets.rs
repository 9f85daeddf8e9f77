//! Credentials never leak: the `Debug` output of every configuration type, and every error
//! built from a configuration full of planted secrets, is searched for each secret.

mod raw_server;
mod transport_support;

use std::sync::OnceLock;
use std::time::Duration;

use rudder_client::config::kubeconfig::{Kubeconfig, KubeconfigOptions};
use rudder_client::config::{AuthInfo, Config, ExecConfig, Secret};
use rudder_client::transport::{RequestKind, Transport};
use rudder_client::Client;

/// Every secret planted below; none may appear in any output.
const SECRETS: &[&str] = &[
    "URLPASS1",
    "PROXYPASS2",
    "TOKEN3",
    "PASSWORD4",
    "EXECARG6",
    "EXECENV7",
    "EXTENSION8",
    "PRIVATEKEY5",
    "UFJJVkFURUtFWTU",
    "AUTHPROVIDER9",
];

/// A client certificate and its private key (PEM); the key is a secret too.
fn client_cert() -> &'static (String, String) {
    static CERT: OnceLock<(String, String)> = OnceLock::new();
    CERT.get_or_init(|| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["alice".into()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    })
}

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows the secret {s}: {text}");
    }
    // Any line of the private key's base64.
    for line in client_cert().1.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(line), "{what} shows the private key: {text}");
    }
}

fn exec() -> ExecConfig {
    ExecConfig {
        api_version: "client.authentication.k8s.io/v1".into(),
        command: "/nonexistent/credential-plugin".into(),
        args: vec!["--password=EXECARG6".into()],
        env: vec![("PLUGIN_SECRET".into(), "EXECENV7".into())],
        install_hint: Some("install the plugin".into()),
        provide_cluster_info: true,
        interactive_mode: Some("Never".into()),
    }
}

/// A config for `server` with every kind of secret set.
fn planted(server: &str, proxy: &str) -> Config {
    let mut c = Config::new(server.parse().unwrap()).without_rate_limit();
    c.proxy_url = Some(proxy.parse().unwrap());
    c.auth = AuthInfo {
        token: Some(Secret::new("TOKEN3".into())),
        token_file: None,
        username: Some("alice".into()),
        password: Some(Secret::new("PASSWORD4".into())),
        client_certificate_pem: Some(client_cert().0.clone().into_bytes()),
        client_key_pem: Some(Secret::new(client_cert().1.clone().into_bytes())),
        exec: Some(exec()),
    };
    c.exec_cluster_config = Some(serde_json::json!({"clientSecret": "EXTENSION8"}));
    c.max_retries = 0;
    c.timeout = Some(Duration::from_millis(300));
    c.connect_timeout = Duration::from_millis(300);
    c
}

/// `client-key-data` is base64 of `PRIVATEKEY5`.
const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: ctx
clusters:
- name: c
  cluster:
    server: https://alice:URLPASS1@127.0.0.1:6443
    proxy-url: http://bob:PROXYPASS2@127.0.0.1:3128
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {clientSecret: EXTENSION8}
users:
- name: u
  user:
    token: TOKEN3
    username: alice
    password: PASSWORD4
    client-key-data: UFJJVkFURUtFWTU=
    client-certificate-data: Q0VSVA==
    auth-provider: {name: oidc, config: {id-token: AUTHPROVIDER9}}
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: plugin
      args: ["--password=EXECARG6"]
      env: [{name: PLUGIN_SECRET, value: EXECENV7}]
      interactiveMode: Never
contexts:
- name: ctx
  context: {cluster: c, user: u}
"#;

/// [`KUBECONFIG`] without basic auth and the auth-provider (kubectl refuses them next to a
/// token and an exec plugin), so that it converts to a `Config`.
fn convertible() -> String {
    KUBECONFIG
        .replace("    username: alice\n    password: PASSWORD4\n", "")
        .replace("    auth-provider: {name: oidc, config: {id-token: AUTHPROVIDER9}}\n", "")
}

#[test]
fn debug_of_every_config_type_hides_the_secrets() {
    let config = planted("https://alice:URLPASS1@127.0.0.1:1", "http://bob:PROXYPASS2@127.0.0.1:2");
    let shown = format!("{config:?}");
    assert_clean("Config", &shown);
    assert!(shown.contains("127.0.0.1:1") && shown.contains("[REDACTED]@"), "{shown}");
    assert_clean("Config (pretty)", &format!("{config:#?}"));
    let url = config.redacted_server_url();
    assert_clean("Config::redacted_server_url", &url);
    assert_eq!(url, "https://[REDACTED]@127.0.0.1:1");
    assert_clean("AuthInfo", &format!("{:?}", config.auth));
    assert_clean("ExecConfig", &format!("{:?}", exec()));
    assert_clean("ExecCredentialProvider", &format!("{:?}", config.exec_provider().unwrap()));
    assert_clean("Transport", &format!("{:?}", Transport::new(&config).unwrap()));
    assert_clean("Client", &format!("{:?}", Client::new(config.clone()).unwrap()));

    let kubeconfig = Kubeconfig::from_yaml(KUBECONFIG).unwrap();
    assert_clean("Kubeconfig", &format!("{kubeconfig:?}"));
    let options = KubeconfigOptions { server: Some("https://x:URLPASS1@h".into()), ..Default::default() };
    assert_clean("KubeconfigOptions", &format!("{options:?}"));
    let convertible = Kubeconfig::from_yaml(&convertible()).unwrap();
    let from_kubeconfig = Config::from_custom_kubeconfig(convertible, &KubeconfigOptions::default()).unwrap();
    assert_clean("Config from a kubeconfig", &format!("{from_kubeconfig:?}"));
}

#[test]
fn kubeconfig_errors_hide_url_user_info() {
    for (server, proxy) in [
        ("https://alice:URLPASS1@bad host", "http://p:3128"),
        ("ftp://alice:URLPASS1@host", "http://p:3128"),
        ("https://host", "http://bob:PROXYPASS2@bad proxy"),
    ] {
        let yaml = convertible()
            .replace("https://alice:URLPASS1@127.0.0.1:6443", server)
            .replace("http://bob:PROXYPASS2@127.0.0.1:3128", proxy);
        let err = Config::from_custom_kubeconfig(Kubeconfig::from_yaml(&yaml).unwrap(), &KubeconfigOptions::default())
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("server URL") || text.contains("proxy-url"), "{text}");
        assert_clean("kubeconfig error", &text);
    }
}

/// Every error a request can end in, built from the planted config.
#[tokio::test]
async fn request_errors_hide_the_secrets() {
    let mut errors = Vec::new();

    // Unreachable server, direct and through an unreachable proxy.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut direct = planted(&format!("http://alice:URLPASS1@127.0.0.1:{refused}"), "http://p:1");
    direct.proxy_url = None;
    errors.push(Client::new(direct).unwrap().request_bytes(get()).await.unwrap_err());
    let proxied = planted(
        &format!("http://alice:URLPASS1@127.0.0.1:{refused}"),
        &format!("http://bob:PROXYPASS2@127.0.0.1:{refused}"),
    );
    errors.push(Client::new(proxied).unwrap().request_bytes(get()).await.unwrap_err());

    // A proxy that refuses the tunnel; one that never answers it.
    let refusing = raw_server::serve(|mut tcp, _| async move {
        use tokio::io::AsyncWriteExt;
        let _ = tcp.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
    })
    .await;
    let silent = raw_server::serve(|tcp, _| raw_server::stall(tcp, b"", Duration::from_secs(30))).await;
    for proxy in [&refusing, &silent] {
        let c = planted("https://alice:URLPASS1@127.0.0.1:6443", &format!("http://bob:PROXYPASS2@{}", proxy.addr));
        let client = Client::new(c).unwrap();
        errors.push(client.request_bytes(get()).await.unwrap_err());
        errors.push(client.send(get(), RequestKind::LongRunning).await.unwrap_err());
    }

    // A server that stalls (timeout) and one that is not TLS (handshake failure).
    let stalling = raw_server::serve(|tcp, _| raw_server::stall(tcp, b"", Duration::from_secs(30))).await;
    let mut c = planted(&format!("http://alice:URLPASS1@{}", stalling.addr), "http://p:1");
    c.proxy_url = None;
    errors.push(Client::new(c).unwrap().request_bytes(get()).await.unwrap_err());
    let mut c = planted(&format!("https://alice:URLPASS1@{}", stalling.addr), "http://p:1");
    c.proxy_url = None;
    c.auth.exec = None;
    errors.push(Client::new(c).unwrap().request_bytes(get()).await.unwrap_err());

    // The exec plugin cannot run (https server, so credentials are fetched).
    let mut c = planted(&format!("https://alice:URLPASS1@{}", stalling.addr), "http://p:1");
    c.proxy_url = None;
    errors.push(Client::new(c).unwrap().request_bytes(get()).await.unwrap_err());

    assert_eq!(errors.len(), 9);
    for err in &errors {
        assert_clean("error", &format!("{err} | {err:?}"));
    }
}

#[tokio::test]
async fn url_user_info_is_never_sent() {
    // Through a plain proxy the request line is in absolute form: it must not carry user info.
    let server = transport_support::serve_http(transport_support::ok()).await;
    let proxy = transport_support::serve_proxy().await;
    let mut c = Config::new(format!("http://alice:URLPASS1@{}", server.addr).parse().unwrap()).without_rate_limit();
    c.proxy_url = Some(format!("http://{}", proxy.addr).parse().unwrap());
    Client::new(c).unwrap().request_bytes(get()).await.unwrap();
    let heads = proxy.heads.lock().clone();
    assert_eq!(heads.len(), 1);
    assert!(heads[0].starts_with(&format!("GET http://{}/api/v1/", server.addr)), "{}", heads[0]);
    assert_clean("the request sent through the proxy", &heads[0]);
}

fn get() -> http::Request<bytes::Bytes> {
    http::Request::get("/api/v1/namespaces/default/pods").body(bytes::Bytes::new()).unwrap()
}
