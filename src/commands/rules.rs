//! `abshift rules`: the planner's rule tables (normalisation, skipping, the last
//! wave, preflight, partial-plan closure, conversions across Kubernetes
//! versions) as one typed document: a struct per
//! table row, printed as text tables, JSON or YAML from the same values.

use std::io::Write;
use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;

use crate::cli::args::{OutputFormat, RulesArgs};
use abshift_core::gaps::HARMLESS_GROUPS;
use abshift_core::graph::LAST_WAVE_KINDS;
use abshift_core::normalize::{FIELD_RULES, Strip};
use abshift_core::preflight::PREFLIGHT_RULES;
use abshift_core::select::CLOSURE_RULES;
use abshift_core::skip::{SKIP_RULES, When};

/// Every table `abshift rules` prints, in the order it prints them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RulesDoc {
    generated_fields: Vec<GeneratedField>,
    skip_rules: Vec<SkipRule>,
    last_wave_kinds: Vec<LastWaveKind>,
    preflight_rules: Vec<PreflightRule>,
    closure_rules: Vec<ClosureRule>,
    conversions: Vec<ConversionRule>,
    harmless_gaps: Vec<HarmlessGap>,
}

// The fields of each row are declared in alphabetical order, the order JSON
// and YAML have always listed them in; the text columns are chosen in `Row`.

/// A field normalisation removes from every manifest of some kinds.
#[derive(Serialize)]
struct GeneratedField {
    field: String,
    kinds: String,
    reason: &'static str,
}

/// Objects that are not migrated (the first matching rule wins).
#[derive(Serialize)]
struct SkipRule {
    id: &'static str,
    kinds: String,
    reason: &'static str,
    when: String,
}

/// A kind created in the last wave.
#[derive(Serialize)]
struct LastWaveKind {
    kind: String,
    reason: &'static str,
}

/// A kind of preflight finding.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PreflightRule {
    action: &'static str,
    id: &'static str,
    looks_at: &'static str,
    severity: &'static str,
    why: &'static str,
}

/// What a partial plan pulls in, and the `pulledInBy` reason it records.
#[derive(Serialize)]
struct ClosureRule {
    pulls: &'static str,
    reason: &'static str,
}

/// A row of the version tables: read preference, conversion, object rule or
/// removed kind (docs/rules.md, "Conversions across Kubernetes versions").
#[derive(Serialize)]
struct ConversionRule {
    id: &'static str,
    reason: &'static str,
    table: &'static str,
    what: String,
}

/// An API group whose failed reads stay warnings (everything else stops a plan).
#[derive(Serialize)]
struct HarmlessGap {
    group: &'static str,
    reason: &'static str,
}

/// A row of a text table: its title, header and cells.
trait Row {
    const TITLE: &'static str;
    const HEADER: &'static [&'static str];
    fn cells(&self) -> Vec<&str>;
}

impl Row for GeneratedField {
    const TITLE: &'static str = "Normalisation: fields removed from every manifest";
    const HEADER: &'static [&'static str] = &["kinds", "generated field (removed)", "why"];
    fn cells(&self) -> Vec<&str> {
        vec![&self.kinds, &self.field, self.reason]
    }
}

impl Row for SkipRule {
    const TITLE: &'static str = "Skipping: objects not migrated (first matching rule wins)";
    const HEADER: &'static [&'static str] = &["rule", "kinds", "when", "why"];
    fn cells(&self) -> Vec<&str> {
        vec![self.id, &self.kinds, &self.when, self.reason]
    }
}

impl Row for LastWaveKind {
    const TITLE: &'static str = "Ordering: kinds created in the last wave";
    const HEADER: &'static [&'static str] = &["kind", "why it goes in the last wave"];
    fn cells(&self) -> Vec<&str> {
        vec![&self.kind, self.reason]
    }
}

impl Row for PreflightRule {
    const TITLE: &'static str = "Preflight: findings reported in the plan";
    const HEADER: &'static [&'static str] = &["rule", "severity", "looks at", "why", "action"];
    fn cells(&self) -> Vec<&str> {
        vec![self.id, self.severity, self.looks_at, self.why, self.action]
    }
}

impl Row for ClosureRule {
    const TITLE: &'static str = "Partial plans: cluster-scoped objects pulled in (docs/stacks.md)";
    const HEADER: &'static [&'static str] = &["pulledInBy reason", "what a partial plan pulls in"];
    fn cells(&self) -> Vec<&str> {
        vec![self.reason, self.pulls]
    }
}

impl Row for HarmlessGap {
    const TITLE: &'static str = "Failed reads that stay warnings (any other stops a plan unless --skip-unavailable names it)";
    const HEADER: &'static [&'static str] = &["API group", "why nothing can be missing"];
    fn cells(&self) -> Vec<&str> {
        vec![self.group, self.reason]
    }
}

