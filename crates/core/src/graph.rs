//! The dependency graph: which planned object must exist in B before another
//! can be created, and the waves that follow (longest-path layers). Pure: built
//! from manifests alone, no cluster access.

use std::collections::HashMap;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;

use crate::model::{GroupKind, ObjectKey, ValueAt, split_api_version, str_at};
use crate::podspec;

/// Kinds that go in the last wave: while they exist they can block or reroute
/// other writes (admission webhooks and policies, aggregated APIs).
pub const LAST_WAVE_KINDS: &[(&str, &str, &str)] = &[
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "rejects writes while its webhook is unreachable",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "rewrites or rejects writes while its webhook is unreachable",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicy",
        "rejects writes that the rest of the migration needs",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
        "activates a policy that can reject migrated writes",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicy",
        "rewrites migrated writes",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
        "activates a policy that rewrites migrated writes",
    ),
    (
        "apiregistration.k8s.io",
        "APIService",
        "routes a group to a Service whose backend may not run yet",
    ),
];

pub(crate) fn is_last_wave(gk: &GroupKind) -> bool {
    LAST_WAVE_KINDS
        .iter()
        .any(|(g, k, _)| *g == gk.group && *k == gk.kind)
}

/// A reference from one object to another, found in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Reference {
    pub target: ObjectKey,
    /// When true the target may be namespaced or cluster-scoped (owner references
    /// name a kind without saying which); resolution tries both.
    pub scope_unknown: bool,
    pub why: &'static str,
}

fn r(group: &str, kind: &str, ns: Option<&str>, name: &str, why: &'static str) -> Reference {
    Reference {
        target: ObjectKey::new(GroupKind::new(group, kind), ns, name),
        scope_unknown: false,
        why,
    }
}

