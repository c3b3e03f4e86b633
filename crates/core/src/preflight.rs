//! Preflight: reads the planned, normalised manifests and reports what will hurt
//! during the cutover (unready pods taking traffic, data left behind, hanging
//! drains, dangling references). Pure: the planner says where referenced objects stand.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{GroupKind, ObjectKey, ObjectRef, split_api_version, str_at, value_at};
use crate::plan::{Finding, PlannedObject, Severity};
use crate::podspec;

/// Where an object that a planned manifest refers to stands, as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Planned: it will be created in B before the object that needs it.
    InPlan,
    /// Exists in A but the selection leaves it out.
    OutsideSelection,
    /// Skipped because B's own controllers or API server recreate it
    /// (ServiceAccount `default`, its token, `kube-root-ca.crt`).
    RecreatedInB,
    /// Read namespace, no such object: the reference is dangling already in A.
    Missing,
    /// Its namespace was not read, so nothing is known.
    NotListed,
}

/// One kind of finding: what it looks at, how bad it is, why it matters in an
/// A/B cutover and what to do about it.
#[derive(Debug)]
pub struct PreflightRule {
    pub id: &'static str,
    pub severity: Severity,
    /// What the rule reads, for `abshift rules`.
    pub looks_at: &'static str,
    pub why: &'static str,
    pub action: &'static str,
}

impl PreflightRule {
    fn finding(&self, object: Option<ObjectRef>, message: String) -> Finding {
        Finding {
            rule: self.id.to_string(),
            severity: self.severity,
            object,
            message,
            why: self.why.to_string(),
            action: self.action.to_string(),
        }
    }
}

pub const NO_READINESS_PROBE: PreflightRule = PreflightRule {
    id: "no-readiness-probe",
    severity: Severity::Warning,
    looks_at: "containers of every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, custom workloads); not Jobs or CronJobs",
    why: "without a readiness probe a pod in B counts as ready once its process starts, so the Service (and the load balancer switched to B) sends it traffic before it can serve",
    action: "add a readinessProbe to the container before the cutover, or hold traffic on A until B's pods are checked by hand",
};

/// A grace period under this is short. It is the Kubernetes default, so only a
/// period explicitly set lower is reported; leaving it out is accepted.
pub const MIN_GRACE_SECONDS: i64 = 30;

pub const CLUSTERED_UNCLEAN_EXIT: PreflightRule = PreflightRule {
    id: "clustered-unclean-exit",
    severity: Severity::Warning,
    looks_at: "StatefulSets, and Deployments selected by a headless Service: no container with lifecycle.preStop, or terminationGracePeriodSeconds under 30",
    why: "when A is drained or scaled down, members of a clustered store that are killed without leaving stay in the peer list, and quorum or rebalancing in the cluster spanning A and B suffers",
    action: "add a preStop hook that leaves the cluster (consul leave, nodetool drain…) and give it at least 30s of terminationGracePeriodSeconds",
};

pub const NODE_PORT_SERVICE: PreflightRule = PreflightRule {
    id: "node-port-service",
    severity: Severity::Warning,
    looks_at: "Services of type NodePort or LoadBalancer",
    why: "load balancers outside Kubernetes point at node ports of A's nodes; in B a fixed nodePort must be free, and one assigned by B differs from A's",
    action: "check the nodePort is free in B (or remove it to let B choose), then repoint the external load balancer at B's nodes and port",
};

pub const PVC_DATA_NOT_MOVED: PreflightRule = PreflightRule {
    id: "pvc-data-not-moved",
    severity: Severity::Warning,
    looks_at: "PersistentVolumeClaims and StatefulSet volumeClaimTemplates",
    why: "abshift recreates the claim, not the data: B provisions a new, empty volume",
    action: "copy the data (backup and restore, or the store's own replication) before pods in B start using the claim, or pre-bind the claim to a volume holding the data",
};

