//! Credentials attached to requests: bearer token, token file, basic auth, exec plugin; and the
//! impersonation headers.
//!
//! Contract:
//! - Credentials go ONLY to an `https` cluster (as client-go's clientcmd): with an `http://`
//!   server URL they are ignored, so a token never crosses the network in clear text.
//! - One source is used, in this order: exec plugin, token file, token, basic auth.
//! - A token file is read lazily, re-checked at most once a minute (its modification time; the
//!   file is re-read when that changed) and re-read at once after a 401 ([`Auth::credentials`]
//!   with `force_refresh`). If it cannot be read, the static `token` (if any) is used instead.
//! - An exec plugin's credentials come from [`ExecCredentialProvider`], which caches them until
//!   they expire; after a 401 they are fetched afresh.
//! - Header values carrying secrets are marked sensitive (never HPACK-indexed) and never appear
//!   in errors or logs.
//! - Impersonation headers are not credentials; they are sent on every request.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::config::exec::ExecCredentialProvider;
use crate::config::{Config, Impersonation};
use crate::error::{Error, Result};

/// How often a token file's modification time is checked (client-go re-reads once a minute).
pub(crate) const TOKEN_FILE_RECHECK: Duration = Duration::from_secs(60);

/// What to attach to one request.
#[derive(Default)]
pub(crate) struct Credentials {
    /// The `Authorization` header value.
    pub(crate) authorization: Option<HeaderValue>,
    /// A client certificate and key (PEM) supplied by an exec plugin.
    pub(crate) client_cert: Option<(Vec<u8>, Vec<u8>)>,
}

/// The credential source of one transport.
pub(crate) struct Auth {
    source: Source,
}

enum Source {
    None,
    Static(HeaderValue),
    TokenFile(TokenFile),
    Exec(ExecCredentialProvider),
}

struct TokenFile {
    path: PathBuf,
    fallback: Option<HeaderValue>,
    cache: Mutex<Option<CachedToken>>,
}

#[derive(Clone)]
struct CachedToken {
    value: HeaderValue,
    mtime: Option<SystemTime>,
    checked: Instant,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.source {
            Source::None => "none",
            Source::Static(_) => "static",
            Source::TokenFile(_) => "token-file",
            Source::Exec(_) => "exec",
        };
        write!(f, "Auth({kind})")
    }
}

