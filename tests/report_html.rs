//! The HTML report must be one self-contained, well-formed page. The check is a
//! function so it can run on any report: set ABSHIFT_REPORT_HTML=path to check a
//! real estate's report; without it a representative plan is generated (and
//! written to ABSHIFT_REPORT_HTML_WRITE when that is set).

use abshift::diff::Action;
use abshift::model::ObjectRef;
use abshift::plan::{
    ClusterInfo, Finding, PLAN_VERSION, Plan, PlannedObject, PulledIn, Selection, Severity,
    SkippedObject, Summary, Warning,
};
use abshift::report::{Format, render};
use scraper::{Html, Selector};
use serde_json::json;

/// Attributes that make a browser fetch or navigate somewhere.
const URL_ATTRIBUTES: &[&str] = &[
    "src",
    "href",
    "xlink:href",
    "action",
    "formaction",
    "poster",
    "data",
    "background",
    "cite",
    "srcset",
    "manifest",
    "ping",
    "longdesc",
    "codebase",
];

fn local(value: &str) -> bool {
    let v = value.trim();
    v.starts_with('#') || v.starts_with("data:")
}

/// Every `url(...)` in CSS text points inside the page, and nothing is imported.
fn check_css(css: &str, where_: &str, problems: &mut Vec<String>) {
    let lower = css.to_ascii_lowercase();
    if lower.contains("@import") {
        problems.push(format!("{where_}: CSS @import"));
    }
    for (i, _) in lower.match_indices("url(") {
        let rest = lower[i + 4..].trim_start_matches([' ', '"', '\'']);
        if !local(rest) {
            problems.push(format!(
                "{where_}: CSS url() to {}",
                &rest[..rest.len().min(40)]
            ));
        }
    }
}

/// Returns every problem found: parse errors, missing structure, and anything
/// that references a resource outside the page.
pub fn html_problems(text: &str) -> Vec<String> {
    let doc = Html::parse_document(text);
    let mut problems: Vec<String> = doc
        .errors
        .iter()
        .map(|e| format!("parse error: {e}"))
        .collect();
    if !text
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("<!doctype html>")
    {
        problems.push("no <!DOCTYPE html>".into());
    }
    for (tag, want) in [
        ("html", 1),
        ("head", 1),
        ("body", 1),
        ("head > title", 1),
        ("main", 1),
    ] {
        let n = doc.select(&Selector::parse(tag).unwrap()).count();
        if n != want {
            problems.push(format!("{n} elements matching {tag}, expected {want}"));
        }
    }
    // Balanced containers in the source itself: the parser repairs what it
    // reads, so count tags too (page text is escaped, so `<tag` is markup).
    for tag in [
        "section", "details", "summary", "table", "tbody", "tr", "div", "ul", "pre", "svg", "g",
    ] {
        let lower = text.to_ascii_lowercase();
        let opened =
            lower.matches(&format!("<{tag}>")).count() + lower.matches(&format!("<{tag} ")).count();
        let closed = lower.matches(&format!("</{tag}>")).count();
        if opened != closed {
            problems.push(format!(
                "<{tag}> opened {opened} times, closed {closed} times"
            ));
        }
    }
    for forbidden in ["iframe", "object", "embed", "link", "base", "img", "frame"] {
        if doc
            .select(&Selector::parse(forbidden).unwrap())
            .next()
            .is_some()
        {
            problems.push(format!("<{forbidden}> element"));
        }
    }
    for el in doc.select(&Selector::parse("*").unwrap()) {
        let name = el.value().name();
        for (attr, value) in el.value().attrs() {
            let attr = attr.to_ascii_lowercase();
            if URL_ATTRIBUTES.contains(&attr.as_str()) && !local(value) {
                problems.push(format!(
                    "<{name} {attr}=\"{value}\"> points outside the page"
                ));
            }
            if attr == "style" || value.to_ascii_lowercase().contains("url(") {
                check_css(value, &format!("<{name} {attr}>"), &mut problems);
            }
            if attr == "http-equiv" && value.eq_ignore_ascii_case("refresh") {
                problems.push("meta refresh".into());
            }
        }
        if name == "style" {
            check_css(&el.text().collect::<String>(), "<style>", &mut problems);
        }
    }
    problems
}

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
        pulled_in_by: vec![],
        diff: None,
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
        s_obj.secret_digest = Some("sha256:00ff".into());
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