pub const HOST_PATH_VOLUME: PreflightRule = PreflightRule {
    id: "host-path-volume",
    severity: Severity::Warning,
    looks_at: "hostPath volumes of pod templates, hostPath PersistentVolumes",
    why: "data on A's nodes stays on A's nodes; pods in B find the path empty or with other content on B's nodes",
    action: "move the data to a real volume, or make sure the content is recreated on every node of B (node image, DaemonSet)",
};

pub const MISSING_REFERENCE: PreflightRule = PreflightRule {
    id: "missing-reference",
    severity: Severity::Error,
    looks_at: "Secrets, ConfigMaps and ServiceAccounts named by pod templates, and Ingress TLS Secrets",
    why: "the object does not exist in A either, so pods in B fail to start (or the Ingress serves no certificate) exactly as they would in A, but now during the cutover",
    action: "create the object or remove the reference before migrating",
};

pub const MISSING_OPTIONAL_REFERENCE: PreflightRule = PreflightRule {
    id: "missing-optional-reference",
    severity: Severity::Info,
    looks_at: "optional references (optional: true, RoleBinding subjects) whose target does not exist",
    why: "pods start without it in both clusters; listed only so nobody is surprised",
    action: "nothing, unless the object was meant to exist",
};

pub const REFERENCE_OUTSIDE_SELECTION: PreflightRule = PreflightRule {
    id: "reference-outside-selection",
    severity: Severity::Warning,
    looks_at: "Secrets, ConfigMaps and ServiceAccounts referenced from the plan but left out by the selection",
    why: "the plan does not create the object in B, so whatever needs it fails there unless it is already present",
    action: "make sure it already exists in B or is migrated with it (widen the selection or add it to the stack)",
};

pub const PDB_BLOCKS_DRAIN: PreflightRule = PreflightRule {
    id: "pdb-blocks-drain",
    severity: Severity::Warning,
    looks_at: "PodDisruptionBudgets with maxUnavailable 0 / 0%, or minAvailable 100% or at least the matched workloads' replicas",
    why: "a budget that allows no eviction makes `kubectl drain` on A's nodes wait forever, so A cannot be emptied",
    action: "allow at least one disruption (maxUnavailable 1) for the cutover, or scale the workload up first",
};

pub const UNSERVED_API_VERSION: PreflightRule = PreflightRule {
    id: "unserved-api-version",
    severity: Severity::Error,
    looks_at: "API versions the objects are read at, against B's discovery (reported by the planner)",
    why: "B refuses to create objects at an API version it does not serve; manifests, charts and pipelines still using it break against B",
    action: "install the CRD or operator that serves it in B, or convert the objects and the manifests, charts and pipelines that use it to a version B serves; or leave the kind out with --exclude-kinds",
};

pub const CRONJOB_RUNS_TWICE: PreflightRule = PreflightRule {
    id: "cronjob-runs-twice",
    severity: Severity::Warning,
    looks_at: "CronJobs that are not suspended",
    why: "from the moment apply creates it, the CronJob fires in B as well as in A: jobs that send mail, bill, clean up or write to shared stores run twice until A is gone",
    action: "suspend it in one cluster for the cutover (spec.suspend: true in B until the switch, or in A right after it), or make the job safe to run twice",
};

pub const MISSING_DEPENDENCY: PreflightRule = PreflightRule {
    id: "missing-dependency",
    severity: Severity::Error,
    looks_at: "other objects a planned object needs (a binding's Role or ClusterRole, StorageClass, PriorityClass, RuntimeClass, IngressClass, the Service behind an Ingress, webhook or APIService, a pod's PVC), found nowhere in A (reported by the planner)",
    why: "B gets the object without what it needs: pods naming a missing PriorityClass are rejected, claims of a missing StorageClass stay Pending, bindings grant nothing, Ingress backends answer 503",
    action: "create the missing object in B (or in A, and re-plan), or fix the reference before migrating",
};

