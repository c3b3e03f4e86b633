//! Which fields of an object in B are abshift's, so that removals in A reach B.
//! "A's fields are contained in B" cannot see a key A dropped; this module adds
//! the other direction for objects abshift manages: a digest of the set of
//! fields abshift sent (stamped on B's copy), the fields B says abshift owns
//! (managedFields), and the rewrite that lets server-side apply remove them.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::diff::{MIGRATED_FROM_LABEL, PLAN_ANNOTATION};
use crate::handover::HANDOVER_ANNOTATION;
use crate::model::{GroupKind, ManagedEntry};

/// Field manager abshift's writes are recorded under in B.
pub const FIELD_MANAGER: &str = "abshift";

/// Annotation on B's copy: digest of the set of fields abshift sent. When A's
/// manifest has another set, A added or dropped a field since.
pub const FIELDS_ANNOTATION: &str = "abshift.io/fields";

/// What B records of abshift's hold on one of its objects.
#[derive(Debug, Clone)]
pub struct Owned {
    /// abshift's `fieldsV1` sets as B returned them (JSON text): read only
    /// when an update must name what it removes ([`Owned::fields`]).
    pub fields_v1: Vec<Box<RawValue>>,
    /// True when every abshift entry is a server-side apply (operation Apply):
    /// then the fields are exactly what abshift sent. An entry of operation
    /// Update (a create by POST) also holds fields B defaulted on that create.
    pub apply_only: bool,
    /// The value of [`FIELDS_ANNOTATION`] on B's copy.
    pub fieldset: Option<String>,
}

impl Owned {
    /// The union of abshift's `fieldsV1` sets.
    pub fn fields(&self) -> Value {
        let mut fields = Value::Object(Map::new());
        for raw in &self.fields_v1 {
            if let Ok(f) = serde_json::from_str::<Value>(raw.get()) {
                union(&mut fields, &f);
            }
        }
        fields
    }
}

/// Reads abshift's ownership from an object's `managedFields` entries, for
/// objects that carry abshift's label and have entries recorded; `None`
/// otherwise.
pub fn owned(object: &Value, managed: Option<&[ManagedEntry]>) -> Option<Owned> {
    let meta = object.get("metadata")?;
    meta.get("labels")?.get(MIGRATED_FROM_LABEL)?;
    let managed = managed?;
    let mut fields_v1 = Vec::new();
    let mut apply_only = true;
    for entry in managed {
        if entry.manager.as_deref() != Some(FIELD_MANAGER) {
            continue;
        }
        if entry.operation.as_deref() != Some("Apply") {
            apply_only = false;
        }
        fields_v1.extend(entry.fields_v1.clone());
    }
    let fieldset = meta
        .get("annotations")
        .and_then(|a| a.get(FIELDS_ANNOTATION))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(Owned {
        fields_v1,
        apply_only,
        fieldset,
    })
}

fn union(into: &mut Value, from: &Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        for (k, v) in from {
            union(
                into.entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                v,
            );
        }
    }
}

/// Whether a path (as segments) is abshift's own bookkeeping or carries values
/// compared some other way, and so is not part of the field set.
fn excluded(gk: &GroupKind, path: &[&str]) -> bool {
    match path {
        ["metadata", "labels", MIGRATED_FROM_LABEL] => true,
        // abshift's bookkeeping, and the record of a hand-over (compared as resumed).
        [
            "metadata",
            "annotations",
            PLAN_ANNOTATION | FIELDS_ANNOTATION | HANDOVER_ANNOTATION,
        ] => true,
        // UIDs are B's, filled in at apply; A's references are compared whole.
        ["metadata", "ownerReferences", ..] => true,
        // Values never enter the plan; the Secret digest compares them.
        ["data" | "stringData", ..] => gk.group.is_empty() && gk.kind == "Secret",
        _ => false,
    }
}

