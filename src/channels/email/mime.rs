//! MIME parsing of one raw message into what Hotline keeps: addresses, threading headers, the
//! text (new part and quoted part), sanitized HTML, attachments, and whether it was automated.
//! Pure functions over bytes; no storage, no network.

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Address, HeaderValue, MessageParser, MessagePart, MimeHeaders, PartType};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// An attachment or inline part; `data` is not part of the golden JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
    pub inline: bool,
    pub content_id: Option<String>,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// What Hotline keeps of one email.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ParsedMail {
    /// Message-ID without angle brackets; `None` when the message has none.
    pub message_id: Option<String>,
    /// The idempotency key: the Message-ID, or `sha256:` of the content when it is missing.
    pub dedup_key: String,
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The whole text version (from the text part, or derived from the HTML).
    pub text: String,
    /// The text the sender wrote this time, without the quoted earlier messages.
    pub new_text: String,
    /// The quoted earlier messages, kept apart.
    pub quoted: String,
    /// The HTML part, sanitized; never shown unsanitized.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Why this message must not get an automatic answer (auto-reply, bounce, list).
    pub automated: Option<String>,
    /// Problems found while parsing; the message is still kept.
    pub problems: Vec<String>,
}

/// Parses `raw`. Never fails: a message that cannot be parsed still yields its raw text with a
/// problem recorded, so nothing delivered is lost.
pub fn parse(raw: &[u8]) -> ParsedMail {
    let Some(msg) = MessageParser::default().parse(raw) else {
        let text = decode_text(raw, None);
        return ParsedMail {
            dedup_key: content_key(None, "", "", &text),
            new_text: text.clone(),
            text,
            problems: vec!["unparseable message".into()],
            ..ParsedMail::default()
        };
    };
    let mut problems = Vec::new();
    let message_id = msg
        .message_id()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let first = |a: Option<&Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address.as_ref())
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| s.contains('@'))
    };
    let from = first(msg.from());
    if from.is_none() {
        problems.push("no sender address in From".into());
    }
    let from_name = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.name.as_ref())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let all = |a: Option<&Address>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address.as_ref())
                .map(|s| s.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
    };
    let subject = msg.subject().unwrap_or("").trim().to_string();

    let mut text = String::new();
    for part in msg.text_bodies() {
        let t = part_text(raw, part);
        if !t.trim().is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&t);
        }
    }
    let html_raw: Option<String> = msg
        .html_bodies()
        .find(|p| matches!(p.body, PartType::Html(_)))
        .map(|p| part_text(raw, p));
    if text.trim().is_empty()
        && let Some(h) = &html_raw
    {
        text = mail_parser::decoders::html::html_to_text(h);
    }
    if text.trim().is_empty() {
        // Nothing readable was found: keep the raw body so an agent can still read what came.
        let start = (msg.root_part().raw_body_offset() as usize).min(raw.len());
        text = decode_text(&raw[start..], None);
        if !text.trim().is_empty() {
            problems.push("no readable text part; the raw body is shown".into());
        }
    }
    let text = normalize_newlines(&text);
    let (new_text, quoted) = split_quoted(&text);
    let html = html_raw.map(|h| sanitize_html(&h));

    let mut attachments = Vec::new();
    for part in msg.attachments() {
        let (data, content_type, default_name): (Vec<u8>, String, String) = match &part.body {
            PartType::Message(m) => (
                m.raw_message().to_vec(),
                "message/rfc822".into(),
                format!("{}.eml", m.subject().unwrap_or("message")),
            ),
            _ => (
                part.contents().to_vec(),
                part.content_type()
                    .map(|ct| match ct.subtype() {
                        Some(st) => format!("{}/{}", ct.ctype(), st),
                        None => ct.ctype().to_string(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".into())
                    .to_ascii_lowercase(),
                "attachment".into(),
            ),
        };
        let inline = matches!(part.body, PartType::InlineBinary(_))
            || part.content_disposition().is_some_and(|d| d.is_inline());
        attachments.push(Attachment {
            filename: part
                .attachment_name()
                .map(str::to_string)
                .unwrap_or(default_name),
            content_type,
            size: data.len(),
            sha256: hex::encode(Sha256::digest(&data)),
            inline,
            content_id: part
                .content_id()
                .map(|s| s.trim_matches(|c| c == '<' || c == '>').to_string()),
            data,
        });
    }

    let date = msg.date().map(|d| d.to_rfc3339()).unwrap_or_default();
    let dedup_key = match &message_id {
        Some(id) => id.clone(),
        None => content_key(from.as_deref(), &date, &subject, &text),
    };
    ParsedMail {
        automated: automated_reason(&msg, from.as_deref()),
        message_id,
        dedup_key,
        from,
        from_name,
        reply_to: first(msg.reply_to()),
        to: all(msg.to()),
        cc: all(msg.cc()),
        subject,
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        text,
        new_text,
        quoted,
        html,
        attachments,
        problems,
    }
}

/// The idempotency key of a message without Message-ID: the same content delivered twice (by
/// SMTP and IMAP, where the Received lines differ) gives the same key.
fn content_key(from: Option<&str>, date: &str, subject: &str, text: &str) -> String {
    let mut h = Sha256::new();
    for piece in [from.unwrap_or(""), date, subject, text.trim()] {
        h.update(piece.as_bytes());
        h.update([0u8]);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn id_list(v: &HeaderValue) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.trim().to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.trim().to_string()).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect()
}

/// Why a message must get no automatic answer (RFC 3834 and the habits of real mailers).
fn automated_reason(msg: &mail_parser::Message, from: Option<&str>) -> Option<String> {
    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if let Some(v) = header("Auto-Submitted")
        && v != "no"
    {
        return Some(format!("auto_submitted: {v}"));
    }
    if let Some(v) = header("Precedence")
        && ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str())
    {
        return Some(format!("precedence: {v}"));
    }
    if header("List-Id").is_some() || header("List-Unsubscribe").is_some() {
        return Some("mailing_list".into());
    }
    if header("X-Autoreply").is_some() || header("X-Autorespond").is_some() {
        return Some("x_autoreply".into());
    }
    if msg.is_content_type("multipart", "report") {
        return Some("delivery_report".into());
    }
    let local = from.and_then(|f| f.split('@').next()).unwrap_or("");
    if ["mailer-daemon", "postmaster", "noreply", "no-reply"].contains(&local) {
        return Some(format!("system_sender: {local}"));
    }
    None
}

/// The text of a text part. mail-parser decodes the declared charset; mislabelled parts are
/// decoded again from their bytes: UTF-8 labelled as ASCII/Latin-1 or unlabelled, and GBK
/// labelled as UTF-8 or unlabelled (common among Chinese mailers).
fn part_text(raw: &[u8], part: &MessagePart) -> String {
    let decoded = match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.to_string(),
        _ => String::from_utf8_lossy(part.contents()).into_owned(),
    };
    let charset = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(|c| c.to_ascii_lowercase());
    let suspicious = match charset.as_deref() {
        None | Some("us-ascii") | Some("ascii") => true,
        Some("utf-8") | Some("utf8") => decoded.contains('\u{fffd}'),
        Some("iso-8859-1") | Some("latin1") | Some("windows-1252") => true,
        _ => false,
    };
    if !suspicious {
        return decoded;
    }
    let start = (part.raw_body_offset() as usize).min(raw.len());
    let end = (part.raw_end_offset() as usize).clamp(start, raw.len());
    let body = &raw[start..end];
    let bytes = match part
        .content_transfer_encoding()
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("base64") => base64_decode(body),
        Some("quoted-printable") => quoted_printable_decode(body),
        _ => Some(body.to_vec()),
    };
    let Some(bytes) = bytes else {
        return decoded;
    };
    if bytes.is_ascii() {
        return decoded;
    }
    match charset.as_deref() {
        // Declared Latin-1 is only overridden when the bytes are valid UTF-8 (a real Latin-1
        // text almost never is).
        Some("iso-8859-1") | Some("latin1") | Some("windows-1252") => {
            match std::str::from_utf8(&bytes) {
                Ok(s) => s.to_string(),
                Err(_) => decoded,
            }
        }
        _ => decode_text(&bytes, None),
    }
}

