//! Certificates and the rustls server configuration of the embedded API server.
//!
//! Contract: [`ServerCerts::generate`] makes a fresh CA and a serving certificate signed by it
//! whose subject alternative names hold every given host (DNS names as DNS SANs, IP literals —
//! `127.0.0.1`, `::1`, `[::1]` — as IP SANs, which is what clients check for IP URLs).
//! [`ServerCerts::server_config`] uses the ring provider explicitly (never the process-wide
//! default), offers ALPN `h2` then `http/1.1`, and can ask for client certificates issued by the
//! same CA *optionally*: anonymous clients still connect, so the server can answer them with its
//! own 401 Status. [`ServerCerts::issue_client_cert`] makes such certificates the way Kubernetes
//! reads them (CN = user name, O = group), and [`client_identity`] reads them back.
//!
//! Keys are ECDSA P-256: ring cannot generate RSA keys. Certificates are valid from 2024 to 2099.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::ServerError;

/// A CA and a serving certificate for the embedded server, as PEM.
#[derive(Clone)]
pub struct ServerCerts {
    /// The CA certificate clients trust (kubeconfig `certificate-authority-data`).
    pub ca_pem: String,
    /// The serving certificate, signed by the CA.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
    ca_params: CertificateParams,
    ca_key_pem: String,
    ca_der: CertificateDer<'static>,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl std::fmt::Debug for ServerCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCerts")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Who a client certificate says its holder is, the way Kubernetes reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject's common name.
    pub user: String,
    /// The subject's organization names, in order.
    pub groups: Vec<String>,
}

fn err(what: &str) -> impl FnOnce(rcgen::Error) -> ServerError + '_ {
    move |e| ServerError(format!("{what}: {e}"))
}

fn base_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2099, 12, 31);
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p
}

fn new_key() -> Result<KeyPair, ServerError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err("generating a P-256 key"))
}

