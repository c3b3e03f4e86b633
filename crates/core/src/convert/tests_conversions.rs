//! One test (at least) per conversion row that lives in `conversions.rs`, with
//! the exact output shape; a last test checks that no row of the table is left
//! without one here or next to its own converter (Ingress, HPA, CRD).

use serde_json::{Value, json};

use super::*;

fn row(id: &str) -> &'static Conversion {
    CONVERSIONS
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no row {id}"))
}

fn run(id: &str, mut m: Value) -> (Value, Converted) {
    let out = convert(&mut m, Some(row(id)), 34);
    (m, out)
}

/// Rows whose schema is identical: a realistic object of each, which must come
/// out unchanged but for apiVersion.
fn same_shape_samples() -> Vec<(&'static str, Value)> {
    let fc = "flowcontrol.apiserver.k8s.io";
    let flow_schema = |v: &str| {
        json!({"apiVersion": format!("{fc}/{v}"), "kind": "FlowSchema", "metadata": {"name": "batch-jobs"},
            "spec": {"priorityLevelConfiguration": {"name": "workload-low"}, "matchingPrecedence": 1000,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [{"subjects": [{"kind": "ServiceAccount", "serviceAccount": {"name": "runner", "namespace": "ci"}}],
                    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"]}]}]}})
    };
    vec![
        (
            "cronjob-batch-v1beta1-to-v1",
            json!({"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "report", "namespace": "ops"},
            "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 3,
                "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "r", "image": "report:1"}]}}}}}}),
        ),
        (
            "hpa-autoscaling-v2beta2-to-v2",
            json!({"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"maxReplicas": 4, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}}}),
        ),
        (
            "ingressclass-v1beta1-to-v1",
            json!({"apiVersion": "networking.k8s.io/v1beta1", "kind": "IngressClass", "metadata": {"name": "nginx"},
            "spec": {"controller": "k8s.io/ingress-nginx"}}),
        ),
        (
            "rbac-role-v1beta1-to-v1",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1beta1", "kind": "Role", "metadata": {"name": "r", "namespace": "n"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
        ),
        (
            "rbac-clusterrole-v1beta1-to-v1",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1beta1", "kind": "ClusterRole", "metadata": {"name": "agg"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-agg": "true"}}]}}),
        ),
        (
            "rbac-rolebinding-v1beta1-to-v1",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1beta1", "kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "n"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "n"}]}),
        ),
        (
            "rbac-clusterrolebinding-v1beta1-to-v1",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1beta1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "auditors"}]}),
        ),
        (
            "priorityclass-v1beta1-to-v1",
            json!({"apiVersion": "scheduling.k8s.io/v1beta1", "kind": "PriorityClass", "metadata": {"name": "high"},
            "value": 100000, "globalDefault": false, "description": "user-facing"}),
        ),
        (
            "storageclass-v1beta1-to-v1",
            json!({"apiVersion": "storage.k8s.io/v1beta1", "kind": "StorageClass", "metadata": {"name": "gp3"},
            "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": true}),
        ),
        (
            "csidriver-v1beta1-to-v1",
            json!({"apiVersion": "storage.k8s.io/v1beta1", "kind": "CSIDriver", "metadata": {"name": "efs.csi.aws.com"},
            "spec": {"attachRequired": false, "podInfoOnMount": false, "volumeLifecycleModes": ["Persistent"]}}),
        ),
        (
            "csistoragecapacity-v1beta1-to-v1",
            json!({"apiVersion": "storage.k8s.io/v1beta1", "kind": "CSIStorageCapacity", "metadata": {"name": "cap", "namespace": "n"},
            "storageClassName": "local", "capacity": "10Gi", "nodeTopology": {"matchLabels": {"topology.kubernetes.io/zone": "a"}}}),
        ),
        (
            "runtimeclass-v1beta1-to-v1",
            json!({"apiVersion": "node.k8s.io/v1beta1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"},
            "handler": "runsc", "overhead": {"podFixed": {"memory": "120Mi", "cpu": "250m"}},
            "scheduling": {"nodeSelector": {"sandbox": "gvisor"}, "tolerations": [{"key": "sandbox", "operator": "Exists"}]}}),
        ),
        ("flowschema-v1beta1-to-v1", flow_schema("v1beta1")),
        ("flowschema-v1beta2-to-v1", flow_schema("v1beta2")),
        ("flowschema-v1beta3-to-v1", flow_schema("v1beta3")),
        ("flowschema-v1beta1-to-v1beta3", flow_schema("v1beta1")),
        ("flowschema-v1beta2-to-v1beta3", flow_schema("v1beta2")),
        (
            "prioritylevel-v1beta3-to-v1",
            json!({"apiVersion": format!("{fc}/v1beta3"), "kind": "PriorityLevelConfiguration", "metadata": {"name": "workload-low"},
            "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 100, "lendablePercent": 90, "limitResponse": {"type": "Reject"}}}}),
        ),
        (
            "networkpolicy-extensions-v1beta1-to-v1",
            json!({"apiVersion": "extensions/v1beta1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "n"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        ),
        (
            "apiservice-v1beta1-to-v1",
            json!({"apiVersion": "apiregistration.k8s.io/v1beta1", "kind": "APIService", "metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
                "service": {"namespace": "kube-system", "name": "metrics-server", "port": 443}, "insecureSkipTLSVerify": true}}),
        ),
        (
            "psp-extensions-to-policy-v1beta1",
            json!({"apiVersion": "extensions/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": "p"},
            "spec": {"privileged": false, "seLinux": {"rule": "RunAsAny"}, "runAsUser": {"rule": "RunAsAny"},
                "supplementalGroups": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"}, "volumes": ["*"]}}),
        ),
        (
            "deployment-apps-v1beta2-to-v1",
            json!({"apiVersion": "apps/v1beta2", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        ),
        (
            "daemonset-apps-v1beta2-to-v1",
            json!({"apiVersion": "apps/v1beta2", "kind": "DaemonSet", "metadata": {"name": "ds", "namespace": "n"},
            "spec": {"selector": {"matchLabels": {"app": "ds"}}, "updateStrategy": {"type": "RollingUpdate"},
                "template": {"metadata": {"labels": {"app": "ds"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        ),
        (
            "replicaset-apps-v1beta2-to-v1",
            json!({"apiVersion": "apps/v1beta2", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "n"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "rs"}},
                "template": {"metadata": {"labels": {"app": "rs"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        ),
        (
            "statefulset-apps-v1beta2-to-v1",
            json!({"apiVersion": "apps/v1beta2", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "n"},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "updateStrategy": {"type": "RollingUpdate"},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        ),
    ]
}

#[test]
fn same_shape_rows_change_only_the_api_version() {
    for (id, manifest) in same_shape_samples() {
        let (out_manifest, out) = run(id, manifest.clone());
        let mut expected = manifest;
        expected["apiVersion"] = json!(row(id).to);
        assert_eq!(out_manifest, expected, "{id}");
        assert_eq!(out.api_version, row(id).to, "{id}");
        assert_eq!(out.rules, vec![id], "{id}");
        assert!(out.findings.is_empty(), "{id}: {:?}", out.findings);
    }
}

fn pdb(selector: Option<Value>) -> Value {
    let mut m = json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "all", "namespace": "n"},
        "spec": {"minAvailable": 1}});
    if let Some(s) = selector {
        m["spec"]["selector"] = s;
    }
    m
}

#[test]
fn pdb_empty_selector_is_kept_and_reported() {
    for empty in [
        json!({}),
        json!({"matchLabels": {}}),
        json!({"matchLabels": {}, "matchExpressions": []}),
    ] {
        let (m, out) = run("pdb-policy-v1beta1-to-v1", pdb(Some(empty.clone())));
        assert_eq!(
            m,
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "all", "namespace": "n"},
            "spec": {"minAvailable": 1, "selector": empty}})
        );
        assert_eq!(out.rules, vec!["pdb-policy-v1beta1-to-v1"]);
        assert_eq!(out.findings.len(), 1);
        let f = &out.findings[0];
        assert_eq!(
            (f.rule.as_str(), f.severity),
            ("pdb-empty-selector-meaning", Severity::Warning)
        );
        assert_eq!(
            f.message,
            "PodDisruptionBudget all has an empty spec.selector ({}): in policy/v1beta1 it selected no pods, in policy/v1 it selects every pod in the namespace"
        );
    }
}

#[test]
fn pdb_unset_or_real_selector_converts_silently() {
    // An unset selector selects no pods in either version.
    let (m, out) = run("pdb-policy-v1beta1-to-v1", pdb(None));
    assert_eq!(m["apiVersion"], "policy/v1");
    assert!(out.findings.is_empty());
    let (_, out) = run(
        "pdb-policy-v1beta1-to-v1",
        pdb(Some(json!({"matchLabels": {"app": "db"}}))),
    );
    assert!(out.findings.is_empty());
}

#[test]
fn webhook_configurations_get_v1beta1_defaults_written_out() {
    for (id, kind) in [
        (
            "validating-webhook-v1beta1-to-v1",
            "ValidatingWebhookConfiguration",
        ),
        (
            "mutating-webhook-v1beta1-to-v1",
            "MutatingWebhookConfiguration",
        ),
    ] {
        let m = json!({"apiVersion": "admissionregistration.k8s.io/v1beta1", "kind": kind, "metadata": {"name": "policy"},
        "webhooks": [
            {"name": "a.example.com", "clientConfig": {"service": {"namespace": "p", "name": "hook"}},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]},
            {"name": "b.example.com", "clientConfig": {"url": "https://hook.example.com"}, "sideEffects": "NoneOnDryRun",
                "admissionReviewVersions": ["v1", "v1beta1"], "timeoutSeconds": 5, "failurePolicy": "Fail", "matchPolicy": "Equivalent"},
            {"name": "c.example.com", "clientConfig": {"url": "https://c.example.com"}, "sideEffects": "Some"}
        ]});
        let (m, out) = run(id, m);
        assert_eq!(
            m,
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": "policy"},
            "webhooks": [
                {"name": "a.example.com", "clientConfig": {"service": {"namespace": "p", "name": "hook"}},
                    "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
                    "sideEffects": "None", "admissionReviewVersions": ["v1beta1"], "timeoutSeconds": 30, "failurePolicy": "Ignore", "matchPolicy": "Exact"},
                {"name": "b.example.com", "clientConfig": {"url": "https://hook.example.com"}, "sideEffects": "NoneOnDryRun",
                    "admissionReviewVersions": ["v1", "v1beta1"], "timeoutSeconds": 5, "failurePolicy": "Fail", "matchPolicy": "Equivalent"},
                {"name": "c.example.com", "clientConfig": {"url": "https://c.example.com"}, "sideEffects": "None",
                    "admissionReviewVersions": ["v1beta1"], "timeoutSeconds": 30, "failurePolicy": "Ignore", "matchPolicy": "Exact"}
            ]}),
            "{id}"
        );
        let got: Vec<(&str, Severity, &str)> = out
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.severity, f.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    id,
                    Severity::Warning,
                    "webhook a.example.com of policy declares no sideEffects (v1beta1 default Unknown); written to B as sideEffects: None"
                ),
                (
                    id,
                    Severity::Warning,
                    "webhook c.example.com of policy declares sideEffects Some; written to B as sideEffects: None"
                ),
            ]
        );
    }
}

#[test]
fn priority_levels_rename_assured_to_nominal_shares() {
    let fc = "flowcontrol.apiserver.k8s.io";
    for (id, from, shares, want) in [
        (
            "prioritylevel-v1beta1-to-v1",
            "v1beta1",
            Some(json!(20)),
            json!(20),
        ),
        ("prioritylevel-v1beta2-to-v1", "v1beta2", None, json!(30)),
        (
            "prioritylevel-v1beta1-to-v1beta3",
            "v1beta1",
            Some(json!(0)),
            json!(30),
        ),
        (
            "prioritylevel-v1beta2-to-v1beta3",
            "v1beta2",
            Some(json!(45)),
            json!(45),
        ),
    ] {
        let mut limited = json!({"limitResponse": {"type": "Queue", "queuing": {"queues": 64, "handSize": 6, "queueLengthLimit": 50}}});
        if let Some(s) = shares {
            limited["assuredConcurrencyShares"] = s;
        }
        let m = json!({"apiVersion": format!("{fc}/{from}"), "kind": "PriorityLevelConfiguration", "metadata": {"name": "p"},
            "spec": {"type": "Limited", "limited": limited}});
        let (m, out) = run(id, m);
        assert_eq!(
            m,
            json!({"apiVersion": row(id).to, "kind": "PriorityLevelConfiguration", "metadata": {"name": "p"},
            "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": want,
                "limitResponse": {"type": "Queue", "queuing": {"queues": 64, "handSize": 6, "queueLengthLimit": 50}}}}}),
            "{id}"
        );
        assert!(out.findings.is_empty());
    }
    // Exempt levels have no limited section: nothing to rename.
    let exempt = json!({"apiVersion": format!("{fc}/v1beta1"), "kind": "PriorityLevelConfiguration", "metadata": {"name": "exempt"}, "spec": {"type": "Exempt"}});
    let (m, _) = run("prioritylevel-v1beta1-to-v1", exempt);
    assert_eq!(m["spec"], json!({"type": "Exempt"}));
}

#[test]
fn endpoint_slice_topology_becomes_node_name_and_zone() {
    let m = json!({"apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice", "metadata": {"name": "ext-1", "namespace": "n",
        "labels": {"kubernetes.io/service-name": "ext"}},
    "addressType": "IPv4", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
    "endpoints": [
        {"addresses": ["10.0.0.5"], "conditions": {"ready": true},
            "topology": {"kubernetes.io/hostname": "node-a", "topology.kubernetes.io/zone": "eu-west-1a", "topology.kubernetes.io/region": "eu-west-1"}},
        {"addresses": ["10.0.0.6"], "nodeName": "node-b", "topology": {"kubernetes.io/hostname": "node-b"}},
        {"addresses": ["10.0.0.7"]}
    ]});
    let (m, out) = run("endpointslice-v1beta1-to-v1", m);
    assert_eq!(
        m,
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "ext-1", "namespace": "n",
            "labels": {"kubernetes.io/service-name": "ext"}},
        "addressType": "IPv4", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.0.0.5"], "conditions": {"ready": true}, "nodeName": "node-a", "zone": "eu-west-1a"},
            {"addresses": ["10.0.0.6"], "nodeName": "node-b"},
            {"addresses": ["10.0.0.7"]}
        ]})
    );
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].rule, "endpointslice-v1beta1-to-v1");
    assert_eq!(out.findings[0].severity, Severity::Warning);
    assert_eq!(
        out.findings[0].message,
        "EndpointSlice ext-1: topology keys without a discovery.k8s.io/v1 field are dropped: endpoints[0].topology[topology.kubernetes.io/region]=eu-west-1"
    );
}

