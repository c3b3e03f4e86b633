//! The report model: a plan (and B's dry-run verdict on it) redacted, grouped
//! by wave and joined with the outcomes, plus the naming helpers every format
//! shares. The JSON report is this model serialised.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::redact::{redact_diff, redact_manifest};
use crate::diff::Action;
use crate::model::ObjectRef;
use crate::outcome::{ApplySummary, Outcome};
use crate::plan::{ClusterInfo, Finding, Plan, PulledIn, Selection, Summary, Warning};

/// Version of the JSON report document, independent of the plan's version.
pub(crate) const REPORT_VERSION: u32 = 1;

/// The report model: what every format shows, already redacted, grouped and
/// joined with the dry-run outcomes. The JSON format is this, serialised.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report {
    pub report_version: u32,
    pub plan: PlanInfo,
    pub source: ClusterInfo,
    pub target: ClusterInfo,
    pub selection: Selection,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    pub waves: Vec<Wave>,
    pub skipped: Vec<SkipGroup>,
    /// Objects written to B at another version, or repaired for B's version,
    /// grouped by what was done to them.
    pub conversions: Vec<ConversionGroup>,
    /// Reads that failed and that `--skip-unavailable` let the plan go on
    /// without: what the plan knowingly leaves out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<crate::gaps::Gap>,
    pub warnings: Vec<Warning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRun>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlanInfo {
    pub id: String,
    pub created_at: String,
    pub abshift_version: String,
    pub checksum: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Wave {
    pub wave: usize,
    pub objects: Vec<ReportObject>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportObject {
    #[serde(flatten)]
    pub object: ObjectRef,
    pub wave: usize,
    pub action: Action,
    pub depends_on: Vec<ObjectRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pulled_in_by: Vec<PulledIn>,
    /// A's apiVersion, when written to B at another one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_as: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversions: Vec<String>,
    /// Redacted for Secrets, like the manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    pub manifest: Value,
    /// For Secrets: whether B's value matches A's, never a digest of it
    /// ("matches B", "differs from B", "not in B").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_value: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRunOutcome>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DryRunOutcome {
    /// `accepted`, or the outcome apply reported (`failed`, `deferred`, ...).
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DryRun {
    pub target: String,
    pub counts: BTreeMap<Outcome, usize>,
    pub accepted: usize,
    pub succeeded: bool,
}

/// Skipped objects sharing a rule and a reason: a reviewer judges the rule
/// once, not every object it caught.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SkipGroup {
    pub rule: String,
    pub reason: String,
    pub objects: Vec<ObjectRef>,
}

/// Objects that one set of conversion rules took from one version to another.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversionGroup {
    /// Rule ids, in the order they ran (`abshift rules`).
    pub rules: Vec<String>,
    /// A's apiVersion and kind as read, and as written to B.
    pub from: String,
    pub to: String,
    pub objects: Vec<ObjectRef>,
}

impl Report {
    pub(crate) fn new(plan: &Plan, dry_run: Option<&ApplySummary>) -> Report {
        let problems: HashMap<&ObjectRef, &crate::outcome::ObjectResult> = dry_run
            .map(|s| s.problems.iter().map(|p| (&p.object, p)).collect())
            .unwrap_or_default();
        let mut waves: BTreeMap<usize, Vec<ReportObject>> = BTreeMap::new();
        let mut accepted = 0;
        for o in &plan.objects {
            let r = o.object_ref();
            let outcome = dry_run.map(|_| match problems.get(&r) {
                Some(p) => DryRunOutcome {
                    outcome: p.outcome,
                    detail: p.detail.clone(),
                },
                None => {
                    accepted += 1;
                    DryRunOutcome {
                        outcome: Outcome::Accepted,
                        detail: None,
                    }
                }
            });
            waves.entry(o.wave).or_default().push(ReportObject {
                diff: o.diff.as_deref().map(|d| redact_diff(&o.kind, d)),
                manifest: redact_manifest(&o.kind, &o.manifest),
                object: r,
                wave: o.wave,
                action: o.action,
                depends_on: o.depends_on.clone(),
                pulled_in_by: o.pulled_in_by.clone(),
                read_as: o.read_as.clone(),
                conversions: o.conversions.clone(),
                secret_value: o.secret_digest.as_ref().map(|_| {
                    match (o.action, o.secret_matches) {
                        (Action::Create, _) | (_, None) => "not in B",
                        (_, Some(true)) => "matches B",
                        (_, Some(false)) => "differs from B",
                    }
                }),
                dry_run: outcome,
            });
        }
        let mut groups: BTreeMap<(&str, &str), Vec<ObjectRef>> = BTreeMap::new();
        for k in &plan.skipped {
            groups
                .entry((k.rule.as_str(), k.reason.as_str()))
                .or_default()
                .push(ObjectRef {
                    api_version: k.api_version.clone(),
                    kind: k.kind.clone(),
                    namespace: k.namespace.clone(),
                    name: k.name.clone(),
                });
        }
        Report {
            report_version: REPORT_VERSION,
            plan: PlanInfo {
                id: plan.id.clone(),
                created_at: plan.created_at.clone(),
                abshift_version: plan.abshift_version.clone(),
                checksum: plan.checksum.clone(),
            },
            source: plan.source.clone(),
            target: plan.target.clone(),
            selection: plan.selection.clone(),
            summary: plan.summary.clone(),
            findings: plan.findings.clone(),
            waves: waves
                .into_iter()
                .map(|(wave, objects)| Wave { wave, objects })
                .collect(),
            skipped: groups
                .into_iter()
                .map(|((rule, reason), objects)| SkipGroup {
                    rule: rule.to_string(),
                    reason: reason.to_string(),
                    objects,
                })
                .collect(),
            conversions: conversion_groups(plan),
            unavailable: plan.unavailable.clone(),
            warnings: plan.warnings.clone(),
            dry_run: dry_run.map(|s| DryRun {
                target: s.target.clone(),
                counts: s.counts.clone(),
                accepted,
                succeeded: s.succeeded(),
            }),
        }
    }

    pub(crate) fn objects(&self) -> impl Iterator<Item = &ReportObject> {
        self.waves.iter().flat_map(|w| w.objects.iter())
    }

    /// Objects whose dry run did not simply pass, for the problems table.
    pub(crate) fn dry_run_problems(&self) -> impl Iterator<Item = (&ReportObject, &DryRunOutcome)> {
        self.objects().filter_map(|o| match &o.dry_run {
            Some(d) if d.outcome != Outcome::Accepted => Some((o, d)),
            _ => None,
        })
    }
}

/// Escapes text for HTML and XML, attribute values included; control
/// characters become visible escapes (`crate::text`).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::text::escape_lines(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `Kind ns/name`, the way a reviewer names an object.
pub(crate) fn short_ref(r: &ObjectRef) -> String {
    match &r.namespace {
        Some(ns) => format!("{} {}/{}", r.kind, ns, r.name),
        None => format!("{} {}", r.kind, r.name),
    }
}

/// `ns/name`, or the name of a cluster-scoped object.
pub(crate) fn ns_name(r: &ObjectRef) -> String {
    match &r.namespace {
        Some(ns) => format!("{ns}/{}", r.name),
        None => r.name.clone(),
    }
}

/// The selection as one line per set flag, for headers.
pub(crate) fn selection_lines(s: &Selection) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(stack) = &s.stack {
        out.push(("stack", stack.clone()));
    }
    let list = |v: &[String]| v.join(", ");
    if !s.namespaces.is_empty() {
        out.push(("namespaces", list(&s.namespaces)));
    }
    if !s.exclude_namespaces.is_empty() {
        out.push(("excluded namespaces", list(&s.exclude_namespaces)));
    }
    if let Some(sel) = &s.selector {
        out.push(("selector", sel.clone()));
    }
    if !s.include_kinds.is_empty() {
        out.push(("kinds", list(&s.include_kinds)));
    }
    if !s.exclude_kinds.is_empty() {
        out.push(("excluded kinds", list(&s.exclude_kinds)));
    }
    if !s.extra_objects.is_empty() {
        let extra: Vec<String> = s
            .extra_objects
            .iter()
            .map(|e| {
                let kind = match &e.group {
                    Some(g) => format!("{}.{g}", e.kind),
                    None => e.kind.clone(),
                };
                match &e.namespace {
                    Some(ns) => format!("{kind} {ns}/{}", e.name),
                    None => format!("{kind} {}", e.name),
                }
            })
            .collect();
        out.push(("extra objects", extra.join(", ")));
    }
    if out.is_empty() {
        out.push(("scope", "the whole estate".into()));
    }
    out
}

fn conversion_groups(plan: &Plan) -> Vec<ConversionGroup> {
    let mut groups: BTreeMap<(String, String, Vec<String>), Vec<ObjectRef>> = BTreeMap::new();
    for o in plan.objects.iter().filter(|o| !o.conversions.is_empty()) {
        let from = o.read_as.as_deref().unwrap_or(&o.api_version);
        groups
            .entry((
                format!("{from} {}", o.kind),
                format!("{} {}", o.api_version, o.kind),
                o.conversions.clone(),
            ))
            .or_default()
            .push(o.object_ref());
    }
    groups
        .into_iter()
        .map(|((from, to, rules), objects)| ConversionGroup {
            rules,
            from,
            to,
            objects,
        })
        .collect()
}
