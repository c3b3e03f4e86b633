//! The flags of `abshift cutover suspend|resume`: which cluster (always named:
//! these commands write, to A or to B), which objects (namespaces, a label
//! selector, kinds, or a plan's findings), dry run and output format.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::args::OutputFormat;

#[derive(Debug, Subcommand)]
pub enum CutoverCommand {
    /// Stop work that must run in one cluster only: suspend CronJobs and scale
    /// singleton workloads to 0, recording each previous value on the object.
    Suspend(HandoverArgs),
    /// Restore exactly what `cutover suspend` (or `migrate apply
    /// --suspend-cronjobs/--suspend-singletons`) recorded, and drop the record.
    Resume(HandoverArgs),
}

#[derive(Debug, Args)]
pub struct HandoverArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Context of the cluster to change (required, never the current context
    /// by default: these commands write, to A or to B).
    #[arg(long, value_name = "CONTEXT")]
    pub context: String,
    /// Only these namespaces (repeatable, or comma separated; default: all).
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Only objects with these labels (kubectl syntax).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Kinds `suspend` acts on: cronjobs, deployments, statefulsets (comma
    /// separated). `resume` restores every kind that carries a record.
    #[arg(
        long,
        value_name = "KINDS",
        value_delimiter = ',',
        default_value = "cronjobs"
    )]
    pub kinds: Vec<String>,
    /// Only the objects of this plan's `cronjob-runs-twice` and
    /// `singleton-runs-twice` findings (whatever --kinds says).
    #[arg(long, value_name = "PLAN.json")]
    pub plan: Option<PathBuf>,
    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// What changed: text (a line per object, counts on stderr), json or yaml.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}
