//! `migrate plan` end to end: read A and B, then hand plain data to the pure
//! stages (skip, normalise, graph, diff) and assemble the plan. The only I/O is
//! the two cluster connections, and A's is read-only.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use serde_json::Value;

use crate::cluster::{Cluster, ClusterError};
use crate::discovery::{self, Catalog, version_rank};
use abshift_core::diff;
use abshift_core::graph;
use abshift_core::model::{GroupKind, ObjectKey, ResourceType, SourceObject};
use abshift_core::normalize;
use abshift_core::plan::{
    ClusterInfo, PLAN_VERSION, Plan, PlannedObject, PulledIn, Selection, SkippedObject, Summary,
    Warning, secret_digest,
};
use abshift_core::preflight::{self, Presence};
use abshift_core::select::{self, LabelSelector, Scope, SelectorError};
use abshift_core::skip::{self, SYSTEM_NAMESPACES, SkipOptions};
use abshift_core::stacks::{self, StackError};

#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub selection: Selection,
    /// A stack to resolve against A before listing (`--stack`); verify passes
    /// none, because the plan's selection already holds the resolved namespaces.
    pub stack: Option<StackRequest>,
    pub page_size: u32,
    pub list_concurrency: usize,
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
    #[error(
        "--from ('{from}') and --to ('{to}') are the same cluster (kube-system uid {fingerprint}); a plan needs two different clusters"
    )]
    SameCluster {
        from: String,
        to: String,
        fingerprint: String,
    },
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

