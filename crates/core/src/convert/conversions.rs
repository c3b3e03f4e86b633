//! The conversion table: for each kind, how an object read at an apiVersion B no
//! longer serves becomes one B does. Many rows only change `apiVersion`; the
//! rest rename fields, restate old defaults or report what cannot move.

use serde_json::{Value, json};

use super::{
    Conversion, child_map, crd, hpa, ingress, items_mut, name_of, note, selector_is_empty,
    set_default,
};
use crate::model::ValueAt;
use crate::plan::{Finding, Severity};

/// Conversions, one row per (kind, from, to). `find_conversion` picks the row
/// whose `to` comes first in B's preference order.
pub const CONVERSIONS: &[Conversion] = &[
    Conversion {
        id: "cronjob-batch-v1beta1-to-v1",
        kind: "CronJob",
        from: "batch/v1beta1",
        to: "batch/v1",
        reason: "same schema; batch/v1 serves CronJob from 1.21 and batch/v1beta1 is gone in 1.25",
        apply: same_shape,
    },
    Conversion {
        id: "pdb-policy-v1beta1-to-v1",
        kind: "PodDisruptionBudget",
        from: "policy/v1beta1",
        to: "policy/v1",
        reason: "same fields, but an empty selector ({}) selected no pods in v1beta1 and selects every pod of the namespace in v1: reported as pdb-empty-selector-meaning; v1beta1 is gone in 1.25",
        apply: pdb_to_v1,
    },
    Conversion {
        id: "hpa-autoscaling-v2beta2-to-v2",
        kind: "HorizontalPodAutoscaler",
        from: "autoscaling/v2beta2",
        to: "autoscaling/v2",
        reason: "same schema (metrics with target, behavior); autoscaling/v2beta2 is gone in 1.26",
        apply: same_shape,
    },
    Conversion {
        id: "hpa-autoscaling-v2beta1-to-v2",
        kind: "HorizontalPodAutoscaler",
        from: "autoscaling/v2beta1",
        to: "autoscaling/v2",
        reason: "metrics change shape (targetAverageUtilization, targetAverageValue, targetValue and metricName/metricSelector become target and metric; object metrics' target becomes describedObject); the behavior kept in an annotation becomes spec.behavior; v2beta1 is gone in 1.25",
        apply: hpa::v2beta1_to_v2,
    },
    Conversion {
        id: "ingress-networking-v1beta1-to-v1",
        kind: "Ingress",
        from: "networking.k8s.io/v1beta1",
        to: "networking.k8s.io/v1",
        reason: "backend becomes defaultBackend, serviceName/servicePort become service.name and service.port.number or .name, pathType becomes required (ImplementationSpecific, the old default); v1beta1 is gone in 1.22",
        apply: ingress::to_v1,
    },
    Conversion {
        id: "ingress-extensions-v1beta1-to-v1",
        kind: "Ingress",
        from: "extensions/v1beta1",
        to: "networking.k8s.io/v1",
        reason: "the Ingress moved group; same changes as from networking.k8s.io/v1beta1; extensions/v1beta1 is gone in 1.22",
        apply: ingress::to_v1,
    },
    Conversion {
        id: "ingressclass-v1beta1-to-v1",
        kind: "IngressClass",
        from: "networking.k8s.io/v1beta1",
        to: "networking.k8s.io/v1",
        reason: "same schema; v1beta1 is gone in 1.22",
        apply: same_shape,
    },
    Conversion {
        id: "validating-webhook-v1beta1-to-v1",
        kind: "ValidatingWebhookConfiguration",
        from: "admissionregistration.k8s.io/v1beta1",
        to: "admissionregistration.k8s.io/v1",
        reason: "v1 requires sideEffects None or NoneOnDryRun and admissionReviewVersions, and defaults timeoutSeconds to 10 (was 30), failurePolicy to Fail (was Ignore) and matchPolicy to Equivalent (was Exact): the v1beta1 defaults are written out so the webhook behaves as in A; v1beta1 is gone in 1.22",
        apply: webhooks_to_v1,
    },
    Conversion {
        id: "mutating-webhook-v1beta1-to-v1",
        kind: "MutatingWebhookConfiguration",
        from: "admissionregistration.k8s.io/v1beta1",
        to: "admissionregistration.k8s.io/v1",
        reason: "as for validating webhooks (reinvocationPolicy defaults to Never in both); v1beta1 is gone in 1.22",
        apply: webhooks_to_v1,
    },
    Conversion {
        id: "crd-v1beta1-to-v1",
        kind: "CustomResourceDefinition",
        from: "apiextensions.k8s.io/v1beta1",
        to: "apiextensions.k8s.io/v1",
        reason: "top-level validation, subresources and additionalPrinterColumns move into every entry of spec.versions (JSONPath becomes jsonPath), spec.version becomes a versions entry, the conversion webhook moves under conversion.webhook; then crd-structural-schema; v1beta1 is gone in 1.22",
        apply: crd::v1beta1_to_v1,
    },
    Conversion {
        id: "rbac-role-v1beta1-to-v1",
        kind: "Role",
        from: "rbac.authorization.k8s.io/v1beta1",
        to: "rbac.authorization.k8s.io/v1",
        reason: "same schema; v1beta1 is gone in 1.22",
        apply: same_shape,
    },
    Conversion {
        id: "rbac-clusterrole-v1beta1-to-v1",
        kind: "ClusterRole",
        from: "rbac.authorization.k8s.io/v1beta1",
        to: "rbac.authorization.k8s.io/v1",
        reason: "same schema (aggregationRule included); v1beta1 is gone in 1.22",
        apply: same_shape,
    },
    Conversion {
        id: "rbac-rolebinding-v1beta1-to-v1",
        kind: "RoleBinding",
        from: "rbac.authorization.k8s.io/v1beta1",
        to: "rbac.authorization.k8s.io/v1",
        reason: "same schema; v1beta1 is gone in 1.22",
        apply: same_shape,
    },
    Conversion {
        id: "rbac-clusterrolebinding-v1beta1-to-v1",
        kind: "ClusterRoleBinding",
        from: "rbac.authorization.k8s.io/v1beta1",
        to: "rbac.authorization.k8s.io/v1",
        reason: "same schema; v1beta1 is gone in 1.22",
        apply: same_shape,
    },
    Conversion {
        id: "priorityclass-v1beta1-to-v1",
        kind: "PriorityClass",
        from: "scheduling.k8s.io/v1beta1",
        to: "scheduling.k8s.io/v1",
        reason: "same schema; v1beta1 is gone in 1.22",
        apply: same_shape,
    },
    Conversion {
        id: "storageclass-v1beta1-to-v1",
        kind: "StorageClass",
        from: "storage.k8s.io/v1beta1",
        to: "storage.k8s.io/v1",
        reason: "same schema; v1beta1 is gone in 1.22",
        apply: same_shape,
    },
    Conversion {
        id: "csidriver-v1beta1-to-v1",
        kind: "CSIDriver",
        from: "storage.k8s.io/v1beta1",
        to: "storage.k8s.io/v1",
        reason: "same schema and defaults; v1beta1 is gone in 1.22",
        apply: same_shape,
    },
    Conversion {
        id: "csistoragecapacity-v1beta1-to-v1",
        kind: "CSIStorageCapacity",
        from: "storage.k8s.io/v1beta1",
        to: "storage.k8s.io/v1",
        reason: "same schema; v1beta1 is gone in 1.27",
        apply: same_shape,
    },
    Conversion {
        id: "runtimeclass-v1beta1-to-v1",
        kind: "RuntimeClass",
        from: "node.k8s.io/v1beta1",
        to: "node.k8s.io/v1",
        reason: "same schema (handler at top level, overhead, scheduling); v1beta1 is gone in 1.25",
        apply: same_shape,
    },
    Conversion {
        id: "flowschema-v1beta1-to-v1",
        kind: "FlowSchema",
        from: "flowcontrol.apiserver.k8s.io/v1beta1",
        to: "flowcontrol.apiserver.k8s.io/v1",
        reason: "same schema; v1beta1 is gone in 1.26",
        apply: same_shape,
    },
    Conversion {
        id: "flowschema-v1beta2-to-v1",
        kind: "FlowSchema",
        from: "flowcontrol.apiserver.k8s.io/v1beta2",
        to: "flowcontrol.apiserver.k8s.io/v1",
        reason: "same schema; v1beta2 is gone in 1.29",
        apply: same_shape,
    },
    Conversion {
        id: "flowschema-v1beta3-to-v1",
        kind: "FlowSchema",
        from: "flowcontrol.apiserver.k8s.io/v1beta3",
        to: "flowcontrol.apiserver.k8s.io/v1",
        reason: "same schema; v1beta3 is gone in 1.32",
        apply: same_shape,
    },
    Conversion {
        id: "flowschema-v1beta1-to-v1beta3",
        kind: "FlowSchema",
        from: "flowcontrol.apiserver.k8s.io/v1beta1",
        to: "flowcontrol.apiserver.k8s.io/v1beta3",
        reason: "same schema; for targets 1.26 to 1.28, which serve v1beta3 but not v1",
        apply: same_shape,
    },
    Conversion {
        id: "flowschema-v1beta2-to-v1beta3",
        kind: "FlowSchema",
        from: "flowcontrol.apiserver.k8s.io/v1beta2",
        to: "flowcontrol.apiserver.k8s.io/v1beta3",
        reason: "same schema; for targets that serve v1beta3 but not v1",
        apply: same_shape,
    },
    Conversion {
        id: "prioritylevel-v1beta1-to-v1",
        kind: "PriorityLevelConfiguration",
        from: "flowcontrol.apiserver.k8s.io/v1beta1",
        to: "flowcontrol.apiserver.k8s.io/v1",
        reason: "spec.limited.assuredConcurrencyShares becomes nominalConcurrencyShares (unset or 0 meant 30, written out); v1beta1 is gone in 1.26",
        apply: priority_level_shares,
    },
    Conversion {
        id: "prioritylevel-v1beta2-to-v1",
        kind: "PriorityLevelConfiguration",
        from: "flowcontrol.apiserver.k8s.io/v1beta2",
        to: "flowcontrol.apiserver.k8s.io/v1",
        reason: "spec.limited.assuredConcurrencyShares becomes nominalConcurrencyShares (unset or 0 meant 30, written out); v1beta2 is gone in 1.29",
        apply: priority_level_shares,
    },
    Conversion {
        id: "prioritylevel-v1beta3-to-v1",
        kind: "PriorityLevelConfiguration",
        from: "flowcontrol.apiserver.k8s.io/v1beta3",
        to: "flowcontrol.apiserver.k8s.io/v1",
        reason: "same schema (nominalConcurrencyShares already named so); v1beta3 is gone in 1.32",
        apply: same_shape,
    },
    Conversion {
        id: "prioritylevel-v1beta1-to-v1beta3",
        kind: "PriorityLevelConfiguration",
        from: "flowcontrol.apiserver.k8s.io/v1beta1",
        to: "flowcontrol.apiserver.k8s.io/v1beta3",
        reason: "assuredConcurrencyShares becomes nominalConcurrencyShares; for targets 1.26 to 1.28, which serve v1beta3 but not v1",
        apply: priority_level_shares,
    },
    Conversion {
        id: "prioritylevel-v1beta2-to-v1beta3",
        kind: "PriorityLevelConfiguration",
        from: "flowcontrol.apiserver.k8s.io/v1beta2",
        to: "flowcontrol.apiserver.k8s.io/v1beta3",
        reason: "assuredConcurrencyShares becomes nominalConcurrencyShares; for targets that serve v1beta3 but not v1",
        apply: priority_level_shares,
    },
    Conversion {
        id: "endpointslice-v1beta1-to-v1",
        kind: "EndpointSlice",
        from: "discovery.k8s.io/v1beta1",
        to: "discovery.k8s.io/v1",
        reason: "the endpoints' topology map goes: kubernetes.io/hostname becomes nodeName and topology.kubernetes.io/zone becomes zone; any other key cannot be written through v1 and is reported; v1beta1 is gone in 1.25",
        apply: endpoint_slice_to_v1,
    },
    Conversion {
        id: "networkpolicy-extensions-v1beta1-to-v1",
        kind: "NetworkPolicy",
        from: "extensions/v1beta1",
        to: "networking.k8s.io/v1",
        reason: "same schema in another group; extensions/v1beta1 is gone in 1.16",
        apply: same_shape,
    },
    Conversion {
        id: "apiservice-v1beta1-to-v1",
        kind: "APIService",
        from: "apiregistration.k8s.io/v1beta1",
        to: "apiregistration.k8s.io/v1",
        reason: "same schema; v1beta1 is gone in 1.22",
        apply: same_shape,
    },
    Conversion {
        id: "psp-extensions-to-policy-v1beta1",
        kind: "PodSecurityPolicy",
        from: "extensions/v1beta1",
        to: "policy/v1beta1",
        reason: "same schema in another group, for targets 1.16 to 1.24; from 1.25 the kind is gone (see psp-policy-removed)",
        apply: same_shape,
    },
    Conversion {
        id: "deployment-extensions-v1beta1-to-apps-v1",
        kind: "Deployment",
        from: "extensions/v1beta1",
        to: "apps/v1",
        reason: "apps/v1 requires spec.selector (was defaulted from the template labels) and has other defaults (revisionHistoryLimit 10 was unlimited, maxSurge/maxUnavailable 25% were 1, progressDeadlineSeconds 600 was none): the old ones are written out; rollbackTo is gone; extensions/v1beta1 is gone in 1.16",
        apply: workload_from_extensions,
    },
    Conversion {
        id: "daemonset-extensions-v1beta1-to-apps-v1",
        kind: "DaemonSet",
        from: "extensions/v1beta1",
        to: "apps/v1",
        reason: "apps/v1 requires spec.selector and defaults updateStrategy to RollingUpdate (was OnDelete, written out); templateGeneration is gone; extensions/v1beta1 is gone in 1.16",
        apply: workload_from_extensions,
    },
    Conversion {
        id: "replicaset-extensions-v1beta1-to-apps-v1",
        kind: "ReplicaSet",
        from: "extensions/v1beta1",
        to: "apps/v1",
        reason: "apps/v1 requires spec.selector (was defaulted from the template labels); extensions/v1beta1 is gone in 1.16",
        apply: workload_from_extensions,
    },
    Conversion {
        id: "deployment-apps-v1beta1-to-v1",
        kind: "Deployment",
        from: "apps/v1beta1",
        to: "apps/v1",
        reason: "apps/v1 requires spec.selector and keeps 10 old ReplicaSets (was 2, written out); rollbackTo is gone; apps/v1beta1 is gone in 1.16",
        apply: workload_from_apps_v1beta1,
    },
    Conversion {
        id: "statefulset-apps-v1beta1-to-v1",
        kind: "StatefulSet",
        from: "apps/v1beta1",
        to: "apps/v1",
        reason: "apps/v1 requires spec.selector and defaults updateStrategy to RollingUpdate (was OnDelete, written out); apps/v1beta1 is gone in 1.16",
        apply: workload_from_apps_v1beta1,
    },
    Conversion {
        id: "deployment-apps-v1beta2-to-v1",
        kind: "Deployment",
        from: "apps/v1beta2",
        to: "apps/v1",
        reason: "same schema and defaults; apps/v1beta2 is gone in 1.16",
        apply: workload_from_apps_v1beta2,
    },
    Conversion {
        id: "daemonset-apps-v1beta2-to-v1",
        kind: "DaemonSet",
        from: "apps/v1beta2",
        to: "apps/v1",
        reason: "same schema and defaults; apps/v1beta2 is gone in 1.16",
        apply: workload_from_apps_v1beta2,
    },
    Conversion {
        id: "replicaset-apps-v1beta2-to-v1",
        kind: "ReplicaSet",
        from: "apps/v1beta2",
        to: "apps/v1",
        reason: "same schema and defaults; apps/v1beta2 is gone in 1.16",
        apply: workload_from_apps_v1beta2,
    },
    Conversion {
        id: "statefulset-apps-v1beta2-to-v1",
        kind: "StatefulSet",
        from: "apps/v1beta2",
        to: "apps/v1",
        reason: "same schema and defaults; apps/v1beta2 is gone in 1.16",
        apply: workload_from_apps_v1beta2,
    },
];

