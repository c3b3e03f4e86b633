//! Connections for the migrate commands: A is always opened read-only, and
//! naming one cluster as both source and target is a usage error, caught before
//! anything is read.

use crate::cli::args::ClusterArgs;
use crate::error::UsageError;
use abshift_core::plan::Plan;
use abshift_kube::cluster::{Access, Cluster};

/// Connects to A (always read-only) and B, refusing the same context twice.
pub async fn connect_pair(
    c: &ClusterArgs,
    target_access: Access,
) -> anyhow::Result<(Cluster, Cluster)> {
    let to = c
        .to
        .as_deref()
        .ok_or_else(|| UsageError("--to CONTEXT is required: name the target cluster B".into()))?;
    let from_kc = c.from_kubeconfig.as_ref().or(c.kubeconfig.as_ref());
    let to_kc = c.to_kubeconfig.as_ref().or(c.kubeconfig.as_ref());
    if c.from.as_deref() == Some(to) && from_kc == to_kc {
        return Err(UsageError(format!("--from and --to both name context '{to}'; the source and target must be different clusters")).into());
    }
    let source = Cluster::connect_with(
        from_kc,
        c.from.as_deref(),
        Access::ReadOnly,
        c.from_aws_profile.as_deref(),
    )
    .await?;
    if source.context == to && from_kc == to_kc {
        return Err(UsageError(format!(
            "--to '{to}' is the current context, which is also the source; pass --from explicitly"
        ))
        .into());
    }
    let target =
        Cluster::connect_with(to_kc, Some(to), target_access, c.to_aws_profile.as_deref()).await?;
    Ok((source, target))
}

/// Connects to the plan's clusters: the contexts named on the command line, or
/// those recorded in the plan. The source is always read-only.
pub async fn connect_for_plan(
    c: &ClusterArgs,
    plan: &Plan,
    target_access: Access,
) -> anyhow::Result<(Cluster, Cluster)> {
    let from = c
        .from
        .clone()
        .unwrap_or_else(|| plan.source.context.clone());
    let to = c.to.clone().unwrap_or_else(|| plan.target.context.clone());
    let from_kc = c.from_kubeconfig.as_ref().or(c.kubeconfig.as_ref());
    let to_kc = c.to_kubeconfig.as_ref().or(c.kubeconfig.as_ref());
    if from == to && from_kc == to_kc {
        return Err(UsageError(format!("source and target both name context '{to}'; the source and target must be different clusters")).into());
    }
    let source = Cluster::connect_with(
        from_kc,
        Some(&from),
        Access::ReadOnly,
        c.from_aws_profile.as_deref(),
    )
    .await?;
    let target =
        Cluster::connect_with(to_kc, Some(&to), target_access, c.to_aws_profile.as_deref()).await?;
    Ok((source, target))
}
