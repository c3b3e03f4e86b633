//! `abshift migrate apply`: confirmation, progress bars per wave, the dry-run
//! report, and the summary of what B now holds (text table, JSON or YAML).
//! The work itself is `abshift_kube::apply`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use indicatif::{ProgressBar, ProgressStyle};

use super::connect::connect_for_plan;
use super::report::format_of;
use crate::cli::args::{ApplyArgs, OutputFormat};
use crate::error::UsageError;
use abshift_core::outcome::{ApplySummary, ObjectResult, Outcome};
use abshift_core::plan::Plan;
use abshift_kube::apply::{ApplyOptions, ApplyProgress};
use abshift_kube::cluster::{Access, Cluster};
use abshift_kube::files::write_atomically;

/// `abshift migrate apply`: recreates the planned objects in B in dependency order,
/// after checking that the clusters are the plan's.
pub async fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let report = match &args.report {
        Some(_) if !args.dry_run => {
            return Err(UsageError(
                "--report needs --dry-run: the report shows B's dry-run verdict on each object; for a report of the plan alone use `abshift report PLAN.json`".into(),
            )
            .into());
        }
        Some(path) => Some((path.clone(), format_of(path)?)),
        None => None,
    };
    let started = std::time::Instant::now();
    let plan = Plan::read(&args.plan)?;
    tracing::info!(
        objects = plan.objects.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "plan read"
    );
    let (source, target) = connect_for_plan(&args.clusters, &plan, Access::ReadWrite).await?;
    abshift_kube::apply::check_clusters(&plan, &source, &target).await?;
    if !args.dry_run && !args.yes {
        confirm(&plan, &target)?;
    }
    let opts = ApplyOptions {
        dry_run: args.dry_run,
        concurrency: args.concurrency,
        on_conflict: args.on_conflict,
        allow_drift: args.allow_drift,
        suspend_cronjobs: args.suspend_cronjobs,
        suspend_singletons: args.suspend_singletons,
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
    // The process ends here: the OS takes the plan's memory back at once,
    // faster than freeing its documents one by one.
    std::mem::forget(plan);
    Ok(if summary.succeeded() {
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
            abshift_core::text::escape(p.detail.as_deref().unwrap_or(""))
        ));
    }
    if let Some(why) = &s.stopped {
        out.push_str(&format!("STOPPED: {}\n", abshift_core::text::escape(why)));
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
    out.push_str(&format!("writes in flight: {}\n", s.concurrency.describe()));
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
/// Waves overlap (an object starts when what it depends on is done), so
/// several bars may move at once.
struct WaveBars {
    multi: Option<indicatif::MultiProgress>,
    bars: std::sync::Mutex<HashMap<usize, ProgressBar>>,
    waves: usize,
}

impl WaveBars {
    fn new(waves: usize) -> Self {
        let multi = std::io::stderr()
            .is_terminal()
            .then(indicatif::MultiProgress::new);
        WaveBars {
            multi,
            bars: Default::default(),
            waves,
        }
    }
    fn finish(&self) {
        for (_, b) in self.bars.lock().expect("bars").drain() {
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
                self.bars.lock().expect("bars").insert(wave, bar);
            }
            None => eprintln!("wave {}/{}: {objects} objects", wave + 1, self.waves),
        }
    }
    fn done(&self, r: &ObjectResult) {
        if let Some(b) = self.bars.lock().expect("bars").get(&r.wave) {
            b.inc(1);
            if matches!(
                r.outcome,
                Outcome::Failed | Outcome::Blocked | Outcome::Drifted
            ) {
                b.set_message(format!("{:?}: {}", r.outcome, r.object));
            }
        }
    }
    fn wave_finished(&self, wave: usize) {
        if let Some(b) = self.bars.lock().expect("bars").remove(&wave) {
            b.finish();
        }
    }
}
