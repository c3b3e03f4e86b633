//! Reports: a plan (and B's dry-run verdict) rendered from one `model` for people
//! (Markdown, HTML), tools (JSON) and as a picture of the waves (SVG, Graphviz,
//! both from `wavegraph`). Everything here is a pure function of the plan.

mod dot;
mod html;
mod md;
mod model;
mod redact;
mod svg;
mod wavegraph;

use std::path::Path;

use crate::outcome::ApplySummary;
use crate::plan::Plan;

use model::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Json,
    Dot,
    Svg,
}

/// File extensions a format is recognised by. Data, so the error message and
/// the lookup cannot disagree.
const EXTENSIONS: &[(&str, Format)] = &[
    ("md", Format::Markdown),
    ("markdown", Format::Markdown),
    ("html", Format::Html),
    ("htm", Format::Html),
    ("json", Format::Json),
    ("dot", Format::Dot),
    ("gv", Format::Dot),
    ("svg", Format::Svg),
];

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "cannot tell the report format of {path} from its extension; use one of: {accepted} (or --format)"
    )]
    UnknownExtension { path: String, accepted: String },
}

impl Format {
    /// The format a file name asks for, by its extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Format, ReportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        ext.and_then(|e| {
            EXTENSIONS
                .iter()
                .find(|(x, _)| *x == e)
                .map(|(_, format)| *format)
        })
        .ok_or_else(|| ReportError::UnknownExtension {
            path: path.display().to_string(),
            accepted: EXTENSIONS
                .iter()
                .map(|(x, _)| format!(".{x}"))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Markdown,
        Format::Html,
        Format::Json,
        Format::Dot,
        Format::Svg,
    ];

    /// The name `--format` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Json => "json",
            Format::Dot => "dot",
            Format::Svg => "svg",
        }
    }
}

/// Renders the report. `dry_run` is the summary of `migrate apply --dry-run`
/// for this plan: objects it does not list as problems were accepted by B.
pub fn render(plan: &Plan, dry_run: Option<&ApplySummary>, format: Format) -> String {
    let report = Report::new(plan, dry_run);
    match format {
        Format::Markdown => md::render(&report),
        Format::Html => html::render(&report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report).unwrap_or_else(|e| {
                // Serialising plain strings and maps cannot fail; say so if it ever does.
                format!("{{\"error\": \"report does not serialise: {e}\"}}")
            });
            s.push('\n');
            s
        }
        Format::Dot => dot::render(&report),
        Format::Svg => svg::render(&report, true),
    }
}

#[cfg(test)]
pub(crate) mod testplan;

#[cfg(test)]
mod tests;
