//! Checks that an HTML report is one well-formed page that references nothing
//! outside itself. Shared by the report tests (`#[path]`-included).

use scraper::{Html, Selector};

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