/// Bytes of unknown charset: UTF-8 when valid, else GB18030 when it decodes cleanly, else
/// Windows-1252 (which never fails).
pub fn decode_text(bytes: &[u8], _hint: Option<&str>) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let (s, _, errors) = encoding_rs::GB18030.decode(bytes);
    if !errors {
        return s.into_owned();
    }
    encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned()
}

fn normalize_newlines(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .trim()
        .to_string()
}

/// Sanitizes HTML as it arrives: scripts, handlers, forms, frames, styles and the `<title>` text
/// go; remote and `cid:` image sources stay in the stored copy (see `tickets::html`, which
/// blocks remote content and serves `cid:` images when the mail is shown).
pub fn sanitize_html(html: &str) -> String {
    crate::tickets::html::sanitize(html)
}

/// Splits a reply's text into the new text and the quoted earlier message. Recognises
/// "On … wrote:", "在 … 写道：", ">" lines, Outlook's "-----Original Message-----" and
/// "From:/发件人:" header blocks, and the "原始邮件" separators of Chinese webmail.
pub fn split_quoted(text: &str) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    let cut = (0..lines.len()).find(|&i| starts_quote(&lines, i));
    let (new, quoted) = match cut {
        Some(i) => (&lines[..i], &lines[i..]),
        None => (&lines[..], &[][..]),
    };
    // Interleaved ">" lines before the marker are quotes too.
    let new: Vec<&str> = new
        .iter()
        .copied()
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect();
    (
        new.join("\n").trim().to_string(),
        quoted.join("\n").trim().to_string(),
    )
}

