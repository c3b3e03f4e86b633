//! Load balancer switching between cluster A's and B's ingress instances.
//! Not built yet: the command tree is here so the CLI is complete.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::error::NotYetAvailable;

#[derive(Debug, Subcommand)]
pub enum ElbCommand {
    /// Show each load balancer's members grouped by cluster, with health.
    Status(PlaceholderArgs),
    /// Move a load balancer from A's ingress instances to B's, health-gated.
    Switch(PlaceholderArgs),
    /// Restore the membership recorded by the last switch.
    Rollback(PlaceholderArgs),
}

#[derive(Debug, Args)]
pub struct PlaceholderArgs {}

pub async fn run(cmd: ElbCommand) -> anyhow::Result<ExitCode> {
    let name = match cmd {
        ElbCommand::Status(_) => "elb status",
        ElbCommand::Switch(_) => "elb switch",
        ElbCommand::Rollback(_) => "elb rollback",
    };
    Err(NotYetAvailable(name).into())
}
