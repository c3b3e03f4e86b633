//! Key-value store replication from A to B (Consul KV, etcd).
//! Not built yet: the command tree is here so the CLI is complete.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::error::NotYetAvailable;

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Replicate a Consul KV prefix from A to B.
    Consul(PlaceholderArgs),
    /// Replicate an etcd v3 prefix from A to B.
    Etcd(PlaceholderArgs),
}

#[derive(Debug, Args)]
pub struct PlaceholderArgs {}

pub async fn run(cmd: SyncCommand) -> anyhow::Result<ExitCode> {
    let name = match cmd {
        SyncCommand::Consul(_) => "sync consul",
        SyncCommand::Etcd(_) => "sync etcd",
    };
    Err(NotYetAvailable(name).into())
}
