//! CLI glue for the migrate commands, `report` and `rules`: turn flags into library calls,
//! print results. Errors get their context here (anyhow), nowhere deeper.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::{
    ApplyArgs, ClusterArgs, OutputFormat, PlanArgs, ReportArgs, RulesArgs, VerifyArgs,
};
use crate::error::UsageError;
use abshift_core::graph::LAST_WAVE_KINDS;
use abshift_core::model::ResourceType;
use abshift_core::normalize::FIELD_RULES;
use abshift_core::outcome::{ApplySummary, ObjectResult, Outcome};
use abshift_core::plan::{Plan, Selection};
use abshift_core::report::Format as ReportFormat;
use abshift_core::skip::SKIP_RULES;
use abshift_kube::apply::{ApplyOptions, ApplyProgress};
use abshift_kube::cluster::{Access, Cluster};
use abshift_kube::files::write_atomically;
use abshift_kube::planner::{PlanRequest, Progress, StackRequest, build_plan};

/// Connects to A (always read-only) and B, refusing the same context twice.
pub async fn connect_pair(
    c: &ClusterArgs,
    target_access: Access,
) -> anyhow::Result<(Cluster, Cluster)> {
    let to = c
        .to
        .as_deref()
        .ok_or_else(|| UsageError("--to CONTEXT is required: name the target cluster B".into()))?;
    let from_kc = c.from_kubeconfig.as_ref().or(c.kubeconfig.as_ref());
    let to_kc = c.to_kubeconfig.as_ref().or(c.kubeconfig.as_ref());
    if c.from.as_deref() == Some(to) && from_kc == to_kc {
        return Err(UsageError(format!("--from and --to both name context '{to}'; the source and target must be different clusters")).into());
    }
    let source = Cluster::connect(from_kc, c.from.as_deref(), Access::ReadOnly).await?;
    if source.context == to && from_kc == to_kc {
        return Err(UsageError(format!(
            "--to '{to}' is the current context, which is also the source; pass --from explicitly"
        ))
        .into());
    }
    let target = Cluster::connect(to_kc, Some(to), target_access).await?;
    Ok((source, target))
}

