//! Thin clients over the EC2, ELB, ELBv2, S3 and CloudWatch SDKs implementing
//! the traits of `model.rs` and `burn.rs`: `classic` ELBs and `target_group`s
//! behind `lb`, `ec2` instances, the `s3` state store, the `metrics` of the
//! burn-down; `errors` turns SDK errors into `ElbError`.

mod classic;
mod client;
mod ec2;
mod errors;
mod lb;
mod metrics;
mod s3;
mod target_group;

pub use client::Aws;
pub use metrics::CloudWatchTraffic;
pub use s3::S3Store;

#[cfg(test)]
pub(crate) use classic::classic_health;
