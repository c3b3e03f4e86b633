//! `migrate verify`: proves that B holds what the plan moved. A and B are read
//! again with the plan's own selection; every planned object must exist in B
//! with A's current normalised manifest contained in it (fields B's API server
//! defaulted are not differences). Secrets are compared by digest, never by value.

use serde::Serialize;

use crate::apply::ApplyError;
use crate::cluster::Cluster;
use crate::planner::{self, PlanError, PlanRequest, TargetCopies};
use abshift_core::diff::{Action, field_diff};
use abshift_core::model::ObjectRef;
use abshift_core::plan::Plan;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Clusters(#[from] ApplyError),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mismatch {
    pub object: ObjectRef,
    pub problem: String,
    /// Unified diff of A's fields against B's values for them (empty for Secrets).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diff: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub plan: String,
    pub matched: usize,
    pub missing: Vec<ObjectRef>,
    pub mismatched: Vec<Mismatch>,
    /// Created in A after the plan was made: not migrated yet.
    pub new_in_source: Vec<ObjectRef>,
    /// In the plan, but no longer in A (deleted, or now skipped).
    pub gone_from_source: Vec<ObjectRef>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.missing.is_empty() && self.mismatched.is_empty()
    }
}

/// Re-reads both clusters with the plan's selection (`page_size` objects per
/// list page, `list_concurrency` lists in flight per cluster) and compares.
pub async fn verify(
    plan: &Plan,
    source: &Cluster,
    target: &Cluster,
    page_size: u32,
    list_concurrency: std::num::NonZeroUsize,
) -> Result<VerifyReport, VerifyError> {
    crate::apply::check_clusters(plan, source, target).await?;
    let req = PlanRequest {
        selection: plan.selection.clone(),
        stack: None,
        page_size,
        list_concurrency,
    };
    let (fresh, copies) =
        planner::build_plan_with_targets(source, target, &req, &planner::NoProgress).await?;
    Ok(compare(plan, &fresh, &copies))
}

/// Pure comparison of the applied plan with a fresh plan of the same selection.
pub fn compare(plan: &Plan, fresh: &Plan, copies: &TargetCopies) -> VerifyReport {
    use std::collections::HashMap;
    let now: HashMap<_, _> = fresh
        .objects
        .iter()
        .map(|o| (o.object_ref().key(), o))
        .collect();
    let planned: std::collections::HashSet<_> =
        plan.objects.iter().map(|o| o.object_ref().key()).collect();
    let mut report = VerifyReport {
        plan: plan.id.clone(),
        ..Default::default()
    };
    for o in &plan.objects {
        let r = o.object_ref();
        match now.get(&r.key()) {
            None => report.gone_from_source.push(r),
            Some(cur) => match cur.action {
                Action::Unchanged => report.matched += 1,
                Action::Create => report.missing.push(r),
                Action::Update | Action::Conflict => {
                    let (problem, diff) = match copies.get(&r.key()) {
                        Some((b, b_digest))
                            if cur.secret_digest.is_some()
                                && cur.secret_digest != *b_digest
                                && abshift_core::diff::contains(&cur.manifest, b) =>
                        {
                            (
                                "the Secret's value in B differs from A's (compared by digest)"
                                    .to_string(),
                                String::new(),
                            )
                        }
                        Some((b, _)) => (
                            "B's copy differs from A".to_string(),
                            field_diff(&cur.manifest, b),
                        ),
                        None => ("B's copy differs from A".to_string(), String::new()),
                    };
                    report.mismatched.push(Mismatch {
                        object: r,
                        problem,
                        diff,
                    });
                }
            },
        }
    }
    report.new_in_source = fresh
        .objects
        .iter()
        .map(|o| o.object_ref())
        .filter(|r| !planned.contains(&r.key()))
        .collect();
    report
}