/// Every preflight rule, in the order `abshift rules` lists them.
pub const PREFLIGHT_RULES: &[PreflightRule] = &[
    NO_READINESS_PROBE,
    CLUSTERED_UNCLEAN_EXIT,
    NODE_PORT_SERVICE,
    PVC_DATA_NOT_MOVED,
    HOST_PATH_VOLUME,
    MISSING_REFERENCE,
    MISSING_OPTIONAL_REFERENCE,
    REFERENCE_OUTSIDE_SELECTION,
    PDB_BLOCKS_DRAIN,
    CRONJOB_RUNS_TWICE,
    UNSERVED_API_VERSION,
    MISSING_DEPENDENCY,
];

/// The finding the planner emits for a reference (other than the Secrets,
/// ConfigMaps and ServiceAccounts `check` looks at) that resolves to nothing in A.
pub fn missing_dependency(object: ObjectRef, target: &ObjectKey, why: &str) -> Finding {
    let label = match &object.namespace {
        Some(ns) => format!("{} {ns}/{}", object.kind, object.name),
        None => format!("{} {}", object.kind, object.name),
    };
    MISSING_DEPENDENCY.finding(
        Some(object),
        format!("{label}: its {why} {target} does not exist in A"),
    )
}

/// The finding the planner emits when B does not serve the version `count`
/// objects of a kind are read at. `kind_desc` names the kind and version
/// ("Ingress extensions/v1beta1"); `served` lists what B serves instead.
pub fn unserved_api_version(kind_desc: &str, served: &str, count: usize) -> Finding {
    let served = if served.is_empty() { "none" } else { served };
    let objects = if count == 1 { "object" } else { "objects" };
    UNSERVED_API_VERSION.finding(
        None,
        format!(
            "{count} {kind_desc} {objects}: B does not serve this version (B serves: {served})"
        ),
    )
}

/// Findings for the planned objects. `presence` says where a referenced
/// Secret, ConfigMap or ServiceAccount stands.
pub fn check(objects: &[PlannedObject], presence: &dyn Fn(&ObjectKey) -> Presence) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in objects {
        let (group, _) = split_api_version(&o.api_version);
        let gk = GroupKind::new(group, &o.kind);
        let m = &o.manifest;
        let obj = Obj {
            r: o.object_ref(),
            label: object_label(o),
        };
        let specs = pod_specs(&gk.kind, m);
        if gk.group != "batch" {
            for (path, spec) in &specs {
                readiness(&obj, path, spec, &mut out);
            }
        }
        if is_clustered(&gk, o, objects) {
            for (path, spec) in &specs {
                clustered(&obj, path, spec, &mut out);
            }
        }
        for (path, spec) in &specs {
            host_paths(&obj, path, spec, &mut out);
        }
        match (gk.group.as_str(), gk.kind.as_str()) {
            ("", "Service") => node_ports(&obj, m, &mut out),
            ("", "PersistentVolumeClaim") => claim(&obj, m, &mut out),
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
            ("apps", "StatefulSet") => claim_templates(&obj, m, &mut out),
            ("policy", "PodDisruptionBudget") => pdb(&obj, o, objects, &mut out),
            ("batch", "CronJob")
                if m.pointer("/spec/suspend").and_then(Value::as_bool) != Some(true) =>
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
        references(&obj, &gk, m, &specs, presence, &mut out);
    }
    out
}

/// The object a finding is about: its plan reference and how messages name it.
struct Obj {
    r: ObjectRef,
    label: String,
}

fn object_label(o: &PlannedObject) -> String {
    match &o.namespace {
        Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
        None => format!("{} {}", o.kind, o.name),
    }
}

/// Pod specs with the dotted path they sit at, so messages can name fields.
fn pod_specs<'a>(kind: &str, m: &'a Value) -> Vec<(String, &'a Value)> {
    podspec::pod_specs(kind, m)
        .into_iter()
        .map(|spec| {
            let path = if kind == "Pod" {
                "spec".to_string()
            } else {
                podspec::POD_SPEC_PATHS
                    .iter()
                    .find(|p| value_at(m, p).is_some_and(|v| std::ptr::eq(v, spec)))
                    .map(|p| p.join("."))
                    .unwrap_or_else(|| "spec".to_string())
            };
            (path, spec)
        })
        .collect()
}

