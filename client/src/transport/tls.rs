//! TLS client configuration: rustls (0.23) with the `ring` provider, chosen explicitly so the
//! process-default provider (another crate may install aws-lc-rs) never matters.
//!
//! Contract:
//! - Trust is `Config.root_ca_pem` alone when set (as client-go: the kubeconfig's CA replaces
//!   the system roots), else the platform's roots via rustls-native-certs.
//! - `insecure_skip_tls_verify` installs a verifier that accepts ANY server certificate (it
//!   still checks the handshake signatures, so the peer must hold the key of the certificate it
//!   presents, but anyone can present one). That defeats server authentication entirely: an
//!   attacker on the path can read and alter every request, credentials included. It exists
//!   only because kubeconfig has the switch.
//! - Client certificates are PEM chains with RSA (PKCS#1, PKCS#8) or EC (SEC1, PKCS#8) keys.
//! - ALPN offers `h2` then `http/1.1`, so HTTP/2 is used when the server offers it.
//! - Every failure is [`Error::Tls`] naming the host and the cause; key material never appears
//!   in messages.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::Config;
use crate::error::{Error, Result};

/// The ALPN protocols offered, most preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The crypto provider every rudder TLS config uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The host of the cluster URL, without IPv6 brackets (for messages and SNI).
pub(crate) fn host_of(uri: &http::Uri) -> String {
    uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string()
}

/// The name the server certificate is verified against: `tls_server_name` if set, else the
/// URL's host (an IP address verifies against the certificate's IP SANs).
pub(crate) fn server_name(config: &Config) -> Result<ServerName<'static>> {
    let host = host_of(&config.cluster_url);
    let name = config.tls_server_name.clone().unwrap_or_else(|| host.clone());
    ServerName::try_from(name.clone())
        .map_err(|e| Error::Tls { host, reason: format!("{name:?} is not a valid TLS server name: {e}") })
}

/// `tls` offering only `http/1.1` (an HTTP/1.1 upgrade cannot run over HTTP/2).
pub(crate) fn http1_only(tls: &Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut c = ClientConfig::clone(tls);
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

/// Builds the rustls client config for `config`, with the client certificate `client_cert`
/// (PEM chain, PEM key) when given.
pub(crate) fn client_config(config: &Config, client_cert: Option<(&[u8], &[u8])>) -> Result<Arc<ClientConfig>> {
    let host = host_of(&config.cluster_url);
    let tls_err = |reason: String| Error::Tls { host: host.clone(), reason };
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("no usable TLS protocol version: {e}")))?;
    let builder = if config.insecure_skip_tls_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { provider }))
    } else {
        builder.with_root_certificates(root_store(config.root_ca_pem.as_deref()).map_err(&tls_err)?)
    };
    let mut tls = match client_cert {
        Some((cert_pem, key_pem)) => {
            let certs = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| tls_err(format!("client certificate PEM: {e}")))?;
            if certs.is_empty() {
                return Err(tls_err("client certificate PEM holds no CERTIFICATE block".into()));
            }
            let key = PrivateKeyDer::from_pem_slice(key_pem)
                .map_err(|e| tls_err(format!("client key PEM (RSA PKCS#1/PKCS#8 or EC SEC1/PKCS#8 expected): {e}")))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| tls_err(format!("client certificate/key: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(tls))
}

/// The CAs from `pem`, or the platform's roots.
fn root_store(pem: Option<&[u8]>) -> std::result::Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match pem {
        Some(pem) => {
            let mut n = 0;
            for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
                let cert = cert.map_err(|e| format!("CA bundle: certificate #{}: {e}", i + 1))?;
                roots.add(cert).map_err(|e| format!("CA bundle: certificate #{}: {e}", i + 1))?;
                n += 1;
            }
            if n == 0 {
                return Err("CA bundle holds no CERTIFICATE block".into());
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "skipping unreadable system root certificate");
            }
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            tracing::debug!(added, ignored, "loaded system root certificates");
        }
    }
    Ok(roots)
}

/// Accepts any server certificate (`insecure-skip-tls-verify`). See the module docs for why
/// this is dangerous.
#[derive(Debug)]
struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls error inside an I/O error or error chain, if any, as a message.
pub(crate) fn rustls_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r.to_string());
            }
        }
        cur = err.source();
    }
    None
}
