//! CLI glue for the migrate commands: turn flags into library calls and print results.

use std::process::ExitCode;

use crate::cli::{PlanArgs, RulesArgs};
use crate::error::NotYetAvailable;

pub async fn plan(_args: PlanArgs) -> anyhow::Result<ExitCode> {
    Err(NotYetAvailable("migrate plan").into())
}

pub fn rules(_args: RulesArgs) -> anyhow::Result<ExitCode> {
    Err(NotYetAvailable("rules").into())
}
