//! The preflight rule table: every kind of finding with its severity, what it
//! looks at, why it hurts in an A/B cutover and what to do. `abshift rules`
//! prints it; the checks and the planner make findings from it.

use crate::model::{ObjectKey, ObjectRef};
use crate::plan::{Finding, Severity};

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
    pub(super) fn finding(&self, object: Option<ObjectRef>, message: String) -> Finding {
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

pub(crate) const NO_READINESS_PROBE: PreflightRule = PreflightRule {
    id: "no-readiness-probe",
    severity: Severity::Warning,
    looks_at: "containers of every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, custom workloads); not Jobs or CronJobs",
    why: "without a readiness probe a pod in B counts as ready once its process starts, so the Service (and the load balancer switched to B) sends it traffic before it can serve",
    action: "add a readinessProbe to the container before the cutover, or hold traffic on A until B's pods are checked by hand",
};

/// A grace period under this is short. It is the Kubernetes default, so only a
/// period explicitly set lower is reported; leaving it out is accepted.
pub(crate) const MIN_GRACE_SECONDS: i64 = 30;

pub(crate) const CLUSTERED_UNCLEAN_EXIT: PreflightRule = PreflightRule {
    id: "clustered-unclean-exit",
    severity: Severity::Warning,
    looks_at: "StatefulSets, and Deployments selected by a headless Service: no container with lifecycle.preStop, or terminationGracePeriodSeconds under 30",
    why: "when A is drained or scaled down, members of a clustered store that are killed without leaving stay in the peer list, and quorum or rebalancing in the cluster spanning A and B suffers",
    action: "add a preStop hook that leaves the cluster (consul leave, nodetool drain…) and give it at least 30s of terminationGracePeriodSeconds",
};

pub(crate) const NODE_PORT_SERVICE: PreflightRule = PreflightRule {
    id: "node-port-service",
    severity: Severity::Warning,
    looks_at: "Services of type NodePort or LoadBalancer",
    why: "load balancers outside Kubernetes point at node ports of A's nodes; in B a fixed nodePort must be free, and one assigned by B differs from A's",
    action: "check the nodePort is free in B (or remove it to let B choose), then repoint the external load balancer at B's nodes and port",
};

pub(crate) const PVC_DATA_NOT_MOVED: PreflightRule = PreflightRule {
    id: "pvc-data-not-moved",
    severity: Severity::Warning,
    looks_at: "PersistentVolumeClaims and StatefulSet volumeClaimTemplates",
    why: "abshift recreates the claim, not the data: B provisions a new, empty volume",
    action: "copy the data (backup and restore, or the store's own replication) before pods in B start using the claim, or pre-bind the claim to a volume holding the data",
};

pub(crate) const HOST_PATH_VOLUME: PreflightRule = PreflightRule {
    id: "host-path-volume",
    severity: Severity::Warning,
    looks_at: "hostPath volumes of pod templates, hostPath PersistentVolumes",
    why: "data on A's nodes stays on A's nodes; pods in B find the path empty or with other content on B's nodes",
    action: "move the data to a real volume, or make sure the content is recreated on every node of B (node image, DaemonSet)",
};

pub(crate) const MISSING_REFERENCE: PreflightRule = PreflightRule {
    id: "missing-reference",
    severity: Severity::Error,
    looks_at: "Secrets, ConfigMaps and ServiceAccounts named by pod templates, and Ingress TLS Secrets",
    why: "the object does not exist in A either, so pods in B fail to start (or the Ingress serves no certificate) exactly as they would in A, but now during the cutover",
    action: "create the object or remove the reference before migrating",
};

pub(crate) const MISSING_OPTIONAL_REFERENCE: PreflightRule = PreflightRule {
    id: "missing-optional-reference",
    severity: Severity::Info,
    looks_at: "optional references (optional: true, RoleBinding subjects) whose target does not exist",
    why: "pods start without it in both clusters; listed only so nobody is surprised",
    action: "nothing, unless the object was meant to exist",
};

pub(crate) const REFERENCE_OUTSIDE_SELECTION: PreflightRule = PreflightRule {
    id: "reference-outside-selection",
    severity: Severity::Warning,
    looks_at: "Secrets, ConfigMaps and ServiceAccounts referenced from the plan but left out by the selection",
    why: "the plan does not create the object in B, so whatever needs it fails there unless it is already present",
    action: "make sure it already exists in B or is migrated with it (widen the selection or add it to the stack)",
};

pub(crate) const PDB_BLOCKS_DRAIN: PreflightRule = PreflightRule {
    id: "pdb-blocks-drain",
    severity: Severity::Warning,
    looks_at: "PodDisruptionBudgets with maxUnavailable 0 / 0%, or minAvailable 100% or at least the matched workloads' replicas",
    why: "a budget that allows no eviction makes `kubectl drain` on A's nodes wait forever, so A cannot be emptied",
    action: "allow at least one disruption (maxUnavailable 1) for the cutover, or scale the workload up first",
};

pub(crate) const UNSERVED_API_VERSION: PreflightRule = PreflightRule {
    id: "unserved-api-version",
    severity: Severity::Error,
    looks_at: "API versions the objects are read at, against B's discovery (reported by the planner)",
    why: "B refuses to create objects at an API version it does not serve; manifests, charts and pipelines still using it break against B",
    action: "install the CRD or operator that serves it in B, or convert the objects and the manifests, charts and pipelines that use it to a version B serves; or leave the kind out with --exclude-kinds",
};

pub(crate) const CRONJOB_RUNS_TWICE: PreflightRule = PreflightRule {
    id: "cronjob-runs-twice",
    severity: Severity::Warning,
    looks_at: "CronJobs that are not suspended",
    why: "from the moment apply creates it, the CronJob fires in B as well as in A: jobs that send mail, bill, clean up or write to shared stores run twice until A is gone",
    action: "hand it over: `migrate apply --suspend-cronjobs` creates it suspended in B; after the live switch, `abshift cutover suspend` in A and `abshift cutover resume` in B; or make the job safe to run twice",
};

pub(crate) const SINGLETON_RUNS_TWICE: PreflightRule = PreflightRule {
    id: "singleton-runs-twice",
    severity: Severity::Warning,
    looks_at: "Deployments with one replica and the Recreate strategy: work meant to run exactly once",
    why: "from the moment apply creates it, a second copy runs in B while A's still runs: leader-less controllers, consumers and schedulers act twice",
    action: "hand it over: `abshift cutover suspend --plan PLAN` scales it to 0 in B at apply time, and after the live switch in A; `abshift cutover resume` restores the recorded replicas",
};

pub(crate) const MISSING_DEPENDENCY: PreflightRule = PreflightRule {
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
    SINGLETON_RUNS_TWICE,
    UNSERVED_API_VERSION,
    MISSING_DEPENDENCY,
];

/// The finding the planner emits for a reference (other than the Secrets,
/// ConfigMaps and ServiceAccounts `check` looks at) that resolves to nothing in A.
pub(crate) fn missing_dependency(object: ObjectRef, target: &ObjectKey, why: &str) -> Finding {
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
pub(crate) fn unserved_api_version(kind_desc: &str, served: &str, count: usize) -> Finding {
    let served = if served.is_empty() { "none" } else { served };
    let objects = if count == 1 { "object" } else { "objects" };
    UNSERVED_API_VERSION.finding(
        None,
        format!(
            "{count} {kind_desc} {objects}: B does not serve this version (B serves: {served})"
        ),
    )
}
