//! Reads that failed while planning: an API group whose discovery failed, or a
//! kind a cluster would not list. A plan built over such a gap would report
//! success while objects are missing from it, so every gap is an error unless a
//! rule below says the group holds nothing to move, or the user named it with
//! `--skip-unavailable`, in which case the plan records it and reports show it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which cluster a read failed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    A,
    B,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// What could not be read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "read")]
pub enum Unread {
    /// The discovery document of one group version.
    Discovery { group: String, version: String },
    /// The list of one resource type (in one namespace, or cluster-wide).
    List {
        group: String,
        version: String,
        resource: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
}

/// One failed read, as the plan records it when the user opted out of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    pub cluster: Side,
    /// The kubeconfig context of that cluster.
    pub context: String,
    #[serde(flatten)]
    pub unread: Unread,
    /// The server's or the connection's own words.
    pub error: String,
    /// The `--skip-unavailable` name that allowed the plan over it, or the
    /// rule that makes it harmless.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub allowed_by: String,
}

impl Gap {
    fn group(&self) -> &str {
        match &self.unread {
            Unread::Discovery { group, .. } | Unread::List { group, .. } => group,
        }
    }

    /// The names `--skip-unavailable` accepts for this gap: the group, the
    /// group version and, for a list, the resource (`configmaps`,
    /// `widgets.example.com`). The core group is named `core`.
    pub fn names(&self) -> Vec<String> {
        let group = if self.group().is_empty() {
            "core"
        } else {
            self.group()
        };
        match &self.unread {
            Unread::Discovery { version, .. } => {
                vec![group.to_string(), format!("{group}/{version}")]
            }
            Unread::List {
                version, resource, ..
            } => {
                let mut names = vec![group.to_string(), format!("{group}/{version}")];
                if self.group().is_empty() {
                    names.push(resource.clone());
                } else {
                    names.push(format!("{resource}.{group}"));
                }
                names
            }
        }
    }

    /// The name to suggest for `--skip-unavailable`: the narrowest one.
    pub fn suggested_name(&self) -> String {
        self.names().pop().unwrap_or_default()
    }
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = format!("cluster {} ('{}')", self.cluster, self.context);
        match &self.unread {
            Unread::Discovery { group, version } => write!(
                f,
                "{who}: discovery of API group {} failed: {}",
                crate::model::api_version(group, version),
                self.error
            ),
            Unread::List {
                group,
                version,
                resource,
                namespace,
            } => {
                let api = crate::model::api_version(group, version);
                match namespace {
                    Some(ns) => write!(
                        f,
                        "{who}: listing {resource} ({api}) in namespace {ns} failed: {}",
                        self.error
                    ),
                    None => write!(
                        f,
                        "{who}: listing {resource} ({api}) failed: {}",
                        self.error
                    ),
                }
            }
        }
    }
}

/// A group whose failure may stay a warning, and why.
pub struct HarmlessGroup {
    pub group: &'static str,
    pub reason: &'static str,
}

/// Aggregated APIs that serve live readings and store no objects: nothing
/// of theirs can be missing from a plan, so their failures stay warnings.
pub const HARMLESS_GROUPS: &[HarmlessGroup] = &[
    HarmlessGroup {
        group: "metrics.k8s.io",
        reason: "resource metrics computed live by metrics-server; no stored objects",
    },
    HarmlessGroup {
        group: "custom.metrics.k8s.io",
        reason: "custom metrics read live from an adapter (e.g. Prometheus); no stored objects",
    },
    HarmlessGroup {
        group: "external.metrics.k8s.io",
        reason: "external metrics read live from an adapter; no stored objects",
    },
];

/// What a failed read means for the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A rule of [`HARMLESS_GROUPS`]: a warning, with the rule's reason.
    Harmless(&'static str),
    /// The user named it with `--skip-unavailable`: recorded in the plan.
    OptedOut(String),
    /// Stops the plan.
    Fatal,
}

/// Judges one failed read against the rules and the user's opt-outs.
pub fn judge(gap: &Gap, skip_unavailable: &[String]) -> Verdict {
    if let Some(rule) = HARMLESS_GROUPS.iter().find(|r| r.group == gap.group()) {
        return Verdict::Harmless(rule.reason);
    }
    let names = gap.names();
    match skip_unavailable.iter().find(|s| names.contains(s)) {
        Some(name) => Verdict::OptedOut(name.clone()),
        None => Verdict::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(group: &str, resource: &str) -> Gap {
        Gap {
            cluster: Side::B,
            context: "paas-b".into(),
            unread: Unread::List {
                group: group.into(),
                version: "v1".into(),
                resource: resource.into(),
                namespace: None,
            },
            error: "403".into(),
            allowed_by: String::new(),
        }
    }

    #[test]
    fn gaps_are_fatal_unless_harmless_or_named() {
        let cm = list("", "configmaps");
        assert_eq!(cm.names(), ["core", "core/v1", "configmaps"]);
        assert_eq!(judge(&cm, &[]), Verdict::Fatal);
        assert_eq!(judge(&cm, &["secrets".into()]), Verdict::Fatal);
        assert_eq!(
            judge(&cm, &["configmaps".into()]),
            Verdict::OptedOut("configmaps".into())
        );
        let w = list("example.com", "widgets");
        assert_eq!(w.suggested_name(), "widgets.example.com");
        assert_eq!(
            judge(&w, &["example.com".into()]),
            Verdict::OptedOut("example.com".into())
        );
        let metrics = Gap {
            unread: Unread::Discovery {
                group: "metrics.k8s.io".into(),
                version: "v1beta1".into(),
            },
            ..cm.clone()
        };
        assert!(matches!(judge(&metrics, &[]), Verdict::Harmless(_)));
        assert_eq!(
            metrics.to_string(),
            "cluster B ('paas-b'): discovery of API group metrics.k8s.io/v1beta1 failed: 403"
        );
    }
}
