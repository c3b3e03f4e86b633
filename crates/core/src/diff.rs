//! Comparing a normalised source manifest with the target's object. "Contained"
//! is the test: every field A sets must be in B with the same value; fields B's
//! API server defaulted on its own (newer versions add some) are not differences.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Label abshift puts on every object it creates in B.
pub const MIGRATED_FROM_LABEL: &str = "abshift.io/migrated-from";
/// Annotation naming the plan that created an object.
pub const PLAN_ANNOTATION: &str = "abshift.io/plan";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Absent in B.
    Create,
    /// B already holds it.
    Unchanged,
    /// Differs, and abshift created B's copy: safe to update.
    Update,
    /// Differs, and someone else created B's copy.
    Conflict,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Unchanged => "unchanged",
            Action::Update => "update",
            Action::Conflict => "conflict",
        }
    }
}

/// True when every field of `source` is present in `target` with an equal value.
/// Arrays must have the same length and be contained element by element; a null
/// in the source counts as absent.
pub fn contains(source: &Value, target: &Value) -> bool {
    match (source, target) {
        (Value::Null, _) => true,
        (Value::Object(s), Value::Object(t)) => s.iter().all(|(k, sv)| match t.get(k) {
            Some(tv) => contains(sv, tv),
            None => sv.is_null(),
        }),
        (Value::Array(s), Value::Array(t)) => {
            s.len() == t.len() && s.iter().zip(t).all(|(a, b)| contains(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// Paths (JSON pointers) where `source` is not contained in `target`: what the
/// tests show when containment fails. Nothing else reads them.
#[cfg(test)]
fn differences(source: &Value, target: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(source, target, String::new(), &mut out);
    out
}

#[cfg(test)]
fn walk(source: &Value, target: &Value, path: String, out: &mut Vec<String>) {
    match (source, target) {
        (Value::Null, _) => {}
        (Value::Object(s), Value::Object(t)) => {
            for (k, sv) in s {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                match t.get(k) {
                    Some(tv) => walk(sv, tv, p, out),
                    None if sv.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(s), Value::Array(t)) if s.len() == t.len() => {
            for (i, (a, b)) in s.iter().zip(t).enumerate() {
                walk(a, b, format!("{path}/{i}"), out);
            }
        }
        _ if contains(source, target) => {}
        _ => out.push(if path.is_empty() {
            "/".to_string()
        } else {
            path
        }),
    }
}

/// Decides what apply must do with one object. `target` is B's copy, normalised
/// the same way as `source`; `None` when B does not have the object.
/// `digests` compares Secret digests (source, target) since values are not in the manifests.
pub(crate) fn action(
    source: &Value,
    target: Option<&Value>,
    digests: Option<(&str, Option<&str>)>,
) -> Action {
    let Some(target) = target else {
        return Action::Create;
    };
    let same_data = digests.is_none_or(|(s, t)| Some(s) == t);
    if same_data && contains(source, target) {
        return Action::Unchanged;
    }
    let ours = target
        .pointer("/metadata/labels")
        .and_then(|l| l.get(MIGRATED_FROM_LABEL))
        .is_some();
    if ours {
        Action::Update
    } else {
        Action::Conflict
    }
}

/// A unified diff of A's manifest against B's values for the same fields only,
/// so that fields B merely defaulted do not drown the real difference.
pub fn field_diff(a: &Value, b: &Value) -> String {
    let projected = project(b, a);
    let left = serde_json::to_string_pretty(a).unwrap_or_default();
    let right = serde_json::to_string_pretty(&projected).unwrap_or_default();
    similar::TextDiff::from_lines(&left, &right)
        .unified_diff()
        .context_radius(2)
        .header("A (source)", "B (target)")
        .to_string()
}

/// `value` restricted to the keys present in `shape` (recursively).
fn project(value: &Value, shape: &Value) -> Value {
    match (value, shape) {
        (Value::Object(v), Value::Object(s)) => Value::Object(
            s.keys()
                .filter_map(|k| v.get(k).map(|x| (k.clone(), project(x, &s[k]))))
                .collect(),
        ),
        (Value::Array(v), Value::Array(s)) if v.len() == s.len() => {
            Value::Array(v.iter().zip(s).map(|(x, y)| project(x, y)).collect())
        }
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_added_by_target_are_not_differences() {
        let a = json!({"spec": {"containers": [{"name": "c", "image": "x"}]}});
        let b = json!({"spec": {"containers": [{"name": "c", "image": "x", "terminationMessagePath": "/dev/termination-log"}], "dnsPolicy": "ClusterFirst"}});
        assert!(contains(&a, &b));
        assert!(!contains(&b, &a));
        assert_eq!(
            differences(&b, &a),
            vec![
                "/spec/containers/0/terminationMessagePath",
                "/spec/dnsPolicy"
            ]
        );
    }

    #[test]
    fn changed_values_and_array_lengths_are_differences() {
        assert!(!contains(&json!({"a": [1, 2]}), &json!({"a": [1]})));
        assert!(!contains(&json!({"a": "x"}), &json!({"a": "y"})));
        assert!(contains(&json!({"a": 1}), &json!({"a": 1.0})));
        assert!(
            !contains(&json!({"e": {}}), &json!({})),
            "an empty object is a value (emptyDir: {{}})"
        );
        assert_eq!(
            differences(&json!({"a": {"b/c": 1}}), &json!({"a": {"b/c": 2}})),
            vec!["/a/b~1c"]
        );
    }

    #[test]
    fn actions() {
        let src = json!({"metadata": {"name": "x"}, "data": {"k": "v"}});
        assert_eq!(action(&src, None, None), Action::Create);
        assert_eq!(
            action(
                &src,
                Some(&json!({"metadata": {"name": "x", "uid": "u"}, "data": {"k": "v"}})),
                None
            ),
            Action::Unchanged
        );
        assert_eq!(
            action(
                &src,
                Some(&json!({"metadata": {"name": "x"}, "data": {"k": "w"}})),
                None
            ),
            Action::Conflict
        );
        let ours = json!({"metadata": {"name": "x", "labels": {MIGRATED_FROM_LABEL: "abc"}}, "data": {"k": "w"}});
        assert_eq!(action(&src, Some(&ours), None), Action::Update);
        assert_eq!(
            action(
                &src,
                Some(&json!({"metadata": {"name": "x"}, "data": {"k": "v"}})),
                Some(("d1", Some("d2")))
            ),
            Action::Conflict
        );
        assert_eq!(
            action(
                &src,
                Some(&json!({"metadata": {"name": "x"}, "data": {"k": "v"}})),
                Some(("d1", Some("d1")))
            ),
            Action::Unchanged
        );
    }

    #[test]
    fn diff_shows_the_changed_field_not_the_defaults() {
        let a = json!({"data": {"mode": "fast"}, "metadata": {"name": "c"}});
        let b = json!({"data": {"mode": "slow"}, "metadata": {"name": "c", "uid": "u", "resourceVersion": "9"}});
        let d = field_diff(&a, &b);
        assert!(
            d.contains("-    \"mode\": \"fast\"") && d.contains("+    \"mode\": \"slow\""),
            "{d}"
        );
        assert!(!d.contains("resourceVersion"));
    }
}
