//! The report tests: every format rendered from hand-made plans (`testplan`),
//! hostile names escaped, Secret values never shown, big plans aggregated.

use std::path::Path;

use serde_json::Value;

use super::redact::REDACTED;
use super::testplan::{HOSTILE, SECRET_VALUES, large, sample};
use super::wavegraph::AGGREGATE_ABOVE;
use super::*;
use crate::outcome::{ApplySummary, ObjectResult, Outcome};

const ALL: &[Format] = &[
    Format::Markdown,
    Format::Html,
    Format::Json,
    Format::Dot,
    Format::Svg,
];

fn dry_run_summary() -> ApplySummary {
    let plan = sample();
    let pvc = plan
        .objects
        .iter()
        .find(|o| o.kind == "PersistentVolumeClaim")
        .map(|o| o.object_ref())
        .unwrap();
    ApplySummary {
        plan: plan.id.clone(),
        target: "paas-b".into(),
        dry_run: true,
        counts: [(Outcome::Accepted, 5), (Outcome::Failed, 1)]
            .into_iter()
            .collect(),
        problems: vec![ObjectResult {
            object: pvc,
            wave: 1,
            outcome: Outcome::Failed,
            detail: Some("storageclass \"fast\" not found".into()),
            resumed: false,
        }],
        ..Default::default()
    }
}

#[test]
fn format_from_extension_and_unknown_extension_names_accepted_ones() {
    assert_eq!(
        Format::from_path(Path::new("r/plan.HTML")).unwrap(),
        Format::Html
    );
    assert_eq!(
        Format::from_path(Path::new("x.md")).unwrap(),
        Format::Markdown
    );
    assert_eq!(Format::from_path(Path::new("x.gv")).unwrap(), Format::Dot);
    let err = Format::from_path(Path::new("x.pdf"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x.pdf") && err.contains(".html") && err.contains(".svg"),
        "{err}"
    );
    assert!(Format::from_path(Path::new("noext")).is_err());
}

#[test]
fn secret_values_never_appear_in_any_format() {
    let plan = sample();
    let dry = dry_run_summary();
    for f in ALL {
        for d in [None, Some(&dry)] {
            let text = render(&plan, d, *f);
            for v in SECRET_VALUES {
                assert!(!text.contains(v), "{f:?} shows secret value {v}");
            }
        }
    }
    let json: Value = serde_json::from_str(&render(&plan, None, Format::Json)).unwrap();
    let secret = json["waves"][1]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "Secret")
        .unwrap();
    assert_eq!(secret["manifest"]["data"]["password"], REDACTED);
    assert!(secret["diff"].as_str().unwrap().contains(REDACTED));
}

#[test]
fn markdown_has_every_section_and_escapes_names() {
    let md = render(&sample(), Some(&dry_run_summary()), Format::Markdown);
    for want in [
        "plan ",
        "paas-a",
        "https://b.example:6443",
        "uid-a",
        "stack: shop",
        "## Summary",
        "| StorageClass | 1 |",
        "| (cluster) | 2 |",
        "**ERROR** pvc-zonal on PersistentVolumeClaim shop/data",
        "*Why:* B's nodes may sit in another zone",
        "### Wave 2 (1 objects)",
        "PersistentVolumeClaim shop/data (spec.storageClassName)",
        "```diff",
        "controller-owned (2)",
        "uses a hostPath volume",
        "| failed | 1 | PersistentVolumeClaim shop/data | storageclass \"fast\" not found |",
        "| create | Deployment | shop | web |",
    ] {
        assert!(md.contains(want), "markdown lacks {want:?}:\n{md}");
    }
    assert!(!md.contains("<script>"), "{md}");
    assert!(md.contains("&lt;script&gt;&amp;\"x"), "{md}");
}

#[test]
fn json_is_the_report_model() {
    let text = render(&sample(), Some(&dry_run_summary()), Format::Json);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["reportVersion"], 1);
    assert_eq!(v["summary"]["objects"], 6);
    assert_eq!(v["waves"].as_array().unwrap().len(), 3);
    assert_eq!(v["dryRun"]["accepted"], 5);
    assert_eq!(v["dryRun"]["succeeded"], false);
    assert_eq!(v["skipped"][0]["objects"].as_array().unwrap().len(), 2);
    let pvc = &v["waves"][1]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "PersistentVolumeClaim")
        .unwrap()["dryRun"];
    assert_eq!(pvc["outcome"], "failed");
    assert_eq!(v["waves"][0]["objects"][0]["dryRun"]["outcome"], "accepted");
    // Stable: the same plan renders the same bytes.
    assert_eq!(
        text,
        render(&sample(), Some(&dry_run_summary()), Format::Json)
    );
}

#[test]
fn html_escapes_everything_and_is_self_contained() {
    let html = render(&sample(), Some(&dry_run_summary()), Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains(HOSTILE));
    assert!(html.contains("&lt;script&gt;&amp;&quot;x"));
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only abshift's own script"
    );
    for bad in ["http://", "https://", "url(", "@import", " src="] {
        let allowed = html.matches("https://a.example:6443").count()
            + html.matches("https://b.example:6443").count();
        if bad == "https://" {
            assert_eq!(
                html.matches(bad).count(),
                allowed,
                "https only as server text"
            );
        } else if bad == "url(" {
            assert_eq!(html.matches(bad).count(), html.matches("url(#").count());
        } else {
            assert!(!html.contains(bad), "{bad}");
        }
    }
    for want in [
        "<details",
        "<svg",
        "id=\"filters\" hidden",
        "data-ns=\"shop\"",
        "data-action=\"conflict\"",
        "storageclass &quot;fast&quot; not found",
        "pvc-zonal",
        "controller-owned",
    ] {
        assert!(html.contains(want), "html lacks {want}");
    }
}

