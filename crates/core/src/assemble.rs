//! The pure half of `migrate plan`: from what was read of A and B (objects,
//! what each serves, the selection) to a sealed plan, A's side first
//! (`prepare`, while B is still listed), then the comparison with B
//! (`finish`). No I/O, so unit tests drive it with recorded lists.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::convert;
use crate::diff;
use crate::fields;
use crate::gaps::Gap;
use crate::graph;
use crate::model::{GroupKind, Listed, ObjectKey, ObjectRef, ResourceType, SourceObject};
use crate::normalize;
use crate::plan::{
    ClusterInfo, Finding, PLAN_VERSION, Plan, PlannedObject, PulledIn, Selection, Severity,
    SkippedObject, Summary, Warning, secret_digest,
};
use crate::preflight::{self, Presence};
use crate::select::{self, Scope};
use crate::skip::{self, SYSTEM_NAMESPACES, SkipOptions};
use crate::versions::{self, Catalog, VersionChoice, Write, version_rank};
use rayon::prelude::*;

/// B's normalised copies of the objects that are not `unchanged`, kept for
/// verify's diffs; the plan file holds only the diff of the fields A sets.
pub type TargetCopies = HashMap<ObjectKey, TargetCopy>;

/// B's copy of one object, normalised like A's, with what decides an action
/// beyond its content: the Secret digest and abshift's hold on it.
#[derive(Debug, Clone)]
pub struct TargetCopy {
    pub object: Value,
    pub secret_digest: Option<String>,
    pub owned: Option<fields::Owned>,
}

/// B's copy of one object as the planner keeps it until the diff: reduced,
/// normalised and serialised as it arrives, so a B holding every object costs
/// its JSON size in memory, not the several times more of a parsed document
/// (`migrate plan` against a full B stays under 300 MB at 50,000 objects).
#[derive(Debug, Clone)]
pub struct TargetObject {
    pub key: ObjectKey,
    object: Box<[u8]>,
    secret_digest: Option<String>,
    /// abshift created it (its label).
    ours: bool,
    /// abshift's hold, its field sets still JSON text.
    owned: Option<fields::Owned>,
}

impl TargetObject {
    /// Reduces (`reduce`), normalises and packs one object listed in B.
    pub fn pack(rt: Arc<ResourceType>, listed: Listed, digest_key: &[u8]) -> TargetObject {
        let mut o = reduce(rt, listed, digest_key);
        normalize::normalize(&o.resource.group_kind(), &mut o.object);
        TargetObject {
            key: o.key(),
            object: serde_json::to_vec(&o.object)
                .expect("a JSON value serialises")
                .into_boxed_slice(),
            secret_digest: o.secret_digest,
            ours: diff::is_ours(&o.object),
            owned: o.owned,
        }
    }

    /// The copy the diff compares with.
    pub fn unpack(&self) -> TargetCopy {
        TargetCopy {
            object: serde_json::from_slice(&self.object).expect("packed from a JSON value"),
            secret_digest: self.secret_digest.clone(),
            owned: self.owned.clone(),
        }
    }
}

/// Assembles and seals the plan, and returns B's copy of every object that
/// differs: [`prepare`] then [`finish`].
pub fn assemble(side: SourceSide, rest: Rest) -> (Plan, TargetCopies) {
    finish(prepare(side), rest)
}

/// What deciding A's side needs: A's objects and what B serves. The planner
/// hands it over as soon as A's lists are in, while B's are still running.
pub struct SourceSide {
    pub target: ClusterInfo,
    /// The selection with any stack resolved into namespaces and extra objects.
    pub selection: Selection,
    pub scope: Scope,
    pub choice: VersionChoice,
    pub target_catalog: Catalog,
    /// A's objects the selection takes, reduced on arrival (`reduce`).
    pub objects: Vec<SourceObject>,
    /// A's objects outside the selection, by key only.
    pub outside: HashSet<ObjectKey>,
}

