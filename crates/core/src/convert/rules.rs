//! Object rules: rewrites one object needs for B's version whatever apiVersion
//! it is read at, because B no longer honours a field or an annotation A did.
//! The table is data; each row names the function that does the work.

use serde_json::{Map, Value, json};

use super::{ObjectRule, RuleOutcome, crd, name_of, note};
use crate::model::ValueAt;
use crate::plan::Severity;
use crate::podspec;

/// Kinds that carry a pod template, besides Pod itself.
const POD_TEMPLATE_KINDS: &[(&str, &str)] = &[
    ("", "PodTemplate"),
    ("", "ReplicationController"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("extensions", "Deployment"),
    ("extensions", "DaemonSet"),
    ("extensions", "ReplicaSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
];

/// Object rules, applied in this order after the conversion row.
pub const OBJECT_RULES: &[ObjectRule] = &[
    ObjectRule {
        id: "webhook-side-effects",
        group: "admissionregistration.k8s.io",
        kind: "ValidatingWebhookConfiguration",
        also: &[(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
        )],
        since_minor: None,
        reason: "a webhook created through v1beta1 keeps its default sideEffects Unknown, and a 1.16-1.21 server returns it so through v1, which refuses Unknown and Some on create: written as None and reported, as the v1beta1 conversion does",
        apply: webhook_side_effects,
    },
    ObjectRule {
        id: "crd-structural-schema",
        group: "apiextensions.k8s.io",
        kind: "CustomResourceDefinition",
        also: &[],
        since_minor: None,
        reason: "apiextensions.k8s.io/v1 refuses preserveUnknownFields: true and requires a typed schema per version: the field is replaced by x-kubernetes-preserve-unknown-fields on every schema (one accepting anything is created where none exists) and missing types are inferred, so no field of the custom resources is pruned in B",
        apply: crd::structural,
    },
    ObjectRule {
        id: "service-topology-keys",
        group: "",
        kind: "Service",
        also: &[],
        since_minor: Some(22),
        reason: "spec.topologyKeys (alpha ServiceTopology) was removed in 1.22: the field is dropped and reported, pointing at internalTrafficPolicy and topology-aware routing",
        apply: service_topology_keys,
    },
    ObjectRule {
        id: "seccomp-annotations",
        group: "",
        kind: "Pod",
        also: POD_TEMPLATE_KINDS,
        since_minor: Some(25),
        reason: "the seccomp annotations, deprecated in 1.19, are ignored by the kubelet from 1.25 and no longer copied into the fields from 1.27: each becomes securityContext.seccompProfile of the pod or container, unless the field is already set",
        apply: seccomp_annotations,
    },
    ObjectRule {
        id: "apparmor-annotations",
        group: "",
        kind: "Pod",
        also: POD_TEMPLATE_KINDS,
        since_minor: Some(30),
        reason: "AppArmor profiles are a securityContext field (appArmorProfile) from 1.30 and the container.apparmor.security.beta.kubernetes.io annotations are deprecated: each becomes the container's field, unless already set",
        apply: apparmor_annotations,
    },
    ObjectRule {
        id: "ingress-class-annotation",
        group: "networking.k8s.io",
        kind: "Ingress",
        also: &[("extensions", "Ingress")],
        since_minor: None,
        reason: "B refuses to create an Ingress with both spec.ingressClassName and the kubernetes.io/ingress.class annotation: an annotation repeating the field is removed, a conflicting one reported; an annotation alone (deprecated) is reported for B >= 1.22 and never rewritten, since it names a controller, not necessarily an IngressClass",
        apply: ingress_class_annotation,
    },
];

fn webhook_side_effects(manifest: &mut Value, _: u32) -> RuleOutcome {
    let findings = super::conversions::webhook_side_effects_none(manifest);
    RuleOutcome {
        changed: !findings.is_empty(),
        findings,
    }
}

fn service_topology_keys(manifest: &mut Value, _: u32) -> RuleOutcome {
    let name = name_of(manifest).to_string();
    let mut out = RuleOutcome::default();
    let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) else {
        return out;
    };
    let Some(keys) = spec.remove("topologyKeys") else {
        return out;
    };
    out.changed = true;
    let keys: Vec<String> = keys
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            k.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| k.to_string())
        })
        .collect();
    if !keys.is_empty() {
        out.findings.push(note(
            Severity::Warning,
            format!("Service {name}: spec.topologyKeys [{}] is dropped", keys.join(", ")),
            "the field was removed in 1.22; in B, traffic to the Service goes to any ready endpoint, wherever it runs",
            "for node-local traffic set spec.internalTrafficPolicy: Local; for zone preference use topology-aware routing (annotation service.kubernetes.io/topology-mode: Auto, or spec.trafficDistribution: PreferClose from 1.31)",
        ));
    }
    out
}

