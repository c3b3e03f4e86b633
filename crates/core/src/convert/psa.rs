//! PodSecurityPolicy cannot move to a 1.25+ cluster: this reports every policy
//! and suggests, per namespace, the Pod Security Admission level matching the
//! policies its service accounts could use in A (read from the planned RBAC).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::object_ref;
use crate::model::{ObjectRef, ValueAt, str_at};
use crate::plan::{Finding, Severity};

pub const POD_SECURITY_POLICY_REMOVED: &str = "pod-security-policy-removed";
pub const POD_SECURITY_LABEL_SUGGESTION: &str = "pod-security-label-suggestion";

/// Pod Security Standards levels, least permissive first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Restricted,
    Baseline,
    Privileged,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Restricted => "restricted",
            Level::Baseline => "baseline",
            Level::Privileged => "privileged",
        }
    }
}

/// Capabilities the baseline level lets a container add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Volume types the restricted level allows.
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

fn strings<'a>(spec: &'a Value, field: &str) -> Vec<&'a str> {
    spec.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn capability(c: &str) -> String {
    let upper = c.to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_string)
        .unwrap_or(upper)
}

/// The level a PodSecurityPolicy's spec admits, with what puts it there
/// (for privileged) or what keeps it from restricted (for baseline).
/// SELinux, seccomp and AppArmor settings are not judged: almost every policy,
/// the upstream restricted example included, leaves SELinux at RunAsAny.
fn psp_level(spec: &Value) -> (Level, Vec<String>) {
    let flag = |f: &str| spec.get(f).and_then(Value::as_bool) == Some(true);
    let mut privileged = Vec::new();
    for f in ["privileged", "hostNetwork", "hostPID", "hostIPC"] {
        if flag(f) {
            privileged.push(format!("{f}: true"));
        }
    }
    if spec
        .get("hostPorts")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty())
    {
        privileged.push("hostPorts".to_string());
    }
    let volumes = strings(spec, "volumes");
    for v in ["*", "hostPath"] {
        if volumes.contains(&v) {
            privileged.push(format!("volumes: {v}"));
        }
    }
    for f in ["allowedCapabilities", "defaultAddCapabilities"] {
        let beyond: Vec<&str> = strings(spec, f)
            .into_iter()
            .filter(|c| *c == "*" || !BASELINE_CAPABILITIES.contains(&capability(c).as_str()))
            .collect();
        if !beyond.is_empty() {
            privileged.push(format!("{f}: {}", beyond.join(", ")));
        }
    }
    if !strings(spec, "allowedUnsafeSysctls").is_empty() {
        privileged.push("allowedUnsafeSysctls".to_string());
    }
    if strings(spec, "allowedProcMountTypes").contains(&"Unmasked") {
        privileged.push("allowedProcMountTypes: Unmasked".to_string());
    }
    if !privileged.is_empty() {
        return (Level::Privileged, privileged);
    }
    let mut not_restricted = Vec::new();
    let run_as = spec.get("runAsUser");
    let non_root = match run_as.and_then(|r| r.get("rule")).and_then(Value::as_str) {
        Some("MustRunAsNonRoot") => true,
        Some("MustRunAs") => {
            let ranges = run_as
                .and_then(|r| r.get("ranges"))
                .and_then(Value::as_array);
            ranges.is_some_and(|rs| {
                !rs.is_empty()
                    && rs
                        .iter()
                        .all(|r| r.get("min").and_then(Value::as_i64).is_some_and(|m| m > 0))
            })
        }
        _ => false,
    };
    if !non_root {
        not_restricted.push("runAsUser allows root".to_string());
    }
    if !strings(spec, "requiredDropCapabilities")
        .iter()
        .any(|c| capability(c) == "ALL")
    {
        not_restricted.push("requiredDropCapabilities lacks ALL".to_string());
    }
    if spec
        .get("allowPrivilegeEscalation")
        .and_then(Value::as_bool)
        != Some(false)
    {
        not_restricted.push("allowPrivilegeEscalation is not false".to_string());
    }
    let extra_volumes: Vec<&str> = volumes
        .iter()
        .copied()
        .filter(|v| !RESTRICTED_VOLUMES.contains(v))
        .collect();
    if !extra_volumes.is_empty() {
        not_restricted.push(format!("volumes: {}", extra_volumes.join(", ")));
    }
    for f in ["allowedCapabilities", "defaultAddCapabilities"] {
        let extra: Vec<&str> = strings(spec, f)
            .into_iter()
            .filter(|c| capability(c) != "NET_BIND_SERVICE")
            .collect();
        if !extra.is_empty() {
            not_restricted.push(format!("{f}: {}", extra.join(", ")));
        }
    }
    if not_restricted.is_empty() {
        (Level::Restricted, Vec::new())
    } else {
        (Level::Baseline, not_restricted)
    }
}

