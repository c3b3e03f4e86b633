//! Moves the live and pre-live load balancers from cluster A's ingress
//! instances to B's, health-gated and never dark: traits for the AWS APIs, a
//! state machine that holds the invariant, the S3 lock and audit trail.

pub mod aws;
pub mod error;
pub mod fence;
pub mod machine;
pub mod model;
pub mod names;
pub mod ops;
pub mod state;
pub mod tf;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod lock_scenarios;
#[cfg(test)]
mod scenarios;
