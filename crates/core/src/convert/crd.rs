//! CustomResourceDefinitions across the v1beta1 -> v1 line: moving the
//! per-CRD fields into each version, and making v1beta1-era CRDs (no schema,
//! `preserveUnknownFields: true`) into the structural ones v1 requires.

use serde_json::{Map, Value, json};

use super::{RuleOutcome, child_map, items_mut, name_of, note, rename, set_default};
use crate::plan::{Finding, Severity};

/// Fields v1beta1 allowed once for all versions, with their name in a v1 version entry.
const PER_VERSION_FIELDS: &[(&str, &str)] = &[
    ("validation", "schema"),
    ("subresources", "subresources"),
    ("additionalPrinterColumns", "additionalPrinterColumns"),
];

pub(super) fn v1beta1_to_v1(manifest: &mut Value) -> Vec<Finding> {
    let name = name_of(manifest).to_string();
    let mut findings = Vec::new();
    let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) else {
        return findings;
    };
    // v1beta1 defaults that v1 either requires or defaults differently.
    set_default(spec, "preserveUnknownFields", json!(true));
    set_default(spec, "scope", json!("Namespaced"));
    let version = spec.remove("version");
    let no_versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_versions && let Some(v) = version {
        spec.insert(
            "versions".into(),
            json!([{ "name": v, "served": true, "storage": true }]),
        );
    }
    for (old, new) in PER_VERSION_FIELDS {
        let Some(top) = spec.remove(*old).filter(|v| !v.is_null()) else {
            continue;
        };
        let Some(versions) = spec.get_mut("versions").and_then(Value::as_array_mut) else {
            continue;
        };
        for v in versions.iter_mut().filter_map(Value::as_object_mut) {
            if v.get(*new).is_some_and(|x| !x.is_null()) {
                let vname = v.get("name").and_then(Value::as_str).unwrap_or("");
                findings.push(note(
                    Severity::Warning,
                    format!("CustomResourceDefinition {name}: spec.{old} and spec.versions[{vname}].{new} are both set; the version's own is kept"),
                    "v1beta1 forbade setting both; apiextensions.k8s.io/v1 has only the per-version field",
                    "check that the version's own value is the one meant",
                ));
            } else {
                v.insert(new.to_string(), top.clone());
            }
        }
    }
    if let Some(versions) = spec.get_mut("versions") {
        for v in items_mut_of(versions) {
            for column in items_mut(v, "additionalPrinterColumns") {
                if let Some(c) = column.as_object_mut() {
                    rename(c, "JSONPath", "jsonPath");
                }
            }
        }
    }
    if let Some(conversion) = spec.get_mut("conversion").and_then(Value::as_object_mut) {
        let client = conversion.remove("webhookClientConfig");
        let review = conversion.remove("conversionReviewVersions");
        let webhook = conversion.get("strategy").and_then(Value::as_str) == Some("Webhook");
        if (webhook || client.is_some())
            && let Some(w) = child_map(conversion, "webhook")
        {
            if let Some(c) = client {
                set_default(w, "clientConfig", c);
            }
            set_default(
                w,
                "conversionReviewVersions",
                review.unwrap_or_else(|| json!(["v1beta1"])),
            );
        }
    }
    findings
}

fn items_mut_of(array: &mut Value) -> impl Iterator<Item = &mut Value> {
    array.as_array_mut().into_iter().flatten()
}

const STRUCTURAL_WHY: &str = "apiextensions.k8s.io/v1 refuses spec.preserveUnknownFields: true; marking the schemas keeps every field of the custom resources, as A did, instead of pruning unknown ones in B";
const STRUCTURAL_ACTION: &str = "nothing for the migration; to get pruning and defaulting in B, publish a complete structural schema for the CRD later";
const UNTYPED_WHY: &str = "apiextensions.k8s.io/v1 requires a structural schema, where every node has a type: B refuses the CRD";
const UNTYPED_ACTION: &str = "add the type (or x-kubernetes-int-or-string / x-kubernetes-preserve-unknown-fields where meant) to the CRD's schema before migrating";