/// Which PodSecurityPolicies a set of RBAC rules lets a subject `use`.
#[derive(Debug, Clone, Default)]
struct Grant {
    all: bool,
    names: BTreeSet<String>,
}

impl Grant {
    fn add(&mut self, other: &Grant) {
        self.all |= other.all;
        self.names.extend(other.names.iter().cloned());
    }

    fn allows(&self, psp: &str) -> bool {
        self.all || self.names.contains(psp)
    }
}

fn rules_grant(rules: &[&Value]) -> Grant {
    let mut grant = Grant::default();
    for rule in rules {
        let has = |field: &str, wanted: &[&str]| {
            strings(rule, field)
                .iter()
                .any(|v| *v == "*" || wanted.contains(v))
        };
        if has("verbs", &["use"])
            && has("apiGroups", &["policy", "extensions"])
            && has("resources", &["podsecuritypolicies"])
        {
            let names = strings(rule, "resourceNames");
            if names.is_empty() {
                grant.all = true;
            } else {
                grant.names.extend(names.into_iter().map(str::to_string));
            }
        }
    }
    grant
}

/// Does a label selector (matchLabels, matchExpressions) match these labels?
fn selector_matches(selector: &Value, labels: Option<&serde_json::Map<String, Value>>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let by_label = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let by_expression = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values = strings(e, "values");
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        });
    by_label && by_expression
}

/// The namespaces a binding's subjects cover: None in the map's key means every namespace.
fn covered(binding: &Value, binding_ns: Option<&str>) -> BTreeSet<Option<String>> {
    let mut out = BTreeSet::new();
    for s in binding
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = str_at(s, &["kind"]).unwrap_or("");
        let name = str_at(s, &["name"]).unwrap_or("");
        match kind {
            "ServiceAccount" => {
                if let Some(ns) = str_at(s, &["namespace"]).or(binding_ns) {
                    out.insert(Some(ns.to_string()));
                }
            }
            "Group" if name == "system:serviceaccounts" || name == "system:authenticated" => {
                out.insert(None);
            }
            "Group" => {
                if let Some(ns) = name.strip_prefix("system:serviceaccounts:") {
                    out.insert(Some(ns.to_string()));
                }
            }
            "User" => {
                if let Some((ns, _)) = name
                    .strip_prefix("system:serviceaccount:")
                    .and_then(|rest| rest.split_once(':'))
                {
                    out.insert(Some(ns.to_string()));
                }
            }
            _ => {}
        }
    }
    out
}

fn own_rules(role: &Value) -> Vec<&Value> {
    role.get("rules")
        .and_then(Value::as_array)
        .map(|r| r.iter().collect())
        .unwrap_or_default()
}

/// Everything RBAC says about which namespaces' service accounts may use which policies.
struct Usage {
    /// Grants that apply to service accounts of every namespace.
    everywhere: Grant,
    per_namespace: BTreeMap<String, Grant>,
}

