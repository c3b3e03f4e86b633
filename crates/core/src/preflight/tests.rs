//! Preflight's tests: one fixture per rule under tests/fixtures/preflight (a
//! `bad-*` object it must fire on, a `good-*` one it must spare), exact messages,
//! odd manifests, and the sample estate's documented findings.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::rules::UNSERVED_API_VERSION;
use super::*;
use crate::diff::Action;
use crate::model::str_at;
use crate::plan::Severity;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/preflight")
}

/// Multi-document YAML as planned objects (every object counts as planned).
fn load(yaml: &str) -> Vec<PlannedObject> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("fixture parses"))
        .filter(|v| v.is_object())
        .map(|m| {
            let kind = str_at(&m, &["kind"]).unwrap_or("").to_string();
            let namespace = str_at(&m, &["metadata", "namespace"]).map(str::to_string);
            PlannedObject {
                api_version: str_at(&m, &["apiVersion"]).unwrap_or("").to_string(),
                resource: format!("{}s", kind.to_lowercase()),
                namespaced: namespace.is_some(),
                name: str_at(&m, &["metadata", "name"]).unwrap_or("").to_string(),
                kind,
                namespace,
                wave: 0,
                action: Action::Create,
                depends_on: vec![],
                manifest: m,
                secret_digest: None,
                secret_matches: None,
                pulled_in_by: vec![],
                diff: None,
                read_as: None,
                conversions: vec![],
                removes: vec![],
            }
        })
        .collect()
}

/// Presence as the fixture README describes it.
fn fixture_presence(objects: &[PlannedObject]) -> impl Fn(&ObjectKey) -> Presence + '_ {
    move |k: &ObjectKey| {
        if objects.iter().any(|o| o.object_ref().key() == *k) {
            Presence::InPlan
        } else if k.name.starts_with("outside-") {
            Presence::OutsideSelection
        } else if k.gk == GroupKind::core("ServiceAccount") && k.name == "default" {
            Presence::RecreatedInB
        } else if k
            .namespace
            .as_deref()
            .is_some_and(|n| n.starts_with("unlisted-"))
        {
            Presence::NotListed
        } else {
            Presence::Missing
        }
    }
}

fn run(yaml: &str) -> Vec<Finding> {
    let objects = load(yaml);
    check(&objects, &fixture_presence(&objects))
}

/// (severity, message) of the findings of `rule` about the object named `name`.
fn about(findings: &[Finding], rule: &str, name: &str) -> Vec<(Severity, String)> {
    findings
        .iter()
        .filter(|f| f.rule == rule && f.object.as_ref().is_some_and(|o| o.name == name))
        .map(|f| (f.severity, f.message.clone()))
        .collect()
}

/// Rules the planner emits itself; they have a constructor, not a fixture.
const PLANNER_RULES: &[&str] = &["unserved-api-version", "missing-dependency"];

#[test]
fn every_rule_has_a_fixture_that_triggers_it_and_spares_the_good_objects() {
    for rule in PREFLIGHT_RULES {
        if PLANNER_RULES.contains(&rule.id) {
            continue;
        }
        let path = fixture_dir().join(format!("{}.yaml", rule.id));
        let yaml = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("rule {} needs {}: {e}", rule.id, path.display()));
        let objects = load(&yaml);
        let findings = check(&objects, &fixture_presence(&objects));
        let bad: Vec<&str> = objects
            .iter()
            .map(|o| o.name.as_str())
            .filter(|n| n.starts_with("bad-"))
            .collect();
        assert!(!bad.is_empty(), "{}: no bad-* object", rule.id);
        assert!(
            objects.iter().any(|o| o.name.starts_with("good-")),
            "{}: no good-* object",
            rule.id
        );
        for o in &objects {
            let fired = findings
                .iter()
                .any(|f| f.rule == rule.id && f.object == Some(o.object_ref()));
            if o.name.starts_with("bad-") {
                assert!(fired, "{}: does not fire on {}", rule.id, o.name);
            }
            if o.name.starts_with("good-") {
                assert!(!fired, "{}: fires on {}: {findings:#?}", rule.id, o.name);
            }
        }
        for f in findings.iter().filter(|f| f.rule == rule.id) {
            assert_eq!(f.severity, rule.severity);
            assert_eq!((f.why.as_str(), f.action.as_str()), (rule.why, rule.action));
        }
    }
}

#[test]
fn every_fixture_file_names_a_rule() {
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(id) = name.strip_suffix(".yaml") {
            assert!(
                PREFLIGHT_RULES.iter().any(|r| r.id == id),
                "{name} names no preflight rule"
            );
        }
    }
}