#[test]
fn extensions_workloads_get_selector_and_old_defaults() {
    let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let (m, out) = run(
        "deployment-extensions-v1beta1-to-apps-v1",
        json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "n"},
        "spec": {"replicas": 3, "template": template, "rollbackTo": {"revision": 4}, "strategy": {"type": "RollingUpdate"}}}),
    );
    assert_eq!(
        m,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "n"},
        "spec": {"replicas": 3, "template": template, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
            "revisionHistoryLimit": 2147483647, "progressDeadlineSeconds": 2147483647}})
    );
    assert_eq!(out.findings.len(), 1);
    assert_eq!(
        out.findings[0].message,
        "Deployment web: spec.rollbackTo ({\"revision\":4}) is dropped"
    );

    let (m, out) = run(
        "daemonset-extensions-v1beta1-to-apps-v1",
        json!({"apiVersion": "extensions/v1beta1", "kind": "DaemonSet",
        "metadata": {"name": "agent"}, "spec": {"templateGeneration": 3, "template": template}}),
    );
    assert_eq!(
        m["spec"],
        json!({"template": template, "selector": {"matchLabels": {"app": "web"}}, "updateStrategy": {"type": "OnDelete"}})
    );
    assert!(out.findings.is_empty());

    let (m, out) = run(
        "replicaset-extensions-v1beta1-to-apps-v1",
        json!({"apiVersion": "extensions/v1beta1", "kind": "ReplicaSet",
        "metadata": {"name": "rs"}, "spec": {"template": {"spec": {"containers": []}}}}),
    );
    assert_eq!(m["apiVersion"], "apps/v1");
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].severity, Severity::Error);
    assert_eq!(
        out.findings[0].message,
        "ReplicaSet rs has no spec.selector and no template labels to derive one from"
    );
}