/// Schema identical: only `apiVersion` changes (set by `convert`).
fn same_shape(_: &mut Value) -> Vec<Finding> {
    Vec::new()
}

pub const PDB_EMPTY_SELECTOR_MEANING: &str = "pdb-empty-selector-meaning";

/// policy/v1beta1 -> v1: same fields; an empty selector changes meaning.
fn pdb_to_v1(manifest: &mut Value) -> Vec<Finding> {
    let selector = manifest.at(&["spec", "selector"]);
    if !selector.is_some_and(selector_is_empty) {
        // An unset selector selects no pods in either version.
        return Vec::new();
    }
    let mut f = note(
        Severity::Warning,
        format!(
            "PodDisruptionBudget {} has an empty spec.selector ({{}}): in policy/v1beta1 it selected no pods, in policy/v1 it selects every pod in the namespace",
            name_of(manifest)
        ),
        "written to B as policy/v1, the budget suddenly covers every pod of the namespace, so evictions and node drains in B can block on pods it never protected in A",
        "give spec.selector the labels of the pods it is meant to protect, or delete the budget if it was meant to protect nothing; abshift keeps the object as it is",
    );
    f.rule = PDB_EMPTY_SELECTOR_MEANING.to_string();
    vec![f]
}

const WEBHOOK_SIDE_EFFECTS_WHY: &str = "admissionregistration.k8s.io/v1 accepts only None or NoneOnDryRun; with None, B sends dry-run requests (kubectl --dry-run=server, abshift's own dry run) to the webhook, which v1beta1 refused to do for a webhook with side effects";
const WEBHOOK_SIDE_EFFECTS_ACTION: &str = "check that the webhook changes nothing outside the admission review on dry-run requests (it must honour the request's dryRun flag), then keep None or set NoneOnDryRun; otherwise fix the webhook before migrating it";