impl ServerCerts {
    /// A fresh CA (`CN=rudder-embedded-ca`) and a serving certificate (`CN=rudder-apiserver`)
    /// for `hosts`.
    ///
    /// ```
    /// let certs = rudder_apiserver::tls::ServerCerts::generate(&["localhost", "127.0.0.1"]).unwrap();
    /// assert!(certs.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    /// ```
    pub fn generate(hosts: &[&str]) -> Result<ServerCerts, ServerError> {
        let mut ca_params = base_params();
        ca_params.distinguished_name.push(DnType::CommonName, "rudder-embedded-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = new_key()?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err("self-signing the CA"))?;

        let mut params = base_params();
        params.distinguished_name.push(DnType::CommonName, "rudder-apiserver");
        for host in hosts {
            let h = host.trim();
            let bare = h.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(h);
            let san = match bare.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    bare.to_string()
                        .try_into()
                        .map_err(|e| ServerError(format!("host {host:?} is not a DNS name: {e}")))?,
                ),
            };
            params.subject_alt_names.push(san);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = new_key()?;
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca_params.clone(), ca_key);
        let cert = params.signed_by(&key, &issuer).map_err(err("signing the serving certificate"))?;
        Ok(ServerCerts {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_params,
            ca_key_pem,
            ca_der: ca_cert.der().clone(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }

    /// The rustls configuration serving [`cert_pem`](Self::cert_pem) with ALPN `h2`, `http/1.1`.
    /// With `client_ca_required`, clients are asked for a certificate issued by this CA; one that
    /// presents a bad certificate fails the handshake, one that presents none is let through
    /// (the server then sees no peer certificate and decides itself).
    pub fn server_config(&self, client_ca_required: bool) -> Result<Arc<rustls::ServerConfig>, ServerError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError(format!("TLS protocol versions: {e}")))?;
        let builder = if client_ca_required {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(self.ca_der.clone())
                .map_err(|e| ServerError(format!("adding the CA to the client roots: {e}")))?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| ServerError(format!("client certificate verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = builder
            .with_single_cert(vec![self.cert_der.clone()], key)
            .map_err(|e| ServerError(format!("serving certificate: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A client certificate signed by this CA for `user` (CN) in `groups` (O), as
    /// `(certificate PEM, PKCS#8 key PEM)`. ECDSA P-256.
    ///
    /// At most one group: rcgen keeps one value per subject attribute, so a second
    /// `O=` cannot be expressed; more than one group is an error.
    pub fn issue_client_cert(&self, user: &str, groups: &[&str]) -> Result<(String, String), ServerError> {
        if groups.len() > 1 {
            return Err(ServerError(format!(
                "client certificate for {user:?}: at most one group (O=) is supported, got {groups:?}"
            )));
        }
        let mut params = base_params();
        params.distinguished_name.push(DnType::CommonName, user);
        if let Some(group) = groups.first() {
            params.distinguished_name.push(DnType::OrganizationName, *group);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let ca_key = KeyPair::from_pem(&self.ca_key_pem).map_err(err("reloading the CA key"))?;
        let issuer = Issuer::new(self.ca_params.clone(), ca_key);
        let key = new_key()?;
        let cert = params.signed_by(&key, &issuer).map_err(err("signing the client certificate"))?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Reads the user (subject CN) and groups (subject O values) from a DER client certificate,
/// as kube-apiserver's x509 authenticator does.
pub fn client_identity(cert_der: &[u8]) -> Result<ClientIdentity, ServerError> {
    let bad = |what: &str| ServerError(format!("client certificate: {what}"));
    let (tag, cert, _) = der_tlv(cert_der).ok_or_else(|| bad("not DER"))?;
    if tag != 0x30 {
        return Err(bad("not a SEQUENCE"));
    }
    let (_, mut tbs, _) = der_tlv(cert).ok_or_else(|| bad("no tbsCertificate"))?;
    // version [0] (optional), serialNumber, signature, issuer, validity, subject
    let mut fields = Vec::with_capacity(5);
    while fields.len() < 5 {
        let (tag, content, rest) = der_tlv(tbs).ok_or_else(|| bad("truncated tbsCertificate"))?;
        if !(fields.is_empty() && tag == 0xa0) {
            fields.push((tag, content));
        }
        tbs = rest;
    }
    let (tag, mut subject) = *fields.get(4).ok_or_else(|| bad("no subject"))?;
    if tag != 0x30 {
        return Err(bad("subject is not a SEQUENCE"));
    }
    let mut user = None;
    let mut groups = Vec::new();
    while !subject.is_empty() {
        let (_, mut rdn, rest) = der_tlv(subject).ok_or_else(|| bad("bad RDN"))?;
        subject = rest;
        while !rdn.is_empty() {
            let (_, atv, rest) = der_tlv(rdn).ok_or_else(|| bad("bad attribute"))?;
            rdn = rest;
            let (oid_tag, oid, value) = der_tlv(atv).ok_or_else(|| bad("bad attribute type"))?;
            let (_, value, _) = der_tlv(value).ok_or_else(|| bad("bad attribute value"))?;
            if oid_tag != 0x06 {
                continue;
            }
            let text = || String::from_utf8(value.to_vec()).map_err(|_| bad("attribute is not UTF-8"));
            match oid {
                [0x55, 0x04, 0x03] => user = Some(text()?),
                [0x55, 0x04, 0x0a] => groups.push(text()?),
                _ => {}
            }
        }
    }
    Ok(ClientIdentity { user: user.ok_or_else(|| bad("no common name"))?, groups })
}

/// One DER tag-length-value: `(tag, content, rest)`.
fn der_tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, buf) = buf.split_first()?;
    let (&len0, mut buf) = buf.split_first()?;
    let len = if len0 < 0x80 {
        usize::from(len0)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = (buf.get(..n)?, buf.get(n..)?);
        buf = rest;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    Some((tag, buf.get(..len)?, buf.get(len..)?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls_pki_types::{pem::PemObject, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn client_config(certs: &ServerCerts, client: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(certs.ca_pem.as_bytes()).unwrap()).unwrap();
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut c = match client {
            Some((cert, key)) => b
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => b.with_no_client_auth(),
        };
        c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(c)
    }

    /// Handshakes over an in-memory pipe; returns the negotiated ALPN and the client's identity
    /// as the server saw it.
    async fn handshake(
        server: Arc<rustls::ServerConfig>,
        client: Arc<rustls::ClientConfig>,
        name: &str,
    ) -> Result<(Option<Vec<u8>>, Option<ClientIdentity>), String> {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let name = ServerName::try_from(name.to_string()).unwrap();
        let srv = tokio::spawn(async move {
            let mut s = tokio_rustls::TlsAcceptor::from(server).accept(a).await.map_err(|e| e.to_string())?;
            let (_, conn) = s.get_ref();
            let id = conn.peer_certificates().and_then(|c| c.first()).map(|c| client_identity(c).unwrap());
            let alpn = conn.alpn_protocol().map(|p| p.to_vec());
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            s.write_all(b"pong").await.map_err(|e| e.to_string())?;
            s.flush().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((alpn, id))
        });
        let mut c = tokio_rustls::TlsConnector::from(client).connect(name, b).await.map_err(|e| e.to_string())?;
        c.write_all(b"ping").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"pong");
        srv.await.unwrap()
    }

    #[tokio::test]
    async fn serving_cert_covers_ip_and_dns_hosts_and_negotiates_h2() {
        let certs = ServerCerts::generate(&["localhost", "127.0.0.1", "[::1]"]).unwrap();
        let server = certs.server_config(false).unwrap();
        for host in ["127.0.0.1", "localhost", "::1"] {
            let (alpn, id) = handshake(server.clone(), client_config(&certs, None), host).await.unwrap();
            assert_eq!(alpn.as_deref(), Some(&b"h2"[..]), "{host}");
            assert_eq!(id, None);
        }
        // A name that is not a SAN is rejected by the client.
        let e = handshake(server, client_config(&certs, None), "10.1.2.3").await.unwrap_err();
        assert!(e.contains("not valid for name") || e.contains("NotValidForName"), "{e}");
    }

    #[tokio::test]
    async fn another_ca_is_not_trusted() {
        let certs = ServerCerts::generate(&["127.0.0.1"]).unwrap();
        let other = ServerCerts::generate(&["127.0.0.1"]).unwrap();
        assert_ne!(certs.ca_pem, other.ca_pem);
        let e = handshake(certs.server_config(false).unwrap(), client_config(&other, None), "127.0.0.1").await;
        assert!(e.is_err());
    }

    #[tokio::test]
    async fn client_certs_are_optional_and_identify_the_user() {
        let certs = ServerCerts::generate(&["127.0.0.1"]).unwrap();
        let server = certs.server_config(true).unwrap();
        let (cert, key) = certs.issue_client_cert("alice", &["system:masters"]).unwrap();
        let (_, id) = handshake(server.clone(), client_config(&certs, Some((&cert, &key))), "127.0.0.1").await.unwrap();
        assert_eq!(id, Some(ClientIdentity { user: "alice".into(), groups: vec!["system:masters".into()] }));
        // Anonymous clients still connect.
        let (_, id) = handshake(server.clone(), client_config(&certs, None), "127.0.0.1").await.unwrap();
        assert_eq!(id, None);
        // A certificate from another CA is refused.
        let other = ServerCerts::generate(&["127.0.0.1"]).unwrap();
        let (cert, key) = other.issue_client_cert("mallory", &[]).unwrap();
        assert!(handshake(server, client_config(&certs, Some((&cert, &key))), "127.0.0.1").await.is_err());
        // No group is fine; two are refused with a message naming them.
        let (cert, _) = certs.issue_client_cert("bob", &[]).unwrap();
        let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        assert_eq!(client_identity(&der).unwrap(), ClientIdentity { user: "bob".into(), groups: vec![] });
        let e = certs.issue_client_cert("carol", &["a", "b"]).unwrap_err();
        assert!(e.0.contains("carol"), "{e}");
    }

    #[test]
    fn client_identity_rejects_garbage() {
        assert!(client_identity(b"").is_err());
        assert!(client_identity(&[0x30, 0x82, 0xff]).is_err());
        assert!(client_identity(&[0x30, 0x03, 0x30, 0x01, 0x02]).is_err());
    }

    #[test]
    fn bad_host_names_are_errors() {
        let e = ServerCerts::generate(&["not-\u{e9}-ascii"]).unwrap_err();
        assert!(e.0.contains("not-\u{e9}-ascii"), "{e}");
    }
}
