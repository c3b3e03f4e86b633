//! The wave graph both pictures (SVG, Graphviz) draw: one node per object, or
//! per (wave, kind) once a plan is too big for a box per object to be readable,
//! and the colours its boxes take per action (shared with the HTML legend).

use std::collections::{BTreeMap, HashMap};

use crate::diff::Action;

use super::model::{Report, ns_name, short_ref};

/// Above this many objects the graph shows one box per (wave, kind).
pub(crate) const AGGREGATE_ABOVE: usize = 300;

/// Fill, stroke and text colour per action: data, shared with the HTML legend.
pub(crate) const ACTION_COLOURS: &[(Action, &str, &str)] = &[
    (Action::Create, "#e6f4ea", "#1a7f37"),
    (Action::Unchanged, "#f2f3f5", "#6e7781"),
    (Action::Update, "#e7f0fd", "#0969da"),
    (Action::Conflict, "#fdecec", "#cf222e"),
];

pub(crate) fn colours(a: Action) -> (&'static str, &'static str) {
    ACTION_COLOURS
        .iter()
        .find(|(x, _, _)| *x == a)
        .map(|(_, fill, stroke)| (*fill, *stroke))
        .unwrap_or(("#ffffff", "#57606a"))
}

pub(crate) struct WaveGraph {
    pub waves: usize,
    pub aggregated: bool,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

pub(crate) struct Node {
    /// Stable id: the object as `Kind ns/name`, or `wave N Kind` for aggregates.
    pub id: String,
    pub wave: usize,
    pub kind: String,
    /// Second line of the box: `ns/name`, or how many objects it stands for.
    pub label: String,
    pub count: usize,
    pub actions: BTreeMap<Action, usize>,
}

impl Node {
    /// Fill and stroke of the box: the action's colours when the box is one
    /// object (or all its objects share the action), neutral for mixed aggregates.
    pub fn colours(&self, aggregated: bool) -> (&'static str, &'static str) {
        match self.single_action() {
            Some(a) if !aggregated => colours(a),
            _ => ("#ffffff", "#57606a"),
        }
    }

    /// `create 3`, `unchanged 1`, …: what the box stands for, for tooltips.
    pub fn action_counts(&self) -> Vec<String> {
        self.actions
            .iter()
            .map(|(a, c)| format!("{} {c}", a.as_str()))
            .collect()
    }

    /// The action every object of the node shares, if they share one.
    pub fn single_action(&self) -> Option<Action> {
        match self.actions.len() {
            1 => self.actions.keys().next().copied(),
            _ => None,
        }
    }
}

pub(crate) struct Edge {
    /// Index of the node depended on (created first).
    pub from: usize,
    /// Index of the dependent node.
    pub to: usize,
    /// How many object-level dependencies the edge stands for.
    pub count: usize,
}

pub(crate) fn build(report: &Report) -> WaveGraph {
    let total = report.objects().count();
    let aggregated = total > AGGREGATE_ABOVE;
    let mut nodes: Vec<Node> = Vec::new();
    // Object key -> node index; the key is how dependsOn names objects.
    let mut node_of: HashMap<String, usize> = HashMap::new();
    let mut aggregate_of: HashMap<(usize, String), usize> = HashMap::new();
    for o in report.objects() {
        let key = object_key(&o.object);
        let idx = if aggregated {
            *aggregate_of
                .entry((o.wave, o.object.kind.clone()))
                .or_insert_with(|| {
                    nodes.push(Node {
                        id: format!("wave {} {}", o.wave, o.object.kind),
                        wave: o.wave,
                        kind: o.object.kind.clone(),
                        label: String::new(),
                        count: 0,
                        actions: BTreeMap::new(),
                    });
                    nodes.len() - 1
                })
        } else {
            nodes.push(Node {
                id: short_ref(&o.object),
                wave: o.wave,
                kind: o.object.kind.clone(),
                label: ns_name(&o.object),
                count: 0,
                actions: BTreeMap::new(),
            });
            nodes.len() - 1
        };
        let n = &mut nodes[idx];
        n.count += 1;
        *n.actions.entry(o.action).or_default() += 1;
        node_of.insert(key, idx);
    }
    if aggregated {
        for n in &mut nodes {
            n.label = format!("{} object{}", n.count, if n.count == 1 { "" } else { "s" });
        }
    }
    let mut edges: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for o in report.objects() {
        let Some(&to) = node_of.get(&object_key(&o.object)) else {
            continue;
        };
        for d in &o.depends_on {
            // Dependencies outside the plan (already in B, or skipped) have no box.
            if let Some(&from) = node_of.get(&object_key(d))
                && from != to
            {
                *edges.entry((from, to)).or_default() += 1;
            }
        }
    }
    WaveGraph {
        waves: report.waves.iter().map(|w| w.wave + 1).max().unwrap_or(0),
        aggregated,
        nodes,
        edges: edges
            .into_iter()
            .map(|((from, to), count)| Edge { from, to, count })
            .collect(),
    }
}

/// Identity of an object for matching dependsOn entries: the API group is
/// enough (versions of one kind are one object).
fn object_key(r: &crate::model::ObjectRef) -> String {
    let group = r.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    format!(
        "{group}\u{0}{}\u{0}{}\u{0}{}",
        r.kind,
        r.namespace.as_deref().unwrap_or(""),
        r.name
    )
}