impl Usage {
    fn read(manifests: &[&Value]) -> Usage {
        let kind_of = |m: &Value| str_at(m, &["kind"]).unwrap_or("").to_string();
        let rbac = |m: &Value| {
            str_at(m, &["apiVersion"]).is_some_and(|a| a.starts_with("rbac.authorization.k8s.io/"))
        };
        let cluster_roles: BTreeMap<&str, &Value> = manifests
            .iter()
            .filter(|m| rbac(m) && kind_of(m) == "ClusterRole")
            .map(|m| (str_at(m, &["metadata", "name"]).unwrap_or(""), *m))
            .collect();
        let roles: BTreeMap<(&str, &str), &Value> = manifests
            .iter()
            .filter(|m| rbac(m) && kind_of(m) == "Role")
            .map(|m| {
                let ns = str_at(m, &["metadata", "namespace"]).unwrap_or("");
                ((ns, str_at(m, &["metadata", "name"]).unwrap_or("")), *m)
            })
            .collect();
        // An aggregated ClusterRole's rules are normalised away: rebuild them
        // from the ClusterRoles its selectors pick.
        let cluster_role_rules = |name: &str| -> Vec<&Value> {
            let Some(role) = cluster_roles.get(name) else {
                return Vec::new();
            };
            let mut rules = own_rules(role);
            let selectors = role
                .at(&["aggregationRule", "clusterRoleSelectors"])
                .and_then(Value::as_array);
            for selector in selectors.into_iter().flatten() {
                for (other, r) in &cluster_roles {
                    let labels = r.at(&["metadata", "labels"]).and_then(Value::as_object);
                    if *other != name && selector_matches(selector, labels) {
                        rules.extend(own_rules(r));
                    }
                }
            }
            rules
        };
        let mut usage = Usage {
            everywhere: Grant::default(),
            per_namespace: BTreeMap::new(),
        };
        for binding in manifests.iter().filter(|m| rbac(m)) {
            let kind = kind_of(binding);
            let binding_ns = match kind.as_str() {
                "RoleBinding" => str_at(binding, &["metadata", "namespace"]),
                "ClusterRoleBinding" => None,
                _ => continue,
            };
            let role_name = str_at(binding, &["roleRef", "name"]).unwrap_or("");
            let rules = match str_at(binding, &["roleRef", "kind"]) {
                Some("ClusterRole") => cluster_role_rules(role_name),
                Some("Role") => roles
                    .get(&(binding_ns.unwrap_or(""), role_name))
                    .map(|r| own_rules(r))
                    .unwrap_or_default(),
                _ => continue,
            };
            let grant = rules_grant(&rules);
            if !grant.all && grant.names.is_empty() {
                continue;
            }
            for ns in covered(binding, binding_ns) {
                match (binding_ns, ns) {
                    // A ClusterRoleBinding grants in every namespace.
                    (None, None) => usage.everywhere.add(&grant),
                    (None, Some(ns)) => usage.per_namespace.entry(ns).or_default().add(&grant),
                    // A RoleBinding grants only in its own namespace.
                    (Some(own), Some(ns)) if own == ns => {
                        usage.per_namespace.entry(ns).or_default().add(&grant)
                    }
                    (Some(own), None) => usage
                        .per_namespace
                        .entry(own.to_string())
                        .or_default()
                        .add(&grant),
                    _ => {}
                }
            }
        }
        usage
    }

    fn may_use(&self, namespace: &str, psp: &str) -> bool {
        self.everywhere.allows(psp)
            || self
                .per_namespace
                .get(namespace)
                .is_some_and(|g| g.allows(psp))
    }
}

const PSP_WHY: &str = "B (1.25 or later) has no PodSecurityPolicy: pods this policy refused are admitted in B, and the defaults it set on pods (runAsUser, capabilities, privilege escalation, seccomp) are no longer applied, unless Pod Security Admission labels or another policy engine take over";
const PSP_ACTION: &str = "label the namespaces that used it with the suggested Pod Security Admission level (see the pod-security-label-suggestion findings) or port the policy to a policy engine, and leave the PodSecurityPolicy out of the migration (--exclude-kinds)";
const LABEL_WHY: &str = "without PodSecurityPolicy, B admits whatever the cluster-wide Pod Security Admission default allows (privileged unless configured otherwise); an enforce label per namespace restores a comparable check";
const NO_POLICY_WHY: &str = "in A, pods there were admitted only if whoever created them could use a policy; the planned RBAC does not say which, so abshift suggests no level";
const NO_POLICY_ACTION: &str = "choose the namespace's pod-security.kubernetes.io/enforce level by hand (restricted if its pods comply)";