/// admissionregistration v1beta1 -> v1 for both webhook configuration kinds.
fn webhooks_to_v1(manifest: &mut Value) -> Vec<Finding> {
    let findings = webhook_side_effects_none(manifest);
    for webhook in items_mut(manifest, "webhooks") {
        let Some(w) = webhook.as_object_mut() else {
            continue;
        };
        // The v1beta1 defaults, written out because v1's differ or are required.
        set_default(w, "admissionReviewVersions", json!(["v1beta1"]));
        set_default(w, "timeoutSeconds", json!(30));
        set_default(w, "failurePolicy", json!("Ignore"));
        set_default(w, "matchPolicy", json!("Exact"));
    }
    findings
}

/// Every webhook whose sideEffects v1 refuses on create (absent, Unknown, Some)
/// is written as None, with a finding each. Shared by the v1beta1 conversion
/// and the object rule for webhooks a 1.16-1.21 server returns through v1
/// still carrying the v1beta1 default Unknown.
pub(super) fn webhook_side_effects_none(manifest: &mut Value) -> Vec<Finding> {
    let config = name_of(manifest).to_string();
    let mut findings = Vec::new();
    for webhook in items_mut(manifest, "webhooks") {
        let Some(w) = webhook.as_object_mut() else {
            continue;
        };
        let name = w
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let side_effects = w
            .get("sideEffects")
            .and_then(Value::as_str)
            .map(str::to_string);
        match side_effects.as_deref() {
            Some("None") | Some("NoneOnDryRun") => {}
            other => {
                let shown = match other {
                    Some(v) => format!("sideEffects {v}"),
                    None => "no sideEffects (v1beta1 default Unknown)".to_string(),
                };
                findings.push(note(
                    Severity::Warning,
                    format!("webhook {name} of {config} declares {shown}; written to B as sideEffects: None"),
                    WEBHOOK_SIDE_EFFECTS_WHY,
                    WEBHOOK_SIDE_EFFECTS_ACTION,
                ));
                w.insert("sideEffects".into(), json!("None"));
            }
        }
    }
    findings
}

