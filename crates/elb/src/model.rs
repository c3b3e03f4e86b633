//! The vocabulary shared by the AWS client, the state machine and the fakes:
//! load balancers, member health, instances, and the three small traits the
//! state machine is written against so that it can be tested without AWS.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ElbError;

/// Classic ELBs and ELBv2 target groups have different APIs and health words;
/// everything above `aws/` only needs to know which one it talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LbKind {
    Classic,
    TargetGroup,
}

impl LbKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LbKind::Classic => "classic",
            LbKind::TargetGroup => "target-group",
        }
    }
}

impl fmt::Display for LbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A load balancer resolved from what the operator typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbRef {
    pub kind: LbKind,
    /// Classic ELB name or target group name: what people recognise.
    pub name: String,
    /// What the API calls take: the classic ELB name or the target group ARN.
    pub id: String,
    pub vpc_id: Option<String>,
    /// Connection draining / deregistration delay configured on the load balancer.
    #[serde(skip)]
    pub drain_delay: Option<Duration>,
}

impl LbRef {
    pub(crate) fn folder(&self) -> String {
        super::names::lb_folder(self.kind.as_str(), &self.name)
    }
}

/// One health vocabulary for both kinds. Only `Healthy` serves traffic by our
/// definition; everything else counts as not healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Healthy,
    Initial,
    Unhealthy,
    Unused,
    Unavailable,
    /// Deregistered but still finishing in-flight connections: not a member any more.
    Draining,
    Unknown,
}

impl Health {
    pub fn as_str(&self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Initial => "initial",
            Health::Unhealthy => "unhealthy",
            Health::Unused => "unused",
            Health::Unavailable => "unavailable",
            Health::Draining => "draining",
            Health::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberHealth {
    pub id: String,
    pub health: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The registered members (draining ones excluded), sorted.
pub(crate) fn members(health: &[MemberHealth]) -> Vec<String> {
    let mut out: Vec<String> = health
        .iter()
        .filter(|m| m.health != Health::Draining)
        .map(|m| m.id.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// How many of `ids` (or of all members when `ids` is None) are healthy.
pub(crate) fn healthy_count(health: &[MemberHealth], ids: Option<&[String]>) -> usize {
    health
        .iter()
        .filter(|m| m.health == Health::Healthy)
        .filter(|m| ids.is_none_or(|ids| ids.contains(&m.id)))
        .count()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub id: String,
    pub vpc_id: Option<String>,
    pub state: String,
    pub tags: BTreeMap<String, String>,
}

/// An object read back from the state store, with the store's own timestamp
/// (lock age is judged by the server's clock when it gives one).
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub last_modified: Option<DateTime<Utc>>,
    /// The version tag a conditional replace (`If-Match`) is made against;
    /// `None` from a store that does not give one.
    pub etag: Option<String>,
}

/// Membership and health of load balancers. Implemented over the classic ELB and
/// ELBv2 APIs in `aws/` and by scripted fakes in the tests.
#[allow(async_fn_in_trait)]
pub trait LoadBalancerApi {
    async fn resolve(&self, name: &str) -> Result<LbRef, ElbError>;
    /// Every registered member plus those still draining.
    async fn health(&self, lb: &LbRef) -> Result<Vec<MemberHealth>, ElbError>;
    async fn register(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError>;
    async fn deregister(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError>;
}

/// EC2 instance look-ups.
#[allow(async_fn_in_trait)]
pub trait InstanceDirectory {
    /// Running instances carrying every one of `tags`, all pages.
    async fn find_running(&self, tags: &[(String, String)]) -> Result<Vec<InstanceInfo>, ElbError>;
    /// Whatever EC2 still knows about `ids`; unknown ids are left out, not an error.
    async fn describe(&self, ids: &[String]) -> Result<Vec<InstanceInfo>, ElbError>;
}

/// A key-value object store with create-only writes (S3 in production).
#[allow(async_fn_in_trait)]
pub trait StateStore {
    /// Creates `key` only if it does not exist; `Ok(false)` when it does.
    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool, ElbError>;
    /// Replaces `key` only if it still has the version `etag` (S3 `If-Match`);
    /// `Ok(false)` when it changed or is gone. This is what makes taking over
    /// a stale lock and renewing a held one safe against a concurrent writer.
    async fn put_if_match(&self, key: &str, body: Vec<u8>, etag: &str) -> Result<bool, ElbError>;
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ElbError>;
    async fn get(&self, key: &str) -> Result<Option<StoredObject>, ElbError>;
    async fn delete(&self, key: &str) -> Result<(), ElbError>;
}
