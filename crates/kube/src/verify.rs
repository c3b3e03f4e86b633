//! `migrate verify`: proves that B holds what the plan moved. A and B are read
//! again with the plan's own selection; every planned object must exist in B
//! with A's current normalised manifest contained in it (fields B's API server
//! defaulted are not differences) and, for objects abshift wrote, no field A
//! has dropped since. Objects new in A or gone from it within the plan's scope
//! fail it too, apart: the plan no longer describes A. Secrets are compared by
//! keyed digest, never by value.

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

/// The verdict, which the CLI turns into its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// B holds exactly the plan's scope as A has it now.
    Verified,
    /// Objects of the plan are missing in B or differ from A.
    Differs,
    /// B matches the plan, but A's scope changed since (objects new in A or
    /// gone from it): re-plan to move what changed.
    ScopeChanged,
}

impl VerifyReport {
    pub fn verdict(&self) -> Verdict {
        if !self.missing.is_empty() || !self.mismatched.is_empty() {
            Verdict::Differs
        } else if !self.new_in_source.is_empty() || !self.gone_from_source.is_empty() {
            Verdict::ScopeChanged
        } else {
            Verdict::Verified
        }
    }

    pub fn ok(&self) -> bool {
        self.verdict() == Verdict::Verified
    }
}

/// Re-reads both clusters with the plan's selection (`page_size` objects per
/// list page, `list_concurrency` lists in flight per cluster: `None` adapts)
/// and compares.
pub async fn verify(
    plan: &Plan,
    source: &Cluster,
    target: &Cluster,
    page_size: Option<u32>,
    list_concurrency: Option<std::num::NonZeroUsize>,
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
                    let mut problems = Vec::new();
                    let mut diff = String::new();
                    if let Some(b) = copies.get(&r.key()) {
                        let content_differs =
                            !abshift_core::diff::contains(&cur.manifest, &b.object);
                        if content_differs {
                            problems.push("B's copy differs from A".to_string());
                            diff = field_diff(&cur.manifest, &b.object);
                        }
                        if cur.secret_matches == Some(false) {
                            problems.push(
                                "the Secret's value in B differs from A's (compared by keyed digest)"
                                    .to_string(),
                            );
                        }
                    }
                    if !cur.removes.is_empty() {
                        problems.push(format!(
                            "B keeps fields A no longer sets: {}",
                            cur.removes.join(", ")
                        ));
                    }
                    if problems.is_empty() {
                        problems.push(
                            "A's set of fields is not the one abshift wrote to B (a field was dropped in A); apply a new plan"
                                .to_string(),
                        );
                    }
                    report.mismatched.push(Mismatch {
                        object: r,
                        problem: problems.join("; "),
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
