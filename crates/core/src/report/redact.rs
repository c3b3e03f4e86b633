//! Defence in depth for Secrets: plans never hold their values, but a report is
//! shared widely, so anything that looks like a Secret value is blanked before
//! it is rendered, whatever the plan says.

use serde_json::Value;

pub(crate) const REDACTED: &str = "<redacted>";

/// Top-level fields of a Secret whose values are the secret itself.
const VALUE_FIELDS: &[&str] = &["data", "stringData"];

/// Top-level fields of a Secret that carry no value and may be shown as they are.
const SAFE_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "type", "immutable"];

fn is_secret(kind: &str) -> bool {
    kind == "Secret"
}

/// The manifest with every `data`/`stringData` value of a Secret replaced by
/// [`REDACTED`]; the keys stay, a reviewer may need to know which exist.
pub(crate) fn redact_manifest(kind: &str, manifest: &Value) -> Value {
    if !is_secret(kind) {
        return manifest.clone();
    }
    let mut m = manifest.clone();
    if let Value::Object(top) = &mut m {
        for field in VALUE_FIELDS {
            if let Some(v) = top.get_mut(*field) {
                *v = match v {
                    Value::Object(entries) => Value::Object(
                        entries
                            .keys()
                            .map(|k| (k.clone(), Value::String(REDACTED.into())))
                            .collect(),
                    ),
                    Value::Null => Value::Null,
                    _ => Value::String(REDACTED.into()),
                };
            }
        }
    }
    m
}

/// Where a diff line stands relative to the Secret's top-level fields.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// Start of a hunk: the enclosing field is not on screen, so anything
    /// nested is treated as a value.
    Unknown,
    /// At the top level of the manifest.
    Top,
    /// Inside a safe top-level field opened at this indent.
    Safe(usize),
    /// Inside `data`/`stringData` opened at this indent.
    Values(usize),
}