fn array(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
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
                    && value_at(&s.manifest, &["spec", "selector"])
                        .and_then(Value::as_object)
                        .is_some_and(|sel| !sel.is_empty() && map_subset(sel, labels))
            })
        }
        _ => false,
    }
}

fn template_labels(m: &Value) -> Option<&Map<String, Value>> {
    value_at(m, &["spec", "template", "metadata", "labels"]).and_then(Value::as_object)
}

/// Every key of `sel` is in `labels` with the same value.
fn map_subset(sel: &Map<String, Value>, labels: &Map<String, Value>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn clustered(obj: &Obj, path: &str, spec: &Value, out: &mut Vec<Finding>) {
    let containers: Vec<&Value> = array(spec.get("containers")).collect();
    let has_pre_stop = containers.iter().any(|c| {
        c.pointer("/lifecycle/preStop")
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
    for (i, p) in array(m.pointer("/spec/ports")).enumerate() {
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
    let size = match spec.pointer("/resources/requests/storage") {
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
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    for (i, t) in array(m.pointer("/spec/volumeClaimTemplates")).enumerate() {
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
        m.pointer(&format!("/spec/{field}"))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    match budget(m.pointer("/spec/maxUnavailable")) {
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
    match budget(m.pointer("/spec/minAvailable")) {
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
    let sel = pdb.manifest.pointer("/spec/selector")?;
    let sel_empty = sel.as_object().is_none_or(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    });
    if sel_empty {
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
        if !selector_matches(sel, labels)? {
            continue;
        }
        let replicas = match w.manifest.pointer("/spec/replicas") {
            Some(r) => r.as_i64()?,
            None if w.kind == "DaemonSet" => return None,
            None => 1,
        };
        total += replicas;
        names.push(format!("{} {}", w.kind, w.name));
    }
    (!names.is_empty()).then_some((total, names))
}

/// A label selector (matchLabels and matchExpressions) against labels; None
/// when the selector is malformed.
fn selector_matches(sel: &Value, labels: &Map<String, Value>) -> Option<bool> {
    if let Some(ml) = sel.get("matchLabels")
        && !map_subset(ml.as_object()?, labels)
    {
        return Some(false);
    }
    for e in array(sel.get("matchExpressions")) {
        let key = str_at(e, &["key"])?;
        let values: Vec<&str> = array(e.get("values")).filter_map(Value::as_str).collect();
        let have = labels.get(key).and_then(Value::as_str);
        let ok = match str_at(e, &["operator"])? {
            "In" => have.is_some_and(|h| values.contains(&h)),
            "NotIn" => have.is_none_or(|h| !values.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

/// A reference found in a manifest: target, the field naming it, optional or not.
struct Ref {
    target: ObjectKey,
    field: String,
    optional: bool,
}

/// Where pod-spec items name Secrets and ConfigMaps: (pointer to the name
/// within the item, pointer to its `optional`, kind, field shown in messages).
type RefTable = &'static [(&'static str, &'static str, &'static str, &'static str)];

const VOLUME_REFS: RefTable = &[
    (
        "/secret/secretName",
        "/secret/optional",
        "Secret",
        "secret.secretName",
    ),
    (
        "/configMap/name",
        "/configMap/optional",
        "ConfigMap",
        "configMap.name",
    ),
];
const PROJECTED_REFS: RefTable = &[
    ("/secret/name", "/secret/optional", "Secret", "secret.name"),
    (
        "/configMap/name",
        "/configMap/optional",
        "ConfigMap",
        "configMap.name",
    ),
];
const ENV_REFS: RefTable = &[
    (
        "/valueFrom/secretKeyRef/name",
        "/valueFrom/secretKeyRef/optional",
        "Secret",
        "valueFrom.secretKeyRef.name",
    ),
    (
        "/valueFrom/configMapKeyRef/name",
        "/valueFrom/configMapKeyRef/optional",
        "ConfigMap",
        "valueFrom.configMapKeyRef.name",
    ),
];
const ENV_FROM_REFS: RefTable = &[
    (
        "/secretRef/name",
        "/secretRef/optional",
        "Secret",
        "secretRef.name",
    ),
    (
        "/configMapRef/name",
        "/configMapRef/optional",
        "ConfigMap",
        "configMapRef.name",
    ),
];

fn push_table(item: &Value, at: &str, table: RefTable, ns: Option<&str>, refs: &mut Vec<Ref>) {
    for (name_ptr, optional_ptr, kind, field) in table {
        if let Some(name) = item.pointer(name_ptr).and_then(Value::as_str) {
            refs.push(Ref {
                target: ObjectKey::new(GroupKind::core(kind), ns, name),
                field: format!("{at}.{field}"),
                optional: item.pointer(optional_ptr).and_then(Value::as_bool) == Some(true),
            });
        }
    }
}

fn pod_spec_refs(path: &str, spec: &Value, ns: Option<&str>, refs: &mut Vec<Ref>) {
    for field in ["serviceAccountName", "serviceAccount"] {
        if let Some(sa) = str_at(spec, &[field]).filter(|s| !s.is_empty()) {
            refs.push(Ref {
                target: ObjectKey::new(GroupKind::core("ServiceAccount"), ns, sa),
                field: format!("{path}.{field}"),
                optional: false,
            });
            break;
        }
    }
    for (i, s) in array(spec.get("imagePullSecrets")).enumerate() {
        if let Some(name) = str_at(s, &["name"]) {
            // The kubelet pulls without a missing pull secret (and may fail
            // later on a private image), so it does not stop the pod by itself.
            refs.push(Ref {
                target: ObjectKey::new(GroupKind::core("Secret"), ns, name),
                field: format!("{path}.imagePullSecrets[{i}].name"),
                optional: false,
            });
        }
    }
    for (i, v) in array(spec.get("volumes")).enumerate() {
        let at = format!("{path}.volumes[{i}]");
        push_table(v, &at, VOLUME_REFS, ns, refs);
        for (j, src) in array(v.pointer("/projected/sources")).enumerate() {
            push_table(
                src,
                &format!("{at}.projected.sources[{j}]"),
                PROJECTED_REFS,
                ns,
                refs,
            );
        }
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in array(spec.get(list)).enumerate() {
            let at = format!("{path}.{list}[{i}]");
            for (j, e) in array(c.get("env")).enumerate() {
                push_table(e, &format!("{at}.env[{j}]"), ENV_REFS, ns, refs);
            }
            for (j, e) in array(c.get("envFrom")).enumerate() {
                push_table(e, &format!("{at}.envFrom[{j}]"), ENV_FROM_REFS, ns, refs);
            }
        }
    }
}

fn references(
    obj: &Obj,
    gk: &GroupKind,
    m: &Value,
    specs: &[(String, &Value)],
    presence: &dyn Fn(&ObjectKey) -> Presence,
    out: &mut Vec<Finding>,
) {
    let ns = str_at(m, &["metadata", "namespace"]);
    let mut refs = Vec::new();
    for (path, spec) in specs {
        pod_spec_refs(path, spec, ns, &mut refs);
    }
    match (gk.group.as_str(), gk.kind.as_str()) {
        ("networking.k8s.io" | "extensions", "Ingress") => {
            for (i, t) in array(m.pointer("/spec/tls")).enumerate() {
                if let Some(secret) = str_at(t, &["secretName"]) {
                    refs.push(Ref {
                        target: ObjectKey::new(GroupKind::core("Secret"), ns, secret),
                        field: format!("spec.tls[{i}].secretName"),
                        optional: false,
                    });
                }
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            for (i, s) in array(m.get("subjects")).enumerate() {
                if str_at(s, &["kind"]) != Some("ServiceAccount") {
                    continue;
                }
                let sa_ns = str_at(s, &["namespace"]).or(ns);
                if let (Some(name), Some(sa_ns)) = (str_at(s, &["name"]), sa_ns) {
                    // A binding to a missing account grants nothing and breaks
                    // nothing: reported, but never as an error.
                    refs.push(Ref {
                        target: ObjectKey::new(
                            GroupKind::core("ServiceAccount"),
                            Some(sa_ns),
                            name,
                        ),
                        field: format!("subjects[{i}].name"),
                        optional: true,
                    });
                }
            }
        }
        _ => {}
    }
    // One finding per target, naming every field that refers to it.
    let mut by_target: BTreeMap<ObjectKey, Vec<Ref>> = BTreeMap::new();
    for r in refs {
        by_target.entry(r.target.clone()).or_default().push(r);
    }
    for (target, refs) in by_target {
        let fields = |only_required: bool| {
            refs.iter()
                .filter(|r| !only_required || !r.optional)
                .map(|r| r.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let required = refs.iter().any(|r| !r.optional);
        let what = describe_target(&target, ns);
        match presence(&target) {
            Presence::Missing if required => out.push(MISSING_REFERENCE.finding(
                Some(obj.r.clone()),
                format!("{}: {what} does not exist ({})", obj.label, fields(true)),
            )),
            Presence::Missing => out.push(MISSING_OPTIONAL_REFERENCE.finding(
                Some(obj.r.clone()),
                format!(
                    "{}: {what} does not exist ({}); nothing requires it",
                    obj.label,
                    fields(false)
                ),
            )),
            Presence::OutsideSelection => out.push(REFERENCE_OUTSIDE_SELECTION.finding(
                Some(obj.r.clone()),
                format!(
                    "{}: {what} is not in the selection ({}); it must already exist in B or be migrated with it",
                    obj.label,
                    fields(false)
                ),
            )),
            Presence::InPlan | Presence::RecreatedInB | Presence::NotListed => {}
        }
    }
}

/// "Secret db" in the object's own namespace, "ServiceAccount ns/name" elsewhere.
fn describe_target(t: &ObjectKey, ns: Option<&str>) -> String {
    match t.namespace.as_deref() {
        Some(tns) if Some(tns) != ns => format!("{} {tns}/{}", t.gk, t.name),
        _ => format!("{} {}", t.gk, t.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Action;
    use serde::Deserialize;
    use std::path::{Path, PathBuf};

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
                    pulled_in_by: vec![],
                    diff: None,
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
            "../../../tests/fixtures/preflight/no-readiness-probe.yaml"
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
            "../../../tests/fixtures/preflight/clustered-unclean-exit.yaml"
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
            "../../../tests/fixtures/preflight/node-port-service.yaml"
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
            "../../../tests/fixtures/preflight/pvc-data-not-moved.yaml"
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
            "../../../tests/fixtures/preflight/pvc-data-not-moved.yaml"
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
            "../../../tests/fixtures/preflight/host-path-volume.yaml"
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
                "PersistentVolume bad-local-pv: spec.hostPath.path is /srv/data on one of A's nodes".to_string()
            )]
        );
    }

    #[test]
    fn missing_references_are_errors_naming_every_field() {
        let f = run(include_str!(
            "../../../tests/fixtures/preflight/missing-reference.yaml"
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
                    format!(
                        "{p}Secret absent-registry does not exist ({t}.imagePullSecrets[0].name)"
                    )
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
                    .all(|x| x.rule != "missing-reference"
                        && x.rule != "reference-outside-selection")
            );
        }
        assert!(about(&f, "missing-optional-reference", "good-binding").is_empty());
    }

    #[test]
    fn optional_references_and_binding_subjects_are_info() {
        let f = run(include_str!(
            "../../../tests/fixtures/preflight/missing-optional-reference.yaml"
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
            "../../../tests/fixtures/preflight/reference-outside-selection.yaml"
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
            "../../../tests/fixtures/preflight/pdb-blocks-drain.yaml"
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
}
