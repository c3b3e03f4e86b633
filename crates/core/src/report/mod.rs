//! Reports: a reviewed plan (and optionally B's dry-run verdict on it) rendered
//! for people (Markdown, HTML), for tools (JSON) and as a picture of the waves
//! (SVG, Graphviz). Everything here is a pure function of the plan.

mod dot;
mod html;
mod md;
mod redact;
mod svg;
mod wavegraph;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::diff::Action;
use crate::model::ObjectRef;
use crate::outcome::{ApplySummary, Outcome};
use crate::plan::{ClusterInfo, Finding, Plan, PulledIn, Selection, Summary, Warning};

pub use redact::{REDACTED, redact_diff, redact_manifest};
pub use wavegraph::AGGREGATE_ABOVE;

/// Version of the JSON report document, independent of the plan's version.
pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Json,
    Dot,
    Svg,
}

/// File extensions a format is recognised by. Data, so the error message and
/// the lookup cannot disagree.
const EXTENSIONS: &[(&str, Format)] = &[
    ("md", Format::Markdown),
    ("markdown", Format::Markdown),
    ("html", Format::Html),
    ("htm", Format::Html),
    ("json", Format::Json),
    ("dot", Format::Dot),
    ("gv", Format::Dot),
    ("svg", Format::Svg),
];

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "cannot tell the report format of {path} from its extension; use one of: {accepted} (or --format)"
    )]
    UnknownExtension { path: String, accepted: String },
}

impl Format {
    /// The format a file name asks for, by its extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Format, ReportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        ext.and_then(|e| {
            EXTENSIONS
                .iter()
                .find(|(x, _)| *x == e)
                .map(|(_, format)| *format)
        })
        .ok_or_else(|| ReportError::UnknownExtension {
            path: path.display().to_string(),
            accepted: EXTENSIONS
                .iter()
                .map(|(x, _)| format!(".{x}"))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Markdown,
        Format::Html,
        Format::Json,
        Format::Dot,
        Format::Svg,
    ];

    /// The name `--format` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Json => "json",
            Format::Dot => "dot",
            Format::Svg => "svg",
        }
    }
}

/// Renders the report. `dry_run` is the summary of `migrate apply --dry-run`
/// for this plan: objects it does not list as problems were accepted by B.
pub fn render(plan: &Plan, dry_run: Option<&ApplySummary>, format: Format) -> String {
    let report = Report::new(plan, dry_run);
    match format {
        Format::Markdown => md::render(&report),
        Format::Html => html::render(&report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report).unwrap_or_else(|e| {
                // Serialising plain strings and maps cannot fail; say so if it ever does.
                format!("{{\"error\": \"report does not serialise: {e}\"}}")
            });
            s.push('\n');
            s
        }
        Format::Dot => dot::render(&report),
        Format::Svg => svg::render(&report, true),
    }
}

/// The report model: what every format shows, already redacted, grouped and
/// joined with the dry-run outcomes. The JSON format is this, serialised.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub report_version: u32,
    pub plan: PlanInfo,
    pub source: ClusterInfo,
    pub target: ClusterInfo,
    pub selection: Selection,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    pub waves: Vec<Wave>,
    pub skipped: Vec<SkipGroup>,
    pub warnings: Vec<Warning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRun>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanInfo {
    pub id: String,
    pub created_at: String,
    pub abshift_version: String,
    pub checksum: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Wave {
    pub wave: usize,
    pub objects: Vec<ReportObject>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportObject {
    #[serde(flatten)]
    pub object: ObjectRef,
    pub wave: usize,
    pub action: Action,
    pub depends_on: Vec<ObjectRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pulled_in_by: Vec<PulledIn>,
    /// Redacted for Secrets, like the manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    pub manifest: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRunOutcome>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunOutcome {
    /// `accepted`, or the outcome apply reported (`failed`, `deferred`, ...).
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub target: String,
    pub counts: BTreeMap<Outcome, usize>,
    pub accepted: usize,
    pub succeeded: bool,
}

/// Skipped objects sharing a rule and a reason: a reviewer judges the rule
/// once, not every object it caught.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkipGroup {
    pub rule: String,
    pub reason: String,
    pub objects: Vec<ObjectRef>,
}

impl Report {
    pub fn new(plan: &Plan, dry_run: Option<&ApplySummary>) -> Report {
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
                secret_digest: o.secret_digest.clone(),
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
            warnings: plan.warnings.clone(),
            dry_run: dry_run.map(|s| DryRun {
                target: s.target.clone(),
                counts: s.counts.clone(),
                accepted,
                succeeded: s.succeeded(),
            }),
        }
    }

    pub fn objects(&self) -> impl Iterator<Item = &ReportObject> {
        self.waves.iter().flat_map(|w| w.objects.iter())
    }

    /// Objects whose dry run did not simply pass, for the problems table.
    pub fn dry_run_problems(&self) -> impl Iterator<Item = (&ReportObject, &DryRunOutcome)> {
        self.objects().filter_map(|o| match &o.dry_run {
            Some(d) if d.outcome != Outcome::Accepted => Some((o, d)),
            _ => None,
        })
    }
}

/// Escapes text for HTML and XML, attribute values included.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

#[cfg(test)]
pub(crate) mod testplan;

#[cfg(test)]
mod tests;
