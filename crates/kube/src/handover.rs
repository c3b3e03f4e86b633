//! `abshift cutover suspend|resume`: hands work that must run in exactly one
//! cluster (CronJobs, singleton workloads) from A to B. Finds the objects in
//! one cluster, and patches each with the change `abshift_core::handover`
//! computes, guarded by its resourceVersion; a race re-reads and retries.

use std::collections::HashSet;

use http::Method;
use serde::Serialize;
use serde_json::Value;

use crate::cluster::{Cluster, ClusterError};
use abshift_core::handover::{self, HANDOVER_KINDS, HandoverKind};
use abshift_core::model::{GroupKind, ObjectKey, ObjectRef, ResourceType, str_at};

/// The field manager of hand-over changes.
pub const CUTOVER_MANAGER: &str = "abshift-cutover";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Suspend,
    Resume,
}

/// What to hand over, in one cluster.
#[derive(Debug, Clone, Default)]
pub struct HandoverRequest {
    /// Namespaces to look in; empty means all.
    pub namespaces: Vec<String>,
    /// Label selector (kubectl syntax), passed to the server.
    pub selector: Option<String>,
    /// Kinds to suspend (resume acts on every kind that carries a record).
    pub kinds: Vec<GroupKind>,
    /// Only these objects (from a plan's findings), when set.
    pub only: Option<HashSet<ObjectKey>>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoverOutcome {
    /// Changed (or, in a dry run, would be).
    Changed,
    /// Nothing to do: already handed over (suspend) or carries no record (resume).
    Unchanged,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoverResult {
    pub object: ObjectRef,
    pub field: String,
    pub from: Value,
    pub to: Value,
    pub outcome: HandoverOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Suspends or resumes the selected objects of `cluster`; one result per
/// object it looked at and could act on. A failed write is a `Failed` result,
/// not an error: the others still happen, and the caller's exit code says so.
pub async fn run(
    cluster: &Cluster,
    direction: Direction,
    req: &HandoverRequest,
) -> Result<Vec<HandoverResult>, HandoverError> {
    let catalog = cluster.discover().await?;
    let mut results = Vec::new();
    for kind in HANDOVER_KINDS {
        let gk = GroupKind::new(kind.group, kind.kind);
        let wanted = match direction {
            Direction::Suspend => {
                req.kinds.contains(&gk)
                    || req
                        .only
                        .as_ref()
                        .is_some_and(|o| o.iter().any(|k| k.gk == gk))
            }
            Direction::Resume => true,
        };
        if !wanted {
            continue;
        }
        let Some(rt) = served(&catalog, kind) else {
            continue;
        };
        let scopes: Vec<Option<&str>> = if req.namespaces.is_empty() {
            vec![None]
        } else {
            req.namespaces.iter().map(|n| Some(n.as_str())).collect()
        };
        for ns in scopes {
            let objects = cluster
                .list(&rt, ns, req.selector.as_deref(), 500, Some)
                .await?;
            for object in objects {
                let key = ObjectKey::new(
                    gk.clone(),
                    str_at(&object, &["metadata", "namespace"]),
                    str_at(&object, &["metadata", "name"]).unwrap_or(""),
                );
                if req.only.as_ref().is_some_and(|only| !only.contains(&key)) {
                    continue;
                }
                if let Some(r) = act(cluster, &rt, direction, object, req.dry_run).await {
                    results.push(r);
                }
            }
        }
    }
    results.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(results)
}

/// The version of a kind the cluster serves, preferred first.
fn served(catalog: &abshift_core::versions::Catalog, kind: &HandoverKind) -> Option<ResourceType> {
    let versions = catalog.group_versions.get(kind.group)?;
    versions.iter().find_map(|v| {
        catalog
            .resources
            .iter()
            .find(|r| r.group == kind.group && r.kind == kind.kind && &r.version == v)
            .cloned()
    })
}

/// Changes one object, re-reading it when it changed under the patch.
async fn act(
    cluster: &Cluster,
    rt: &ResourceType,
    direction: Direction,
    mut object: Value,
    dry_run: bool,
) -> Option<HandoverResult> {
    let name = str_at(&object, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    let namespace = str_at(&object, &["metadata", "namespace"]).map(str::to_string);
    let r = ObjectRef {
        api_version: rt.api_version(),
        kind: rt.kind.clone(),
        namespace: namespace.clone(),
        name: name.clone(),
    };
    let path = rt.object_path(namespace.as_deref(), &name);
    let what = format!("{} {r}", direction_word(direction));
    for _ in 0..5 {
        let change = match direction {
            Direction::Suspend => handover::suspend(&rt.group_kind(), &object),
            Direction::Resume => handover::resume(&object),
        };
        let Some(change) = change else {
            // Nothing recorded (resume) is not worth a line; already handed
            // over (suspend) is, so a second run shows it kept the first record.
            return (direction == Direction::Suspend).then(|| HandoverResult {
                object: r.clone(),
                field: String::new(),
                from: Value::Null,
                to: Value::Null,
                outcome: HandoverOutcome::Unchanged,
                detail: Some("already suspended by an earlier `cutover suspend`".into()),
            });
        };
        let done = |outcome, detail| HandoverResult {
            object: r.clone(),
            field: change.field.clone(),
            from: change.from.clone(),
            to: change.to.clone(),
            outcome,
            detail,
        };
        if dry_run {
            return Some(done(HandoverOutcome::Changed, None));
        }
        let body = serde_json::to_vec(&change.patch).expect("patch serialises");
        let resp = match cluster
            .send(
                Method::PATCH,
                &format!("{path}?fieldManager={CUTOVER_MANAGER}"),
                Some(body),
                Some("application/merge-patch+json"),
                &what,
            )
            .await
        {
            Ok(resp) => resp,
            Err(e) => return Some(done(HandoverOutcome::Failed, Some(e.to_string()))),
        };
        match resp.status.as_u16() {
            200 => return Some(done(HandoverOutcome::Changed, None)),
            409 => match cluster.get_json::<Value>(&path, &what).await {
                Ok(fresh) => object = fresh,
                Err(e) => return Some(done(HandoverOutcome::Failed, Some(e.to_string()))),
            },
            _ => {
                let e = cluster.status_error(&resp, &what);
                return Some(done(HandoverOutcome::Failed, Some(e.to_string())));
            }
        }
    }
    Some(HandoverResult {
        object: r,
        field: String::new(),
        from: Value::Null,
        to: Value::Null,
        outcome: HandoverOutcome::Failed,
        detail: Some("the object kept changing under the patch; run the command again".into()),
    })
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::Suspend => "suspending",
        Direction::Resume => "resuming",
    }
}