/// Digest of the set of field paths of a manifest (values left out): what
/// apply stamps as [`FIELDS_ANNOTATION`] and the plan compares it with. Each
/// path is its segments, `~` and `/` escaped as in a JSON pointer, joined by
/// `/`; the digest is over the sorted paths, each followed by a newline.
pub fn fieldset_digest(gk: &GroupKind, manifest: &Value) -> String {
    let mut paths = Vec::new();
    leaf_paths(gk, manifest, &mut Vec::new(), &mut paths);
    paths.sort_unstable();
    let mut h = Sha256::new();
    for p in &paths {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    format!("sha256:{}", hex::encode(&h.finalize()[..16]))
}

/// Collects the escaped path of every leaf under `v`. Keys are borrowed from
/// the manifest; only list indices are written out.
fn leaf_paths<'a>(
    gk: &GroupKind,
    v: &'a Value,
    path: &mut Vec<Cow<'a, str>>,
    out: &mut Vec<String>,
) {
    // Every exclusion is decided within three segments; below that, an
    // excluded path would have been cut at its ancestor.
    if path.len() <= 3 {
        let mut segments = [""; 3];
        for (s, p) in segments.iter_mut().zip(path.iter()) {
            *s = p;
        }
        if excluded(gk, &segments[..path.len()]) {
            return;
        }
    }
    match v {
        Value::Null => {}
        Value::Object(m) if !m.is_empty() => {
            for (k, sub) in m {
                path.push(Cow::Borrowed(k));
                leaf_paths(gk, sub, path, out);
                path.pop();
            }
        }
        // Indices are not names: a shorter list changes the set too.
        Value::Array(items) if !items.is_empty() => {
            for (i, sub) in items.iter().enumerate() {
                path.push(Cow::Owned(i.to_string()));
                leaf_paths(gk, sub, path, out);
                path.pop();
            }
        }
        _ => out.push(escape_path(path)),
    }
}

fn escape_path(path: &[Cow<'_, str>]) -> String {
    let mut out = String::with_capacity(path.iter().map(|s| s.len() + 1).sum());
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        for c in segment.chars() {
            match c {
                '~' => out.push_str("~0"),
                '/' => out.push_str("~1"),
                c => out.push(c),
            }
        }
    }
    out
}

