//! What must be known about Kubernetes versions that discovery cannot tell: the
//! version to read a kind at, how to rewrite an object for a version B serves,
//! which fields B no longer honours and which kinds B no longer has, as tables.

mod conversions;
mod crd;
mod hpa;
mod ingress;
mod psa;
mod rules;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_conversions;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{ObjectRef, split_api_version, str_at};
use crate::plan::{Finding, Severity};

pub use conversions::{CONVERSIONS, PDB_EMPTY_SELECTOR_MEANING};
pub use psa::{
    POD_SECURITY_LABEL_SUGGESTION, POD_SECURITY_POLICY_REMOVED, pod_security_suggestions,
};
pub use rules::OBJECT_RULES;

/// Versions to read a kind at, richest first, where A's preferred version would lose information.
#[derive(Debug)]
pub struct ReadPreference {
    pub id: &'static str,
    pub group: &'static str,
    pub kind: &'static str,
    pub versions: &'static [&'static str],
    pub reason: &'static str,
}

impl ReadPreference {
    pub fn what(&self) -> String {
        let gv: Vec<String> = self
            .versions
            .iter()
            .map(|v| crate::model::api_version(self.group, v))
            .collect();
        format!("{}: read at {}", self.kind, gv.join(", "))
    }
}

/// Read preferences, one row per kind.
pub const READ_PREFERENCES: &[ReadPreference] = &[ReadPreference {
    id: "hpa-read-richest",
    group: "autoscaling",
    kind: "HorizontalPodAutoscaler",
    versions: &["v2", "v2beta2", "v2beta1", "v1"],
    reason: "autoscaling/v1, the preferred version up to 1.22, has only a CPU target: other metrics and the scaling behavior survive there only as annotations, so read the richest version A serves and never write v1 when that would drop metrics",
}];

/// The read preference for a kind, if A's preferred version is not good enough.
pub fn read_preference(group: &str, kind: &str) -> Option<&'static ReadPreference> {
    READ_PREFERENCES
        .iter()
        .find(|p| p.group == group && p.kind == kind)
}

/// Rewrites a manifest in place from one apiVersion's schema to another's.
/// Findings it returns may leave `rule` empty: `convert` fills in the row's id.
pub type ConvertFn = fn(&mut Value) -> Vec<Finding>;

/// Converting a whole object from one apiVersion to another (the group may
/// change: extensions -> networking.k8s.io).
#[derive(Debug)]
pub struct Conversion {
    pub id: &'static str,
    pub kind: &'static str,
    /// apiVersion read from A.
    pub from: &'static str,
    /// apiVersion written to B.
    pub to: &'static str,
    pub reason: &'static str,
    pub apply: ConvertFn,
}

impl Conversion {
    pub fn what(&self) -> String {
        format!("{} {} -> {}", self.kind, self.from, self.to)
    }
}

/// The conversion from `from_api_version` to the first of `targets` (B's served
/// apiVersions for that kind, in B's preference order) that has a row.
pub fn find_conversion(
    kind: &str,
    from_api_version: &str,
    targets: &[String],
) -> Option<&'static Conversion> {
    targets.iter().find_map(|to| {
        CONVERSIONS
            .iter()
            .find(|c| c.kind == kind && c.from == from_api_version && c.to == to)
    })
}

/// What an object rule did to one manifest.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RuleOutcome {
    /// The manifest was changed (the rule id is then recorded for the object).
    pub changed: bool,
    /// Findings with `rule` left empty are given the rule's id.
    pub findings: Vec<Finding>,
}

/// Applies a rule to a manifest for a target of the given minor version.
pub type RuleFn = fn(&mut Value, u32) -> RuleOutcome;

/// A rewrite of one object whatever its version: v1beta1-era CRDs, fields
/// B's version no longer honours.
#[derive(Debug)]
pub struct ObjectRule {
    pub id: &'static str,
    /// Group of the first kind the rule applies to ("" is the core group).
    pub group: &'static str,
    pub kind: &'static str,
    /// Further (group, kind) pairs the rule applies to.
    pub also: &'static [(&'static str, &'static str)],
    /// Applies from this target minor version on; None: to every target.
    pub since_minor: Option<u32>,
    pub reason: &'static str,
    pub apply: RuleFn,
}

