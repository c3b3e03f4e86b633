//! Moves the live and pre-live load balancers from cluster A's ingress
//! instances to B's, health-gated and never dark: traits for the AWS APIs, a
//! state machine that holds the invariant (with its smoke gate and the
//! burn-down wait), the S3 lock and audit trail.

pub mod aws;
pub mod burn;
pub mod error;
pub mod fence;
pub mod machine;
pub mod model;
pub mod names;
pub mod ops;
pub mod smoke;
pub mod state;
pub mod tf;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod lock_scenarios;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod smoke_scenarios;
