//! The name and label syntax of Kubernetes' apimachinery, offline: each function returns the
//! messages the API server would give (empty when valid).
//!
//! Source: `k8s.io/apimachinery/pkg/util/validation/validation.go` (`IsDNS1123Label`,
//! `IsDNS1123Subdomain`, `IsQualifiedName`, `IsValidLabelValue`, `IsValidPortName`).

/// Longest DNS-1123 label, and the name part of a qualified name and a label value.
pub const LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain (also a label key's prefix).
pub const SUBDOMAIN_MAX: usize = 253;
/// Longest IANA service name (a named port).
pub const PORT_NAME_MAX: usize = 15;

fn alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` without the length limit.
fn label_chars_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| alnum_lower(c) || c == '-')
        && s.starts_with(alnum_lower)
        && s.ends_with(alnum_lower)
}

/// A DNS-1123 label (`IsDNS1123Label`): namespace names.
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > LABEL_MAX {
        out.push(format!("must be no more than {LABEL_MAX} characters"));
    }
    if !label_chars_ok(s) {
        out.push(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character"
                .to_string(),
        );
    }
    out
}

/// A DNS-1123 subdomain (`IsDNS1123Subdomain`): object names of most kinds.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > SUBDOMAIN_MAX {
        out.push(format!("must be no more than {SUBDOMAIN_MAX} characters"));
    }
    if !s.split('.').all(label_chars_ok) {
        out.push(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character"
                .to_string(),
        );
    }
    out
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` (empty allowed when `allow_empty`).
fn qualified_chars_ok(s: &str, allow_empty: bool) -> bool {
    if s.is_empty() {
        return allow_empty;
    }
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label key (`IsQualifiedName`): an optional DNS-1123 subdomain prefix and `/`, then a name
/// of at most 63 characters.
pub fn label_key(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (prefix, name) = match s.split('/').collect::<Vec<_>>()[..] {
        [name] => (None, name),
        [prefix, name] => (Some(prefix), name),
        _ => {
            return vec![
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with \
                 an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
                    .to_string(),
            ]
        }
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            out.push("prefix part must be non-empty".to_string());
        } else {
            out.extend(
                dns1123_subdomain(prefix)
                    .into_iter()
                    .map(|m| format!("prefix part {m}")),
            );
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else {
        if name.len() > LABEL_MAX {
            out.push(format!(
                "name part must be no more than {LABEL_MAX} characters"
            ));
        }
        if !qualified_chars_ok(name, false) {
            out.push(
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must \
                 start and end with an alphanumeric character"
                    .to_string(),
            );
        }
    }
    out
}

/// A label value (`IsValidLabelValue`): empty, or at most 63 characters of the qualified-name
/// set. Antrea's `logLabel` follows the same rule (its CRD schema: pattern and `maxLength: 63`).
pub fn label_value(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > LABEL_MAX {
        out.push(format!("must be no more than {LABEL_MAX} characters"));
    }
    if !qualified_chars_ok(s, true) {
        out.push(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', \
             '_' or '.', and must start and end with an alphanumeric character"
                .to_string(),
        );
    }
    out
}

/// A named port (`IsValidPortName`, an IANA service name, RFC 6335): at most 15 characters of
/// `[-a-z0-9]`, at least one letter, no leading, trailing or doubled `-`.
pub fn port_name(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.is_empty() || s.len() > PORT_NAME_MAX {
        out.push(format!("must be no more than {PORT_NAME_MAX} characters"));
    }
    if !s.chars().all(|c| alnum_lower(c) || c == '-') {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if s.contains("--") {
        out.push("must not contain consecutive hyphens".to_string());
    }
    if !s.chars().any(|c| c.is_ascii_lowercase()) {
        out.push("must contain at least one letter (a-z)".to_string());
    }
    if s.starts_with('-') || s.ends_with('-') {
        out.push("must not begin or end with a hyphen".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rfc_1123_rules_of_apimachinery() {
        assert!(dns1123_label("x-1").is_empty());
        assert!(!dns1123_label("a.b").is_empty());
        assert!(!dns1123_label(&"a".repeat(64)).is_empty());
        assert!(dns1123_subdomain("a.b-c").is_empty());
        for bad in ["Upper", "-a", "a-", "a..b", "", "a\0b", "ü", "a_b"] {
            assert!(!dns1123_subdomain(bad).is_empty(), "{bad:?}");
        }
        assert!(!dns1123_subdomain(&"a".repeat(254)).is_empty());
    }

    #[test]
    fn label_keys_take_an_optional_dns_prefix_and_a_name_of_63() {
        for good in ["app", "kubernetes.io/metadata.name", "A_b.c-D"] {
            assert!(label_key(good).is_empty(), "{good:?}");
        }
        for bad in ["-app", "/app", "a/b/c", "Example.com/x", "app/", ""] {
            assert!(!label_key(bad).is_empty(), "{bad:?}");
        }
        assert!(!label_key(&"a".repeat(64)).is_empty());
        assert!(!label_key(&format!("{}/a", "a".repeat(254))).is_empty());
    }

    #[test]
    fn label_values_may_be_empty_but_not_long_or_odd() {
        assert!(label_value("").is_empty());
        assert!(label_value("v1.2_x").is_empty());
        for bad in ["-v", "v-", "a b", "ü"] {
            assert!(!label_value(bad).is_empty(), "{bad:?}");
        }
        assert!(!label_value(&"a".repeat(64)).is_empty());
    }

    #[test]
    fn port_names_are_iana_service_names() {
        assert!(port_name("http").is_empty());
        assert!(port_name("serve-80").is_empty());
        for bad in ["8080", "HTTP", "a--b", "-a", "a-", "abcdefghijklmnop", ""] {
            assert!(!port_name(bad).is_empty(), "{bad:?}");
        }
    }
}
