//! The EC2 instance directory: running instances by tags (the ingress nodes of
//! a cluster) and instances by id, paged explicitly and tolerant of ids EC2 has
//! forgotten.

use std::collections::BTreeMap;

use super::client::Aws;
use super::errors::classify;
use crate::error::ElbError;
use crate::model::{InstanceDirectory, InstanceInfo};

/// Explicit page size, so that paging is always exercised the same way (AWS
/// allows 5..=1000 with filters).
const EC2_PAGE_SIZE: i32 = 100;

fn instance_info(i: &aws_sdk_ec2::types::Instance) -> Option<InstanceInfo> {
    Some(InstanceInfo {
        id: i.instance_id()?.to_string(),
        vpc_id: i.vpc_id().map(str::to_string),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        tags: i
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect::<BTreeMap<_, _>>(),
    })
}

impl Aws {
    async fn describe_instances(
        &self,
        filters: Vec<aws_sdk_ec2::types::Filter>,
    ) -> Result<Vec<InstanceInfo>, ElbError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .ec2
                .describe_instances()
                .set_filters(Some(filters.clone()))
                .max_results(EC2_PAGE_SIZE)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| classify("ec2:DescribeInstances", e))?;
            for r in page.reservations() {
                out.extend(r.instances().iter().filter_map(instance_info));
            }
            token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }
}

impl InstanceDirectory for Aws {
    async fn find_running(&self, tags: &[(String, String)]) -> Result<Vec<InstanceInfo>, ElbError> {
        let mut filters: Vec<aws_sdk_ec2::types::Filter> = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_ec2::types::Filter::builder()
                    .name(format!("tag:{k}"))
                    .values(v)
                    .build()
            })
            .collect();
        filters.push(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        );
        let found = self.describe_instances(filters).await?;
        // Belt and braces: the filter should already have done this.
        Ok(found.into_iter().filter(|i| i.state == "running").collect())
    }

    async fn describe(&self, ids: &[String]) -> Result<Vec<InstanceInfo>, ElbError> {
        let mut out = Vec::new();
        // A filter (unlike InstanceIds) tolerates ids EC2 no longer knows.
        for chunk in ids.chunks(200) {
            let filter = aws_sdk_ec2::types::Filter::builder()
                .name("instance-id")
                .set_values(Some(chunk.to_vec()))
                .build();
            out.extend(self.describe_instances(vec![filter]).await?);
        }
        Ok(out)
    }
}
