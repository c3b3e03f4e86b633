//! `abshift cutover suspend|resume`: turns the flags into a hand-over request
//! for one cluster, runs it, and prints what changed (text or JSON/YAML); the
//! exit code is 1 when any object could not be changed.

use std::collections::HashSet;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::args::OutputFormat;
use crate::cli::cutover::{CutoverCommand, HandoverArgs};
use crate::error::UsageError;
use abshift_core::handover::HANDOVER_KINDS;
use abshift_core::model::{GroupKind, ObjectKey};
use abshift_core::plan::Plan;
use abshift_kube::cluster::{Access, Cluster};
use abshift_kube::handover::{self, Direction, HandoverOutcome, HandoverRequest};

/// The findings whose objects `--plan` hands over.
const HANDOVER_FINDINGS: &[&str] = &["cronjob-runs-twice", "singleton-runs-twice"];

pub async fn run(cmd: CutoverCommand) -> anyhow::Result<ExitCode> {
    let (direction, args) = match cmd {
        CutoverCommand::Suspend(a) => (Direction::Suspend, a),
        CutoverCommand::Resume(a) => (Direction::Resume, a),
    };
    let req = request(&args)?;
    let cluster = Cluster::connect(
        args.kubeconfig.as_ref(),
        Some(&args.context),
        Access::ReadWrite,
    )
    .await?;
    let results = handover::run(&cluster, direction, &req)
        .await
        .with_context(|| format!("handing work over in '{}'", cluster.context))?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        OutputFormat::Yaml => print!("{}", serde_yaml_ng::to_string(&results)?),
        OutputFormat::Text => {
            let verb = match (direction, args.dry_run) {
                (Direction::Suspend, false) => "suspended",
                (Direction::Suspend, true) => "would suspend",
                (Direction::Resume, false) => "resumed",
                (Direction::Resume, true) => "would resume",
            };
            for r in &results {
                let line = match r.outcome {
                    HandoverOutcome::Changed => {
                        format!("{verb} {}: {} {} → {}", r.object, r.field, r.from, r.to)
                    }
                    HandoverOutcome::Unchanged => format!(
                        "kept {}: {}",
                        r.object,
                        r.detail.as_deref().unwrap_or("nothing to do")
                    ),
                    HandoverOutcome::Failed => format!(
                        "FAILED {}: {}",
                        r.object,
                        abshift_core::text::escape(r.detail.as_deref().unwrap_or(""))
                    ),
                };
                println!("{line}");
            }
            let count = |o| results.iter().filter(|r| r.outcome == o).count();
            eprintln!(
                "'{}': {} {verb}, {} kept, {} failed",
                cluster.context,
                count(HandoverOutcome::Changed),
                count(HandoverOutcome::Unchanged),
                count(HandoverOutcome::Failed)
            );
        }
    }
    Ok(
        if results.iter().any(|r| r.outcome == HandoverOutcome::Failed) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// The request the flags describe; unknown kinds are usage errors.
fn request(args: &HandoverArgs) -> anyhow::Result<HandoverRequest> {
    if let Some(sel) = &args.selector {
        abshift_core::select::LabelSelector::parse(sel).map_err(|e| UsageError(e.to_string()))?;
    }
    let mut kinds = Vec::new();
    for k in &args.kinds {
        let wanted = k.trim().to_ascii_lowercase();
        let kind = HANDOVER_KINDS
            .iter()
            .find(|h| {
                let name = h.kind.to_ascii_lowercase();
                wanted == name || wanted == format!("{name}s")
            })
            .ok_or_else(|| {
                let known: Vec<String> = HANDOVER_KINDS
                    .iter()
                    .map(|h| format!("{}s", h.kind.to_ascii_lowercase()))
                    .collect();
                UsageError(format!(
                    "--kinds: unknown kind '{k}' (known: {})",
                    known.join(", ")
                ))
            })?;
        kinds.push(GroupKind::new(kind.group, kind.kind));
    }
    let only = match &args.plan {
        None => None,
        Some(path) => {
            let plan = Plan::read(path)?;
            let keys: HashSet<ObjectKey> = plan
                .findings
                .iter()
                .filter(|f| HANDOVER_FINDINGS.contains(&f.rule.as_str()))
                .filter_map(|f| f.object.as_ref().map(|o| o.key()))
                .collect();
            Some(keys)
        }
    };
    Ok(HandoverRequest {
        namespaces: args.namespaces.clone(),
        selector: args.selector.clone(),
        kinds,
        only,
        dry_run: args.dry_run,
    })
}
