//! The wave graph drawn as SVG by abshift itself: waves are columns from left
//! to right, objects are boxes coloured by action, dependencies are curves from
//! the object needed to the object needing it.

use std::fmt::Write;

use super::model::{Report, esc};
use super::wavegraph::{self, ACTION_COLOURS, WaveGraph, colours};

const BOX_W: f64 = 250.0;
const BOX_H: f64 = 42.0;
const ROW_GAP: f64 = 10.0;
const COL_GAP: f64 = 110.0;
const MARGIN: f64 = 20.0;
const TOP: f64 = 96.0;
/// Characters that fit on one line of a box; longer names are cut with an
/// ellipsis and shown whole in the box's tooltip.
const LINE_CHARS: usize = 36;

/// `standalone` adds the namespace a lone .svg file needs; HTML inlines without it.
pub(crate) fn render(report: &Report, standalone: bool) -> String {
    let g = wavegraph::build(report);
    draw(&g, &report.plan.id, standalone)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn draw(g: &WaveGraph, plan_id: &str, standalone: bool) -> String {
    // Row of every node within its wave's column.
    let mut rows = vec![0usize; g.waves.max(1)];
    let mut pos: Vec<(f64, f64)> = Vec::with_capacity(g.nodes.len());
    for n in &g.nodes {
        let row = rows.get_mut(n.wave).map(|r| {
            *r += 1;
            *r - 1
        });
        let row = row.unwrap_or(0) as f64;
        pos.push((
            MARGIN + n.wave as f64 * (BOX_W + COL_GAP),
            TOP + row * (BOX_H + ROW_GAP),
        ));
    }
    let tallest = rows.iter().copied().max().unwrap_or(0) as f64;
    let width = (2.0 * MARGIN + g.waves.max(1) as f64 * (BOX_W + COL_GAP) - COL_GAP).max(640.0);
    let height = TOP + tallest * (BOX_H + ROW_GAP) + MARGIN;

    let mut s = String::new();
    let xmlns = if standalone {
        " xmlns=\"http://www.w3.org/2000/svg\""
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "<svg{xmlns} class=\"wave-graph\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\" role=\"img\" aria-label=\"{}\">",
        esc(&format!("Wave graph of plan {plan_id}"))
    );
    let _ = writeln!(
        s,
        "<title>{}</title>",
        esc(&format!(
            "abshift plan {plan_id}: {} objects in {} waves{}",
            g.nodes.iter().map(|n| n.count).sum::<usize>(),
            g.waves,
            if g.aggregated {
                ", one box per wave and kind"
            } else {
                ""
            }
        ))
    );
    s.push_str("<defs><marker id=\"wg-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#8c959f\"/></marker></defs>\n");
    s.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");

    // Legend.
    let mut x = MARGIN;
    for (action, fill, stroke) in ACTION_COLOURS {
        let _ = write!(
            s,
            "<rect x=\"{x:.0}\" y=\"14\" width=\"14\" height=\"14\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/><text x=\"{:.0}\" y=\"25.5\" font-size=\"12\" fill=\"#24292f\">{}</text>",
            x + 20.0,
            action.as_str()
        );
        x += 30.0 + 8.0 * action.as_str().len() as f64;
    }
    if g.aggregated {
        let _ = write!(
            s,
            "<text x=\"{x:.0}\" y=\"25.5\" font-size=\"12\" fill=\"#57606a\">one box per wave and kind (more than {} objects); bar = share of each action</text>",
            wavegraph::AGGREGATE_ABOVE
        );
    }
    s.push('\n');

    // Column headers.
    for w in 0..g.waves {
        let count: usize = g
            .nodes
            .iter()
            .filter(|n| n.wave == w)
            .map(|n| n.count)
            .sum();
        let cx = MARGIN + w as f64 * (BOX_W + COL_GAP);
        let _ = writeln!(
            s,
            "<text x=\"{cx:.0}\" y=\"62\" font-size=\"15\" font-weight=\"600\" fill=\"#24292f\">Wave {w}</text><text x=\"{cx:.0}\" y=\"80\" font-size=\"12\" fill=\"#57606a\">{count} object{}</text>",
            if count == 1 { "" } else { "s" }
        );
    }

    // Edges under the boxes.
    s.push_str("<g fill=\"none\" stroke=\"#8c959f\" stroke-opacity=\"0.65\">\n");
    for e in &g.edges {
        let (Some(&(fx, fy)), Some(&(tx, ty))) = (pos.get(e.from), pos.get(e.to)) else {
            continue;
        };
        // Thicker for more dependencies, but never so thick it hides its neighbours.
        let width = 1.0 + 0.6 * (e.count as f64).log2().clamp(0.0, 5.0);
        let (y1, y2) = (fy + BOX_H / 2.0, ty + BOX_H / 2.0);
        let d = if tx > fx {
            let (x1, x2) = (fx + BOX_W, tx);
            let dx = (x2 - x1) / 2.0;
            format!(
                "M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}",
                x1 + dx,
                x2 - dx
            )
        } else {
            // Same wave (or a cycle the planner broke): loop out on the right.
            let x = fx + BOX_W;
            let bulge = 30.0 + ((y2 - y1).abs() / 8.0).min(40.0);
            format!(
                "M{x:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {:.1},{y2:.1}",
                x + bulge,
                tx + BOX_W + bulge,
                tx + BOX_W
            )
        };
        let _ = writeln!(
            s,
            "<path d=\"{d}\" stroke-width=\"{width:.1}\" marker-end=\"url(#wg-arrow)\"><title>{}</title></path>",
            esc(&format!(
                "{} → {}{}",
                g.nodes[e.from].id,
                g.nodes[e.to].id,
                if e.count > 1 {
                    format!(" ({} dependencies)", e.count)
                } else {
                    String::new()
                }
            ))
        );
    }
    s.push_str("</g>\n");

    // Boxes.
    for (n, &(x, y)) in g.nodes.iter().zip(&pos) {
        let (fill, stroke) = n.colours(g.aggregated);
        let actions = n.action_counts();
        let tip = format!("{}\n{}", n.id, actions.join(", "));
        let _ = write!(
            s,
            "<g class=\"node\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.2\"/>",
            esc(&tip)
        );
        if !g.aggregated {
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"5\" height=\"{BOX_H}\" rx=\"2\" fill=\"{stroke}\"/>"
            );
        } else {
            // A bar along the bottom showing the share of each action.
            let mut bx = x + 1.0;
            let inner = BOX_W - 2.0;
            for (a, c) in &n.actions {
                let w = inner * *c as f64 / n.count.max(1) as f64;
                let _ = write!(
                    s,
                    "<rect x=\"{bx:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"5\" fill=\"{}\"/>",
                    y + BOX_H - 6.0,
                    colours(*a).1
                );
                bx += w;
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" font-weight=\"600\" fill=\"#57606a\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12.5\" fill=\"#24292f\">{}</text></g>",
            x + 12.0,
            y + 16.0,
            esc(&truncate(&n.kind, LINE_CHARS)),
            x + 12.0,
            y + 32.0,
            esc(&truncate(&n.label, LINE_CHARS))
        );
    }
    s.push_str("</svg>\n");
    s
}
