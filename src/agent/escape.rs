//! Escaping of names in the agent's line-oriented text (text audit lines, the comment lines of
//! `last-good.yaml`): a name holding a newline, a space or another control character must not
//! start a forged line or shift the fields of its own.

use std::borrow::Cow;

/// `s` with backslash, white space and control characters written as escapes: `\\`, and
/// `\xNN` for ASCII (so a newline is `\x0a`, a space `\x20`), `\u{NNNN}` for others (U+2028,
/// U+0085, ...). Everything else passes unchanged; `s` comes back borrowed when nothing needs
/// escaping (the common case: Kubernetes names are DNS labels).
pub fn escape_field(s: &str) -> Cow<'_, str> {
    let needs = |c: char| c == '\\' || c.is_whitespace() || c.is_control();
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if needs(c) && c.is_ascii() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if needs(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_newlines_spaces_or_controls_stay_on_one_field() {
        assert!(matches!(
            escape_field("web-guard"),
            Cow::Borrowed("web-guard")
        ));
        assert_eq!(escape_field("a\nb c"), "a\\x0ab\\x20c");
        assert_eq!(escape_field("x\r\t\u{1b}"), "x\\x0d\\x09\\x1b");
        assert_eq!(escape_field("a\u{2028}b\u{85}"), "a\\u{2028}b\\u{0085}");
        assert_eq!(escape_field("back\\slash"), "back\\\\slash");
        assert_eq!(escape_field("café"), "café");
        let forged = escape_field("p\n2026-01-01T00:00:00Z IngressMetric forged");
        assert!(!forged.contains('\n') && !forged.contains(' '));
    }
}
