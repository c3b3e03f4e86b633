//! The command tree and its dispatch. Flags follow kubectl (`--context`-style
//! cluster names, `--kubeconfig`, `-n`, `-l`, `-o`) and AWS conventions.
//! This module only translates flags into calls on the library modules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use abshift_core::outcome::OnConflict;
use abshift_core::report::Format as ReportFormat;
use abshift_elb::tf::LbRole;

pub mod elb;
pub mod sync;

/// A library enum that names its own values, so that the libraries need no
/// clap and each concept keeps one type from the flag to the code using it.
pub trait Named: Copy + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
}

impl Named for OnConflict {
    const ALL: &'static [Self] = &OnConflict::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for ReportFormat {
    const ALL: &'static [Self] = &ReportFormat::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for LbRole {
    const ALL: &'static [Self] = &LbRole::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

/// Parses one of `T::ALL` by name; clap lists the names in help and errors.
pub fn named<T: Named>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::ALL.iter().map(|v| v.name())).map(|s: String| {
        *T::ALL
            .iter()
            .find(|v| v.name() == s)
            .expect("clap only passes listed names")
    })
}

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
    Elb(Box<crate::cli::elb::ElbCommand>),
    /// Replicate a key-value store (Consul KV, etcd) from A to B.
    #[command(subcommand)]
    Sync(crate::cli::sync::SyncCommand),
    /// Print the normalisation and skip rules the planner applies.
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

/// Where the two clusters are found.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Context of the source cluster A (default: the current context).
    #[arg(long, value_name = "CONTEXT")]
    pub from: Option<String>,
    /// Context of the target cluster B.
    #[arg(long, value_name = "CONTEXT")]
    pub to: Option<String>,
    /// Kubeconfig holding the source context, when A and B live in different files.
    #[arg(long, value_name = "PATH")]
    pub from_kubeconfig: Option<PathBuf>,
    /// Kubeconfig holding the target context, when A and B live in different files.
    #[arg(long, value_name = "PATH")]
    pub to_kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub clusters: ClusterArgs,
    /// Only these namespaces (repeatable, or comma separated).
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Leave these namespaces out (repeatable). kube-system, kube-public and kube-node-lease are always left out unless named with -n.
    #[arg(long = "exclude-namespace", value_name = "NS", value_delimiter = ',')]
    pub exclude_namespaces: Vec<String>,
    /// Only objects with these labels (kubectl syntax: k=v, k!=v, k in (a,b), k notin (a,b), k, !k).
    /// Cluster-scoped objects the selected ones need are pulled in regardless.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Only this application stack: the namespaces labelled abshift.io/stack=NAME in A, or
    /// the stack of that name in the stacks file.
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// Stack definitions (see docs/stacks.md). Default: plans/stacks.yaml when it exists.
    #[arg(long, value_name = "PATH")]
    pub stacks_file: Option<PathBuf>,
    /// Also write a report for reviewers; format from the extension (.md, .html, .json, .dot, .svg).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Only these kinds (Kind, Kind.group or plural resource name; comma separated or repeated).
    #[arg(long = "include-kinds", value_name = "KINDS", value_delimiter = ',')]
    pub include_kinds: Vec<String>,
    /// Leave these kinds out (same syntax as --include-kinds).
    #[arg(long = "exclude-kinds", value_name = "KINDS", value_delimiter = ',')]
    pub exclude_kinds: Vec<String>,
    /// Write the plan here (default: stdout). Written atomically: nothing is left on error.
    #[arg(short = 'o', long = "output", value_name = "PLAN.json")]
    pub output: Option<PathBuf>,
    /// Objects per list page.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub page_size: u32,
    /// Lists in flight at once, per cluster.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub list_concurrency: usize,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan written by `abshift migrate plan`.
    pub plan: PathBuf,
    #[command(flatten)]
    pub clusters: ClusterArgs,
    /// Server-side dry run of every object against B; writes nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Writes in flight at once within a wave.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// What to do with objects in B that abshift did not create.
    #[arg(long, value_parser = named::<OnConflict>(), default_value = "fail")]
    pub on_conflict: OnConflict,
    /// Apply Secrets whose value changed in A since the plan was made.
    #[arg(long)]
    pub allow_drift: bool,
    /// With --dry-run: write the plan's report with B's dry-run outcome per object
    /// (format from the extension: .md, .html, .json).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Summary format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The plan that was applied.
    pub plan: PathBuf,
    #[command(flatten)]
    pub clusters: ClusterArgs,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The plan to render.
    pub plan: PathBuf,
    /// Report format (default: from the output file's extension, else md).
    #[arg(long, value_parser = named::<ReportFormat>())]
    pub format: Option<ReportFormat>,
    /// Write the report here (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Runs the parsed command and returns the process exit code.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate(m) => match *m {
            MigrateCommand::Plan(args) => crate::commands::plan(args).await,
            MigrateCommand::Apply(args) => crate::commands::apply(args).await,
            MigrateCommand::Verify(args) => crate::commands::verify(args).await,
        },
        Command::Report(args) => crate::commands::report(args),
        Command::Elb(cmd) => crate::cli::elb::run(*cmd).await,
        Command::Sync(cmd) => crate::cli::sync::run(cmd).await,
        Command::Rules(args) => crate::commands::rules(args),
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
