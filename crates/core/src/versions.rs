//! What each cluster serves (filled in by discovery) and, per kind, the version
//! a plan reads from A and writes to B: the same one when both serve it, else a
//! conversion from `convert`'s table, else the kind is unserved in B.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::convert;
use crate::model::{GroupKind, ResourceType, api_version};

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

    /// Every apiVersion serving a kind of this name: its own group first (in
    /// the cluster's preference order), then other groups (Ingress moved from
    /// `extensions` to `networking.k8s.io`).
    pub fn api_versions_of_kind(&self, gk: &GroupKind) -> Vec<String> {
        let mut out: Vec<String> = self
            .versions_of(gk)
            .iter()
            .map(|v| api_version(&gk.group, v))
            .collect();
        for (group, versions) in &self.group_versions {
            if *group == gk.group {
                continue;
            }
            let other = GroupKind::new(group, &gk.kind);
            out.extend(
                versions
                    .iter()
                    .filter(|v| self.serves(&other, v))
                    .map(|v| api_version(group, v)),
            );
        }
        out
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
    /// The version each kind is listed at in A.
    pub read: Vec<ResourceType>,
    /// Kinds B serves at no version a conversion leads to.
    pub unserved: Vec<Unserved>,
    /// Kinds written to B at another version than they are read at, keyed by
    /// the kind as read from A.
    pub writes: BTreeMap<GroupKind, Write>,
}

/// How a kind that B does not serve at A's version reaches B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// B's resource the converted objects are written to.
    pub to: ResourceType,
    /// Id of the row of `convert::CONVERSIONS` that converts them.
    pub conversion: &'static str,
}

impl VersionChoice {
    /// The resource to list in B for a kind read from A: the converted one, the
    /// same one when B serves it, else none (the kind is absent in B).
    pub fn target_resource<'a>(
        &'a self,
        read: &'a ResourceType,
        target: &Catalog,
    ) -> Option<&'a ResourceType> {
        match self.writes.get(&read.group_kind()) {
            Some(w) => Some(&w.to),
            None => target
                .serves(&read.group_kind(), &read.version)
                .then_some(read),
        }
    }
}

/// Picks, per kind, the version to read from A and the one to write to B.
/// Reading: the richest version where `convert::READ_PREFERENCES` names one
/// (an HPA read as autoscaling/v1 would keep its extra metrics only in
/// annotations), else A's preferred version if B serves it, else the first A
/// version B serves. When B serves none of A's versions, a row of
/// `convert::CONVERSIONS` from A's version to one B serves decides the write;
/// without one the kind is unserved (and reported). Only kinds that can be
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
        let read = match convert::read_preference(&gk.group, &gk.kind) {
            Some(pref) => {
                // Stable: versions the table does not name keep A's order, last.
                candidates.sort_by_key(|r| {
                    pref.versions
                        .iter()
                        .position(|v| *v == r.version)
                        .unwrap_or(usize::MAX)
                });
                candidates[0]
            }
            None => candidates
                .iter()
                .find(|r| target.serves(&gk, &r.version))
                .copied()
                .unwrap_or(candidates[0]),
        };
        out.read.push(read.clone());
        if target.serves(&gk, &read.version) {
            continue;
        }
        let targets = target.api_versions_of_kind(&gk);
        let write =
            convert::find_conversion(&gk.kind, &read.api_version(), &targets).and_then(|c| {
                target
                    .resources
                    .iter()
                    .find(|r| r.kind == gk.kind && r.api_version() == c.to)
                    .map(|to| Write {
                        to: to.clone(),
                        conversion: c.id,
                    })
            });
        match write {
            Some(w) => {
                out.writes.insert(gk, w);
            }
            None => out.unserved.push(Unserved {
                target_versions: target.versions_of(&gk),
                resource: read.clone(),
            }),
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
    fn kinds_b_no_longer_serves_are_converted_or_reported_unserved() {
        // A (1.20) serves CronJob only as batch/v1beta1; B (1.25+) only as batch/v1.
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
        assert_eq!(names, vec![("Widget", vec![])]);
        let w = &choice.writes[&GroupKind::new("batch", "CronJob")];
        assert_eq!(w.to.api_version(), "batch/v1");
        assert_eq!(w.conversion, "cronjob-batch-v1beta1-to-v1");
        let read = &choice.read[0];
        assert_eq!(choice.target_resource(read, &b), Some(&w.to));
    }

    #[test]
    fn hpas_are_read_at_the_richest_version_and_converted_when_b_lacks_it() {
        // 1.20 prefers autoscaling/v1, which keeps extra metrics only in annotations.
        let a = catalog(
            vec![
                res("autoscaling", "v1", "HorizontalPodAutoscaler", RW),
                res("autoscaling", "v2beta1", "HorizontalPodAutoscaler", RW),
                res("autoscaling", "v2beta2", "HorizontalPodAutoscaler", RW),
            ],
            &[("autoscaling", &["v1", "v2beta1", "v2beta2"])],
        );
        let same = choose_versions(&a, &a);
        assert_eq!(same.read[0].version, "v2beta2");
        assert!(same.writes.is_empty());
        let b = catalog(
            vec![
                res("autoscaling", "v1", "HorizontalPodAutoscaler", RW),
                res("autoscaling", "v2", "HorizontalPodAutoscaler", RW),
            ],
            &[("autoscaling", &["v2", "v1"])],
        );
        let up = choose_versions(&a, &b);
        assert_eq!(up.read[0].version, "v2beta2");
        let w = &up.writes[&GroupKind::new("autoscaling", "HorizontalPodAutoscaler")];
        assert_eq!(w.to.version, "v2", "never v1, which drops metrics");
    }

    #[test]
    fn a_kind_that_moved_group_is_converted_across_groups() {
        let a = catalog(
            vec![res("extensions", "v1beta1", "Ingress", RW)],
            &[("extensions", &["v1beta1"])],
        );
        let b = catalog(
            vec![res("networking.k8s.io", "v1", "Ingress", RW)],
            &[("networking.k8s.io", &["v1"])],
        );
        let choice = choose_versions(&a, &b);
        let w = &choice.writes[&GroupKind::new("extensions", "Ingress")];
        assert_eq!(w.to.api_version(), "networking.k8s.io/v1");
        assert!(choice.unserved.is_empty());
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
