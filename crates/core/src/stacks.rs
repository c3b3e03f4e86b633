//! Application stacks: a named set of namespaces (and a few extra objects) that
//! one team moves together. Defined by the `abshift.io/stack` label on A's
//! Namespaces, or in a stacks file (docs/stacks.md); resolved against A at plan time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::plan::ExtraObject;
use crate::select::LabelSelector;

/// Label on a Namespace that makes it part of the stack named by its value.
pub const STACK_LABEL: &str = "abshift.io/stack";

/// Where `--stacks-file` defaults to, relative to the working directory.
pub const DEFAULT_STACKS_FILE: &str = "plans/stacks.yaml";

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StacksFile {
    pub stacks: BTreeMap<String, StackDef>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackDef {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// kubectl label-selector syntax, matched against A's Namespaces.
    #[serde(default)]
    pub namespace_selector: Option<String>,
    /// Objects outside the stack's namespaces that belong to it all the same.
    #[serde(default)]
    pub objects: Vec<ExtraObject>,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot read stacks file {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("stacks file {path} is not valid: {detail} (see docs/stacks.md)")]
    Malformed { path: String, detail: String },
    #[error("stack '{stack}' in {path}: {detail}")]
    Invalid {
        stack: String,
        path: String,
        detail: String,
    },
    #[error(
        "stack '{stack}' has no namespace in cluster A ({context}): no Namespace is labelled {STACK_LABEL}={stack}{defined}. Known stacks: {known}"
    )]
    Empty {
        stack: String,
        context: String,
        defined: String,
        known: String,
    },
    #[error(
        "stack '{stack}' names namespace '{namespace}', which cluster A ({context}) does not have; fix the stacks file or create the namespace"
    )]
    MissingNamespace {
        stack: String,
        namespace: String,
        context: String,
    },
}

/// A stack definition from the file, with the file's path kept for messages.
#[derive(Debug, Clone)]
pub struct Defined {
    pub path: String,
    pub def: StackDef,
}

/// Reads the stacks file; a missing default file is not an error (label-only stacks).
pub fn load(path: &Path) -> Result<StacksFile, StackError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| StackError::Read {
        path: shown.clone(),
        detail: e.to_string(),
    })?;
    parse(&text, &shown)
}

pub fn parse(text: &str, shown: &str) -> Result<StacksFile, StackError> {
    let file: StacksFile = serde_yaml_ng::from_str(text).map_err(|e| StackError::Malformed {
        path: shown.to_string(),
        detail: e.to_string(),
    })?;
    for (name, def) in &file.stacks {
        let invalid = |detail: String| StackError::Invalid {
            stack: name.clone(),
            path: shown.to_string(),
            detail,
        };
        if def.namespaces.is_empty() && def.namespace_selector.is_none() && def.objects.is_empty() {
            return Err(invalid(
                "it names no namespaces, namespaceSelector or objects".into(),
            ));
        }
        if let Some(sel) = &def.namespace_selector {
            LabelSelector::parse(sel).map_err(|e| invalid(e.to_string()))?;
        }
    }
    Ok(file)
}

/// A stack resolved against A: the namespaces it spans and its extra objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub namespaces: Vec<String>,
    pub extra_objects: Vec<ExtraObject>,
}

