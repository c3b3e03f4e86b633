//! Where pod specs sit in workload objects (by shape, so custom workloads count;
//! normalisation and conversion edit them there), and where a pod spec names other
//! objects: one table, `POD_SPEC_REFS`, one walker, `references`, for graph and preflight.

use serde_json::Value;

use crate::model::{ValueAt, array_items as array};

/// Paths at which a pod spec may sit, tried on every object.
pub(crate) const POD_SPEC_PATHS: &[&[&str]] = &[
    &["spec", "template", "spec"], // Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, custom workloads
    &["spec", "jobTemplate", "spec", "template", "spec"], // CronJob
    &["template", "spec"],         // PodTemplate
];

/// Where a Pod's own spec sits.
const POD_PATH: &[&str] = &["spec"];

/// Pod specs of an object: the object's own `spec` for a Pod, else any template.
pub(crate) fn pod_specs<'a>(kind: &str, object: &'a Value) -> Vec<&'a Value> {
    pod_specs_at(kind, object)
        .into_iter()
        .map(|(_, spec)| spec)
        .collect()
}

/// Pod specs with the path each sits at, so that messages can name fields.
pub(crate) fn pod_specs_at<'a>(
    kind: &str,
    object: &'a Value,
) -> Vec<(&'static [&'static str], &'a Value)> {
    if kind == "Pod" {
        return object
            .get("spec")
            .map(|s| (POD_PATH, s))
            .into_iter()
            .collect();
    }
    POD_SPEC_PATHS
        .iter()
        .filter_map(|path| object.at(path).map(|spec| (*path, spec)))
        .filter(|(_, spec)| spec.get("containers").is_some())
        .collect()
}

/// Mutable access to the pod specs of an object (same rules as [`pod_specs`]).
pub(crate) fn pod_specs_mut<'a>(kind: &str, object: &'a mut Value) -> Vec<&'a mut Value> {
    if kind == "Pod" {
        return object.get_mut("spec").into_iter().collect();
    }
    // Only one path can match a given object shape; find which, then borrow it.
    let found = POD_SPEC_PATHS.iter().find(|path| {
        object
            .at(path)
            .is_some_and(|s| s.get("containers").is_some())
    });
    match found {
        Some(path) => object.at_mut(path).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The container lists of a pod spec: init, regular and ephemeral.
const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// All containers of a pod spec (init, regular and ephemeral), to change them.
pub(crate) fn containers_mut(spec: &mut Value) -> Vec<&mut Value> {
    let mut out = Vec::new();
    if let Some(map) = spec.as_object_mut() {
        for (field, list) in map.iter_mut() {
            if CONTAINER_LISTS.contains(&field.as_str())
                && let Some(items) = list.as_array_mut()
            {
                out.extend(items.iter_mut());
            }
        }
    }
    out
}

/// What part of a pod spec a reference sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// A field of the pod spec itself. An empty string counts as unset there,
    /// as the API server treats it.
    Spec,
    /// An item of `imagePullSecrets`.
    ImagePullSecret,
    /// An item of `volumes`.
    Volume,
    /// An item of `volumes[].projected.sources`.
    ProjectedSource,
    /// An item of `env` of any container (init, regular, ephemeral).
    Env,
    /// An item of `envFrom` of any container.
    EnvFrom,
}

/// One place where a pod spec names another object.
#[derive(Debug)]
pub(crate) struct PodSpecRef {
    pub at: At,
    /// Dotted path of the name within the item (or the spec, for [`At::Spec`]).
    pub field: &'static str,
    pub group: &'static str,
    pub kind: &'static str,
    /// Whether the referenced kind is namespaced (then it is looked up in the
    /// pod's namespace).
    pub namespaced: bool,
    /// Whether the reference can be marked `optional: true` (a field next to the name).
    pub can_be_optional: bool,
    /// Read only when this other field of the spec is unset: a deprecated alias.
    pub alias_of: Option<&'static str>,
    /// Short name of the relation. The graph uses it as the edge's reason, so
    /// it appears in `pulledInBy` and `missing-dependency` messages: keep it stable.
    pub label: &'static str,
    /// What happens to the pod without the object, in one line. Documentation
    /// kept with the data: nothing prints it yet.
    #[cfg_attr(not(test), allow(dead_code))]
    pub reason: &'static str,
}

const fn row(
    at: At,
    field: &'static str,
    (group, kind, namespaced): (&'static str, &'static str, bool),
    can_be_optional: bool,
    label: &'static str,
    reason: &'static str,
) -> PodSpecRef {
    PodSpecRef {
        at,
        field,
        group,
        kind,
        namespaced,
        can_be_optional,
        alias_of: None,
        label,
        reason,
    }
}

