//! Reports of the real sample estate: every format rendered from a plan made
//! against real clusters (with conflicts and a differing Secret in B), the
//! dry-run report, the HTML checked for markup and outside references, and
//! every output searched for every secret value of the estate.

mod support;

#[path = "support/html.rs"]
mod html;

use std::path::{Path, PathBuf};

use support::{Env, secret_values};

/// A value only B's copy of a Secret holds: it must not leak either.
const B_ONLY_SECRET: &str = "b-side-only-secret-7Hq2Zx";

fn env() -> Option<&'static Env> {
    static SEEDED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let env = support::env("report")?;
    SEEDED.get_or_init(|| {
        env.seed("paas-a", &support::estate_dir());
        // Someone else's objects in B: a Secret with another value and a ConfigMap
        // that differs, so the plan has conflicts with diffs.
        for args in [
            vec!["create", "namespace", "shop-api"],
            vec![
                "-n",
                "shop-api",
                "create",
                "secret",
                "generic",
                "api-jwt-signing",
                &*Box::leak(format!("--from-literal=key={B_ONLY_SECRET}").into_boxed_str()),
            ],
            vec![
                "-n",
                "shop-api",
                "create",
                "configmap",
                "api-config",
                "--from-literal=LOG_LEVEL=debug",
            ],
        ] {
            let o = env.kubectl("paas-b", &args);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    });
    Some(env)
}

fn run_ok(env: &Env, args: &[&str]) -> String {
    let out = env.abshift(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "abshift {args:?}: {text}");
    text
}

fn assert_no_secret(what: &str, text: &str) {
    for v in secret_values()
        .iter()
        .map(String::as_str)
        .chain([B_ONLY_SECRET])
    {
        assert!(
            !text.contains(v),
            "{what} contains a secret value ({} chars)",
            v.len()
        );
    }
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn every_report_format_of_the_estate_is_complete_and_secret_free() {
    let Some(env) = env() else { return };
    let dir = env.dir.join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    let plan = path(&dir, "plan.json");
    let html_path = path(&dir, "plan.html");
    let mut outputs = vec![run_ok(
        env,
        &[
            "migrate",
            "plan",
            "--from",
            "paas-a",
            "--to",
            "paas-b",
            "-o",
            plan.to_str().unwrap(),
            "--report",
            html_path.to_str().unwrap(),
        ],
    )];
    for format in ["md", "json", "dot", "svg", "html"] {
        let out = path(&dir, &format!("report.{format}"));
        outputs.push(run_ok(
            env,
            &[
                "report",
                plan.to_str().unwrap(),
                "--format",
                format,
                "-o",
                out.to_str().unwrap(),
            ],
        ));
    }
    // Markdown on stdout too, the default format.
    outputs.push(run_ok(env, &["report", plan.to_str().unwrap()]));

    let md = std::fs::read_to_string(path(&dir, "report.md")).unwrap();
    for want in [
        "## Summary",
        "conflict",
        "pdb-blocks-drain",
        "no-readiness-probe",
        "node-port-service",
        "pvc-data-not-moved",
        "host-path-volume",
        "cronjob-runs-twice",
        "api-config",
        "LOG_LEVEL",
        "Secret's value in B differs",
    ] {
        assert!(md.contains(want), "markdown report lacks {want}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path(&dir, "report.json")).unwrap()).unwrap();
    assert!(json.is_object());
    let dot = std::fs::read_to_string(path(&dir, "report.dot")).unwrap();
    assert!(dot.starts_with("digraph"), "{}", &dot[..dot.len().min(80)]);
    let svg = std::fs::read_to_string(path(&dir, "report.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));

    // The HTML report, from both ways of producing it: well-formed, self-contained.
    for file in [html_path.clone(), path(&dir, "report.html")] {
        let text = std::fs::read_to_string(&file).unwrap();
        let problems = html::html_problems(&text);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            file.display(),
            problems.join("\n")
        );
        assert!(text.contains("shop-api") && text.contains("<svg"));
    }

    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        assert_no_secret(
            &p.display().to_string(),
            &std::fs::read_to_string(&p).unwrap(),
        );
    }
    for o in &outputs {
        assert_no_secret("abshift's output", o);
    }
}

#[test]
fn dry_run_report_adds_b_s_verdict_per_object() {
    let Some(env) = env() else { return };
    let dir = env.dir.join("dry-run");
    std::fs::create_dir_all(&dir).unwrap();
    let plan = path(&dir, "plan.json");
    run_ok(
        env,
        &[
            "migrate",
            "plan",
            "--from",
            "paas-a",
            "--to",
            "paas-b",
            "-n",
            "payments",
            "-o",
            plan.to_str().unwrap(),
        ],
    );
    for ext in ["md", "html", "json"] {
        let report = path(&dir, &format!("dry.{ext}"));
        let out = env.abshift(&[
            "migrate",
            "apply",
            plan.to_str().unwrap(),
            "--dry-run",
            "--yes",
            "--report",
            report.to_str().unwrap(),
        ]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert_no_secret("dry-run output", &text);
        let body = std::fs::read_to_string(&report).unwrap();
        assert_no_secret(&report.display().to_string(), &body);
        assert!(
            body.contains("accepted") || body.contains("deferred"),
            "{ext} report has no dry-run outcome"
        );
        if ext == "html" {
            let problems = html::html_problems(&body);
            assert!(problems.is_empty(), "{}", problems.join("\n"));
        }
    }
    // Nothing was written to B by the dry run.
    let o = env.kubectl("paas-b", &["get", "namespace", "payments"]);
    assert!(!o.status.success());
}