/// Resolves `stack` against A's Namespaces (name and labels). The file's
/// definition wins over labels; without one, the label decides.
pub fn resolve(
    stack: &str,
    defined: Option<&Defined>,
    file_stacks: &[String],
    namespaces: &[(String, BTreeMap<String, String>)],
    context: &str,
) -> Result<Resolved, StackError> {
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    let mut extra_objects = Vec::new();
    match defined {
        Some(d) => {
            let exists: BTreeSet<&str> = namespaces.iter().map(|(n, _)| n.as_str()).collect();
            for ns in &d.def.namespaces {
                if !exists.contains(ns.as_str()) {
                    return Err(StackError::MissingNamespace {
                        stack: stack.to_string(),
                        namespace: ns.clone(),
                        context: context.to_string(),
                    });
                }
                chosen.insert(ns.clone());
            }
            if let Some(sel) = &d.def.namespace_selector {
                let sel = LabelSelector::parse(sel).map_err(|e| StackError::Invalid {
                    stack: stack.to_string(),
                    path: d.path.clone(),
                    detail: e.to_string(),
                })?;
                for (name, labels) in namespaces {
                    let l = labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    if sel.matches_labels(&l) {
                        chosen.insert(name.clone());
                    }
                }
            }
            extra_objects = d.def.objects.clone();
        }
        None => {
            for (name, labels) in namespaces {
                if labels.get(STACK_LABEL).map(String::as_str) == Some(stack) {
                    chosen.insert(name.clone());
                }
            }
        }
    }
    if chosen.is_empty() && extra_objects.is_empty() {
        let mut known: BTreeSet<String> = namespaces
            .iter()
            .filter_map(|(_, l)| l.get(STACK_LABEL).cloned())
            .collect();
        known.extend(file_stacks.iter().cloned());
        return Err(StackError::Empty {
            stack: stack.to_string(),
            context: context.to_string(),
            defined: match defined {
                Some(d) => format!(" and its definition in {} matches none", d.path),
                None => String::new(),
            },
            known: if known.is_empty() {
                "none".into()
            } else {
                known.into_iter().collect::<Vec<_>>().join(", ")
            },
        });
    }
    extra_objects.sort();
    Ok(Resolved {
        namespaces: chosen.into_iter().collect(),
        extra_objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nss() -> Vec<(String, BTreeMap<String, String>)> {
        let l = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        vec![
            (
                "shop-api".into(),
                l(&[(STACK_LABEL, "shop"), ("team", "shop")]),
            ),
            ("shop-web".into(), l(&[(STACK_LABEL, "shop")])),
            ("payments".into(), l(&[("team", "payments")])),
            ("consul".into(), l(&[("team", "platform")])),
        ]
    }

    #[test]
    fn label_defines_a_stack_without_a_file() {
        let r = resolve("shop", None, &[], &nss(), "a").unwrap();
        assert_eq!(r.namespaces, ["shop-api", "shop-web"]);
        let e = resolve("nope", None, &["pay".into()], &nss(), "a")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Known stacks: pay, shop"), "{e}");
    }

    #[test]
    fn file_definition_with_selector_and_objects() {
        let f = parse(
            "stacks:\n  pay:\n    namespaces: [payments]\n    namespaceSelector: team=platform\n    objects:\n      - {kind: ClusterRole, name: metrics-reader}\n",
            "s.yaml",
        )
        .unwrap();
        let d = Defined {
            path: "s.yaml".into(),
            def: f.stacks["pay"].clone(),
        };
        let r = resolve("pay", Some(&d), &[], &nss(), "a").unwrap();
        assert_eq!(r.namespaces, ["consul", "payments"]);
        assert_eq!(r.extra_objects[0].name, "metrics-reader");
    }

    #[test]
    fn bad_files_and_missing_namespaces_are_refused() {
        assert!(matches!(
            parse("stacks:\n  x: {}\n", "s"),
            Err(StackError::Invalid { .. })
        ));
        assert!(matches!(
            parse("stacks:\n  x: {namespaces: [a], colour: red}\n", "s"),
            Err(StackError::Malformed { .. })
        ));
        assert!(matches!(
            parse("stacks:\n  x: {namespaceSelector: 'a in (b'}\n", "s"),
            Err(StackError::Invalid { .. })
        ));
        let d = Defined {
            path: "s".into(),
            def: StackDef {
                namespaces: vec!["ghost".into()],
                ..Default::default()
            },
        };
        assert!(matches!(
            resolve("x", Some(&d), &[], &nss(), "a"),
            Err(StackError::MissingNamespace { .. })
        ));
    }
}