/// Connects to the plan's clusters: the contexts named on the command line, or
/// those recorded in the plan. The source is always read-only.
pub async fn connect_for_plan(
    c: &ClusterArgs,
    plan: &Plan,
    target_access: Access,
) -> anyhow::Result<(Cluster, Cluster)> {
    let from = c
        .from
        .clone()
        .unwrap_or_else(|| plan.source.context.clone());
    let to = c.to.clone().unwrap_or_else(|| plan.target.context.clone());
    let from_kc = c.from_kubeconfig.as_ref().or(c.kubeconfig.as_ref());
    let to_kc = c.to_kubeconfig.as_ref().or(c.kubeconfig.as_ref());
    if from == to && from_kc == to_kc {
        return Err(UsageError(format!("source and target both name context '{to}'; the source and target must be different clusters")).into());
    }
    let source = Cluster::connect(from_kc, Some(&from), Access::ReadOnly).await?;
    let target = Cluster::connect(to_kc, Some(&to), target_access).await?;
    Ok((source, target))
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let report = match &args.report {
        Some(_) if !args.dry_run => {
            return Err(UsageError(
                "--report needs --dry-run: the report shows B's dry-run verdict on each object; for a report of the plan alone use `abshift report PLAN.json`".into(),
            )
            .into());
        }
        Some(path) => Some((path.clone(), report_format(path)?)),
        None => None,
    };
    let plan = Plan::read(&args.plan)?;
    let (source, target) = connect_for_plan(&args.clusters, &plan, Access::ReadWrite).await?;
    abshift_kube::apply::check_clusters(&plan, &source, &target).await?;
    if !args.dry_run && !args.yes {
        confirm(&plan, &target)?;
    }
    let opts = ApplyOptions {
        dry_run: args.dry_run,
        concurrency: args.concurrency.max(1),
        on_conflict: args.on_conflict,
        allow_drift: args.allow_drift,
    };
    let progress = WaveBars::new(plan.summary.waves);
    let summary = abshift_kube::apply::apply(&plan, &args.plan, &source, &target, &opts, &progress)
        .await
        .with_context(|| format!("applying plan {} to '{}'", plan.id, target.context))?;
    progress.finish();
    if let Some((path, format)) = &report {
        write_atomically(
            path,
            &abshift_core::report::render(&plan, Some(&summary), *format),
        )?;
        eprintln!("report written to {}", path.display());
    }
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        OutputFormat::Yaml => print!("{}", serde_yaml_ng::to_string(&summary)?),
        OutputFormat::Text => eprint!("{}", apply_summary_text(&summary)),
    }
    Ok(if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let plan = Plan::read(&args.plan)?;
    let (source, target) = connect_for_plan(&args.clusters, &plan, Access::ReadOnly).await?;
    let report = abshift_kube::verify::verify(&plan, &source, &target)
        .await
        .with_context(|| format!("verifying plan {} against '{}'", plan.id, target.context))?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Yaml => print!("{}", serde_yaml_ng::to_string(&report)?),
        OutputFormat::Text => {
            let mut out = String::new();
            for r in &report.missing {
                out.push_str(&format!("missing in B: {r}\n"));
            }
            for m in &report.mismatched {
                out.push_str(&format!("differs: {}: {}\n{}", m.object, m.problem, m.diff));
            }
            for r in &report.gone_from_source {
                out.push_str(&format!(
                    "note: {r} is no longer in A (deleted or now skipped since the plan)\n"
                ));
            }
            for r in &report.new_in_source {
                out.push_str(&format!(
                    "new in A since the plan: {r} (re-plan to migrate it)\n"
                ));
            }
            out.push_str(&format!(
                "verify plan {} against '{}': {} match, {} missing, {} differ, {} new in A — {}\n",
                plan.id,
                target.context,
                report.matched,
                report.missing.len(),
                report.mismatched.len(),
                report.new_in_source.len(),
                if report.ok() {
                    "B holds what A holds"
                } else {
                    "NOT VERIFIED"
                }
            ));
            print!("{out}");
        }
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Asks on the terminal before writing; with no terminal, `--yes` is required.
fn confirm(plan: &Plan, target: &Cluster) -> anyhow::Result<()> {
    use std::io::BufRead;
    if !std::io::stdin().is_terminal() {
        return Err(UsageError("refusing to apply without confirmation: no terminal to ask on; review the plan and pass --yes".into()).into());
    }
    let counts: Vec<String> = plan
        .summary
        .by_action
        .iter()
        .map(|(a, n)| format!("{n} {a}"))
        .collect();
    eprint!(
        "Apply plan {} to '{}' ({}): {} objects in {} waves ({})? [y/N] ",
        plan.id,
        target.context,
        target.server,
        plan.summary.objects,
        plan.summary.waves,
        counts.join(", ")
    );
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
        Ok(())
    } else {
        Err(UsageError("not confirmed; nothing was written".into()).into())
    }
}

