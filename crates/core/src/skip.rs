//! Skipping: objects B regenerates by itself or must not receive. The rules are
//! a table ([`SKIP_RULES`]), evaluated in order, first match wins; every skipped
//! object is recorded in the plan with the rule's reason.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use crate::model::{GroupKind, SourceObject, ValueAt, annotation, label, str_at};
use crate::normalize::Applies;

/// The condition under which a rule skips an object it applies to.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase", tag = "when", content = "arg")]
pub enum When {
    Always,
    /// `metadata.deletionTimestamp` is set.
    BeingDeleted,
    /// In a namespace left out unless named explicitly with `-n`.
    InSystemNamespace,
    /// An ownerReference with `controller: true`.
    ControllerOwned,
    /// Object with exactly this name (and namespace, when given).
    Named(Option<&'static str>, &'static str),
    /// Label present (with this value, when given).
    Label(&'static str, Option<&'static str>),
    /// Annotation present (with this value, when given).
    Annotation(&'static str, Option<&'static str>),
    /// Secret of this `type`.
    SecretType(&'static str),
    /// The per-namespace `default` ServiceAccount with nothing set by a user.
    DefaultServiceAccountUnchanged,
    /// Endpoints of a Service that has a selector (the endpoints controller owns them).
    EndpointsOfSelectorService,
    /// A Pod that has finished (Succeeded or Failed).
    PodFinished,
    /// A Job whose pods completed: recreating it would run it again.
    JobCompleted,
    /// Every field manager is one of these (it created the object, nobody else changed it).
    ManagedOnlyBy(&'static [&'static str]),
    /// A PersistentVolumeClaim a StatefulSet created from its volumeClaimTemplates.
    StatefulSetClaim,
    /// An ownerReference to an object that is itself skipped.
    OwnedBySkipped,
}

#[derive(Debug)]
pub struct SkipRule {
    pub id: &'static str,
    pub applies: Applies,
    pub when: When,
    pub reason: &'static str,
}

/// Field managers that are the API server itself, not a user or a controller.
pub(crate) const API_SERVER_MANAGERS: &[&str] = &[
    "kube-apiserver",
    "api-priority-and-fairness-config-producer-v1",
    "api-priority-and-fairness-config-consumer-v1",
];