#[test]
fn apps_v1beta1_workloads_get_their_old_defaults() {
    let template = json!({"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let (m, out) = run(
        "statefulset-apps-v1beta1-to-v1",
        json!({"apiVersion": "apps/v1beta1", "kind": "StatefulSet",
        "metadata": {"name": "db"}, "spec": {"serviceName": "db", "template": template}}),
    );
    assert_eq!(
        m["spec"],
        json!({"serviceName": "db", "template": template, "selector": {"matchLabels": {"app": "db"}},
        "updateStrategy": {"type": "OnDelete"}})
    );
    assert!(out.findings.is_empty());
    let (m, _) = run(
        "deployment-apps-v1beta1-to-v1",
        json!({"apiVersion": "apps/v1beta1", "kind": "Deployment",
        "metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "db"}}, "template": template}}),
    );
    assert_eq!(
        m["spec"],
        json!({"selector": {"matchLabels": {"app": "db"}}, "template": template, "revisionHistoryLimit": 2})
    );
}

/// Rows tested next to their own converter.
const TESTED_ELSEWHERE: &[&str] = &[
    "hpa-autoscaling-v2beta1-to-v2",
    "ingress-networking-v1beta1-to-v1",
    "ingress-extensions-v1beta1-to-v1",
    "crd-v1beta1-to-v1",
];

/// Rows with a dedicated test in this file.
const TESTED_HERE: &[&str] = &[
    "pdb-policy-v1beta1-to-v1",
    "validating-webhook-v1beta1-to-v1",
    "mutating-webhook-v1beta1-to-v1",
    "prioritylevel-v1beta1-to-v1",
    "prioritylevel-v1beta2-to-v1",
    "prioritylevel-v1beta1-to-v1beta3",
    "prioritylevel-v1beta2-to-v1beta3",
    "endpointslice-v1beta1-to-v1",
    "deployment-extensions-v1beta1-to-apps-v1",
    "daemonset-extensions-v1beta1-to-apps-v1",
    "replicaset-extensions-v1beta1-to-apps-v1",
    "statefulset-apps-v1beta1-to-v1",
    "deployment-apps-v1beta1-to-v1",
];

#[test]
fn every_conversion_row_has_a_test() {
    let samples = same_shape_samples();
    for c in CONVERSIONS {
        let covered = samples.iter().any(|(id, _)| *id == c.id)
            || TESTED_HERE.contains(&c.id)
            || TESTED_ELSEWHERE.contains(&c.id);
        assert!(covered, "conversion {} has no test", c.id);
    }
}
