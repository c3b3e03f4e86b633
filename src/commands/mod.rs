//! CLI glue, one file per command: turn flags into library calls and print
//! results. Errors get their context here (anyhow), nowhere deeper. `connect`
//! opens the clusters for the migrate commands.

pub mod apply;
pub mod completions;
mod connect;
pub mod cutover;
pub mod plan;
pub mod report;
pub mod rules;
pub mod verify;
