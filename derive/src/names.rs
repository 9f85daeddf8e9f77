//! What the API server accepts for a CRD's names and paths (apiextensions validation), checked at
//! compile time, and the default plural of a kind.

fn is_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A group: a DNS subdomain with at least one dot.
pub fn group(s: &str) -> Result<(), String> {
    if s.len() <= 253 && s.contains('.') && s.split('.').all(|l| is_label(l, 63)) {
        Ok(())
    } else {
        Err(format!("expected a DNS subdomain with at least one dot, e.g. \"stable.example.com\"; got {s:?}"))
    }
}

/// A version: a DNS-1035 label (lowercase, starting with a letter).
pub fn version(s: &str) -> Result<(), String> {
    if is_label(s, 63) && s.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!("expected a version such as \"v1\" or \"v1beta1\" (a lowercase DNS label); got {s:?}"))
    }
}

/// A kind: an identifier starting with an uppercase letter (it names the generated type too).
pub fn kind(s: &str) -> Result<(), String> {
    if s.starts_with(|c: char| c.is_ascii_uppercase()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!("expected a kind in UpperCamelCase, e.g. \"CronTab\" (letters and digits); got {s:?}"))
    }
}

/// A plural, singular, short name or category: a lowercase DNS-1035 label.
pub fn lower_label(s: &str) -> Result<(), String> {
    if is_label(s, 63) && s.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!("expected a lowercase name (letters, digits and '-', starting with a letter); got {s:?}"))
    }
}

/// A printer column's JSON path: starts with a dot.
pub fn json_path(s: &str) -> Result<(), String> {
    if s.len() > 1 && s.starts_with('.') {
        Ok(())
    } else {
        Err(format!("expected a simple JSON path starting with '.', e.g. \".spec.cronSpec\"; got {s:?}"))
    }
}

/// A printer column's type.
pub fn column_type(s: &str) -> Result<(), String> {
    match s {
        "integer" | "number" | "string" | "boolean" | "date" => Ok(()),
        _ => Err(format!("expected one of \"integer\", \"number\", \"string\", \"boolean\", \"date\"; got {s:?}")),
    }
}

fn under(s: &str, root: &str) -> bool {
    s.strip_prefix(root)
        .and_then(|r| r.strip_prefix('.'))
        .is_some_and(|r| !r.is_empty() && r.split('.').all(|seg| !seg.is_empty() && !seg.contains(['[', ']'])))
}

/// The scale subresource's spec replicas path: under `.spec`, no array index.
pub fn spec_path(s: &str) -> Result<(), String> {
    if under(s, ".spec") {
        Ok(())
    } else {
        Err(format!("expected a path under .spec without array indexes, e.g. \".spec.replicas\"; got {s:?}"))
    }
}

/// The scale subresource's status replicas path: under `.status`, no array index.
pub fn status_path(s: &str) -> Result<(), String> {
    if under(s, ".status") {
        Ok(())
    } else {
        Err(format!("expected a path under .status without array indexes, e.g. \".status.replicas\"; got {s:?}"))
    }
}

/// The scale subresource's label selector path: under `.spec` or `.status`.
pub fn selector_path(s: &str) -> Result<(), String> {
    if under(s, ".spec") || under(s, ".status") {
        Ok(())
    } else {
        Err(format!("expected a path under .spec or .status, e.g. \".status.selector\"; got {s:?}"))
    }
}

/// The plural the Kubernetes code generators give a lowercased kind: `-s`, `-x`, `-z`, `-ch`,
/// `-sh` take `es`; a consonant before a final `y` makes `ies`; anything else takes `s`.
pub fn plural_of(lower: &str) -> String {
    if lower.ends_with(['s', 'x', 'z']) || lower.ends_with("ch") || lower.ends_with("sh") {
        return format!("{lower}es");
    }
    if let Some(stem) = lower.strip_suffix('y') {
        if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) && !stem.is_empty() {
            return format!("{stem}ies");
        }
    }
    format!("{lower}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_follow_the_generators() {
        for (k, p) in [
            ("crontab", "crontabs"),
            ("policy", "policies"),
            ("gateway", "gateways"),
            ("ingress", "ingresses"),
            ("box", "boxes"),
            ("patch", "patches"),
            ("mesh", "meshes"),
        ] {
            assert_eq!(plural_of(k), p);
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(group("stable.example.com").is_ok());
        assert!(group("example").is_err());
        assert!(group("Stable.example.com").is_err());
        assert!(version("v1beta1").is_ok());
        assert!(version("1").is_err());
        assert!(kind("CronTab").is_ok());
        assert!(kind("cronTab").is_err());
        assert!(spec_path(".spec.replicas").is_ok());
        assert!(spec_path(".status.replicas").is_err());
        assert!(spec_path(".spec.items[0]").is_err());
        assert!(selector_path(".status.selector").is_ok());
    }
}