/// One annotation family that became a securityContext field.
struct ProfileAnnotations {
    /// The pod-wide annotation, if the family has one.
    pod_key: Option<&'static str>,
    /// Prefix of the per-container annotations; the container name follows.
    container_prefix: &'static str,
    /// securityContext field the profile moves to.
    field: &'static str,
    /// Annotation values meaning the runtime's default profile.
    runtime_default: &'static [&'static str],
    /// Why a profile left in an annotation matters in B.
    why: &'static str,
}

const SECCOMP: ProfileAnnotations = ProfileAnnotations {
    pod_key: Some("seccomp.security.alpha.kubernetes.io/pod"),
    container_prefix: "container.seccomp.security.alpha.kubernetes.io/",
    field: "seccompProfile",
    runtime_default: &["runtime/default", "docker/default"],
    why: "B applies only securityContext.seccompProfile: the kubelet ignores the annotations from 1.25 and the API server no longer copies them into the field from 1.27",
};

const APPARMOR: ProfileAnnotations = ProfileAnnotations {
    pod_key: None,
    container_prefix: "container.apparmor.security.beta.kubernetes.io/",
    field: "appArmorProfile",
    runtime_default: &["runtime/default"],
    why: "from 1.30 the AppArmor profile is securityContext.appArmorProfile and the annotations are deprecated; B's API server refuses pods whose annotation and field disagree",
};

fn seccomp_annotations(manifest: &mut Value, _: u32) -> RuleOutcome {
    move_profiles(manifest, &SECCOMP)
}

fn apparmor_annotations(manifest: &mut Value, _: u32) -> RuleOutcome {
    move_profiles(manifest, &APPARMOR)
}

/// The field value an annotation value stands for, if abshift knows it.
fn profile(value: &str, family: &ProfileAnnotations) -> Option<Value> {
    if family.runtime_default.contains(&value) {
        return Some(json!({"type": "RuntimeDefault"}));
    }
    if value == "unconfined" {
        return Some(json!({"type": "Unconfined"}));
    }
    match value.strip_prefix("localhost/") {
        Some(p) if !p.is_empty() => Some(json!({"type": "Localhost", "localhostProfile": p})),
        _ => None,
    }
}

/// JSON pointers of (metadata, spec) of every pod template of a manifest.
fn pod_templates(manifest: &Value) -> Vec<(String, String)> {
    let pointer = |path: &[&str]| path.iter().map(|s| format!("/{s}")).collect::<String>();
    if manifest.get("kind").and_then(Value::as_str) == Some("Pod") {
        return vec![("/metadata".into(), "/spec".into())];
    }
    podspec::POD_SPEC_PATHS
        .iter()
        .filter(|path| {
            manifest
                .at(path)
                .is_some_and(|s| s.get("containers").is_some())
        })
        .map(|path| {
            let parent = &path[..path.len() - 1];
            (pointer(&[parent, &["metadata"]].concat()), pointer(path))
        })
        .collect()
}

