//! Hand-made plans for the report tests: every section of a report filled,
//! including the awkward cases (hostile names, a Secret that carries values).

use serde_json::json;

use crate::diff::Action;
use crate::model::ObjectRef;
use crate::plan::*;

pub(crate) const HOSTILE: &str = "<script>&\"x";
pub(crate) const SECRET_VALUES: &[&str] =
    &["c3VwZXJzZWNyZXQ=", "plain-token-value", "aHVudGVyMg=="];

pub(crate) fn r(api: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: api.into(),
        kind: kind.into(),
        namespace: ns.map(Into::into),
        name: name.into(),
    }
}

pub(crate) fn object(
    o: &ObjectRef,
    wave: usize,
    action: Action,
    deps: Vec<ObjectRef>,
) -> PlannedObject {
    PlannedObject {
        api_version: o.api_version.clone(),
        kind: o.kind.clone(),
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        resource: format!("{}s", o.kind.to_lowercase()),
        namespaced: o.namespace.is_some(),
        wave,
        action,
        depends_on: deps,
        manifest: json!({"apiVersion": o.api_version, "kind": o.kind, "metadata": {"name": o.name}}),
        secret_digest: None,
        secret_matches: None,
        pulled_in_by: vec![],
        diff: None,
        read_as: None,
        conversions: vec![],
        removes: vec![],
    }
}

fn cluster(name: &str) -> ClusterInfo {
    ClusterInfo {
        context: format!("paas-{name}"),
        server: format!("https://{name}.example:6443"),
        fingerprint: format!("uid-{name}"),
        kubernetes_version: "v1.20.2".into(),
    }
}

pub(crate) fn empty_plan() -> Plan {
    Plan {
        version: PLAN_VERSION,
        id: String::new(),
        created_at: "2026-11-23T12:00:00Z".into(),
        abshift_version: "test".into(),
        source: cluster("a"),
        target: cluster("b"),
        selection: Selection {
            stack: Some("shop".into()),
            namespaces: vec!["shop".into()],
            ..Default::default()
        },
        summary: Summary::default(),
        objects: vec![],
        skipped: vec![],
        warnings: vec![],
        findings: vec![],
        unavailable: vec![],
        digest_key: "5ec7e7ca11ab1e00".into(),
        checksum: String::new(),
    }
}

/// A small plan with every section filled.
pub(crate) fn sample() -> Plan {
    let mut p = empty_plan();
    let ns = r("v1", "Namespace", None, "shop");
    let sc = r("storage.k8s.io/v1", "StorageClass", None, "fast");
    let cm = r("v1", "ConfigMap", Some("shop"), HOSTILE);
    let sec = r("v1", "Secret", Some("shop"), "db-credentials");
    let dep = r("apps/v1", "Deployment", Some("shop"), "web");
    let pvc = r("v1", "PersistentVolumeClaim", Some("shop"), "data");
    let mut sc_obj = object(&sc, 0, Action::Create, vec![]);
    sc_obj.pulled_in_by = vec![PulledIn {
        by: pvc.clone(),
        reason: "spec.storageClassName".into(),
    }];
    let mut cm_obj = object(&cm, 1, Action::Update, vec![ns.clone()]);
    cm_obj.manifest["metadata"]["labels"] = json!({"team": HOSTILE});
    cm_obj.diff = Some(
        "--- A (source)\n+++ B (target)\n@@ -1,3 +1,3 @@\n {\n-  \"mode\": \"<fast>\"\n+  \"mode\": \"slow\"\n".into(),
    );
    let mut sec_obj = object(&sec, 1, Action::Conflict, vec![ns.clone()]);
    // Wrong on purpose: a plan must never hold these, the report must not show them.
    sec_obj.manifest["data"] = json!({"password": SECRET_VALUES[0]});
    sec_obj.manifest["stringData"] = json!({"token": SECRET_VALUES[1]});
    sec_obj.secret_digest = Some("hmac-sha256:abcdef0123".into());
    sec_obj.secret_matches = Some(false);
    sec_obj.diff = Some(format!(
        "--- A (source)\n+++ B (target)\n@@ -1,6 +1,6 @@\n {{\n   \"data\": {{\n-    \"password\": \"{}\"\n+    \"password\": \"{}\"\n   }},\n   \"type\": \"Opaque\"\n@@ -9,2 +9,2 @@\n-    \"token\": \"{}\"\n+    \"token\": \"x\"\n",
        SECRET_VALUES[0], SECRET_VALUES[2], SECRET_VALUES[1]
    ));
    p.objects = vec![
        object(&ns, 0, Action::Unchanged, vec![]),
        sc_obj,
        cm_obj,
        sec_obj,
        object(&pvc, 1, Action::Create, vec![ns.clone(), sc.clone()]),
        object(
            &dep,
            2,
            Action::Create,
            vec![ns.clone(), cm.clone(), sec.clone(), pvc.clone()],
        ),
    ];
    p.skipped = vec![
        SkippedObject {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            namespace: Some("shop".into()),
            name: "web-5d9f".into(),
            rule: "controller-owned".into(),
            reason: "B's controller recreates it".into(),
        },
        SkippedObject {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some("shop".into()),
            name: "web-5d9f-abcde".into(),
            rule: "controller-owned".into(),
            reason: "B's controller recreates it".into(),
        },
    ];
    p.warnings = vec![Warning {
        object: Some(dep.clone()),
        message: "uses a hostPath volume".into(),
    }];
    p.findings = vec![
        Finding {
            rule: "pvc-zonal".into(),
            severity: Severity::Error,
            object: Some(pvc.clone()),
            message: "claim bound to an EBS volume in eu-west-1a".into(),
            why: "B's nodes may sit in another zone".into(),
            action: "snapshot and restore, or pin B's nodes".into(),
        },
        Finding {
            rule: "single-replica".into(),
            severity: Severity::Info,
            object: None,
            message: format!("label {HOSTILE}"),
            why: "downtime".into(),
            action: "scale up".into(),
        },
    ];
    p.seal();
    p
}

/// A plan of `n` ConfigMaps spread over three waves, each depending on its namespace.
pub(crate) fn large(n: usize) -> Plan {
    let mut p = empty_plan();
    let ns = r("v1", "Namespace", None, "bulk");
    p.objects.push(object(&ns, 0, Action::Create, vec![]));
    for i in 0..n {
        let (kind, wave) = if i % 2 == 0 {
            ("ConfigMap", 1)
        } else {
            ("Deployment", 2)
        };
        let api = if kind == "ConfigMap" { "v1" } else { "apps/v1" };
        let o = r(api, kind, Some("bulk"), &format!("obj-{i}"));
        let mut deps = vec![ns.clone()];
        if kind == "Deployment" {
            deps.push(r(
                "v1",
                "ConfigMap",
                Some("bulk"),
                &format!("obj-{}", i - 1),
            ));
        }
        p.objects.push(object(&o, wave, Action::Create, deps));
    }
    p.seal();
    p
}