fn apply_summary_text(s: &ApplySummary) -> String {
    let mut out = String::new();
    let deferred = s
        .problems
        .iter()
        .filter(|p| p.outcome == Outcome::Deferred)
        .count();
    for p in s.problems.iter().filter(|p| p.outcome != Outcome::Deferred) {
        out.push_str(&format!(
            "{:<8} wave {} {}: {}\n",
            format!("{:?}", p.outcome).to_lowercase(),
            p.wave,
            p.object,
            p.detail.as_deref().unwrap_or("")
        ));
    }
    if deferred > 0 {
        out.push_str(&format!(
            "deferred: {deferred} objects cannot be checked by a dry run until what they need (namespace, CRD, owner) exists in B; -o json lists them\n"
        ));
    }
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(vec!["outcome", "objects"]);
    for (k, v) in &s.counts {
        t.add_row(vec![k.to_string(), v.to_string()]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    out.push_str(&format!(
        "{}plan {} → '{}': {} write requests, {} retries, {} already done by an earlier run, {:.1}s — {}\n",
        if s.dry_run { "dry run: " } else { "" },
        s.plan,
        s.target,
        s.writes,
        s.retries,
        s.resumed,
        s.seconds,
        if s.succeeded() { "complete" } else { "INCOMPLETE: fix the problems above and re-run (done objects are not redone)" }
    ));
    out
}

/// One progress bar per wave on a terminal, a log line per wave otherwise.
struct WaveBars {
    multi: Option<indicatif::MultiProgress>,
    current: std::sync::Mutex<Option<ProgressBar>>,
    waves: usize,
}

impl WaveBars {
    fn new(waves: usize) -> Self {
        let multi = std::io::stderr()
            .is_terminal()
            .then(indicatif::MultiProgress::new);
        WaveBars {
            multi,
            current: std::sync::Mutex::new(None),
            waves,
        }
    }
    fn finish(&self) {
        if let Some(b) = self.current.lock().expect("bar").take() {
            b.finish();
        }
    }
}

impl ApplyProgress for WaveBars {
    fn wave(&self, wave: usize, objects: usize) {
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new(objects as u64));
                bar.set_style(
                    ProgressStyle::with_template("wave {prefix} [{bar:30}] {pos}/{len} {wide_msg}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(format!("{}/{}", wave + 1, self.waves));
                *self.current.lock().expect("bar") = Some(bar);
            }
            None => eprintln!("wave {}/{}: {objects} objects", wave + 1, self.waves),
        }
    }
    fn done(&self, r: &ObjectResult) {
        if let Some(b) = self.current.lock().expect("bar").as_ref() {
            b.inc(1);
            if matches!(
                r.outcome,
                Outcome::Failed | Outcome::Blocked | Outcome::Drifted
            ) {
                b.set_message(format!("{:?}: {}", r.outcome, r.object));
            }
        }
    }
    fn wave_finished(&self, _wave: usize) {
        self.finish();
    }
}

struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn listing(&self, total: usize) {
        if let Some(b) = &self.0 {
            b.set_length(total as u64);
        }
    }
    fn listed(&self, cluster: &str, resource: &ResourceType, count: usize) {
        match &self.0 {
            Some(b) => {
                b.inc(1);
                b.set_message(format!("{cluster}: {} ({count})", resource.plural));
            }
            None => tracing::debug!(cluster, resource = %resource.plural, count, "listed"),
        }
    }
}

