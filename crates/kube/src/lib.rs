//! The Kubernetes edge of abshift: connections (the source is read-only by
//! construction), discovery, paginated listing, the plan's fetch step, apply
//! with its journal, verify, and the hand-over of singleton work (`cutover`).
//! Decisions are delegated to `abshift_core`.

pub mod adaptive;
pub mod apply;
pub mod cluster;
pub mod discovery;
pub mod files;
pub mod handover;
pub mod journal;
mod kube_error;
pub mod planner;
pub mod verify;