/// A Secret's diff with every line inside `data`/`stringData` blanked. Works on
/// pretty JSON and on YAML; a hunk that starts in the middle of a block is
/// blanked until a known top-level field shows where it is.
pub(crate) fn redact_diff(kind: &str, diff: &str) -> String {
    if !is_secret(kind) {
        return diff.to_string();
    }
    let mut out = String::with_capacity(diff.len());
    let mut place = Place::Unknown;
    let mut in_hunks = false;
    for line in diff.lines() {
        if line.starts_with("@@") {
            in_hunks = true;
            place = Place::Unknown;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if !in_hunks && (line.starts_with("---") || line.starts_with("+++")) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let (marker, content) = match line.chars().next() {
            Some(c @ (' ' | '+' | '-')) => (c.to_string(), &line[1..]),
            _ => (String::new(), line),
        };
        let indent = content.len() - content.trim_start().len();
        let body = content.trim_start();
        let key = key_of(body);
        let nested = match place {
            Place::Values(h) if indent > h && !body.is_empty() => Some(true),
            Place::Safe(h) if indent > h || body.is_empty() => Some(false),
            Place::Unknown => {
                let top_key = key
                    .as_deref()
                    .is_some_and(|k| SAFE_FIELDS.contains(&k) || VALUE_FIELDS.contains(&k));
                let json_top = indent == 2 && body.starts_with('"');
                let yaml_top = indent == 0 && !body.starts_with(['{', '}']);
                let closer = is_closer(body);
                if closer && indent <= 2 || top_key && (json_top || yaml_top) {
                    None
                } else if closer || body.is_empty() {
                    Some(false)
                } else {
                    Some(true)
                }
            }
            _ => None,
        };
        match nested {
            Some(true) => {
                out.push_str(&marker);
                out.push_str(&content[..indent]);
                out.push_str(&blank_value(body));
            }
            Some(false) => out.push_str(line),
            None => {
                // A line at the top level: it opens, closes or sets a field.
                place = Place::Top;
                let opens = opens_block(body);
                match key.as_deref() {
                    Some(k) if VALUE_FIELDS.contains(&k) => {
                        if opens {
                            place = Place::Values(indent);
                            out.push_str(line);
                        } else {
                            out.push_str(&marker);
                            out.push_str(&content[..indent]);
                            out.push_str(&blank_value(body));
                        }
                    }
                    Some(_) if opens => {
                        place = Place::Safe(indent);
                        out.push_str(line);
                    }
                    _ => out.push_str(line),
                }
            }
        }
        out.push('\n');
    }
    if !diff.ends_with('\n') {
        out.pop();
    }
    out
}

/// The key of a `"key": value` or `key: value` line.
fn key_of(body: &str) -> Option<String> {
    if let Some(rest) = body.strip_prefix('"') {
        let end = rest.find("\":")?;
        return Some(rest[..end].to_string());
    }
    let end = body.find(':')?;
    let key = &body[..end];
    (!key.is_empty() && !key.contains(' ')).then(|| key.to_string())
}

fn is_closer(body: &str) -> bool {
    matches!(body, "}" | "}," | "]" | "]," | "{" | "[")
}

/// True when the line only opens a nested block (`"data": {`, `data:`).
fn opens_block(body: &str) -> bool {
    let t = body.trim_end();
    t.ends_with('{') || t.ends_with('[') || t.ends_with(':') || t.ends_with("|") || t.ends_with(">")
}

/// Keeps a line's key and blanks its value; a line without a key is all value.
fn blank_value(body: &str) -> String {
    if is_closer(body) {
        return body.to_string();
    }
    let comma = if body.trim_end().ends_with(',') {
        ","
    } else {
        ""
    };
    if let Some(rest) = body.strip_prefix('"')
        && let Some(end) = rest.find("\":")
    {
        return format!("\"{}\": \"{REDACTED}\"{comma}", &rest[..end]);
    }
    if let Some(k) = key_of(body) {
        return format!("{k}: {REDACTED}");
    }
    format!("\"{REDACTED}\"{comma}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manifest_values_are_blanked_keys_kept() {
        let m = json!({"kind": "Secret", "type": "Opaque", "metadata": {"name": "s"},
            "data": {"password": "aHVudGVyMg=="}, "stringData": "oops"});
        let r = redact_manifest("Secret", &m);
        assert_eq!(r["data"]["password"], REDACTED);
        assert_eq!(r["stringData"], REDACTED);
        assert_eq!(r["metadata"]["name"], "s");
        let cm = json!({"data": {"k": "v"}});
        assert_eq!(redact_manifest("ConfigMap", &cm), cm);
    }

    #[test]
    fn json_diff_inside_data_is_blanked_metadata_kept() {
        let d = "--- A (source)\n+++ B (target)\n@@ -1,8 +1,8 @@\n {\n   \"data\": {\n-    \"password\": \"aHVudGVyMg==\",\n+    \"password\": \"c2VjcmV0\",\n     \"user\": \"YWRtaW4=\"\n   },\n   \"metadata\": {\n-    \"name\": \"s\"\n+    \"name\": \"s\"\n   },\n   \"type\": \"Opaque\"\n }\n";
        let r = redact_diff("Secret", d);
        for v in ["aHVudGVyMg==", "c2VjcmV0", "YWRtaW4="] {
            assert!(!r.contains(v), "{r}");
        }
        assert!(r.contains("-    \"password\": \"<redacted>\","), "{r}");
        assert!(r.contains("\"name\": \"s\""), "{r}");
        assert!(r.contains("\"type\": \"Opaque\""), "{r}");
    }

    #[test]
    fn hunk_starting_inside_data_is_blanked() {
        let d = "@@ -5,4 +5,4 @@\n     \"a\": \"dmFsdWUx\",\n-    \"b\": \"dmFsdWUy\"\n+    \"b\": \"dmFsdWUz\"\n   },\n   \"type\": \"Opaque\"\n";
        let r = redact_diff("Secret", d);
        assert!(!r.contains("dmFsdWU"), "{r}");
        assert!(r.contains("\"type\": \"Opaque\""), "{r}");
        let y = "@@ -2,3 +2,3 @@\n   token: c2VjcmV0\n-  key: YWJj\n+  key: ZGVm\n type: Opaque\n";
        let r = redact_diff("Secret", y);
        for v in ["c2VjcmV0", "YWJj", "ZGVm"] {
            assert!(!r.contains(v), "{r}");
        }
        assert!(r.contains(" type: Opaque"), "{r}");
    }

    #[test]
    fn inline_values_are_blanked() {
        let d = "@@ -1,2 +1,2 @@\n-  \"stringData\": {\"k\": \"plain\"},\n+data: {k: cGxhaW4=}\n";
        let r = redact_diff("Secret", d);
        assert!(!r.contains("plain") && !r.contains("cGxhaW4="), "{r}");
        assert_eq!(redact_diff("ConfigMap", d), d);
    }
}
