//! The object a preflight finding is about: how messages name it, and its pod
//! specs with the path each sits at, so that a message can name the exact field.
//! Shared by the per-object checks and the reference checks.

use serde_json::Value;

use crate::model::ObjectRef;
use crate::plan::PlannedObject;
use crate::podspec;

/// The object a finding is about: its plan reference and how messages name it.
pub(super) struct Obj {
    pub r: ObjectRef,
    pub label: String,
}

impl Obj {
    pub fn new(o: &PlannedObject) -> Obj {
        let label = match &o.namespace {
            Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
            None => format!("{} {}", o.kind, o.name),
        };
        Obj {
            r: o.object_ref(),
            label,
        }
    }
}

/// Pod specs with the dotted path they sit at, so messages can name fields.
pub(super) fn pod_specs<'a>(kind: &str, m: &'a Value) -> Vec<(String, &'a Value)> {
    podspec::pod_specs_at(kind, m)
        .into_iter()
        .map(|(path, spec)| (path.join("."), spec))
        .collect()
}
