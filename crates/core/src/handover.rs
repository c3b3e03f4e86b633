//! Work that must run in exactly one cluster during the cutover (CronJobs,
//! singleton workloads) is handed over by suspending it on one side and
//! resuming it on the other. Each change records the value it replaced in an
//! annotation, so `resume` restores exactly what was there, and plans compare
//! objects as they will be once resumed, not as the hand-over left them.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{GroupKind, ValueAt};

/// Annotation holding the value a hand-over replaced (JSON).
pub const HANDOVER_ANNOTATION: &str = "abshift.io/handover";

/// A kind whose work can be handed over: the field that stops it, the value
/// that stops it, and why.
pub struct HandoverKind {
    pub group: &'static str,
    pub kind: &'static str,
    /// The field set to stop the work (`spec.<field>`).
    pub field: &'static str,
    /// The value that stops it.
    pub stopped: fn() -> Value,
    pub reason: &'static str,
}

/// Kinds `abshift cutover` and `migrate apply --suspend-cronjobs` act on.
pub const HANDOVER_KINDS: &[HandoverKind] = &[
    HandoverKind {
        group: "batch",
        kind: "CronJob",
        field: "suspend",
        stopped: || Value::Bool(true),
        reason: "fires in every cluster that holds it: jobs would run twice",
    },
    HandoverKind {
        group: "apps",
        kind: "Deployment",
        field: "replicas",
        stopped: || json!(0),
        reason: "a singleton (one replica, Recreate) must not run in both clusters",
    },
    HandoverKind {
        group: "apps",
        kind: "StatefulSet",
        field: "replicas",
        stopped: || json!(0),
        reason: "a singleton member set must not run in both clusters",
    },
];

pub fn handover_kind(gk: &GroupKind) -> Option<&'static HandoverKind> {
    HANDOVER_KINDS
        .iter()
        .find(|k| k.group == gk.group && k.kind == gk.kind)
}

/// What the annotation records: the field and the value it had before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub field: String,
    /// `null` when the field was not set.
    pub previous: Value,
}

fn recorded(object: &Value) -> Option<Recorded> {
    let text = object
        .at(&["metadata", "annotations"])?
        .get(HANDOVER_ANNOTATION)?
        .as_str()?;
    serde_json::from_str(text).ok()
}

/// A change to make to one object, as a JSON merge patch guarded by the
/// object's resourceVersion, with what it changes for the operator to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    pub from: Value,
    pub to: Value,
    pub patch: Value,
}

/// The change that stops `object`'s work, or `None` when it is already
/// handed over (annotated): suspending twice keeps the first record, so the
/// value restored is the one before the first suspend. An object already
/// stopped by someone else is annotated too, so `resume` leaves it stopped.
pub fn suspend(gk: &GroupKind, object: &Value) -> Option<Change> {
    let kind = handover_kind(gk)?;
    if recorded(object).is_some() {
        return None;
    }
    let current = object
        .at(&["spec", kind.field])
        .cloned()
        .unwrap_or(Value::Null);
    let record = Recorded {
        field: kind.field.to_string(),
        previous: current.clone(),
    };
    let to = (kind.stopped)();
    Some(Change {
        field: format!("spec.{}", kind.field),
        from: current,
        to: to.clone(),
        patch: json!({
            "metadata": {
                "resourceVersion": object.at(&["metadata", "resourceVersion"]).cloned().unwrap_or(Value::Null),
                "annotations": {HANDOVER_ANNOTATION: serde_json::to_string(&record).expect("record serialises")},
            },
            "spec": {kind.field: to},
        }),
    })
}

/// The change that restores what `suspend` recorded, or `None` when the
/// object carries no record.
pub fn resume(object: &Value) -> Option<Change> {
    let record = recorded(object)?;
    let current = object
        .at(&["spec", &record.field])
        .cloned()
        .unwrap_or(Value::Null);
    Some(Change {
        field: format!("spec.{}", record.field),
        from: current,
        to: record.previous.clone(),
        patch: json!({
            "metadata": {
                "resourceVersion": object.at(&["metadata", "resourceVersion"]).cloned().unwrap_or(Value::Null),
                "annotations": {HANDOVER_ANNOTATION: Value::Null},
            },
            "spec": {record.field: record.previous},
        }),
    })
}

