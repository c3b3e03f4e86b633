//! The command tree and its dispatch to `commands`; `args` holds the flags of
//! migrate, report and rules (`elb`, `sync` carry theirs). Flags follow kubectl
//! (`--context`-style cluster names, `--kubeconfig`, `-n`, `-l`, `-o`) and AWS.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;

pub mod args;
pub mod cutover;
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
    /// Hand over work that must run in one cluster only (CronJobs, singletons):
    /// suspend it on one side, resume it on the other.
    #[command(subcommand)]
    Cutover(cutover::CutoverCommand),
    /// Replicate a key-value store (Consul KV, etcd) from A to B.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Print the rule tables the planner applies (normalisation, skipping, ordering, preflight, partial plans).
    Rules(RulesArgs),
    /// Print a shell completion script (bash, zsh, fish) on stdout.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write a manual page per command (abshift.1, abshift-migrate-plan.1, …) into DIR.
    Man {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}

/// Shells `abshift completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Read every object of A, compare with B, and write a reviewable plan. Never writes to either cluster.
    Plan(PlanArgs),
    /// Recreate the planned objects in B, in dependency order.
    #[command(
        mut_arg("from", |a| a.help("Context of the source cluster A (default: the plan's source context)")),
        mut_arg("to", |a| a.help("Context of the target cluster B (default: the plan's target context)"))
    )]
    Apply(ApplyArgs),
    /// Prove that B holds the plan's scope as A has it now. Exit 0: verified;
    /// 1: B differs; 3: A changed since the plan (objects new in A or gone).
    #[command(
        mut_arg("from", |a| a.help("Context of the source cluster A (default: the plan's source context)")),
        mut_arg("to", |a| a.help("Context of the target cluster B (default: the plan's target context)"))
    )]
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
        Command::Cutover(cmd) => commands::cutover::run(cmd).await,
        Command::Rules(args) => commands::rules::run(args),
        Command::Completions { shell } => commands::completions::completions(shell),
        Command::Man { dir } => commands::completions::man(&dir),
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