/// The rest of what the fetch step read, for [`finish`].
pub struct Rest {
    pub source: ClusterInfo,
    pub created_at: String,
    pub abshift_version: String,
    /// Resource types listed in A (the chosen versions, after the kind filters).
    pub read: Vec<Arc<ResourceType>>,
    /// Namespaces namespaced kinds were listed in; `None` means all.
    pub namespace_scopes: Option<Vec<String>>,
    /// B's objects of the listed kinds, reduced likewise.
    pub target_objects: Vec<TargetObject>,
    /// Failed reads judged harmless by a rule, already worded.
    pub warnings: Vec<Warning>,
    /// Failed reads the user allowed with `--skip-unavailable`.
    pub unavailable: Vec<Gap>,
    /// The key Secret digests were computed under (hex), kept in the plan.
    pub digest_key: String,
}

/// A's side decided: what is skipped, pulled in, converted, and in which
/// wave, each object normalised and keyed. Nothing here reads B's objects.
pub struct Prepared {
    target: ClusterInfo,
    selection: Selection,
    /// Kept objects, sorted by key.
    kept: Vec<(ObjectKey, SourceObject)>,
    skipped: Vec<skip::Skipped>,
    /// Skipped by a rule, so recreated by B's controllers.
    recreated: HashSet<ObjectKey>,
    outside: HashSet<ObjectKey>,
    pulled_in: HashMap<ObjectKey, Vec<PulledIn>>,
    removed: Vec<SkippedObject>,
    converted: Conversions,
    layout: graph::Layout,
    warnings: Vec<Warning>,
    findings: Vec<Finding>,
}