impl Row for ConversionRule {
    const TITLE: &'static str = "Conversions across Kubernetes versions (read preference, conversion, object rule, removed kind)";
    const HEADER: &'static [&'static str] = &["table", "rule", "what", "why"];
    fn cells(&self) -> Vec<&str> {
        vec![self.table, self.id, &self.what, self.reason]
    }
}

fn rules_doc() -> RulesDoc {
    RulesDoc {
        generated_fields: FIELD_RULES
            .iter()
            .map(|r| GeneratedField {
                field: describe_strip(r.strip),
                kinds: r.applies.describe(),
                reason: r.reason,
            })
            .collect(),
        skip_rules: SKIP_RULES
            .iter()
            .map(|r| SkipRule {
                id: r.id,
                kinds: r.applies.describe(),
                reason: r.reason,
                when: describe_when(r.when),
            })
            .collect(),
        last_wave_kinds: LAST_WAVE_KINDS
            .iter()
            .map(|(g, k, why)| LastWaveKind {
                kind: format!("{k}.{g}"),
                reason: why,
            })
            .collect(),
        preflight_rules: PREFLIGHT_RULES
            .iter()
            .map(|r| PreflightRule {
                action: r.action,
                id: r.id,
                looks_at: r.looks_at,
                severity: r.severity.as_str(),
                why: r.why,
            })
            .collect(),
        closure_rules: CLOSURE_RULES
            .iter()
            .map(|(reason, pulls)| ClosureRule { pulls, reason })
            .collect(),
        conversions: abshift_core::convert::describe()
            .into_iter()
            .map(|d| ConversionRule {
                id: d.id,
                reason: d.reason,
                table: d.table,
                what: d.what,
            })
            .collect(),
        harmless_gaps: HARMLESS_GROUPS
            .iter()
            .map(|r| HarmlessGap {
                group: r.group,
                reason: r.reason,
            })
            .collect(),
    }
}

fn describe_strip(s: Strip) -> String {
    use Strip::*;
    match s {
        Field(p) => p.join("."),
        FieldUnless(p, keep) => format!("{} (unless \"{keep}\")", p.join(".")),
        Label(k) => format!("metadata.labels[{k}]"),
        Annotation(k) => format!("metadata.annotations[{k}]"),
        OwnerReferenceUids => "metadata.ownerReferences[].uid".into(),
        TemplateCreationTimestamps => "*.metadata.creationTimestamp: null in templates".into(),
        JobControllerUid => "spec.selector / template labels: controller-uid, job-name".into(),
        ServiceAccountTokenRefs => "secrets[] naming <sa>-token-*".into(),
        PodTokenVolumes => "spec.volumes + volumeMounts of token volumes".into(),
        AggregatedRules => "rules (when aggregationRule is set)".into(),
        SecretData => "data, stringData".into(),
    }
}

fn describe_when(w: When) -> String {
    use When::*;
    match w {
        Always => "always".into(),
        BeingDeleted => "metadata.deletionTimestamp set".into(),
        InSystemNamespace => "in kube-system, kube-public, kube-node-lease".into(),
        ControllerOwned => "ownerReference with controller: true".into(),
        Named(Some(ns), n) => format!("named {ns}/{n}"),
        Named(None, n) => format!("named {n}"),
        Label(k, Some(v)) => format!("label {k}={v}"),
        Label(k, None) => format!("label {k} present"),
        Annotation(k, Some(v)) => format!("annotation {k}={v}"),
        Annotation(k, None) => format!("annotation {k} present"),
        SecretType(t) => format!("type {t}"),
        DefaultServiceAccountUnchanged => "named default and nothing user-set".into(),
        EndpointsOfSelectorService => "the Service of the same name has a selector".into(),
        PodFinished => "status.phase Succeeded or Failed".into(),
        JobCompleted => "condition Complete=True".into(),
        ManagedOnlyBy(m) => format!("every field manager is one of: {}", m.join(", ")),
        StatefulSetClaim => "named <template>-<statefulset>-<ordinal>".into(),
        OwnedBySkipped => "an owner is skipped".into(),
    }
}

/// One titled table.
fn table<R: Row>(rows: &[R]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(R::HEADER.to_vec());
    for r in rows {
        t.add_row(r.cells());
    }
    format!("{}\n{t}", R::TITLE)
}

fn text(doc: &RulesDoc) -> String {
    let tables = [
        table(&doc.generated_fields),
        table(&doc.skip_rules),
        table(&doc.last_wave_kinds),
        table(&doc.preflight_rules),
        table(&doc.closure_rules),
        table(&doc.conversions),
        table(&doc.harmless_gaps),
    ];
    tables.join("\n\n") + "\n"
}

/// `abshift rules`: prints the tables.
pub fn run(args: RulesArgs) -> anyhow::Result<ExitCode> {
    let doc = rules_doc();
    let text = match args.output {
        OutputFormat::Json => serde_json::to_string_pretty(&doc)? + "\n",
        OutputFormat::Yaml => serde_yaml_ng::to_string(&doc)?,
        OutputFormat::Text => text(&doc),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
