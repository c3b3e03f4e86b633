//! Preflight: reads the planned, normalised manifests and reports what will hurt
//! in the cutover (the `rules` table; per-object `checks`; `references` that
//! dangle). Pure: the planner says where each referenced object stands.

mod checks;
mod object;
mod references;
mod rules;

use crate::model::{GroupKind, ObjectKey, split_api_version};
use crate::plan::{Finding, PlannedObject};

pub(crate) use references::Presence;
pub use rules::{PREFLIGHT_RULES, PreflightRule};
pub(crate) use rules::{missing_dependency, unserved_api_version};

/// Findings for the planned objects. `presence` says where a referenced
/// Secret, ConfigMap or ServiceAccount stands.
pub(crate) fn check(
    objects: &[PlannedObject],
    presence: &(dyn Fn(&ObjectKey) -> Presence + Sync),
) -> Vec<Finding> {
    use rayon::prelude::*;
    // Each object is judged alone (reading the others): on all cores, in order.
    objects
        .par_iter()
        .flat_map_iter(|o| {
            let mut out = Vec::new();
            let (group, _) = split_api_version(&o.api_version);
            let gk = GroupKind::new(group, &o.kind);
            let obj = object::Obj::new(o);
            let specs = object::pod_specs(&gk.kind, &o.manifest);
            checks::object(&obj, &gk, o, objects, &specs, &mut out);
            references::check(&obj, &gk, &o.manifest, &specs, presence, &mut out);
            out
        })
        .collect()
}

#[cfg(test)]
mod tests;
