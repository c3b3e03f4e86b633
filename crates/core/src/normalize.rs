//! Normalisation: removes what the API server or controllers generated, so a
//! manifest from A can be created in B and compared with B's copy. The rules are
//! a table ([`FIELD_RULES`]); the code below only knows how to apply each kind of rule.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{GroupKind, ValueAt};
use crate::podspec;

/// Which objects a rule applies to.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Applies {
    Any,
    /// (group, kind) pairs; group "" is the core group.
    Kinds(&'static [(&'static str, &'static str)]),
}

/// Which entries of a rule table apply to one kind, by index in table
/// order. Objects arrive in runs of one kind, so each thread remembers the
/// last few kinds' entries instead of matching every entry's kind list again
/// for each object: that matching was a tenth of a 50,000-object plan's CPU.
/// `table` names the table (the normalisation rules, the skip rules).
pub(crate) fn applicable<T>(
    table: &'static str,
    rules: &[T],
    applies: impl Fn(&T) -> &Applies,
    gk: &GroupKind,
) -> std::rc::Rc<[usize]> {
    type Remembered = Vec<(&'static str, GroupKind, std::rc::Rc<[usize]>)>;
    thread_local! {
        static REMEMBERED: std::cell::RefCell<Remembered> = const { std::cell::RefCell::new(Vec::new()) };
    }
    REMEMBERED.with(|cell| {
        let mut remembered = cell.borrow_mut();
        if let Some((_, _, hit)) = remembered
            .iter()
            .rev()
            .find(|(t, k, _)| *t == table && k == gk)
        {
            return hit.clone();
        }
        let found: std::rc::Rc<[usize]> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| applies(r).matches(gk))
            .map(|(i, _)| i)
            .collect();
        if remembered.len() >= 32 {
            remembered.remove(0);
        }
        remembered.push((table, gk.clone(), found.clone()));
        found
    })
}

