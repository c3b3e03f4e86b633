//! Partial plans: which objects a selection (namespaces, a label selector, a
//! stack) takes, and the cluster-scoped objects it must pull in to work in B.
//! Pure, with the one label matcher (kubectl syntax, LabelSelector, Service).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::graph::{self, Reference};
use crate::model::{ObjectKey, ObjectRef, meta_map};
use crate::plan::{ExtraObject, PulledIn};

/// A label selector, evaluated locally: from kubectl's syntax (`-l`, so that one
/// list serves both the selection and the "does it exist at all" lookups), from
/// a Kubernetes `LabelSelector` object (PodDisruptionBudgets, workloads) or from
/// a Service's map selector. All three match the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "label selector '{selector}' is not valid: {detail} (kubectl syntax: k=v, k!=v, k in (a,b), k notin (a,b), k, !k; comma separated)"
)]
pub struct SelectorError {
    pub selector: String,
    pub detail: String,
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let err = |detail: String| SelectorError {
            selector: text.to_string(),
            detail,
        };
        let mut requirements = Vec::new();
        for part in split_top_level(text).map_err(err)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(err("empty requirement".into()));
            }
            requirements.push(parse_requirement(part).map_err(err)?);
        }
        Ok(LabelSelector { requirements })
    }

    pub(crate) fn matches_labels(&self, labels: &BTreeMap<&str, &str>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k.as_str()) == Some(&v.as_str()),
            Requirement::NotEquals(k, v) => labels.get(k.as_str()) != Some(&v.as_str()),
            Requirement::In(k, set) => labels.get(k.as_str()).is_some_and(|v| set.contains(*v)),
            Requirement::NotIn(k, set) => labels.get(k.as_str()).is_none_or(|v| !set.contains(*v)),
            Requirement::Exists(k) => labels.contains_key(k.as_str()),
            Requirement::NotExists(k) => !labels.contains_key(k.as_str()),
        })
    }

    /// Matches the object's `metadata.labels`.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.matches_labels(&string_labels(meta_map(object, "labels")))
    }

    /// Matches a labels map as manifests hold it (a pod template's
    /// `metadata.labels`); values that are not strings count as absent.
    pub(crate) fn matches_map(&self, labels: &Map<String, Value>) -> bool {
        self.matches_labels(&string_labels(Some(labels)))
    }

    /// A Kubernetes `LabelSelector` object: `matchLabels` and `matchExpressions`
    /// (In, NotIn, Exists, DoesNotExist), all of which must hold. `None` when it
    /// is malformed: not an object, `matchLabels` not a map of strings, or an
    /// expression without a key or with another operator. A `matchExpressions`
    /// that is not a list, and `values` that are not strings, are ignored.
    pub(crate) fn from_object(selector: &Value) -> Option<Self> {
        let selector = selector.as_object()?;
        let mut requirements = match selector.get("matchLabels") {
            Some(labels) => Self::from_map(labels.as_object()?)?.requirements,
            None => Vec::new(),
        };
        let expressions = selector.get("matchExpressions").and_then(Value::as_array);
        for e in expressions.into_iter().flatten() {
            let key = e.get("key").and_then(Value::as_str)?.to_string();
            let values = || -> BTreeSet<String> {
                e.get("values")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            };
            requirements.push(match e.get("operator").and_then(Value::as_str)? {
                "In" => Requirement::In(key, values()),
                "NotIn" => Requirement::NotIn(key, values()),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::NotExists(key),
                _ => return None,
            });
        }
        Some(LabelSelector { requirements })
    }

    /// A map selector, as Services (and ReplicationControllers) have: every key
    /// must carry its value. `None` when a value is not a string.
    pub(crate) fn from_map(selector: &Map<String, Value>) -> Option<Self> {
        let requirements = selector
            .iter()
            .map(|(k, v)| Some(Requirement::Equals(k.clone(), v.as_str()?.to_string())))
            .collect::<Option<Vec<_>>>()?;
        Some(LabelSelector { requirements })
    }

    /// No requirement at all: matches everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// The string-valued entries of a labels map.