/// Namespaces holding the cluster's own machinery, left out unless named with `-n`.
pub(crate) const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// Skip rules, in evaluation order.
pub const SKIP_RULES: &[SkipRule] = &[
    SkipRule {
        id: "being-deleted",
        applies: Applies::Any,
        when: When::BeingDeleted,
        reason: "being deleted in A",
    },
    SkipRule {
        id: "system-namespace",
        applies: Applies::Any,
        when: When::InSystemNamespace,
        reason: "kube-system, kube-public and kube-node-lease belong to each cluster's own installation (name one with -n to include it)",
    },
    SkipRule {
        id: "events",
        applies: Applies::Kinds(&[("", "Event"), ("events.k8s.io", "Event")]),
        when: When::Always,
        reason: "events are a record of A's history, regenerated in B",
    },
    SkipRule {
        id: "leases",
        applies: Applies::Kinds(&[("coordination.k8s.io", "Lease")]),
        when: When::Always,
        reason: "leader-election and heartbeat state of A's processes",
    },
    SkipRule {
        id: "nodes",
        applies: Applies::Kinds(&[
            ("", "Node"),
            ("storage.k8s.io", "CSINode"),
            ("storage.k8s.io", "VolumeAttachment"),
            ("", "ComponentStatus"),
        ]),
        when: When::Always,
        reason: "describe A's machines; B registers its own",
    },
    SkipRule {
        id: "controller-owned",
        applies: Applies::Any,
        when: When::ControllerOwned,
        reason: "created by its controlling owner (ReplicaSet, Pod, Job, ControllerRevision, EndpointSlice…); the owner recreates it in B",
    },
    SkipRule {
        id: "sa-token-secret",
        applies: Applies::Kinds(&[("", "Secret")]),
        when: When::SecretType("kubernetes.io/service-account-token"),
        reason: "service-account tokens are minted by B for B's signing key",
    },
    SkipRule {
        id: "openshift-dockercfg",
        applies: Applies::Kinds(&[("", "Secret")]),
        when: When::Annotation("openshift.io/token-secret.name", None),
        reason: "generated pull secret for a service account token",
    },
    SkipRule {
        id: "root-ca",
        applies: Applies::Kinds(&[("", "ConfigMap")]),
        when: When::Named(None, "kube-root-ca.crt"),
        reason: "published in every namespace by B's controller with B's CA",
    },
    SkipRule {
        id: "default-sa",
        applies: Applies::Kinds(&[("", "ServiceAccount")]),
        when: When::DefaultServiceAccountUnchanged,
        reason: "created in every namespace by B; migrated only when a user changed it",
    },
    SkipRule {
        id: "kubernetes-service",
        applies: Applies::Kinds(&[
            ("", "Service"),
            ("", "Endpoints"),
            ("discovery.k8s.io", "EndpointSlice"),
        ]),
        when: When::Named(Some("default"), "kubernetes"),
        reason: "the API server's own Service, maintained by B",
    },
    SkipRule {
        id: "selector-endpoints",
        applies: Applies::Kinds(&[("", "Endpoints")]),
        when: When::EndpointsOfSelectorService,
        reason: "maintained by the endpoints controller from the Service's selector",
    },
    SkipRule {
        id: "managed-endpointslice",
        applies: Applies::Kinds(&[("discovery.k8s.io", "EndpointSlice")]),
        when: When::Label("endpointslice.kubernetes.io/managed-by", None),
        reason: "maintained by an EndpointSlice controller",
    },
    SkipRule {
        id: "bootstrap-rbac",
        applies: Applies::Kinds(&[
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
        ]),
        when: When::Label("kubernetes.io/bootstrapping", Some("rbac-defaults")),
        reason: "default RBAC that B's API server reconciles for its own version",
    },
    SkipRule {
        id: "bootstrap-apf",
        applies: Applies::Kinds(&[
            ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
            ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ]),
        when: When::Annotation("apf.kubernetes.io/autoupdate-spec", Some("true")),
        reason: "API priority-and-fairness defaults that B's API server maintains",
    },
    SkipRule {
        id: "builtin-apiservice",
        applies: Applies::Kinds(&[("apiregistration.k8s.io", "APIService")]),
        when: When::Label("kube-aggregator.kubernetes.io/automanaged", None),
        reason: "registered by B's API server for its own built-in groups",
    },
    SkipRule {
        id: "statefulset-claim",
        applies: Applies::Kinds(&[("", "PersistentVolumeClaim")]),
        when: When::StatefulSetClaim,
        reason: "created by its StatefulSet from volumeClaimTemplates; B's StatefulSet creates its own (data is not copied)",
    },
    SkipRule {
        id: "server-created",
        applies: Applies::Any,
        when: When::ManagedOnlyBy(API_SERVER_MANAGERS),
        reason: "created by the API server itself (system PriorityClasses, APF defaults, the default Namespace) and never changed; B's API server creates its own",
    },
    SkipRule {
        id: "controller-created",
        applies: Applies::Any,
        when: When::ManagedOnlyBy(&["kube-controller-manager"]),
        reason: "created by a built-in controller and never changed by anyone else; B's controllers create their own",
    },
    SkipRule {
        id: "provisioned-pv",
        applies: Applies::Kinds(&[("", "PersistentVolume")]),
        when: When::Annotation("pv.kubernetes.io/provisioned-by", None),
        reason: "dynamically provisioned volume of A; B provisions its own for the claim (data is not copied)",
    },
    SkipRule {
        id: "mirror-pod",
        applies: Applies::Kinds(&[("", "Pod")]),
        when: When::Annotation("kubernetes.io/config.mirror", None),
        reason: "mirror of a static pod on one of A's nodes",
    },
    SkipRule {
        id: "finished-pod",
        applies: Applies::Kinds(&[("", "Pod")]),
        when: When::PodFinished,
        reason: "finished in A; recreating it would run it again",
    },
    SkipRule {
        id: "completed-job",
        applies: Applies::Kinds(&[("batch", "Job")]),
        when: When::JobCompleted,
        reason: "completed in A; recreating it would run it again",
    },
    SkipRule {
        id: "owned-by-skipped",
        applies: Applies::Any,
        when: When::OwnedBySkipped,
        reason: "its owner is skipped, and B's garbage collector would delete it",
    },
];