#[test]
fn rule_table_ids_are_unique_kebab_case_with_reasons() {
    let mut seen = std::collections::HashSet::new();
    for r in PREFLIGHT_RULES {
        assert!(seen.insert(r.id), "duplicate id {}", r.id);
        assert!(
            !r.id.is_empty()
                && r.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{} is not kebab-case",
            r.id
        );
        assert!(!r.why.is_empty() && !r.action.is_empty() && !r.looks_at.is_empty());
        assert!(!r.why.contains('\n') && !r.action.contains('\n'));
    }
}

#[test]
fn readiness_probe_is_checked_per_container_but_not_for_jobs() {
    let f = run(include_str!(
        "../../../../tests/fixtures/preflight/no-readiness-probe.yaml"
    ));
    assert_eq!(
        about(&f, "no-readiness-probe", "bad-web"),
        vec![(
            Severity::Warning,
            "Deployment pf-readiness/bad-web: container \"metrics\" (spec.template.spec.containers[1]) has no readinessProbe".to_string()
        )]
    );
    assert_eq!(about(&f, "no-readiness-probe", "bad-agent").len(), 1);
    assert!(about(&f, "no-readiness-probe", "good-web").is_empty());
    assert!(about(&f, "no-readiness-probe", "good-batch").is_empty());
}

#[test]
fn clustered_workloads_need_pre_stop_and_grace_period() {
    let f = run(include_str!(
        "../../../../tests/fixtures/preflight/clustered-unclean-exit.yaml"
    ));
    assert_eq!(
        about(&f, "clustered-unclean-exit", "bad-gossip"),
        vec![(
            Severity::Warning,
            "Deployment pf-clustered/bad-gossip: no container sets spec.template.spec.containers[].lifecycle.preStop (containers: member)".to_string()
        )]
    );
    assert_eq!(
        about(&f, "clustered-unclean-exit", "bad-quick-exit"),
        vec![(
            Severity::Warning,
            "StatefulSet pf-clustered/bad-quick-exit: spec.template.spec.terminationGracePeriodSeconds is 10 (under 30)".to_string()
        )]
    );
    // Not selected by the headless Service: a short grace period is its own business.
    assert!(about(&f, "clustered-unclean-exit", "good-stateless").is_empty());
}

#[test]
fn node_ports_name_the_port_and_whether_it_is_fixed() {
    let f = run(include_str!(
        "../../../../tests/fixtures/preflight/node-port-service.yaml"
    ));
    assert_eq!(
        about(&f, "node-port-service", "bad-fixed"),
        vec![(
            Severity::Warning,
            "Service pf-nodeport/bad-fixed: spec.type NodePort; spec.ports[0] \"http\" nodePort 30081 must be free in B".to_string()
        )]
    );
    assert_eq!(
        about(&f, "node-port-service", "bad-lb"),
        vec![(
            Severity::Warning,
            "Service pf-nodeport/bad-lb: spec.type LoadBalancer; spec.ports[0] \"https\" has no nodePort: B assigns one that differs from A's".to_string()
        )]
    );
}

#[test]
fn claims_and_claim_templates_name_size_class_and_volume() {
    let f = run(include_str!(
        "../../../../tests/fixtures/preflight/pvc-data-not-moved.yaml"
    ));
    assert_eq!(
        about(&f, "pvc-data-not-moved", "bad-spool"),
        vec![(
            Severity::Warning,
            "PersistentVolumeClaim pf-pvc/bad-spool: claim bad-spool is 20Gi on StorageClass standard, no volumeName (B provisions a new volume)".to_string()
        )]
    );
    assert_eq!(
        about(&f, "pvc-data-not-moved", "bad-db"),
        vec![(
            Severity::Warning,
            "StatefulSet pf-pvc/bad-db: spec.volumeClaimTemplates[0] \"data\" is 5Gi on the default StorageClass, no volumeName (B provisions a new volume) (claims data-bad-db-0..1)".to_string()
        )]
    );
    // A claim bound by hand keeps its volumeName through normalisation only
    // if the planner keeps it; when present it is named.
    let mut objects = load(include_str!(
        "../../../../tests/fixtures/preflight/pvc-data-not-moved.yaml"
    ));
    objects[1].manifest["spec"]["volumeName"] = Value::from("pv-0042");
    let f = check(&objects, &fixture_presence(&objects));
    assert!(
        about(&f, "pvc-data-not-moved", "bad-spool")[0]
            .1
            .ends_with("StorageClass standard, volumeName pv-0042")
    );
}

