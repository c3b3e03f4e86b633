//! What each cluster serves (filled in by discovery) and, per kind, the version
//! a plan reads from A and writes to B: the same one when both serve it, else a
//! conversion from `convert`'s table, else the kind is unserved in B.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::model::{GroupKind, ResourceType};

/// What one cluster serves.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Every top-level resource at every served version.
    pub resources: Vec<ResourceType>,
    /// Versions per group, preferred first.
    pub group_versions: BTreeMap<String, Vec<String>>,
    /// Group versions whose discovery failed (e.g. an aggregated API with no backend).
    pub failures: Vec<DiscoveryFailure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryFailure {
    pub group_version: String,
    pub error: String,
}

impl Catalog {
    pub fn serves(&self, gk: &GroupKind, version: &str) -> bool {
        self.resources
            .iter()
            .any(|r| r.group == gk.group && r.kind == gk.kind && r.version == version)
    }

    fn versions_of(&self, gk: &GroupKind) -> Vec<String> {
        let order = self
            .group_versions
            .get(&gk.group)
            .cloned()
            .unwrap_or_default();
        order.into_iter().filter(|v| self.serves(gk, v)).collect()
    }

    pub fn group_failed(&self, group: &str) -> bool {
        self.failures
            .iter()
            .any(|f| crate::model::split_api_version(&f.group_version).0 == group)
    }
}

/// A kind the target does not serve at the version the plan reads it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unserved {
    pub resource: ResourceType,
    /// Versions at which the target serves the kind (empty: not at all).
    pub target_versions: Vec<String>,
}

/// The version choice for every kind the source can list and recreate.
#[derive(Debug, Clone, Default)]
pub struct VersionChoice {
    pub read: Vec<ResourceType>,
    pub unserved: Vec<Unserved>,
}

/// Picks, per kind, the source's preferred version if the target serves it,
/// else the first source version the target serves, else the source's
/// preferred one (and records the kind as unserved). Only kinds that can be
/// listed and created are kept: read-only views (metrics, reviews) cannot be recreated.
pub fn choose_versions(source: &Catalog, target: &Catalog) -> VersionChoice {
    let mut kinds: BTreeMap<GroupKind, Vec<&ResourceType>> = BTreeMap::new();
    for r in &source.resources {
        if r.has_verb("list") && r.has_verb("create") {
            kinds.entry(r.group_kind()).or_default().push(r);
        }
    }
    let mut out = VersionChoice::default();
    for (gk, served) in kinds {
        let order = source
            .group_versions
            .get(&gk.group)
            .cloned()
            .unwrap_or_default();
        let mut candidates: Vec<&ResourceType> = order
            .iter()
            .filter_map(|v| served.iter().find(|r| &r.version == v).copied())
            .collect();
        if candidates.is_empty() {
            candidates = served.clone();
        }
        match candidates.iter().find(|r| target.serves(&gk, &r.version)) {
            Some(r) => out.read.push((*r).clone()),
            None => {
                let r = candidates[0].clone();
                out.unserved.push(Unserved {
                    target_versions: target.versions_of(&gk),
                    resource: r.clone(),
                });
                out.read.push(r);
            }
        }
    }
    out
}

/// How stable a version string is, for choosing among duplicates of one object
/// served by two groups (higher is better): GA > beta > alpha, then the number.
pub fn version_rank(version: &str) -> (u8, u32, u32) {
    let rest = version.trim_start_matches('v');
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, n) = if let Some(b) = tail.strip_prefix("beta") {
        (1, b.parse().unwrap_or(0))
    } else if let Some(a) = tail.strip_prefix("alpha") {
        (0, a.parse().unwrap_or(0))
    } else {
        (2, 0)
    };
    (stage, major, n)
}

/// Index of resource types by group-kind, for lookups when building refs.
pub fn by_group_kind(read: &[ResourceType]) -> HashMap<GroupKind, &ResourceType> {
    read.iter().map(|r| (r.group_kind(), r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(group: &str, version: &str, kind: &str, verbs: &[&str]) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
            namespaced: true,
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
        }
    }
    const RW: &[&str] = &["create", "get", "list", "delete"];

    fn catalog(resources: Vec<ResourceType>, groups: &[(&str, &[&str])]) -> Catalog {
        Catalog {
            resources,
            group_versions: groups
                .iter()
                .map(|(g, v)| (g.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            failures: vec![],
        }
    }

    #[test]
    fn prefers_a_version_both_serve() {
        // A (older) prefers v1beta1 but also serves v1; B serves only v1.
        let a = catalog(
            vec![
                res("policy", "v1beta1", "PodDisruptionBudget", RW),
                res("policy", "v1", "PodDisruptionBudget", RW),
            ],
            &[("policy", &["v1beta1", "v1"])],
        );
        let b = catalog(
            vec![res("policy", "v1", "PodDisruptionBudget", RW)],
            &[("policy", &["v1"])],
        );
        let choice = choose_versions(&a, &b);
        assert_eq!(choice.read.len(), 1);
        assert_eq!(choice.read[0].version, "v1");
        assert!(choice.unserved.is_empty());
    }

    #[test]
    fn unserved_kinds_are_reported_with_what_the_target_serves() {
        let a = catalog(
            vec![
                res("batch", "v1beta1", "CronJob", RW),
                res("example.com", "v1", "Widget", RW),
            ],
            &[("batch", &["v1beta1"]), ("example.com", &["v1"])],
        );
        let b = catalog(
            vec![res("batch", "v1", "CronJob", RW)],
            &[("batch", &["v1"])],
        );
        let choice = choose_versions(&a, &b);
        assert_eq!(choice.read.len(), 2);
        let names: Vec<_> = choice
            .unserved
            .iter()
            .map(|u| (u.resource.kind.as_str(), u.target_versions.clone()))
            .collect();
        assert_eq!(
            names,
            vec![("CronJob", vec!["v1".to_string()]), ("Widget", vec![])]
        );
    }

    #[test]
    fn read_only_views_are_not_planned() {
        let a = catalog(
            vec![
                res("metrics.k8s.io", "v1beta1", "PodMetrics", &["get", "list"]),
                res("", "v1", "ComponentStatus", &["get", "list"]),
            ],
            &[("", &["v1"]), ("metrics.k8s.io", &["v1beta1"])],
        );
        assert!(choose_versions(&a, &a).read.is_empty());
    }

    #[test]
    fn version_ranking() {
        assert!(version_rank("v1") > version_rank("v1beta1"));
        assert!(version_rank("v1beta2") > version_rank("v1beta1"));
        assert!(version_rank("v1beta1") > version_rank("v2alpha1"));
        assert!(version_rank("v2") > version_rank("v1"));
    }
}
