//! `abshift migrate verify`: connects read-only to both clusters, runs the
//! comparison of `abshift_kube::verify`, and prints what is missing, differs or
//! is new in A (text, JSON or YAML); the exit code says whether B is verified.

use std::process::ExitCode;

use anyhow::Context;

use super::connect::connect_for_plan;
use crate::cli::args::{OutputFormat, VerifyArgs};
use abshift_core::plan::Plan;
use abshift_kube::cluster::Access;
use abshift_kube::verify::Verdict;

/// `abshift migrate verify`: plans again with the plan's selection and proves
/// that B holds what A holds.
pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let plan = Plan::read(&args.plan)?;
    let (source, target) = connect_for_plan(&args.clusters, &plan, Access::ReadOnly).await?;
    let listing = args.listing;
    let report = abshift_kube::verify::verify(
        &plan,
        &source,
        &target,
        listing.page_size,
        listing.list_concurrency,
    )
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
                // Problems and diffs quote object content: escaped, never obeyed.
                out.push_str(&format!(
                    "differs: {}: {}\n{}",
                    m.object,
                    abshift_core::text::escape(&m.problem),
                    abshift_core::text::escape_lines(&m.diff)
                ));
            }
            for r in &report.gone_from_source {
                out.push_str(&format!(
                    "gone from A since the plan: {r} (deleted or now skipped; re-plan)\n"
                ));
            }
            for r in &report.new_in_source {
                out.push_str(&format!(
                    "new in A since the plan: {r} (re-plan to migrate it)\n"
                ));
            }
            out.push_str(&format!(
                "verify plan {} against '{}': {} match, {} missing, {} differ, {} new in A, {} gone from A — {}\n",
                plan.id,
                target.context,
                report.matched,
                report.missing.len(),
                report.mismatched.len(),
                report.new_in_source.len(),
                report.gone_from_source.len(),
                match report.verdict() {
                    Verdict::Verified => "B holds what A holds",
                    Verdict::Differs => "NOT VERIFIED: B differs from A",
                    Verdict::ScopeChanged =>
                        "NOT VERIFIED: A changed since the plan; re-plan and apply to move what changed",
                }
            ));
            print!("{out}");
        }
    }
    // Documented in docs/guarantees.md: 0 verified, 1 B differs, 3 A changed.
    Ok(match report.verdict() {
        Verdict::Verified => ExitCode::SUCCESS,
        Verdict::Differs => ExitCode::from(1),
        Verdict::ScopeChanged => ExitCode::from(3),
    })
}