#[test]
fn host_path_volumes_and_volumes_name_the_path() {
    let f = run(include_str!(
        "../../../../tests/fixtures/preflight/host-path-volume.yaml"
    ));
    assert_eq!(
        about(&f, "host-path-volume", "bad-log-reader"),
        vec![(
            Severity::Warning,
            "DaemonSet pf-hostpath/bad-log-reader: volume \"varlog\" (spec.template.spec.volumes[0].hostPath.path) is /var/log on the node".to_string()
        )]
    );
    assert_eq!(
        about(&f, "host-path-volume", "bad-local-pv"),
        vec![(
            Severity::Warning,
            "PersistentVolume bad-local-pv: spec.hostPath.path is /srv/data on one of A's nodes"
                .to_string()
        )]
    );
}

#[test]
fn missing_references_are_errors_naming_every_field() {
    let f = run(include_str!(
        "../../../../tests/fixtures/preflight/missing-reference.yaml"
    ));
    let p = "Deployment pf-missing/bad-api: ";
    let t = "spec.template.spec";
    assert_eq!(
        about(&f, "missing-reference", "bad-api"),
        vec![
            (
                Severity::Error,
                format!(
                    "{p}ConfigMap absent-config does not exist ({t}.volumes[0].configMap.name)"
                )
            ),
            (
                Severity::Error,
                format!(
                    "{p}Secret absent-db does not exist ({t}.containers[0].env[0].valueFrom.secretKeyRef.name)"
                )
            ),
            (
                Severity::Error,
                format!("{p}Secret absent-registry does not exist ({t}.imagePullSecrets[0].name)")
            ),
            (
                Severity::Error,
                format!("{p}ServiceAccount absent-sa does not exist ({t}.serviceAccountName)")
            ),
        ]
    );
    assert_eq!(
        about(&f, "missing-reference", "bad-ingress"),
        vec![(
            Severity::Error,
            "Ingress pf-missing/bad-ingress: Secret absent-cert does not exist (spec.tls[0].secretName)".to_string()
        )]
    );
    // Optional: info, not an error. default SA and unlisted namespaces: nothing.
    assert_eq!(
        about(&f, "missing-optional-reference", "good-api"),
        vec![(
            Severity::Info,
            "Deployment pf-missing/good-api: ConfigMap absent-overrides does not exist (spec.template.spec.containers[0].envFrom[0].configMapRef.name); nothing requires it".to_string()
        )]
    );
    for name in ["good-api", "good-default-sa", "good-binding"] {
        assert!(
            f.iter()
                .filter(|x| x.object.as_ref().is_some_and(|o| o.name == name))
                .all(|x| x.rule != "missing-reference" && x.rule != "reference-outside-selection")
        );
    }
    assert!(about(&f, "missing-optional-reference", "good-binding").is_empty());
}

#[test]
fn optional_references_and_binding_subjects_are_info() {
    let f = run(include_str!(
        "../../../../tests/fixtures/preflight/missing-optional-reference.yaml"
    ));
    assert_eq!(
        about(&f, "missing-optional-reference", "bad-binding"),
        vec![(
            Severity::Info,
            "RoleBinding pf-optional/bad-binding: ServiceAccount absent-reporter does not exist (subjects[0].name); nothing requires it".to_string()
        )]
    );
    assert!(f.iter().all(|x| x.severity != Severity::Error));
}

#[test]
fn references_outside_the_selection_are_warnings() {
    let f = run(include_str!(
        "../../../../tests/fixtures/preflight/reference-outside-selection.yaml"
    ));
    assert_eq!(
        about(&f, "reference-outside-selection", "bad-frontend"),
        vec![(
            Severity::Warning,
            "Deployment pf-outside/bad-frontend: Secret outside-shared-tls is not in the selection (spec.template.spec.volumes[0].projected.sources[0].secret.name); it must already exist in B or be migrated with it".to_string()
        )]
    );
    assert_eq!(
        about(&f, "reference-outside-selection", "bad-ingress").len(),
        1
    );
}

#[test]
fn pdbs_that_allow_no_disruption() {
    let f = run(include_str!(
        "../../../../tests/fixtures/preflight/pdb-blocks-drain.yaml"
    ));
    let one = |name: &str| {
        let got = about(&f, "pdb-blocks-drain", name);
        assert_eq!(got.len(), 1, "{name}: {got:?}");
        assert_eq!(got[0].0, Severity::Warning);
        got[0].1.clone()
    };
    assert_eq!(
        one("bad-zero"),
        "PodDisruptionBudget pf-pdb/bad-zero: spec.maxUnavailable is 0"
    );
    assert_eq!(
        one("bad-zero-percent"),
        "PodDisruptionBudget pf-pdb/bad-zero-percent: spec.maxUnavailable is \"0%\""
    );
    assert_eq!(
        one("bad-all"),
        "PodDisruptionBudget pf-pdb/bad-all: spec.minAvailable is \"100%\""
    );
    assert_eq!(
        one("bad-min-replicas"),
        "PodDisruptionBudget pf-pdb/bad-min-replicas: spec.minAvailable is 2, and the workloads it selects (Deployment pair) have 2 replicas in all"
    );
}

