//! The pure core of abshift: what a migration plan is and every decision that
//! goes into one (what to skip, what to strip, in which order, what B must do,
//! what will hurt), plus rendering plans as reports. Plain data in, plain data
//! out: no network, no async runtime, no CLI, so each rule is unit-tested.

pub mod assemble;
pub mod convert;
pub mod diff;
pub mod fields;
pub mod gaps;
pub mod graph;
pub mod handover;
pub mod limit;
pub mod model;
pub mod normalize;
pub mod outcome;
pub mod plan;
pub mod podspec;
pub mod preflight;
pub mod report;
pub mod schedule;
pub mod select;
pub mod skip;
pub mod stacks;
pub mod text;
pub mod versions;