/// B's normalised copies of the objects that are not `unchanged`, kept for
/// verify's diffs; the plan file holds only the diff of the fields A sets.
pub type TargetCopies = HashMap<ObjectKey, (Value, Option<String>)>;

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

    let mut warnings: Vec<Warning> = Vec::new();
    for (who, cat) in [("A", &s_cat), ("B", &t_cat)] {
        for f in &cat.failures {
            warnings.push(Warning {
                object: None,
                message: format!(
                    "cluster {who}: API group {} is unavailable ({}); its objects are not in this plan. If it is an aggregated API (e.g. metrics.k8s.io) whose backend is down, this is harmless; otherwise fix the APIService and re-plan",
                    f.group_version, f.error
                ),
            });
        }
    }
    let choice = discovery::choose_versions(&s_cat, &t_cat);
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

    // B is listed only for what it serves at the same version; the rest is absent in B.
    let target_read: Vec<Arc<ResourceType>> = read
        .iter()
        .filter(|r| t_cat.serves(&r.group_kind(), &r.version))
        .cloned()
        .collect();
    progress.listing(read.len() + target_read.len());
    let lists = Lists {
        req,
        selection: &selection,
        scope: &scope,
        progress,
    };
    let (source_objects, target_objects) = tokio::join!(
        lists.run(source, &read, true),
        lists.run(target, &target_read, false),
    );
    let (source_objects, mut outside) = source_objects?;
    let source_objects = dedupe_by_uid(source_objects, &t_cat);
    let (target_objects, target_failures) = index_target(target_objects?.0);
    phase("both clusters listed");
    warnings.extend(target_failures);

    let system_included: HashSet<String> = selection
        .namespaces
        .iter()
        .filter(|n| SYSTEM_NAMESPACES.contains(&n.as_str()))
        .cloned()
        .collect();
    let (kept, skipped) = skip::partition(
        source_objects.0,
        &SkipOptions {
            include_system_namespaces: system_included,
        },
    );
    warnings.extend(source_objects.1);
    let recreated: HashSet<ObjectKey> = skipped.iter().map(|s| s.object.key()).collect();
    // A partial plan keeps what the selection takes and the cluster-scoped
    // objects it needs; everything else only counts as "exists in A".
    let (mut kept, skipped, mut pulled_in) = if selection.is_partial() {
        let closed = close_over(kept, skipped, &scope);
        outside.extend(closed.excluded);
        (closed.kept, closed.skipped, closed.pulled_in)
    } else {
        (kept, skipped, HashMap::new())
    };
    for o in &mut kept {
        normalize::normalize(&o.resource.group_kind(), &mut o.object);
    }
    kept.sort_by_cached_key(SourceObject::key);

    let nodes: Vec<(ObjectKey, &str, &Value)> = kept
        .iter()
        .map(|o| (o.key(), o.resource.plural.as_str(), &o.object))
        .collect();
    let layout = graph::layout(&nodes);
    phase("skipped, normalised and ordered");
    for c in &layout.cycles {
        let members: Vec<String> = c.members.iter().map(ToString::to_string).collect();
        let removed: Vec<String> = c
            .removed
            .iter()
            .map(|(a, b)| format!("{b} no longer waits for {a}"))
            .collect();
        warnings.push(Warning {
            object: None,
            message: format!(
                "dependency cycle among {}; broken deterministically: {}",
                members.join(", "),
                removed.join("; ")
            ),
        });
    }

    // Kinds B does not serve at the chosen version; a CRD in the plan fixes that itself.
    let planned_crds: HashSet<&str> = kept
        .iter()
        .filter(|o| {
            o.resource.group == "apiextensions.k8s.io"
                && o.resource.kind == "CustomResourceDefinition"
        })
        .map(|o| o.name())
        .collect();
    let mut unserved_counts: HashMap<GroupKind, usize> = HashMap::new();
    let unserved: HashMap<GroupKind, &discovery::Unserved> = choice
        .unserved
        .iter()
        .map(|u| (u.resource.group_kind(), u))
        .collect();
    for o in &kept {
        let gk = o.resource.group_kind();
        if unserved.contains_key(&gk)
            && !planned_crds
                .contains(format!("{}.{}", o.resource.plural, o.resource.group).as_str())
        {
            *unserved_counts.entry(gk).or_default() += 1;
        }
    }
    let mut unserved_sorted: Vec<_> = unserved_counts.into_iter().collect();
    unserved_sorted.sort();
    let mut findings = Vec::new();
    for (gk, n) in unserved_sorted {
        let u = unserved[&gk];
        let served: Vec<String> = u
            .target_versions
            .iter()
            .map(|v| abshift_core::model::api_version(&gk.group, v))
            .collect();
        findings.push(preflight::unserved_api_version(
            &format!("{} {}", gk.kind, u.resource.api_version()),
            &served.join(", "),
            n,
        ));
    }

    let refs: Vec<_> = kept.iter().map(SourceObject::object_ref).collect();
    let planned_keys: HashSet<ObjectKey> = kept.iter().map(SourceObject::key).collect();
    let mut differing: TargetCopies = HashMap::new();
    let mut objects = Vec::with_capacity(kept.len());
    for (i, o) in kept.into_iter().enumerate() {
        let key = o.key();
        let target = target_objects.get(&key);
        let digests = o
            .secret_digest
            .as_deref()
            .map(|d| (d, target.and_then(|t| t.1.as_deref())));
        let action = diff::action(&o.object, target.map(|t| &t.0), digests);
        let mut field_diff = None;
        if !matches!(action, diff::Action::Unchanged | diff::Action::Create)
            && let Some(copy) = target
        {
            let mut d = diff::field_diff(&o.object, &copy.0);
            if let Some((a, b)) = digests
                && Some(a) != b
            {
                // Values never enter the plan: say that they differ, by digest.
                d.push_str(&format!(
                    "@@ secret values differ: A's digest {a}, B's {} @@\n",
                    b.unwrap_or("none")
                ));
            }
            field_diff = Some(d);
            differing.insert(key.clone(), copy.clone());
        }
        objects.push(PlannedObject {
            api_version: o.resource.api_version(),
            kind: o.resource.kind.clone(),
            namespace: o.namespace().map(str::to_string),
            name: o.name().to_string(),
            resource: o.resource.plural.clone(),
            namespaced: o.resource.namespaced,
            wave: layout.waves[i],
            action,
            depends_on: layout.depends_on[i]
                .iter()
                .map(|d| refs[*d].clone())
                .collect(),
            pulled_in_by: pulled_in.remove(&key).unwrap_or_default(),
            secret_digest: o.secret_digest,
            manifest: o.object,
            diff: field_diff,
        });
    }
    // Where each referenced object stands, for preflight's findings.
    let known = Known {
        planned: planned_keys,
        recreated: &recreated,
        outside: &outside,
        read: read.iter().map(|r| r.group_kind()).collect(),
        scopes: lists.namespace_scopes(),
    };
    findings.extend(preflight::check(&objects, &|k| known.presence(k)));
    for (i, r) in &layout.unresolved {
        let core_checked = r.target.gk.group.is_empty()
            && matches!(
                r.target.gk.kind.as_str(),
                "Secret" | "ConfigMap" | "ServiceAccount" | "Namespace"
            );
        if r.scope_unknown || core_checked || r.why == "defined by CRD" {
            continue;
        }
        if known.presence(&r.target) == Presence::Missing {
            findings.push(preflight::missing_dependency(
                refs[*i].clone(),
                &r.target,
                r.why,
            ));
        }
    }
    let skipped = skipped
        .into_iter()
        .map(|s| {
            let r = s.object.object_ref();
            SkippedObject {
                api_version: r.api_version,
                kind: r.kind,
                namespace: r.namespace,
                name: r.name,
                rule: s.rule.id.to_string(),
                reason: s.rule.reason.to_string(),
            }
        })
        .collect();

    let mut plan = Plan {
        version: PLAN_VERSION,
        id: String::new(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        abshift_version: env!("CARGO_PKG_VERSION").to_string(),
        source: ClusterInfo {
            context: source.context.clone(),
            server: source.server.clone(),
            fingerprint: sf,
            kubernetes_version: sv,
        },
        target: ClusterInfo {
            context: target.context.clone(),
            server: target.server.clone(),
            fingerprint: tf,
            kubernetes_version: tv,
        },
        selection,
        summary: Summary::default(),
        objects,
        skipped,
        warnings,
        findings,
        checksum: String::new(),
    };
    plan.seal();
    phase("plan assembled");
    Ok((plan, differing))
}