#[test]
fn unserved_api_version_names_kind_versions_and_count() {
    let f = unserved_api_version("Ingress extensions/v1beta1", "networking.k8s.io/v1", 3);
    assert_eq!(f.rule, "unserved-api-version");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.object, None);
    assert_eq!(
        f.message,
        "3 Ingress extensions/v1beta1 objects: B does not serve this version (B serves: networking.k8s.io/v1)"
    );
    assert_eq!(f.why, UNSERVED_API_VERSION.why);
    assert!(
        unserved_api_version("X v1", "", 1)
            .message
            .contains("1 X v1 object: ")
    );
}

#[test]
fn odd_manifests_do_not_panic() {
    let odd = [
        serde_json::json!({"spec": {"template": {"spec": {"containers": "nope", "volumes": [1, {"hostPath": 3}]}}}}),
        serde_json::json!({"spec": {"template": {"spec": {"containers": [null, 4, {"lifecycle": "x"}], "terminationGracePeriodSeconds": "ten"}}}}),
        serde_json::json!({"spec": {"type": "NodePort", "ports": {"a": 1}}}),
        serde_json::json!({"spec": {"type": "LoadBalancer", "ports": [{"nodePort": "x"}, 7]}}),
        serde_json::json!({"spec": {"resources": 5, "storageClassName": 3}}),
        serde_json::json!({"spec": {"replicas": "two", "volumeClaimTemplates": [null, {"spec": []}]}}),
        serde_json::json!({"spec": {"minAvailable": 2, "maxUnavailable": [], "selector": {"matchLabels": "x", "matchExpressions": [{"operator": "Weird"}]}}}),
        serde_json::json!({"spec": {"minAvailable": "abc%", "selector": {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}}}),
        serde_json::json!({"spec": {"tls": [{"secretName": 1}, "x"]}, "subjects": [{"kind": "ServiceAccount"}]}),
        serde_json::json!("a string"),
        Value::Null,
    ];
    let kinds = [
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("v1", "Service"),
        ("v1", "PersistentVolumeClaim"),
        ("v1", "PersistentVolume"),
        ("v1", "Pod"),
        ("policy/v1beta1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "Ingress"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ];
    let mut objects = Vec::new();
    for (api_version, kind) in kinds {
        for m in &odd {
            let mut o = load("kind: X\n").remove(0);
            o.api_version = api_version.into();
            o.kind = kind.into();
            o.namespace = Some("n".into());
            o.manifest = m.clone();
            objects.push(o);
        }
    }
    let _ = check(&objects, &|_| Presence::Missing);
}

#[test]
fn sample_estate_findings_are_the_documented_awkward_objects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/estate");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let objects: Vec<PlannedObject> = files
        .iter()
        .flat_map(|p| load(&std::fs::read_to_string(p).unwrap()))
        .collect();
    let findings = check(&objects, &fixture_presence(&objects));
    let names = |rule: &str| {
        let mut v: Vec<String> = findings
            .iter()
            .filter(|f| f.rule == rule)
            .filter_map(|f| f.object.as_ref())
            .map(|o| format!("{}/{}", o.namespace.as_deref().unwrap_or(""), o.name))
            .collect();
        v.dedup();
        v
    };
    assert_eq!(names("no-readiness-probe"), ["platform-tools/docs"]);
    assert_eq!(names("pdb-blocks-drain"), ["payments/payments-api"]);
    assert_eq!(names("node-port-service"), ["shop-frontend/web-nodeport"]);
    assert!(names("clustered-unclean-exit").is_empty());
    let mut cron = names("cronjob-runs-twice");
    cron.sort();
    assert_eq!(
        cron,
        ["platform-tools/registry-gc", "shop-workers/cart-cleanup"]
    );
    assert_eq!(names("host-path-volume"), ["monitoring/log-shipper"]);
    let mut pvc = names("pvc-data-not-moved");
    pvc.sort();
    assert_eq!(
        pvc,
        [
            "consul/consul",
            "monitoring/prometheus-data",
            "shop-workers/order-spool"
        ]
    );
    let missing: Vec<&String> = findings
        .iter()
        .filter(|f| f.rule == "missing-reference")
        .map(|f| &f.message)
        .collect();
    assert!(missing.is_empty(), "{missing:#?}");
}
