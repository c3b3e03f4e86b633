//! HorizontalPodAutoscaler from autoscaling/v2beta1 to autoscaling/v2: every
//! metric source changes shape (targets become a MetricTarget, metric names and
//! selectors a MetricIdentifier), and the behavior annotation becomes a field.

use serde_json::{Map, Value, json};

use super::{name_of, note};
use crate::plan::{Finding, Severity};

/// Converts one metric source in place; false when it has no target.
type SourceFn = fn(&mut Map<String, Value>) -> bool;

/// Where a v2beta1 read of a newer object keeps `spec.behavior`.
const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

pub(super) fn v2beta1_to_v2(manifest: &mut Value) -> Vec<Finding> {
    let name = name_of(manifest).to_string();
    let mut findings = Vec::new();
    behavior_from_annotation(manifest, &name, &mut findings);
    let Some(metrics) = manifest
        .pointer_mut("/spec/metrics")
        .and_then(Value::as_array_mut)
    else {
        return findings;
    };
    for (i, metric) in metrics.iter_mut().enumerate() {
        let kind = metric
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (field, convert): (&str, SourceFn) = match kind.as_str() {
            "Resource" => ("resource", resource_source),
            "ContainerResource" => ("containerResource", resource_source),
            "Pods" => ("pods", pods_source),
            "Object" => ("object", object_source),
            "External" => ("external", external_source),
            _ => {
                findings.push(note(
                    Severity::Warning,
                    format!("HorizontalPodAutoscaler {name}: spec.metrics[{i}] has type {kind:?}, unknown to abshift, and is kept as it is"),
                    "autoscaling/v2 may not accept a metric abshift cannot convert",
                    "rewrite the metric for autoscaling/v2 by hand; the dry run against B shows whether it is accepted",
                ));
                continue;
            }
        };
        let converted = metric
            .get_mut(field)
            .and_then(Value::as_object_mut)
            .is_some_and(convert);
        if !converted {
            findings.push(note(
                Severity::Warning,
                format!("HorizontalPodAutoscaler {name}: spec.metrics[{i}] ({kind}) has no {field} target to convert"),
                "autoscaling/v2 requires a target for every metric; B refuses the autoscaler",
                "set the metric's target before migrating",
            ));
        }
    }
    findings
}

/// Moves the behavior a v2beta1 read keeps in an annotation into `spec.behavior`.
fn behavior_from_annotation(manifest: &mut Value, name: &str, findings: &mut Vec<Finding>) {
    let Some(annotations) = manifest
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let Some(raw) = annotations.get(BEHAVIOR_ANNOTATION).and_then(Value::as_str) else {
        return;
    };
    let parsed: Option<Value> = serde_json::from_str(raw).ok().filter(Value::is_object);
    let Some(behavior) = parsed else {
        findings.push(note(
            Severity::Warning,
            format!("HorizontalPodAutoscaler {name}: annotation {BEHAVIOR_ANNOTATION} is not a JSON object and is kept as it is"),
            "autoscaling/v2 takes the scaling behavior from spec.behavior; the annotation no longer has any effect there",
            "set spec.behavior by hand from the annotation's value",
        ));
        return;
    };
    annotations.remove(BEHAVIOR_ANNOTATION);
    if annotations.is_empty()
        && let Some(meta) = manifest.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.remove("annotations");
    }
    if let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("behavior").or_insert(behavior);
    }
}

/// A MetricTarget from the v2beta1 fields, first match wins.
fn target(source: &mut Map<String, Value>, fields: &[(&str, &str, &str)]) -> Option<Value> {
    for (old, kind, new) in fields {
        if let Some(v) = source.remove(*old).filter(|v| !v.is_null()) {
            return Some(json!({ "type": kind, *new: v }));
        }
    }
    None
}

