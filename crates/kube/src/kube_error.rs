//! Turns a kube-rs error chain into the one line an operator reads: a leaf
//! that both the connection code and discovery use, so neither imports the other.

/// The innermost useful message of a kube error chain ("connection refused", …).
/// Escaped: the server's words are shown, never obeyed by a terminal.
pub fn describe_kube_error(err: &kube::Error) -> String {
    abshift_core::text::escape(&describe(err)).into_owned()
}

fn describe(err: &kube::Error) -> String {
    if let kube::Error::Api(s) = err {
        return format!("{} ({})", s.message, s.code);
    }
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.last().cloned().unwrap_or_else(|| err.to_string())
}