/// One skipped object, with the rule that skipped it.
#[derive(Debug, Clone)]
pub(crate) struct Skipped {
    pub object: SourceObject,
    pub rule: &'static SkipRule,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SkipOptions {
    /// System namespaces the user asked for explicitly.
    pub include_system_namespaces: HashSet<String>,
}

/// Cluster-wide facts some rules need.
struct Context {
    selector_services: HashSet<(String, String)>,
    /// (namespace, "<template>-<statefulset>-") of every StatefulSet claim template.
    statefulset_claims: Vec<(String, String)>,
    include_system: HashSet<String>,
}

/// Splits objects into kept and skipped. Pure: depends only on the objects given.
pub(crate) fn partition(
    objects: Vec<SourceObject>,
    options: &SkipOptions,
) -> (Vec<SourceObject>, Vec<Skipped>) {
    let ctx = Context {
        selector_services: objects
            .iter()
            .filter(|o| o.resource.group.is_empty() && o.resource.kind == "Service")
            .filter(|o| {
                o.object
                    .at(&["spec", "selector"])
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty())
            })
            .map(|o| {
                (
                    o.namespace().unwrap_or("").to_string(),
                    o.name().to_string(),
                )
            })
            .collect(),
        statefulset_claims: objects
            .iter()
            .filter(|o| o.resource.group == "apps" && o.resource.kind == "StatefulSet")
            .flat_map(|o| {
                let ns = o.namespace().unwrap_or("").to_string();
                let sts = o.name().to_string();
                o.object
                    .at(&["spec", "volumeClaimTemplates"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| str_at(t, &["metadata", "name"]))
                    .map(move |t| (ns.clone(), format!("{t}-{sts}-")))
                    .collect::<Vec<_>>()
            })
            .collect(),
        include_system: options.include_system_namespaces.clone(),
    };
    let mut kept = Vec::with_capacity(objects.len());
    let mut skipped = Vec::new();
    // The rules read one object each: matched on both cores, split in order.
    let matched: Vec<Option<&'static SkipRule>> = {
        use rayon::prelude::*;
        objects.par_iter().map(|o| first_match(o, &ctx)).collect()
    };
    for (object, rule) in objects.into_iter().zip(matched) {
        match rule {
            Some(rule) => skipped.push(Skipped { object, rule }),
            None => kept.push(object),
        }
    }
    // Ownership is transitive: skip whatever a skipped object owns, until nothing changes.
    let owned_rule = SKIP_RULES
        .iter()
        .find(|r| matches!(r.when, When::OwnedBySkipped))
        .expect("rule table has owned-by-skipped");
    let mut skipped_uids: HashSet<String> = skipped
        .iter()
        .filter_map(|s| s.object.uid().map(str::to_string))
        .collect();
    loop {
        // Read on all cores; the objects are moved only when one is owned.
        let owned: Vec<bool> = {
            use rayon::prelude::*;
            kept.par_iter()
                .map(|o| owner_uids(&o.object).any(|u| skipped_uids.contains(u)))
                .collect()
        };
        if !owned.contains(&true) {
            break;
        }
        let mut owned = owned.into_iter();
        let (now_skipped, still_kept): (Vec<_>, Vec<_>) =
            kept.into_iter().partition(|_| owned.next() == Some(true));
        kept = still_kept;
        for object in now_skipped {
            if let Some(uid) = object.uid() {
                skipped_uids.insert(uid.to_string());
            }
            skipped.push(Skipped {
                object,
                rule: owned_rule,
            });
        }
    }
    (kept, skipped)
}

fn first_match(object: &SourceObject, ctx: &Context) -> Option<&'static SkipRule> {
    let gk = object.resource.group_kind();
    crate::normalize::applicable("skip", SKIP_RULES, |r| &r.applies, &gk)
        .iter()
        .map(|&i| &SKIP_RULES[i])
        .find(|rule| holds(rule.when, &gk, object, ctx))
}