impl ObjectRule {
    pub fn applies_to(&self, group: &str, kind: &str) -> bool {
        (self.group == group && self.kind == kind)
            || self.also.iter().any(|(g, k)| *g == group && *k == kind)
    }

    pub fn applies_at(&self, target_minor: u32) -> bool {
        self.since_minor.is_none_or(|m| target_minor >= m)
    }

    pub fn what(&self) -> String {
        let kinds: Vec<String> = std::iter::once((self.group, self.kind))
            .chain(self.also.iter().copied())
            .map(|(g, k)| crate::model::GroupKind::new(g, k).to_string())
            .collect();
        match self.since_minor {
            Some(m) => format!("{} (B >= 1.{m})", kinds.join(", ")),
            None => kinds.join(", "),
        }
    }
}

/// A kind a newer Kubernetes no longer serves at all, with its replacement.
#[derive(Debug)]
pub struct RemovedKind {
    pub id: &'static str,
    pub group: &'static str,
    pub kind: &'static str,
    /// First minor version (1.x) that no longer serves it.
    pub removed_in: u32,
    pub replacement: &'static str,
    pub reason: &'static str,
}

impl RemovedKind {
    pub fn what(&self) -> String {
        format!(
            "{} (gone in 1.{}) -> {}",
            crate::model::GroupKind::new(self.group, self.kind),
            self.removed_in,
            self.replacement
        )
    }
}

/// Kinds without a successor kind, one row per group that served them.
pub const REMOVED_KINDS: &[RemovedKind] = &[
    RemovedKind {
        id: "psp-policy-removed",
        group: "policy",
        kind: "PodSecurityPolicy",
        removed_in: 25,
        replacement: "Pod Security Admission: pod-security.kubernetes.io/enforce labels on namespaces",
        reason: "PodSecurityPolicy was removed in 1.25 with no successor kind; the built-in Pod Security Admission enforces a level per namespace instead (see the pod-security-label-suggestion findings)",
    },
    RemovedKind {
        id: "psp-extensions-removed",
        group: "extensions",
        kind: "PodSecurityPolicy",
        removed_in: 16,
        replacement: "policy/v1beta1 PodSecurityPolicy up to 1.24, then Pod Security Admission namespace labels",
        reason: "extensions/v1beta1 stopped serving PodSecurityPolicy in 1.16; the same object lived on in policy/v1beta1 until 1.25 removed the kind",
    },
];

/// The removal row for a kind, whatever the target version (compare `removed_in`).
pub fn removed_kind(group: &str, kind: &str) -> Option<&'static RemovedKind> {
    REMOVED_KINDS
        .iter()
        .find(|r| r.group == group && r.kind == kind)
}

/// What a conversion and the object rules did to one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// apiVersion written to B.
    pub api_version: String,
    /// Ids of the conversion row and of every object rule that changed the manifest.
    pub rules: Vec<&'static str>,
    /// Findings with `object` left None: the caller fills in the ObjectRef.
    pub findings: Vec<Finding>,
}

/// Converts `manifest` (read from A at its own apiVersion) for B: the
/// conversion row, if any, then every object rule for its kind and
/// `target_minor`. Sets `apiVersion`. Whatever cannot be carried over is a finding.
pub fn convert(
    manifest: &mut Value,
    conversion: Option<&Conversion>,
    target_minor: u32,
) -> Converted {
    let mut out = Converted {
        api_version: String::new(),
        rules: Vec::new(),
        findings: Vec::new(),
    };
    if let Some(c) = conversion {
        let api_version = str_at(manifest, &["apiVersion"]).unwrap_or("");
        let kind = str_at(manifest, &["kind"]).unwrap_or("");
        if api_version == c.from && kind == c.kind {
            let findings = (c.apply)(manifest);
            out.findings.extend(with_rule(findings, c.id));
            if let Some(m) = manifest.as_object_mut() {
                m.insert("apiVersion".into(), Value::String(c.to.to_string()));
            }
            out.rules.push(c.id);
        } else {
            out.findings.push(Finding {
                rule: c.id.to_string(),
                severity: Severity::Error,
                object: None,
                message: format!(
                    "conversion {} is for {} {} but the object is {} {}; it was not converted",
                    c.id, c.kind, c.from, kind, api_version
                ),
                why: "the planner chose a conversion row that does not match the object".into(),
                action: "report this as a bug in abshift".into(),
            });
        }
    }
    let (group, kind) = {
        let api_version = str_at(manifest, &["apiVersion"]).unwrap_or("");
        let kind = str_at(manifest, &["kind"]).unwrap_or("");
        (
            split_api_version(api_version).0.to_string(),
            kind.to_string(),
        )
    };
    for rule in OBJECT_RULES {
        if !rule.applies_to(&group, &kind) || !rule.applies_at(target_minor) {
            continue;
        }
        let outcome = (rule.apply)(manifest, target_minor);
        if outcome.changed {
            out.rules.push(rule.id);
        }
        out.findings.extend(with_rule(outcome.findings, rule.id));
    }
    out.api_version = str_at(manifest, &["apiVersion"]).unwrap_or("").to_string();
    out
}

