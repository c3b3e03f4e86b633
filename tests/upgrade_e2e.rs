//! The A/B *upgrade*: A and B at different Kubernetes versions, on real control
//! planes. Three pairs, one test each:
//!
//! - 1.20 → 1.20: the sample estate plus the old-API estate
//!   (`tests/fixtures/estate-old-api`) move with the versions A wrote them at,
//!   PodSecurityPolicy included, since B serves them all;
//! - 1.20 → 1.34: the same estate into a B that serves none of the removed
//!   versions: the plan converts each object to a version B serves, records
//!   what it read and which rules it applied, reports what cannot be carried
//!   over (PodSecurityPolicy, an empty PDB selector), and B ends up with the
//!   same objects;
//! - 1.34 → 1.34: the current estate (the sample estate at today's versions
//!   plus a v1 CRD) moves unchanged. The old-API fixtures cannot be seeded into
//!   a 1.34 A at all (it refuses every v1beta1 file), so this pair checks that
//!   nothing is converted when nothing needs to be.
//!
//! Each test runs plan, apply --dry-run, apply and verify with the CLI, then
//! reads B back with kubectl. Expectations that do not depend on each other
//! are collected and reported together (`Checks`), so one failing run names
//! everything that is missing; only a plan that cannot be made stops a test
//! early. The tests run one at a time (three pairs on two cores is plenty).

mod support;
mod upgrade_checks;

use serde_json::{Value, json};
use support::{NEW_K8S, OLD_K8S};
use upgrade_checks::*;

#[test]
fn same_version_old_to_old_keeps_api_versions() {
    let _serial = serial();
    let (a, b) = (OLD_K8S, OLD_K8S);
    let Some(env) = pair(
        a,
        b,
        &[&support::estate_dir_for(a), &support::old_api_estate_dir()],
    ) else {
        return;
    };
    let mut checks = Checks::new("1.20 -> 1.20");
    let (plan_path, plan, _) = plan(env, a, b);

    // Every old-API object is planned at the version A wrote it with: B serves it.
    for (kind, name, at) in [
        ("CronJob", "nightly-report", "batch/v1beta1"),
        ("PodDisruptionBudget", "web", "policy/v1beta1"),
        ("PodDisruptionBudget", "everything", "policy/v1beta1"),
        ("HorizontalPodAutoscaler", "web", "autoscaling/v2beta2"),
    ] {
        if let Some(o) = must_plan(&mut checks, &plan, kind, Some(NS), name) {
            check_kept(&mut checks, o, at);
        }
    }
    if let Some(o) = must_plan(
        &mut checks,
        &plan,
        "PodSecurityPolicy",
        None,
        "legacy-restricted",
    ) {
        check_kept(&mut checks, o, "policy/v1beta1");
    }
    if let Some(o) = must_plan(
        &mut checks,
        &plan,
        "HorizontalPodAutoscaler",
        Some(NS),
        "web",
    ) {
        check_hpa_spec(
            &mut checks,
            "planned HPA legacy/web",
            &o["manifest"]["spec"],
        );
    }
    if let Some(o) = must_plan(&mut checks, &plan, "Ingress", Some(NS), "legacy") {
        check_ingress_v1(&mut checks, &label(o), &o["manifest"]["spec"]);
    }
    must_plan(&mut checks, &plan, "CustomResourceDefinition", None, CRD);
    must_plan(
        &mut checks,
        &plan,
        "ValidatingWebhookConfiguration",
        None,
        "legacy-policy",
    );
    for name in ["orders-db", "uploads"] {
        must_plan(&mut checks, &plan, "Backup", Some(NS), name);
    }
    // B serves PodSecurityPolicy: nothing is lost, so no removal finding.
    let psp_removed: Vec<String> = findings(&plan)
        .iter()
        .filter(|f| f["rule"] == "pod-security-policy-removed")
        .map(|f| f.to_string())
        .collect();
    checks.check(psp_removed.is_empty(), || {
        format!(
            "B serves PodSecurityPolicy, yet pod-security-policy-removed findings: {psp_removed:?}"
        )
    });

    apply_and_verify(env, &mut checks, &plan_path);

    // B holds every old-API object, at A's versions.
    check_backups_in_b(
        env,
        &mut checks,
        &support::old_api_estate_dir().join("90-custom-resources.yaml"),
        false,
    );
    check_cronjob_in_b(
        env,
        &mut checks,
        "cronjobs.v1beta1.batch",
        "cronjobs.v1beta1.batch",
    );
    check_hpa_in_b(
        env,
        &mut checks,
        "horizontalpodautoscalers.v2beta2.autoscaling",
    );
    // A's copy, not the fixture: the server leaves out the `false` fields.
    let psp_args = ["podsecuritypolicies.v1beta1.policy", "legacy-restricted"];
    if let (Some(want), Some(psp)) = (
        read(env, &mut checks, "paas-a", &psp_args),
        read(env, &mut checks, "paas-b", &psp_args),
    ) && let Err(e) = contained(&want["spec"], &psp["spec"], "spec")
    {
        checks.fail(format!("PodSecurityPolicy legacy-restricted in B: {e}"));
    }
    if let Some(pdb) = read(
        env,
        &mut checks,
        "paas-b",
        &[
            "poddisruptionbudgets.v1beta1.policy",
            "-n",
            NS,
            "everything",
        ],
    ) {
        checks.check(pdb["spec"]["selector"] == json!({}), || {
            format!(
                "PDB {NS}/everything in B: selector {}, expected {{}} (v1beta1: selects nothing)",
                pdb["spec"]["selector"]
            )
        });
    }
    check_ingress_and_webhook_in_b(env, &mut checks);
    checks.finish();
}

