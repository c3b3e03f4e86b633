//! abshift: move a Kubernetes estate from cluster A to cluster B, keep stateful
//! stores replicated during the cutover, and switch the load balancers.
//!
//! The planner core (`normalize`, `skip`, `graph`, `diff`, `plan`) is pure
//! functions over plain data; cluster access sits in `cluster` and `discovery`.

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod diff;
pub mod discovery;
pub mod elb;
pub mod error;
pub mod graph;
pub mod journal;
pub mod logging;
pub mod model;
pub mod normalize;
pub mod plan;
pub mod planner;
pub mod podspec;
pub mod preflight;
pub mod report;
pub mod select;
pub mod skip;
pub mod stacks;
pub mod sync;
pub mod verify;