fn with_rule(findings: Vec<Finding>, id: &str) -> impl Iterator<Item = Finding> {
    findings.into_iter().map(move |mut f| {
        if f.rule.is_empty() {
            f.rule = id.to_string();
        }
        f
    })
}

/// One row of any of the four tables, for `abshift rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Described {
    /// `read-preference`, `conversion`, `object-rule` or `removed-kind`.
    pub table: &'static str,
    pub id: &'static str,
    /// From -> to, or the kinds a rule applies to.
    pub what: String,
    pub reason: &'static str,
}

/// Every row of the four tables, in table order.
pub fn describe() -> Vec<Described> {
    let reads = READ_PREFERENCES.iter().map(|r| Described {
        table: "read-preference",
        id: r.id,
        what: r.what(),
        reason: r.reason,
    });
    let conversions = CONVERSIONS.iter().map(|c| Described {
        table: "conversion",
        id: c.id,
        what: c.what(),
        reason: c.reason,
    });
    let rules = OBJECT_RULES.iter().map(|r| Described {
        table: "object-rule",
        id: r.id,
        what: r.what(),
        reason: r.reason,
    });
    let removed = REMOVED_KINDS.iter().map(|r| Described {
        table: "removed-kind",
        id: r.id,
        what: r.what(),
        reason: r.reason,
    });
    reads
        .chain(conversions)
        .chain(rules)
        .chain(removed)
        .collect()
}

// ---- helpers shared by the submodules -------------------------------------

/// A finding about the object being converted; `convert` fills in the rule id
/// (left empty here) and the caller the object.
fn note(severity: Severity, message: String, why: &str, action: &str) -> Finding {
    Finding {
        rule: String::new(),
        severity,
        object: None,
        message,
        why: why.to_string(),
        action: action.to_string(),
    }
}

/// The ObjectRef of a manifest, from its own apiVersion, kind, namespace and name.
fn object_ref(manifest: &Value) -> ObjectRef {
    ObjectRef {
        api_version: str_at(manifest, &["apiVersion"]).unwrap_or("").to_string(),
        kind: str_at(manifest, &["kind"]).unwrap_or("").to_string(),
        namespace: str_at(manifest, &["metadata", "namespace"]).map(str::to_string),
        name: str_at(manifest, &["metadata", "name"])
            .unwrap_or("")
            .to_string(),
    }
}

/// The object at `key` of `map`, created empty when absent or null. None when
/// something else than an object is there.
fn child_map<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let slot = map.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Every object in the array at `key` of `value`, mutably (none when absent).
fn items_mut<'a>(value: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    value
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// Sets `key` to `value` unless it is already present (and not null); true when set.
fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) -> bool {
    match map.get(key) {
        Some(v) if !v.is_null() => false,
        _ => {
            map.insert(key.to_string(), value);
            true
        }
    }
}

/// Renames `from` to `to` in an object, unless `to` is already set; true when moved.
fn rename(map: &mut Map<String, Value>, from: &str, to: &str) -> bool {
    if map.contains_key(to) {
        return false;
    }
    match map.remove(from) {
        Some(v) => {
            map.insert(to.to_string(), v);
            true
        }
        None => false,
    }
}

/// A label selector that selects nothing in particular: no matchLabels and no matchExpressions.
fn selector_is_empty(selector: &Value) -> bool {
    let empty = |k: &str| match selector.get(k) {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    selector.is_object() && empty("matchLabels") && empty("matchExpressions")
}

/// `metadata.name` of a manifest, for messages.
fn name_of(manifest: &Value) -> &str {
    str_at(manifest, &["metadata", "name"]).unwrap_or("")
}
