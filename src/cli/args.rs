//! The flags of `migrate plan|apply|verify`, `report` and `rules`. Numbers are
//! checked here, once, as they are parsed (a concurrency of 0 is a usage
//! error), so the commands pass them on unchanged.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::builder::{RangedU64ValueParser, TypedValueParser};
use clap::{Args, ValueEnum};

use super::named::named;
use abshift_core::outcome::OnConflict;
use abshift_core::report::Format as ReportFormat;

/// Most requests abshift keeps in flight against one cluster.
pub const MAX_IN_FLIGHT: u64 = 512;

/// Largest list page asked for: far above what servers are tuned for (500),
/// low enough that one response cannot hold a whole large estate.
pub const MAX_PAGE_SIZE: i64 = 100_000;

/// Parses a count of requests in flight: 1 to [`MAX_IN_FLIGHT`].
fn in_flight() -> impl TypedValueParser<Value = NonZeroUsize> {
    RangedU64ValueParser::<usize>::new()
        .range(1..=MAX_IN_FLIGHT)
        .try_map(NonZeroUsize::try_from)
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
    /// Context of the target cluster B (required).
    #[arg(long, value_name = "CONTEXT")]
    pub to: Option<String>,
    /// Kubeconfig holding the source context, when A and B live in different files.
    #[arg(long, value_name = "PATH")]
    pub from_kubeconfig: Option<PathBuf>,
    /// Kubeconfig holding the target context, when A and B live in different files.
    #[arg(long, value_name = "PATH")]
    pub to_kubeconfig: Option<PathBuf>,
    /// AWS profile for A's exec credential plugin (EKS: `aws eks get-token`),
    /// when A sits in another AWS account than B.
    #[arg(long, value_name = "PROFILE")]
    pub from_aws_profile: Option<String>,
    /// AWS profile for B's exec credential plugin.
    #[arg(long, value_name = "PROFILE")]
    pub to_aws_profile: Option<String>,
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
    /// Plan even though reads of these failed (a 403, a broken APIService):
    /// an API group (`example.com`, `core`), a group version, or a resource
    /// (`configmaps`, `widgets.example.com`). Without it any failed read stops
    /// the plan; with it the plan records what it left out. Repeatable.
    #[arg(
        long = "skip-unavailable",
        value_name = "GROUP|RESOURCE",
        value_delimiter = ','
    )]
    pub skip_unavailable: Vec<String>,
    /// Write the plan here (default: stdout). Written atomically: nothing is left on error.
    #[arg(short = 'o', long = "output", value_name = "PLAN.json")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub listing: ListArgs,
}

/// How the clusters are listed (plan, and verify, which plans again).
#[derive(Debug, Clone, Copy, Args)]
pub struct ListArgs {
    /// Objects per list page [default: adaptive, from 500 up to 5000 while
    /// pages come back full, fast and under 8 MiB].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_PAGE_SIZE))]
    pub page_size: Option<u32>,
    /// Lists in flight at once, per cluster [default: adaptive, from 8 up to
    /// 32 while throughput rises, backing off on 429s and 5xx].
    #[arg(long, value_name = "N", value_parser = in_flight())]
    pub list_concurrency: Option<NonZeroUsize>,
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
    /// Writes in flight at once, fixed [default: adaptive, from 16 up to 128
    /// while throughput rises, backing off on 429s (after Retry-After), 5xx
    /// and falling throughput; -v shows each change].
    #[arg(long, value_name = "N", value_parser = in_flight())]
    pub concurrency: Option<NonZeroUsize>,
    /// What to do with objects in B that abshift did not create.
    #[arg(long, value_parser = named::<OnConflict>(), default_value = "fail")]
    pub on_conflict: OnConflict,
    /// Apply Secrets whose value changed in A since the plan was made.
    #[arg(long)]
    pub allow_drift: bool,
    /// Create (or update) CronJobs suspended in B, recording A's value on each
    /// (annotation abshift.io/handover) for `abshift cutover resume`.
    #[arg(long)]
    pub suspend_cronjobs: bool,
    /// Create the plan's `singleton-runs-twice` Deployments with 0 replicas,
    /// recording A's count for `abshift cutover resume`.
    #[arg(long)]
    pub suspend_singletons: bool,
    /// With --dry-run: write the plan's report with B's dry-run outcome per object
    /// (format from the extension: .md, .html, .json).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Summary format: text (a table on stderr) or json/yaml (on stdout).
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
    /// Report format on stdout: text (what differs, then a verdict line), json or yaml.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub listing: ListArgs,
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
