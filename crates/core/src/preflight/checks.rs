//! The per-object preflight checks: readiness probes, clustered stores exiting
//! uncleanly, node ports, claims whose data stays in A, host paths, budgets that
//! block drains, CronJobs and singletons that would run twice; each reads one
//! planned manifest.

use serde_json::{Map, Value};

use super::object::Obj;
use super::rules::{
    CLUSTERED_UNCLEAN_EXIT, CRONJOB_RUNS_TWICE, HOST_PATH_VOLUME, MIN_GRACE_SECONDS,
    NO_READINESS_PROBE, NODE_PORT_SERVICE, PDB_BLOCKS_DRAIN, PVC_DATA_NOT_MOVED,
    SINGLETON_RUNS_TWICE,
};
use crate::model::{GroupKind, ValueAt, array_items as array, str_at};
use crate::plan::{Finding, PlannedObject};
use crate::select::LabelSelector;

/// The checks of one planned object (all but its references). `objects` is
/// the whole plan: a PDB counts the workloads it selects, a Deployment is
/// clustered when a headless Service selects its pods.
pub(super) fn object(
    obj: &Obj,
    gk: &GroupKind,
    o: &PlannedObject,
    objects: &[PlannedObject],
    specs: &[(String, &Value)],
    out: &mut Vec<Finding>,
) {
    let m = &o.manifest;
    if gk.group != "batch" {
        for (path, spec) in specs {
            readiness(obj, path, spec, out);
        }
    }
    if is_clustered(gk, o, objects) {
        for (path, spec) in specs {
            clustered(obj, path, spec, out);
        }
    }
    for (path, spec) in specs {
        host_paths(obj, path, spec, out);
    }
    match (gk.group.as_str(), gk.kind.as_str()) {
        ("", "Service") => node_ports(obj, m, out),
        ("", "PersistentVolumeClaim") => claim(obj, m, out),
        ("", "PersistentVolume") => {
            if let Some(p) = str_at(m, &["spec", "hostPath", "path"]) {
                out.push(HOST_PATH_VOLUME.finding(
                    Some(obj.r.clone()),
                    format!(
                        "{}: spec.hostPath.path is {p} on one of A's nodes",
                        obj.label
                    ),
                ));
            }
        }
        ("apps", "StatefulSet") => claim_templates(obj, m, out),
        ("apps", "Deployment")
            if m.at(&["spec", "replicas"]).and_then(Value::as_i64) == Some(1)
                && str_at(m, &["spec", "strategy", "type"]) == Some("Recreate") =>
        {
            out.push(SINGLETON_RUNS_TWICE.finding(
                Some(obj.r.clone()),
                format!(
                    "{}: spec.replicas is 1 and spec.strategy.type is Recreate",
                    obj.label
                ),
            ));
        }
        ("policy", "PodDisruptionBudget") => pdb(obj, o, objects, out),
        ("batch", "CronJob")
            if m.at(&["spec", "suspend"]).and_then(Value::as_bool) != Some(true) =>
        {
            out.push(CRONJOB_RUNS_TWICE.finding(
                Some(obj.r.clone()),
                format!(
                    "{}: spec.suspend is not true; schedule {}",
                    obj.label,
                    str_at(m, &["spec", "schedule"]).unwrap_or("?")
                ),
            ));
        }
        _ => {}
    }
}

fn readiness(obj: &Obj, path: &str, spec: &Value, out: &mut Vec<Finding>) {
    // Init and ephemeral containers cannot have readiness probes; only
    // regular containers gate the pod's readiness.
    for (i, c) in array(spec.get("containers")).enumerate() {
        if c.get("readinessProbe").is_some_and(Value::is_object) {
            continue;
        }
        let name = str_at(c, &["name"]).unwrap_or("?");
        out.push(NO_READINESS_PROBE.finding(
            Some(obj.r.clone()),
            format!(
                "{}: container \"{name}\" ({path}.containers[{i}]) has no readinessProbe",
                obj.label
            ),
        ));
    }
}

/// StatefulSets, and Deployments whose pods a headless Service in the same
/// namespace selects (peers find each other through it: a clustered store).
fn is_clustered(gk: &GroupKind, o: &PlannedObject, objects: &[PlannedObject]) -> bool {
    match (gk.group.as_str(), gk.kind.as_str()) {
        ("apps", "StatefulSet") => true,
        ("apps" | "extensions", "Deployment") => {
            let Some(labels) = template_labels(&o.manifest) else {
                return false;
            };
            objects.iter().any(|s| {
                s.kind == "Service"
                    && s.api_version == "v1"
                    && s.namespace == o.namespace
                    && str_at(&s.manifest, &["spec", "clusterIP"]) == Some("None")
                    && s.manifest
                        .at(&["spec", "selector"])
                        .and_then(Value::as_object)
                        .and_then(LabelSelector::from_map)
                        .is_some_and(|sel| !sel.is_empty() && sel.matches_map(labels))
            })
        }
        _ => false,
    }
}