fn holds(when: When, gk: &GroupKind, o: &SourceObject, ctx: &Context) -> bool {
    let v = &o.object;
    match when {
        When::Always => true,
        When::BeingDeleted => v
            .at(&["metadata", "deletionTimestamp"])
            .is_some_and(|t| !t.is_null()),
        When::InSystemNamespace => o
            .namespace()
            .or_else(|| (gk.group.is_empty() && gk.kind == "Namespace").then(|| o.name()))
            .is_some_and(|ns| SYSTEM_NAMESPACES.contains(&ns) && !ctx.include_system.contains(ns)),
        When::ControllerOwned => {
            owner_refs(v).any(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        }
        When::Named(ns, name) => o.name() == name && ns.is_none_or(|ns| o.namespace() == Some(ns)),
        When::Label(key, value) => {
            label(v, key).is_some_and(|l| value.is_none_or(|want| l == want))
        }
        When::Annotation(key, value) => {
            annotation(v, key).is_some_and(|a| value.is_none_or(|want| a == want))
        }
        When::SecretType(t) => str_at(v, &["type"]) == Some(t),
        When::DefaultServiceAccountUnchanged => {
            o.name() == "default" && default_sa_unchanged(gk, v)
        }
        When::EndpointsOfSelectorService => ctx.selector_services.contains(&(
            o.namespace().unwrap_or("").to_string(),
            o.name().to_string(),
        )),
        When::PodFinished => matches!(
            str_at(v, &["status", "phase"]),
            Some("Succeeded") | Some("Failed")
        ),
        When::JobCompleted => v
            .at(&["status", "conditions"])
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter().any(|c| {
                    str_at(c, &["type"]) == Some("Complete")
                        && str_at(c, &["status"]) == Some("True")
                })
            }),
        When::ManagedOnlyBy(managers) => {
            !o.managers.is_empty() && o.managers.iter().all(|m| managers.contains(&m.as_str()))
        }
        When::StatefulSetClaim => ctx.statefulset_claims.iter().any(|(ns, prefix)| {
            o.namespace() == Some(ns.as_str())
                && o.name()
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|ordinal| {
                        !ordinal.is_empty() && ordinal.chars().all(|c| c.is_ascii_digit())
                    })
        }),
        When::OwnedBySkipped => false, // evaluated transitively in `partition`
    }
}