/// Does `--include-kinds`/`--exclude-kinds` let this resource through? Entries
/// match the kind or the plural, optionally qualified with the group.
pub fn kind_selected(r: &ResourceType, sel: &Selection) -> bool {
    let matches = |entry: &String| {
        let (name, group) = match entry.split_once('.') {
            Some((n, g)) => (n, Some(g)),
            None => (entry.as_str(), None),
        };
        (name.eq_ignore_ascii_case(&r.kind) || name.eq_ignore_ascii_case(&r.plural))
            && group.is_none_or(|g| g == r.group)
    };
    (sel.include_kinds.is_empty() || sel.include_kinds.iter().any(matches))
        && !sel.exclude_kinds.iter().any(matches)
}

/// What the planner knows about A's objects beyond the plan, so preflight can
/// tell a reference to a missing object from one to an object left out.
struct Known<'a> {
    planned: HashSet<ObjectKey>,
    recreated: &'a HashSet<ObjectKey>,
    outside: &'a HashSet<ObjectKey>,
    /// Kinds that were listed at all.
    read: HashSet<GroupKind>,
    /// Namespaces listed for namespaced kinds; `None` means all.
    scopes: Option<Vec<String>>,
}

impl Known<'_> {
    fn presence(&self, key: &ObjectKey) -> Presence {
        if self.planned.contains(key) {
            Presence::InPlan
        } else if self.recreated.contains(key) {
            Presence::RecreatedInB
        } else if self.outside.contains(key) {
            Presence::OutsideSelection
        } else if !self.read.contains(&key.gk) {
            Presence::NotListed
        } else if let (Some(ns), Some(scopes)) = (&key.namespace, &self.scopes)
            && !scopes.contains(ns)
        {
            Presence::NotListed
        } else {
            Presence::Missing
        }
    }
}

