//! The command tree and its dispatch to `commands`; `args` holds the flags of
//! migrate, report and rules (`elb`, `sync` carry theirs). Flags follow kubectl
//! (`--context`-style cluster names, `--kubeconfig`, `-n`, `-l`, `-o`) and AWS.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;

pub mod args;
pub mod elb;
pub mod named;
pub mod sync;

use args::{ApplyArgs, PlanArgs, ReportArgs, RulesArgs, VerifyArgs};

#[derive(Debug, Parser)]
#[command(
    name = "abshift",
    version,
    about = "A/B Kubernetes cluster upgrades: plan and migrate the estate, replicate stores, switch load balancers",
    propagate_version = true
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan, apply and verify the migration of Kubernetes objects from cluster A to B.
    #[command(subcommand)]
    Migrate(Box<MigrateCommand>),
    /// Render a plan as a report a reviewer can read (md, html, json, dot, svg).
    Report(ReportArgs),
    /// Inspect and switch the live and pre-live load balancers between clusters.
    #[command(subcommand)]
    Elb(Box<elb::ElbCommand>),
    /// Replicate a key-value store (Consul KV, etcd) from A to B.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Print the rule tables the planner applies (normalisation, skipping, ordering, preflight, partial plans).
    Rules(RulesArgs),
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Read every object of A, compare with B, and write a reviewable plan. Never writes to either cluster.
    Plan(PlanArgs),
    /// Recreate the planned objects in B, wave by wave.
    Apply(ApplyArgs),
    /// Prove that B holds what the plan says A holds.
    Verify(VerifyArgs),
}

/// Runs the parsed command and returns the process exit code.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate(m) => match *m {
            MigrateCommand::Plan(args) => commands::plan::run(args).await,
            MigrateCommand::Apply(args) => commands::apply::run(args).await,
            MigrateCommand::Verify(args) => commands::verify::run(args).await,
        },
        Command::Report(args) => commands::report::run(args),
        Command::Elb(cmd) => elb::run(*cmd).await,
        Command::Sync(cmd) => sync::run(cmd).await,
        Command::Rules(args) => commands::rules::run(args),
    }
}

/// One line (plus causes) a person can act on.
pub fn render_error(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// 2 for usage problems, 1 for everything else.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<crate::error::UsageError>().is_some() {
        2
    } else {
        1
    }
}