/// `Bearer <token>` as a sensitive header value.
fn bearer(token: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
        .map_err(|_| Error::Auth("the bearer token contains characters not allowed in an HTTP header".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

impl Auth {
    /// The credential source `config` describes.
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let a = &config.auth;
        if !config.is_https() {
            if !a.is_empty() {
                let server = crate::config::redact::uri(&config.cluster_url);
                tracing::debug!(%server, "server URL is not https: credentials are not sent");
            }
            return Ok(Self { source: Source::None });
        }
        let static_token = a.token.as_ref().map(|t| bearer(t.expose())).transpose()?;
        let source = if let Some(provider) = config.exec_provider() {
            Source::Exec(provider)
        } else if let Some(path) = &a.token_file {
            Source::TokenFile(TokenFile { path: path.clone(), fallback: static_token, cache: Mutex::new(None) })
        } else if let Some(t) = static_token {
            Source::Static(t)
        } else if let Some(user) = &a.username {
            let pass = a.password.as_ref().map(|p| p.expose().as_str()).unwrap_or("");
            let raw = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            let mut v = HeaderValue::from_str(&format!("Basic {raw}"))
                .map_err(|_| Error::Auth("basic-auth credentials are not a valid header".into()))?;
            v.set_sensitive(true);
            Source::Static(v)
        } else {
            Source::None
        };
        Ok(Self { source })
    }

    /// Whether credentials can be refreshed after a 401 (token file, exec plugin).
    pub(crate) fn refreshable(&self) -> bool {
        matches!(self.source, Source::TokenFile(_) | Source::Exec(_))
    }

    /// The credentials for the next request; `force_refresh` after a 401.
    pub(crate) async fn credentials(&self, force_refresh: bool) -> Result<Credentials> {
        match &self.source {
            Source::None => Ok(Credentials::default()),
            Source::Static(v) => Ok(Credentials { authorization: Some(v.clone()), client_cert: None }),
            Source::TokenFile(f) => {
                Ok(Credentials { authorization: Some(f.token(force_refresh).await?), client_cert: None })
            }
            Source::Exec(p) => {
                let c = p.credentials(force_refresh).await.map_err(|e| Error::Auth(e.to_string()))?;
                let authorization = c.token.as_ref().map(|t| bearer(t.expose())).transpose()?;
                let client_cert = match (c.client_certificate_pem, c.client_key_pem) {
                    (Some(cert), Some(key)) => Some((cert, key.expose().clone())),
                    _ => None,
                };
                if authorization.is_none() && client_cert.is_none() {
                    return Err(Error::Auth(
                        "the exec plugin returned neither a token nor a client certificate".into(),
                    ));
                }
                Ok(Credentials { authorization, client_cert })
            }
        }
    }
}

impl TokenFile {
    async fn token(&self, force: bool) -> Result<HeaderValue> {
        let now = Instant::now();
        let cached = self.cache.lock().clone();
        let mut mtime = None;
        if let Some(c) = &cached {
            if !force && now.saturating_duration_since(c.checked) < TOKEN_FILE_RECHECK {
                return Ok(c.value.clone());
            }
            if !force {
                mtime = tokio::fs::metadata(&self.path).await.ok().and_then(|m| m.modified().ok());
                if mtime.is_some() && mtime == c.mtime {
                    let mut g = self.cache.lock();
                    if let Some(c) = g.as_mut() {
                        c.checked = now;
                    }
                    return Ok(c.value.clone());
                }
            }
        }
        match self.read().await {
            Ok((value, read_mtime)) => {
                *self.cache.lock() =
                    Some(CachedToken { value: value.clone(), mtime: read_mtime.or(mtime), checked: now });
                Ok(value)
            }
            Err(e) => {
                if let Some(c) = cached {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot re-read token file; keeping the last token");
                    return Ok(c.value);
                }
                match &self.fallback {
                    Some(v) => {
                        tracing::warn!(path = %self.path.display(), error = %e, "cannot read token file; using the configured token");
                        Ok(v.clone())
                    }
                    None => Err(e),
                }
            }
        }
    }

    async fn read(&self) -> Result<(HeaderValue, Option<SystemTime>)> {
        let shown = self.path.display();
        let mtime = tokio::fs::metadata(&self.path).await.ok().and_then(|m| m.modified().ok());
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|e| Error::Auth(format!("cannot read token file {shown}: {e}")))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(Error::Auth(format!("token file {shown} is empty")));
        }
        let v = bearer(token).map_err(|_| Error::Auth(format!("token file {shown} holds an invalid token")))?;
        Ok((v, mtime))
    }
}

/// The impersonation headers for `imp`, in order.
pub(crate) fn impersonation_headers(imp: &Impersonation) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let value = |field: &str, v: &str| {
        HeaderValue::from_str(v)
            .map_err(|_| Error::InvalidRequest(format!("impersonation {field} {v:?} is not a valid header value")))
    };
    let mut out = Vec::new();
    if let Some(u) = &imp.user {
        out.push((HeaderName::from_static("impersonate-user"), value("user", u)?));
    }
    if let Some(u) = &imp.uid {
        out.push((HeaderName::from_static("impersonate-uid"), value("uid", u)?));
    }
    for g in &imp.groups {
        out.push((HeaderName::from_static("impersonate-group"), value("group", g)?));
    }
    for (key, values) in &imp.extra {
        let name = format!("impersonate-extra-{}", percent_encoding::utf8_percent_encode(key, NOT_TOKEN));
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::InvalidRequest(format!("impersonation extra key {key:?} cannot be a header name")))?;
        for v in values {
            out.push((name.clone(), value("extra value", v)?));
        }
    }
    Ok(out)
}

/// Bytes that are not HTTP `tchar`s (plus `%` itself) are percent-encoded in extra keys.
const NOT_TOKEN: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'*')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');
