//! `abshift report`: renders a plan file (refusing a tampered one) in the
//! format the flag or the file extension names. Also decides the format of the
//! `--report` files of plan and apply, so an unknown extension fails early.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::args::ReportArgs;
use crate::error::UsageError;
use abshift_core::plan::Plan;
use abshift_core::report::Format as ReportFormat;
use abshift_kube::files::write_atomically;

/// The report format a file name asks for; an unknown extension is a usage error.
pub(super) fn format_of(path: &Path) -> anyhow::Result<ReportFormat> {
    ReportFormat::from_path(path).map_err(|e| UsageError(e.to_string()).into())
}

/// `abshift report`: reads a plan (refusing a tampered one) and renders it.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let format = match (args.format, &args.output) {
        (Some(f), _) => f,
        (None, Some(path)) => format_of(path)?,
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