impl Applies {
    pub(crate) fn matches(&self, gk: &GroupKind) -> bool {
        match self {
            Applies::Any => true,
            Applies::Kinds(list) => list.iter().any(|(g, k)| *g == gk.group && *k == gk.kind),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Applies::Any => "*".to_string(),
            Applies::Kinds(list) => list
                .iter()
                .map(|(g, k)| GroupKind::new(g, k).to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// How a generated field is removed.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase", tag = "strip", content = "arg")]
pub enum Strip {
    /// Remove the field at this path.
    Field(&'static [&'static str]),
    /// Remove the field unless it holds this string (headless `clusterIP: None`).
    FieldUnless(&'static [&'static str], &'static str),
    Label(&'static str),
    Annotation(&'static str),
    /// `uid` inside every ownerReference.
    OwnerReferenceUids,
    /// `metadata.creationTimestamp: null` inside pod and claim templates.
    TemplateCreationTimestamps,
    /// Job selector and template labels carrying the controller's uid.
    JobControllerUid,
    /// `secrets` entries of a ServiceAccount naming its own token Secrets.
    ServiceAccountTokenRefs,
    /// Token volumes and their mounts injected into Pods by admission.
    PodTokenVolumes,
    /// `rules` of a ClusterRole that has an aggregationRule.
    AggregatedRules,
    /// Data of a Secret (kept only as a digest) — applied when the object is read.
    SecretData,
}

#[derive(Debug)]
pub struct FieldRule {
    pub applies: Applies,
    pub strip: Strip,
    pub reason: &'static str,
}

const POD: &[(&str, &str)] = &[("", "Pod")];
const SERVICE: &[(&str, &str)] = &[("", "Service")];
const PVC: &[(&str, &str)] = &[("", "PersistentVolumeClaim")];
const PV: &[(&str, &str)] = &[("", "PersistentVolume")];
const JOB: &[(&str, &str)] = &[("batch", "Job")];
const NAMESPACE: &[(&str, &str)] = &[("", "Namespace")];
const SERVICE_ACCOUNT: &[(&str, &str)] = &[("", "ServiceAccount")];
const DEPLOYMENT: &[(&str, &str)] = &[("apps", "Deployment"), ("extensions", "Deployment")];
const DAEMONSET: &[(&str, &str)] = &[("apps", "DaemonSet"), ("extensions", "DaemonSet")];
const HPA: &[(&str, &str)] = &[("autoscaling", "HorizontalPodAutoscaler")];
const CLUSTER_ROLE: &[(&str, &str)] = &[("rbac.authorization.k8s.io", "ClusterRole")];
const ENDPOINTS: &[(&str, &str)] = &[("", "Endpoints")];
const SECRET: &[(&str, &str)] = &[("", "Secret")];

/// Generated fields, one row each. Order does not matter.
pub const FIELD_RULES: &[FieldRule] = &[
    FieldRule {
        applies: Applies::Any,
        strip: Strip::Field(&["metadata", "uid"]),
        reason: "assigned by the API server; B assigns its own",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::Field(&["metadata", "resourceVersion"]),
        reason: "storage version of A's etcd; meaningless in B",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::Field(&["metadata", "creationTimestamp"]),
        reason: "set by the API server at creation",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::Field(&["metadata", "generation"]),
        reason: "incremented by the API server on spec changes",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::Field(&["metadata", "managedFields"]),
        reason: "server-side apply bookkeeping of A's field managers",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::Field(&["metadata", "selfLink"]),
        reason: "derived URL, deprecated",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::Field(&["metadata", "deletionTimestamp"]),
        reason: "set while an object is being deleted",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::Field(&["metadata", "deletionGracePeriodSeconds"]),
        reason: "set while an object is being deleted",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::Field(&["status"]),
        reason: "written by controllers from observed state; B's controllers rebuild it",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::OwnerReferenceUids,
        reason: "owners get new UIDs in B; apply fills them in after creating the owner",
    },
    FieldRule {
        applies: Applies::Any,
        strip: Strip::TemplateCreationTimestamps,
        reason: "null timestamps serialised inside templates; noise in diffs",
    },
    FieldRule {
        applies: Applies::Kinds(SERVICE),
        strip: Strip::FieldUnless(&["spec", "clusterIP"], "None"),
        reason: "allocated from A's service range; kept only when headless (None)",
    },
    FieldRule {
        applies: Applies::Kinds(SERVICE),
        strip: Strip::FieldUnless(&["spec", "clusterIPs"], "None"),
        reason: "allocated from A's service range; kept only when headless (None)",
    },
    FieldRule {
        applies: Applies::Kinds(PVC),
        strip: Strip::Field(&["spec", "volumeName"]),
        reason: "binds to A's volume; B provisions or binds its own",
    },
    FieldRule {
        applies: Applies::Kinds(PVC),
        strip: Strip::Annotation("pv.kubernetes.io/bind-completed"),
        reason: "binding state of A's volume controller",
    },
    FieldRule {
        applies: Applies::Kinds(PVC),
        strip: Strip::Annotation("pv.kubernetes.io/bound-by-controller"),
        reason: "binding state of A's volume controller",
    },
    FieldRule {
        applies: Applies::Kinds(PVC),
        strip: Strip::Annotation("volume.beta.kubernetes.io/storage-provisioner"),
        reason: "set by A's volume controller when provisioning",
    },
    FieldRule {
        applies: Applies::Kinds(PVC),
        strip: Strip::Annotation("volume.kubernetes.io/storage-provisioner"),
        reason: "set by A's volume controller when provisioning",
    },
    FieldRule {
        applies: Applies::Kinds(PVC),
        strip: Strip::Annotation("volume.kubernetes.io/selected-node"),
        reason: "names a node of A",
    },
    FieldRule {
        applies: Applies::Kinds(PV),
        strip: Strip::Field(&["spec", "claimRef", "uid"]),
        reason: "UID of the claim in A",
    },
    FieldRule {
        applies: Applies::Kinds(PV),
        strip: Strip::Field(&["spec", "claimRef", "resourceVersion"]),
        reason: "storage version of the claim in A",
    },
    FieldRule {
        applies: Applies::Kinds(JOB),
        strip: Strip::JobControllerUid,
        reason: "selector and labels carry A's Job UID; B's Job controller sets its own",
    },
    FieldRule {
        applies: Applies::Kinds(NAMESPACE),
        strip: Strip::Field(&["spec", "finalizers"]),
        reason: "set by the API server",
    },
    FieldRule {
        applies: Applies::Kinds(NAMESPACE),
        strip: Strip::Label("kubernetes.io/metadata.name"),
        reason: "set by the API server (1.21+) from the name",
    },
    FieldRule {
        applies: Applies::Kinds(SERVICE_ACCOUNT),
        strip: Strip::ServiceAccountTokenRefs,
        reason: "token Secrets are generated per cluster",
    },
    FieldRule {
        applies: Applies::Kinds(POD),
        strip: Strip::Field(&["spec", "nodeName"]),
        reason: "names a node of A, set by A's scheduler",
    },
    FieldRule {
        applies: Applies::Kinds(POD),
        strip: Strip::PodTokenVolumes,
        reason: "service-account token volumes are injected by B's admission",
    },
    FieldRule {
        applies: Applies::Kinds(DEPLOYMENT),
        strip: Strip::Annotation("deployment.kubernetes.io/revision"),
        reason: "rollout counter of A's Deployment controller",
    },
    FieldRule {
        applies: Applies::Kinds(DAEMONSET),
        strip: Strip::Annotation("deprecated.daemonset.template.generation"),
        reason: "rollout counter of A's DaemonSet controller",
    },
    FieldRule {
        applies: Applies::Kinds(HPA),
        strip: Strip::Annotation("autoscaling.alpha.kubernetes.io/conditions"),
        reason: "status of autoscaling/v1 kept in annotations",
    },
    FieldRule {
        applies: Applies::Kinds(HPA),
        strip: Strip::Annotation("autoscaling.alpha.kubernetes.io/current-metrics"),
        reason: "status of autoscaling/v1 kept in annotations",
    },
    FieldRule {
        applies: Applies::Kinds(CLUSTER_ROLE),
        strip: Strip::AggregatedRules,
        reason: "filled in by the aggregation controller from the selected ClusterRoles",
    },
    FieldRule {
        applies: Applies::Kinds(ENDPOINTS),
        strip: Strip::Annotation("endpoints.kubernetes.io/last-change-trigger-time"),
        reason: "timestamp written by the endpoints controller",
    },
    FieldRule {
        applies: Applies::Kinds(SECRET),
        strip: Strip::SecretData,
        reason: "values never enter the plan: a SHA-256 digest is kept and apply reads the value live",
    },
    FieldRule {
        applies: Applies::Kinds(SECRET),
        strip: Strip::Annotation("kubectl.kubernetes.io/last-applied-configuration"),
        reason: "holds the Secret's values in clear",
    },
];

/// Removes generated fields from `object` in place, by the table above.
pub fn normalize(gk: &GroupKind, object: &mut Value) {
    // A CronJob or workload handed over (`abshift cutover`) is compared as it
    // will be once resumed, on either side.
    crate::handover::as_resumed(object);
    for &i in applicable("field", FIELD_RULES, |r| &r.applies, gk).iter() {
        apply(FIELD_RULES[i].strip, gk, object);
    }
    drop_empty_meta_maps(object);
}

fn apply(strip: Strip, gk: &GroupKind, object: &mut Value) {
    match strip {
        Strip::Field(path) => remove_path(object, path),
        Strip::FieldUnless(path, keep) => {
            let keep_it = object.at(path).is_some_and(|v| match v {
                Value::String(s) => s == keep,
                Value::Array(items) => {
                    items.iter().all(|i| i.as_str() == Some(keep)) && !items.is_empty()
                }
                _ => false,
            });
            if !keep_it {
                remove_path(object, path);
            }
        }
        Strip::Label(key) => remove_meta_key(object, "labels", key),
        Strip::Annotation(key) => remove_meta_key(object, "annotations", key),
        Strip::OwnerReferenceUids => {
            if let Some(refs) = object
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                for r in refs.iter_mut().filter_map(Value::as_object_mut) {
                    r.remove("uid");
                }
            }
        }
        Strip::TemplateCreationTimestamps => strip_template_timestamps(object),
        Strip::JobControllerUid => strip_job_controller_uid(object),
        Strip::ServiceAccountTokenRefs => strip_sa_token_refs(object),
        Strip::PodTokenVolumes => strip_pod_token_volumes(&gk.kind, object),
        Strip::AggregatedRules => {
            if object.get("aggregationRule").is_some_and(|r| !r.is_null())
                && let Some(map) = object.as_object_mut()
            {
                map.remove("rules");
            }
        }
        Strip::SecretData => {
            if let Some(map) = object.as_object_mut() {
                map.remove("data");
                map.remove("stringData");
            }
        }
    }
}

pub(crate) fn remove_path(object: &mut Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if let Some(parent) = object.at_mut(parents).and_then(Value::as_object_mut) {
        parent.remove(*last);
    }
}

fn remove_meta_key(object: &mut Value, field: &str, key: &str) {
    if let Some(map) = object
        .pointer_mut(&format!("/metadata/{field}"))
        .and_then(Value::as_object_mut)
    {
        map.remove(key);
    }
}

/// Empty label/annotation maps left behind by stripping are noise in diffs.
fn drop_empty_meta_maps(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["labels", "annotations", "ownerReferences", "finalizers"] {
            let empty = match meta.get(field) {
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                Some(Value::Null) => true,
                _ => false,
            };
            if empty {
                meta.remove(field);
            }
        }
    }
}

fn strip_template_timestamps(value: &mut Value) {
    // Walks every nested object; only `metadata` maps below the top level are touched.
    fn walk(value: &mut Value, depth: usize) {
        match value {
            Value::Object(map) => {
                if depth > 0
                    && let Some(Value::Object(meta)) = map.get_mut("metadata")
                    && meta.get("creationTimestamp").is_some_and(Value::is_null)
                {
                    meta.remove("creationTimestamp");
                }
                for (_, child) in map.iter_mut() {
                    walk(child, depth + 1);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, depth + 1)),
            _ => {}
        }
    }
    walk(value, 0);
}

const JOB_UID_LABELS: &[&str] = &[
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
];

fn strip_job_controller_uid(object: &mut Value) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut drop_selector = false;
    if let Some(selector) = spec.get_mut("selector").and_then(Value::as_object_mut) {
        let had_uid = selector
            .get("matchLabels")
            .and_then(Value::as_object)
            .is_some_and(|m| {
                m.contains_key("controller-uid")
                    || m.contains_key("batch.kubernetes.io/controller-uid")
            });
        if had_uid {
            if let Some(labels) = selector
                .get_mut("matchLabels")
                .and_then(Value::as_object_mut)
            {
                for key in JOB_UID_LABELS {
                    labels.remove(*key);
                }
                if labels.is_empty() {
                    selector.remove("matchLabels");
                }
            }
            let no_expressions = selector
                .get("matchExpressions")
                .is_none_or(|e| e.as_array().is_none_or(Vec::is_empty));
            drop_selector =
                selector.is_empty() || (no_expressions && !selector.contains_key("matchLabels"));
        }
    }
    if drop_selector {
        spec.remove("selector");
    }
    if let Some(labels) = spec
        .get_mut("template")
        .and_then(|t| t.pointer_mut("/metadata/labels"))
        .and_then(Value::as_object_mut)
    {
        for key in JOB_UID_LABELS {
            labels.remove(*key);
        }
    }
    if let Some(meta) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("metadata"))
        .and_then(Value::as_object_mut)
        && meta
            .get("labels")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        meta.remove("labels");
    }
}