/// Error findings for every PodSecurityPolicy and, per namespace, the Pod
/// Security Admission level to enforce in B, from the policies its service
/// accounts may use through the planned RBAC objects.
pub fn pod_security_suggestions(manifests: &[&Value]) -> Vec<Finding> {
    let psps: BTreeMap<&str, (&Value, Level, Vec<String>)> = manifests
        .iter()
        .filter(|m| str_at(m, &["kind"]) == Some("PodSecurityPolicy"))
        .map(|m| {
            let (level, why) = psp_level(m.get("spec").unwrap_or(&Value::Null));
            (
                str_at(m, &["metadata", "name"]).unwrap_or(""),
                (*m, level, why),
            )
        })
        .collect();
    if psps.is_empty() {
        return Vec::new();
    }
    let usage = Usage::read(manifests);
    // Namespaces the plan knows of, with the Namespace object when planned.
    let mut namespaces: BTreeMap<String, Option<&Value>> = BTreeMap::new();
    for m in manifests {
        if str_at(m, &["kind"]) == Some("Namespace") && str_at(m, &["apiVersion"]) == Some("v1") {
            if let Some(n) = str_at(m, &["metadata", "name"]) {
                namespaces.insert(n.to_string(), Some(*m));
            }
        } else if let Some(ns) = str_at(m, &["metadata", "namespace"]) {
            namespaces.entry(ns.to_string()).or_insert(None);
        }
    }
    let mut findings = Vec::new();
    for (name, (psp, level, why)) in &psps {
        let users: Vec<&str> = namespaces
            .keys()
            .filter(|ns| usage.may_use(ns, name))
            .map(String::as_str)
            .collect();
        let traits = if why.is_empty() {
            String::new()
        } else {
            format!(": {}", why.join(", "))
        };
        let who = match (users.is_empty(), usage.everywhere.allows(name)) {
            (_, true) => "service accounts of every namespace may use it".to_string(),
            (false, false) => format!("service accounts of namespaces {} may use it", users.join(", ")),
            (true, false) => "no service account may use it through the planned RBAC objects, so in A it admitted only pods of users or controllers granted it directly".to_string(),
        };
        findings.push(Finding {
            rule: POD_SECURITY_POLICY_REMOVED.to_string(),
            severity: Severity::Error,
            object: Some(object_ref(psp)),
            message: format!(
                "PodSecurityPolicy {name} cannot be created in B, which no longer serves the kind; it admits the {} level{traits}; {who}",
                level.as_str()
            ),
            why: PSP_WHY.to_string(),
            action: PSP_ACTION.to_string(),
        });
    }
    for (ns, manifest) in &namespaces {
        let object = manifest.map(object_ref).unwrap_or_else(|| ObjectRef {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: ns.clone(),
        });
        let usable: Vec<(&str, Level)> = psps
            .iter()
            .filter(|(name, _)| usage.may_use(ns, name))
            .map(|(name, (_, level, _))| (*name, *level))
            .collect();
        let Some(level) = usable.iter().map(|(_, l)| *l).max() else {
            findings.push(Finding {
                rule: POD_SECURITY_LABEL_SUGGESTION.to_string(),
                severity: Severity::Info,
                object: Some(object),
                message: format!("Namespace {ns}: no PodSecurityPolicy is usable by its service accounts; no label suggested"),
                why: NO_POLICY_WHY.to_string(),
                action: NO_POLICY_ACTION.to_string(),
            });
            continue;
        };
        let listed: Vec<String> = usable
            .iter()
            .map(|(n, l)| format!("{n} ({})", l.as_str()))
            .collect();
        let label = format!("pod-security.kubernetes.io/enforce={}", level.as_str());
        let mut action = format!(
            "label the namespace in B (kubectl label namespace {ns} {label}); to see what would be refused first, set pod-security.kubernetes.io/warn and audit to {} and enforce later",
            level.as_str()
        );
        if level == Level::Restricted {
            action.push_str("; restricted refuses pods that do not set, in their templates, what the policy used to default: runAsNonRoot, allowPrivilegeEscalation: false, capabilities.drop [ALL] and seccompProfile RuntimeDefault");
        }
        findings.push(Finding {
            rule: POD_SECURITY_LABEL_SUGGESTION.to_string(),
            severity: Severity::Warning,
            object: Some(object),
            message: format!(
                "Namespace {ns}: suggested label {label}, the most permissive level of the PodSecurityPolicies its service accounts may use: {}",
                listed.join(", ")
            ),
            why: LABEL_WHY.to_string(),
            action,
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn psp(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": name}, "spec": spec})
    }

    fn privileged_psp() -> Value {
        psp(
            "privileged",
            json!({"privileged": true, "allowPrivilegeEscalation": true, "allowedCapabilities": ["*"],
            "volumes": ["*"], "hostNetwork": true, "hostPorts": [{"min": 0, "max": 65535}], "hostIPC": true, "hostPID": true,
            "runAsUser": {"rule": "RunAsAny"}, "seLinux": {"rule": "RunAsAny"}, "supplementalGroups": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"}}),
        )
    }

    fn restricted_psp() -> Value {
        psp(
            "restricted",
            json!({"privileged": false, "allowPrivilegeEscalation": false, "requiredDropCapabilities": ["ALL"],
            "volumes": ["configMap", "emptyDir", "projected", "secret", "downwardAPI", "persistentVolumeClaim"],
            "hostNetwork": false, "hostIPC": false, "hostPID": false,
            "runAsUser": {"rule": "MustRunAsNonRoot"}, "seLinux": {"rule": "RunAsAny"},
            "supplementalGroups": {"rule": "MustRunAs", "ranges": [{"min": 1, "max": 65535}]},
            "fsGroup": {"rule": "MustRunAs", "ranges": [{"min": 1, "max": 65535}]}, "readOnlyRootFilesystem": false}),
        )
    }

    fn baseline_psp() -> Value {
        psp(
            "baseline",
            json!({"allowedCapabilities": ["NET_BIND_SERVICE", "CAP_CHOWN"], "volumes": ["configMap", "nfs"],
            "runAsUser": {"rule": "MustRunAs", "ranges": [{"min": 0, "max": 100}]}, "seLinux": {"rule": "RunAsAny"},
            "supplementalGroups": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"}}),
        )
    }

    fn ns(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    }

    fn cluster_role(name: &str, rules: Value) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
    }

    #[test]
    fn levels_of_policies() {
        let level = |p: Value| psp_level(&p["spec"]);
        assert_eq!(
            level(privileged_psp()),
            (
                Level::Privileged,
                vec![
                    "privileged: true".into(),
                    "hostNetwork: true".into(),
                    "hostPID: true".into(),
                    "hostIPC: true".into(),
                    "hostPorts".into(),
                    "volumes: *".into(),
                    "allowedCapabilities: *".into()
                ]
            )
        );
        assert_eq!(level(restricted_psp()), (Level::Restricted, vec![]));
        assert_eq!(
            level(baseline_psp()),
            (
                Level::Baseline,
                vec![
                    "runAsUser allows root".into(),
                    "requiredDropCapabilities lacks ALL".into(),
                    "allowPrivilegeEscalation is not false".into(),
                    "volumes: nfs".into(),
                    "allowedCapabilities: CAP_CHOWN".into()
                ]
            )
        );
        let host_path = psp(
            "hp",
            json!({"volumes": ["hostPath"], "allowedHostPaths": [{"pathPrefix": "/var/log"}]}),
        );
        assert_eq!(level(host_path).0, Level::Privileged);
        let sys_admin = psp("sa", json!({"allowedCapabilities": ["SYS_ADMIN"]}));
        assert_eq!(
            level(sys_admin).1,
            vec!["allowedCapabilities: SYS_ADMIN".to_string()]
        );
    }

    #[test]
    fn two_namespaces_and_a_policy_nobody_may_use() {
        let manifests = [
            privileged_psp(),
            restricted_psp(),
            baseline_psp(),
            ns("ns1"),
            ns("ns2"),
            cluster_role(
                "psp:privileged",
                json!([{"apiGroups": ["policy"], "resources": ["podsecuritypolicies"],
                "verbs": ["use"], "resourceNames": ["privileged"]}]),
            ),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "ns1-privileged"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "psp:privileged"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:serviceaccounts:ns1"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "psp-restricted", "namespace": "ns2"},
                "rules": [{"apiGroups": ["extensions"], "resources": ["podsecuritypolicies"], "verbs": ["use"], "resourceNames": ["restricted"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "default-restricted", "namespace": "ns2"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "psp-restricted"},
                "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "ns2"}]}),
        ];
        let refs: Vec<&Value> = manifests.iter().collect();
        let findings = pod_security_suggestions(&refs);
        let got: Vec<(&str, Severity, String, &str)> = findings
            .iter()
            .map(|f| {
                (
                    f.rule.as_str(),
                    f.severity,
                    f.object.as_ref().unwrap().to_string(),
                    f.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "pod-security-policy-removed",
                    Severity::Error,
                    "policy/v1beta1/PodSecurityPolicy baseline".to_string(),
                    "PodSecurityPolicy baseline cannot be created in B, which no longer serves the kind; it admits the baseline level: runAsUser allows root, requiredDropCapabilities lacks ALL, allowPrivilegeEscalation is not false, volumes: nfs, allowedCapabilities: CAP_CHOWN; no service account may use it through the planned RBAC objects, so in A it admitted only pods of users or controllers granted it directly"
                ),
                (
                    "pod-security-policy-removed",
                    Severity::Error,
                    "policy/v1beta1/PodSecurityPolicy privileged".to_string(),
                    "PodSecurityPolicy privileged cannot be created in B, which no longer serves the kind; it admits the privileged level: privileged: true, hostNetwork: true, hostPID: true, hostIPC: true, hostPorts, volumes: *, allowedCapabilities: *; service accounts of namespaces ns1 may use it"
                ),
                (
                    "pod-security-policy-removed",
                    Severity::Error,
                    "policy/v1beta1/PodSecurityPolicy restricted".to_string(),
                    "PodSecurityPolicy restricted cannot be created in B, which no longer serves the kind; it admits the restricted level; service accounts of namespaces ns2 may use it"
                ),
                (
                    "pod-security-label-suggestion",
                    Severity::Warning,
                    "v1/Namespace ns1".to_string(),
                    "Namespace ns1: suggested label pod-security.kubernetes.io/enforce=privileged, the most permissive level of the PodSecurityPolicies its service accounts may use: privileged (privileged)"
                ),
                (
                    "pod-security-label-suggestion",
                    Severity::Warning,
                    "v1/Namespace ns2".to_string(),
                    "Namespace ns2: suggested label pod-security.kubernetes.io/enforce=restricted, the most permissive level of the PodSecurityPolicies its service accounts may use: restricted (restricted)"
                ),
            ]
        );
        assert!(
            findings[4].action.contains(
                "kubectl label namespace ns2 pod-security.kubernetes.io/enforce=restricted"
            )
        );
        assert!(findings[4].action.contains("seccompProfile RuntimeDefault"));
        assert!(!findings[3].action.contains("seccompProfile"));
    }

    #[test]
    fn aggregated_roles_authenticated_users_and_namespaces_without_policy() {
        let manifests = [
            restricted_psp(),
            baseline_psp(),
            ns("apps"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "loose"}}),
            // Aggregated: its own rules were normalised away.
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "psp-all"},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"psp": "use"}}]}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "psp-baseline", "labels": {"psp": "use"}},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"], "resourceNames": ["baseline"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "all-sa", "namespace": "apps"},
                "roleRef": {"kind": "ClusterRole", "name": "psp-all"},
                "subjects": [{"kind": "Group", "name": "system:authenticated"}]}),
            // Binds a service account of "apps" in another namespace: no use in "apps".
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "elsewhere", "namespace": "other"},
                "roleRef": {"kind": "ClusterRole", "name": "psp-all"},
                "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "loose"}]}),
        ];
        let refs: Vec<&Value> = manifests.iter().collect();
        let findings = pod_security_suggestions(&refs);
        let namespaces: Vec<(Severity, &str)> = findings
            .iter()
            .filter(|f| f.rule == POD_SECURITY_LABEL_SUGGESTION)
            .map(|f| (f.severity, f.message.as_str()))
            .collect();
        assert_eq!(
            namespaces,
            vec![
                (
                    Severity::Warning,
                    "Namespace apps: suggested label pod-security.kubernetes.io/enforce=baseline, the most permissive level of the PodSecurityPolicies its service accounts may use: baseline (baseline)"
                ),
                (
                    Severity::Info,
                    "Namespace loose: no PodSecurityPolicy is usable by its service accounts; no label suggested"
                ),
                (
                    Severity::Info,
                    "Namespace other: no PodSecurityPolicy is usable by its service accounts; no label suggested"
                ),
            ]
        );
        assert!(
            findings[0]
                .message
                .ends_with("; service accounts of namespaces apps may use it")
        );
        assert!(findings[1].message.ends_with("no service account may use it through the planned RBAC objects, so in A it admitted only pods of users or controllers granted it directly"));
        assert_eq!(
            findings[3].object.as_ref().unwrap().to_string(),
            "v1/Namespace loose"
        );
    }

    #[test]
    fn no_policies_no_findings() {
        let n = ns("a");
        assert!(pod_security_suggestions(&[&n]).is_empty());
    }
}
