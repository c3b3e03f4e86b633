//! Preflight's reference checks: every Secret, ConfigMap and ServiceAccount a
//! planned object names (pod specs through `podspec::POD_SPEC_REFS`, Ingress
//! TLS, binding subjects), and where the planner says each one stands.

use std::collections::BTreeMap;

use serde_json::Value;

use super::object::Obj;
use super::rules::{MISSING_OPTIONAL_REFERENCE, MISSING_REFERENCE, REFERENCE_OUTSIDE_SELECTION};
use crate::model::{GroupKind, ObjectKey, ValueAt, array_items as array, str_at};
use crate::plan::Finding;
use crate::podspec;

/// Where an object that a planned manifest refers to stands, as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Planned: it will be created in B before the object that needs it.
    InPlan,
    /// Exists in A but the selection leaves it out.
    OutsideSelection,
    /// Skipped because B's own controllers or API server recreate it
    /// (ServiceAccount `default`, its token, `kube-root-ca.crt`).
    RecreatedInB,
    /// Read namespace, no such object: the reference is dangling already in A.
    Missing,
    /// Its namespace was not read, so nothing is known.
    NotListed,
}

/// The core kinds whose references preflight judges itself (missing, optional,
/// outside the selection). References to other kinds become `missing-dependency`
/// findings in the planner, from the graph.
const CHECKED_KINDS: &[&str] = &["Secret", "ConfigMap", "ServiceAccount"];

/// A reference found in a manifest: target, the field naming it, optional or not.
struct Ref {
    target: ObjectKey,
    field: String,
    optional: bool,
}

/// Judges the references of one planned object: one finding per target that is
/// missing or outside the selection, naming every field that refers to it.
pub(super) fn check(
    obj: &Obj,
    gk: &GroupKind,
    m: &Value,
    specs: &[(String, &Value)],
    presence: &dyn Fn(&ObjectKey) -> Presence,
    out: &mut Vec<Finding>,
) {
    let ns = str_at(m, &["metadata", "namespace"]);
    let mut refs = Vec::new();
    for (path, spec) in specs {
        for f in podspec::references(spec) {
            // The planner reports the other kinds a pod needs (claims, classes)
            // as missing-dependency, from the graph's unresolved references.
            if !(f.row.group.is_empty() && CHECKED_KINDS.contains(&f.row.kind)) {
                continue;
            }
            refs.push(Ref {
                target: ObjectKey::new(
                    GroupKind::new(f.row.group, f.row.kind),
                    ns.filter(|_| f.row.namespaced),
                    f.name,
                ),
                field: format!("{path}.{}", f.field),
                optional: f.optional,
            });
        }
    }
    match (gk.group.as_str(), gk.kind.as_str()) {
        ("networking.k8s.io" | "extensions", "Ingress") => {
            for (i, t) in array(m.at(&["spec", "tls"])).enumerate() {
                if let Some(secret) = str_at(t, &["secretName"]) {
                    refs.push(Ref {
                        target: ObjectKey::new(GroupKind::core("Secret"), ns, secret),
                        field: format!("spec.tls[{i}].secretName"),
                        optional: false,
                    });
                }
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            for (i, s) in array(m.get("subjects")).enumerate() {
                if str_at(s, &["kind"]) != Some("ServiceAccount") {
                    continue;
                }
                let sa_ns = str_at(s, &["namespace"]).or(ns);
                if let (Some(name), Some(sa_ns)) = (str_at(s, &["name"]), sa_ns) {
                    // A binding to a missing account grants nothing and breaks
                    // nothing: reported, but never as an error.
                    refs.push(Ref {
                        target: ObjectKey::new(
                            GroupKind::core("ServiceAccount"),
                            Some(sa_ns),
                            name,
                        ),
                        field: format!("subjects[{i}].name"),
                        optional: true,
                    });
                }
            }
        }
        _ => {}
    }
    // One finding per target, naming every field that refers to it.
    let mut by_target: BTreeMap<ObjectKey, Vec<Ref>> = BTreeMap::new();
    for r in refs {
        by_target.entry(r.target.clone()).or_default().push(r);
    }
    for (target, refs) in by_target {
        let fields = |only_required: bool| {
            refs.iter()
                .filter(|r| !only_required || !r.optional)
                .map(|r| r.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let required = refs.iter().any(|r| !r.optional);
        let what = describe_target(&target, ns);
        match presence(&target) {
            Presence::Missing if required => out.push(MISSING_REFERENCE.finding(
                Some(obj.r.clone()),
                format!("{}: {what} does not exist ({})", obj.label, fields(true)),
            )),
            Presence::Missing => out.push(MISSING_OPTIONAL_REFERENCE.finding(
                Some(obj.r.clone()),
                format!(
                    "{}: {what} does not exist ({}); nothing requires it",
                    obj.label,
                    fields(false)
                ),
            )),
            Presence::OutsideSelection => out.push(REFERENCE_OUTSIDE_SELECTION.finding(
                Some(obj.r.clone()),
                format!(
                    "{}: {what} is not in the selection ({}); it must already exist in B or be migrated with it",
                    obj.label,
                    fields(false)
                ),
            )),
            Presence::InPlan | Presence::RecreatedInB | Presence::NotListed => {}
        }
    }
}

/// "Secret db" in the object's own namespace, "ServiceAccount ns/name" elsewhere.
fn describe_target(t: &ObjectKey, ns: Option<&str>) -> String {
    match t.namespace.as_deref() {
        Some(tns) if Some(tns) != ns => format!("{} {tns}/{}", t.gk, t.name),
        _ => format!("{} {}", t.gk, t.name),
    }
}