/// Everything one plan run lists, shared by the source and the target side.
struct Lists<'a> {
    req: &'a PlanRequest,
    selection: &'a Selection,
    scope: &'a Scope,
    progress: &'a dyn Progress,
}

/// What a list keeps of one item: the object, or only that it exists.
enum Kept {
    Object(SourceObject),
    Exists(ObjectKey),
}

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

    /// Lists every selected resource type of one cluster. For the source a failing
    /// list is fatal (the plan would silently miss objects); for the target it is a
    /// warning and the objects count as absent. Source objects outside the
    /// selection are kept as keys only, so references to them are known to resolve.
    async fn run(
        &self,
        cluster: &Cluster,
        read: &[Arc<ResourceType>],
        is_source: bool,
    ) -> Result<(Listed, HashSet<ObjectKey>), ClusterError> {
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
        let results: Vec<_> = futures::stream::iter(jobs)
            .map(|(rt, ns)| async move {
                let keep = |item: Value| self.keep(&rt, item, is_source);
                let r = cluster
                    .list(&rt, ns.as_deref(), None, self.req.page_size, keep)
                    .await;
                (rt, r)
            })
            .buffer_unordered(self.req.list_concurrency.max(1))
            .collect()
            .await;
        let mut objects = Vec::new();
        let mut outside = HashSet::new();
        let mut warnings = Vec::new();
        let mut results = results;
        results.sort_by(|a, b| (&a.0.group, &a.0.kind).cmp(&(&b.0.group, &b.0.kind)));
        for (rt, result) in results {
            match result {
                Ok(items) => {
                    self.progress.listed(&cluster.context, &rt, items.len());
                    for item in items {
                        match item {
                            Kept::Object(o) => objects.push(o),
                            Kept::Exists(k) => {
                                outside.insert(k);
                            }
                        }
                    }
                }
                Err(e) if is_source => return Err(e),
                Err(e) => warnings.push(Warning {
                    object: None,
                    message: format!("cluster B: {e}; its {} count as absent in B", rt.plural),
                }),
            }
        }
        Ok(((objects, warnings), outside))
    }

    fn keep(&self, rt: &Arc<ResourceType>, item: Value, is_source: bool) -> Option<Kept> {
        let ns = abshift_core::model::str_at(&item, &["metadata", "namespace"]);
        let name = abshift_core::model::str_at(&item, &["metadata", "name"]).unwrap_or("");
        let is_ns = rt.group.is_empty() && rt.kind == "Namespace";
        let own_ns = if is_ns { Some(name) } else { ns };
        let excluded = own_ns.is_some_and(|n| self.scope.exclude_namespaces.contains(n));
        if !is_source {
            // B: everything in the listed scope, for lookups by key.
            return (!excluded).then(|| Kept::Object(reduce(rt.clone(), item)));
        }
        let wanted = if !rt.namespaced {
            // Cluster-scoped (Namespaces too): the closure decides in a partial plan.
            !excluded || self.selection.is_partial()
        } else if self.selection.is_partial() {
            let key = ObjectKey::new(rt.group_kind(), ns, name);
            self.scope.selects(&key, &item)
        } else {
            !excluded
        };
        Some(if wanted {
            Kept::Object(reduce(rt.clone(), item))
        } else {
            Kept::Exists(ObjectKey::new(rt.group_kind(), ns, name))
        })
    }
}

type Listed = (Vec<SourceObject>, Vec<Warning>);

/// A partial plan's objects after the closure.
struct Closed {
    kept: Vec<SourceObject>,
    /// Skipped objects the selection takes or refers to (a bootstrap ClusterRole
    /// its RoleBinding grants, say), so the report says why they are not copied.
    skipped: Vec<skip::Skipped>,
    pulled_in: HashMap<ObjectKey, Vec<PulledIn>>,
    excluded: Vec<ObjectKey>,
}

