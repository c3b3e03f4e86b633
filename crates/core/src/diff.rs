//! Comparing a normalised source manifest with the target's object. "Contained"
//! is the test: every field A sets must be in B with the same value; fields B's
//! API server defaulted on its own (newer versions add some) are not differences.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fields::{Owned, dropped_fields, fieldset_digest};
use crate::model::{GroupKind, ValueAt};

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

/// [`contains`], with B's copy as JSON text, read without building it as a
/// document: the comparison behind every `unchanged` of a re-plan, where
/// parsing and freeing B's documents cost more than the comparison itself.
pub fn contains_json(source: &Value, target: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(target);
    serde::de::DeserializeSeed::deserialize(Contained(source), &mut de).unwrap_or(false)
}

/// Reads one JSON value of B's copy, comparing it with A's value on the way.
struct Contained<'a>(&'a Value);

impl<'de> serde::de::DeserializeSeed<'de> for Contained<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        if self.0.is_null() {
            // A null in the source counts as absent: anything contains it.
            serde::de::IgnoredAny::deserialize(d)?;
            return Ok(true);
        }
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Contained<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<bool, E> {
        Ok(self.0.as_bool() == Some(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<bool, E> {
        Ok(self.0.is_number() && self.0.as_f64() == serde_json::Number::from(v).as_f64())
    }
    fn visit_u64<E>(self, v: u64) -> Result<bool, E> {
        Ok(self.0.is_number() && self.0.as_f64() == serde_json::Number::from(v).as_f64())
    }
    fn visit_f64<E>(self, v: f64) -> Result<bool, E> {
        Ok(self.0.is_number() && self.0.as_f64() == Some(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(self.0.as_str() == Some(v))
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        // The source's value is not null (see `deserialize`).
        Ok(false)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let source = self.0.as_array();
        let mut same = source.is_some();
        let mut n = 0;
        loop {
            let next = match source.and_then(|s| s.get(n)) {
                Some(a) => seq.next_element_seed(Contained(a))?,
                None => seq.next_element::<serde::de::IgnoredAny>()?.map(|_| false),
            };
            match next {
                Some(r) => same &= r,
                None => break,
            }
            n += 1;
        }
        Ok(same && source.is_some_and(|s| s.len() == n))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let source = self.0.as_object();
        let mut same = source.is_some();
        let mut found = 0;
        while let Some(key) = map.next_key_seed(Key)? {
            match source.and_then(|s| s.get(key.as_ref())) {
                Some(a) => {
                    same &= map.next_value_seed(Contained(a))?;
                    found += usize::from(!a.is_null());
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        // Every key the source sets (not null) must have been in B's map.
        let wanted = source.map_or(0, |s| s.values().filter(|v| !v.is_null()).count());
        Ok(same && found == wanted)
    }
}

/// A map key of B's copy, borrowed from the text when it has no escapes.
struct Key;

impl<'de> serde::de::DeserializeSeed<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v.to_string()))
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

/// What apply must do with one object, and for an update the fields it
/// removes from B because A no longer sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub action: Action,
    pub removes: Vec<String>,
}

/// B's copy of one object as a decision reads it, normalised like A's.
pub(crate) struct Held<'a> {
    /// abshift created it (it carries [`MIGRATED_FROM_LABEL`]).
    pub ours: bool,
    /// abshift's hold on it (`fields::owned`).
    pub owned: Option<&'a Owned>,
    /// The copy as the JSON text the planner packed it into
    /// (`assemble::TargetObject`), read by [`contains_json`].
    pub copy: &'a [u8],
}

/// Whether an object (B's copy) carries abshift's label.
pub(crate) fn is_ours(object: &Value) -> bool {
    object
        .at(&["metadata", "labels"])
        .and_then(|l| l.get(MIGRATED_FROM_LABEL))
        .is_some()
}

/// Decides what apply must do with one object. `target` is B's copy with
/// abshift's hold on it; `None` when B does not have the object. `digests`
/// compares Secret digests (source, target), since values are not in the
/// manifests. For an object abshift manages, the comparison is two-way: the
/// set of fields it wrote (stamped on B's copy) must still be A's set, else
/// B keeps fields A dropped.
pub(crate) fn action(
    gk: &GroupKind,
    source: &Value,
    target: Option<Held<'_>>,
    digests: Option<(&str, Option<&str>)>,
) -> Decision {
    let decided = |action| Decision {
        action,
        removes: Vec::new(),
    };
    let Some(target) = target else {
        return decided(Action::Create);
    };
    let (ours, owned) = (target.ours, target.owned);
    let same_data = digests.is_none_or(|(s, t)| Some(s) == t);
    let same_fields = match owned {
        Some(o) if ours => o.fieldset.as_deref() == Some(fieldset_digest(gk, source).as_str()),
        _ => true,
    };
    if same_data && same_fields && contains_json(source, target.copy) {
        return decided(Action::Unchanged);
    }
    if !ours {
        return decided(Action::Conflict);
    }
    Decision {
        action: Action::Update,
        removes: owned
            .filter(|_| !same_fields)
            .map(|o| dropped_fields(gk, &o.fields(), source))
            .unwrap_or_default(),
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
    fn containment_read_from_json_text_agrees_with_the_document_one() {
        let values = [
            json!(null),
            json!(true),
            json!(false),
            json!(1),
            json!(1.0),
            json!(-1),
            json!(2),
            json!(u64::MAX),
            json!("x"),
            json!("q\"uote\u{e9}"),
            json!([]),
            json!([1]),
            json!([1, 2]),
            json!([{"a": 1}, {"a": 2}]),
            json!([{"a": 1, "b": null}, {"a": 2, "c": 3}]),
            json!({}),
            json!({"a": null}),
            json!({"a": 1}),
            json!({"a": 1, "b": 2}),
            json!({"a": {"b": [1, {"c": "d"}]}}),
            json!({"a": {"b": [1, {"c": "d", "e": "f"}]}, "g": null}),
            json!({"es\"caped\nkey": 1}),
            json!({"es\"caped\nkey": 1, "z": {"y": []}}),
            json!({"metadata": {"name": "x", "labels": {"app": "a"}}, "data": {"k": "v"}}),
            json!({"metadata": {"name": "x", "labels": {"app": "a", "t": "1"}}, "data": {"k": "v"}}),
            json!({"metadata": {"name": "x"}, "data": {"k": "w"}}),
        ];
        for a in &values {
            for b in &values {
                let text = serde_json::to_vec(b).unwrap();
                assert_eq!(
                    contains_json(a, &text),
                    contains(a, b),
                    "contains({a}, {b}) read from text"
                );
            }
        }
    }

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

    fn act(src: &Value, target: Option<&Value>, digests: Option<(&str, Option<&str>)>) -> Action {
        let gk = GroupKind::core("ConfigMap");
        let owned = target.and_then(|t| {
            let l = crate::model::Listed::from(t.clone());
            crate::fields::owned(&l.object, l.managed.as_deref())
        });
        let text = target.map(|t| serde_json::to_vec(t).unwrap());
        let held = target.zip(text.as_deref()).map(|(t, copy)| Held {
            ours: is_ours(t),
            owned: owned.as_ref(),
            copy,
        });
        action(&gk, src, held, digests).action
    }

    #[test]
    fn actions() {
        let src = json!({"metadata": {"name": "x"}, "data": {"k": "v"}});
        assert_eq!(act(&src, None, None), Action::Create);
        assert_eq!(
            act(
                &src,
                Some(&json!({"metadata": {"name": "x", "uid": "u"}, "data": {"k": "v"}})),
                None
            ),
            Action::Unchanged
        );
        assert_eq!(
            act(
                &src,
                Some(&json!({"metadata": {"name": "x"}, "data": {"k": "w"}})),
                None
            ),
            Action::Conflict
        );
        let ours = json!({"metadata": {"name": "x", "labels": {MIGRATED_FROM_LABEL: "abc"}}, "data": {"k": "w"}});
        assert_eq!(act(&src, Some(&ours), None), Action::Update);
        assert_eq!(
            act(
                &src,
                Some(&json!({"metadata": {"name": "x"}, "data": {"k": "v"}})),
                Some(("d1", Some("d2")))
            ),
            Action::Conflict
        );
        assert_eq!(
            act(
                &src,
                Some(&json!({"metadata": {"name": "x"}, "data": {"k": "v"}})),
                Some(("d1", Some("d1")))
            ),
            Action::Unchanged
        );
    }

    #[test]
    fn a_key_dropped_in_a_is_an_update_that_removes_it() {
        let gk = GroupKind::core("ConfigMap");
        let before = json!({"metadata": {"name": "x"}, "data": {"k": "v", "old": "1"}});
        let now = json!({"metadata": {"name": "x"}, "data": {"k": "v"}});
        let b = json!({"metadata": {"name": "x",
            "labels": {MIGRATED_FROM_LABEL: "abc"},
            "annotations": {crate::fields::FIELDS_ANNOTATION: fieldset_digest(&gk, &before)},
            "managedFields": [{"manager": "abshift", "operation": "Update", "apiVersion": "v1",
                "fieldsV1": {"f:data": {".": {}, "f:k": {}, "f:old": {}}}}]},
            "data": {"k": "v", "old": "1"}});
        let listed = crate::model::Listed::from(b.clone());
        let owned = crate::fields::owned(&listed.object, listed.managed.as_deref());
        // One-way containment alone would call this unchanged.
        assert!(contains(&now, &b));
        let text = serde_json::to_vec(&b).unwrap();
        let held = || {
            Some(Held {
                ours: true,
                owned: owned.as_ref(),
                copy: &text,
            })
        };
        let d = action(&gk, &now, held(), None);
        assert_eq!(d.action, Action::Update);
        assert_eq!(d.removes, vec!["data.old"]);
        // Unchanged once A's field set is the one abshift wrote.
        let d = action(&gk, &before, held(), None);
        assert_eq!(d.action, Action::Unchanged);
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