fn progress_bar() -> Bar {
    if !std::io::stderr().is_terminal() {
        return Bar(None);
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} listing {pos}/{len} resource types {wide_msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Bar(Some(bar))
}

/// The stack to plan: its definition from the stacks file when the file has
/// one (an explicit `--stacks-file` must exist; the default may be absent).
fn stack_request(name: &str, file: Option<&std::path::Path>) -> anyhow::Result<StackRequest> {
    let default = std::path::Path::new(abshift_core::stacks::DEFAULT_STACKS_FILE);
    let path = match file {
        Some(p) => Some(p),
        None if default.exists() => Some(default),
        None => None,
    };
    let Some(path) = path else {
        return Ok(StackRequest {
            name: name.to_string(),
            defined: None,
            file_stacks: Vec::new(),
        });
    };
    let file = abshift_core::stacks::load(path)?;
    Ok(StackRequest {
        name: name.to_string(),
        defined: file
            .stacks
            .get(name)
            .map(|def| abshift_core::stacks::Defined {
                path: path.display().to_string(),
                def: def.clone(),
            }),
        file_stacks: file.stacks.keys().cloned().collect(),
    })
}

pub async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = &args.selector {
        abshift_core::select::LabelSelector::parse(sel).map_err(|e| UsageError(e.to_string()))?;
    }
    // Checked before reading the clusters: a typo in the name must not cost a full read.
    let report = match &args.report {
        Some(path) => Some((path.clone(), report_format(path)?)),
        None => None,
    };
    let (source, target) = connect_pair(&args.clusters, Access::ReadOnly).await?;
    let selection = Selection {
        namespaces: sorted(args.namespaces),
        exclude_namespaces: sorted(args.exclude_namespaces),
        selector: args.selector,
        include_kinds: sorted(args.include_kinds),
        exclude_kinds: sorted(args.exclude_kinds),
        stack: args.stack.clone(),
        extra_objects: Vec::new(),
    };
    let stack = args
        .stack
        .as_deref()
        .map(|name| stack_request(name, args.stacks_file.as_deref()))
        .transpose()?;
    let req = PlanRequest {
        selection,
        stack,
        page_size: args.page_size.max(1),
        list_concurrency: args.list_concurrency.max(1),
    };
    let bar = progress_bar();
    let result = build_plan(&source, &target, &req, &bar).await;
    if let Some(b) = &bar.0 {
        b.finish_and_clear();
    }
    let plan = result.with_context(|| {
        format!(
            "planning the migration from '{}' to '{}'",
            source.context, target.context
        )
    })?;
    let text = plan.to_json();
    match &args.output {
        Some(path) => {
            write_atomically(path, &text)?;
            if let Some(aside) = abshift_kube::journal::set_aside(path, &plan.id)? {
                eprintln!(
                    "note: the journal of the plan this file held before was moved to {}",
                    aside.display()
                );
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .context("writing the plan to stdout")?;
        }
    }
    if let Some((path, format)) = &report {
        write_atomically(path, &abshift_core::report::render(&plan, None, *format))?;
    }
    eprint!(
        "{}",
        summary_text(&plan, args.output.as_ref().map(|p| p.display().to_string()))
    );
    Ok(ExitCode::SUCCESS)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.retain(|s| !s.trim().is_empty());
    v.sort();
    v.dedup();
    v
}

/// The human summary printed to stderr after a plan.
pub fn summary_text(plan: &Plan, written_to: Option<String>) -> String {
    let s = &plan.summary;
    let mut out = String::new();
    out.push_str(&format!(
        "plan {} — {} ({}) → {} ({})\n",
        plan.id,
        plan.source.context,
        plan.source.kubernetes_version,
        plan.target.context,
        plan.target.kubernetes_version
    ));
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
        "kind",
        "create",
        "unchanged",
        "update",
        "conflict",
        "total",
    ]);
    let mut per_kind: std::collections::BTreeMap<&str, [usize; 4]> = Default::default();
    for o in &plan.objects {
        let e = per_kind.entry(o.kind.as_str()).or_default();
        e[o.action as usize] += 1;
    }
    let mut totals = [0usize; 4];
    for (kind, c) in &per_kind {
        for i in 0..4 {
            totals[i] += c[i];
        }
        t.add_row(vec![
            kind.to_string(),
            c[0].to_string(),
            c[1].to_string(),
            c[2].to_string(),
            c[3].to_string(),
            c.iter().sum::<usize>().to_string(),
        ]);
    }
    t.add_row(vec![
        "TOTAL".to_string(),
        totals[0].to_string(),
        totals[1].to_string(),
        totals[2].to_string(),
        totals[3].to_string(),
        s.objects.to_string(),
    ]);
    out.push_str(&t.to_string());
    out.push('\n');
    out.push_str(&format!(
        "{} objects in {} waves; {} skipped",
        s.objects, s.waves, s.skipped
    ));
    if !s.skipped_by_reason.is_empty() {
        let parts: Vec<String> = s
            .skipped_by_reason
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        out.push_str(&format!(" ({})", parts.join(", ")));
    }
    out.push('\n');
    for w in &plan.warnings {
        match &w.object {
            Some(o) => out.push_str(&format!("warning: {o}: {}\n", w.message)),
            None => out.push_str(&format!("warning: {}\n", w.message)),
        }
    }
    if let Some(path) = written_to {
        out.push_str(&format!("plan written to {path}\n"));
    }
    out
}

/// The report format a file name asks for; an unknown extension is a usage error.
fn report_format(path: &std::path::Path) -> anyhow::Result<ReportFormat> {
    ReportFormat::from_path(path).map_err(|e| UsageError(e.to_string()).into())
}

