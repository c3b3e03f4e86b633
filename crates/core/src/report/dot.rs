//! The wave graph as Graphviz text for people who want to lay it out their own
//! way: one cluster per wave, every id quoted so any object name is safe.

use std::fmt::Write;

use super::model::Report;
use super::wavegraph;

/// A DOT double-quoted string: only `"` and `\` need escaping; line breaks
/// become `\n` so a name cannot end the statement.
fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::text::escape_lines(s).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn render(report: &Report) -> String {
    let g = wavegraph::build(report);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "digraph {} {{",
        quote(&format!("abshift plan {}", report.plan.id))
    );
    s.push_str("  rankdir=LR;\n  newrank=true;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n  edge [color=\"#8c959f\"];\n");
    for w in 0..g.waves {
        let _ = writeln!(s, "  subgraph {} {{", quote(&format!("cluster_wave_{w}")));
        let _ = writeln!(s, "    label={};", quote(&format!("wave {w}")));
        s.push_str("    style=\"rounded\"; color=\"#d0d7de\";\n");
        for n in g.nodes.iter().filter(|n| n.wave == w) {
            let (fill, stroke) = n.colours(g.aggregated);
            let actions = n.action_counts();
            // The label's line break is DOT's `\n`, added after quoting the parts.
            let label = format!("{}\\n{}", escape(&n.kind), escape(&n.label));
            let _ = writeln!(
                s,
                "    {} [label=\"{label}\", fillcolor={}, color={}, tooltip={}];",
                quote(&n.id),
                quote(fill),
                quote(stroke),
                quote(&actions.join(", "))
            );
        }
        s.push_str("  }\n");
    }
    for e in &g.edges {
        let (Some(from), Some(to)) = (g.nodes.get(e.from), g.nodes.get(e.to)) else {
            continue;
        };
        if e.count > 1 {
            let _ = writeln!(
                s,
                "  {} -> {} [label={}, penwidth={:.1}];",
                quote(&from.id),
                quote(&to.id),
                quote(&e.count.to_string()),
                1.0 + (e.count as f64).log2().clamp(0.0, 5.0)
            );
        } else {
            let _ = writeln!(s, "  {} -> {};", quote(&from.id), quote(&to.id));
        }
    }
    s.push_str("}\n");
    s
}
