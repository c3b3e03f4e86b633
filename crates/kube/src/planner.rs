//! The fetch half of `migrate plan`: identify both clusters, discover what
//! they serve, resolve a stack, list A (read-only) and B concurrently, then hand
//! the plain data to `abshift_core::assemble`, which decides everything.

use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroUsize;
use std::sync::Arc;

use serde_json::Value;

use crate::adaptive::{self, Gate};
use crate::cluster::{Cluster, ClusterError, Paging};
pub use abshift_core::assemble::TargetCopies;
use abshift_core::assemble::{
    Prepared, Rest, SourceSide, TargetObject, finish, kind_selected, prepare, reduce,
};
use abshift_core::gaps::{self, Gap, Side, Unread, Verdict};
use abshift_core::limit::{Limiter, LimiterConfig, PageSizer};
use abshift_core::model::{Listed, ObjectKey, ResourceType, SourceObject};
use abshift_core::plan::{ClusterInfo, Plan, Selection, Warning};
use abshift_core::select::{LabelSelector, Scope, SelectorError};
use abshift_core::stacks::{self, StackError};
use abshift_core::versions::{self, Catalog};

#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub selection: Selection,
    /// A stack to resolve against A before listing (`--stack`); verify passes
    /// none, because the plan's selection already holds the resolved namespaces.
    pub stack: Option<StackRequest>,
    /// Objects per list page; `None` adapts (`abshift_core::limit::PageSizer`).
    pub page_size: Option<u32>,
    /// Lists in flight per cluster; `None` adapts (`abshift_core::limit`).
    pub list_concurrency: Option<NonZeroUsize>,
}

impl PlanRequest {
    /// The pace of one cluster's lists: fixed by the flags, else adaptive.
    fn gate(&self, cluster: &Cluster) -> Gate {
        let limiter = match self.list_concurrency {
            Some(n) => Limiter::pinned(n.get()),
            None => Limiter::new(LimiterConfig::LISTS),
        };
        Gate::new(limiter, "lists", &cluster.context)
    }

    fn sizer(&self) -> PageSizer {
        self.page_size
            .map_or_else(PageSizer::adaptive, PageSizer::fixed)
    }
}

#[derive(Debug, Clone)]
pub struct StackRequest {
    pub name: String,
    /// The stack's entry in the stacks file, when it has one.
    pub defined: Option<stacks::Defined>,
    /// Every stack the stacks file defines, for "known stacks" in errors.
    pub file_stacks: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Selector(#[from] SelectorError),
    #[error("{}", unavailable_message(.0))]
    Unavailable(Vec<Gap>),
    #[error("cannot make a key for the plan's Secret digests: {0}")]
    Random(String),
    #[error(
        "--from ('{from}') and --to ('{to}') are the same cluster (kube-system uid {fingerprint}); a plan needs two different clusters"
    )]
    SameCluster {
        from: String,
        to: String,
        fingerprint: String,
    },
}