/// Object rule `crd-structural-schema`: only for apiextensions.k8s.io/v1 manifests.
pub(super) fn structural(manifest: &mut Value, _target_minor: u32) -> RuleOutcome {
    let mut out = RuleOutcome::default();
    if manifest.get("apiVersion").and_then(Value::as_str) != Some("apiextensions.k8s.io/v1") {
        return out;
    }
    let name = name_of(manifest).to_string();
    let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) else {
        return out;
    };
    let preserve = spec.get("preserveUnknownFields") == Some(&Value::Bool(true));
    if preserve {
        spec.remove("preserveUnknownFields");
        out.changed = true;
    }
    let mut marked = Vec::new();
    let mut untyped = Vec::new();
    for version in spec
        .get_mut("versions")
        .map(items_mut_of)
        .into_iter()
        .flatten()
    {
        let Some(v) = version.as_object_mut() else {
            continue;
        };
        let vname = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let Some(schema) = child_map(v, "schema") else {
            continue;
        };
        let root = schema.entry("openAPIV3Schema").or_insert(Value::Null);
        if !root.is_object() {
            *root = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
            out.changed = true;
            marked.push(format!(
                "{vname} (no schema: one accepting any field was created)"
            ));
            continue;
        }
        let root = root.as_object_mut().expect("checked above");
        if set_default(root, "type", json!("object")) {
            out.changed = true;
        }
        let mut typed = 0;
        let mut loose = 0;
        for_each_child(root, &mut |node, path| {
            if node.contains_key("type")
                || node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
                || node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
            {
                return;
            }
            if node.contains_key("properties") || node.contains_key("additionalProperties") {
                node.insert("type".into(), json!("object"));
                typed += 1;
            } else if node.contains_key("items") {
                node.insert("type".into(), json!("array"));
                typed += 1;
            } else if preserve {
                // Unvalidated before, so accepting anything there loses nothing.
                node.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
                loose += 1;
            } else {
                untyped.push(format!("{vname}: {path}"));
            }
        });
        out.changed |= typed + loose > 0;
        if preserve {
            let mut nested = loose;
            if set_default(root, "x-kubernetes-preserve-unknown-fields", json!(true)) {
                out.changed = true;
            }
            for_each_child(root, &mut |node, _| {
                if node.contains_key("properties")
                    && !node.contains_key("additionalProperties")
                    && set_default(node, "x-kubernetes-preserve-unknown-fields", json!(true))
                {
                    nested += 1;
                }
            });
            out.changed |= nested > 0;
            marked.push(match nested {
                0 => vname.clone(),
                n => format!("{vname} (root and {n} nested nodes)"),
            });
        }
    }
    if preserve || !marked.is_empty() {
        out.findings.push(note(
            Severity::Info,
            format!(
                "CustomResourceDefinition {name}: {}x-kubernetes-preserve-unknown-fields: true set on the schema of version {}",
                if preserve { "spec.preserveUnknownFields: true removed; " } else { "" },
                marked.join(", ")
            ),
            STRUCTURAL_WHY,
            STRUCTURAL_ACTION,
        ));
    }
    if !untyped.is_empty() {
        out.findings.push(note(
            Severity::Warning,
            format!(
                "CustomResourceDefinition {name}: schema nodes without a type that abshift cannot infer: {}",
                untyped.join(", ")
            ),
            UNTYPED_WHY,
            UNTYPED_ACTION,
        ));
    }
    out
}

/// Calls `f` on every schema node below `node` reached through properties,
/// additionalProperties or items, with a path like `.spec.ports[*]`. Value
/// validations (allOf, anyOf, oneOf, not) are not structural and not visited.
fn for_each_child(node: &mut Map<String, Value>, f: &mut dyn FnMut(&mut Map<String, Value>, &str)) {
    walk(node, "", f);
}

