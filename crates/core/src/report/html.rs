//! The HTML report: one self-contained page (inline style, inline SVG, a few
//! lines of inline script for the filters) that can be mailed or attached to a
//! ticket and opened offline. It references nothing outside itself, and reads
//! fully with scripts off.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::diff::Action;
use crate::outcome::Outcome;
use crate::plan::Severity;

use super::model::{Report, ReportObject, esc, selection_lines, short_ref};
use super::svg;
use super::wavegraph::{ACTION_COLOURS, colours};

/// Above this many objects manifests are left out of the page, which would
/// otherwise grow to tens of megabytes; the JSON report still has them.
const MANIFESTS_UP_TO: usize = 2000;

/// Colour per severity: data, used by the badges.
const SEVERITY_COLOURS: &[(Severity, &str)] = &[
    (Severity::Error, "#cf222e"),
    (Severity::Warning, "#9a6700"),
    (Severity::Info, "#0969da"),
];

/// Colour per dry-run outcome; anything else is grey.
const OUTCOME_COLOURS: &[(&str, &str)] = &[
    ("accepted", "#1a7f37"),
    ("failed", "#cf222e"),
    ("blocked", "#bc4c00"),
    ("drifted", "#8250df"),
    ("deferred", "#6e7781"),
];

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--card:#fff;--accent:#0969da}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--soft);color:var(--fg);font:14px/1.5 -apple-system,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
header.top{background:#0d1117;color:#f0f6fc;padding:28px 40px 24px}
header.top h1{margin:0 0 4px;font-size:26px;font-weight:600;letter-spacing:-.01em}
header.top h1 code{font-size:22px;background:#21262d;padding:2px 8px;border-radius:6px}
header.top .meta{color:#9198a1;margin:0 0 18px}
.clusters{display:flex;gap:16px;align-items:stretch;flex-wrap:wrap}
.cluster{background:#161b22;border:1px solid #30363d;border-radius:10px;padding:12px 16px;min-width:300px;flex:1}
.cluster h2{margin:0 0 6px;font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:#9198a1;font-weight:600}
.cluster .ctx{font-size:18px;font-weight:600;color:#f0f6fc}
.cluster dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0 0;color:#d1d7e0}
.cluster dt{color:#9198a1}.cluster dd{margin:0;word-break:break-all}
.arrow{align-self:center;font-size:28px;color:#9198a1}
.selection{margin-top:16px;color:#d1d7e0}.selection b{color:#9198a1;font-weight:500}
nav.toc{position:sticky;top:0;z-index:5;background:rgba(255,255,255,.96);border-bottom:1px solid var(--line);padding:8px 40px;display:flex;gap:18px;flex-wrap:wrap}
nav.toc a{color:var(--accent);text-decoration:none;font-weight:500}
main{padding:24px 40px 48px;max-width:1500px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:0 0 20px;padding:4px 20px 12px}
section>details>summary,section>h2{font-size:19px;font-weight:600;margin:12px 0 8px;cursor:pointer}
details>summary{cursor:pointer}
details>summary::marker{color:var(--muted)}
.stats{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0 14px}
.stat{border:1px solid var(--line);border-radius:8px;padding:8px 16px;min-width:120px;background:var(--soft)}
.stat .n{font-size:24px;font-weight:600;display:block}.stat .l{color:var(--muted);font-size:12.5px}
.bar{display:flex;height:12px;border-radius:6px;overflow:hidden;margin:0 0 16px;border:1px solid var(--line)}
.bar span{display:block;height:100%}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:16px}
.scroll{max-height:360px;overflow:auto;border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 10px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:var(--soft);font-weight:600;font-size:12.5px;color:var(--muted);position:sticky;top:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:hover{background:#f6f8fa}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;color:#fff;white-space:nowrap}
.soft{display:inline-block;padding:0 6px;border-radius:4px;font-size:12px;border:1px solid currentColor;white-space:nowrap}
.muted{color:var(--muted)}
.name{word-break:break-all}
.finding{border:1px solid var(--line);border-left:5px solid var(--sev);border-radius:8px;padding:8px 14px;margin:10px 0;background:#fff}
.finding .head{display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.finding p{margin:6px 0}
.finding dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:4px 0}
.finding dt{font-weight:600;color:var(--muted)}.finding dd{margin:0}
.graph{overflow:auto;border:1px solid var(--line);border-radius:8px;max-height:900px;background:#fff}
.filters{display:flex;gap:16px;align-items:center;margin:6px 0 12px;padding:8px 12px;background:var(--soft);border-radius:8px;border:1px solid var(--line)}
.filters select{font:inherit;padding:3px 6px;border-radius:6px;border:1px solid var(--line);background:#fff}
details.wave{margin:8px 0 14px}
table.objects{table-layout:fixed}
table.objects td{overflow-wrap:anywhere}
.c-action{width:104px}.c-kind{width:13%}.c-ns{width:11%}.c-name{width:16%}.c-pulled{width:15%}.c-dry{width:13%}
table.objects tr.obj:has(+tr.more)>td{border-bottom:none;padding-bottom:1px}
table.objects tr.more>td{padding-top:0;padding-bottom:7px}
tr.more details{display:inline-block;margin-right:22px;vertical-align:top;font-size:12.5px;color:var(--muted)}
tr.more details[open]{display:block;color:var(--fg)}
table.objects td:nth-child(5),table.objects td:nth-child(6){font-size:12.5px;color:#424a53}
details.wave>summary{font-size:16px;font-weight:600;padding:4px 0}
pre.diff,pre.manifest{background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:8px 10px;overflow:auto;max-height:420px;margin:6px 0;white-space:pre}
pre.diff .add{color:#116329;background:#dafbe1;display:block}
pre.diff .del{color:#82071e;background:#ffebe9;display:block}
pre.diff .hunk{color:#8250df;display:block}
pre.diff .head{color:var(--muted);font-weight:600;display:block}
ul.objs{columns:3 300px;margin:6px 0 10px;padding-left:20px}
ul.objs li{break-inside:avoid;word-break:break-all}
footer{color:var(--muted);padding:0 40px 30px;font-size:12.5px}
"#;

const SCRIPT: &str = r#"
(function () {
  var box = document.getElementById('filters');
  if (!box) return;
  box.hidden = false;
  var ns = document.getElementById('f-ns'), act = document.getElementById('f-action'), shown = document.getElementById('f-shown');
  function apply() {
    var rows = document.querySelectorAll('tr.obj'), n = 0;
    rows.forEach(function (r) {
      var ok = (!ns.value || r.getAttribute('data-ns') === ns.value) && (!act.value || r.getAttribute('data-action') === act.value);
      r.hidden = !ok;
      if (ok) n++;
    });
    document.querySelectorAll('details.wave').forEach(function (w) {
      w.hidden = !w.querySelector('tr.obj:not([hidden])');
    });
    shown.textContent = n + ' of ' + rows.length + ' objects shown';
  }
  ns.addEventListener('change', apply);
  act.addEventListener('change', apply);
  apply();
})();
"#;

fn colour<K: PartialEq + Copy>(table: &[(K, &'static str)], key: K) -> &'static str {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, c)| *c)
        .unwrap_or("#6e7781")
}

fn action_badge(a: Action) -> String {
    format!(
        "<span class=\"badge\" style=\"background:{}\">{}</span>",
        colours(a).1,
        a.as_str()
    )
}

fn severity_badge(s: Severity) -> String {
    format!(
        "<span class=\"badge\" style=\"background:{}\">{}</span>",
        colour(SEVERITY_COLOURS, s),
        s.as_str()
    )
}

fn outcome_badge(outcome: &str) -> String {
    format!(
        "<span class=\"soft\" style=\"color:{}\">{}</span>",
        colour(OUTCOME_COLOURS, outcome),
        esc(outcome)
    )
}

fn counts_table(out: &mut String, title: &str, counts: &BTreeMap<String, usize>) {
    let _ = write!(
        out,
        "<div><div class=\"scroll\"><table><thead><tr><th>{}</th><th class=\"n\">objects</th></tr></thead><tbody>",
        esc(title)
    );
    for (k, v) in counts {
        let _ = write!(out, "<tr><td>{}</td><td class=\"n\">{v}</td></tr>", esc(k));
    }
    out.push_str("</tbody></table></div></div>\n");
}

/// A diff with added, removed and hunk lines marked for colour.
fn diff_block(diff: &str) -> String {
    let mut out = String::from("<pre class=\"diff\">");
    let mut in_hunks = false;
    for line in diff.lines() {
        in_hunks |= line.starts_with("@@");
        let class = if !in_hunks && (line.starts_with("---") || line.starts_with("+++")) {
            Some("head")
        } else if line.starts_with("@@") {
            Some("hunk")
        } else if line.starts_with('+') {
            Some("add")
        } else if line.starts_with('-') {
            Some("del")
        } else {
            None
        };
        match class {
            Some(c) => {
                let _ = write!(out, "<span class=\"{c}\">{}</span>", esc(line));
            }
            None => {
                out.push_str(&esc(line));
                out.push('\n');
            }
        }
    }
    out.push_str("</pre>");
    out
}

pub(crate) fn render(r: &Report) -> String {
    let mut o = String::new();
    let title = format!("abshift report: plan {}", r.plan.id);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    header(&mut o, r);
    o.push_str(
        "<nav class=\"toc\"><a href=\"#summary\">Summary</a><a href=\"#findings\">Findings</a>",
    );
    if r.dry_run.is_some() {
        o.push_str("<a href=\"#dry-run\">Dry run</a>");
    }
    o.push_str("<a href=\"#graph\">Wave graph</a><a href=\"#objects\">Objects</a><a href=\"#skipped\">Skipped</a><a href=\"#warnings\">Warnings</a></nav>\n<main>\n");
    summary(&mut o, r);
    findings(&mut o, r);
    dry_run(&mut o, r);
    let _ = write!(
        o,
        "<section id=\"graph\"><details open><summary>Wave graph</summary>\n<p class=\"muted\">Waves are created left to right; a line goes from an object to the objects that need it.</p>\n<div class=\"graph\">\n{}</div>\n</details></section>\n",
        svg::render(r, false)
    );
    objects(&mut o, r);
    conversions(&mut o, r);
    skipped(&mut o, r);
    warnings(&mut o, r);
    let _ = write!(
        o,
        "</main>\n<footer>Rendered by abshift from plan {} ({}). Secret values are never part of a plan; any that a manifest or diff carried are shown as &lt;redacted&gt;.</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        esc(&r.plan.id),
        esc(&r.plan.checksum)
    );
    o
}

fn header(o: &mut String, r: &Report) {
    let _ = write!(
        o,
        "<header class=\"top\">\n<h1>Migration plan <code>{}</code></h1>\n<p class=\"meta\">made {} by abshift {}</p>\n<div class=\"clusters\">",
        esc(&r.plan.id),
        esc(&r.plan.created_at),
        esc(&r.plan.abshift_version)
    );
    for (i, (role, c)) in [("Source A", &r.source), ("Target B", &r.target)]
        .into_iter()
        .enumerate()
    {
        if i == 1 {
            o.push_str("<div class=\"arrow\" aria-hidden=\"true\">→</div>");
        }
        let _ = write!(
            o,
            "<div class=\"cluster\"><h2>{role}</h2><div class=\"ctx\">{}</div><dl><dt>server</dt><dd class=\"mono\">{}</dd><dt>kubernetes</dt><dd>{}</dd><dt>fingerprint</dt><dd class=\"mono\">{}</dd></dl></div>",
            esc(&c.context),
            esc(&c.server),
            esc(&c.kubernetes_version),
            esc(&c.fingerprint)
        );
    }
    o.push_str("</div>\n<div class=\"selection\">");
    let parts: Vec<String> = selection_lines(&r.selection)
        .into_iter()
        .map(|(k, v)| format!("<b>{}</b> {}", esc(k), esc(&v)))
        .collect();
    o.push_str(&parts.join(" &nbsp;·&nbsp; "));
    o.push_str("</div>\n</header>\n");
}

fn summary(o: &mut String, r: &Report) {
    let s = &r.summary;
    o.push_str("<section id=\"summary\"><h2>Summary</h2>\n<div class=\"stats\">");
    let mut stat = |n: usize, l: &str| {
        let _ = write!(
            o,
            "<div class=\"stat\"><span class=\"n\">{n}</span><span class=\"l\">{}</span></div>",
            esc(l)
        );
    };
    stat(s.objects, "objects to migrate");
    stat(s.waves, "waves");
    stat(s.skipped, "skipped");
    stat(s.warnings, "warnings");
    for sev in [Severity::Error, Severity::Warning, Severity::Info] {
        let n = s
            .findings_by_severity
            .get(sev.as_str())
            .copied()
            .unwrap_or(0);
        stat(n, &format!("{} findings", sev.as_str()));
    }
    o.push_str("</div>\n<div class=\"bar\" role=\"img\" aria-label=\"objects by action\">");
    for (a, _, stroke) in ACTION_COLOURS {
        let n = s.by_action.get(a.as_str()).copied().unwrap_or(0);
        if n > 0 && s.objects > 0 {
            let _ = write!(
                o,
                "<span style=\"width:{:.3}%;background:{stroke}\" title=\"{} {n}\"></span>",
                100.0 * n as f64 / s.objects as f64,
                a.as_str()
            );
        }
    }
    o.push_str("</div>\n<div class=\"grid\">");
    // Actions in their natural order with a badge, not alphabetically.
    o.push_str("<div><div class=\"scroll\"><table><thead><tr><th>action</th><th class=\"n\">objects</th></tr></thead><tbody>");
    for (a, _, _) in ACTION_COLOURS {
        let n = s.by_action.get(a.as_str()).copied().unwrap_or(0);
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{n}</td></tr>",
            action_badge(*a)
        );
    }
    o.push_str("</tbody></table></div></div>\n");
    counts_table(o, "kind", &s.by_kind);
    counts_table(o, "namespace", &s.by_namespace);
    if !s.skipped_by_reason.is_empty() {
        counts_table(o, "skip rule", &s.skipped_by_reason);
    }
    o.push_str("</div>\n</section>\n");
}

fn findings(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "<section id=\"findings\"><details open><summary>Findings ({})</summary>",
        r.findings.len()
    );
    if r.findings.is_empty() {
        o.push_str("<p class=\"muted\">No findings.</p>");
    }
    for f in &r.findings {
        let object = f
            .object
            .as_ref()
            .map(|x| format!("<span class=\"name\">{}</span>", esc(&short_ref(x))))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "<div class=\"finding\" style=\"--sev:{}\"><div class=\"head\">{}<code>{}</code>{object}</div><p>{}</p><dl><dt>Why</dt><dd>{}</dd><dt>Action</dt><dd>{}</dd></dl></div>",
            colour(SEVERITY_COLOURS, f.severity),
            severity_badge(f.severity),
            esc(&f.rule),
            esc(&f.message),
            esc(&f.why),
            esc(&f.action)
        );
    }
    o.push_str("</details></section>\n");
}

fn dry_run(o: &mut String, r: &Report) {
    let Some(d) = &r.dry_run else {
        return;
    };
    let _ = write!(
        o,
        "<section id=\"dry-run\"><details open><summary>Server-side dry run against {}</summary>\n<p>{} of {} objects accepted by B's API server; {}.</p><p>",
        esc(&d.target),
        d.accepted,
        r.summary.objects,
        if d.succeeded {
            "nothing failed"
        } else {
            "<strong>some objects failed</strong>"
        }
    );
    let mut counts = d.counts.clone();
    counts.insert(Outcome::Accepted, d.accepted);
    for (k, v) in &counts {
        let _ = write!(o, "{} {v} &nbsp; ", outcome_badge(k.as_str()));
    }
    o.push_str("</p>\n");
    let problems: Vec<_> = r.dry_run_problems().collect();
    if !problems.is_empty() {
        o.push_str("<div class=\"scroll\"><table><thead><tr><th>outcome</th><th class=\"n\">wave</th><th>object</th><th>detail</th></tr></thead><tbody>");
        for (obj, d) in problems {
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"name\">{}</td><td>{}</td></tr>",
                outcome_badge(d.outcome.as_str()),
                obj.wave,
                esc(&short_ref(&obj.object)),
                esc(d.detail.as_deref().unwrap_or(""))
            );
        }
        o.push_str("</tbody></table></div>\n");
    }
    o.push_str("</details></section>\n");
}

fn objects(o: &mut String, r: &Report) {
    let dry = r.dry_run.is_some();
    let with_manifests = r.summary.objects <= MANIFESTS_UP_TO;
    let _ = writeln!(
        o,
        "<section id=\"objects\"><details open><summary>Objects by wave ({})</summary>",
        r.summary.objects
    );
    o.push_str("<div class=\"filters\" id=\"filters\" hidden><label>Namespace <select id=\"f-ns\"><option value=\"\">all</option>");
    for ns in r.summary.by_namespace.keys() {
        let _ = write!(o, "<option value=\"{0}\">{0}</option>", esc(ns));
    }
    o.push_str(
        "</select></label><label>Action <select id=\"f-action\"><option value=\"\">all</option>",
    );
    for (a, _, _) in ACTION_COLOURS {
        let _ = write!(o, "<option value=\"{0}\">{0}</option>", a.as_str());
    }
    o.push_str("</select></label><span id=\"f-shown\" class=\"muted\"></span></div>\n");
    if !with_manifests {
        let _ = write!(
            o,
            "<p class=\"muted\">More than {MANIFESTS_UP_TO} objects: manifests are left out of this page; the JSON report has them.</p>"
        );
    }
    for w in &r.waves {
        let _ = write!(
            o,
            "<details class=\"wave\" open><summary>Wave {} <span class=\"muted\">({} objects)</span></summary>\n<table class=\"objects\"><thead><tr><th class=\"c-action\">action</th><th class=\"c-kind\">kind</th><th class=\"c-ns\">namespace</th><th class=\"c-name\">name</th><th>depends on</th><th class=\"c-pulled\">pulled in by</th>{}</tr></thead><tbody>\n",
            w.wave,
            w.objects.len(),
            if dry {
                "<th class=\"c-dry\">dry run</th>"
            } else {
                ""
            }
        );
        for obj in &w.objects {
            row(o, obj, dry, with_manifests);
        }
        o.push_str("</tbody></table></details>\n");
    }
    o.push_str("</details></section>\n");
}

fn row(o: &mut String, obj: &ReportObject, dry: bool, with_manifest: bool) {
    let r = &obj.object;
    let ns = r.namespace.as_deref().unwrap_or("(cluster)");
    let _ = write!(
        o,
        "<tr class=\"obj\" data-ns=\"{}\" data-action=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"name mono\">{}</td><td>",
        esc(ns),
        obj.action.as_str(),
        action_badge(obj.action),
        esc(&r.kind),
        if r.namespace.is_some() {
            esc(ns)
        } else {
            "<span class=\"muted\">cluster</span>".into()
        },
        esc(&r.name)
    );
    list_cell(o, obj.depends_on.iter().map(|d| esc(&short_ref(d))));
    o.push_str("</td><td>");
    list_cell(
        o,
        obj.pulled_in_by.iter().map(|p| {
            format!(
                "{} <span class=\"muted\">({})</span>",
                esc(&short_ref(&p.by)),
                esc(&p.reason)
            )
        }),
    );
    o.push_str("</td>");
    if dry {
        o.push_str("<td>");
        if let Some(d) = &obj.dry_run {
            o.push_str(&outcome_badge(d.outcome.as_str()));
            if let Some(detail) = &d.detail {
                let _ = write!(o, "<div class=\"muted\">{}</div>", esc(detail));
            }
        }
        o.push_str("</td>");
    }
    // Diff and manifest fold out under the row, across the table's width.
    let mut more = String::new();
    if let Some(diff) = &obj.diff {
        let _ = write!(
            more,
            "<details{}><summary>diff</summary>{}</details>",
            if obj.action == Action::Conflict {
                " open"
            } else {
                ""
            },
            diff_block(diff)
        );
    }
    if with_manifest {
        let text = serde_json::to_string_pretty(&obj.manifest).unwrap_or_default();
        let _ = write!(
            more,
            "<details><summary>manifest</summary><pre class=\"manifest\">{}</pre></details>",
            esc(&text)
        );
    }
    if let Some(value) = obj.secret_value {
        let _ = write!(
            more,
            "<span class=\"muted\" title=\"compared by a keyed digest; values never enter the plan\">value {}</span>",
            esc(value)
        );
    }
    o.push_str("</tr>\n");
    if !more.is_empty() {
        let _ = writeln!(
            o,
            "<tr class=\"more\" data-ns=\"{}\" data-action=\"{}\"><td></td><td colspan=\"{}\">{more}</td></tr>",
            esc(ns),
            obj.action.as_str(),
            if dry { 6 } else { 5 }
        );
    }
}

/// A short list inline; a long one folded so rows stay one screen high.
fn list_cell(o: &mut String, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    match items.len() {
        0 => {}
        1..=3 => o.push_str(&items.join("<br>")),
        n => {
            let _ = write!(
                o,
                "<details><summary>{n} objects</summary>{}</details>",
                items.join("<br>")
            );
        }
    }
}

fn conversions(o: &mut String, r: &Report) {
    let converted: usize = r.conversions.iter().map(|g| g.objects.len()).sum();
    let _ = writeln!(
        o,
        "<section id=\"conversions\"><details open><summary>Conversions ({converted})</summary>"
    );
    if r.conversions.is_empty() {
        o.push_str("<p class=\"muted\">Every object is written to B as it was read from A.</p>");
    } else {
        o.push_str("<p class=\"muted\">Objects written to B at another version, or repaired for B's version (<code>abshift rules</code> explains each rule).</p>");
    }
    for g in &r.conversions {
        let _ = write!(
            o,
            "<details><summary><code>{}</code> <span class=\"soft muted\">{}</span> {} &rarr; {}</summary><ul class=\"objs\">",
            esc(&g.rules.join(", ")),
            g.objects.len(),
            esc(&g.from),
            esc(&g.to)
        );
        for x in &g.objects {
            let _ = write!(o, "<li>{}</li>", esc(&short_ref(x)));
        }
        o.push_str("</ul></details>\n");
    }
    o.push_str("</details></section>\n");
}

fn skipped(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "<section id=\"skipped\"><details open><summary>Skipped ({})</summary>",
        r.summary.skipped
    );
    if r.skipped.is_empty() {
        o.push_str("<p class=\"muted\">Nothing skipped.</p>");
    } else {
        o.push_str("<p class=\"muted\">Objects read from A and deliberately not migrated, grouped by rule and reason (<code>abshift rules</code> explains each rule).</p>");
    }
    for g in &r.skipped {
        let _ = write!(
            o,
            "<details><summary><code>{}</code> <span class=\"soft muted\">{}</span> {}</summary><ul class=\"objs\">",
            esc(&g.rule),
            g.objects.len(),
            esc(&g.reason)
        );
        for x in &g.objects {
            let _ = write!(o, "<li>{}</li>", esc(&short_ref(x)));
        }
        o.push_str("</ul></details>\n");
    }
    o.push_str("</details></section>\n");
}

fn warnings(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "<section id=\"warnings\"><details open><summary>Warnings ({})</summary>",
        r.warnings.len()
    );
    if !r.unavailable.is_empty() {
        let _ = write!(
            o,
            "<p><strong>Left out: failed reads the plan went on without ({})</strong></p><ul>",
            r.unavailable.len()
        );
        for g in &r.unavailable {
            let _ = write!(
                o,
                "<li>{} <span class=\"muted\">(allowed by {})</span></li>",
                esc(&g.to_string()),
                esc(&g.allowed_by)
            );
        }
        o.push_str("</ul>");
    }
    if r.warnings.is_empty() {
        o.push_str("<p class=\"muted\">No warnings.</p>");
    } else {
        o.push_str("<ul>");
        for w in &r.warnings {
            match &w.object {
                Some(x) => {
                    let _ = write!(
                        o,
                        "<li><span class=\"name\">{}</span>: {}</li>",
                        esc(&short_ref(x)),
                        esc(&w.message)
                    );
                }
                None => {
                    let _ = write!(o, "<li>{}</li>", esc(&w.message));
                }
            }
        }
        o.push_str("</ul>");
    }
    o.push_str("</details></section>\n");
}
