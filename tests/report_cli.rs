//! `abshift report` end to end on a plan file: formats chosen by flag or
//! extension, bad extensions and tampered plans refused with no file left.

use std::process::{Command, Output};

use abshift_core::diff::Action;
use abshift_core::plan::{ClusterInfo, PLAN_VERSION, Plan, PlannedObject, Selection, Summary};
use serde_json::json;

fn plan_file(dir: &std::path::Path) -> std::path::PathBuf {
    let cluster = |n: &str| ClusterInfo {
        context: format!("paas-{n}"),
        server: format!("https://{n}.example"),
        fingerprint: format!("uid-{n}"),
        kubernetes_version: "v1.20.2".into(),
    };
    let mut p = Plan {
        version: PLAN_VERSION,
        id: String::new(),
        created_at: "2026-11-23T12:00:00Z".into(),
        abshift_version: "test".into(),
        source: cluster("a"),
        target: cluster("b"),
        selection: Selection::default(),
        summary: Summary::default(),
        objects: vec![PlannedObject {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("shop".into()),
            name: "settings".into(),
            resource: "configmaps".into(),
            namespaced: true,
            wave: 0,
            action: Action::Create,
            depends_on: vec![],
            manifest: json!({"data": {"mode": "fast"}}),
            secret_digest: None,
            secret_matches: None,
            pulled_in_by: vec![],
            diff: None,
            read_as: None,
            conversions: vec![],
            removes: vec![],
        }],
        skipped: vec![],
        warnings: vec![],
        findings: vec![],
        unavailable: vec![],
        digest_key: "00".into(),
        checksum: String::new(),
    };
    p.seal();
    let path = dir.join("plan.json");
    std::fs::write(&path, p.to_json()).unwrap();
    path
}

fn abshift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_abshift"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn report_formats_by_flag_extension_and_default() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_file(dir.path());
    let plan = plan.to_str().unwrap();
    let html = dir.path().join("r.html");
    let out = abshift(&["report", plan, "-o", html.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );

    let out = abshift(&["report", plan, "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["objects"], 1);

    let out = abshift(&["report", plan]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# abshift migration report"));

    // --format wins over the extension.
    let svg = dir.path().join("graph.txt");
    let out = abshift(&[
        "report",
        plan,
        "--format",
        "svg",
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}

#[test]
fn unknown_extension_and_tampered_plan_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_file(dir.path());
    let pdf = dir.path().join("r.pdf");
    let out = abshift(&[
        "report",
        plan.to_str().unwrap(),
        "-o",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".md") && err.contains(".html") && err.contains(".svg"),
        "{err}"
    );
    assert!(!pdf.exists());

    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, text.replace("\"fast\"", "\"slow\"")).unwrap();
    let md = dir.path().join("r.md");
    let out = abshift(&["report", plan.to_str().unwrap(), "-o", md.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"));
    assert!(!md.exists());
}

#[test]
fn report_flags_of_plan_and_apply_are_checked_before_any_cluster_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_file(dir.path());
    let md = dir.path().join("r.md");
    // No --dry-run: refused before the plan or a cluster is touched.
    let out = abshift(&[
        "migrate",
        "apply",
        plan.to_str().unwrap(),
        "--report",
        md.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dry-run"));
    let out = abshift(&[
        "migrate",
        "apply",
        plan.to_str().unwrap(),
        "--dry-run",
        "--report",
        "r.pdf",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = abshift(&["migrate", "plan", "--to", "paas-b", "--report", "r.docx"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".html"));
    assert!(!md.exists());
}
