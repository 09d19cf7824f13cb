//! `{name}` placeholders in texts people write: acknowledgement templates (`channels::ack`) and
//! macros (`macros`). Finding them, checking them against the names a text may use, and
//! filling them in. (Small and specific enough that a template engine would only add syntax
//! nobody should type into a reply: no loops, no escaping rules, `{` stays literal.)

use crate::error::{AppError, AppResult};

/// The `{name}` placeholders in `text`: letters, digits, `_` and `.` (`{customer.name}`)
/// between braces; anything else in braces is plain text.
pub fn names_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let tail = &rest[open + 1..];
        let name_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(tail.len());
        if name_len > 0 && tail[name_len..].starts_with('}') {
            out.push(&tail[..name_len]);
            rest = &tail[name_len + 1..];
        } else {
            rest = tail;
        }
    }
    out
}

/// Every placeholder of `text` is one of `known`; else a validation error on `field` naming
/// the unknown one, what it is not a placeholder of (`what`) and the ones to use.
pub fn check(known: &[&str], field: &str, text: &str, what: &str) -> AppResult<()> {
    for p in names_in(text) {
        if !known.contains(&p) {
            let list: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
            return Err(AppError::validation(
                field,
                format!(
                    "{{{p}}} is not a placeholder of {what} (use {})",
                    list.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// `template` with each `{key}` of `values` filled in (in one pass: a value is never read as
/// a placeholder).
pub fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    'outer: while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        for (k, v) in values {
            if let Some(after) = tail
                .strip_prefix('{')
                .and_then(|t| t.strip_prefix(k))
                .and_then(|t| t.strip_prefix('}'))
            {
                out.push_str(v);
                rest = after;
                continue 'outer;
            }
        }
        out.push('{');
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_checked_and_filled_once() {
        assert_eq!(
            names_in("[#{ticket}] {subject} {not closed {} {a-b} {customer.name}"),
            vec!["ticket", "subject", "customer.name"]
        );
        assert!(check(&["a.b"], "body", "x {a.b} {} {a-b}", "macros").is_ok());
        match check(&["a.b"], "body", "{a.c}", "macros") {
            Err(AppError::Validation { field, message }) => {
                assert_eq!(field, "body");
                assert!(
                    message.contains("{a.c}") && message.contains("{a.b}"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        let values = vec![
            ("ticket.number", "7".to_string()),
            ("customer.name", "{ticket.number}".to_string()),
        ];
        assert_eq!(
            render("#{ticket.number} {customer.name} {x}", &values),
            "#7 {ticket.number} {x}"
        );
    }
}
