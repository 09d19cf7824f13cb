//! The real-world corpus (tests/fixtures/email/corpus, sources and licences in its SOURCES.md,
//! plus the golden fixtures) delivered over SMTP, every message checked against issue #13's
//! quality bar: the text is readable (no markup, no binary, no NUL, U+FFFD only where flagged),
//! every non-text part is an attachment, and every 250'd message is exactly one interaction, a
//! visible duplicate, or a visible quarantine with a specific reason. Runs on SQLite and, with
//! TEST_DATABASE_URL, on PostgreSQL.

use crate::email_support::*;
use mail_parser::{MessageParser, PartType};
use serde_json::Value;
use sqlx::Row;
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, recurse: bool) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if recurse {
                    walk(&path, out, true);
                }
            } else if path.extension().is_some_and(|e| e == "eml" || e == "txt")
                || (recurse && path.extension().is_none())
            {
                out.push(path);
            }
        }
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/email");
    let mut files = Vec::new();
    walk(&base.join("corpus"), &mut files, true);
    walk(&base, &mut files, false);
    files.sort();
    files
}

/// Tags that show HTML source was taken for text.
const MARKUP: [&str; 12] = [
    "<html",
    "<body",
    "<head",
    "<!doctype",
    "<div",
    "<table",
    "<td",
    "<p>",
    "</p>",
    "<br",
    "<span",
    "<font",
];

#[tokio::test]
async fn every_corpus_message_keeps_the_quality_bar() {
    let app = spawn_mail(|c| c.mail_ack = false).await;
    let addr = smtp_addr(&app);
    let files = corpus();
    assert!(files.len() >= 150, "corpus missing: {} files", files.len());
    let mut delivered = Vec::new();
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        let r = deliver(addr, "corpus@example.com", "support@localhost", &raw).await;
        assert!(r.starts_with("250"), "{}: {r}", path.display());
        delivered.push((path, raw, queued_id(&r)));
    }
    let mut failures = Vec::new();
    let mut owners = std::collections::HashMap::new();
    let (mut interactions, mut duplicates, mut quarantined) = (0, 0, 0);
    for (path, raw, id) in &delivered {
        let name = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display();
        let mut fail = |what: String| failures.push(format!("{name} (inbound {id}): {what}"));
        let (status, _, interaction) = wait_processed(&app, *id).await;
        let row = sqlx::query("SELECT error FROM inbound_mail WHERE id = $1")
            .bind(id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        let error: Option<String> = row.try_get("error").unwrap();
        if status == "quarantined" {
            quarantined += 1;
            match error.as_deref() {
                None | Some("") | Some("internal error") => {
                    fail(format!("quarantined without a specific reason: {error:?}"))
                }
                Some(_) => {}
            }
            continue;
        }
        if status != "processed" {
            fail(format!("status {status}"));
            continue;
        }
        let Some(interaction) = interaction else {
            fail("processed without an interaction".into());
            continue;
        };
        let r = sqlx::query("SELECT subject, body, meta FROM interactions WHERE id = $1")
            .bind(interaction)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        let subject: String = r.try_get("subject").unwrap();
        let body: String = r.try_get("body").unwrap();
        let meta: Value = serde_json::from_str(&r.try_get::<String, _>("meta").unwrap()).unwrap();
        if error.as_deref() == Some("duplicate") {
            duplicates += 1;
            let listed = meta["duplicates"]
                .as_array()
                .is_some_and(|d| d.iter().any(|v| v.as_i64() == Some(*id)));
            if !listed {
                fail(format!("duplicate of {interaction} not listed there"));
            }
            continue;
        }
        interactions += 1;
        if meta["inbound_mail_id"].as_i64() != Some(*id) {
            fail(format!(
                "interaction {interaction} is not this mail's: {meta}"
            ));
        }
        if let Some(other) = owners.insert(interaction, *id) {
            fail(format!("interaction {interaction} also claimed by {other}"));
        }
        let parsed = MessageParser::default().parse(raw.as_slice());
        // Readable text.
        let lower = body.to_lowercase();
        let plain_part = parsed.as_ref().is_some_and(|m| {
            m.text_bodies()
                .any(|p| matches!(&p.body, PartType::Text(t) if MARKUP.iter().any(|t2| t.to_lowercase().contains(t2))))
        });
        if let Some(tag) = MARKUP.iter().find(|t| lower.contains(*t))
            && !plain_part
        {
            fail(format!("markup {tag} in the text: {body:.300}"));
        }
        for (field, text) in [("body", &body), ("subject", &subject)] {
            if let Some(c) = text
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            {
                fail(format!("control character {:?} in the {field}", c));
            }
        }
        let flagged = meta["problems"].as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p.as_str().unwrap_or("").contains("U+FFFD"))
        });
        if (body.contains('\u{fffd}') || subject.contains('\u{fffd}')) && !flagged {
            fail(format!(
                "U+FFFD not flagged in problems: {}",
                meta["problems"]
            ));
        }
        // Every non-text part is an attachment.
        if let Some(m) = &parsed {
            let binary = m
                .parts
                .iter()
                .filter(|p| {
                    matches!(
                        p.body,
                        PartType::Binary(_) | PartType::InlineBinary(_) | PartType::Message(_)
                    )
                })
                .count();
            let listed = meta["attachments"].as_array().map_or(0, Vec::len);
            if listed < binary {
                fail(format!("{binary} non-text parts, {listed} attachments"));
            }
        }
    }
    eprintln!(
        "corpus: {} messages, {interactions} interactions, {duplicates} duplicates, \
         {quarantined} quarantined",
        delivered.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