/// Shows a pointer as a field path: `/spec/template/spec` -> `spec.template.spec`.
fn shown(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

fn move_profiles(manifest: &mut Value, family: &ProfileAnnotations) -> RuleOutcome {
    let kind = manifest
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = name_of(manifest).to_string();
    let mut out = RuleOutcome::default();
    for (meta_ptr, spec_ptr) in pod_templates(manifest) {
        let mut annotations: Vec<(String, String)> = manifest
            .pointer(&format!("{meta_ptr}/annotations"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        // Sorted, so findings come out in the same order whatever the map keeps.
        annotations.sort();
        let mut remove = Vec::new();
        for (key, value) in annotations {
            let container = if family.pod_key == Some(key.as_str()) {
                None
            } else if let Some(c) = key.strip_prefix(family.container_prefix) {
                Some(c.to_string())
            } else {
                continue;
            };
            let at = format!("{} annotation {key}={value}", shown(&meta_ptr));
            let Some(wanted) = profile(&value, family) else {
                out.findings.push(note(
                    Severity::Warning,
                    format!("{kind} {name}: {at} cannot be mapped to securityContext.{}; kept as it is", family.field),
                    family.why,
                    "set the securityContext field by hand to the profile the containers must run with",
                ));
                continue;
            };
            let Some(spec) = manifest.pointer_mut(&spec_ptr) else {
                continue;
            };
            let (target, target_at) = match &container {
                None => (Some(spec), format!("{}.securityContext", shown(&spec_ptr))),
                Some(c) => (
                    find_container(spec, c),
                    format!("{} container {c} securityContext", shown(&spec_ptr)),
                ),
            };
            let Some(target) = target.and_then(Value::as_object_mut) else {
                out.findings.push(note(
                    Severity::Info,
                    format!("{kind} {name}: {at} names a container the pod template does not have; kept as it is"),
                    "the annotation applies to no container, in A as in B",
                    "remove the annotation when convenient",
                ));
                continue;
            };
            let Some(context) = super::child_map(target, "securityContext") else {
                continue;
            };
            match context.get(family.field) {
                None | Some(Value::Null) => {
                    context.insert(family.field.to_string(), wanted);
                }
                Some(existing) if *existing == wanted => {}
                Some(existing) => {
                    out.findings.push(note(
                        Severity::Warning,
                        format!(
                            "{kind} {name}: {at} disagrees with {target_at}.{} {existing}; the field is kept and the annotation removed",
                            family.field
                        ),
                        family.why,
                        "check which profile the containers must run with and set the securityContext field to it",
                    ));
                }
            }
            remove.push(key);
        }
        if remove.is_empty() {
            continue;
        }
        out.changed = true;
        if let Some(meta) = manifest
            .pointer_mut(&meta_ptr)
            .and_then(Value::as_object_mut)
        {
            remove_annotations(meta, &remove);
        }
    }
    out
}

fn find_container<'a>(spec: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    podspec::containers_mut(spec)
        .into_iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

fn remove_annotations(meta: &mut Map<String, Value>, keys: &[String]) {
    if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        for k in keys {
            a.remove(k);
        }
        if a.is_empty() {
            meta.remove("annotations");
        }
    }
}

const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

fn ingress_class_annotation(manifest: &mut Value, target_minor: u32) -> RuleOutcome {
    let name = name_of(manifest).to_string();
    let mut out = RuleOutcome::default();
    let annotation = manifest
        .at(&["metadata", "annotations"])
        .and_then(|a| a.get(INGRESS_CLASS_ANNOTATION))
        .and_then(Value::as_str)
        .map(str::to_string);
    let class = manifest
        .at(&["spec", "ingressClassName"])
        .and_then(Value::as_str)
        .map(str::to_string);
    match (annotation, class) {
        (Some(a), None) if target_minor >= 22 => out.findings.push(note(
            Severity::Info,
            format!("Ingress {name}: annotation {INGRESS_CLASS_ANNOTATION}={a} and no spec.ingressClassName"),
            "the annotation is deprecated (since 1.18) in favour of spec.ingressClassName; controllers still honour it, but a controller installed fresh in B may only watch its IngressClass",
            "check that B's controller serves Ingresses by this annotation; moving to spec.ingressClassName needs an IngressClass for that controller (abshift does not rewrite it: the value names a controller, not necessarily an IngressClass)",
        )),
        (Some(a), Some(c)) if a == c => {
            if let Some(meta) = manifest.get_mut("metadata").and_then(Value::as_object_mut) {
                remove_annotations(meta, &[INGRESS_CLASS_ANNOTATION.to_string()]);
            }
            out.changed = true;
            out.findings.push(note(
                Severity::Info,
                format!("Ingress {name}: annotation {INGRESS_CLASS_ANNOTATION}={a} repeats spec.ingressClassName and is removed"),
                "B refuses to create an Ingress that sets both (A allowed it only because the annotation was added by an update)",
                "nothing; also remove the annotation from the manifests, charts and pipelines that write this Ingress",
            ));
        }
        (Some(a), Some(c)) => out.findings.push(note(
            Severity::Error,
            format!("Ingress {name}: spec.ingressClassName is {c} but annotation {INGRESS_CLASS_ANNOTATION} is {a}"),
            "B refuses to create an Ingress that sets both, and in A two controllers may each believe it is theirs",
            "find which controller serves this Ingress in A, keep only spec.ingressClassName naming its IngressClass (or only the annotation), and re-plan",
        )),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::plan::Severity;
    use serde_json::json;

    #[test]
    fn v1_webhooks_with_unknown_side_effects_are_written_as_none() {
        // What a 1.20 server returns through v1 for a webhook created through v1beta1.
        let hook = json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "policy"},
            "webhooks": [
                {"name": "a.example.com", "sideEffects": "Unknown", "admissionReviewVersions": ["v1beta1"]},
                {"name": "b.example.com", "sideEffects": "NoneOnDryRun", "admissionReviewVersions": ["v1"]}]});
        let mut m = hook.clone();
        let out = convert(&mut m, None, 20);
        assert_eq!(out.rules, vec!["webhook-side-effects"]);
        assert_eq!(m["webhooks"][0]["sideEffects"], "None");
        assert_eq!(m["webhooks"][1]["sideEffects"], "NoneOnDryRun");
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].severity, Severity::Warning);
        assert!(out.findings[0].message.contains("a.example.com"));
        // Already valid: untouched, and the rule is not recorded.
        let mut again = m.clone();
        assert!(convert(&mut again, None, 34).rules.is_empty());
        assert_eq!(again, m);
    }

    #[test]
    fn service_topology_keys_are_dropped_from_1_22() {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "d"},
            "spec": {"selector": {"app": "db"}, "ports": [{"port": 5432}],
                "topologyKeys": ["kubernetes.io/hostname", "*"]}});
        let mut old = svc.clone();
        assert!(convert(&mut old, None, 21).rules.is_empty());
        assert_eq!(old, svc);
        let mut m = svc.clone();
        let out = convert(&mut m, None, 22);
        assert_eq!(out.rules, vec!["service-topology-keys"]);
        assert_eq!(
            m["spec"],
            json!({"selector": {"app": "db"}, "ports": [{"port": 5432}]})
        );
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].severity, Severity::Warning);
        assert_eq!(out.findings[0].rule, "service-topology-keys");
        assert_eq!(
            out.findings[0].message,
            "Service db: spec.topologyKeys [kubernetes.io/hostname, *] is dropped"
        );
        assert!(out.findings[0].action.contains("internalTrafficPolicy"));
    }

    #[test]
    fn seccomp_annotations_become_fields_on_a_deployment_template() {
        let mut m = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "w",
            "annotations": {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}},
        "spec": {"template": {
            "metadata": {"labels": {"app": "web"}, "annotations": {
                "seccomp.security.alpha.kubernetes.io/pod": "docker/default",
                "container.seccomp.security.alpha.kubernetes.io/sidecar": "localhost/profiles/audit.json",
                "container.seccomp.security.alpha.kubernetes.io/init": "unconfined"}},
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [{"name": "app", "image": "nginx"}, {"name": "sidecar", "image": "envoy", "securityContext": {"runAsUser": 1000}}]
            }}}});
        let out = convert(&mut m, None, 25);
        assert_eq!(out.rules, vec!["seccomp-annotations"]);
        assert!(out.findings.is_empty(), "{:?}", out.findings);
        assert_eq!(
            m,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "w",
                "annotations": {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}},
            "spec": {"template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "initContainers": [{"name": "init", "image": "busybox", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}],
                    "containers": [{"name": "app", "image": "nginx"}, {"name": "sidecar", "image": "envoy",
                        "securityContext": {"runAsUser": 1000, "seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/audit.json"}}}]
                }}}})
        );
    }

    #[test]
    fn seccomp_rule_waits_for_1_25_and_reports_disagreement_and_unknown_values() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {
                "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
                "container.seccomp.security.alpha.kubernetes.io/app": "something/else",
                "container.seccomp.security.alpha.kubernetes.io/ghost": "runtime/default"}},
            "spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}, "containers": [{"name": "app"}]}});
        let mut early = pod.clone();
        assert!(convert(&mut early, None, 24).rules.is_empty());
        let mut m = pod.clone();
        let out = convert(&mut m, None, 27);
        assert_eq!(out.rules, vec!["seccomp-annotations"]);
        assert_eq!(
            m["metadata"]["annotations"],
            json!({"container.seccomp.security.alpha.kubernetes.io/app": "something/else",
                "container.seccomp.security.alpha.kubernetes.io/ghost": "runtime/default"})
        );
        assert_eq!(
            m["spec"]["securityContext"],
            json!({"seccompProfile": {"type": "RuntimeDefault"}})
        );
        let got: Vec<(Severity, &str)> = out
            .findings
            .iter()
            .map(|f| (f.severity, f.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Severity::Warning,
                    "Pod p: metadata annotation container.seccomp.security.alpha.kubernetes.io/app=something/else cannot be mapped to securityContext.seccompProfile; kept as it is"
                ),
                (
                    Severity::Info,
                    "Pod p: metadata annotation container.seccomp.security.alpha.kubernetes.io/ghost=runtime/default names a container the pod template does not have; kept as it is"
                ),
                (
                    Severity::Warning,
                    "Pod p: metadata annotation seccomp.security.alpha.kubernetes.io/pod=unconfined disagrees with spec.securityContext.seccompProfile {\"type\":\"RuntimeDefault\"}; the field is kept and the annotation removed"
                ),
            ]
        );
    }

    #[test]
    fn apparmor_annotations_become_container_fields_from_1_30() {
        let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {
                    "container.apparmor.security.beta.kubernetes.io/dump": "localhost/k8s-dump",
                    "container.apparmor.security.beta.kubernetes.io/upload": "runtime/default"}},
                "spec": {"restartPolicy": "OnFailure", "containers": [
                    {"name": "dump", "image": "pg"},
                    {"name": "upload", "image": "aws", "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}}]}}}}}});
        let mut early = cron.clone();
        assert!(convert(&mut early, None, 29).rules.is_empty());
        let mut m = cron.clone();
        let out = convert(&mut m, None, 30);
        assert_eq!(out.rules, vec!["apparmor-annotations"]);
        assert!(out.findings.is_empty());
        let template = &m["spec"]["jobTemplate"]["spec"]["template"];
        assert!(
            template
                .get("metadata")
                .unwrap()
                .get("annotations")
                .is_none()
        );
        assert_eq!(
            template["spec"]["containers"],
            json!([
                {"name": "dump", "image": "pg", "securityContext": {"appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-dump"}}},
                {"name": "upload", "image": "aws", "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}}
            ])
        );
    }

    fn ingress(annotation: Option<&str>, class: Option<&str>) -> serde_json::Value {
        let mut m = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "i", "namespace": "n"}, "spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}});
        if let Some(a) = annotation {
            m["metadata"]["annotations"] = json!({"kubernetes.io/ingress.class": a});
        }
        if let Some(c) = class {
            m["spec"]["ingressClassName"] = json!(c);
        }
        m
    }

    #[test]
    fn ingress_class_annotation_alone_is_reported_never_rewritten() {
        let before = ingress(Some("nginx"), None);
        let mut m = before.clone();
        let out = convert(&mut m, None, 22);
        assert_eq!(m, before);
        assert!(out.rules.is_empty());
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].rule, "ingress-class-annotation");
        assert_eq!(out.findings[0].severity, Severity::Info);
        assert_eq!(
            out.findings[0].message,
            "Ingress i: annotation kubernetes.io/ingress.class=nginx and no spec.ingressClassName"
        );
        let mut old = before.clone();
        assert!(convert(&mut old, None, 21).findings.is_empty());
    }

    #[test]
    fn ingress_class_annotation_repeating_the_field_is_removed_and_a_conflict_is_an_error() {
        let mut same = ingress(Some("nginx"), Some("nginx"));
        let out = convert(&mut same, None, 20);
        assert_eq!(out.rules, vec!["ingress-class-annotation"]);
        assert_eq!(same, ingress(None, Some("nginx")));
        assert_eq!(out.findings[0].severity, Severity::Info);

        let before = ingress(Some("traefik"), Some("nginx"));
        let mut differ = before.clone();
        let out = convert(&mut differ, None, 34);
        assert_eq!(differ, before);
        assert!(out.rules.is_empty());
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].severity, Severity::Error);
        assert_eq!(
            out.findings[0].message,
            "Ingress i: spec.ingressClassName is nginx but annotation kubernetes.io/ingress.class is traefik"
        );
    }
}
