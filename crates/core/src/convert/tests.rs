//! Tests of the tables as a whole and of `convert`'s dispatch: ids unique and
//! kebab-case, reasons present, lookups, and a mismatched row refused.
//! Each row's own behaviour is tested next to its function.

use std::collections::HashSet;

use serde_json::json;

use super::*;

fn kebab(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[test]
fn every_table_has_unique_kebab_case_ids_and_one_line_reasons() {
    let rows = describe();
    assert_eq!(
        rows.len(),
        READ_PREFERENCES.len() + CONVERSIONS.len() + OBJECT_RULES.len() + REMOVED_KINDS.len()
    );
    let mut ids = HashSet::new();
    for r in &rows {
        assert!(ids.insert(r.id), "duplicate id {}", r.id);
        assert!(kebab(r.id), "{} is not kebab-case", r.id);
        assert!(!r.reason.trim().is_empty(), "{} has no reason", r.id);
        assert!(!r.reason.contains('\n'), "{}: reason is not one line", r.id);
        assert!(!r.what.is_empty());
    }
    // Finding ids that are not row ids must not collide with one either.
    for extra in [
        conversions::PDB_EMPTY_SELECTOR_MEANING,
        POD_SECURITY_POLICY_REMOVED,
        POD_SECURITY_LABEL_SUGGESTION,
    ] {
        assert!(kebab(extra));
        assert!(!ids.contains(extra), "{extra} is also a row id");
    }
}

#[test]
fn conversion_rows_are_well_formed_and_unambiguous() {
    let mut seen = HashSet::new();
    for c in CONVERSIONS {
        assert!(
            seen.insert((c.kind, c.from, c.to)),
            "two rows for {}",
            c.what()
        );
        assert_ne!(c.from, c.to, "{}", c.id);
        for v in [c.from, c.to] {
            let (_, version) = split_api_version(v);
            assert!(version.starts_with('v'), "{}: {v}", c.id);
        }
    }
    for r in OBJECT_RULES {
        assert!(!r.applies_to("", ""), "{}", r.id);
    }
}

#[test]
fn read_preference_for_hpa_only() {
    let p = read_preference("autoscaling", "HorizontalPodAutoscaler").unwrap();
    assert_eq!(p.id, "hpa-read-richest");
    assert_eq!(p.versions, &["v2", "v2beta2", "v2beta1", "v1"]);
    assert_eq!(
        p.what(),
        "HorizontalPodAutoscaler: read at autoscaling/v2, autoscaling/v2beta2, autoscaling/v2beta1, autoscaling/v1"
    );
    assert!(read_preference("apps", "Deployment").is_none());
}

#[test]
fn find_conversion_follows_the_targets_order() {
    let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let fs = "flowcontrol.apiserver.k8s.io";
    let from = format!("{fs}/v1beta1");
    // 1.26 to 1.28 serve v1beta3 (preferred) and v1beta2.
    let c = find_conversion(
        "FlowSchema",
        &from,
        &t(&[&format!("{fs}/v1beta3"), &format!("{fs}/v1beta2")]),
    );
    assert_eq!(c.unwrap().id, "flowschema-v1beta1-to-v1beta3");
    let c = find_conversion(
        "FlowSchema",
        &from,
        &t(&[&format!("{fs}/v1"), &format!("{fs}/v1beta3")]),
    );
    assert_eq!(c.unwrap().id, "flowschema-v1beta1-to-v1");
    // A target without a row is skipped.
    let c = find_conversion("CronJob", "batch/v1beta1", &t(&["batch/v2", "batch/v1"]));
    assert_eq!(c.unwrap().id, "cronjob-batch-v1beta1-to-v1");
    assert!(find_conversion("CronJob", "batch/v2alpha1", &t(&["batch/v1"])).is_none());
    assert!(find_conversion("Widget", "example.com/v1beta1", &t(&["example.com/v1"])).is_none());
    assert!(find_conversion("CronJob", "batch/v1beta1", &[]).is_none());
}

#[test]
fn removed_kinds_name_pod_security_policy() {
    let r = removed_kind("policy", "PodSecurityPolicy").unwrap();
    assert_eq!((r.id, r.removed_in), ("psp-policy-removed", 25));
    assert!(r.replacement.contains("Pod Security Admission"));
    assert_eq!(
        removed_kind("extensions", "PodSecurityPolicy")
            .unwrap()
            .removed_in,
        16
    );
    assert!(removed_kind("batch", "CronJob").is_none());
}

#[test]
fn convert_without_a_row_only_applies_object_rules() {
    let mut m = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    let before = m.clone();
    let out = convert(&mut m, None, 34);
    assert_eq!(
        out,
        Converted {
            api_version: "v1".into(),
            rules: vec![],
            findings: vec![]
        }
    );
    assert_eq!(m, before);
}

#[test]
fn a_row_for_another_object_is_refused_not_applied() {
    let mut m =
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {}});
    let row = CONVERSIONS
        .iter()
        .find(|c| c.id == "cronjob-batch-v1beta1-to-v1")
        .unwrap();
    let out = convert(&mut m, Some(row), 25);
    assert_eq!(out.api_version, "batch/v1");
    assert!(out.rules.is_empty());
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].severity, Severity::Error);
    assert_eq!(
        out.findings[0].message,
        "conversion cronjob-batch-v1beta1-to-v1 is for CronJob batch/v1beta1 but the object is CronJob batch/v1; it was not converted"
    );
}

#[test]
fn object_rules_follow_the_conversion_and_see_the_new_group() {
    // An extensions Ingress with both class settings: converted, then the annotation rule applies.
    let mut m = json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress",
        "metadata": {"name": "i", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
        "spec": {"ingressClassName": "nginx", "backend": {"serviceName": "s", "servicePort": 80}}});
    let row = find_conversion(
        "Ingress",
        "extensions/v1beta1",
        &["networking.k8s.io/v1".into()],
    )
    .unwrap();
    let out = convert(&mut m, Some(row), 22);
    assert_eq!(
        out.rules,
        vec![
            "ingress-extensions-v1beta1-to-v1",
            "ingress-class-annotation"
        ]
    );
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].rule, "ingress-class-annotation");
    assert_eq!(
        m,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"},
            "spec": {"ingressClassName": "nginx", "defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}})
    );
}

#[test]
fn describe_shows_from_to_and_kinds() {
    let rows = describe();
    let find = |id: &str| rows.iter().find(|r| r.id == id).unwrap();
    assert_eq!(find("hpa-read-richest").table, "read-preference");
    let c = find("ingress-extensions-v1beta1-to-v1");
    assert_eq!(
        (c.table, c.what.as_str()),
        (
            "conversion",
            "Ingress extensions/v1beta1 -> networking.k8s.io/v1"
        )
    );
    let r = find("service-topology-keys");
    assert_eq!(
        (r.table, r.what.as_str()),
        ("object-rule", "Service (B >= 1.22)")
    );
    assert_eq!(
        find("crd-structural-schema").what,
        "CustomResourceDefinition.apiextensions.k8s.io"
    );
    assert!(
        find("seccomp-annotations")
            .what
            .starts_with("Pod, PodTemplate, ReplicationController, Deployment.apps")
    );
    let k = find("psp-policy-removed");
    assert_eq!(k.table, "removed-kind");
    assert!(
        k.what
            .starts_with("PodSecurityPolicy.policy (gone in 1.25) -> ")
    );
}
