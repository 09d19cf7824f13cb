//! An article's Markdown: its customer-facing answer and its internal section, rendered to
//! sanitized HTML (pulldown-cmark, then the project's ammonia rules) and to plain text (for
//! snippets, the index, and inserting the answer into a customer reply). Pure functions.
//!
//! The convention: everything before a heading `## Internal` or `## 内部` (any level, any
//! case) is the answer customers may read; everything from that heading on is for agents
//! only (notes, checks, escalation steps). An article without such a heading is all answer.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
}

/// Is `line` the heading that opens the internal section?
fn is_internal_heading(line: &str) -> bool {
    let t = line.trim();
    let Some(rest) = t.strip_prefix('#') else {
        return false;
    };
    let name = rest
        .trim_start_matches('#')
        .trim()
        .trim_end_matches('#')
        .trim();
    let name = name.trim_end_matches([':', '：']).trim();
    name.eq_ignore_ascii_case("internal") || name == "内部" || name == "內部"
}

/// Splits a body into (answer, internal section without its heading). Headings inside fenced
/// code blocks do not count.
pub fn split(body: &str) -> (&str, Option<&str>) {
    let mut offset = 0;
    let mut fenced = false;
    for line in body.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
        } else if !fenced && is_internal_heading(line) {
            let internal = body[offset + line.len()..].trim();
            return (
                body[..offset].trim_end(),
                Some(internal).filter(|s| !s.is_empty()),
            );
        }
        offset += line.len();
    }
    (body.trim_end(), None)
}

/// The customer-facing part of a body (Markdown).
pub fn answer(body: &str) -> &str {
    split(body).0
}

/// Markdown to HTML, sanitized (no scripts, handlers, styles or raw HTML that could run).
pub fn to_html(md: &str) -> String {
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, Parser::new_ext(md, options()));
    crate::tickets::html::sanitize(&out)
}

/// Markdown to plain text: paragraphs and headings separated by a blank line, list items as
/// `- ` (or `1. `) lines, a table's cells separated by two spaces; no emphasis marks, footnote
/// markers or footnotes, no raw HTML.
pub fn to_plain(md: &str) -> String {
    let mut out = String::new();
    // Ordered list counters (None: a bullet list), innermost last.
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut in_footnote = 0usize;
    let mut cell = 0usize;
    let block_end = |out: &mut String| {
        while out.ends_with(' ') {
            out.pop();
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
    };
    for ev in Parser::new_ext(md, options()) {
        if in_footnote > 0 {
            match ev {
                Event::Start(Tag::FootnoteDefinition(_)) => in_footnote += 1,
                Event::End(TagEnd::FootnoteDefinition) => in_footnote -= 1,
                _ => {}
            }
            continue;
        }
        match ev {
            Event::Start(Tag::FootnoteDefinition(_)) => in_footnote = 1,
            Event::Start(Tag::List(start)) => {
                if lists.is_empty() {
                    block_end(&mut out);
                } else if !out.ends_with('\n') {
                    out.push('\n');
                }
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                if lists.is_empty() {
                    block_end(&mut out);
                }
            }
            Event::Start(Tag::Item) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
            }
            Event::End(TagEnd::Item) if !out.ends_with('\n') => out.push('\n'),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::Table,
            ) => {
                if lists.is_empty() {
                    block_end(&mut out);
                } else if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            Event::Start(Tag::TableRow | Tag::TableHead) => cell = 0,
            Event::End(TagEnd::TableRow | TagEnd::TableHead) => out.push('\n'),
            Event::Start(Tag::TableCell) => {
                if cell > 0 {
                    out.push_str("  ");
                }
                cell += 1;
            }
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::TaskListMarker(done) => out.push_str(if done { "[x] " } else { "[ ] " }),
            Event::Rule => block_end(&mut out),
            // Footnote markers, raw HTML, math: nothing a reader of plain text needs.
            _ => {}
        }
    }
    out.trim().to_string()
}

/// Plain text on one line (whitespace collapsed): what the index holds and snippets show.
pub fn to_line(md: &str) -> String {
    to_plain(md)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_internal_heading() {
        let body = "Answer **here**.\n\n## 内部\n\nAgent note.\n";
        assert_eq!(split(body), ("Answer **here**.", Some("Agent note.")));
        assert_eq!(split("## Internal:\nx").0, "");
        assert_eq!(split("Just an answer.\n"), ("Just an answer.", None));
        assert_eq!(
            split("a\n```\n## Internal\n```\nb").1,
            None,
            "headings in code do not count"
        );
        assert_eq!(split("a\n### internal ###\nb").1, Some("b"));
    }

    #[test]
    fn plain_text_has_no_markup() {
        let md = "## Steps\n\n1. Open **Orders**.\n2. Tap *Refund*[^1].\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- x\n- y\n\n[^1]: a footnote\n";
        let p = to_plain(md);
        assert_eq!(
            p,
            "Steps\n\n1. Open Orders.\n2. Tap Refund.\n\na  b\n1  2\n\n- x\n- y"
        );
        assert_eq!(
            to_line(md),
            "Steps 1. Open Orders. 2. Tap Refund. a b 1 2 - x - y"
        );
    }

    #[test]
    fn html_is_rendered_and_sanitized() {
        let h = to_html(
            "## T\n\n**b** <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n| a |\n|---|\n| 1 |\n",
        );
        assert!(
            h.contains("<h2>T</h2>") && h.contains("<strong>b</strong>"),
            "{h}"
        );
        assert!(h.contains("<table>"), "{h}");
        assert!(!h.contains("script") && !h.contains("onerror"), "{h}");
    }
}