fn template_labels(m: &Value) -> Option<&Map<String, Value>> {
    m.at(&["spec", "template", "metadata", "labels"])
        .and_then(Value::as_object)
}

fn clustered(obj: &Obj, path: &str, spec: &Value, out: &mut Vec<Finding>) {
    let containers: Vec<&Value> = array(spec.get("containers")).collect();
    let has_pre_stop = containers.iter().any(|c| {
        c.at(&["lifecycle", "preStop"])
            .is_some_and(Value::is_object)
    });
    if !has_pre_stop && !containers.is_empty() {
        let names: Vec<&str> = containers
            .iter()
            .map(|c| str_at(c, &["name"]).unwrap_or("?"))
            .collect();
        out.push(CLUSTERED_UNCLEAN_EXIT.finding(
            Some(obj.r.clone()),
            format!(
                "{}: no container sets {path}.containers[].lifecycle.preStop (containers: {})",
                obj.label,
                names.join(", ")
            ),
        ));
    }
    if let Some(grace) = spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .filter(|g| *g < MIN_GRACE_SECONDS)
    {
        out.push(CLUSTERED_UNCLEAN_EXIT.finding(
            Some(obj.r.clone()),
            format!(
                "{}: {path}.terminationGracePeriodSeconds is {grace} (under {MIN_GRACE_SECONDS})",
                obj.label
            ),
        ));
    }
}

fn host_paths(obj: &Obj, path: &str, spec: &Value, out: &mut Vec<Finding>) {
    for (i, v) in array(spec.get("volumes")).enumerate() {
        let Some(hp) = v.get("hostPath") else {
            continue;
        };
        let name = str_at(v, &["name"]).unwrap_or("?");
        let host = str_at(hp, &["path"]).unwrap_or("?");
        out.push(HOST_PATH_VOLUME.finding(
            Some(obj.r.clone()),
            format!(
                "{}: volume \"{name}\" ({path}.volumes[{i}].hostPath.path) is {host} on the node",
                obj.label
            ),
        ));
    }
}

fn node_ports(obj: &Obj, m: &Value, out: &mut Vec<Finding>) {
    let Some(ty @ ("NodePort" | "LoadBalancer")) = str_at(m, &["spec", "type"]) else {
        return;
    };
    let mut ports = Vec::new();
    for (i, p) in array(m.at(&["spec", "ports"])).enumerate() {
        let name = str_at(p, &["name"])
            .map(|n| format!(" \"{n}\""))
            .unwrap_or_default();
        match p.get("nodePort").and_then(Value::as_i64) {
            Some(np) => ports.push(format!(
                "spec.ports[{i}]{name} nodePort {np} must be free in B"
            )),
            None => ports.push(format!(
                "spec.ports[{i}]{name} has no nodePort: B assigns one that differs from A's"
            )),
        }
    }
    if ports.is_empty() {
        ports.push("no spec.ports".to_string());
    }
    out.push(NODE_PORT_SERVICE.finding(
        Some(obj.r.clone()),
        format!("{}: spec.type {ty}; {}", obj.label, ports.join("; ")),
    ));
}

/// "20Gi on StorageClass x, volumeName y" for a claim spec.
fn claim_desc(spec: Option<&Value>) -> String {
    let spec = spec.unwrap_or(&Value::Null);
    let size = match spec.at(&["resources", "requests", "storage"]) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "no size requested".to_string(),
    };
    let class = match str_at(spec, &["storageClassName"]) {
        Some("") => "no StorageClass (static binding)".to_string(),
        Some(c) => format!("StorageClass {c}"),
        None => "the default StorageClass".to_string(),
    };
    let volume = match str_at(spec, &["volumeName"]).filter(|v| !v.is_empty()) {
        Some(v) => format!("volumeName {v}"),
        None => "no volumeName (B provisions a new volume)".to_string(),
    };
    format!("{size} on {class}, {volume}")
}

fn claim(obj: &Obj, m: &Value, out: &mut Vec<Finding>) {
    out.push(PVC_DATA_NOT_MOVED.finding(
        Some(obj.r.clone()),
        format!(
            "{}: claim {} is {}",
            obj.label,
            obj.r.name,
            claim_desc(m.get("spec"))
        ),
    ));
}

