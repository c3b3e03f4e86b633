//! Text abshift did not write itself (server messages, object names, object
//! content) must not steer the terminal it is printed on or the report it is
//! shared in: control characters, escape sequences and bidirectional overrides
//! are shown as visible `\u{..}` escapes instead of acting.

use std::borrow::Cow;

/// Characters that act instead of showing: C0 and C1 controls, DEL, and the
/// Unicode formatting characters that reorder or hide text.
fn acts(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn escape_where(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| acts(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if acts(c) && !keep(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of foreign text: every acting character escaped, newlines too.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_where(s, |_| false)
}

/// Foreign text of several lines (a diff, a manifest): newlines and tabs stay.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c == '\n' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_overrides_are_shown_not_obeyed() {
        assert!(matches!(escape("plain ünïcode"), Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ny"), "x\\u{a}y");
        assert_eq!(escape("evil\u{202E}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(escape("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(escape_lines("a\n\tb\u{7}"), "a\n\tb\\u{7}");
    }
}