fn unavailable_message(gaps: &[Gap]) -> String {
    let mut s = format!(
        "{} read(s) failed, so a plan would silently miss objects:\n",
        gaps.len()
    );
    for g in gaps {
        s.push_str(&format!("  - {g}\n"));
    }
    let mut names: Vec<String> = gaps.iter().map(Gap::suggested_name).collect();
    names.dedup();
    s.push_str(&format!(
        "Fix the access or the API (RBAC, the APIService's backend) and plan again; or, knowing those objects are left out (for B: counted as absent), re-run with {} (the plan records it and reports show it)",
        names
            .iter()
            .map(|n| format!("--skip-unavailable {n}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    s
}

/// Progress callbacks, so the CLI can show a bar without the planner knowing about terminals.
pub trait Progress: Send + Sync {
    fn listing(&self, _total: usize) {}
    fn listed(&self, _cluster: &str, _resource: &ResourceType, _count: usize) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

pub async fn build_plan(
    source: &Cluster,
    target: &Cluster,
    req: &PlanRequest,
    progress: &dyn Progress,
) -> Result<Plan, PlanError> {
    build_plan_with_targets(source, target, req, progress)
        .await
        .map(|(plan, _)| plan)
}

/// Like [`build_plan`], also returning B's copy of every object that differs.
pub async fn build_plan_with_targets(
    source: &Cluster,
    target: &Cluster,
    req: &PlanRequest,
    progress: &dyn Progress,
) -> Result<(Plan, TargetCopies), PlanError> {
    let started = std::time::Instant::now();
    let phase =
        |name: &str| tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "{name}");
    let (sf, tf) = tokio::try_join!(source.fingerprint(), target.fingerprint())?;
    if sf == tf {
        return Err(PlanError::SameCluster {
            from: source.context.clone(),
            to: target.context.clone(),
            fingerprint: sf,
        });
    }
    let (sv, tv, s_cat, t_cat) = tokio::try_join!(
        source.version(),
        target.version(),
        source.discover(),
        target.discover()
    )?;

    let mut gaps: Vec<Gap> = Vec::new();
    for (side, cluster, cat) in [(Side::A, source, &s_cat), (Side::B, target, &t_cat)] {
        for f in &cat.failures {
            let (group, version) = abshift_core::model::split_api_version(&f.group_version);
            gaps.push(Gap {
                cluster: side,
                context: cluster.context.clone(),
                unread: Unread::Discovery {
                    group: group.to_string(),
                    version: version.to_string(),
                },
                error: f.error.clone(),
                allowed_by: String::new(),
            });
        }
    }
    let digest_key = new_digest_key()?;
    let choice = versions::choose_versions(&s_cat, &t_cat);
    phase("discovery done");
    let mut selection = req.selection.clone();
    if let Some(stack) = &req.stack {
        let namespaces = namespace_labels(source, &s_cat).await?;
        let resolved = stacks::resolve(
            &stack.name,
            stack.defined.as_ref(),
            &stack.file_stacks,
            &namespaces,
            &source.context,
        )?;
        selection.namespaces.extend(resolved.namespaces);
        selection.namespaces.sort();
        selection.namespaces.dedup();
        selection.extra_objects = resolved.extra_objects;
        selection.stack = Some(stack.name.clone());
    }
    let scope = Scope {
        namespaces: selection.namespaces.iter().cloned().collect(),
        exclude_namespaces: selection.exclude_namespaces.iter().cloned().collect(),
        selector: selection
            .selector
            .as_deref()
            .map(LabelSelector::parse)
            .transpose()?,
        extra_objects: selection.extra_objects.clone(),
    };
    let read: Vec<Arc<ResourceType>> = choice
        .read
        .iter()
        .filter(|r| kind_selected(r, &selection))
        .cloned()
        .map(Arc::new)
        .collect();

    // B is listed at the version each kind is written at (the same one, or the
    // one a conversion leads to); kinds B does not serve are absent in B.
    let target_read: Vec<Arc<ResourceType>> = read
        .iter()
        .filter_map(|r| choice.target_resource(r, &t_cat))
        .cloned()
        .map(Arc::new)
        .collect();
    progress.listing(read.len() + target_read.len());
    let key_bytes = abshift_core::plan::digest_key_bytes(&digest_key);
    let lists = Lists {
        req,
        selection: &selection,
        scope: &scope,
        progress,
        digest_key: &key_bytes,
    };
    let target_info = ClusterInfo {
        context: target.context.clone(),
        server: target.server.clone(),
        fingerprint: tf,
        kubernetes_version: tv,
    };
    let namespace_scopes = lists.namespace_scopes();
    let mut side = SourceSide {
        target: target_info,
        selection: selection.clone(),
        scope: scope.clone(),
        choice,
        target_catalog: t_cat,
        objects: Vec::new(),
        outside: HashSet::new(),
    };
    let (lists, phase) = (&lists, &phase);
    // A's side is decided (skip rules, closure, conversions, the graph) on a
    // blocking thread as soon as A's lists are in, while B's still run.
    let source_side = async move {
        let (objects, _, gaps, outside) = lists.run(source, &read, Side::A).await?;
        phase("source listed");
        (side.objects, side.outside) = (objects, outside);
        let prepared = match tokio::task::spawn_blocking(move || prepare(side)).await {
            Ok(prepared) => prepared,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        phase("source side decided");
        Ok::<(Prepared, Vec<Gap>, Vec<Arc<ResourceType>>), ClusterError>((prepared, gaps, read))
    };
    let (source_listed, target_listed) = tokio::join!(source_side, async {
        let r = lists.run(target, &target_read, Side::B).await;
        phase("target listed");
        r
    });
    let (prepared, source_gaps, read) = source_listed?;
    let (_, target_objects, target_gaps, _) = target_listed?;
    phase("both clusters listed");
    gaps.extend(source_gaps);
    gaps.extend(target_gaps);
    let (warnings, unavailable) = judge_gaps(gaps, &selection.skip_unavailable)?;
    let rest = Rest {
        source: ClusterInfo {
            context: source.context.clone(),
            server: source.server.clone(),
            fingerprint: sf,
            kubernetes_version: sv,
        },
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        abshift_version: env!("CARGO_PKG_VERSION").to_string(),
        read,
        namespace_scopes,
        target_objects,
        warnings,
        unavailable,
        digest_key,
    };
    let assembled = finish(prepared, rest);
    phase("plan assembled");
    Ok(assembled)
}

/// Sorts failed reads: a rule's harmless ones become warnings, the ones the
/// user named are recorded in the plan, and any other stops the plan.
fn judge_gaps(
    gaps: Vec<Gap>,
    skip_unavailable: &[String],
) -> Result<(Vec<Warning>, Vec<Gap>), PlanError> {
    let mut warnings = Vec::new();
    let mut allowed = Vec::new();
    let mut fatal = Vec::new();
    for mut g in gaps {
        match gaps::judge(&g, skip_unavailable) {
            Verdict::Harmless(reason) => warnings.push(Warning {
                object: None,
                message: format!("{g}; harmless: {reason}"),
            }),
            Verdict::OptedOut(name) => {
                g.allowed_by = format!("--skip-unavailable {name}");
                allowed.push(g);
            }
            Verdict::Fatal => fatal.push(g),
        }
    }
    if !fatal.is_empty() {
        fatal.sort();
        return Err(PlanError::Unavailable(fatal));
    }
    allowed.sort();
    Ok((warnings, allowed))
}

/// A random key for this plan's Secret digests (hex).
fn new_digest_key() -> Result<String, PlanError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| PlanError::Random(e.to_string()))?;
    Ok(hex::encode(key))
}

/// Everything one plan run lists, shared by the source and the target side.
struct Lists<'a> {
    req: &'a PlanRequest,
    selection: &'a Selection,
    scope: &'a Scope,
    progress: &'a dyn Progress,
    /// The key Secret digests are computed under.
    digest_key: &'a [u8],
}

/// What a list keeps of one item: A's object, B's (packed), or only that it exists.
enum Kept {
    Object(SourceObject),
    Target(TargetObject),
    Exists(ObjectKey),
}

/// One cluster's lists: its objects (A's or B's), failed reads, and the keys
/// of A's objects outside the selection.
type ListedSide = (
    Vec<SourceObject>,
    Vec<TargetObject>,
    Vec<Gap>,
    HashSet<ObjectKey>,
);

impl Lists<'_> {
    /// Namespaces to list namespaced kinds in: `None` means cluster-wide. A
    /// partial plan with namespaces lists those and the namespaces of its extra objects.
    fn namespace_scopes(&self) -> Option<Vec<String>> {
        let sel = self.selection;
        if sel.namespaces.is_empty() && (sel.selector.is_some() || sel.extra_objects.is_empty()) {
            return None;
        }
        let mut nss: BTreeSet<String> = sel.namespaces.iter().cloned().collect();
        nss.extend(sel.extra_objects.iter().filter_map(|e| e.namespace.clone()));
        Some(nss.into_iter().collect())
    }

    /// Lists every selected resource type of one cluster. A list the server
    /// refuses (403, or another status) is a gap for `judge_gaps` to weigh, on
    /// either side: a plan over it would miss objects, or count B's as absent.
    /// An unreachable cluster stops the plan here. Source objects outside the
    /// selection are kept as keys only, so references to them are known to resolve.
    async fn run(
        &self,
        cluster: &Cluster,
        read: &[Arc<ResourceType>],
        side: Side,
    ) -> Result<ListedSide, ClusterError> {
        let is_source = side == Side::A;
        let scopes = self.namespace_scopes();
        let mut jobs: Vec<(Arc<ResourceType>, Option<String>)> = Vec::new();
        for rt in read {
            match (&scopes, rt.namespaced) {
                (Some(nss), true) => {
                    jobs.extend(nss.iter().map(|ns| (rt.clone(), Some(ns.clone()))))
                }
                _ => jobs.push((rt.clone(), None)),
            }
        }
        let gate = self.req.gate(cluster);
        let gate = &gate;
        let results = adaptive::run(
            gate,
            jobs,
            |(rt, ns)| async move {
                let keep = |item: Listed| self.keep(&rt, item, is_source);
                let paging = Paging {
                    sizer: self.req.sizer(),
                    gate: Some(gate),
                };
                let r = cluster
                    .list_with(&rt, ns.as_deref(), None, paging, keep)
                    .await;
                (rt, ns, r)
            },
            |_| {},
        )
        .await;
        let mut objects = Vec::new();
        let mut targets = Vec::new();
        let mut outside = HashSet::new();
        let mut gaps = Vec::new();
        let mut results = results;
        results.sort_by(|a, b| (&a.0.group, &a.0.kind, &a.1).cmp(&(&b.0.group, &b.0.kind, &b.1)));
        for (rt, namespace, result) in results {
            match result {
                Ok(items) => {
                    self.progress.listed(&cluster.context, &rt, items.len());
                    for item in items {
                        match item {
                            Kept::Object(o) => objects.push(o),
                            Kept::Target(t) => targets.push(t),
                            Kept::Exists(k) => {
                                outside.insert(k);
                            }
                        }
                    }
                }
                Err(ClusterError::Forbidden { message: error, .. })
                | Err(ClusterError::Api { detail: error, .. }) => gaps.push(Gap {
                    cluster: side,
                    context: cluster.context.clone(),
                    unread: Unread::List {
                        group: rt.group.clone(),
                        version: rt.version.clone(),
                        resource: rt.plural.clone(),
                        namespace,
                    },
                    error,
                    allowed_by: String::new(),
                }),
                Err(e) => return Err(e),
            }
        }
        Ok((objects, targets, gaps, outside))
    }

    fn keep(&self, rt: &Arc<ResourceType>, item: Listed, is_source: bool) -> Option<Kept> {
        let ns = abshift_core::model::str_at(&item.object, &["metadata", "namespace"]);
        let name = abshift_core::model::str_at(&item.object, &["metadata", "name"]).unwrap_or("");
        let is_ns = rt.group.is_empty() && rt.kind == "Namespace";
        let own_ns = if is_ns { Some(name) } else { ns };
        let excluded = own_ns.is_some_and(|n| self.scope.exclude_namespaces.contains(n));
        if !is_source {
            // B: everything in the listed scope, for lookups by key.
            return (!excluded)
                .then(|| Kept::Target(TargetObject::pack(rt.clone(), item, self.digest_key)));
        }
        let wanted = if !rt.namespaced {
            // Cluster-scoped (Namespaces too): the closure decides in a partial plan.
            !excluded || self.selection.is_partial()
        } else if self.selection.is_partial() {
            let key = ObjectKey::new(rt.group_kind(), ns, name);
            self.scope.selects(&key, &item.object)
        } else {
            !excluded
        };
        Some(if wanted {
            Kept::Object(reduce(rt.clone(), item, self.digest_key))
        } else {
            Kept::Exists(ObjectKey::new(rt.group_kind(), ns, name))
        })
    }
}

/// A's Namespaces with their labels, to resolve a stack before listing.
async fn namespace_labels(
    source: &Cluster,
    catalog: &Catalog,
) -> Result<Vec<(String, std::collections::BTreeMap<String, String>)>, ClusterError> {
    let Some(rt) = catalog
        .resources
        .iter()
        .find(|r| r.group.is_empty() && r.kind == "Namespace")
    else {
        return Ok(Vec::new());
    };
    source
        .list(rt, None, None, 500, |item: Value| {
            let name = abshift_core::model::str_at(&item, &["metadata", "name"])?.to_string();
            let labels = abshift_core::model::meta_map(&item, "labels")
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect();
            Some((name, labels))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
            verbs: vec![],
        }
    }

    /// What `keep` decides for one item: "object", "exists" or "dropped".
    fn kept(sel: &Selection, rt: &ResourceType, item: Value, is_source: bool) -> &'static str {
        let scope = Scope {
            namespaces: sel.namespaces.iter().cloned().collect(),
            exclude_namespaces: sel.exclude_namespaces.iter().cloned().collect(),
            selector: sel
                .selector
                .as_deref()
                .map(|s| LabelSelector::parse(s).unwrap()),
            extra_objects: sel.extra_objects.clone(),
        };
        let req = PlanRequest {
            selection: sel.clone(),
            stack: None,
            page_size: Some(1),
            list_concurrency: Some(NonZeroUsize::MIN),
        };
        let lists = Lists {
            req: &req,
            selection: sel,
            scope: &scope,
            progress: &NoProgress,
            digest_key: b"k",
        };
        match lists.keep(&Arc::new(rt.clone()), item.into(), is_source) {
            Some(Kept::Object(_)) | Some(Kept::Target(_)) => "object",
            Some(Kept::Exists(_)) => "exists",
            None => "dropped",
        }
    }

    #[test]
    fn lists_keep_the_selection_and_remember_the_rest_exists() {
        let ns = rt("", "v1", "Namespace", "namespaces", false);
        let cm = rt("", "v1", "ConfigMap", "configmaps", true);
        let sc = rt(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            false,
        );
        let partial = Selection {
            namespaces: vec!["pay".into()],
            selector: Some("app=web".into()),
            ..Default::default()
        };
        let web = json!({"metadata": {"name": "c", "namespace": "pay", "labels": {"app": "web"}}});
        let other = json!({"metadata": {"name": "d", "namespace": "pay"}});
        assert_eq!(kept(&partial, &cm, web.clone(), true), "object");
        assert_eq!(kept(&partial, &cm, other.clone(), true), "exists");
        // Cluster-scoped objects and Namespaces wait for the closure.
        assert_eq!(
            kept(&partial, &sc, json!({"metadata": {"name": "fast"}}), true),
            "object"
        );
        assert_eq!(
            kept(&partial, &ns, json!({"metadata": {"name": "x"}}), true),
            "object"
        );
        // B keeps everything listed, whatever its labels.
        assert_eq!(kept(&partial, &cm, other, false), "object");

        let all = Selection {
            exclude_namespaces: vec!["old".into()],
            ..Default::default()
        };
        assert_eq!(
            kept(&all, &ns, json!({"metadata": {"name": "old"}}), true),
            "exists"
        );
        assert_eq!(
            kept(
                &all,
                &cm,
                json!({"metadata": {"name": "c", "namespace": "old"}}),
                true
            ),
            "exists"
        );
        assert_eq!(
            kept(
                &all,
                &cm,
                json!({"metadata": {"name": "c", "namespace": "old"}}),
                false
            ),
            "dropped"
        );
        assert_eq!(
            kept(&all, &sc, json!({"metadata": {"name": "fast"}}), true),
            "object"
        );
    }
}