fn claim_templates(obj: &Obj, m: &Value, out: &mut Vec<Finding>) {
    let replicas = m
        .at(&["spec", "replicas"])
        .and_then(Value::as_u64)
        .unwrap_or(1);
    for (i, t) in array(m.at(&["spec", "volumeClaimTemplates"])).enumerate() {
        let name = str_at(t, &["metadata", "name"]).unwrap_or("?");
        let claims = match replicas {
            0 => "no claims at 0 replicas".to_string(),
            1 => format!("claim {name}-{}-0", obj.r.name),
            n => format!("claims {name}-{}-0..{}", obj.r.name, n - 1),
        };
        out.push(PVC_DATA_NOT_MOVED.finding(
            Some(obj.r.clone()),
            format!(
                "{}: spec.volumeClaimTemplates[{i}] \"{name}\" is {} ({claims})",
                obj.label,
                claim_desc(t.get("spec"))
            ),
        ));
    }
}

/// An intOrString budget field: a count or a percentage.
enum Budget {
    Count(i64),
    Percent(f64),
}

fn budget(v: Option<&Value>) -> Option<Budget> {
    match v? {
        Value::Number(n) => n.as_i64().map(Budget::Count),
        Value::String(s) => match s.trim().strip_suffix('%') {
            Some(p) => p.trim().parse().ok().map(Budget::Percent),
            None => s.trim().parse().ok().map(Budget::Count),
        },
        _ => None,
    }
}

fn pdb(obj: &Obj, o: &PlannedObject, objects: &[PlannedObject], out: &mut Vec<Finding>) {
    let m = &o.manifest;
    let shown = |field: &str| {
        m.at(&["spec", field])
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    match budget(m.at(&["spec", "maxUnavailable"])) {
        Some(Budget::Count(0)) => {
            out.push(PDB_BLOCKS_DRAIN.finding(
                Some(obj.r.clone()),
                format!(
                    "{}: spec.maxUnavailable is {}",
                    obj.label,
                    shown("maxUnavailable")
                ),
            ));
            return;
        }
        Some(Budget::Percent(p)) if p <= 0.0 => {
            out.push(PDB_BLOCKS_DRAIN.finding(
                Some(obj.r.clone()),
                format!(
                    "{}: spec.maxUnavailable is {}",
                    obj.label,
                    shown("maxUnavailable")
                ),
            ));
            return;
        }
        _ => {}
    }
    match budget(m.at(&["spec", "minAvailable"])) {
        Some(Budget::Percent(p)) if p >= 100.0 => out.push(PDB_BLOCKS_DRAIN.finding(
            Some(obj.r.clone()),
            format!(
                "{}: spec.minAvailable is {}",
                obj.label,
                shown("minAvailable")
            ),
        )),
        Some(Budget::Count(min)) if min > 0 => {
            let Some((replicas, names)) = matched_replicas(o, objects) else {
                return;
            };
            if min >= replicas {
                out.push(PDB_BLOCKS_DRAIN.finding(
                    Some(obj.r.clone()),
                    format!(
                        "{}: spec.minAvailable is {min}, and the workloads it selects ({}) have {replicas} replicas in all",
                        obj.label,
                        names.join(", ")
                    ),
                ));
            }
        }
        _ => {}
    }
}

/// Total replicas of the planned workloads in the PDB's namespace whose pod
/// template its selector matches, with their names. None when nothing is
/// matched or a match has no fixed replica count (a DaemonSet).
fn matched_replicas(pdb: &PlannedObject, objects: &[PlannedObject]) -> Option<(i64, Vec<String>)> {
    // A malformed selector matches nothing we can count; an empty one is left
    // alone too (it selects every pod of the namespace, rarely what was meant).
    let sel = LabelSelector::from_object(pdb.manifest.at(&["spec", "selector"])?)?;
    if sel.is_empty() {
        return None;
    }
    let mut total = 0i64;
    let mut names = Vec::new();
    for w in objects {
        if w.namespace != pdb.namespace {
            continue;
        }
        let Some(labels) = template_labels(&w.manifest) else {
            continue;
        };
        if !sel.matches_map(labels) {
            continue;
        }
        let replicas = match w.manifest.at(&["spec", "replicas"]) {
            Some(r) => r.as_i64()?,
            None if w.kind == "DaemonSet" => return None,
            None => 1,
        };
        total += replicas;
        names.push(format!("{} {}", w.kind, w.name));
    }
    (!names.is_empty()).then_some((total, names))
}
