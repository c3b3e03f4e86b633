//! The Markdown report: what a reviewer reads in a merge request. Tables for
//! counts and objects, fenced blocks for diffs, every plan string escaped so a
//! name cannot turn into markup.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::model::{Report, ReportObject, selection_lines, short_ref};

/// Escapes text for a Markdown table cell or paragraph: HTML is neutralised,
/// Markdown punctuation is backslash-escaped, line breaks become spaces,
/// control characters visible escapes (`crate::text`).
fn e(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::text::escape_lines(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A fence longer than any run of backticks in `body`, so the block cannot be closed early.
fn fence(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn counts_table(out: &mut String, title: &str, counts: &BTreeMap<String, usize>) {
    if counts.is_empty() {
        return;
    }
    let _ = writeln!(out, "| {} | objects |\n|---|---:|", e(title));
    for (k, v) in counts {
        let _ = writeln!(out, "| {} | {v} |", e(k));
    }
    out.push('\n');
}

pub(crate) fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# abshift migration report: plan {}\n", e(&r.plan.id));
    let _ = writeln!(
        out,
        "Plan made {} by abshift {}; checksum {}.\n",
        e(&r.plan.created_at),
        e(&r.plan.abshift_version),
        e(&r.plan.checksum)
    );
    out.push_str("| | Source (A) | Target (B) |\n|---|---|---|\n");
    for (label, a, b) in [
        ("Context", &r.source.context, &r.target.context),
        ("Server", &r.source.server, &r.target.server),
        (
            "Kubernetes",
            &r.source.kubernetes_version,
            &r.target.kubernetes_version,
        ),
        ("Fingerprint", &r.source.fingerprint, &r.target.fingerprint),
    ] {
        let _ = writeln!(out, "| {label} | {} | {} |", e(a), e(b));
    }
    out.push('\n');
    let sel: Vec<String> = selection_lines(&r.selection)
        .into_iter()
        .map(|(k, v)| format!("{k}: {}", e(&v)))
        .collect();
    let _ = writeln!(out, "**Selection**: {}\n", sel.join("; "));

    let s = &r.summary;
    out.push_str("## Summary\n\n");
    let _ = writeln!(
        out,
        "{} objects in {} waves; {} skipped; {} warnings; {} findings.\n",
        s.objects,
        s.waves,
        s.skipped,
        s.warnings,
        r.findings.len()
    );
    counts_table(&mut out, "action", &s.by_action);
    counts_table(&mut out, "kind", &s.by_kind);
    counts_table(&mut out, "namespace", &s.by_namespace);

    let _ = writeln!(out, "## Findings ({})\n", r.findings.len());
    if r.findings.is_empty() {
        out.push_str("No findings.\n\n");
    }
    for f in &r.findings {
        let object = f
            .object
            .as_ref()
            .map(|o| format!(" on {}", e(&short_ref(o))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- **{}** {}{object}: {}  \n  *Why:* {}  \n  *Action:* {}",
            f.severity.as_str().to_uppercase(),
            e(&f.rule),
            e(&f.message),
            e(&f.why),
            e(&f.action)
        );
    }
    if !r.findings.is_empty() {
        out.push('\n');
    }

    if let Some(d) = &r.dry_run {
        out.push_str("## Server-side dry run\n\n");
        let _ = writeln!(
            out,
            "Dry run against {}: {} of {} objects accepted; {}.\n",
            e(&d.target),
            d.accepted,
            s.objects,
            if d.succeeded {
                "nothing failed"
            } else {
                "SOME OBJECTS FAILED"
            }
        );
        let problems: Vec<_> = r.dry_run_problems().collect();
        if !problems.is_empty() {
            out.push_str("| Outcome | Wave | Object | Detail |\n|---|---:|---|---|\n");
            for (o, d) in problems {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    e(d.outcome.as_str()),
                    o.wave,
                    e(&short_ref(&o.object)),
                    e(d.detail.as_deref().unwrap_or(""))
                );
            }
            out.push('\n');
        }
    }

    out.push_str("## Waves\n\n");
    for w in &r.waves {
        let _ = writeln!(out, "### Wave {} ({} objects)\n", w.wave, w.objects.len());
        let dry = r.dry_run.is_some();
        out.push_str("| Action | Kind | Namespace | Name | Depends on | Pulled in by |");
        out.push_str(if dry { " Dry run |\n" } else { "\n" });
        out.push_str("|---|---|---|---|---|---|");
        out.push_str(if dry { "---|\n" } else { "\n" });
        for o in &w.objects {
            row(&mut out, o, dry);
        }
        out.push('\n');
        for o in w.objects.iter().filter(|o| o.diff.is_some()) {
            let diff = crate::text::escape_lines(o.diff.as_deref().unwrap_or(""));
            let f = fence(&diff);
            let _ = writeln!(
                out,
                "**{}** {}: B differs from A\n\n{f}diff\n{}{}{f}\n",
                o.action.as_str(),
                e(&short_ref(&o.object)),
                diff,
                if diff.ends_with('\n') { "" } else { "\n" }
            );
        }
    }

    let converted: usize = r.conversions.iter().map(|g| g.objects.len()).sum();
    let _ = writeln!(out, "## Conversions ({converted})\n");
    if r.conversions.is_empty() {
        out.push_str("Every object is written to B as it was read from A.\n\n");
    } else {
        out.push_str("Objects written to B at another version, or repaired for B's version (`abshift rules` explains each rule).\n\n| Rules | Read from A | Written to B | Objects |\n|---|---|---|---|\n");
    }
    for g in &r.conversions {
        let objects: Vec<String> = g.objects.iter().map(|o| e(&short_ref(o))).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            e(&g.rules.join(", ")),
            e(&g.from),
            e(&g.to),
            objects.join(", ")
        );
    }
    if !r.conversions.is_empty() {
        out.push('\n');
    }

    let _ = writeln!(out, "## Skipped ({})\n", s.skipped);
    if r.skipped.is_empty() {
        out.push_str("Nothing skipped.\n\n");
    }
    for g in &r.skipped {
        let _ = writeln!(
            out,
            "### {} ({})\n\n{}\n",
            e(&g.rule),
            g.objects.len(),
            e(&g.reason)
        );
        for o in &g.objects {
            let _ = writeln!(out, "- {}", e(&short_ref(o)));
        }
        out.push('\n');
    }

    if !r.unavailable.is_empty() {
        let _ = writeln!(
            out,
            "## Left out: failed reads the plan went on without ({})\n",
            r.unavailable.len()
        );
        for g in &r.unavailable {
            let _ = writeln!(
                out,
                "- {} (allowed by `{}`)",
                e(&g.to_string()),
                e(&g.allowed_by)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Warnings ({})\n", r.warnings.len());
    if r.warnings.is_empty() {
        out.push_str("No warnings.\n");
    }
    for w in &r.warnings {
        match &w.object {
            Some(o) => {
                let _ = writeln!(out, "- {}: {}", e(&short_ref(o)), e(&w.message));
            }
            None => {
                let _ = writeln!(out, "- {}", e(&w.message));
            }
        }
    }
    out
}

fn row(out: &mut String, o: &ReportObject, dry: bool) {
    let deps: Vec<String> = o.depends_on.iter().map(|d| e(&short_ref(d))).collect();
    let pulled: Vec<String> = o
        .pulled_in_by
        .iter()
        .map(|p| format!("{} ({})", e(&short_ref(&p.by)), e(&p.reason)))
        .collect();
    let _ = write!(
        out,
        "| {} | {} | {} | {} | {} | {} |",
        o.action.as_str(),
        e(&o.object.kind),
        e(o.object.namespace.as_deref().unwrap_or("")),
        e(&o.object.name),
        deps.join("<br>"),
        pulled.join("<br>")
    );
    if dry {
        let d = o.dry_run.as_ref();
        let outcome = d.map(|d| d.outcome.as_str()).unwrap_or("");
        let detail = d
            .and_then(|d| d.detail.as_deref())
            .map(|x| format!(": {}", e(x)))
            .unwrap_or_default();
        let _ = write!(out, " {}{detail} |", e(outcome));
    }
    out.push('\n');
}