/// flowcontrol v1beta1/v1beta2 -> v1 or v1beta3: the shares field was renamed.
fn priority_level_shares(manifest: &mut Value) -> Vec<Finding> {
    let Some(limited) = manifest
        .pointer_mut("/spec/limited")
        .and_then(Value::as_object_mut)
    else {
        return Vec::new();
    };
    let shares = limited
        .remove("assuredConcurrencyShares")
        .filter(|v| v.as_i64().is_some_and(|n| n > 0))
        .unwrap_or(json!(30));
    set_default(limited, "nominalConcurrencyShares", shares);
    Vec::new()
}

const WELL_KNOWN_HOSTNAME: &str = "kubernetes.io/hostname";
const WELL_KNOWN_ZONE: &str = "topology.kubernetes.io/zone";

/// discovery v1beta1 -> v1: topology becomes nodeName and zone.
fn endpoint_slice_to_v1(manifest: &mut Value) -> Vec<Finding> {
    let slice = name_of(manifest).to_string();
    let mut dropped = Vec::new();
    for (i, endpoint) in items_mut(manifest, "endpoints").enumerate() {
        let Some(ep) = endpoint.as_object_mut() else {
            continue;
        };
        let Some(Value::Object(mut topology)) = ep.remove("topology") else {
            continue;
        };
        if let Some(host) = topology.remove(WELL_KNOWN_HOSTNAME) {
            match ep.get("nodeName") {
                None | Some(Value::Null) => {
                    ep.insert("nodeName".into(), host);
                }
                Some(n) if *n == host => {}
                // nodeName wins; the differing hostname is reported with the rest.
                Some(_) => {
                    topology.insert(WELL_KNOWN_HOSTNAME.into(), host);
                }
            }
        }
        if let Some(zone) = topology.remove(WELL_KNOWN_ZONE) {
            ep.insert("zone".into(), zone);
        }
        for (k, v) in topology {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            dropped.push(format!("endpoints[{i}].topology[{k}]={v}"));
        }
    }
    if dropped.is_empty() {
        return Vec::new();
    }
    vec![note(
        Severity::Warning,
        format!(
            "EndpointSlice {slice}: topology keys without a discovery.k8s.io/v1 field are dropped: {}",
            dropped.join(", ")
        ),
        "discovery.k8s.io/v1 keeps only nodeName and zone; its deprecatedTopology field cannot be written through v1, so the other keys are lost in B",
        "if a consumer of this hand-written EndpointSlice reads those keys, carry them as labels or annotations of the slice instead",
    )]
}