/// Resource and ContainerResource: name (and container) stay, the target moves.
fn resource_source(source: &mut Map<String, Value>) -> bool {
    let utilization = source.contains_key("targetAverageUtilization");
    let t = target(
        source,
        &[
            (
                "targetAverageUtilization",
                "Utilization",
                "averageUtilization",
            ),
            ("targetAverageValue", "AverageValue", "averageValue"),
        ],
    );
    if utilization {
        // Both set is invalid in v2beta1; utilization is the one v2 keeps.
        source.remove("targetAverageValue");
    }
    put_target(source, t)
}

/// Pods: metricName and selector become metric; targetAverageValue the target.
fn pods_source(source: &mut Map<String, Value>) -> bool {
    identifier(source, "selector");
    let t = target(
        source,
        &[("targetAverageValue", "AverageValue", "averageValue")],
    );
    put_target(source, t)
}

/// Object: target becomes describedObject; averageValue (when set) or targetValue the target.
fn object_source(source: &mut Map<String, Value>) -> bool {
    let described = source.remove("target");
    identifier(source, "selector");
    let value = source.remove("targetValue").filter(|v| !v.is_null());
    let average = source.remove("averageValue").filter(|v| !v.is_null());
    if let Some(d) = described {
        source.insert("describedObject".into(), d);
    }
    let t = match (average, value) {
        // Both are kept, as v2beta1 reads them back: the type says which counts.
        (Some(a), Some(v)) => Some(json!({"type": "AverageValue", "averageValue": a, "value": v})),
        (Some(a), None) => Some(json!({"type": "AverageValue", "averageValue": a})),
        (None, Some(v)) => Some(json!({"type": "Value", "value": v})),
        (None, None) => None,
    };
    put_target(source, t)
}

/// External: metricName and metricSelector become metric; targetAverageValue
/// (when set) or targetValue the target.
fn external_source(source: &mut Map<String, Value>) -> bool {
    identifier(source, "metricSelector");
    let value = source.remove("targetValue").filter(|v| !v.is_null());
    let average = source.remove("targetAverageValue").filter(|v| !v.is_null());
    let t = match (average, value) {
        (Some(a), Some(v)) => Some(json!({"type": "AverageValue", "averageValue": a, "value": v})),
        (Some(a), None) => Some(json!({"type": "AverageValue", "averageValue": a})),
        (None, Some(v)) => Some(json!({"type": "Value", "value": v})),
        (None, None) => None,
    };
    put_target(source, t)
}

/// `metricName` and the given selector field become `metric: {name, selector}`.
fn identifier(source: &mut Map<String, Value>, selector_field: &str) {
    let mut metric = Map::new();
    if let Some(n) = source.remove("metricName") {
        metric.insert("name".into(), n);
    }
    if let Some(s) = source.remove(selector_field).filter(|s| !s.is_null()) {
        metric.insert("selector".into(), s);
    }
    if !metric.is_empty() {
        source.insert("metric".into(), Value::Object(metric));
    }
}