/// Decides A's side ([`Prepared`]): dedupe, skip rules, the partial closure,
/// normalisation, removed kinds, conversions, the dependency graph.
pub fn prepare(side: SourceSide) -> Prepared {
    let SourceSide {
        target,
        selection,
        scope,
        choice,
        target_catalog,
        objects: source_objects,
        mut outside,
    } = side;
    let mut warnings = Vec::new();
    let source_objects = dedupe_by_uid(source_objects, &target_catalog);
    let system_included: HashSet<String> = selection
        .namespaces
        .iter()
        .filter(|n| SYSTEM_NAMESPACES.contains(&n.as_str()))
        .cloned()
        .collect();
    let (kept, skipped) = skip::partition(
        source_objects,
        &SkipOptions {
            include_system_namespaces: system_included,
        },
    );
    let recreated: HashSet<ObjectKey> = skipped.iter().map(|s| s.object.key()).collect();
    // A partial plan keeps what the selection takes and the cluster-scoped
    // objects it needs; everything else only counts as "exists in A".
    let (mut kept, skipped, pulled_in) = if selection.is_partial() {
        let closed = close_over(kept, skipped, &scope);
        outside.extend(closed.excluded);
        (closed.kept, closed.skipped, closed.pulled_in)
    } else {
        (kept, skipped, HashMap::new())
    };
    kept.par_iter_mut()
        .for_each(|o| normalize::normalize(&o.resource.group_kind(), &mut o.object));
    let mut findings = Vec::new();
    let (mut kept, removed) = split_removed(kept, &choice);
    let removed = removed_kinds(removed, &kept, &mut findings);
    let converted = convert_for_target(&mut kept, &choice, &target, &mut findings);
    // Each object's key, computed once: it orders the plan, indexes the graph
    // and finds B's copy.
    let mut kept: Vec<(ObjectKey, SourceObject)> =
        kept.into_par_iter().map(|o| (o.key(), o)).collect();
    kept.par_sort_by(|a, b| a.0.cmp(&b.0));

    let layout = {
        let nodes: Vec<(&ObjectKey, &str, &Value)> = kept
            .iter()
            .map(|(k, o)| (k, o.resource.plural.as_str(), &o.object))
            .collect();
        graph::layout(&nodes)
    };
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
        .map(|(_, o)| o)
        .filter(|o| {
            o.resource.group == "apiextensions.k8s.io"
                && o.resource.kind == "CustomResourceDefinition"
        })
        .map(|o| o.name())
        .collect();
    let mut unserved_counts: HashMap<GroupKind, usize> = HashMap::new();
    let unserved: HashMap<GroupKind, &versions::Unserved> = choice
        .unserved
        .iter()
        .map(|u| (u.resource.group_kind(), u))
        .collect();
    for (_, o) in &kept {
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
    for (gk, n) in unserved_sorted {
        let u = unserved[&gk];
        let served: Vec<String> = u
            .target_versions
            .iter()
            .map(|v| crate::model::api_version(&gk.group, v))
            .collect();
        findings.push(preflight::unserved_api_version(
            &format!("{} {}", gk.kind, u.resource.api_version()),
            &served.join(", "),
            n,
        ));
    }

    Prepared {
        target,
        selection,
        kept,
        skipped,
        recreated,
        outside,
        pulled_in,
        removed,
        converted,
        layout,
        warnings,
        findings,
    }
}

/// Compares A's prepared side with B's objects and seals the plan.
pub fn finish(p: Prepared, rest: Rest) -> (Plan, TargetCopies) {
    let Prepared {
        target,
        selection,
        kept,
        skipped,
        recreated,
        outside,
        pulled_in,
        removed,
        converted,
        layout,
        warnings: mut cycle_warnings,
        mut findings,
    } = p;
    let Rest {
        source,
        created_at,
        abshift_version,
        read,
        namespace_scopes,
        mut target_objects,
        mut warnings,
        unavailable,
        digest_key,
    } = rest;
    warnings.append(&mut cycle_warnings);
    let matches = match_target(&kept, &mut target_objects);
    // Each comparison reads one object and B's copy of it: decided on both
    // cores, assembled in order.
    let decisions: Vec<Decision> = kept
        .par_iter()
        .zip(matches)
        .map(|((_, o), held)| decide(o, held.map(|j| &target_objects[j])))
        .collect();
    // Freeing B's copies one by one takes a while (50,000 of them in the
    // benchmark): done beside the rest, or here if no thread can be started.
    let _ = std::thread::Builder::new()
        .name("free-b-copies".into())
        .spawn(move || drop(target_objects));
    // References to the objects others depend on (in most plans, a few).
    let mut depended = vec![false; kept.len()];
    for deps in &layout.depends_on {
        for &d in deps {
            depended[d] = true;
        }
    }
    let refs: Vec<Option<ObjectRef>> = kept
        .par_iter()
        .zip(depended)
        .map(|((_, o), d)| d.then(|| o.object_ref()))
        .collect();
    // Kept in key order: the planned keys are sorted for lookups.
    let (planned_keys, sources): (Vec<ObjectKey>, Vec<SourceObject>) = kept.into_iter().unzip();
    let (objects, copies): (Vec<PlannedObject>, Vec<Option<TargetCopy>>) = sources
        .into_par_iter()
        .zip(decisions)
        .enumerate()
        .map(|(i, (o, d))| {
            let Decision {
                decided,
                diff: field_diff,
                differing: copy,
                secret_matches,
            } = d;
            let key = &planned_keys[i];
            let conversion = converted.get(key);
            let planned = PlannedObject {
                api_version: o.resource.api_version(),
                kind: o.resource.kind.clone(),
                // From the key: the object's own metadata is colder in memory.
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                resource: o.resource.plural.clone(),
                namespaced: o.resource.namespaced,
                wave: layout.waves[i],
                action: decided.action,
                depends_on: layout.depends_on[i]
                    .iter()
                    .filter_map(|d| refs[*d].clone())
                    .collect(),
                pulled_in_by: pulled_in.get(key).cloned().unwrap_or_default(),
                read_as: conversion.and_then(|c| c.0.clone()),
                conversions: conversion.map(|c| c.1.clone()).unwrap_or_default(),
                secret_digest: o.secret_digest,
                secret_matches,
                manifest: o.object,
                diff: field_diff,
                removes: decided.removes,
            };
            (planned, copy)
        })
        .unzip();
    drop((pulled_in, converted));
    let differing: TargetCopies = planned_keys
        .iter()
        .zip(copies)
        .filter_map(|(k, c)| c.map(|c| (k.clone(), c)))
        .collect();
    // Where each referenced object stands, for preflight's findings.
    let known = Known {
        planned: planned_keys,
        recreated: &recreated,
        outside: &outside,
        read: read.iter().map(|r| r.group_kind()).collect(),
        scopes: namespace_scopes,
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
                objects[*i].object_ref(),
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
        .chain(removed)
        .collect();

    let mut plan = Plan {
        version: PLAN_VERSION,
        id: String::new(),
        created_at,
        abshift_version,
        source,
        target,
        selection,
        summary: Summary::default(),
        objects,
        skipped,
        warnings,
        findings,
        unavailable,
        digest_key,
        checksum: String::new(),
    };
    plan.seal();
    (plan, differing)
}

/// What the comparison of one object with B's copy decided.
struct Decision {
    decided: diff::Decision,
    /// The diff of A's fields against B's, for objects B holds differently.
    diff: Option<String>,
    /// B's copy of such an object, for verify.
    differing: Option<TargetCopy>,
    secret_matches: Option<bool>,
}

fn decide(o: &SourceObject, held: Option<&TargetObject>) -> Decision {
    let digests = o
        .secret_digest
        .as_deref()
        .map(|d| (d, held.and_then(|t| t.secret_digest.as_deref())));
    let decided = diff::action(
        &o.resource.group_kind(),
        &o.object,
        held.map(|t| diff::Held {
            ours: t.ours,
            owned: t.owned.as_ref(),
            copy: &t.object,
        }),
        digests,
    );
    let mut field_diff = None;
    let mut differing = None;
    // B's copy is parsed only for an object that differs.
    if !matches!(
        decided.action,
        diff::Action::Unchanged | diff::Action::Create
    ) && let Some(copy) = held.map(TargetObject::unpack)
    {
        let mut d = diff::field_diff(&o.object, &copy.object);
        if let Some((a, b)) = digests
            && Some(a) != b
        {
            // Values never enter the plan, nor do digests of them.
            d.push_str(
                "@@ the Secret's value in B differs from A's (compared by keyed digest) @@\n",
            );
        }
        if !decided.removes.is_empty() {
            d.push_str(&format!(
                "@@ B keeps fields A no longer sets; the update removes them: {} @@\n",
                decided.removes.join(", ")
            ));
        }
        field_diff = Some(d);
        differing = Some(copy);
    }
    let secret_matches = digests
        .filter(|(_, b)| b.is_some())
        .map(|(a, b)| Some(a) == b);
    Decision {
        decided,
        diff: field_diff,
        differing,
        secret_matches,
    }
}

/// How a converted kind is written: the choice's row and B's resource.
type WrittenAs<'a> = (&'a Write, Arc<ResourceType>);

/// Per planned object: A's apiVersion when it is written at another one, and
/// the ids of the conversion rules applied.
type Conversions = HashMap<ObjectKey, (Option<String>, Vec<String>)>;

/// Separates the objects of kinds B no longer serves at all and that
/// `convert::REMOVED_KINDS` knows (PodSecurityPolicy), which cannot be created.
fn split_removed(
    kept: Vec<SourceObject>,
    choice: &VersionChoice,
) -> (Vec<SourceObject>, Vec<SourceObject>) {
    let unserved: HashSet<GroupKind> = choice
        .unserved
        .iter()
        .filter(|u| u.target_versions.is_empty())
        .map(|u| u.resource.group_kind())
        .collect();
    kept.into_iter().partition(|o| {
        let gk = o.resource.group_kind();
        !(unserved.contains(&gk) && convert::removed_kind(&gk.group, &gk.kind).is_some())
    })
}

/// Objects of removed kinds are never dropped silently: each is listed as
/// skipped by its removal rule, with an error finding naming the replacement
/// (for PodSecurityPolicies, the Pod Security Admission labels to set).
fn removed_kinds(
    removed: Vec<SourceObject>,
    kept: &[SourceObject],
    findings: &mut Vec<Finding>,
) -> Vec<SkippedObject> {
    if removed.is_empty() {
        return Vec::new();
    }
    let manifests: Vec<&Value> = kept.iter().chain(&removed).map(|o| &o.object).collect();
    findings.extend(convert::pod_security_suggestions(&manifests));
    let mut by_kind: BTreeMap<GroupKind, Vec<String>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for o in removed {
        let gk = o.resource.group_kind();
        let row = convert::removed_kind(&gk.group, &gk.kind).expect("split_removed checked");
        let r = o.object_ref();
        by_kind.entry(gk).or_default().push(r.to_string());
        skipped.push(SkippedObject {
            api_version: r.api_version,
            kind: r.kind,
            namespace: r.namespace,
            name: r.name,
            rule: row.id.to_string(),
            reason: row.reason.to_string(),
        });
    }
    for (gk, objects) in by_kind {
        if gk.kind == "PodSecurityPolicy" {
            continue; // pod_security_suggestions reports each one, with the labels to use
        }
        let row = convert::removed_kind(&gk.group, &gk.kind).expect("split_removed checked");
        findings.push(Finding {
            rule: row.id.to_string(),
            severity: Severity::Error,
            object: None,
            message: format!(
                "{} {gk} object(s) cannot be created in B, which no longer serves the kind (removed in 1.{}): {}",
                objects.len(),
                row.removed_in,
                objects.join(", ")
            ),
            why: row.reason.to_string(),
            action: row.replacement.to_string(),
        });
    }
    skipped
}

/// Converts every kept object for B's version: whole-object conversions for
/// kinds B serves at none of A's versions, and the object rules whatever the
/// version (v1beta1-era CRDs, fields B no longer honours). Findings name the
/// object; the returned map records what was done to each.
fn convert_for_target(
    kept: &mut [SourceObject],
    choice: &VersionChoice,
    target: &ClusterInfo,
    findings: &mut Vec<Finding>,
) -> Conversions {
    let target_minor = crate::model::minor_version(&target.kubernetes_version).unwrap_or(0);
    // One shared resource per converted kind, not a copy per object.
    let written: HashMap<GroupKind, Arc<ResourceType>> = choice
        .writes
        .iter()
        .map(|(gk, w)| (gk.clone(), Arc::new(w.to.clone())))
        .collect();
    // How each resource is written, looked up once per resource (its objects
    // share its Arc), then every object converted on all cores.
    let mut by_resource: HashMap<usize, Option<WrittenAs<'_>>> = HashMap::new();
    for o in kept.iter() {
        by_resource
            .entry(Arc::as_ptr(&o.resource) as usize)
            .or_insert_with(|| {
                let gk = o.resource.group_kind();
                choice.writes.get(&gk).map(|w| (w, written[&gk].clone()))
            });
    }
    type Done = (
        Option<(ObjectKey, (Option<String>, Vec<String>))>,
        Vec<Finding>,
    );
    let done: Vec<Done> = kept
        .par_iter_mut()
        .map(|o| {
            let write = &by_resource[&(Arc::as_ptr(&o.resource) as usize)];
            let row = write
                .as_ref()
                .and_then(|(w, _)| convert::CONVERSIONS.iter().find(|c| c.id == w.conversion));
            let done = convert::convert(&mut o.object, row, target_minor);
            let read_as = write.as_ref().map(|_| o.resource.api_version());
            if let Some((_, to)) = write {
                o.resource = to.clone();
            }
            let mut found = Vec::new();
            if !done.findings.is_empty() {
                let r = o.object_ref();
                found.extend(done.findings.into_iter().map(|mut f| {
                    f.object.get_or_insert_with(|| r.clone());
                    f
                }));
            }
            let converted = (write.is_some() || !done.rules.is_empty()).then(|| {
                let rules = done.rules.iter().map(|id| id.to_string()).collect();
                (o.key(), (read_as, rules))
            });
            (converted, found)
        })
        .collect();
    let mut out = Conversions::new();
    for (converted, found) in done {
        findings.extend(found);
        out.extend(converted);
    }
    out
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
    /// Sorted.
    planned: Vec<ObjectKey>,
    recreated: &'a HashSet<ObjectKey>,
    outside: &'a HashSet<ObjectKey>,
    /// Kinds that were listed at all.
    read: HashSet<GroupKind>,
    /// Namespaces listed for namespaced kinds; `None` means all.
    scopes: Option<Vec<String>>,
}

impl Known<'_> {
    fn presence(&self, key: &ObjectKey) -> Presence {
        if self.planned.binary_search(key).is_ok() {
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

/// Reduces a listed object to what the plan keeps: managedFields dropped (but
/// the managers' names and abshift's own hold kept), apiVersion and
/// kind put back, Secret values replaced by a digest under `digest_key`.
pub fn reduce(rt: Arc<ResourceType>, listed: Listed, digest_key: &[u8]) -> SourceObject {
    let Listed {
        mut object,
        managed,
    } = listed;
    let owned = fields::owned(&object, managed.as_deref());
    let mut managers: Vec<String> = managed
        .into_iter()
        .flatten()
        .filter_map(|m| m.manager)
        .collect();
    managers.sort();
    managers.dedup();
    // Lists omit apiVersion/kind on items; put them back at the version read.
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(rt.api_version()));
        map.insert("kind".into(), Value::String(rt.kind.clone()));
    }
    let secret_digest = if rt.group.is_empty() && rt.kind == "Secret" {
        let d = secret_digest(&object, digest_key);
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
        owned,
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
fn dedupe_by_uid(objects: Vec<SourceObject>, target: &Catalog) -> Vec<SourceObject> {
    let served_by_b: BTreeSet<(&str, &str, &str)> = target
        .resources
        .iter()
        .map(|r| (r.group.as_str(), r.version.as_str(), r.kind.as_str()))
        .collect();
    // Ranked once per resource type (objects share their type's Arc).
    let mut ranks: HashMap<*const ResourceType, (bool, (u8, u32, u32))> = HashMap::new();
    let mut rank_of = |o: &SourceObject| {
        let r: &ResourceType = &o.resource;
        *ranks.entry(Arc::as_ptr(&o.resource)).or_insert_with(|| {
            (
                served_by_b.contains(&(r.group.as_str(), r.version.as_str(), r.kind.as_str())),
                version_rank(&r.version),
            )
        })
    };
    // Read on all cores: each object's metadata is a few cache misses away.
    let uids: Vec<Option<&str>> = objects.par_iter().map(SourceObject::uid).collect();
    let mut best: HashMap<&str, usize> = HashMap::with_capacity(objects.len());
    let mut duplicates = false;
    for (i, (o, uid)) in objects.iter().zip(&uids).enumerate() {
        let Some(uid) = *uid else { continue };
        match best.get(uid) {
            Some(&j) => {
                duplicates = true;
                let (a, b) = (&objects[j], o);
                let (ra, rb) = (rank_of(a), rank_of(b));
                let ka = (ra.0, ra.1, std::cmp::Reverse(a.resource.group.as_str()));
                let kb = (rb.0, rb.1, std::cmp::Reverse(b.resource.group.as_str()));
                if ka < kb {
                    best.insert(uid, i);
                }
            }
            None => {
                best.insert(uid, i);
            }
        }
    }
    if !duplicates {
        return objects;
    }
    let keep: HashSet<usize> = best.values().copied().collect();
    let without_uid: Vec<bool> = uids.iter().map(Option::is_none).collect();
    drop(best);
    objects
        .into_iter()
        .enumerate()
        .filter(|(i, _)| without_uid[*i] || keep.contains(i))
        .map(|(_, o)| o)
        .collect()
}

/// For each of A's objects (sorted by key), the index of B's copy in
/// `target`, which is sorted here (of copies listed twice under one key, the
/// first is used): a walk over both lists instead of a hash of 50,000 keys.
fn match_target(
    kept: &[(ObjectKey, SourceObject)],
    target: &mut [TargetObject],
) -> Vec<Option<usize>> {
    target.par_sort_by(|a, b| a.key.cmp(&b.key));
    let mut j = 0;
    kept.iter()
        .map(|(key, _)| {
            while j < target.len() && target[j].key < *key {
                j += 1;
            }
            (j < target.len() && target[j].key == *key).then_some(j)
        })
        .collect()
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

    #[test]
    fn one_object_served_by_two_groups_is_kept_once_at_the_better_version() {
        let legacy = Arc::new(rt("extensions", "v1beta1", "Ingress", "ingresses", true));
        let current = Arc::new(rt("networking.k8s.io", "v1", "Ingress", "ingresses", true));
        let obj = |r: &Arc<ResourceType>| SourceObject {
            resource: r.clone(),
            object: json!({"metadata": {"name": "web", "namespace": "a", "uid": "u1"}}),
            secret_digest: None,
            managers: vec![],
            owned: None,
        };
        let target = Catalog {
            resources: vec![(*current).clone()],
            ..Default::default()
        };
        let kept = dedupe_by_uid(vec![obj(&legacy), obj(&current)], &target);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].resource.group, "networking.k8s.io");
        // Same answer whatever the order the lists came back in.
        let kept = dedupe_by_uid(vec![obj(&current), obj(&legacy)], &target);
        assert_eq!(kept[0].resource.group, "networking.k8s.io");
    }

    #[test]
    fn secrets_are_reduced_to_a_digest_on_arrival() {
        let secret = Arc::new(rt("", "v1", "Secret", "secrets", true));
        let o = reduce(
            secret,
            json!({"metadata": {"name": "db", "namespace": "a", "managedFields": [{"manager": "kubectl"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"p\":\"aHVudGVyMg==\"}}"}},
            "type": "Opaque", "data": {"p": "aHVudGVyMg=="}}).into(),
            b"k",
        );
        let text = o.object.to_string();
        assert!(!text.contains("aHVudGVyMg=="));
        assert!(o.secret_digest.unwrap().starts_with("hmac-sha256:"));
        assert_eq!(o.managers, vec!["kubectl"]);
        assert!(o.object.pointer("/metadata/managedFields").is_none());
    }

    /// The whole pure half of a plan, from recorded lists of both clusters.
    #[test]
    fn recorded_lists_assemble_into_ordered_actions() {
        let ns = Arc::new(rt("", "v1", "Namespace", "namespaces", false));
        let cm = Arc::new(rt("", "v1", "ConfigMap", "configmaps", true));
        let secret = Arc::new(rt("", "v1", "Secret", "secrets", true));
        let read = vec![ns.clone(), cm.clone(), secret.clone()];
        let catalog = Catalog {
            resources: read.iter().map(|r| (**r).clone()).collect(),
            ..Default::default()
        };
        let a = |r: &Arc<ResourceType>, v: Value| reduce(r.clone(), v.into(), b"k");
        let source_objects = vec![
            a(&ns, json!({"metadata": {"name": "shop", "uid": "n1"}})),
            a(
                &cm,
                json!({"metadata": {"name": "prices", "namespace": "shop", "uid": "c1"}, "data": {"eur": "1"}}),
            ),
            a(
                &cm,
                json!({"metadata": {"name": "same", "namespace": "shop", "uid": "c2"}, "data": {"k": "v"}}),
            ),
            a(
                &secret,
                json!({"metadata": {"name": "db", "namespace": "shop", "uid": "s1"}, "type": "Opaque", "data": {"p": "aHVudGVyMg=="}}),
            ),
        ];
        let b = |r: &Arc<ResourceType>, v: Value| TargetObject::pack(r.clone(), v.into(), b"k");
        let target_objects = vec![
            b(&ns, json!({"metadata": {"name": "shop", "uid": "bn1"}})),
            b(
                &cm,
                json!({"metadata": {"name": "same", "namespace": "shop", "uid": "bc2"}, "data": {"k": "v"}}),
            ),
        ];
        let info = |c: &str| ClusterInfo {
            context: c.into(),
            server: format!("https://{c}"),
            fingerprint: format!("{c}-uid"),
            kubernetes_version: "v1.20.2".into(),
        };
        let (plan, copies) = assemble(
            SourceSide {
                target: info("b"),
                selection: Selection::default(),
                scope: Scope::default(),
                choice: versions::choose_versions(&catalog, &catalog),
                target_catalog: catalog.clone(),
                objects: source_objects,
                outside: HashSet::new(),
            },
            Rest {
                source: info("a"),
                created_at: "2026-01-01T00:00:00Z".into(),
                abshift_version: "test".into(),
                read,
                namespace_scopes: None,
                target_objects,
                warnings: vec![],
                unavailable: vec![],
                digest_key: "6b".into(),
            },
        );
        let action = |name: &str| {
            let o = plan.objects.iter().find(|o| o.name == name).unwrap();
            (o.action, o.wave)
        };
        assert_eq!(action("shop"), (diff::Action::Unchanged, 0));
        assert_eq!(action("same").0, diff::Action::Unchanged);
        assert_eq!(action("prices").0, diff::Action::Create);
        assert!(action("prices").1 > action("shop").1, "namespace first");
        let db = plan.objects.iter().find(|o| o.name == "db").unwrap();
        assert_eq!(db.action, diff::Action::Create);
        assert!(
            !serde_json::to_string(&plan)
                .unwrap()
                .contains("aHVudGVyMg==")
        );
        assert!(copies.is_empty());
        assert!(!plan.checksum.is_empty());
    }

    /// An upgrade from recorded lists: A serves CronJob only at batch/v1beta1
    /// and has a PodSecurityPolicy; B serves batch/v1 and no PSP at all.
    #[test]
    fn recorded_upgrade_lists_convert_and_report_removed_kinds() {
        let rw = |mut r: ResourceType| {
            r.verbs = vec!["list".into(), "create".into()];
            r
        };
        let cron_a = Arc::new(rw(rt("batch", "v1beta1", "CronJob", "cronjobs", true)));
        let cron_b = rw(rt("batch", "v1", "CronJob", "cronjobs", true));
        let psp = Arc::new(rw(rt(
            "policy",
            "v1beta1",
            "PodSecurityPolicy",
            "podsecuritypolicies",
            false,
        )));
        let ns = Arc::new(rw(rt("", "v1", "Namespace", "namespaces", false)));
        let catalog = |rs: Vec<ResourceType>| Catalog {
            group_versions: rs
                .iter()
                .map(|r| (r.group.clone(), vec![r.version.clone()]))
                .collect(),
            resources: rs,
            ..Default::default()
        };
        let a_cat = catalog(vec![(*cron_a).clone(), (*psp).clone(), (*ns).clone()]);
        let b_cat = catalog(vec![cron_b.clone(), (*ns).clone()]);
        let choice = versions::choose_versions(&a_cat, &b_cat);
        let source_objects = vec![
            reduce(
                ns.clone(),
                json!({"metadata": {"name": "jobs", "uid": "n1"}}).into(),
                b"k",
            ),
            reduce(
                cron_a.clone(),
                json!({"metadata": {"name": "nightly", "namespace": "jobs", "uid": "c1"},
                "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "r", "image": "r:1"}]}}}}}}).into(),
                b"k",
            ),
            reduce(
                psp.clone(),
                json!({"metadata": {"name": "restricted", "uid": "p1"},
                "spec": {"privileged": false, "runAsUser": {"rule": "MustRunAsNonRoot"}, "seLinux": {"rule": "RunAsAny"},
                    "supplementalGroups": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"}, "volumes": ["configMap"]}}).into(),
                b"k",
            ),
        ];
        let info = |c: &str, v: &str| ClusterInfo {
            context: c.into(),
            server: format!("https://{c}"),
            fingerprint: format!("{c}-uid"),
            kubernetes_version: v.into(),
        };
        let read = choice.read.iter().cloned().map(Arc::new).collect();
        let (plan, _) = assemble(
            SourceSide {
                target: info("b", "v1.34.4"),
                selection: Selection::default(),
                scope: Scope::default(),
                choice,
                target_catalog: b_cat,
                objects: source_objects,
                outside: HashSet::new(),
            },
            Rest {
                source: info("a", "v1.20.2"),
                created_at: "2026-01-01T00:00:00Z".into(),
                abshift_version: "test".into(),
                read,
                namespace_scopes: None,
                target_objects: vec![],
                warnings: vec![],
                unavailable: vec![],
                digest_key: "6b".into(),
            },
        );
        let cron = plan.objects.iter().find(|o| o.kind == "CronJob").unwrap();
        assert_eq!(cron.api_version, "batch/v1");
        assert_eq!(cron.manifest["apiVersion"], "batch/v1");
        assert_eq!(cron.read_as.as_deref(), Some("batch/v1beta1"));
        assert_eq!(cron.conversions, vec!["cronjob-batch-v1beta1-to-v1"]);
        assert_eq!(cron.manifest["spec"]["schedule"], "0 1 * * *");
        assert!(plan.objects.iter().all(|o| o.kind != "PodSecurityPolicy"));
        let skipped = plan
            .skipped
            .iter()
            .find(|s| s.kind == "PodSecurityPolicy")
            .unwrap();
        assert_eq!(skipped.rule, "psp-policy-removed");
        assert!(
            plan.findings
                .iter()
                .any(|f| f.rule == "pod-security-policy-removed" && f.severity == Severity::Error)
        );
        // The namespace is unchanged by any rule, so nothing is recorded for it.
        let ns = plan.objects.iter().find(|o| o.kind == "Namespace").unwrap();
        assert!(ns.read_as.is_none() && ns.conversions.is_empty());
    }
}