fn string_labels(labels: Option<&Map<String, Value>>) -> BTreeMap<&str, &str> {
    labels
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        .collect()
}

/// Splits on commas that are not inside `( … )`.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ')'".into());
                }
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let key_ok = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    let checked = |k: &str| -> Result<String, String> {
        if key_ok(k) {
            Ok(k.to_string())
        } else {
            Err(format!("'{k}' is not a label key"))
        }
    };
    if let Some(k) = part.strip_prefix('!') {
        return Ok(Requirement::NotExists(checked(k.trim())?));
    }
    for (op, neg) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (checked(k.trim())?, v.trim().to_string());
            if v.contains(['=', '!', '(', ')', ' ']) {
                return Err(format!("'{v}' is not a label value"));
            }
            return Ok(if neg {
                Requirement::NotEquals(k, v)
            } else {
                Requirement::Equals(k, v)
            });
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let key = checked(words[0])?;
        let rest = words[1].trim();
        let (negated, list) = if let Some(l) = rest.strip_prefix("notin") {
            (true, l)
        } else if let Some(l) = rest.strip_prefix("in") {
            (false, l)
        } else {
            return Err(format!("expected 'in' or 'notin' after '{key}'"));
        };
        let inner = list
            .trim()
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| format!("expected '(v1,v2)' after '{key}'"))?;
        let set: BTreeSet<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
        return Ok(if negated {
            Requirement::NotIn(key, set)
        } else {
            Requirement::In(key, set)
        });
    }
    Ok(Requirement::Exists(checked(part)?))
}

/// What a partial selection takes directly, before any closure.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Namespaces chosen with `-n` or by the stack; empty means "any namespace".
    pub namespaces: BTreeSet<String>,
    pub exclude_namespaces: BTreeSet<String>,
    pub selector: Option<LabelSelector>,
    pub extra_objects: Vec<ExtraObject>,
}

impl Scope {
    /// Is this object itself part of the selection (not merely needed by it)?
    pub fn selects(&self, key: &ObjectKey, object: &Value) -> bool {
        if self.extra_objects.iter().any(|e| extra_matches(e, key)) {
            return true;
        }
        let own_ns = match (
            &key.namespace,
            key.gk.group.is_empty() && key.gk.kind == "Namespace",
        ) {
            (Some(ns), _) => Some(ns.as_str()),
            (None, true) => Some(key.name.as_str()),
            (None, false) => None,
        };
        if let Some(ns) = own_ns
            && self.exclude_namespaces.contains(ns)
        {
            return false;
        }
        let label_ok = || self.selector.as_ref().is_none_or(|s| s.matches(object));
        match own_ns {
            Some(ns) if !self.namespaces.is_empty() => self.namespaces.contains(ns) && label_ok(),
            // Without namespaces, a label selector picks objects anywhere, cluster-scoped too.
            _ if self.namespaces.is_empty() => self.selector.is_some() && label_ok(),
            _ => false,
        }
    }
}

fn extra_matches(e: &ExtraObject, key: &ObjectKey) -> bool {
    e.kind.eq_ignore_ascii_case(&key.gk.kind)
        && e.group.as_deref().is_none_or(|g| g == key.gk.group)
        && e.namespace == key.namespace
        && e.name == key.name
}

/// Why a cluster-scoped object comes along with a partial plan. Forward rules
/// follow a reference from a selected object; reverse rules find cluster-scoped
/// objects that point into the selection. Reference reasons come from `graph`.
pub const CLOSURE_RULES: &[(&str, &str)] = &[
    (
        "namespace",
        "the Namespace of a selected object (created before anything in it)",
    ),
    (
        "role",
        "the ClusterRole a selected RoleBinding (or a pulled-in ClusterRoleBinding) grants",
    ),
    (
        "defined by CRD",
        "the CustomResourceDefinition of a selected custom resource",
    ),
    (
        "storage class",
        "the StorageClass of a selected PVC or volumeClaimTemplate",
    ),
    (
        "priority class",
        "the PriorityClass a selected pod template uses",
    ),
    (
        "runtime class",
        "the RuntimeClass a selected pod template uses",
    ),
    ("ingress class", "the IngressClass a selected Ingress names"),
    ("owner", "a cluster-scoped owner of a selected object"),
    (
        "binds a selected service account",
        "a ClusterRoleBinding with a ServiceAccount of the selection among its subjects",
    ),
    (
        "serves from the selection",
        "a webhook configuration, APIService or CRD conversion webhook whose Service is in the selection",
    ),
];

