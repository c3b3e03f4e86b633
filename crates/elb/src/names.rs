//! Every externally visible name abshift's load balancer commands agree on with
//! Terraform, EC2 tags and the S3 state bucket. Kept in one place so that a drift
//! test (or the Terraform module) can import them instead of copying strings.

/// `terraform output` holding the live load balancer: a classic ELB name, or an
/// ELBv2 target group name or ARN.
pub const TF_LIVE_LB_NAME: &str = "live_lb_name";
/// `terraform output` holding the pre-live load balancer (same value kinds as live).
pub const TF_PRELIVE_LB_NAME: &str = "prelive_lb_name";
/// Preferred over `live_lb_name` when present: the live ELBv2 target group ARN.
pub const TF_LIVE_TARGET_GROUP_ARN: &str = "live_target_group_arn";
/// Preferred over `prelive_lb_name` when present: the pre-live target group ARN.
pub const TF_PRELIVE_TARGET_GROUP_ARN: &str = "prelive_target_group_arn";
/// `terraform output` naming the S3 bucket that holds lock, state and audit.
pub const TF_STATE_BUCKET: &str = "state_bucket";

/// EC2 tag whose value is the cluster an ingress instance belongs to.
pub const TAG_CLUSTER: &str = "abshift:cluster";
/// EC2 tag whose value says what an instance does in its cluster.
pub const TAG_ROLE: &str = "abshift:role";
/// Value of [`TAG_ROLE`] on the instances that load balancers send traffic to.
pub const ROLE_INGRESS: &str = "ingress";

/// Environment variable that can name the state bucket instead of `--state-bucket`.
pub const ENV_STATE_BUCKET: &str = "ABSHIFT_STATE_BUCKET";

/// Prefix of every object abshift writes to the state bucket.
pub(crate) const S3_PREFIX: &str = "abshift/elb";
/// Object (under the load balancer's folder) whose existence is the lock.
pub(crate) const S3_LOCK_OBJECT: &str = "lock.json";
/// Object (under the load balancer's folder) recording the last switch.
pub(crate) const S3_STATE_OBJECT: &str = "state.json";
/// Folder (under the load balancer's folder) with one object per audit record.
pub(crate) const S3_AUDIT_DIR: &str = "audit";

/// Folder in the state bucket for one load balancer: its kind and short name,
/// so that a classic ELB and a target group of the same name never share a lock.
pub(crate) fn lb_folder(kind: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{S3_PREFIX}/{kind}/{clean}")
}

/// Environment of every smoke check (`--smoke-cmd`; `$NAME` in a `--smoke-url`):
/// the load balancer's name, as abshift resolved it.
pub const ENV_SMOKE_LB_NAME: &str = "ABSHIFT_LB_NAME";
/// The load balancer's DNS name (for a target group: that of its load balancer).
pub const ENV_SMOKE_LB_DNS: &str = "ABSHIFT_LB_DNS";
/// `live` or `pre-live` when the load balancer was named by `--lb`; empty for `--lb-name`.
pub const ENV_SMOKE_LB_ROLE: &str = "ABSHIFT_LB_ROLE";
/// The cluster the switch moves away from (empty when the load balancer had no old member).
pub const ENV_SMOKE_FROM_CLUSTER: &str = "ABSHIFT_FROM_CLUSTER";
/// The cluster the switch moves to.
pub const ENV_SMOKE_TO_CLUSTER: &str = "ABSHIFT_TO_CLUSTER";
