//! Reads the load balancer names and the state bucket from `terraform output
//! -json`, so operators name load balancers by role (live, pre-live) and never
//! copy generated names by hand.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::error::ElbError;
use super::names::{
    TF_LIVE_LB_NAME, TF_LIVE_TARGET_GROUP_ARN, TF_PRELIVE_LB_NAME, TF_PRELIVE_TARGET_GROUP_ARN,
    TF_STATE_BUCKET,
};

/// The two long-lived load balancers of the VPC shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbRole {
    Live,
    PreLive,
}

impl LbRole {
    pub const ALL: [LbRole; 2] = [LbRole::Live, LbRole::PreLive];

    pub fn as_str(self) -> &'static str {
        match self {
            LbRole::Live => "live",
            LbRole::PreLive => "pre-live",
        }
    }

    /// Output names to try, most specific first.
    pub fn outputs(self) -> [&'static str; 2] {
        match self {
            LbRole::Live => [TF_LIVE_TARGET_GROUP_ARN, TF_LIVE_LB_NAME],
            LbRole::PreLive => [TF_PRELIVE_TARGET_GROUP_ARN, TF_PRELIVE_LB_NAME],
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TfOutputs {
    path: String,
    values: BTreeMap<String, Value>,
}

impl TfOutputs {
    pub fn load(path: &Path) -> Result<TfOutputs, ElbError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ElbError::Input(format!("cannot read --tf-output {}: {e}", path.display()))
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    pub fn parse(path: &str, text: &str) -> Result<TfOutputs, ElbError> {
        let values: BTreeMap<String, Value> = serde_json::from_str(text).map_err(|e| {
            ElbError::Input(format!(
                "--tf-output {path} is not the JSON of `terraform output -json`: {e}"
            ))
        })?;
        Ok(TfOutputs {
            path: path.to_string(),
            values,
        })
    }

    /// A string output: `{"value": "...", ...}` as Terraform writes it, or a
    /// bare string for hand-written files.
    pub fn get(&self, name: &str) -> Option<String> {
        let v = self.values.get(name)?;
        let v = v.get("value").unwrap_or(v);
        v.as_str().map(str::to_string).filter(|s| !s.is_empty())
    }

    pub fn lb(&self, role: LbRole) -> Result<String, ElbError> {
        let names = role.outputs();
        names.iter().find_map(|n| self.get(n)).ok_or_else(|| {
            ElbError::Input(format!(
                "--tf-output {} has no string output `{}` or `{}` for the {} load balancer",
                self.path,
                names[0],
                names[1],
                role.as_str()
            ))
        })
    }

    pub fn state_bucket(&self) -> Option<String> {
        self.get(TF_STATE_BUCKET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_target_group_arn_and_reads_terraform_shape() {
        let tf = TfOutputs::parse(
            "t.json",
            r#"{"live_lb_name":{"sensitive":false,"type":"string","value":"web"},
                "live_target_group_arn":{"value":"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/live/abc"},
                "prelive_lb_name":{"value":"pre"},
                "state_bucket":"bucket-1"}"#,
        )
        .unwrap();
        assert!(tf.lb(LbRole::Live).unwrap().contains(":targetgroup/live/"));
        assert_eq!(tf.lb(LbRole::PreLive).unwrap(), "pre");
        assert_eq!(tf.state_bucket().as_deref(), Some("bucket-1"));
    }

    #[test]
    fn missing_output_names_what_was_looked_for() {
        let tf = TfOutputs::parse("t.json", "{}").unwrap();
        let e = tf.lb(LbRole::PreLive).unwrap_err().to_string();
        assert!(e.contains("prelive_lb_name"), "{e}");
        assert!(TfOutputs::parse("t.json", "[").is_err());
    }
}