const SECRET: (&str, &str, bool) = ("", "Secret", true);
const CONFIG_MAP: (&str, &str, bool) = ("", "ConfigMap", true);
const SERVICE_ACCOUNT: (&str, &str, bool) = ("", "ServiceAccount", true);
const CLAIM: (&str, &str, bool) = ("", "PersistentVolumeClaim", true);
const PRIORITY_CLASS: (&str, &str, bool) = ("scheduling.k8s.io", "PriorityClass", false);
const RUNTIME_CLASS: (&str, &str, bool) = ("node.k8s.io", "RuntimeClass", false);

const NOT_MOUNTED: &str = "the pod does not start until it exists, unless marked optional";
const NO_ENV: &str =
    "the container does not start until it exists (and has the key), unless marked optional";

/// Every place a pod spec names another object, in the order the walker reports them.
pub(crate) const POD_SPEC_REFS: &[PodSpecRef] = &[
    row(
        At::Spec,
        "serviceAccountName",
        SERVICE_ACCOUNT,
        false,
        "service account",
        "the pod runs as it; admission rejects pods whose account does not exist",
    ),
    PodSpecRef {
        alias_of: Some("serviceAccountName"),
        ..row(
            At::Spec,
            "serviceAccount",
            SERVICE_ACCOUNT,
            false,
            "service account",
            "deprecated alias of serviceAccountName, used when that is unset",
        )
    },
    row(
        At::Spec,
        "priorityClassName",
        PRIORITY_CLASS,
        false,
        "priority class",
        "admission rejects pods naming a PriorityClass that does not exist",
    ),
    row(
        At::Spec,
        "runtimeClassName",
        RUNTIME_CLASS,
        false,
        "runtime class",
        "admission rejects pods naming a RuntimeClass that does not exist",
    ),
    row(
        At::ImagePullSecret,
        "name",
        SECRET,
        false,
        "image pull secret",
        "registry credentials; without them private images fail to pull",
    ),
    row(
        At::Volume,
        "secret.secretName",
        SECRET,
        true,
        "volume",
        NOT_MOUNTED,
    ),
    row(
        At::Volume,
        "configMap.name",
        CONFIG_MAP,
        true,
        "volume",
        NOT_MOUNTED,
    ),
    row(
        At::Volume,
        "persistentVolumeClaim.claimName",
        CLAIM,
        false,
        "volume",
        "the pod stays Pending until the claim exists and is bound",
    ),
    row(
        At::ProjectedSource,
        "secret.name",
        SECRET,
        true,
        "projected volume",
        NOT_MOUNTED,
    ),
    row(
        At::ProjectedSource,
        "configMap.name",
        CONFIG_MAP,
        true,
        "projected volume",
        NOT_MOUNTED,
    ),
    row(
        At::Env,
        "valueFrom.secretKeyRef.name",
        SECRET,
        true,
        "env",
        NO_ENV,
    ),
    row(
        At::Env,
        "valueFrom.configMapKeyRef.name",
        CONFIG_MAP,
        true,
        "env",
        NO_ENV,
    ),
    row(
        At::EnvFrom,
        "secretRef.name",
        SECRET,
        true,
        "envFrom",
        NO_ENV,
    ),
    row(
        At::EnvFrom,
        "configMapRef.name",
        CONFIG_MAP,
        true,
        "envFrom",
        NO_ENV,
    ),
];

/// A reference found in a pod spec.
#[derive(Debug, Clone)]
pub(crate) struct FoundRef<'a> {
    pub row: &'static PodSpecRef,
    /// The name of the referenced object.
    pub name: &'a str,
    /// Where it was found, relative to the pod spec, with indices
    /// (`volumes[0].secret.secretName`).
    pub field: String,
    /// Marked `optional: true`.
    pub optional: bool,
}

fn at_dotted<'a>(item: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(item, |v, seg| v.get(seg))
}

/// Every reference of a pod spec, walked in document order: the spec's own
/// fields, image pull secrets, volumes (with their projected sources), then the
/// env and envFrom of each container.
pub(crate) fn references(spec: &Value) -> Vec<FoundRef<'_>> {
    let mut out = Vec::new();
    for r in POD_SPEC_REFS.iter().filter(|r| r.at == At::Spec) {
        let set = |field: &str| {
            spec.get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        if r.alias_of.is_some_and(|a| set(a).is_some()) {
            continue;
        }
        if let Some(name) = set(r.field) {
            out.push(FoundRef {
                row: r,
                name,
                field: r.field.to_string(),
                optional: false,
            });
        }
    }
    for (i, s) in array(spec.get("imagePullSecrets")).enumerate() {
        push_item(
            At::ImagePullSecret,
            s,
            || format!("imagePullSecrets[{i}]"),
            &mut out,
        );
    }
    for (i, v) in array(spec.get("volumes")).enumerate() {
        push_item(At::Volume, v, || format!("volumes[{i}]"), &mut out);
        for (j, src) in array(v.at(&["projected", "sources"])).enumerate() {
            push_item(
                At::ProjectedSource,
                src,
                || format!("volumes[{i}].projected.sources[{j}]"),
                &mut out,
            );
        }
    }
    for list in CONTAINER_LISTS {
        for (i, c) in array(spec.get(list)).enumerate() {
            for (j, e) in array(c.get("env")).enumerate() {
                push_item(At::Env, e, || format!("{list}[{i}].env[{j}]"), &mut out);
            }
            for (j, e) in array(c.get("envFrom")).enumerate() {
                push_item(
                    At::EnvFrom,
                    e,
                    || format!("{list}[{i}].envFrom[{j}]"),
                    &mut out,
                );
            }
        }
    }
    out
}