/// Builds a default value (json! is not const).
type MakeValue = fn() -> Value;

/// The defaults one old workload API version had that apps/v1 does not.
struct OldDefaults {
    deployment: &'static [(&'static str, MakeValue)],
    /// updateStrategy when unset, for DaemonSet and StatefulSet.
    daemonset_strategy: Option<&'static str>,
    statefulset_strategy: Option<&'static str>,
}

fn max_int32() -> Value {
    json!(i32::MAX)
}

fn extensions_strategy() -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}})
}

fn two() -> Value {
    json!(2)
}

const EXTENSIONS_DEFAULTS: OldDefaults = OldDefaults {
    deployment: &[
        ("revisionHistoryLimit", max_int32),
        ("progressDeadlineSeconds", max_int32),
        ("strategy", extensions_strategy),
    ],
    daemonset_strategy: Some("OnDelete"),
    statefulset_strategy: None,
};

const APPS_V1BETA1_DEFAULTS: OldDefaults = OldDefaults {
    deployment: &[("revisionHistoryLimit", two)],
    daemonset_strategy: None,
    statefulset_strategy: Some("OnDelete"),
};

const APPS_V1BETA2_DEFAULTS: OldDefaults = OldDefaults {
    deployment: &[],
    daemonset_strategy: None,
    statefulset_strategy: None,
};

