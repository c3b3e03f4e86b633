//! The HTML report must be one self-contained, well-formed page. The check is a
//! function so it can run on any report: set ABSHIFT_REPORT_HTML=path to check a
//! real estate's report; without it a representative plan is generated (and
//! written to ABSHIFT_REPORT_HTML_WRITE when that is set).

use abshift_core::diff::Action;
use abshift_core::model::ObjectRef;
use abshift_core::plan::{
    ClusterInfo, Finding, PLAN_VERSION, Plan, PlannedObject, PulledIn, Selection, Severity,
    SkippedObject, Summary, Warning,
};
use abshift_core::report::{Format, render};
use serde_json::json;

#[path = "support/html.rs"]
mod html;
use html::html_problems;

fn r(api: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: api.into(),
        kind: kind.into(),
        namespace: ns.map(Into::into),
        name: name.into(),
    }
}

fn object(o: &ObjectRef, wave: usize, action: Action, deps: Vec<ObjectRef>) -> PlannedObject {
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
        manifest: json!({"apiVersion": o.api_version, "kind": o.kind, "metadata": {"name": o.name, "labels": {"x": "<b>\"&'"}}}),
        secret_digest: None,
        secret_matches: None,
        pulled_in_by: vec![],
        diff: None,
        read_as: None,
        conversions: vec![],
        removes: vec![],
    }
}

/// A representative plan: several waves and namespaces, every action, a
/// pulled-in object, diffs, findings of each severity, skips and warnings,
/// and names that need escaping.
pub fn representative_plan() -> Plan {
    let cluster = |n: &str| ClusterInfo {
        context: format!("paas-{n}"),
        server: format!("https://{n}.example:6443"),
        fingerprint: format!("uid-{n}"),
        kubernetes_version: "v1.20.2".into(),
    };
    let mut objects = Vec::new();
    let sc = r("storage.k8s.io/v1", "StorageClass", None, "gp3");
    let mut sc_obj = object(&sc, 0, Action::Create, vec![]);
    sc_obj.pulled_in_by = vec![PulledIn {
        by: r("v1", "PersistentVolumeClaim", Some("shop"), "data"),
        reason: "spec.storageClassName".into(),
    }];
    objects.push(sc_obj);
    for (i, ns) in ["shop", "payments", "search</td>"].iter().enumerate() {
        let n = r("v1", "Namespace", None, ns);
        objects.push(object(&n, 0, Action::Unchanged, vec![]));
        let cm = r("v1", "ConfigMap", Some(ns), "settings");
        let mut cm_obj = object(&cm, 1, Action::Update, vec![n.clone()]);
        cm_obj.diff = Some("--- A (source)\n+++ B (target)\n@@ -1,3 +1,3 @@\n {\n-  \"mode\": \"<fast>\"\n+  \"mode\": \"slow\"\n }\n".into());
        objects.push(cm_obj);
        let s = r("v1", "Secret", Some(ns), "creds");
        let mut s_obj = object(&s, 1, Action::Conflict, vec![n.clone()]);
        s_obj.secret_digest = Some("hmac-sha256:00ff".into());
        s_obj.secret_matches = Some(false);
        objects.push(s_obj);
        for j in 0..4 {
            let d = r("apps/v1", "Deployment", Some(ns), &format!("app-{i}-{j}"));
            objects.push(object(
                &d,
                2,
                Action::Create,
                vec![n.clone(), cm.clone(), s.clone()],
            ));
        }
    }
    let mut p = Plan {
        version: PLAN_VERSION,
        id: String::new(),
        created_at: "2026-11-23T12:00:00Z".into(),
        abshift_version: "test".into(),
        source: cluster("a"),
        target: cluster("b"),
        selection: Selection {
            stack: Some("web & <shop>".into()),
            ..Default::default()
        },
        summary: Summary::default(),
        objects,
        skipped: vec![SkippedObject {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            namespace: Some("shop".into()),
            name: "app-0-0-5d9f".into(),
            rule: "controller-owned".into(),
            reason: "B's controller recreates it".into(),
        }],
        warnings: vec![Warning {
            object: None,
            message: "kind Foo.example.com is not served by B".into(),
        }],
        findings: [Severity::Error, Severity::Warning, Severity::Info]
            .into_iter()
            .map(|severity| Finding {
                rule: format!("rule-{}", severity.as_str()),
                severity,
                object: Some(r("v1", "Namespace", None, "shop")),
                message: "message with <tags> & \"quotes\"".into(),
                why: "why".into(),
                action: "action".into(),
            })
            .collect(),
        unavailable: vec![],
        digest_key: "00".into(),
        checksum: String::new(),
    };
    p.seal();
    p
}

#[test]
fn html_report_is_well_formed_and_self_contained() {
    let (text, what) = match std::env::var_os("ABSHIFT_REPORT_HTML") {
        Some(path) => (
            std::fs::read_to_string(&path).expect("read ABSHIFT_REPORT_HTML"),
            path.to_string_lossy().to_string(),
        ),
        None => (
            render(&representative_plan(), None, Format::Html),
            "generated report".into(),
        ),
    };
    // To look at the generated page (scripts/report-screenshot.sh), keep a copy.
    if let Some(out) = std::env::var_os("ABSHIFT_REPORT_HTML_WRITE") {
        std::fs::write(out, &text).expect("write ABSHIFT_REPORT_HTML_WRITE");
    }
    let problems = html_problems(&text);
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_catches_what_it_should() {
    let bad = "<!DOCTYPE html><html><head><title>t</title><style>@import 'x.css'; body{background:url(https://e.com/a.png)}</style></head><body><main><a href=\"https://e.com\">x</a><script src=\"http://e.com/x.js\"></script><svg><use xlink:href=\"http://e.com/s.svg#a\"/></svg><div></span></div></div></main></body></html>";
    let problems = html_problems(bad);
    for want in [
        "<div> opened 1 times, closed 2 times",
        "@import",
        "url() to https",
        "href=\"https://e.com\"",
        "src=\"http://e.com/x.js\"",
        "http://e.com/s.svg",
        "parse error",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "missed {want}: {problems:?}"
        );
    }
    let ok = "<!DOCTYPE html><html><head><title>t</title><style>.a{background:url(data:image/png;base64,AA)}</style></head><body><main><a href=\"#x\">x</a></main></body></html>";
    assert!(html_problems(ok).is_empty(), "{:?}", html_problems(ok));
}
