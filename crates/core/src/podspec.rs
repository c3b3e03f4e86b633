//! Where pod specs live inside workload objects. Shared by normalisation (token
//! volumes) and the graph (references to ServiceAccounts, Secrets, ConfigMaps…).
//! Shape-based, not kind-based, so custom workloads with a pod template work too.

use serde_json::Value;

/// Paths at which a pod spec may sit, tried on every object.
pub const POD_SPEC_PATHS: &[&[&str]] = &[
    &["spec", "template", "spec"], // Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, custom workloads
    &["spec", "jobTemplate", "spec", "template", "spec"], // CronJob
    &["template", "spec"],         // PodTemplate
];

/// Pod specs of an object: the object's own `spec` for a Pod, else any template.
pub fn pod_specs<'a>(kind: &str, object: &'a Value) -> Vec<&'a Value> {
    if kind == "Pod" {
        return object.get("spec").into_iter().collect();
    }
    POD_SPEC_PATHS
        .iter()
        .filter_map(|path| crate::model::value_at(object, path))
        .filter(|spec| spec.get("containers").is_some())
        .collect()
}

/// Mutable access to the pod specs of an object (same rules as [`pod_specs`]).
pub fn pod_specs_mut<'a>(kind: &str, object: &'a mut Value) -> Vec<&'a mut Value> {
    if kind == "Pod" {
        return object.get_mut("spec").into_iter().collect();
    }
    // Only one path can match a given object shape; find which, then borrow it.
    let found = POD_SPEC_PATHS.iter().find(|path| {
        crate::model::value_at(object, path).is_some_and(|s| s.get("containers").is_some())
    });
    match found {
        Some(path) => value_at_mut(object, path).into_iter().collect(),
        None => Vec::new(),
    }
}

pub fn value_at_mut<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    let mut cur = value;
    for seg in path {
        cur = cur.get_mut(*seg)?;
    }
    Some(cur)
}

/// All containers of a pod spec: init, regular and ephemeral.
pub fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|f| spec.get(f).and_then(Value::as_array))
        .flatten()
}

pub fn containers_mut(spec: &mut Value) -> Vec<&mut Value> {
    let mut out = Vec::new();
    if let Some(map) = spec.as_object_mut() {
        for (field, list) in map.iter_mut() {
            if matches!(
                field.as_str(),
                "initContainers" | "containers" | "ephemeralContainers"
            ) && let Some(items) = list.as_array_mut()
            {
                out.extend(items.iter_mut());
            }
        }
    }
    out
}