/// Fields abshift owns in B (`owned`, a `fieldsV1` set) that `source` (A's
/// manifest, as the plan holds it) no longer has, in a readable form such as
/// `data.old-key` or `spec.template.spec.containers[name=web].env[name=DEBUG]`.
pub fn dropped_fields(gk: &GroupKind, owned: &Value, source: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Value::Object(fields) = owned {
        walk(gk, fields, Some(source), &mut Vec::new(), &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn walk(
    gk: &GroupKind,
    fields: &Map<String, Value>,
    source: Option<&Value>,
    path: &mut Vec<String>,
    out: &mut Vec<String>,
) {
    for (k, sub) in fields {
        if k == "." {
            continue;
        }
        let (segment, child) = if let Some(name) = k.strip_prefix("f:") {
            (name.to_string(), source.and_then(|s| s.get(name)))
        } else if let Some(key) = k.strip_prefix("k:") {
            let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key) else {
                continue;
            };
            let shown: Vec<String> = key
                .iter()
                .map(|(f, v)| format!("{f}={}", v.as_str().map_or(v.to_string(), str::to_string)))
                .collect();
            let found = source.and_then(Value::as_array).and_then(|items| {
                items.iter().find(|item| {
                    key.iter()
                        .all(|(f, v)| item.get(f).is_some_and(|iv| same(iv, v)))
                })
            });
            (format!("[{}]", shown.join(",")), found)
        } else if let Some(value) = k.strip_prefix("v:") {
            let Ok(value) = serde_json::from_str::<Value>(value) else {
                continue;
            };
            let found = source
                .and_then(Value::as_array)
                .and_then(|items| items.iter().find(|i| same(i, &value)));
            (format!("[{value}]"), found)
        } else if let Some(index) = k.strip_prefix("i:") {
            let found = index
                .parse::<usize>()
                .ok()
                .and_then(|i| source.and_then(|s| s.get(i)));
            (format!("[{index}]"), found)
        } else {
            continue;
        };
        path.push(segment);
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        let is_field = k.starts_with("f:");
        let deeper = sub.as_object().filter(|d| d.keys().any(|k| k != "."));
        if !excluded(gk, &segments) {
            match (child.filter(|c| !c.is_null()), deeper) {
                (Some(child), Some(deeper)) => walk(gk, deeper, Some(child), path, out),
                (Some(_), None) => {}
                // A map A no longer has: name its fields (abshift's own stamps
                // stay out), not the map, which may hold only those stamps.
                (None, Some(deeper)) if is_field => walk(gk, deeper, None, path, out),
                (None, _) => out.push(readable(path)),
            }
        }
        path.pop();
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `data.key`, `metadata.labels["app.kubernetes.io/name"]`, `containers[name=web]`.
fn readable(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if seg.starts_with('[') {
            s.push_str(seg);
        } else if seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(seg);
        } else {
            s.push_str(&format!("[{}]", Value::String(seg.clone())));
        }
    }
    s
}

/// The `managedFields` B should hold before abshift's next server-side apply
/// at `api_version`: abshift's entries of operation Update (a create by POST)
/// merged into its Apply entry, so that the apply removes what A dropped (an
/// apply only removes fields its own manager applied before). `None` when
/// abshift holds no Update entry at that version: nothing to rewrite.
pub fn as_applied(managed_fields: &[Value], api_version: &str) -> Option<Vec<Value>> {
    let ours = |e: &Value| {
        e.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
            && e.get("apiVersion").and_then(Value::as_str) == Some(api_version)
    };
    let has_update = managed_fields
        .iter()
        .any(|e| ours(e) && e.get("operation").and_then(Value::as_str) == Some("Update"));
    if !has_update {
        return None;
    }
    let mut fields = Value::Object(Map::new());
    let mut time = None;
    let mut rest = Vec::new();
    for e in managed_fields {
        if ours(e) {
            if let Some(f) = e.get("fieldsV1") {
                union(&mut fields, f);
            }
            time = time.or_else(|| e.get("time").cloned());
        } else {
            rest.push(e.clone());
        }
    }
    let mut entry = serde_json::json!({
        "manager": FIELD_MANAGER,
        "operation": "Apply",
        "apiVersion": api_version,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if let Some(t) = time {
        entry["time"] = t;
    }
    rest.push(entry);
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm() -> GroupKind {
        GroupKind::core("ConfigMap")
    }

    #[test]
    fn the_field_set_changes_when_a_key_is_dropped_not_when_a_value_changes() {
        let a = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let b = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
        let c = json!({"metadata": {"name": "c"}, "data": {"a": "9", "b": "2"}});
        assert_ne!(fieldset_digest(&cm(), &a), fieldset_digest(&cm(), &b));
        assert_eq!(fieldset_digest(&cm(), &a), fieldset_digest(&cm(), &c));
        // abshift's own stamps are not part of it.
        let stamped = json!({"metadata": {"name": "c", "labels": {MIGRATED_FROM_LABEL: "x"},
            "annotations": {PLAN_ANNOTATION: "p", FIELDS_ANNOTATION: "f"}}, "data": {"a": "1", "b": "2"}});
        assert_eq!(fieldset_digest(&cm(), &a), fieldset_digest(&cm(), &stamped));
        // Secret values are compared by digest, not by field set.
        let s = GroupKind::core("Secret");
        assert_eq!(
            fieldset_digest(&s, &json!({"type": "Opaque", "data": {"x": "eA=="}})),
            fieldset_digest(&s, &json!({"type": "Opaque"}))
        );
        // A list that loses an element changes the set.
        let l1 = json!({"spec": {"ports": [{"port": 80}, {"port": 81}]}});
        let l2 = json!({"spec": {"ports": [{"port": 80}]}});
        assert_ne!(fieldset_digest(&cm(), &l1), fieldset_digest(&cm(), &l2));
    }

    #[test]
    fn dropped_fields_are_named() {
        let owned = json!({
            "f:data": {".": {}, "f:a": {}, "f:b": {}},
            "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:abshift.io/migrated-from": {}},
                           "f:annotations": {"f:abshift.io/plan": {}}},
            "f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:env": {
                    "k:{\"name\":\"DEBUG\"}": {".": {}, "f:name": {}, "f:value": {}},
                    "k:{\"name\":\"KEEP\"}": {".": {}, "f:name": {}, "f:value": {}}}},
                "k:{\"name\":\"gone\"}": {".": {}, "f:image": {}}}}
        });
        let source = json!({
            "metadata": {"name": "c"},
            "data": {"a": "1"},
            "spec": {"containers": [{"name": "web", "image": "x", "env": [{"name": "KEEP", "value": "1"}]}]}
        });
        assert_eq!(
            dropped_fields(&cm(), &owned, &source),
            vec![
                "data.b",
                "metadata.labels.app",
                "spec.containers[name=gone]",
                "spec.containers[name=web].env[name=DEBUG]",
            ]
        );
        let label = json!({"f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}}});
        assert_eq!(
            dropped_fields(&cm(), &label, &json!({})),
            vec!["metadata.labels[\"app.kubernetes.io/name\"]"]
        );
    }

    #[test]
    fn ownership_is_read_only_for_abshifts_objects() {
        let b = json!({"metadata": {"name": "c",
        "labels": {MIGRATED_FROM_LABEL: "x"},
        "annotations": {FIELDS_ANNOTATION: "sha256:1"},
        "managedFields": [
            {"manager": "abshift", "operation": "Update", "apiVersion": "v1", "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "abshift", "operation": "Apply", "apiVersion": "v1", "fieldsV1": {"f:data": {"f:b": {}}}},
            {"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsV1": {"f:data": {"f:c": {}}}}
        ]}});
        let listed = crate::model::Listed::from(b);
        let o = owned(&listed.object, listed.managed.as_deref()).unwrap();
        assert!(!o.apply_only);
        assert_eq!(o.fieldset.as_deref(), Some("sha256:1"));
        assert_eq!(o.fields(), json!({"f:data": {"f:a": {}, "f:b": {}}}));
        let unlabelled = json!({"metadata": {"name": "c"}});
        assert!(owned(&unlabelled, listed.managed.as_deref()).is_none());
        // No entries recorded: nothing to compare the field set with.
        assert!(owned(&listed.object, None).is_none());
    }

    #[test]
    fn update_entries_become_one_apply_entry() {
        let managed = vec![
            json!({"manager": "abshift", "operation": "Update", "apiVersion": "v1", "time": "t1", "fieldsV1": {"f:data": {"f:a": {}}}}),
            json!({"manager": "abshift", "operation": "Apply", "apiVersion": "v1", "fieldsV1": {"f:data": {"f:b": {}}}}),
            json!({"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "fieldsV1": {"f:status": {}}}),
        ];
        let out = as_applied(&managed, "v1").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["manager"], "kube-controller-manager");
        assert_eq!(out[1]["operation"], "Apply");
        assert_eq!(out[1]["time"], "t1");
        assert_eq!(
            out[1]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        assert!(as_applied(&managed[1..], "v1").is_none());
        assert!(as_applied(&managed, "v2").is_none());
    }

    /// The digest is stamped on objects in B and compared by later plans:
    /// its bytes must not change. Pinned over keys with `~` and `/`, lists,
    /// nulls, empty maps and lists, and every excluded path.
    #[test]
    fn the_field_set_digest_is_pinned() {
        let manifest = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "s",
                "labels": {MIGRATED_FROM_LABEL: "x", "app/name": "a", "t~x": "b"},
                "annotations": {PLAN_ANNOTATION: "p", FIELDS_ANNOTATION: "f", HANDOVER_ANNOTATION: "h", "keep": ""},
                "ownerReferences": [{"name": "o"}],
                "finalizers": ["a/b", "c"]
            },
            "data": {"k": "djE="},
            "spec": {"empty": {}, "none": null, "list": [], "items": [{"a": 1}, 2, [3, {"b": true}]]}
        });
        let secret = GroupKind::new("", "Secret");
        let map = GroupKind::new("", "ConfigMap");
        assert_eq!(
            fieldset_digest(&secret, &manifest),
            "sha256:52edd565fa28dc9fdcb1d3217aa5285a"
        );
        assert_eq!(
            fieldset_digest(&map, &manifest),
            "sha256:9fae9d2404a8774c2a8c1930c9bcb1d0"
        );
    }
}