/// Stops a manifest about to be created (`migrate apply --suspend-cronjobs`):
/// the stopped value, and the record of A's value for `cutover resume`.
pub fn suspend_manifest(gk: &GroupKind, manifest: &mut Value) {
    let Some(change) = suspend(gk, manifest) else {
        return;
    };
    let Value::Object(patch) = change.patch else {
        return;
    };
    for (section, values) in patch {
        let Some(values) = values.as_object() else {
            continue;
        };
        let target = manifest
            .as_object_mut()
            .map(|m| m.entry(section).or_insert_with(|| json!({})));
        if let Some(Value::Object(target)) = target {
            for (k, v) in values {
                if k == "resourceVersion" {
                    continue;
                }
                match (target.get_mut(k), v) {
                    (Some(Value::Object(t)), Value::Object(add)) => {
                        t.extend(add.clone());
                    }
                    _ => {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
}

/// The object as it will be once resumed: the recorded value back in place and
/// the record gone. Plans compare this, so a hand-over on either side is not
/// a difference between A and B.
pub fn as_resumed(object: &mut Value) {
    let Some(record) = recorded(object) else {
        return;
    };
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        if record.previous.is_null() {
            spec.remove(&record.field);
        } else {
            spec.insert(record.field.clone(), record.previous.clone());
        }
    }
    if let Some(a) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(HANDOVER_ANNOTATION);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(suspend: Option<bool>) -> Value {
        let mut v = json!({"metadata": {"name": "nightly", "resourceVersion": "7"}, "spec": {"schedule": "0 1 * * *"}});
        if let Some(s) = suspend {
            v["spec"]["suspend"] = json!(s);
        }
        v
    }

    /// Applies a merge patch the way the API server does (null removes).
    fn merge(target: &mut Value, patch: &Value) {
        match (target, patch) {
            (Value::Object(t), Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            (t, p) => *t = p.clone(),
        }
    }

    #[test]
    fn suspend_then_resume_restores_exactly_what_was_there() {
        let gk = GroupKind::new("batch", "CronJob");
        for before in [cron(Some(false)), cron(Some(true)), cron(None)] {
            let mut o = before.clone();
            let s = suspend(&gk, &o).unwrap();
            assert_eq!(s.patch["metadata"]["resourceVersion"], "7");
            merge(&mut o, &s.patch);
            assert_eq!(o["spec"]["suspend"], true);
            // A second suspend keeps the first record.
            assert!(suspend(&gk, &o).is_none());
            let mut as_plan_sees = o.clone();
            as_resumed(&mut as_plan_sees);
            let mut expected = before.clone();
            expected["metadata"]["annotations"] = json!({});
            let r = resume(&o).unwrap();
            merge(&mut o, &r.patch);
            o["metadata"]["resourceVersion"] = json!("7");
            assert_eq!(o, expected, "from {before}");
            assert_eq!(as_plan_sees, expected);
            assert!(resume(&o).is_none());
        }
    }

    #[test]
    fn workloads_scale_to_zero_and_back() {
        let gk = GroupKind::new("apps", "Deployment");
        let d = json!({"metadata": {"name": "leader", "resourceVersion": "3"}, "spec": {"replicas": 1}});
        let s = suspend(&gk, &d).unwrap();
        assert_eq!((s.from.clone(), s.to.clone()), (json!(1), json!(0)));
        let mut o = d.clone();
        merge(&mut o, &s.patch);
        assert_eq!(resume(&o).unwrap().to, json!(1));
        assert!(suspend(&GroupKind::core("ConfigMap"), &d).is_none());
    }

    #[test]
    fn a_manifest_is_created_suspended_with_a_record_of_as_value() {
        let gk = GroupKind::new("batch", "CronJob");
        let mut m = cron(Some(false));
        m["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        suspend_manifest(&gk, &mut m);
        assert_eq!(m["spec"]["suspend"], true);
        assert!(m["metadata"].get("resourceVersion").is_none());
        assert_eq!(resume(&m).unwrap().to, json!(false));
        let mut seen = m.clone();
        as_resumed(&mut seen);
        assert_eq!(seen["spec"]["suspend"], false);
    }
}