fn put_target(source: &mut Map<String, Value>, t: Option<Value>) -> bool {
    match t {
        Some(t) => {
            source.insert("target".into(), t);
            true
        }
        None => source.contains_key("target"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{convert, find_conversion};
    use serde_json::json;

    fn targets() -> Vec<String> {
        vec!["autoscaling/v2".into(), "autoscaling/v1".into()]
    }

    #[test]
    fn v2beta1_with_four_metric_types() {
        let mut m = json!({
            "apiVersion": "autoscaling/v2beta1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop", "annotations": {
                "autoscaling.alpha.kubernetes.io/behavior": "{\"ScaleDown\":null}",
                "team": "shop"
            }},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}},
                    {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}},
                    {"type": "Pods", "pods": {"metricName": "requests_per_second", "targetAverageValue": "100",
                        "selector": {"matchLabels": {"verb": "GET"}}}},
                    {"type": "Object", "object": {
                        "target": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
                        "metricName": "hits", "targetValue": "2k"}},
                    {"type": "Object", "object": {
                        "target": {"apiVersion": "v1", "kind": "Service", "name": "web"},
                        "metricName": "queue", "targetValue": "0", "averageValue": "30"}},
                    {"type": "External", "external": {"metricName": "queue_messages",
                        "metricSelector": {"matchLabels": {"queue": "jobs"}}, "targetAverageValue": "30"}},
                    {"type": "External", "external": {"metricName": "lag", "targetValue": "5"}}
                ]
            }
        });
        let c =
            find_conversion("HorizontalPodAutoscaler", "autoscaling/v2beta1", &targets()).unwrap();
        assert_eq!(c.id, "hpa-autoscaling-v2beta1-to-v2");
        let out = convert(&mut m, Some(c), 34);
        assert!(out.findings.is_empty(), "{:?}", out.findings);
        assert_eq!(out.api_version, "autoscaling/v2");
        assert_eq!(
            m,
            json!({
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "shop", "annotations": {"team": "shop"}},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 2,
                    "maxReplicas": 10,
                    "behavior": {"ScaleDown": null},
                    "metrics": [
                        {"type": "Resource", "resource": {"name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70}}},
                        {"type": "Resource", "resource": {"name": "memory",
                            "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                        {"type": "Pods", "pods": {
                            "metric": {"name": "requests_per_second", "selector": {"matchLabels": {"verb": "GET"}}},
                            "target": {"type": "AverageValue", "averageValue": "100"}}},
                        {"type": "Object", "object": {
                            "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
                            "metric": {"name": "hits"},
                            "target": {"type": "Value", "value": "2k"}}},
                        {"type": "Object", "object": {
                            "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "web"},
                            "metric": {"name": "queue"},
                            "target": {"type": "AverageValue", "averageValue": "30", "value": "0"}}},
                        {"type": "External", "external": {
                            "metric": {"name": "queue_messages", "selector": {"matchLabels": {"queue": "jobs"}}},
                            "target": {"type": "AverageValue", "averageValue": "30"}}},
                        {"type": "External", "external": {
                            "metric": {"name": "lag"},
                            "target": {"type": "Value", "value": "5"}}}
                    ]
                }
            })
        );
    }

    #[test]
    fn container_resource_and_unknown_metric_types() {
        let mut m = json!({
            "apiVersion": "autoscaling/v2beta1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "w"},
            "spec": {"metrics": [
                {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "targetAverageUtilization": 60}},
                {"type": "Magic", "magic": {}},
                {"type": "Pods", "pods": {"metricName": "x"}}
            ]}
        });
        let c =
            find_conversion("HorizontalPodAutoscaler", "autoscaling/v2beta1", &targets()).unwrap();
        let out = convert(&mut m, Some(c), 25);
        assert_eq!(
            m["spec"]["metrics"][0]["containerResource"],
            json!({"name": "cpu", "container": "app", "target": {"type": "Utilization", "averageUtilization": 60}})
        );
        let messages: Vec<&str> = out.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "HorizontalPodAutoscaler w: spec.metrics[1] has type \"Magic\", unknown to abshift, and is kept as it is",
                "HorizontalPodAutoscaler w: spec.metrics[2] (Pods) has no pods target to convert",
            ]
        );
        assert!(
            out.findings
                .iter()
                .all(|f| f.rule == "hpa-autoscaling-v2beta1-to-v2")
        );
    }

    #[test]
    fn v2beta2_is_renamed_only() {
        let spec = json!({"maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}});
        let mut m = json!({"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "w"}, "spec": spec.clone()});
        let c =
            find_conversion("HorizontalPodAutoscaler", "autoscaling/v2beta2", &targets()).unwrap();
        assert_eq!(c.id, "hpa-autoscaling-v2beta2-to-v2");
        let out = convert(&mut m, Some(c), 26);
        assert_eq!(out.api_version, "autoscaling/v2");
        assert_eq!(m["spec"], spec);
    }
}