/// Partial plans: the objects the scope selects plus the cluster-scoped ones
/// they need (with why). Skipped objects can be reached but pull nothing in:
/// B's controllers recreate them, and with them what they need.
fn close_over(kept: Vec<SourceObject>, skipped: Vec<skip::Skipped>, scope: &Scope) -> Closed {
    let n_kept = kept.len();
    let keys: Vec<ObjectKey> = kept
        .iter()
        .chain(skipped.iter().map(|s| &s.object))
        .map(SourceObject::key)
        .collect();
    let all: Vec<&SourceObject> = kept
        .iter()
        .chain(skipped.iter().map(|s| &s.object))
        .collect();
    let nodes: Vec<(ObjectKey, &str, &Value)> = all
        .iter()
        .zip(&keys)
        .map(|(o, k)| (k.clone(), o.resource.plural.as_str(), &o.object))
        .collect();
    let selected: Vec<bool> = nodes.iter().map(|(k, _, v)| scope.selects(k, v)).collect();
    let pulls: Vec<bool> = (0..nodes.len()).map(|i| i < n_kept).collect();
    let closure = select::closure(&nodes, &selected, &pulls, |i| all[i].object_ref());
    drop(nodes);
    drop(all);
    let mut closed = Closed {
        kept: Vec::new(),
        skipped: Vec::new(),
        pulled_in: HashMap::new(),
        excluded: Vec::new(),
    };
    let mut closure = closure.into_iter();
    let mut keys = keys.into_iter();
    for o in kept {
        let key = keys.next().expect("one key per object");
        match closure.next().expect("one entry per object") {
            Some(reasons) => {
                if !reasons.is_empty() {
                    closed.pulled_in.insert(key, reasons);
                }
                closed.kept.push(o);
            }
            None => closed.excluded.push(key),
        }
    }
    for s in skipped {
        let key = keys.next().expect("one key per object");
        match closure.next().expect("one entry per object") {
            Some(_) => closed.skipped.push(s),
            None => closed.excluded.push(key),
        }
    }
    closed
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

/// Drops what is never needed as soon as an object arrives: managedFields (large)
/// and, for Secrets, the values themselves (kept only as a digest).
fn reduce(rt: Arc<ResourceType>, mut object: Value) -> SourceObject {
    let mut managers: Vec<String> = Vec::new();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
        && let Some(Value::Array(fields)) = meta.remove("managedFields")
    {
        managers = fields
            .iter()
            .filter_map(|f| f.get("manager").and_then(Value::as_str).map(str::to_string))
            .collect();
        managers.sort();
        managers.dedup();
    }
    // Lists omit apiVersion/kind on items; put them back at the version read.
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(rt.api_version()));
        map.insert("kind".into(), Value::String(rt.kind.clone()));
    }
    let secret_digest = if rt.group.is_empty() && rt.kind == "Secret" {
        let d = secret_digest(&object);
        scrub_secret(&mut object);
        Some(d)
    } else {
        None
    };
    SourceObject {
        resource: rt,
        object,
        secret_digest,
        managers,
    }
}

/// Removes a Secret's values in place, including the copy kubectl keeps in an annotation.
fn scrub_secret(object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.remove("data");
        map.remove("stringData");
    }
    if let Some(a) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// The same stored object can be served by two groups (Ingress in `extensions`
/// and `networking.k8s.io`; Events in core and `events.k8s.io`). Keep one copy
/// per UID: the group B serves, then the most stable version, then by name.
fn dedupe_by_uid(listed: Listed, target: &Catalog) -> Listed {
    let (objects, warnings) = listed;
    let served_by_b: BTreeSet<(String, String, String)> = target
        .resources
        .iter()
        .map(|r| (r.group.clone(), r.version.clone(), r.kind.clone()))
        .collect();
    let rank = |o: &SourceObject| {
        let r = &o.resource;
        (
            served_by_b.contains(&(r.group.clone(), r.version.clone(), r.kind.clone())),
            version_rank(&r.version),
            std::cmp::Reverse(r.group.clone()),
        )
    };
    let mut best: HashMap<String, usize> = HashMap::new();
    for (i, o) in objects.iter().enumerate() {
        let Some(uid) = o.uid() else { continue };
        match best.get(uid) {
            Some(&j) if rank(&objects[j]) >= rank(o) => {}
            _ => {
                best.insert(uid.to_string(), i);
            }
        }
    }
    let keep: HashSet<usize> = best.values().copied().collect();
    let objects = objects
        .into_iter()
        .enumerate()
        .filter(|(i, o)| o.uid().is_none() || keep.contains(i))
        .map(|(_, o)| o)
        .collect();
    (objects, warnings)
}