/// Adds a reference for every row of `at` the item sets.
fn push_item<'a>(
    at: At,
    item: &'a Value,
    prefix: impl Fn() -> String,
    out: &mut Vec<FoundRef<'a>>,
) {
    for r in POD_SPEC_REFS.iter().filter(|r| r.at == at) {
        let Some(name) = at_dotted(item, r.field).and_then(Value::as_str) else {
            continue;
        };
        let optional = r.can_be_optional
            && r.field
                .rsplit_once('.')
                .and_then(|(parent, _)| at_dotted(item, parent))
                .and_then(|p| p.get("optional"))
                .and_then(Value::as_bool)
                == Some(true);
        out.push(FoundRef {
            row: r,
            name,
            field: format!("{}.{}", prefix(), r.field),
            optional,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walker_names_every_field_in_document_order() {
        let spec = json!({
            "serviceAccountName": "", "serviceAccount": "legacy", "priorityClassName": "high",
            "imagePullSecrets": [{"name": "registry"}],
            "volumes": [
                {"name": "a", "secret": {"secretName": "tls", "optional": true}},
                {"name": "b", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "c", "projected": {"sources": [{"configMap": {"name": "ca"}}]}},
            ],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init"}}]}],
            "containers": [{"name": "c", "env": [
                {"name": "P", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "p", "optional": false}}}]}],
        });
        let found: Vec<(String, &str, &str, bool)> = references(&spec)
            .into_iter()
            .map(|f| (f.field, f.row.kind, f.name, f.optional))
            .collect();
        assert_eq!(
            found,
            [
                ("serviceAccount".into(), "ServiceAccount", "legacy", false),
                ("priorityClassName".into(), "PriorityClass", "high", false),
                (
                    "imagePullSecrets[0].name".into(),
                    "Secret",
                    "registry",
                    false
                ),
                ("volumes[0].secret.secretName".into(), "Secret", "tls", true),
                (
                    "volumes[1].persistentVolumeClaim.claimName".into(),
                    "PersistentVolumeClaim",
                    "data",
                    false
                ),
                (
                    "volumes[2].projected.sources[0].configMap.name".into(),
                    "ConfigMap",
                    "ca",
                    false
                ),
                (
                    "initContainers[0].envFrom[0].secretRef.name".into(),
                    "Secret",
                    "init",
                    false
                ),
                (
                    "containers[0].env[0].valueFrom.configMapKeyRef.name".into(),
                    "ConfigMap",
                    "cfg",
                    false
                ),
            ]
        );
    }

    #[test]
    fn an_alias_gives_way_to_the_field_it_aliases() {
        let spec = json!({"serviceAccountName": "new", "serviceAccount": "old"});
        let names: Vec<&str> = references(&spec).iter().map(|f| f.name).collect();
        assert_eq!(names, ["new"]);
    }

    #[test]
    fn table_rows_are_consistent() {
        for r in POD_SPEC_REFS {
            assert!(!r.label.is_empty() && !r.reason.is_empty() && !r.reason.contains('\n'));
            // `optional` sits next to the name, so the name needs a parent object.
            assert!(!r.can_be_optional || r.field.contains('.'), "{}", r.field);
            if let Some(a) = r.alias_of {
                assert!(POD_SPEC_REFS.iter().any(|o| o.at == r.at && o.field == a));
            }
            // Only core kinds are namespaced here: they sit in the pod's namespace.
            assert!(!r.namespaced || r.group.is_empty());
        }
    }

    #[test]
    fn pod_specs_carry_their_path() {
        let cron =
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}});
        let at: Vec<String> = pod_specs_at("CronJob", &cron)
            .iter()
            .map(|(p, _)| p.join("."))
            .collect();
        assert_eq!(at, ["spec.jobTemplate.spec.template.spec"]);
        let pod = json!({"spec": {"containers": []}});
        assert_eq!(pod_specs_at("Pod", &pod)[0].0, ["spec"]);
        assert!(pod_specs_at("ConfigMap", &json!({"data": {}})).is_empty());
    }
}
