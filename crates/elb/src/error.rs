//! The failures of the load balancer commands, as data: the CLI edge turns them
//! into one line, the state machine decides from them whether to retry
//! (`Transient`) or roll back (everything else).

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ElbError {
    #[error(
        "load balancer `{0}` not found (looked for a classic ELB, an ELBv2 target group and an ELBv2 load balancer of that name)"
    )]
    UnknownLoadBalancer(String),
    #[error(
        "ELBv2 load balancer `{name}` has {count} target groups; name the target group instead"
    )]
    AmbiguousLoadBalancer { name: String, count: usize },
    #[error(
        "target group `{name}` has target type `{target_type}`; only `instance` target groups can be switched"
    )]
    UnsupportedTargetType { name: String, target_type: String },
    #[error("no running EC2 instances match {filter}")]
    NoInstances { filter: String },
    #[error(
        "instance {instance} is in {instance_vpc}, but load balancer `{lb}` is in {lb_vpc}; refusing to register it"
    )]
    WrongVpc {
        instance: String,
        instance_vpc: String,
        lb: String,
        lb_vpc: String,
    },
    #[error(
        "no AWS credentials found for {action} (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on a role): {message}"
    )]
    NoCredentials {
        action: &'static str,
        message: String,
    },
    #[error(
        "AWS rejected the credentials on {action} (expired, wrong region/partition, or mistyped keys?): {message}"
    )]
    CredentialsRejected {
        action: &'static str,
        message: String,
    },
    #[error("access denied: the caller may not call {action} ({message})")]
    AccessDenied {
        action: &'static str,
        message: String,
    },
    #[error("{action} failed temporarily: {message}")]
    Transient {
        action: &'static str,
        message: String,
    },
    #[error("{action} failed: {message}")]
    Aws {
        action: &'static str,
        message: String,
    },
    #[error(
        "only {healthy} of the required {need} new member(s) became healthy within {}s", waited.as_secs()
    )]
    HealthTimeout {
        healthy: usize,
        need: usize,
        waited: Duration,
    },
    #[error(
        "new members stopped being healthy before the old ones were removed ({healthy} healthy, {need} required)"
    )]
    Flapped { healthy: usize, need: usize },
    #[error("removing {removing} would leave `{lb}` with no healthy member; not deregistering")]
    WouldGoDark { lb: String, removing: String },
    #[error("{} still draining after {}s", ids.join(", "), waited.as_secs())]
    DrainTimeout { ids: Vec<String>, waited: Duration },
    #[error("interrupted (Ctrl-C or SIGTERM)")]
    Cancelled,
    /// A smoke check did not pass while the new members served beside the
    /// old ones: the switch rolls back, none of the old members having left.
    #[error("{0}")]
    SmokeFailed(Box<SmokeFailure>),
    /// The switch is complete and recorded, but the old members could not be
    /// shown to be idle: they must not be scaled down yet.
    #[error(
        "switch of `{lb}` completed, but {ids} ({from}) cannot be called idle: {why}; do not scale {from} down yet: check `abshift elb status` and the load balancer's metrics, and wait for the draining delay to pass"
    )]
    BurnDownIncomplete {
        lb: String,
        from: String,
        ids: String,
        why: String,
    },
    #[error(
        "`{lb}` is locked by {owner} ({operation}) since {since}, {age_secs}s ago; {}",
        if *stale { "the lock is stale: pass --break-lock to take it over".to_string() }
        else { format!("a lock can be broken with --break-lock only once it is older than {stale_after_secs}s") }
    )]
    LockHeld {
        lb: String,
        owner: String,
        operation: String,
        since: String,
        age_secs: i64,
        stale: bool,
        stale_after_secs: u64,
    },
    #[error("{}", switch_failed(cause, rollback.as_deref()))]
    SwitchFailed {
        cause: Box<ElbError>,
        rollback: Option<Box<ElbError>>,
    },
    /// The lock was broken or replaced while this command held it: it stops
    /// before its next change and leaves the load balancer to `owner`.
    #[error("{}", lock_lost(lb, owner, *generation))]
    LockLost {
        lb: String,
        /// Who holds the lock now ([`NOBODY`] when the object is gone).
        owner: String,
        /// The generation of their lock, when there is one.
        generation: Option<u64>,
    },
    /// The load balancer is switched, but the bucket does not say so: the next
    /// switch will take this one for unfinished and ask for a rollback.
    #[error(
        "{operation} completed; {what} not written: {why}; the next switch will take the last one for unfinished (check `abshift elb status`)"
    )]
    RecordNotWritten {
        operation: &'static str,
        what: &'static str,
        why: Box<ElbError>,
    },
    #[error("no switch of `{0}` is recorded in the state bucket; nothing to roll back")]
    NothingRecorded(String),
    #[error("state object {key} is unreadable: {message}")]
    CorruptState { key: String, message: String },
    #[error("{0}")]
    Input(String),
}

/// Which smoke check failed where, how, and the last of what it printed.
#[derive(Debug, thiserror::Error)]
#[error(
    "smoke check {check} failed on `{lb}` ({status}) while {to}'s members served beside the old ones, none of which had been deregistered; last output: {tail}; fix what it found in {to} (its full output is in the audit record of this switch), then switch again"
)]
pub struct SmokeFailure {
    pub lb: String,
    pub to: String,
    pub check: String,
    pub status: String,
    pub tail: String,
}

impl ElbError {
    /// Errors worth another attempt: throttling and server-side failures.
    pub fn is_transient(&self) -> bool {
        matches!(self, ElbError::Transient { .. })
    }
}

/// `LockLost::owner` when the lock object is gone: whoever took it over has
/// released it again.
pub const NOBODY: &str = "nobody";

fn lock_lost(lb: &str, owner: &str, generation: Option<u64>) -> String {
    let (now, next) = match generation {
        _ if owner == NOBODY => (
            "it was taken over and has been released since (nobody holds it now)".to_string(),
            "then decide whether to run `abshift elb rollback` or to switch again".to_string(),
        ),
        Some(g) => (
            format!("{owner} holds it now (lock generation {g})"),
            format!(
                "and agree with {owner} on who finishes before running anything against `{lb}`"
            ),
        ),
        None => (
            format!("{owner} holds it now"),
            "and agree with whoever holds it on who finishes".to_string(),
        ),
    };
    format!(
        "lost the lock of `{lb}` while this command held it: {now}; this command stopped before its next change to `{lb}` and did not roll back (the load balancer is no longer its to change): check `abshift elb status` for its membership and the last switch, {next}"
    )
}

fn switch_failed(cause: &ElbError, rollback: Option<&ElbError>) -> String {
    match rollback {
        None => format!("switch failed: {cause}; rolled back to the recorded membership"),
        Some(e) => format!(
            "switch failed: {cause}; ROLLBACK INCOMPLETE: {e}; the load balancer may hold old and new members: fix the cause, then run `abshift elb rollback`"
        ),
    }
}