fn owner_refs(v: &Value) -> impl Iterator<Item = &Value> {
    v.at(&["metadata", "ownerReferences"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

pub(crate) fn owner_uids(v: &Value) -> impl Iterator<Item = &str> {
    owner_refs(v).filter_map(|r| r.get("uid").and_then(Value::as_str))
}

/// A `default` ServiceAccount is worth migrating only when something beyond its
/// name survives normalisation (pull secrets, extra secrets, labels, automount).
fn default_sa_unchanged(gk: &GroupKind, v: &Value) -> bool {
    let mut n = v.clone();
    crate::normalize::normalize(gk, &mut n);
    let meta_extra = n
        .get("metadata")
        .and_then(Value::as_object)
        .is_some_and(|m| {
            m.keys()
                .any(|k| !matches!(k.as_str(), "name" | "namespace"))
        });
    let body_extra = n.as_object().is_some_and(|m| {
        m.keys()
            .any(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
    });
    !meta_extra && !body_extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceType;
    use serde_json::json;
    use std::sync::Arc;

    fn rt(group: &str, kind: &str, namespaced: bool) -> Arc<ResourceType> {
        Arc::new(ResourceType {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
            namespaced,
            verbs: vec![],
        })
    }

    fn obj(group: &str, kind: &str, v: Value) -> SourceObject {
        let namespaced = v.pointer("/metadata/namespace").is_some();
        let managers = v
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m["manager"].as_str().map(str::to_string))
            .collect();
        SourceObject {
            resource: rt(group, kind, namespaced),
            object: v,
            secret_digest: None,
            managers,
            owned: None,
        }
    }

    fn run(objects: Vec<SourceObject>) -> (Vec<String>, Vec<(String, &'static str)>) {
        let (kept, skipped) = partition(objects, &SkipOptions::default());
        (
            kept.iter().map(|o| o.name().to_string()).collect(),
            skipped
                .iter()
                .map(|s| (s.object.name().to_string(), s.rule.id))
                .collect(),
        )
    }

    #[test]
    fn controller_owned_and_their_children_are_skipped() {
        let (kept, skipped) = run(vec![
            obj(
                "apps",
                "Deployment",
                json!({"metadata": {"name": "web", "namespace": "a", "uid": "d1"}}),
            ),
            obj(
                "apps",
                "ReplicaSet",
                json!({"metadata": {"name": "web-5d8", "namespace": "a", "uid": "r1",
                "ownerReferences": [{"uid": "d1", "controller": true, "kind": "Deployment", "name": "web"}]}}),
            ),
            obj(
                "",
                "Pod",
                json!({"metadata": {"name": "web-5d8-x", "namespace": "a", "uid": "p1",
                "ownerReferences": [{"uid": "r1", "controller": true, "kind": "ReplicaSet", "name": "web-5d8"}]}}),
            ),
            obj(
                "",
                "ConfigMap",
                json!({"metadata": {"name": "pod-owned", "namespace": "a", "uid": "c1",
                "ownerReferences": [{"uid": "p1", "kind": "Pod", "name": "web-5d8-x"}]}}),
            ),
            obj(
                "",
                "Pod",
                json!({"metadata": {"name": "bare", "namespace": "a", "uid": "p2"}}),
            ),
        ]);
        assert_eq!(kept, vec!["web", "bare"]);
        assert_eq!(
            skipped,
            vec![
                ("web-5d8".into(), "controller-owned"),
                ("web-5d8-x".into(), "controller-owned"),
                ("pod-owned".into(), "owned-by-skipped"),
            ]
        );
    }

    #[test]
    fn endpoints_skipped_only_for_selector_services() {
        let (kept, skipped) = run(vec![
            obj(
                "",
                "Service",
                json!({"metadata": {"name": "web", "namespace": "a"}, "spec": {"selector": {"app": "web"}}}),
            ),
            obj(
                "",
                "Endpoints",
                json!({"metadata": {"name": "web", "namespace": "a"}}),
            ),
            obj(
                "",
                "Service",
                json!({"metadata": {"name": "external-db", "namespace": "a"}, "spec": {}}),
            ),
            obj(
                "",
                "Endpoints",
                json!({"metadata": {"name": "external-db", "namespace": "a"}}),
            ),
        ]);
        assert_eq!(kept, vec!["web", "external-db", "external-db"]);
        assert_eq!(skipped, vec![("web".into(), "selector-endpoints")]);
    }

    #[test]
    fn default_service_account_only_when_changed() {
        let (kept, skipped) = run(vec![
            obj(
                "",
                "ServiceAccount",
                json!({"metadata": {"name": "default", "namespace": "a", "uid": "1"}, "secrets": [{"name": "default-token-abcde"}]}),
            ),
            obj(
                "",
                "ServiceAccount",
                json!({"metadata": {"name": "default", "namespace": "b", "uid": "2"}, "imagePullSecrets": [{"name": "registry"}]}),
            ),
        ]);
        assert_eq!(kept, vec!["default"]);
        assert_eq!(skipped, vec![("default".into(), "default-sa")]);
    }

    #[test]
    fn system_namespaces_skipped_unless_asked_for() {
        let objects = || {
            vec![
                obj(
                    "",
                    "ConfigMap",
                    json!({"metadata": {"name": "cfg", "namespace": "kube-system"}}),
                ),
                obj(
                    "",
                    "Namespace",
                    json!({"metadata": {"name": "kube-system"}}),
                ),
            ]
        };
        let (kept, _) = run(objects());
        assert!(kept.is_empty());
        let opts = SkipOptions {
            include_system_namespaces: ["kube-system".to_string()].into(),
        };
        let (kept, _) = partition(objects(), &opts);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn generated_secrets_configmaps_and_bootstrap_objects() {
        let (kept, skipped) = run(vec![
            obj(
                "",
                "Secret",
                json!({"metadata": {"name": "default-token-abcde", "namespace": "a"}, "type": "kubernetes.io/service-account-token"}),
            ),
            obj(
                "",
                "Secret",
                json!({"metadata": {"name": "db", "namespace": "a"}, "type": "Opaque"}),
            ),
            obj(
                "",
                "ConfigMap",
                json!({"metadata": {"name": "kube-root-ca.crt", "namespace": "a"}}),
            ),
            obj(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                json!({"metadata": {"name": "admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}),
            ),
            obj(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                json!({"metadata": {"name": "team-reader"}}),
            ),
            obj(
                "apiregistration.k8s.io",
                "APIService",
                json!({"metadata": {"name": "v1.apps", "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}}}),
            ),
            obj(
                "",
                "Service",
                json!({"metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {}}),
            ),
            obj(
                "",
                "Event",
                json!({"metadata": {"name": "e", "namespace": "a"}}),
            ),
            obj(
                "batch",
                "Job",
                json!({"metadata": {"name": "done", "namespace": "a"}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}),
            ),
            obj(
                "batch",
                "Job",
                json!({"metadata": {"name": "pending", "namespace": "a"}}),
            ),
            obj(
                "",
                "ConfigMap",
                json!({"metadata": {"name": "going", "namespace": "a", "deletionTimestamp": "2020-01-01T00:00:00Z"}}),
            ),
        ]);
        assert_eq!(kept, vec!["db", "team-reader", "pending"]);
        let ids: Vec<_> = skipped.iter().map(|s| s.1).collect();
        assert_eq!(
            ids,
            vec![
                "sa-token-secret",
                "root-ca",
                "bootstrap-rbac",
                "builtin-apiservice",
                "kubernetes-service",
                "events",
                "completed-job",
                "being-deleted"
            ]
        );
    }

    #[test]
    fn created_by_server_or_controllers_and_never_touched() {
        let mf = |m: &[&str]| {
            Value::Array(
                m.iter()
                    .map(|m| json!({"manager": m, "operation": "Update"}))
                    .collect(),
            )
        };
        let (kept, skipped) = run(vec![
            obj(
                "scheduling.k8s.io",
                "PriorityClass",
                json!({"metadata": {"name": "system-node-critical", "managedFields": mf(&["kube-apiserver"])}}),
            ),
            obj(
                "",
                "Namespace",
                json!({"metadata": {"name": "default", "managedFields": mf(&["kube-apiserver", "kubectl-label"])}}),
            ),
            obj(
                "",
                "ConfigMap",
                json!({"metadata": {"name": "made-by-kcm", "namespace": "a", "managedFields": mf(&["kube-controller-manager"])}}),
            ),
            obj(
                "",
                "ConfigMap",
                json!({"metadata": {"name": "old-no-managers", "namespace": "a"}}),
            ),
        ]);
        assert_eq!(
            kept,
            vec!["default", "old-no-managers"],
            "a user changed default; no managers means unknown: keep"
        );
        assert_eq!(
            skipped,
            vec![
                ("system-node-critical".into(), "server-created"),
                ("made-by-kcm".into(), "controller-created")
            ]
        );
    }

    #[test]
    fn statefulset_claims_by_name_pattern() {
        let (kept, skipped) = run(vec![
            obj(
                "apps",
                "StatefulSet",
                json!({"metadata": {"name": "consul", "namespace": "c"}, "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}),
            ),
            obj(
                "",
                "PersistentVolumeClaim",
                json!({"metadata": {"name": "data-consul-0", "namespace": "c"}}),
            ),
            obj(
                "",
                "PersistentVolumeClaim",
                json!({"metadata": {"name": "data-consul-12", "namespace": "c"}}),
            ),
            obj(
                "",
                "PersistentVolumeClaim",
                json!({"metadata": {"name": "data-consul-backup", "namespace": "c"}}),
            ),
            obj(
                "",
                "PersistentVolumeClaim",
                json!({"metadata": {"name": "data-consul-0", "namespace": "other"}}),
            ),
        ]);
        assert_eq!(kept, vec!["consul", "data-consul-backup", "data-consul-0"]);
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn every_rule_has_a_reason_and_unique_id() {
        let mut ids = HashSet::new();
        for r in SKIP_RULES {
            assert!(!r.reason.is_empty());
            assert!(ids.insert(r.id), "duplicate rule id {}", r.id);
        }
    }
}