/// Everything `manifest` refers to that must exist before it. `plural` is the
/// object's own resource name, used to name the CRD that defines it.
pub(crate) fn references(gk: &GroupKind, plural: &str, manifest: &Value) -> Vec<Reference> {
    let ns = str_at(manifest, &["metadata", "namespace"]);
    let mut out = Vec::new();
    if let Some(ns) = ns {
        out.push(r("", "Namespace", None, ns, "namespace"));
    }
    if !is_builtin_group(&gk.group) {
        out.push(r(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            &format!("{plural}.{}", gk.group),
            "defined by CRD",
        ));
    }
    for owner in manifest
        .at(&["metadata", "ownerReferences"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (group, _) = split_api_version(str_at(owner, &["apiVersion"]).unwrap_or(""));
        if let (Some(kind), Some(name)) = (str_at(owner, &["kind"]), str_at(owner, &["name"])) {
            out.push(Reference {
                target: ObjectKey::new(GroupKind::new(group, kind), ns, name),
                scope_unknown: true,
                why: "owner",
            });
        }
    }
    for spec in podspec::pod_specs(&gk.kind, manifest) {
        pod_spec_refs(spec, ns, &mut out);
    }
    match (gk.group.as_str(), gk.kind.as_str()) {
        ("", "PersistentVolumeClaim") => {
            if let Some(sc) =
                str_at(manifest, &["spec", "storageClassName"]).filter(|s| !s.is_empty())
            {
                out.push(r(
                    "storage.k8s.io",
                    "StorageClass",
                    None,
                    sc,
                    "storage class",
                ));
            }
        }
        ("apps", "StatefulSet") => {
            if let Some(svc) = str_at(manifest, &["spec", "serviceName"]).filter(|s| !s.is_empty())
            {
                out.push(r("", "Service", ns, svc, "governing service"));
            }
            for t in manifest
                .at(&["spec", "volumeClaimTemplates"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(sc) = str_at(t, &["spec", "storageClassName"]).filter(|s| !s.is_empty())
                {
                    out.push(r(
                        "storage.k8s.io",
                        "StorageClass",
                        None,
                        sc,
                        "storage class",
                    ));
                }
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            if let (Some(kind), Some(name)) = (
                str_at(manifest, &["roleRef", "kind"]),
                str_at(manifest, &["roleRef", "name"]),
            ) {
                let role_ns = if kind == "Role" { ns } else { None };
                out.push(r("rbac.authorization.k8s.io", kind, role_ns, name, "role"));
            }
            for s in manifest
                .get("subjects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if str_at(s, &["kind"]) == Some("ServiceAccount")
                    && let Some(name) = str_at(s, &["name"])
                {
                    out.push(r(
                        "",
                        "ServiceAccount",
                        str_at(s, &["namespace"]).or(ns),
                        name,
                        "subject",
                    ));
                }
            }
        }
        ("networking.k8s.io" | "extensions", "Ingress") => ingress_refs(manifest, ns, &mut out),
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => {
            for w in manifest
                .get("webhooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(svc) = w.at(&["clientConfig", "service"]) {
                    service_ref(svc, &mut out, "webhook service");
                }
            }
        }
        ("apiregistration.k8s.io", "APIService") => {
            if let Some(svc) = manifest.at(&["spec", "service"]) {
                service_ref(svc, &mut out, "backing service");
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(svc) =
                manifest.at(&["spec", "conversion", "webhook", "clientConfig", "service"])
            {
                service_ref(svc, &mut out, "conversion webhook service");
            }
        }
        _ => {}
    }
    out.sort();
    out.dedup();
    out
}

/// Groups served by Kubernetes itself (no CRD behind them): the core group and
/// `*.k8s.io` groups, plus the legacy unqualified groups.
fn is_builtin_group(group: &str) -> bool {
    group.is_empty()
        || group.ends_with(".k8s.io")
        || group == "k8s.io"
        || matches!(
            group,
            "apps" | "batch" | "autoscaling" | "policy" | "extensions"
        )
}

fn service_ref(svc: &Value, out: &mut Vec<Reference>, why: &'static str) {
    if let (Some(ns), Some(name)) = (str_at(svc, &["namespace"]), str_at(svc, &["name"])) {
        out.push(r("", "Service", Some(ns), name, why));
    }
}

/// A pod spec's references, from the one table of them (`podspec::POD_SPEC_REFS`).
/// Optional references are dependencies too: the pod should find them when it starts.
fn pod_spec_refs(spec: &Value, ns: Option<&str>, out: &mut Vec<Reference>) {
    for f in podspec::references(spec) {
        let ns = if f.row.namespaced { ns } else { None };
        out.push(r(f.row.group, f.row.kind, ns, f.name, f.row.label));
    }
}

fn ingress_refs(m: &Value, ns: Option<&str>, out: &mut Vec<Reference>) {
    let class = str_at(m, &["spec", "ingressClassName"])
        .or_else(|| crate::model::annotation(m, "kubernetes.io/ingress.class"));
    if let Some(class) = class {
        out.push(r(
            "networking.k8s.io",
            "IngressClass",
            None,
            class,
            "ingress class",
        ));
    }
    let mut backends: Vec<&Value> = Vec::new();
    backends.extend(m.at(&["spec", "defaultBackend"]));
    backends.extend(m.at(&["spec", "backend"]));
    for rule in m
        .at(&["spec", "rules"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for p in rule
            .at(&["http", "paths"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            backends.extend(p.get("backend"));
        }
    }
    for b in backends {
        let svc = b
            .at(&["service", "name"])
            .or_else(|| b.get("serviceName"))
            .and_then(Value::as_str);
        if let Some(svc) = svc {
            out.push(r("", "Service", ns, svc, "backend"));
        }
    }
    for t in m
        .at(&["spec", "tls"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(secret) = str_at(t, &["secretName"]) {
            out.push(r("", "Secret", ns, secret, "TLS"));
        }
    }
}

/// A cycle found in the graph and how it was broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    pub members: Vec<ObjectKey>,
    /// Edges removed to break it: (dependency, dependent).
    pub removed: Vec<(ObjectKey, ObjectKey)>,
}

/// The result of laying out the graph: a wave per object and its direct dependencies.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub waves: Vec<usize>,
    /// Indices of the objects each object depends on (sorted, after cycle breaking).
    pub depends_on: Vec<Vec<usize>>,
    /// References whose target is not among the planned objects.
    pub unresolved: Vec<(usize, Reference)>,
    pub cycles: Vec<Cycle>,
}

/// Builds the graph over `nodes` (key, plural, manifest) and assigns waves.
pub(crate) fn layout(nodes: &[(&ObjectKey, &str, &Value)]) -> Layout {
    use rayon::prelude::*;
    // Keys found by hash: bisecting 50,000 keys for every reference compared
    // strings scattered over memory sixteen times each (5 % of a re-plan's CPU).
    // A key listed twice resolves to its first node.
    let mut index: HashMap<&ObjectKey, usize> = HashMap::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        index.entry(n.0).or_insert(i);
    }
    let find = |key: &ObjectKey| index.get(key).copied();
    // Each object's references read and resolved on all cores; the graph is
    // built from them in order.
    let resolved: Vec<Vec<(Option<usize>, Reference)>> = nodes
        .par_iter()
        .map(|(key, plural, manifest)| {
            references(&key.gk, plural, manifest)
                .into_iter()
                .map(|reference| {
                    let found = find(&reference.target).or_else(|| {
                        reference
                            .scope_unknown
                            .then(|| {
                                find(&ObjectKey {
                                    namespace: None,
                                    ..reference.target.clone()
                                })
                            })
                            .flatten()
                    });
                    (found, reference)
                })
                .collect()
        })
        .collect();
    let edges: usize = resolved.iter().map(Vec::len).sum();
    let mut g: DiGraph<usize, &'static str> = DiGraph::with_capacity(nodes.len(), edges);
    for i in 0..nodes.len() {
        g.add_node(i);
    }
    let mut unresolved = Vec::new();
    // An edge is added once, though several fields may make it: the node
    // that last added an edge from each dependency.
    let mut added_for = vec![usize::MAX; nodes.len()];
    for (i, refs) in resolved.into_iter().enumerate() {
        for (found, reference) in refs {
            match found {
                Some(dep) if dep != i => {
                    if added_for[dep] != i {
                        added_for[dep] = i;
                        g.add_edge(NodeIndex::new(dep), NodeIndex::new(i), reference.why);
                    }
                }
                Some(_) => {}
                None => unresolved.push((i, reference)),
            }
        }
    }
    let cycles = break_cycles(&mut g, nodes);
    let order = toposort(&g, None).expect("cycles were broken");
    let last: Vec<bool> = nodes.iter().map(|(k, _, _)| is_last_wave(&k.gk)).collect();

    // Longest-path layering; then lift last-wave kinds above everything that
    // does not depend on them, and re-layer what depends on them.
    let longest = |lower_bound: &dyn Fn(usize) -> usize| {
        let mut wave = vec![0usize; nodes.len()];
        for n in &order {
            let i = n.index();
            let from_deps = g
                .neighbors_directed(*n, petgraph::Direction::Incoming)
                .map(|p| wave[p.index()] + 1)
                .max()
                .unwrap_or(0);
            wave[i] = from_deps.max(lower_bound(i));
        }
        wave
    };
    let first = longest(&|_| 0);
    let tainted = descendants_of(&g, &order, &last);
    let top = (0..nodes.len())
        .filter(|&i| !tainted[i])
        .map(|i| first[i])
        .max();
    let waves = match top {
        Some(top) if last.iter().any(|&l| l) => longest(&|i| if last[i] { top + 1 } else { 0 }),
        _ => first,
    };
    let mut depends_on = vec![Vec::new(); nodes.len()];
    for e in g.edge_indices() {
        let (a, b) = g.edge_endpoints(e).expect("edge exists");
        depends_on[b.index()].push(a.index());
    }
    for d in &mut depends_on {
        d.sort_by(|a, b| nodes[*a].0.cmp(nodes[*b].0));
    }
    Layout {
        waves,
        depends_on,
        unresolved,
        cycles,
    }
}

/// Marks last-wave objects and everything that depends on them.
fn descendants_of(
    g: &DiGraph<usize, &'static str>,
    order: &[NodeIndex],
    roots: &[bool],
) -> Vec<bool> {
    let mut marked = roots.to_vec();
    for n in order {
        if g.neighbors_directed(*n, petgraph::Direction::Incoming)
            .any(|p| marked[p.index()])
        {
            marked[n.index()] = true;
        }
    }
    marked
}

/// Breaks every cycle deterministically: within each strongly connected
/// component, members are ordered by key and edges pointing backwards in that
/// order are removed.
fn break_cycles(
    g: &mut DiGraph<usize, &'static str>,
    nodes: &[(&ObjectKey, &str, &Value)],
) -> Vec<Cycle> {
    let mut cycles = Vec::new();
    for scc in tarjan_scc(&*g) {
        if scc.len() < 2 {
            continue;
        }
        let mut members: Vec<NodeIndex> = scc.clone();
        members.sort_by(|a, b| nodes[a.index()].0.cmp(nodes[b.index()].0));
        let rank: HashMap<NodeIndex, usize> =
            members.iter().enumerate().map(|(r, n)| (*n, r)).collect();
        let mut removed = Vec::new();
        let to_remove: Vec<_> = g
            .edge_indices()
            .filter(|e| {
                let (a, b) = g.edge_endpoints(*e).expect("edge exists");
                matches!((rank.get(&a), rank.get(&b)), (Some(ra), Some(rb)) if ra > rb)
            })
            .collect();
        for e in to_remove.into_iter().rev() {
            let (a, b) = g.edge_endpoints(e).expect("edge exists");
            removed.push((nodes[a.index()].0.clone(), nodes[b.index()].0.clone()));
            g.remove_edge(e);
        }
        removed.sort();
        cycles.push(Cycle {
            members: members.iter().map(|n| nodes[n.index()].0.clone()).collect(),
            removed,
        });
    }
    cycles.sort_by(|a, b| a.members.cmp(&b.members));
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(group: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey::new(GroupKind::new(group, kind), ns, name)
    }

    fn run(objs: &[(ObjectKey, &str, Value)]) -> (Layout, HashMap<String, usize>) {
        let nodes: Vec<(&ObjectKey, &str, &Value)> =
            objs.iter().map(|(k, p, v)| (k, *p, v)).collect();
        let l = layout(&nodes);
        let waves = objs
            .iter()
            .enumerate()
            .map(|(i, (k, _, _))| (k.to_string(), l.waves[i]))
            .collect();
        (l, waves)
    }

    #[test]
    fn workload_waits_for_namespace_sa_config_and_secret() {
        let objs = vec![
            (
                key("apps", "Deployment", Some("a"), "web"),
                "deployments",
                json!({"metadata": {"name": "web", "namespace": "a"},
                "spec": {"template": {"spec": {"serviceAccountName": "web", "containers": [{"name": "c",
                    "envFrom": [{"configMapRef": {"name": "cfg"}}], "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}]}]}}}}),
            ),
            (
                key("", "ServiceAccount", Some("a"), "web"),
                "serviceaccounts",
                json!({"metadata": {"name": "web", "namespace": "a"}}),
            ),
            (
                key("", "ConfigMap", Some("a"), "cfg"),
                "configmaps",
                json!({"metadata": {"name": "cfg", "namespace": "a"}}),
            ),
            (
                key("", "Secret", Some("a"), "db"),
                "secrets",
                json!({"metadata": {"name": "db", "namespace": "a"}}),
            ),
            (
                key("", "Namespace", None, "a"),
                "namespaces",
                json!({"metadata": {"name": "a"}}),
            ),
        ];
        let (l, w) = run(&objs);
        assert_eq!(w["Namespace a"], 0);
        assert_eq!(w["ServiceAccount a/web"], 1);
        assert_eq!(w["Deployment.apps a/web"], 2);
        // Sorted by key (group, kind, namespace, name): ConfigMap, Namespace, Secret, ServiceAccount.
        assert_eq!(l.depends_on[0], vec![2, 4, 3, 1]);
    }

    #[test]
    fn every_dependency_is_in_an_earlier_wave_and_crs_follow_their_crd() {
        let objs = vec![
            (
                key("example.com", "Widget", Some("a"), "w1"),
                "widgets",
                json!({"metadata": {"name": "w1", "namespace": "a"}}),
            ),
            (
                key(
                    "apiextensions.k8s.io",
                    "CustomResourceDefinition",
                    None,
                    "widgets.example.com",
                ),
                "customresourcedefinitions",
                json!({"metadata": {"name": "widgets.example.com"}}),
            ),
            (
                key("", "Namespace", None, "a"),
                "namespaces",
                json!({"metadata": {"name": "a"}}),
            ),
            (
                key("rbac.authorization.k8s.io", "RoleBinding", Some("a"), "rb"),
                "rolebindings",
                json!({"metadata": {"name": "rb", "namespace": "a"},
                "roleRef": {"kind": "ClusterRole", "name": "reader"}, "subjects": [{"kind": "ServiceAccount", "name": "bot"}]}),
            ),
            (
                key("rbac.authorization.k8s.io", "ClusterRole", None, "reader"),
                "clusterroles",
                json!({"metadata": {"name": "reader"}}),
            ),
            (
                key("", "ServiceAccount", Some("a"), "bot"),
                "serviceaccounts",
                json!({"metadata": {"name": "bot", "namespace": "a"}}),
            ),
        ];
        let (l, w) = run(&objs);
        for (i, deps) in l.depends_on.iter().enumerate() {
            for d in deps {
                assert!(l.waves[*d] < l.waves[i]);
            }
        }
        assert!(
            w["Widget.example.com a/w1"]
                > w["CustomResourceDefinition.apiextensions.k8s.io widgets.example.com"]
        );
        assert_eq!(l.depends_on[3].len(), 3);
    }

    #[test]
    fn webhooks_go_last_and_after_their_service() {
        let objs = vec![
            (
                key(
                    "admissionregistration.k8s.io",
                    "ValidatingWebhookConfiguration",
                    None,
                    "policy",
                ),
                "validatingwebhookconfigurations",
                json!({"metadata": {"name": "policy"}, "webhooks": [{"clientConfig": {"service": {"namespace": "a", "name": "hook"}}}]}),
            ),
            (
                key("", "Service", Some("a"), "hook"),
                "services",
                json!({"metadata": {"name": "hook", "namespace": "a"}}),
            ),
            (
                key("", "Namespace", None, "a"),
                "namespaces",
                json!({"metadata": {"name": "a"}}),
            ),
            (
                key("", "ConfigMap", Some("b"), "deep"),
                "configmaps",
                json!({"metadata": {"name": "deep", "namespace": "b"}}),
            ),
            (
                key("", "Namespace", None, "b"),
                "namespaces",
                json!({"metadata": {"name": "b"}}),
            ),
            (
                key("apps", "Deployment", Some("b"), "d"),
                "deployments",
                json!({"metadata": {"name": "d", "namespace": "b"},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "deep"}}]}]}}}}),
            ),
        ];
        let (_, w) = run(&objs);
        let max_other = w
            .iter()
            .filter(|(k, _)| !k.contains("Webhook"))
            .map(|(_, v)| *v)
            .max()
            .unwrap();
        assert_eq!(
            w["ValidatingWebhookConfiguration.admissionregistration.k8s.io policy"],
            max_other + 1
        );
    }

    #[test]
    fn cycles_are_reported_and_broken_deterministically() {
        // Two objects owning each other (impossible in practice, possible in data).
        let objs = vec![
            (
                key("", "ConfigMap", Some("a"), "x"),
                "configmaps",
                json!({"metadata": {"name": "x", "namespace": "a", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "y"}]}}),
            ),
            (
                key("", "ConfigMap", Some("a"), "y"),
                "configmaps",
                json!({"metadata": {"name": "y", "namespace": "a", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}]}}),
            ),
        ];
        let (l, _) = run(&objs);
        assert_eq!(l.cycles.len(), 1);
        assert_eq!(l.cycles[0].members.len(), 2);
        assert_eq!(
            l.cycles[0].removed,
            vec![(objs[1].0.clone(), objs[0].0.clone())]
        );
        assert_eq!(l.waves, vec![0, 1]);
        // Same input in the other order gives the same result.
        let swapped = vec![objs[1].clone(), objs[0].clone()];
        let (l2, _) = run(&swapped);
        assert_eq!(l2.cycles[0].removed, l.cycles[0].removed);
        assert_eq!(l2.waves, vec![1, 0]);
    }

    #[test]
    fn missing_targets_are_reported_not_invented() {
        let objs = vec![(
            key("", "Pod", Some("a"), "p"),
            "pods",
            json!({"metadata": {"name": "p", "namespace": "a"},
            "spec": {"containers": [{"name": "c"}], "volumes": [{"name": "v", "secret": {"secretName": "gone"}}]}}),
        )];
        let (l, _) = run(&objs);
        let missing: Vec<String> = l
            .unresolved
            .iter()
            .map(|(_, r)| r.target.to_string())
            .collect();
        assert_eq!(missing, vec!["Namespace a", "Secret a/gone"]);
    }
}
