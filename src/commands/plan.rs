//! `abshift migrate plan`: flags into a `PlanRequest` (the stack from the stacks
//! file), a progress bar while both clusters are listed, the plan written
//! atomically, and the summary table. The work is `abshift_kube::planner`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use indicatif::{ProgressBar, ProgressStyle};

use super::connect::connect_pair;
use super::report::format_of;
use crate::cli::args::PlanArgs;
use crate::error::UsageError;
use abshift_core::model::ResourceType;
use abshift_core::plan::{Plan, Selection};
use abshift_kube::cluster::Access;
use abshift_kube::files::{write_atomically, write_atomically_with};
use abshift_kube::planner::{PlanRequest, Progress, StackRequest, build_plan};

/// `abshift migrate plan`: reads both clusters (never writing to either) and
/// writes the plan, a report if asked, and the summary.
pub async fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = &args.selector {
        abshift_core::select::LabelSelector::parse(sel).map_err(|e| UsageError(e.to_string()))?;
    }
    // Checked before reading the clusters: a typo in the name must not cost a full read.
    let report = match &args.report {
        Some(path) => Some((path.clone(), format_of(path)?)),
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
        skip_unavailable: sorted(args.skip_unavailable),
    };
    let stack = args
        .stack
        .as_deref()
        .map(|name| stack_request(name, args.stacks_file.as_deref()))
        .transpose()?;
    let req = PlanRequest {
        selection,
        stack,
        page_size: args.listing.page_size,
        list_concurrency: args.listing.list_concurrency,
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
    match &args.output {
        Some(path) => {
            write_atomically_with(path, |w| plan.write_json(w))?;
            if let Some(aside) = abshift_kube::journal::set_aside(path, &plan.id)? {
                eprintln!(
                    "note: the journal of the plan this file held before was moved to {}",
                    aside.display()
                );
            }
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            plan.write_json(&mut out)
                .and_then(|()| out.flush())
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
    // The process ends here: freeing 50,000 documents one by one would only
    // delay the exit (about 0.1 s), the OS takes the memory back at once.
    std::mem::forget(plan);
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
    for g in &plan.unavailable {
        out.push_str(&format!("LEFT OUT ({}): {g}\n", g.allowed_by));
    }
    for w in &plan.warnings {
        let message = abshift_core::text::escape(&w.message);
        match &w.object {
            Some(o) => out.push_str(&format!("warning: {o}: {message}\n")),
            None => out.push_str(&format!("warning: {message}\n")),
        }
    }
    if let Some(path) = written_to {
        out.push_str(&format!("plan written to {path}\n"));
    }
    out
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