/// True for names the token controller gives a ServiceAccount's token Secrets:
/// `<sa>-token-<5 random>` (and OpenShift's `<sa>-dockercfg-<5>`).
pub(crate) fn is_generated_token_name(sa: &str, secret: &str) -> bool {
    ["-token-", "-dockercfg-"].iter().any(|infix| {
        secret
            .strip_prefix(sa)
            .and_then(|rest| rest.strip_prefix(infix))
            .is_some_and(|suffix| {
                suffix.len() == 5 && suffix.chars().all(|c| c.is_ascii_alphanumeric())
            })
    })
}

fn strip_sa_token_refs(object: &mut Value) {
    let sa = crate::model::str_at(object, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    let Some(map) = object.as_object_mut() else {
        return;
    };
    for field in ["secrets", "imagePullSecrets"] {
        if let Some(list) = map.get_mut(field).and_then(Value::as_array_mut) {
            list.retain(|s| {
                !s.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| is_generated_token_name(&sa, n))
            });
            if list.is_empty() {
                map.remove(field);
            }
        }
    }
}

fn is_token_volume(volume: &Value) -> bool {
    let name = volume.get("name").and_then(Value::as_str).unwrap_or("");
    if name.starts_with("kube-api-access-") && volume.get("projected").is_some() {
        return true;
    }
    // 1.20 and older: a secret volume named after the SA token Secret it mounts.
    let secret = volume.at(&["secret", "secretName"]).and_then(Value::as_str);
    secret == Some(name)
        && name
            .rsplit_once("-token-")
            .is_some_and(|(_, s)| s.len() == 5 && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn strip_pod_token_volumes(kind: &str, object: &mut Value) {
    for spec in podspec::pod_specs_mut(kind, object) {
        let mut removed: Vec<String> = Vec::new();
        if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
            volumes.retain(|v| {
                let token = is_token_volume(v);
                if token {
                    removed.push(
                        v.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    );
                }
                !token
            });
        }
        if removed.is_empty() {
            continue;
        }
        if let Some(map) = spec.as_object_mut()
            && map
                .get("volumes")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
        {
            map.remove("volumes");
        }
        for container in podspec::containers_mut(spec) {
            if let Some(mounts) = container
                .get_mut("volumeMounts")
                .and_then(Value::as_array_mut)
            {
                mounts.retain(|m| {
                    !m.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| removed.iter().any(|r| r == n))
                });
                if mounts.is_empty()
                    && let Some(c) = container.as_object_mut()
                {
                    c.remove("volumeMounts");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(group: &str, kind: &str, mut v: Value) -> Value {
        normalize(&GroupKind::new(group, kind), &mut v);
        v
    }

    #[test]
    fn strips_server_metadata_and_status() {
        let v = norm(
            "",
            "ConfigMap",
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7",
                    "creationTimestamp": "2020-01-01T00:00:00Z", "generation": 3, "selfLink": "/x",
                    "managedFields": [{"manager": "kubectl"}], "labels": {"app": "x"}},
                "data": {"k": "v"}, "status": {"x": 1}
            }),
        );
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n", "labels": {"app": "x"}}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn service_cluster_ip_kept_only_when_headless() {
        let v = norm(
            "",
            "Service",
            json!({"spec": {"clusterIP": "10.0.0.4", "clusterIPs": ["10.0.0.4"], "ports": [{"port": 80, "nodePort": 30080}]}}),
        );
        assert_eq!(
            v,
            json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}),
            "nodePorts are kept"
        );
        let v = norm(
            "",
            "Service",
            json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"]}}),
        );
        assert_eq!(
            v,
            json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"]}})
        );
    }

    #[test]
    fn keeps_meaningful_empty_objects() {
        let v = norm(
            "apps",
            "Deployment",
            json!({"spec": {"template": {"metadata": {"creationTimestamp": null, "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c"}], "volumes": [{"name": "tmp", "emptyDir": {}}]}}}}),
        );
        assert_eq!(
            v,
            json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c"}], "volumes": [{"name": "tmp", "emptyDir": {}}]}}}})
        );
    }

    #[test]
    fn job_controller_uid_removed_from_selector_and_template() {
        let v = norm(
            "batch",
            "Job",
            json!({"spec": {
            "selector": {"matchLabels": {"controller-uid": "abc"}},
            "template": {"metadata": {"labels": {"controller-uid": "abc", "job-name": "j", "app": "x"}}, "spec": {"containers": []}}}}),
        );
        assert_eq!(
            v,
            json!({"spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}}})
        );
    }

    #[test]
    fn job_with_manual_selector_keeps_it() {
        let input = json!({"spec": {"manualSelector": true, "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}}});
        assert_eq!(norm("batch", "Job", input.clone()), input);
    }

    #[test]
    fn service_account_token_refs_removed_others_kept() {
        let v = norm(
            "",
            "ServiceAccount",
            json!({"metadata": {"name": "builder"},
            "secrets": [{"name": "builder-token-x7k2p"}, {"name": "registry-creds"}],
            "imagePullSecrets": [{"name": "builder-dockercfg-ab12c"}]}),
        );
        assert_eq!(
            v,
            json!({"metadata": {"name": "builder"}, "secrets": [{"name": "registry-creds"}]})
        );
    }

    #[test]
    fn pod_token_volumes_and_node_removed() {
        let v = norm(
            "",
            "Pod",
            json!({"spec": {"nodeName": "n1",
            "containers": [{"name": "c", "volumeMounts": [{"name": "default-token-abcde", "mountPath": "/var/run/secrets"}, {"name": "data", "mountPath": "/d"}]}],
            "volumes": [{"name": "default-token-abcde", "secret": {"secretName": "default-token-abcde"}}, {"name": "data", "emptyDir": {}},
                        {"name": "kube-api-access-q2x9z", "projected": {"sources": []}}]}}),
        );
        assert_eq!(
            v,
            json!({"spec": {"containers": [{"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}]}})
        );
    }

    #[test]
    fn aggregated_cluster_role_rules_dropped_plain_kept() {
        let agg = norm(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            json!({"aggregationRule": {"clusterRoleSelectors": []}, "rules": [{"verbs": ["get"]}]}),
        );
        assert!(agg.get("rules").is_none());
        let plain = norm(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            json!({"rules": [{"verbs": ["get"]}]}),
        );
        assert!(plain.get("rules").is_some());
    }

    #[test]
    fn owner_reference_uids_removed() {
        let v = norm(
            "",
            "ConfigMap",
            json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Foo", "name": "f", "uid": "123"}]}}),
        );
        assert_eq!(
            v,
            json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Foo", "name": "f"}]}})
        );
    }

    #[test]
    fn secret_data_never_survives() {
        let v = norm(
            "",
            "Secret",
            json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"p\":\"c2VjcmV0\"}}"}},
            "type": "Opaque", "data": {"p": "c2VjcmV0"}, "stringData": {"q": "x"}}),
        );
        assert_eq!(v, json!({"metadata": {}, "type": "Opaque"}));
    }

    #[test]
    fn namespace_finalizers_and_name_label_removed() {
        let v = norm(
            "",
            "Namespace",
            json!({"metadata": {"name": "a", "labels": {"kubernetes.io/metadata.name": "a", "team": "x"}},
            "spec": {"finalizers": ["kubernetes"]}}),
        );
        assert_eq!(
            v,
            json!({"metadata": {"name": "a", "labels": {"team": "x"}}, "spec": {}})
        );
    }

    #[test]
    fn token_name_pattern() {
        assert!(is_generated_token_name("default", "default-token-4tq2x"));
        assert!(!is_generated_token_name(
            "default",
            "default-token-custom-name"
        ));
        assert!(!is_generated_token_name("default", "other-token-4tq2x"));
    }
}