/// Reverse references: cluster-scoped objects that name a namespaced object of
/// the selection. Only these `graph` reasons count; the value is the rule id.
const REVERSE: &[(&str, &str)] = &[
    ("subject", "binds a selected service account"),
    ("webhook service", "serves from the selection"),
    ("backing service", "serves from the selection"),
    ("conversion webhook service", "serves from the selection"),
];

/// The selection closed over what it needs: for every object, `None` when it
/// is left out, `Some(vec![])` when selected directly, and `Some(reasons)` when
/// pulled in. Only objects with `pulls` set pull others in.
pub(crate) fn closure(
    nodes: &[(ObjectKey, &str, &Value)],
    selected: &[bool],
    pulls: &[bool],
    as_ref: impl Fn(usize) -> ObjectRef,
) -> Vec<Option<Vec<PulledIn>>> {
    let index: HashMap<&ObjectKey, usize> =
        nodes.iter().enumerate().map(|(i, n)| (&n.0, i)).collect();
    let resolve = |r: &Reference| -> Option<usize> {
        index.get(&r.target).copied().or_else(|| {
            r.scope_unknown
                .then(|| {
                    index
                        .get(&ObjectKey {
                            namespace: None,
                            ..r.target.clone()
                        })
                        .copied()
                })
                .flatten()
        })
    };
    let mut out: Vec<Option<Vec<PulledIn>>> = selected.iter().map(|&s| s.then(Vec::new)).collect();
    let mut work: Vec<usize> = (0..nodes.len())
        .filter(|&i| selected[i] && pulls[i])
        .collect();

    // Reverse rules: cluster-scoped objects pointing at a selected namespaced object.
    for (i, (key, plural, manifest)) in nodes.iter().enumerate() {
        if key.namespace.is_some() || selected[i] || !pulls[i] {
            continue;
        }
        for r in graph::references(&key.gk, plural, manifest) {
            let Some(rule) = REVERSE.iter().find(|(why, _)| *why == r.why).map(|x| x.1) else {
                continue;
            };
            if let Some(j) = resolve(&r).filter(|&j| selected[j]) {
                let reasons = out[i].get_or_insert_with(|| {
                    work.push(i);
                    Vec::new()
                });
                reasons.push(PulledIn {
                    by: as_ref(j),
                    reason: rule.to_string(),
                });
            }
        }
    }
    // Forward rules, transitively: what included objects need that is cluster-scoped.
    while let Some(i) = work.pop() {
        let (key, plural, manifest) = &nodes[i];
        for r in graph::references(&key.gk, plural, manifest) {
            let Some(j) = resolve(&r) else { continue };
            if j == i || nodes[j].0.namespace.is_some() || selected[j] {
                continue;
            }
            let reasons = out[j].get_or_insert_with(|| {
                if pulls[j] {
                    work.push(j);
                }
                Vec::new()
            });
            reasons.push(PulledIn {
                by: as_ref(i),
                reason: r.why.to_string(),
            });
        }
    }
    for reasons in out.iter_mut().flatten() {
        reasons.sort();
        reasons.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GroupKind;
    use serde_json::json;

    fn labels(pairs: &[(&'static str, &'static str)]) -> BTreeMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn selector_syntax() {
        let s = LabelSelector::parse("team=shop, tier!=cache,env in (prod, stage),!legacy,app")
            .unwrap();
        assert!(s.matches_labels(&labels(&[("team", "shop"), ("env", "prod"), ("app", "x")])));
        assert!(!s.matches_labels(&labels(&[("team", "shop"), ("env", "dev"), ("app", "x")])));
        assert!(!s.matches_labels(&labels(&[
            ("team", "shop"),
            ("env", "prod"),
            ("app", "x"),
            ("legacy", "1")
        ])));
        assert!(!s.matches_labels(&labels(&[
            ("team", "shop"),
            ("env", "prod"),
            ("app", "x"),
            ("tier", "cache")
        ])));
        let n = LabelSelector::parse("env notin (prod),team==a").unwrap();
        assert!(n.matches_labels(&labels(&[("team", "a")])));
        assert!(!n.matches_labels(&labels(&[("team", "a"), ("env", "prod")])));
        for bad in ["", "a=b,", "env in prod", "env in (a", "a=b=c", "x y"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_selector_objects_and_map_selectors() {
        let labels = json!({"app": "db", "tier": "data", "n": 1});
        let labels = labels.as_object().unwrap();
        let sel = |v: Value| LabelSelector::from_object(&v);
        let matches = |v: Value| sel(v).map(|s| s.matches_map(labels));
        assert_eq!(matches(json!({"matchLabels": {"app": "db"}})), Some(true));
        assert_eq!(matches(json!({"matchLabels": {"app": "web"}})), Some(false));
        assert_eq!(
            matches(json!({"matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["data", "cache"]},
                {"key": "zone", "operator": "DoesNotExist"},
                {"key": "app", "operator": "NotIn", "values": ["web"]},
                {"key": "app", "operator": "Exists"}]})),
            Some(true)
        );
        // A label whose value is not a string counts as absent.
        assert_eq!(
            matches(json!({"matchExpressions": [{"key": "n", "operator": "Exists"}]})),
            Some(false)
        );
        // `values` that is not a list matches nothing with In.
        assert_eq!(
            matches(
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": "db"}]})
            ),
            Some(false)
        );
        // Malformed: None, whatever the labels.
        for bad in [
            json!("x"),
            json!({"matchLabels": "x"}),
            json!({"matchLabels": {"app": 1}}),
            json!({"matchExpressions": [{"operator": "In"}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Weird"}]}),
        ] {
            assert_eq!(matches(bad.clone()), None, "{bad}");
        }
        assert!(
            sel(json!({"matchLabels": {}, "matchExpressions": []}))
                .unwrap()
                .is_empty()
        );
        let service = json!({"app": "db"});
        let s = LabelSelector::from_map(service.as_object().unwrap()).unwrap();
        assert!(s.matches_map(labels) && !s.is_empty());
        assert!(LabelSelector::from_map(json!({"a": true}).as_object().unwrap()).is_none());
    }

    fn key(group: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey::new(GroupKind::new(group, kind), ns, name)
    }

    #[test]
    fn closure_pulls_exactly_what_the_selection_needs() {
        let objs = [
            (
                key("", "Namespace", None, "shop"),
                "namespaces",
                json!({"metadata": {"name": "shop"}}),
            ),
            (
                key("", "Namespace", None, "other"),
                "namespaces",
                json!({"metadata": {"name": "other"}}),
            ),
            (
                key("", "ServiceAccount", Some("shop"), "api"),
                "serviceaccounts",
                json!({"metadata": {"name": "api", "namespace": "shop"}}),
            ),
            (
                key(
                    "rbac.authorization.k8s.io",
                    "ClusterRoleBinding",
                    None,
                    "api-reader",
                ),
                "clusterrolebindings",
                json!({"metadata": {"name": "api-reader"},
                       "roleRef": {"kind": "ClusterRole", "name": "reader"},
                       "subjects": [{"kind": "ServiceAccount", "name": "api", "namespace": "shop"}]}),
            ),
            (
                key("rbac.authorization.k8s.io", "ClusterRole", None, "reader"),
                "clusterroles",
                json!({"metadata": {"name": "reader"}}),
            ),
            (
                key(
                    "rbac.authorization.k8s.io",
                    "ClusterRole",
                    None,
                    "unrelated",
                ),
                "clusterroles",
                json!({"metadata": {"name": "unrelated"}}),
            ),
            (
                key("storage.k8s.io", "StorageClass", None, "ssd"),
                "storageclasses",
                json!({"metadata": {"name": "ssd"}}),
            ),
            (
                key("", "PersistentVolumeClaim", Some("shop"), "data"),
                "persistentvolumeclaims",
                json!({"metadata": {"name": "data", "namespace": "shop"}, "spec": {"storageClassName": "ssd"}}),
            ),
            (
                key(
                    "admissionregistration.k8s.io",
                    "ValidatingWebhookConfiguration",
                    None,
                    "policy",
                ),
                "validatingwebhookconfigurations",
                json!({"metadata": {"name": "policy"}, "webhooks": [{"clientConfig": {"service": {"namespace": "other", "name": "svc"}}}]}),
            ),
        ];
        let nodes: Vec<(ObjectKey, &str, &Value)> =
            objs.iter().map(|(k, p, v)| (k.clone(), *p, v)).collect();
        let scope = Scope {
            namespaces: ["shop".to_string()].into(),
            ..Default::default()
        };
        let selected: Vec<bool> = nodes.iter().map(|(k, _, v)| scope.selects(k, v)).collect();
        let refs = |i: usize| ObjectRef {
            api_version: "v1".into(),
            kind: nodes[i].0.gk.kind.clone(),
            namespace: nodes[i].0.namespace.clone(),
            name: nodes[i].0.name.clone(),
        };
        let c = closure(&nodes, &selected, &vec![true; nodes.len()], refs);
        let included: Vec<&str> = c
            .iter()
            .enumerate()
            .filter(|(_, x)| x.is_some())
            .map(|(i, _)| nodes[i].0.name.as_str())
            .collect();
        assert_eq!(
            included,
            ["shop", "api", "api-reader", "reader", "ssd", "data"]
        );
        assert_eq!(
            c[0].as_ref().unwrap().len(),
            0,
            "a selected namespace is not pulled in"
        );
        assert_eq!(
            c[3].as_ref().unwrap()[0].reason,
            "binds a selected service account"
        );
        assert_eq!(c[4].as_ref().unwrap()[0].reason, "role");
        assert_eq!(c[4].as_ref().unwrap()[0].by.name, "api-reader");
        assert_eq!(c[6].as_ref().unwrap()[0].reason, "storage class");
    }

    #[test]
    fn label_selection_without_namespaces_pulls_in_namespaces() {
        let scope = Scope {
            selector: Some(LabelSelector::parse("app=web").unwrap()),
            ..Default::default()
        };
        let web = json!({"metadata": {"name": "w", "namespace": "n", "labels": {"app": "web"}}});
        let other = json!({"metadata": {"name": "o", "namespace": "n"}});
        let ns = json!({"metadata": {"name": "n"}});
        assert!(scope.selects(&key("", "ConfigMap", Some("n"), "w"), &web));
        assert!(!scope.selects(&key("", "ConfigMap", Some("n"), "o"), &other));
        assert!(!scope.selects(&key("", "Namespace", None, "n"), &ns));
        let nodes = vec![
            (key("", "ConfigMap", Some("n"), "w"), "configmaps", &web),
            (key("", "Namespace", None, "n"), "namespaces", &ns),
        ];
        let c = closure(&nodes, &[true, false], &[true, true], |i| ObjectRef {
            api_version: "v1".into(),
            kind: nodes[i].0.gk.kind.clone(),
            namespace: nodes[i].0.namespace.clone(),
            name: nodes[i].0.name.clone(),
        });
        assert_eq!(c[1].as_ref().unwrap()[0].reason, "namespace");
    }

    #[test]
    fn excluded_namespaces_and_extra_objects() {
        let scope = Scope {
            namespaces: ["a".to_string()].into(),
            exclude_namespaces: ["a".to_string()].into(),
            extra_objects: vec![ExtraObject {
                kind: "configmap".into(),
                group: None,
                namespace: Some("shared".into()),
                name: "ca".into(),
            }],
            ..Default::default()
        };
        assert!(!scope.selects(&key("", "Secret", Some("a"), "s"), &json!({})));
        assert!(scope.selects(&key("", "ConfigMap", Some("shared"), "ca"), &json!({})));
        assert!(!scope.selects(&key("", "ConfigMap", Some("shared"), "other"), &json!({})));
    }
}