fn workload_from_extensions(manifest: &mut Value) -> Vec<Finding> {
    workload_to_apps_v1(manifest, &EXTENSIONS_DEFAULTS)
}

fn workload_from_apps_v1beta1(manifest: &mut Value) -> Vec<Finding> {
    workload_to_apps_v1(manifest, &APPS_V1BETA1_DEFAULTS)
}

fn workload_from_apps_v1beta2(manifest: &mut Value) -> Vec<Finding> {
    workload_to_apps_v1(manifest, &APPS_V1BETA2_DEFAULTS)
}

/// Deployment, DaemonSet, ReplicaSet, StatefulSet from a pre-1.16 version to apps/v1.
fn workload_to_apps_v1(manifest: &mut Value, old: &OldDefaults) -> Vec<Finding> {
    let kind = manifest
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = name_of(manifest).to_string();
    let template_labels = manifest
        .at(&["spec", "template", "metadata", "labels"])
        .cloned()
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()));
    let mut findings = Vec::new();
    let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) else {
        return findings;
    };
    let has_selector = spec.get("selector").is_some_and(|s| !s.is_null());
    if !has_selector {
        if let Some(labels) = template_labels {
            spec.insert("selector".into(), json!({ "matchLabels": labels }));
        } else {
            findings.push(note(
                Severity::Error,
                format!("{kind} {name} has no spec.selector and no template labels to derive one from"),
                "apps/v1 requires a selector matching the pod template's labels; B refuses the object",
                "add labels to the pod template and a matching spec.selector before migrating",
            ));
        }
    }
    match kind.as_str() {
        "Deployment" => {
            for (field, value) in old.deployment {
                set_default(spec, field, value());
            }
            // extensions/v1beta1 also defaulted each rolling-update bound to 1.
            if old.deployment.iter().any(|(f, _)| *f == "strategy")
                && let Some(strategy) = spec.get_mut("strategy").and_then(Value::as_object_mut)
                && strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
                && let Some(rolling) = child_map(strategy, "rollingUpdate")
            {
                set_default(rolling, "maxUnavailable", json!(1));
                set_default(rolling, "maxSurge", json!(1));
            }
            if let Some(rollback) = spec.remove("rollbackTo") {
                findings.push(note(
                    Severity::Warning,
                    format!("Deployment {name}: spec.rollbackTo ({rollback}) is dropped"),
                    "apps/v1 has no rollbackTo: a rollback A had not yet carried out is not requested in B",
                    "if the rollback is still wanted, set the pod template of the revision to roll back to before migrating",
                ));
            }
        }
        "DaemonSet" => {
            if let Some(t) = old.daemonset_strategy {
                set_default(spec, "updateStrategy", json!({ "type": t }));
            }
            spec.remove("templateGeneration");
        }
        "StatefulSet" => {
            if let Some(t) = old.statefulset_strategy {
                set_default(spec, "updateStrategy", json!({ "type": t }));
            }
        }
        _ => {}
    }
    findings
}