fn walk(
    node: &mut Map<String, Value>,
    path: &str,
    f: &mut dyn FnMut(&mut Map<String, Value>, &str),
) {
    if let Some(props) = node.get_mut("properties").and_then(Value::as_object_mut) {
        for (key, child) in props.iter_mut() {
            if let Some(c) = child.as_object_mut() {
                let p = format!("{path}.{key}");
                f(c, &p);
                walk(c, &p, f);
            }
        }
    }
    if let Some(c) = node
        .get_mut("additionalProperties")
        .and_then(Value::as_object_mut)
    {
        let p = format!("{path}.*");
        f(c, &p);
        walk(c, &p, f);
    }
    if let Some(c) = node.get_mut("items").and_then(Value::as_object_mut) {
        let p = format!("{path}[*]");
        f(c, &p);
        walk(c, &p, f);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{convert, find_conversion};
    use crate::plan::Severity;
    use serde_json::json;

    #[test]
    fn v1beta1_era_crd_as_a_1_20_server_returns_it_becomes_valid_v1() {
        // What a 1.20 API server returns at v1 for a CRD created through v1beta1 without a schema.
        let mut m = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"},
                "scope": "Namespaced",
                "preserveUnknownFields": true,
                "conversion": {"strategy": "None"},
                "versions": [
                    {"name": "v1alpha1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true}
                ]
            }
        });
        let out = convert(&mut m, None, 34);
        assert_eq!(out.rules, vec!["crd-structural-schema"]);
        assert_eq!(out.api_version, "apiextensions.k8s.io/v1");
        let preserve = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
        assert_eq!(
            m["spec"],
            json!({
                "group": "example.com",
                "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"},
                "scope": "Namespaced",
                "conversion": {"strategy": "None"},
                "versions": [
                    {"name": "v1alpha1", "served": true, "storage": false, "schema": preserve},
                    {"name": "v1", "served": true, "storage": true, "schema": preserve}
                ]
            })
        );
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].rule, "crd-structural-schema");
        assert_eq!(out.findings[0].severity, Severity::Info);
        assert_eq!(
            out.findings[0].message,
            "CustomResourceDefinition widgets.example.com: spec.preserveUnknownFields: true removed; x-kubernetes-preserve-unknown-fields: true set on the schema of version v1alpha1 (no schema: one accepting any field was created), v1 (no schema: one accepting any field was created)"
        );
    }

    #[test]
    fn preserved_schema_is_marked_at_root_and_on_nested_objects() {
        let mut m = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.com"},
            "spec": {"preserveUnknownFields": true, "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"properties": {
                    "spec": {"properties": {"size": {"type": "integer"}, "ports": {"items": {"type": "integer"}}, "odd": {"description": "?"}}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                }}}}]}
        });
        let out = convert(&mut m, None, 22);
        assert_eq!(out.rules, vec!["crd-structural-schema"]);
        assert_eq!(
            m["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                    "size": {"type": "integer"}, "ports": {"type": "array", "items": {"type": "integer"}},
                    "odd": {"description": "?", "x-kubernetes-preserve-unknown-fields": true}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            }})
        );
        assert!(m["spec"].get("preserveUnknownFields").is_none());
        let messages: Vec<(&str, Severity)> = out
            .findings
            .iter()
            .map(|f| (f.message.as_str(), f.severity))
            .collect();
        assert_eq!(
            messages,
            vec![(
                "CustomResourceDefinition gadgets.example.com: spec.preserveUnknownFields: true removed; x-kubernetes-preserve-unknown-fields: true set on the schema of version v1 (root and 2 nested nodes)",
                Severity::Info
            ),]
        );
    }

    #[test]
    fn untyped_nodes_of_a_pruning_crd_are_reported() {
        let mut m = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "odd.example.com"},
            "spec": {"versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"properties": {"mode": {"enum": ["a", "b"]}, "port": {"x-kubernetes-int-or-string": true}}}}}}}]}
        });
        let out = convert(&mut m, None, 34);
        assert_eq!(out.rules, vec!["crd-structural-schema"]);
        assert_eq!(
            m["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"],
            json!({"type": "object", "properties": {"mode": {"enum": ["a", "b"]}, "port": {"x-kubernetes-int-or-string": true}}})
        );
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].severity, Severity::Warning);
        assert_eq!(
            out.findings[0].message,
            "CustomResourceDefinition odd.example.com: schema nodes without a type that abshift cannot infer: v1: .spec.mode"
        );
    }

    #[test]
    fn structural_crd_is_untouched_and_the_rule_not_recorded() {
        let mut m = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "ok.example.com"},
            "spec": {"preserveUnknownFields": false, "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
        });
        let before = m.clone();
        let out = convert(&mut m, None, 34);
        assert!(out.rules.is_empty());
        assert!(out.findings.is_empty());
        assert_eq!(m, before);
    }

    #[test]
    fn v1beta1_crd_moves_top_level_fields_into_versions() {
        let mut m = json!({
            "apiVersion": "apiextensions.k8s.io/v1beta1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "version": "v1",
                "names": {"kind": "CronTab", "plural": "crontabs"},
                "validation": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cron": {"type": "string"}}}}}},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Cron", "type": "string", "JSONPath": ".spec.cron"}],
                "conversion": {"strategy": "Webhook", "webhookClientConfig": {"service": {"namespace": "crons", "name": "conv", "path": "/convert"}, "caBundle": "Q0E="}}
            }
        });
        let c = find_conversion(
            "CustomResourceDefinition",
            "apiextensions.k8s.io/v1beta1",
            &["apiextensions.k8s.io/v1".into()],
        )
        .unwrap();
        let out = convert(&mut m, Some(c), 22);
        assert_eq!(
            out.rules,
            vec!["crd-v1beta1-to-v1", "crd-structural-schema"]
        );
        let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"cron": {"type": "string"}}}}}});
        assert_eq!(
            m,
            json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": "crontabs.stable.example.com"},
                "spec": {
                    "group": "stable.example.com",
                    "names": {"kind": "CronTab", "plural": "crontabs"},
                    "scope": "Namespaced",
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": schema,
                        "subresources": {"status": {}},
                        "additionalPrinterColumns": [{"name": "Cron", "type": "string", "jsonPath": ".spec.cron"}]}],
                    "conversion": {"strategy": "Webhook", "webhook": {
                        "clientConfig": {"service": {"namespace": "crons", "name": "conv", "path": "/convert"}, "caBundle": "Q0E="},
                        "conversionReviewVersions": ["v1beta1"]}}
                }
            })
        );
    }

    #[test]
    fn v1beta1_crd_with_explicit_pruning_keeps_its_schema_as_is() {
        let mut m = json!({
            "apiVersion": "apiextensions.k8s.io/v1beta1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "x.example.com"},
            "spec": {"preserveUnknownFields": false, "scope": "Cluster",
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "additionalPrinterColumns": [{"name": "A", "type": "string", "JSONPath": ".a"}]}],
                "validation": {"openAPIV3Schema": {"type": "object"}},
                "conversion": {"strategy": "None", "conversionReviewVersions": ["v1beta1"]}}
        });
        let c = find_conversion(
            "CustomResourceDefinition",
            "apiextensions.k8s.io/v1beta1",
            &["apiextensions.k8s.io/v1".into()],
        )
        .unwrap();
        let out = convert(&mut m, Some(c), 22);
        assert_eq!(out.rules, vec!["crd-v1beta1-to-v1"]);
        assert_eq!(
            m["spec"],
            json!({"preserveUnknownFields": false, "scope": "Cluster",
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "additionalPrinterColumns": [{"name": "A", "type": "string", "jsonPath": ".a"}],
                    "schema": {"openAPIV3Schema": {"type": "object"}}}],
                "conversion": {"strategy": "None"}})
        );
    }
}