/// Target objects keyed for lookup, normalised like the source's.
type TargetIndex = HashMap<ObjectKey, (Value, Option<String>)>;

fn index_target(listed: Listed) -> (TargetIndex, Vec<Warning>) {
    let (objects, warnings) = listed;
    let mut index = HashMap::with_capacity(objects.len());
    for mut o in objects {
        normalize::normalize(&o.resource.group_kind(), &mut o.object);
        index.insert(o.key(), (o.object, o.secret_digest));
    }
    (index, warnings)
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

    #[test]
    fn kind_filters_match_kind_plural_and_group() {
        let deploy = rt("apps", "v1", "Deployment", "deployments", true);
        let sel = |inc: &[&str], exc: &[&str]| Selection {
            include_kinds: inc.iter().map(|s| s.to_string()).collect(),
            exclude_kinds: exc.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(kind_selected(&deploy, &sel(&[], &[])));
        assert!(kind_selected(&deploy, &sel(&["deployment"], &[])));
        assert!(kind_selected(&deploy, &sel(&["deployments.apps"], &[])));
        assert!(!kind_selected(
            &deploy,
            &sel(&["Deployment.extensions"], &[])
        ));
        assert!(!kind_selected(&deploy, &sel(&[], &["Deployment"])));
        assert!(!kind_selected(&deploy, &sel(&["ConfigMap"], &[])));
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
            page_size: 1,
            list_concurrency: 1,
        };
        let lists = Lists {
            req: &req,
            selection: sel,
            scope: &scope,
            progress: &NoProgress,
        };
        match lists.keep(&Arc::new(rt.clone()), item, is_source) {
            Some(Kept::Object(_)) => "object",
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

    #[test]
    fn one_object_served_by_two_groups_is_kept_once_at_the_better_version() {
        let legacy = Arc::new(rt("extensions", "v1beta1", "Ingress", "ingresses", true));
        let current = Arc::new(rt("networking.k8s.io", "v1", "Ingress", "ingresses", true));
        let obj = |r: &Arc<ResourceType>| SourceObject {
            resource: r.clone(),
            object: json!({"metadata": {"name": "web", "namespace": "a", "uid": "u1"}}),
            secret_digest: None,
            managers: vec![],
        };
        let target = Catalog {
            resources: vec![(*current).clone()],
            ..Default::default()
        };
        let (kept, _) = dedupe_by_uid((vec![obj(&legacy), obj(&current)], vec![]), &target);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].resource.group, "networking.k8s.io");
        // Same answer whatever the order the lists came back in.
        let (kept, _) = dedupe_by_uid((vec![obj(&current), obj(&legacy)], vec![]), &target);
        assert_eq!(kept[0].resource.group, "networking.k8s.io");
    }

    #[test]
    fn secrets_are_reduced_to_a_digest_on_arrival() {
        let secret = Arc::new(rt("", "v1", "Secret", "secrets", true));
        let o = reduce(
            secret,
            json!({"metadata": {"name": "db", "namespace": "a", "managedFields": [{"manager": "kubectl"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"p\":\"aHVudGVyMg==\"}}"}},
            "type": "Opaque", "data": {"p": "aHVudGVyMg=="}}),
        );
        let text = o.object.to_string();
        assert!(!text.contains("aHVudGVyMg=="));
        assert!(o.secret_digest.unwrap().starts_with("sha256:"));
        assert_eq!(o.managers, vec!["kubectl"]);
        assert!(o.object.pointer("/metadata/managedFields").is_none());
    }
}
