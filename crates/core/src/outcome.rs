//! What happened to each object when a plan was applied (or dry-run), and the
//! summary a run ends with: plain data shared by apply, the journal, the CLI
//! and the reports, so an outcome is one type from the write to the report.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::ObjectRef;

/// What `migrate apply` does with an object B holds that abshift did not create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    Skip,
    Overwrite,
    Fail,
}

impl OnConflict {
    pub const ALL: [OnConflict; 3] = [OnConflict::Skip, OnConflict::Overwrite, OnConflict::Fail];

    pub fn as_str(self) -> &'static str {
        match self {
            OnConflict::Skip => "skip",
            OnConflict::Overwrite => "overwrite",
            OnConflict::Fail => "fail",
        }
    }
}

impl fmt::Display for OnConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OnConflict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OnConflict::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown conflict policy '{s}' (skip, overwrite, fail)"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Skipped,
    Failed,
    /// Not attempted: something it depends on failed.
    Blocked,
    /// A Secret changed in A since the plan; applied only with --allow-drift.
    Drifted,
    /// Dry run: B's API server accepted it.
    Accepted,
    /// Dry run: cannot be checked before an earlier wave exists in B (its namespace, its CRD).
    Deferred,
}

impl Outcome {
    /// The word used in summaries, reports and the journal (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Blocked => "blocked",
            Outcome::Drifted => "drifted",
            Outcome::Accepted => "accepted",
            Outcome::Deferred => "deferred",
        }
    }

    /// Outcomes the journal records, so a re-run does not repeat them: only
    /// what B confirmed. A skip (`--on-conflict skip`) is decided again by
    /// each run, so a later `--on-conflict overwrite` still acts on it.
    pub fn journaled(self) -> bool {
        matches!(
            self,
            Outcome::Created | Outcome::Updated | Outcome::Unchanged
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectResult {
    pub object: ObjectRef,
    pub wave: usize,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Already done by an earlier run (from the journal).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplySummary {
    pub plan: String,
    pub target: String,
    pub dry_run: bool,
    pub counts: BTreeMap<Outcome, usize>,
    /// Objects an earlier run had already finished.
    pub resumed: usize,
    /// Write requests sent to B (not counting retries).
    pub writes: u64,
    pub retries: u64,
    pub seconds: f64,
    /// How many writes were in flight, and why it changed (`limit::Limiter`).
    #[serde(default)]
    pub concurrency: crate::limit::LimitTrace,
    /// Every object that did not simply succeed, with why.
    pub problems: Vec<ObjectResult>,
    /// Why the run stopped before the end (its journal could not be written):
    /// the objects after that point were not attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl ApplySummary {
    pub fn count(&self, o: Outcome) -> usize {
        self.counts.get(&o).copied().unwrap_or(0)
    }

    /// Exit status: success only when every object is in B (or accepted, in a dry run).
    pub fn succeeded(&self) -> bool {
        self.stopped.is_none()
            && [Outcome::Failed, Outcome::Blocked, Outcome::Drifted]
                .iter()
                .all(|o| self.count(*o) == 0)
    }
}
