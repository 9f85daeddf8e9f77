//! Hiding secrets in text meant for people: `Debug` output, error messages and logs.
//!
//! Contract: [`uri`] and [`url`] give a URL with its user info (`user:password@`) replaced by
//! `[REDACTED]@`, and the URL unchanged when it has none. [`url`] takes text that may not parse
//! as a URL (a kubeconfig's `server` before it is checked) and then errs on the side of hiding:
//! everything between the scheme and the last `@` goes.

use std::borrow::Cow;

/// What is printed instead of a secret.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// `uri` as text, without its user info.
pub(crate) fn uri(uri: &http::Uri) -> String {
    let text = uri.to_string();
    match uri.authority().and_then(|a| a.as_str().rsplit_once('@').map(|(_, host)| (a.as_str(), host))) {
        Some((authority, host)) => text.replacen(authority, &format!("{REDACTED}@{host}"), 1),
        None => text,
    }
}

/// URL-like text without its user info.
pub(crate) fn url(text: &str) -> Cow<'_, str> {
    let start = text.find("://").map_or(0, |i| i + 3);
    match text[start..].rfind('@') {
        Some(at) => Cow::Owned(format!("{}{REDACTED}@{}", &text[..start], &text[start + at + 1..])),
        None => Cow::Borrowed(text),
    }
}

/// A list of secrets shown as their count only (`[REDACTED; 3]`) in `Debug`.
pub(crate) struct Count(pub(crate) usize);

impl std::fmt::Debug for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{REDACTED}; {}]", self.0)
    }
}

/// A value shown as `[REDACTED]` in `Debug`.
pub(crate) struct Hidden;

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_replaced() {
        let u: http::Uri = "https://alice:s3cret@example.com:6443/api?x=1".parse().unwrap();
        assert_eq!(uri(&u), "https://[REDACTED]@example.com:6443/api?x=1");
        let plain: http::Uri = "https://example.com/a@b".parse().unwrap();
        assert_eq!(uri(&plain), "https://example.com/a@b");
        assert_eq!(url("http://bob:p@ss@proxy:3128"), "http://[REDACTED]@proxy:3128");
        assert_eq!(url("tok:en@host:6443"), "[REDACTED]@host:6443");
        assert_eq!(url("https://host:6443"), "https://host:6443");
    }
}