fn starts_quote(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
    if line.starts_with('>') {
        // A quote block: this and every following non-empty line is quoted or a marker.
        return lines[i..]
            .iter()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('>'));
    }
    if line.starts_with("On ")
        && (line.ends_with("wrote:") || (!next.is_empty() && next.ends_with("wrote:")))
    {
        return true;
    }
    if line.starts_with('在') && (line.contains("写道") || line.contains("寫道")) {
        return true;
    }
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("-----original message-----")
        || line.contains("原始邮件")
        || line.contains("原始郵件")
    {
        return true;
    }
    let header_block = |label: &[&str]| {
        lines[i + 1..]
            .iter()
            .take(4)
            .any(|l| label.iter().any(|p| l.trim_start().starts_with(p)))
    };
    if (line.starts_with("From:") || line.starts_with("发件人:") || line.starts_with("发件人："))
        && header_block(&["Sent:", "Date:", "发送时间", "日期", "时间:", "时间："])
    {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_split_from_new_text() {
        let (n, q) = split_quoted("Thanks!\n\nOn Mon, 1 Jan 2024, Bob wrote:\n> hi\n> there");
        assert_eq!(n, "Thanks!");
        assert!(q.starts_with("On Mon"));
        let (n, q) = split_quoted("好的，谢谢\n\n在 2024年1月1日，张三 写道：\n> 你好");
        assert_eq!(n, "好的，谢谢");
        assert!(q.contains("你好"));
        let (n, q) = split_quoted(
            "See below\n-----Original Message-----\nFrom: a@b\nSent: today\n\nold text",
        );
        assert_eq!(n, "See below");
        assert!(q.contains("old text"));
        let (n, _) = split_quoted("收到\n\n发件人: 客服\n发送时间: 2024年1月1日\n主题: 问题");
        assert_eq!(n, "收到");
        let (n, q) = split_quoted("no quote here\nat all");
        assert_eq!(n, "no quote here\nat all");
        assert_eq!(q, "");
    }

    #[test]
    fn html_is_sanitized() {
        let s = sanitize_html(
            r#"<p onclick="x()">Hi<script>alert(1)</script><img src="cid:img1"></p>"#,
        );
        assert!(!s.contains("script") && !s.contains("onclick"));
        assert!(s.contains("cid:img1"));
    }

    #[test]
    fn unknown_bytes_fall_back_to_gb18030() {
        let (bytes, _, _) = encoding_rs::GBK.encode("你好，世界");
        assert_eq!(decode_text(&bytes, None), "你好，世界");
        assert_eq!(decode_text("héllo".as_bytes(), None), "héllo");
    }

    #[test]
    fn automated_messages_are_recognised() {
        let raw = b"From: MAILER-DAEMON@example.com\r\nSubject: Undelivered\r\n\r\nbounce\r\n";
        assert_eq!(
            parse(raw).automated.as_deref(),
            Some("system_sender: mailer-daemon")
        );
        let raw = b"From: a@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: x\r\n\r\nb\r\n";
        assert!(parse(raw).automated.unwrap().starts_with("auto_submitted"));
        let raw = b"From: a@example.com\r\nAuto-Submitted: no\r\nSubject: x\r\n\r\nb\r\n";
        assert!(parse(raw).automated.is_none());
    }
}