#[test]
fn svg_is_standalone_escaped_and_draws_dependencies() {
    let svg = render(&sample(), None, Format::Svg);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(!svg.contains(HOSTILE));
    assert!(svg.contains("&lt;script&gt;&amp;&quot;x"));
    assert!(svg.contains("Wave 2"));
    // Deployment web depends on four planned objects.
    assert_eq!(svg.matches("→ Deployment shop/web").count(), 4, "{svg}");
}

#[test]
fn big_plans_are_aggregated_per_wave_and_kind() {
    let small = render(&large(AGGREGATE_ABOVE - 1), None, Format::Svg);
    assert!(small.contains("obj-0"));
    let svg = render(&large(1000), None, Format::Svg);
    assert!(!svg.contains("obj-0"), "no per-object boxes");
    assert!(svg.contains("500 objects"));
    assert_eq!(svg.matches("class=\"node\"").count(), 3);
    assert!(svg.contains("(500 dependencies)"), "aggregate edge counts");
    let dot = render(&large(1000), None, Format::Dot);
    assert!(dot.contains("\"wave 1 ConfigMap\" -> \"wave 2 Deployment\" [label=\"500\""));
}

#[test]
fn dot_quotes_ids_and_clusters_waves() {
    let dot = render(&sample(), None, Format::Dot);
    assert!(dot.starts_with("digraph \"abshift plan "));
    assert!(dot.contains("subgraph \"cluster_wave_0\""));
    assert!(
        dot.contains("\"ConfigMap shop/<script>&\\\"x\" -> \"Deployment shop/web\";"),
        "{dot}"
    );
    assert!(dot.contains("\"Namespace shop\" -> \"PersistentVolumeClaim shop/data\";"));
    // Every line is a statement, a brace or an attribute: no raw quote breaks out.
    for line in dot.lines() {
        let unescaped = line.replace("\\\\", "").replace("\\\"", "");
        assert_eq!(unescaped.matches('"').count() % 2, 0, "{line}");
    }
}

#[test]
fn conversions_are_listed_with_the_versions_read_and_written() {
    let mut plan = sample();
    let none = render(&plan, None, Format::Markdown);
    assert!(none.contains("## Conversions (0)"), "{none}");
    let o = plan
        .objects
        .iter_mut()
        .find(|o| o.kind == "ConfigMap")
        .unwrap();
    o.read_as = Some("v1beta1".into());
    o.conversions = vec!["rule-one".into(), "rule-two".into()];
    let md = render(&plan, None, Format::Markdown);
    assert!(md.contains("## Conversions (1)"), "{md}");
    assert!(
        md.contains("| rule-one, rule-two | v1beta1 ConfigMap | v1 ConfigMap |"),
        "{md}"
    );
    let html = render(&plan, None, Format::Html);
    assert!(html.contains("<section id=\"conversions\">"));
    assert!(html.contains("v1beta1 ConfigMap &rarr; v1 ConfigMap"));
    let json: serde_json::Value = serde_json::from_str(&render(&plan, None, Format::Json)).unwrap();
    assert_eq!(json["conversions"][0]["rules"][1], "rule-two");
}

#[test]
fn secrets_show_whether_they_match_never_a_digest() {
    let plan = sample();
    let digest = plan
        .objects
        .iter()
        .find_map(|o| o.secret_digest.clone())
        .expect("the sample has a Secret");
    let hex = digest.trim_start_matches("hmac-sha256:");
    for &f in ALL {
        let text = render(&plan, None, f);
        assert!(!text.contains(hex), "{f:?} shows a Secret digest");
        assert!(
            !text.contains(&plan.digest_key),
            "{f:?} shows the digest key"
        );
    }
    assert!(render(&plan, None, Format::Html).contains("value differs from B"));
    assert!(render(&plan, None, Format::Json).contains("\"secretValue\": \"differs from B\""));
}

#[test]
fn gaps_the_plan_went_on_without_are_shown() {
    let mut plan = sample();
    plan.unavailable.push(crate::gaps::Gap {
        cluster: crate::gaps::Side::B,
        context: "paas-b".into(),
        unread: crate::gaps::Unread::List {
            group: String::new(),
            version: "v1".into(),
            resource: "configmaps".into(),
            namespace: None,
        },
        error: "forbidden".into(),
        allowed_by: "--skip-unavailable configmaps".into(),
    });
    for f in [Format::Markdown, Format::Html] {
        let text = render(&plan, None, f);
        assert!(
            text.contains("Left out") && text.contains("skip-unavailable configmaps"),
            "{f:?}"
        );
    }
}

#[test]
fn control_characters_in_names_and_messages_are_shown_not_obeyed() {
    let mut plan = sample();
    plan.objects[0].name = "evil\u{1b}[2J\u{202e}name".into();
    plan.warnings.push(crate::plan::Warning {
        object: None,
        message: "webhook said \u{1b}]0;pwned\u{7}".into(),
    });
    for f in [Format::Markdown, Format::Html, Format::Dot, Format::Svg] {
        let text = render(&plan, None, f);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{7}'),
            "{f:?} passes control characters through"
        );
    }
    let md = render(&plan, None, Format::Markdown);
    assert!(md.contains("u{1b}"), "escaped, not dropped");
}