#[test]
fn upgrade_old_to_new_converts_removed_api_versions() {
    let _serial = serial();
    let (a, b) = (OLD_K8S, NEW_K8S);
    let Some(env) = pair(
        a,
        b,
        &[&support::estate_dir_for(a), &support::old_api_estate_dir()],
    ) else {
        return;
    };
    let mut checks = Checks::new("1.20 -> 1.34");
    let (plan_path, plan, _) = plan(env, a, b);

    // Nothing is planned at a version B no longer serves.
    let removed = [
        "apiextensions.k8s.io/v1beta1",
        "admissionregistration.k8s.io/v1beta1",
        "batch/v1beta1",
        "policy/v1beta1",
        "autoscaling/v2beta1",
        "autoscaling/v2beta2",
        "networking.k8s.io/v1beta1",
        "extensions/v1beta1",
    ];
    let at_removed: Vec<String> = objects(&plan)
        .iter()
        .filter(|o| removed.iter().any(|r| o["apiVersion"] == *r))
        .map(label)
        .collect();
    checks.check(at_removed.is_empty(), || {
        format!("planned at versions {b} does not serve: {at_removed:?}")
    });
    // Every object converted from another version says from which and how.
    for o in objects(&plan) {
        if o.get("readAs").is_some() {
            checks.check(
                o["readAs"] != o["apiVersion"] && !conversions(o).is_empty(),
                || {
                    format!(
                        "{}: readAs {} with conversions {}",
                        label(o),
                        o["readAs"],
                        o["conversions"]
                    )
                },
            );
        }
    }
    // The sample estate's CronJobs, PDBs and v2beta2 HPAs convert like the old-API estate's.
    for (kind, from, to) in [
        ("CronJob", "batch/v1beta1", "batch/v1"),
        ("PodDisruptionBudget", "policy/v1beta1", "policy/v1"),
    ] {
        let all: Vec<&Value> = objects(&plan)
            .iter()
            .filter(|o| o["kind"] == kind)
            .collect();
        checks.check(!all.is_empty(), || format!("no {kind} planned"));
        for o in all {
            check_converted(&mut checks, o, from, to);
        }
    }

    // The schemaless v1beta1 CRD: a schema per version, no preserveUnknownFields: true.
    if let Some(o) = must_plan(&mut checks, &plan, "CustomResourceDefinition", None, CRD) {
        let l = label(o);
        let spec = &o["manifest"]["spec"];
        checks.check(o["apiVersion"] == "apiextensions.k8s.io/v1", || {
            format!(
                "{l}: planned at {}, expected apiextensions.k8s.io/v1",
                o["apiVersion"]
            )
        });
        checks.check(spec["preserveUnknownFields"] != true, || {
            format!("{l}: manifest keeps preserveUnknownFields: true (v1 rejects it)")
        });
        let versions = spec["versions"].as_array().cloned().unwrap_or_default();
        checks.check(!versions.is_empty(), || format!("{l}: no spec.versions"));
        for v in &versions {
            checks.check(v["schema"]["openAPIV3Schema"].is_object(), || {
                format!(
                    "{l}: version {} has no schema.openAPIV3Schema (v1 requires one): {v}",
                    v["name"]
                )
            });
            checks.check(v["subresources"]["status"].is_object(), || {
                format!("{l}: version {} lost subresources.status", v["name"])
            });
            let cols: Vec<&str> = v["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["jsonPath"].as_str())
                .collect();
            checks.check(
                cols == [
                    ".spec.schedule",
                    ".spec.target.kind",
                    ".status.lastSuccess",
                    ".metadata.creationTimestamp",
                ],
                || format!("{l}: version {} printer columns {cols:?}", v["name"]),
            );
        }
        checks.check(!conversions(o).is_empty(), || {
            format!(
                "{l}: conversions is {}, expected the rule that gave it a schema",
                o["conversions"]
            )
        });
        checks.check(
            o.get("readAs").is_none()
                || o["readAs"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("apiextensions.k8s.io/")),
            || format!("{l}: readAs {}", o["readAs"]),
        );
    }

    // CronJob: batch/v1, same schedule and job template.
    if let Some(o) = must_plan(&mut checks, &plan, "CronJob", Some(NS), "nightly-report") {
        check_converted(&mut checks, o, "batch/v1beta1", "batch/v1");
        let want = fixture("CronJob", "nightly-report");
        if let Err(e) = contained(&want["spec"], &o["manifest"]["spec"], "spec") {
            checks.fail(format!(
                "{}: manifest differs from the fixture: {e}",
                label(o)
            ));
        }
    }
    // PDBs: policy/v1; the empty selector is a finding, the other is not.
    for name in ["web", "everything"] {
        if let Some(o) = must_plan(&mut checks, &plan, "PodDisruptionBudget", Some(NS), name) {
            check_converted(&mut checks, o, "policy/v1beta1", "policy/v1");
        }
    }
    let pdb_findings = |name: &str| -> Vec<&Value> {
        findings(&plan)
            .into_iter()
            .filter(|f| {
                f["rule"] == "pdb-empty-selector-meaning"
                    && finding_is_about(f, "PodDisruptionBudget", Some(NS), name)
            })
            .collect()
    };
    checks.check(pdb_findings("everything").len() == 1, || {
        format!(
            "expected one pdb-empty-selector-meaning finding for PodDisruptionBudget {NS}/everything; findings:\n{}",
            summarize_findings(&plan)
        )
    });
    checks.check(pdb_findings("web").is_empty(), || {
        format!(
            "PodDisruptionBudget {NS}/web has a selector, yet a pdb-empty-selector-meaning finding"
        )
    });
    // HPA: autoscaling/v2 with both metrics and the behavior.
    if let Some(o) = must_plan(
        &mut checks,
        &plan,
        "HorizontalPodAutoscaler",
        Some(NS),
        "web",
    ) {
        check_converted(&mut checks, o, "autoscaling/v2beta2", "autoscaling/v2");
        check_hpa_spec(
            &mut checks,
            &format!("planned {}", label(o)),
            &o["manifest"]["spec"],
        );
    }
    // Ingress: networking.k8s.io/v1 backends and a pathType per path.
    if let Some(o) = must_plan(&mut checks, &plan, "Ingress", Some(NS), "legacy") {
        let l = label(o);
        checks.check(o["apiVersion"] == "networking.k8s.io/v1", || {
            format!(
                "{l}: planned at {}, expected networking.k8s.io/v1",
                o["apiVersion"]
            )
        });
        checks.check(
            o.get("readAs").is_none()
                || o["readAs"] == "networking.k8s.io/v1beta1"
                || o["readAs"] == "extensions/v1beta1",
            || format!("{l}: readAs {}", o["readAs"]),
        );
        check_ingress_v1(&mut checks, &l, &o["manifest"]["spec"]);
    }
    // Webhook: admissionregistration v1 with a sideEffects class v1 accepts.
    if let Some(o) = must_plan(
        &mut checks,
        &plan,
        "ValidatingWebhookConfiguration",
        None,
        "legacy-policy",
    ) {
        let l = label(o);
        checks.check(o["apiVersion"] == "admissionregistration.k8s.io/v1", || {
            format!("{l}: planned at {}", o["apiVersion"])
        });
        checks.check(!conversions(o).is_empty(), || {
            format!(
                "{l}: conversions is {}, expected the rule that replaced sideEffects: Unknown",
                o["conversions"]
            )
        });
        check_webhook_v1(&mut checks, &l, &o["manifest"]);
    }
    // PodSecurityPolicy: not planned (B has no such kind), an error finding
    // instead, and a Pod Security Admission label suggested for `legacy`.
    let psps: Vec<String> = objects(&plan)
        .iter()
        .filter(|o| o["kind"] == "PodSecurityPolicy")
        .map(label)
        .collect();
    checks.check(psps.is_empty(), || {
        format!("PodSecurityPolicy planned although {b} does not serve it: {psps:?}")
    });
    let psp_error = findings(&plan).into_iter().any(|f| {
        f["rule"] == "pod-security-policy-removed"
            && f["severity"] == "error"
            && (f["object"]["name"] == "legacy-restricted"
                || finding_text(f).contains("legacy-restricted"))
    });
    checks.check(psp_error, || {
        format!(
            "expected an error finding pod-security-policy-removed naming PodSecurityPolicy legacy-restricted; findings:\n{}",
            summarize_findings(&plan)
        )
    });
    let psa_suggestion = findings(&plan).into_iter().any(|f| {
        let text = finding_text(f);
        let names_ns = finding_is_about(f, "Namespace", None, NS)
            || f["object"]["namespace"] == NS
            || words(&text).contains(NS);
        let suggests = ["privileged", "baseline", "restricted"]
            .iter()
            .any(|level| text.contains(&format!("pod-security.kubernetes.io/enforce={level}")));
        names_ns && suggests
    });
    checks.check(psa_suggestion, || {
        format!(
            "expected a finding naming namespace {NS} with a pod-security.kubernetes.io/enforce=<level> suggestion; findings:\n{}",
            summarize_findings(&plan)
        )
    });
    // The seccomp annotation does nothing from 1.27 on: the plan moves it to
    // the field, or says so.
    if let Some(o) = must_plan(&mut checks, &plan, "Deployment", Some(NS), "api") {
        let field =
            &o["manifest"]["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]["type"];
        let reported = findings(&plan).into_iter().any(|f| {
            finding_is_about(f, "Deployment", Some(NS), "api")
                && finding_text(f).to_lowercase().contains("seccomp")
        });
        checks.check(field == "RuntimeDefault" || reported, || {
            format!(
                "Deployment {NS}/api: the pod template's seccomp annotation (ignored by {b}) is neither \
                 securityContext.seccompProfile RuntimeDefault in the plan ({}) nor a finding",
                o["manifest"]["spec"]["template"]["spec"]["securityContext"]
            )
        });
    }

    apply_and_verify(env, &mut checks, &plan_path);

    // What B holds, read back at B's versions.
    check_backups_in_b(
        env,
        &mut checks,
        &support::old_api_estate_dir().join("90-custom-resources.yaml"),
        true,
    );
    check_cronjob_in_b(
        env,
        &mut checks,
        "cronjobs.v1beta1.batch",
        "cronjobs.v1.batch",
    );
    check_hpa_in_b(env, &mut checks, "horizontalpodautoscalers.v2.autoscaling");
    for name in ["web", "everything"] {
        read(
            env,
            &mut checks,
            "paas-b",
            &["poddisruptionbudgets.v1.policy", "-n", NS, name],
        );
    }
    check_ingress_and_webhook_in_b(env, &mut checks);
    for name in ["web", "api"] {
        read(
            env,
            &mut checks,
            "paas-b",
            &["deployments.v1.apps", "-n", NS, name],
        );
    }
    checks.finish();
}

#[test]
fn same_version_new_to_new_converts_nothing() {
    let _serial = serial();
    let (a, b) = (NEW_K8S, NEW_K8S);
    let current = support::old_api_estate_dir().join("current");
    let mut checks = Checks::new("1.34 -> 1.34");
    // The v1 fixture's custom resources are the old-API fixture's, field for field.
    let old_crs = fixture_backups(&support::old_api_estate_dir().join("90-custom-resources.yaml"));
    let new_crs = fixture_backups(&current.join("90-custom-resources.yaml"));
    assert_eq!(
        old_crs, new_crs,
        "current/90-custom-resources.yaml must match ../90-custom-resources.yaml"
    );
    let Some(env) = pair(a, b, &[&support::estate_dir_for(a), &current]) else {
        return;
    };
    let (plan_path, plan, _) = plan(env, a, b);

    // Same versions on both sides: nothing read at one version and written at another.
    let converted: Vec<String> = objects(&plan)
        .iter()
        .filter(|o| o.get("readAs").is_some() || !conversions(o).is_empty())
        .map(|o| {
            format!(
                "{} (readAs {}, conversions {})",
                label(o),
                o["readAs"],
                o["conversions"]
            )
        })
        .collect();
    checks.check(converted.is_empty(), || {
        format!("{b} -> {b}: objects converted: {converted:?}")
    });
    for (kind, at) in [
        ("CronJob", "batch/v1"),
        ("PodDisruptionBudget", "policy/v1"),
        ("CustomResourceDefinition", "apiextensions.k8s.io/v1"),
    ] {
        let all: Vec<&Value> = objects(&plan)
            .iter()
            .filter(|o| o["kind"] == kind)
            .collect();
        checks.check(!all.is_empty(), || format!("no {kind} planned"));
        for o in all {
            check_kept(&mut checks, o, at);
        }
    }
    // The estate's v2beta2 HPAs were seeded as autoscaling/v2; the v1 one stays v1.
    for o in objects(&plan)
        .iter()
        .filter(|o| o["kind"] == "HorizontalPodAutoscaler")
    {
        checks.check(
            o["apiVersion"] == "autoscaling/v2" || o["apiVersion"] == "autoscaling/v1",
            || format!("{}: planned at {}", label(o), o["apiVersion"]),
        );
    }
    // The v1 CRD is planned as written: schema kept, preserveUnknownFields
    // false (v1 omits a false one when read, so it is compared apart).
    if let Some(o) = must_plan(&mut checks, &plan, "CustomResourceDefinition", None, CRD) {
        let mut want = support::manifests(&current.join("01-crd.yaml")).remove(0);
        let spec = want["spec"].as_object_mut().unwrap();
        assert_eq!(
            spec.remove("preserveUnknownFields"),
            Some(Value::Bool(false))
        );
        checks.check(
            o["manifest"]["spec"]["preserveUnknownFields"] != true,
            || format!("{}: preserveUnknownFields is true", label(o)),
        );
        if let Err(e) = contained(&want["spec"], &o["manifest"]["spec"], "spec") {
            checks.fail(format!(
                "{}: manifest differs from the fixture: {e}",
                label(o)
            ));
        }
    }
    let psp_removed = findings(&plan)
        .iter()
        .any(|f| f["rule"] == "pod-security-policy-removed");
    checks.check(!psp_removed, || {
        "a pod-security-policy-removed finding without any PodSecurityPolicy in A".to_string()
    });

    apply_and_verify(env, &mut checks, &plan_path);
    check_backups_in_b(
        env,
        &mut checks,
        &current.join("90-custom-resources.yaml"),
        true,
    );
    checks.finish();
}
