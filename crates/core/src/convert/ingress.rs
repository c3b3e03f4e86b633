//! Ingress from extensions/v1beta1 or networking.k8s.io/v1beta1 to
//! networking.k8s.io/v1: the backend shape changed and pathType became
//! required. Kept apart because every rule and path carries a backend.

use serde_json::{Map, Value, json};

use super::{items_mut, name_of, note, rename};
use crate::plan::{Finding, Severity};

/// The default pathType of v1beta1 (from 1.18), required in v1.
const DEFAULT_PATH_TYPE: &str = "ImplementationSpecific";

pub(super) fn to_v1(manifest: &mut Value) -> Vec<Finding> {
    let name = name_of(manifest).to_string();
    let mut findings = Vec::new();
    let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) else {
        return findings;
    };
    rename(spec, "backend", "defaultBackend");
    if let Some(backend) = spec.get_mut("defaultBackend") {
        convert_backend(backend, "spec.defaultBackend", &name, &mut findings);
    }
    let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) else {
        return findings;
    };
    for (r, rule) in rules.iter_mut().enumerate() {
        let Some(http) = rule.get_mut("http") else {
            continue;
        };
        for (p, path) in items_mut(http, "paths").enumerate() {
            let Some(path) = path.as_object_mut() else {
                continue;
            };
            if path.get("pathType").is_none_or(Value::is_null) {
                path.insert("pathType".into(), json!(DEFAULT_PATH_TYPE));
            }
            if let Some(backend) = path.get_mut("backend") {
                let at = format!("spec.rules[{r}].http.paths[{p}].backend");
                convert_backend(backend, &at, &name, &mut findings);
            }
        }
    }
    findings
}

/// `{serviceName, servicePort}` becomes `{service: {name, port: {number|name}}}`;
/// a `resource` backend is already in its v1 shape.
fn convert_backend(backend: &mut Value, at: &str, ingress: &str, findings: &mut Vec<Finding>) {
    let Some(b) = backend.as_object_mut() else {
        return;
    };
    let service_name = b.remove("serviceName");
    let service_port = b.remove("servicePort");
    if service_name.is_none() && service_port.is_none() {
        if !b.contains_key("resource") && !b.contains_key("service") {
            findings.push(note(
                Severity::Warning,
                format!("Ingress {ingress}: {at} names neither a service nor a resource"),
                "networking.k8s.io/v1 requires a backend to name a service or a resource; B refuses the Ingress",
                "complete or remove the backend before migrating",
            ));
        }
        return;
    }
    let mut service = Map::new();
    if let Some(n) = service_name {
        service.insert("name".into(), n);
    }
    match service_port {
        Some(Value::Number(n)) => {
            service.insert("port".into(), json!({ "number": n }));
        }
        Some(Value::String(s)) => {
            service.insert("port".into(), json!({ "name": s }));
        }
        Some(other) if !other.is_null() => {
            findings.push(note(
                Severity::Warning,
                format!("Ingress {ingress}: {at}.servicePort {other} is neither a number nor a name and is dropped"),
                "networking.k8s.io/v1 takes a port number or a port name; B refuses a backend service without a port",
                "set the port of the backend service in the manifest before migrating",
            ));
        }
        _ => {}
    }
    b.insert("service".into(), Value::Object(service));
}

#[cfg(test)]
mod tests {
    use super::super::{CONVERSIONS, convert, find_conversion};
    use serde_json::json;

    #[test]
    fn realistic_v1beta1_ingress_round_trip() {
        let mut m = json!({
            "apiVersion": "networking.k8s.io/v1beta1",
            "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": "web", "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
            "spec": {
                "ingressClassName": "nginx",
                "backend": {"serviceName": "fallback", "servicePort": 8080},
                "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                "rules": [
                    {"host": "shop.example.com", "http": {"paths": [
                        {"path": "/", "backend": {"serviceName": "front", "servicePort": "http"}},
                        {"path": "/api", "pathType": "Prefix", "backend": {"serviceName": "api", "servicePort": 9000}}
                    ]}},
                    {"host": "static.example.com", "http": {"paths": [
                        {"path": "/assets", "pathType": "Exact", "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "assets"}}}
                    ]}}
                ]
            }
        });
        let c = find_conversion(
            "Ingress",
            "networking.k8s.io/v1beta1",
            &["networking.k8s.io/v1".to_string()],
        )
        .unwrap();
        assert_eq!(c.id, "ingress-networking-v1beta1-to-v1");
        let out = convert(&mut m, Some(c), 22);
        assert_eq!(out.api_version, "networking.k8s.io/v1");
        assert_eq!(out.rules, vec!["ingress-networking-v1beta1-to-v1"]);
        assert!(out.findings.is_empty(), "{:?}", out.findings);
        assert_eq!(
            m,
            json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "shop", "namespace": "web", "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
                "spec": {
                    "ingressClassName": "nginx",
                    "defaultBackend": {"service": {"name": "fallback", "port": {"number": 8080}}},
                    "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                    "rules": [
                        {"host": "shop.example.com", "http": {"paths": [
                            {"path": "/", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "front", "port": {"name": "http"}}}},
                            {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"number": 9000}}}}
                        ]}},
                        {"host": "static.example.com", "http": {"paths": [
                            {"path": "/assets", "pathType": "Exact", "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "assets"}}}
                        ]}}
                    ]
                }
            })
        );
    }

    #[test]
    fn extensions_ingress_moves_group_and_reports_an_empty_backend() {
        let mut m = json!({
            "apiVersion": "extensions/v1beta1",
            "kind": "Ingress",
            "metadata": {"name": "old", "namespace": "web"},
            "spec": {"rules": [{"http": {"paths": [{"backend": {}}]}}]}
        });
        let c = CONVERSIONS
            .iter()
            .find(|c| c.id == "ingress-extensions-v1beta1-to-v1")
            .unwrap();
        let out = convert(&mut m, Some(c), 22);
        assert_eq!(m["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(
            m["spec"]["rules"][0]["http"]["paths"][0],
            json!({"pathType": "ImplementationSpecific", "backend": {}})
        );
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].rule, "ingress-extensions-v1beta1-to-v1");
        assert_eq!(
            out.findings[0].message,
            "Ingress old: spec.rules[0].http.paths[0].backend names neither a service nor a resource"
        );
    }

    #[test]
    fn ingress_class_v1beta1_is_renamed_only() {
        let mut m = json!({
            "apiVersion": "networking.k8s.io/v1beta1",
            "kind": "IngressClass",
            "metadata": {"name": "nginx"},
            "spec": {"controller": "k8s.io/ingress-nginx", "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}
        });
        let before = m.clone();
        let c = find_conversion(
            "IngressClass",
            "networking.k8s.io/v1beta1",
            &["networking.k8s.io/v1".into()],
        )
        .unwrap();
        let out = convert(&mut m, Some(c), 34);
        assert_eq!(out.rules, vec!["ingressclass-v1beta1-to-v1"]);
        assert_eq!(m["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(m["spec"], before["spec"]);
    }
}