/// `abshift report`: reads a plan (refusing a tampered one) and renders it.
pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let format = match (args.format, &args.output) {
        (Some(f), _) => f,
        (None, Some(path)) => report_format(path)?,
        (None, None) => ReportFormat::Markdown,
    };
    let plan = Plan::read(&args.plan)?;
    let text = abshift_core::report::render(&plan, None, format);
    match &args.output {
        Some(path) => {
            write_atomically(path, &text)?;
            eprintln!("report of plan {} written to {}", plan.id, path.display());
        }
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing the report to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RulesDoc {
    generated_fields: Vec<serde_json::Value>,
    skip_rules: Vec<serde_json::Value>,
    last_wave_kinds: Vec<serde_json::Value>,
    preflight_rules: Vec<serde_json::Value>,
    closure_rules: Vec<serde_json::Value>,
}

fn rules_doc() -> RulesDoc {
    use serde_json::json;
    RulesDoc {
        generated_fields: FIELD_RULES
            .iter()
            .map(|r| json!({"kinds": r.applies.describe(), "field": describe_strip(r.strip), "reason": r.reason}))
            .collect(),
        skip_rules: SKIP_RULES
            .iter()
            .map(|r| json!({"id": r.id, "kinds": r.applies.describe(), "when": describe_when(r.when), "reason": r.reason}))
            .collect(),
        last_wave_kinds: LAST_WAVE_KINDS.iter().map(|(g, k, why)| json!({"kind": format!("{k}.{g}"), "reason": why})).collect(),
        preflight_rules: abshift_core::preflight::PREFLIGHT_RULES
            .iter()
            .map(|r| json!({"id": r.id, "severity": r.severity.as_str(), "looksAt": r.looks_at, "why": r.why, "action": r.action}))
            .collect(),
        closure_rules: abshift_core::select::CLOSURE_RULES
            .iter()
            .map(|(reason, what)| json!({"reason": reason, "pulls": what}))
            .collect(),
    }
}

fn describe_strip(s: abshift_core::normalize::Strip) -> String {
    use abshift_core::normalize::Strip::*;
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

fn describe_when(w: abshift_core::skip::When) -> String {
    use abshift_core::skip::When::*;
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

pub fn rules(args: RulesArgs) -> anyhow::Result<ExitCode> {
    let doc = rules_doc();
    let text = match args.output {
        OutputFormat::Json => serde_json::to_string_pretty(&doc)? + "\n",
        OutputFormat::Yaml => serde_yaml_ng::to_string(&doc)?,
        OutputFormat::Text => {
            let mut out = String::new();
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
                "kinds",
                "generated field (removed)",
                "why",
            ]);
            for r in &doc.generated_fields {
                t.add_row(vec![
                    r["kinds"].as_str().unwrap_or(""),
                    r["field"].as_str().unwrap_or(""),
                    r["reason"].as_str().unwrap_or(""),
                ]);
            }
            out.push_str("Normalisation: fields removed from every manifest\n");
            out.push_str(&t.to_string());
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY)
                .set_header(vec!["rule", "kinds", "when", "why"]);
            for r in &doc.skip_rules {
                t.add_row(vec![
                    r["id"].as_str().unwrap_or(""),
                    r["kinds"].as_str().unwrap_or(""),
                    r["when"].as_str().unwrap_or(""),
                    r["reason"].as_str().unwrap_or(""),
                ]);
            }
            out.push_str("\n\nSkipping: objects not migrated (first matching rule wins)\n");
            out.push_str(&t.to_string());
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY)
                .set_header(vec!["kind", "why it goes in the last wave"]);
            for r in &doc.last_wave_kinds {
                t.add_row(vec![
                    r["kind"].as_str().unwrap_or(""),
                    r["reason"].as_str().unwrap_or(""),
                ]);
            }
            out.push_str("\n\nOrdering: kinds created in the last wave\n");
            out.push_str(&t.to_string());
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY)
                .set_header(vec!["rule", "severity", "looks at", "why", "action"]);
            for r in &doc.preflight_rules {
                t.add_row(vec![
                    r["id"].as_str().unwrap_or(""),
                    r["severity"].as_str().unwrap_or(""),
                    r["looksAt"].as_str().unwrap_or(""),
                    r["why"].as_str().unwrap_or(""),
                    r["action"].as_str().unwrap_or(""),
                ]);
            }
            out.push_str("\n\nPreflight: findings reported in the plan\n");
            out.push_str(&t.to_string());
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY)
                .set_header(vec!["pulledInBy reason", "what a partial plan pulls in"]);
            for r in &doc.closure_rules {
                t.add_row(vec![
                    r["reason"].as_str().unwrap_or(""),
                    r["pulls"].as_str().unwrap_or(""),
                ]);
            }
            out.push_str("\n\nPartial plans: cluster-scoped objects pulled in (docs/stacks.md)\n");
            out.push_str(&t.to_string());
            out.push('\n');
            out
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
