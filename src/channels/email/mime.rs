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
    /// The hash of the message's content (`content_hash`): tells a retry of the same message
    /// from another mail that reuses its Message-ID.
    pub content_sha256: String,
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
/// problem recorded, so nothing delivered is lost. No text field of the result holds NUL or
/// another control character (PostgreSQL refuses NUL); the raw bytes are kept elsewhere.
pub fn parse(raw: &[u8]) -> ParsedMail {
    let mut mail = parse_unclean(raw);
    mail.clean();
    mail
}

fn parse_unclean(raw: &[u8]) -> ParsedMail {
    let Some(msg) = MessageParser::default().parse(raw) else {
        let (text, problem) = decode_bytes(raw, None);
        let content_sha256 = content_hash(&[], raw);
        return ParsedMail {
            dedup_key: format!("sha256:{content_sha256}"),
            content_sha256,
            new_text: text.clone(),
            text,
            problems: ["unparseable message".to_string()]
                .into_iter()
                .chain(problem)
                .collect(),
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
    let subject = subject_of(raw, &msg, &mut problems);

    // Only text parts are ever text: an inline image or any other part listed among the bodies
    // is an attachment (mail-parser lists it there too).
    let mut text = String::new();
    let mut binary_text_parts = Vec::new();
    for (id, part) in msg.text_body.iter().zip(msg.text_bodies()) {
        let t = match &part.body {
            PartType::Text(_) => match part_bytes(raw, part) {
                Some(bytes) if looks_binary(&bytes) => {
                    binary_text_parts.push(*id);
                    continue;
                }
                _ => part_text(raw, part, &mut problems),
            },
            PartType::Html(_) => html_to_text(&part_text(raw, part, &mut problems)),
            _ => continue,
        };
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
        .map(|p| part_text(raw, p, &mut problems));
    if text.trim().is_empty()
        && let Some(h) = &html_raw
    {
        text = html_to_text(h);
    }

    // Without a text body, text parts that mail-parser could not place (a broken encoding)
    // and that are no named file are the text.
    let mut orphans = Vec::new();
    if text.trim().is_empty() && html_raw.is_none() {
        for &i in &msg.attachments {
            let part = &msg.parts[i as usize];
            let named = part.attachment_name().is_some()
                || part
                    .content_disposition()
                    .is_some_and(|d| d.is_attachment());
            if matches!(part.body, PartType::Text(_))
                && !named
                && !part_bytes(raw, part).is_some_and(|b| looks_binary(&b))
            {
                let t = part_text(raw, part, &mut problems);
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&t);
                orphans.push(i);
            }
        }
    }

    let mut attachments = Vec::new();
    let parts = msg.attachments.iter().chain(&binary_text_parts);
    let parts = parts.filter(|i| !orphans.contains(i));
    for part in parts.filter_map(|&i| msg.parts.get(i as usize)) {
        let (data, content_type, default_name): (Vec<u8>, String, String) = match &part.body {
            PartType::Message(m) => (
                m.raw_message().to_vec(),
                "message/rfc822".into(),
                format!("{}.eml", m.subject().unwrap_or("message")),
            ),
            _ => (
                part_bytes(raw, part).unwrap_or_else(|| part.contents().to_vec()),
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
    if !binary_text_parts.is_empty() {
        problems.push("a text part holds binary data; it is kept as an attachment".into());
    }

    if text.trim().is_empty() && html_raw.is_none() && attachments.is_empty() {
        // Nothing readable was found: keep the raw body so an agent can still read what came.
        let start = (msg.root_part().raw_body_offset() as usize).min(raw.len());
        let body = &raw[start..];
        if !looks_binary(body) {
            let (t, problem) = decode_bytes(body, None);
            text = t;
            problems.extend(problem);
        }
        if !text.trim().is_empty() {
            problems.push("no readable text part; the raw body is shown".into());
        }
    }
    let text = normalize_newlines(&text);
    let (new_text, quoted) = split_quoted(&text);
    let html = html_raw.map(|h| sanitize_html(&h));

    let date = msg.date().map(|d| d.to_rfc3339()).unwrap_or_default();
    let start = (msg.root_part().raw_body_offset() as usize).min(raw.len());
    let content_sha256 = content_hash(
        &[
            from.as_deref().unwrap_or(""),
            &date,
            &subject,
            message_id.as_deref().unwrap_or(""),
        ],
        &raw[start..],
    );
    let dedup_key = match &message_id {
        Some(id) => id.clone(),
        None => format!("sha256:{content_sha256}"),
    };
    ParsedMail {
        automated: automated_reason(&msg, from.as_deref()),
        message_id,
        dedup_key,
        content_sha256,
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

impl ParsedMail {
    /// Removes NUL and the other control characters (but tab and line ends) from every text
    /// field, and flags replacement characters left by undecodable bytes.
    fn clean(&mut self) {
        let mut removed = 0;
        let mut c = |s: &mut String| removed += clean_text(s);
        for s in [&mut self.subject, &mut self.text, &mut self.dedup_key] {
            c(s);
        }
        // Parts of the text, counted there already.
        clean_text(&mut self.new_text);
        clean_text(&mut self.quoted);
        let options = [
            &mut self.message_id,
            &mut self.from,
            &mut self.from_name,
            &mut self.reply_to,
            &mut self.html,
            &mut self.automated,
        ];
        for s in options.into_iter().flatten() {
            c(s);
        }
        let lists = [
            &mut self.to,
            &mut self.cc,
            &mut self.in_reply_to,
            &mut self.references,
        ];
        for s in lists.into_iter().flatten() {
            c(s);
        }
        for a in &mut self.attachments {
            c(&mut a.filename);
            c(&mut a.content_type);
            if let Some(id) = &mut a.content_id {
                c(id);
            }
        }
        if removed > 0 {
            self.problems.push(format!(
                "{removed} NUL or control characters removed from the text"
            ));
        }
        // A part read twice (an HTML-only body is the text and the HTML) reports once.
        let mut seen = std::collections::HashSet::new();
        self.problems.retain(|p| seen.insert(p.clone()));
        let flagged = self.problems.iter().any(|p| p.contains("U+FFFD"));
        if !flagged && (self.text.contains('\u{fffd}') || self.subject.contains('\u{fffd}')) {
            self.problems
                .push("the message itself holds U+FFFD replacement characters".into());
        }
    }
}

/// Removes NUL and control characters other than tab, line feed and carriage return (C0, DEL
/// and C1); returns how many were removed.
fn clean_text(s: &mut String) -> usize {
    let bad = |c: char| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{fffe}' || c == '\u{ffff}'
    };
    if !s.contains(bad) {
        return 0;
    }
    let before = s.chars().count();
    s.retain(|c| !bad(c));
    before - s.chars().count()
}

/// The content of a message as a hash: its sender, date, subject, Message-ID and its whole body
/// (every part, attachments included) with line ends normalized. The same message delivered
/// again (an MTA's retry; SMTP and IMAP, where the trace headers differ) hashes the same; two
/// mails that differ in any part never do. Taken from the raw bytes, not the parsed text, so a
/// change of the parser does not change it.
fn content_hash(headers: &[&str], body: &[u8]) -> String {
    let mut h = Sha256::new();
    for piece in headers {
        h.update(piece.as_bytes());
        h.update([0u8]);
    }
    let end = body
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    for chunk in body[..end].split(|&b| b == b'\r') {
        h.update(chunk);
    }
    hex::encode(h.finalize())
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

/// The bytes of a part after its transfer encoding is undone (not yet decoded from its charset).
/// Base64 is read leniently: the lines that are base64 are decoded, and text after them (a
/// mailing list's plain footer) is kept as it is, as Python's `email` package reads it.
fn part_bytes(raw: &[u8], part: &MessagePart) -> Option<Vec<u8>> {
    let start = (part.raw_body_offset() as usize).min(raw.len());
    let end = (part.raw_end_offset() as usize).clamp(start, raw.len());
    let body = &raw[start..end];
    let encoding = part
        .content_transfer_encoding()
        .map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        Some("base64") => Some(lenient_base64(body)),
        Some("quoted-printable") => quoted_printable_decode(body),
        _ => Some(body.to_vec()),
    }
}

/// Decodes the leading base64 lines of `body`; whatever follows them is appended unchanged.
fn lenient_base64(body: &[u8]) -> Vec<u8> {
    if let Some(all) = base64_decode(body) {
        return all;
    }
    let is_b64 = |l: &[u8]| {
        l.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    };
    let mut encoded = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.trim_ascii();
        if !line.is_empty() && !is_b64(line) {
            break;
        }
        encoded.extend_from_slice(line);
        rest = tail;
        if line.ends_with(b"=") {
            break;
        }
    }
    let mut out = base64_decode(&encoded).unwrap_or_default();
    let rest = rest.trim_ascii();
    if !rest.is_empty() {
        out.extend_from_slice(b"\n\n");
        out.extend_from_slice(rest);
    }
    out
}

/// True when bytes are binary data rather than text: more than a few control bytes that no text
/// charset uses (ESC is allowed: ISO-2022 encodings use it), and more than 2% of them. A stray
/// NUL in a text is removed from it instead.
fn looks_binary(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    let control = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    control >= 8 && control * 50 > sample.len()
}

/// The text of a text part, decoded from its bytes by `decode_bytes` with the declared charset
/// (what mail-parser decoded is kept only for the charsets that `encoding_rs` does not know,
/// UTF-7). What was guessed goes to `problems`.
fn part_text(raw: &[u8], part: &MessagePart, problems: &mut Vec<String>) -> String {
    let decoded = match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_ref(),
        _ => "",
    };
    let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
    if charset.is_some_and(|c| c.to_ascii_lowercase().contains("utf-7")) {
        return decoded.to_string();
    }
    let Some(bytes) = part_bytes(raw, part) else {
        return decoded.to_string();
    };
    let (text, problem) = decode_bytes(&bytes, charset);
    problems.extend(problem);
    text
}

/// Decodes bytes of a declared (or no) charset, and says what was guessed, if anything:
/// - non-ASCII bytes that are valid UTF-8 are UTF-8, whatever the label (UTF-8 labelled GB2312
///   or Latin-1 is common; real GBK or Latin-1 text is almost never valid UTF-8);
/// - else the declared charset (with the aliases of `encoding_for_label`) when it decodes
///   without errors;
/// - else the charset `chardetng` (Firefox's detector) finds.
pub fn decode_bytes(bytes: &[u8], label: Option<&str>) -> (String, Option<String>) {
    let named = label.map_or_else(|| "none".to_string(), |l| l.trim().to_string());
    // US-ASCII declared over 8-bit bytes declares nothing.
    let ascii = label.is_some_and(|l| {
        let l = l.trim().to_ascii_lowercase();
        ["us-ascii", "ascii", "us", "ansi_x3.4-1968", "iso646-us"].contains(&l.as_str())
    });
    let declared = label.and_then(encoding_for_label).filter(|_| !ascii);
    // ISO-2022-JP (and UTF-16) do not read ASCII bytes as ASCII.
    if let Some(enc) = declared
        && !enc.is_ascii_compatible()
        && let Some(s) = enc.decode_without_bom_handling_and_without_replacement(bytes)
    {
        return (s.into_owned(), None);
    }
    if bytes.is_ascii() && !bytes.contains(&0x1b) {
        return (String::from_utf8_lossy(bytes).into_owned(), None);
    }
    if let Ok(s) = std::str::from_utf8(bytes)
        && !bytes.is_ascii()
    {
        let note = (declared != Some(encoding_rs::UTF_8))
            .then(|| format!("charset {named}: the text is valid UTF-8 and was read as UTF-8"));
        return (s.to_string(), note);
    }
    let guess = || {
        let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
        detector.feed(bytes, true);
        detector.guess(None, chardetng::Utf8Detection::Allow)
    };
    if let Some(enc) = declared
        && let Some(s) = enc.decode_without_bom_handling_and_without_replacement(bytes)
    {
        // Latin-1 decodes any bytes: a Chinese or Japanese text labelled Latin-1 (common with
        // old clients) is only found by the detector.
        if enc == encoding_rs::WINDOWS_1252 {
            let g = guess();
            let cjk = [
                encoding_rs::GBK,
                encoding_rs::GB18030,
                encoding_rs::BIG5,
                encoding_rs::SHIFT_JIS,
                encoding_rs::EUC_JP,
                encoding_rs::EUC_KR,
            ];
            if cjk.contains(&g)
                && let Some(t) = g.decode_without_bom_handling_and_without_replacement(bytes)
            {
                let note = format!("charset {named}: detected {}", g.name());
                return (t.into_owned(), Some(note));
            }
        }
        return (s.into_owned(), None);
    }
    let guess = guess();
    let (s, _, errors) = guess.decode(bytes);
    let mut note = match declared {
        Some(enc) => format!(
            "charset {named}: the text does not decode as {}; detected {}",
            enc.name(),
            guess.name()
        ),
        None => format!("charset {named}: detected {}", guess.name()),
    };
    if errors {
        note.push_str("; undecodable bytes shown as U+FFFD");
    }
    (s.into_owned(), Some(note))
}

/// The encoding of a charset label: the WHATWG labels `encoding_rs` knows, and the aliases
/// real mailers write that it does not. Labels that name no charset give `None` (detect).
fn encoding_for_label(label: &str) -> Option<&'static encoding_rs::Encoding> {
    let l = label.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    let l = l.strip_suffix("_charset").unwrap_or(&l);
    let alias = match l {
        "chinesebig5" | "big5_chinese" | "cp950" | "ms950" | "x-x-big5" => "big5",
        "cp936" | "ms936" | "euc-cn" | "x-euc-cn" | "gb2312-80" | "gb_2312" | "x-gb2312" => "gbk",
        "cp932" | "ms932" | "sjis" | "shiftjis" | "x-ms-cp932" => "shift_jis",
        "cp949" | "uhc" | "ks_c_5601" | "x-windows-949" | "ks_c_5601-1989" => "euc-kr",
        "x-unknown" | "unknown" | "unknown-8bit" | "x-user-defined" | "default" | "charset" => {
            return None;
        }
        other => other,
    };
    encoding_rs::Encoding::for_label(alias.as_bytes())
}

/// Bytes of unknown charset (see `decode_bytes`).
pub fn decode_text(bytes: &[u8], hint: Option<&str>) -> String {
    decode_bytes(bytes, hint).0
}

/// Readable text of an HTML part, by `html2text`: no markup, `<head>` (and its `<title>`),
/// `<style>` and `<script>` left out, tables read cell by cell, links as numbered footnotes.
pub fn html_to_text(html: &str) -> String {
    html2text::config::plain_no_decorate()
        .link_footnotes(true)
        .raw_mode(true)
        .no_link_wrapping()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), 1000)
        .unwrap_or_else(|_| mail_parser::decoders::html::html_to_text(html))
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The subject. mail-parser decodes encoded words of the charsets it knows; a subject it could
/// not decode (an unknown label, raw 8-bit bytes of a legacy charset) is decoded again from its
/// raw bytes with `decode_bytes`.
fn subject_of(raw: &[u8], msg: &mail_parser::Message, problems: &mut Vec<String>) -> String {
    let parsed = msg.subject().unwrap_or("").trim().to_string();
    if !parsed.contains('\u{fffd}') && !parsed.contains("=?") {
        return parsed;
    }
    let Some(h) = msg
        .root_part()
        .headers()
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case("subject"))
    else {
        return parsed;
    };
    let start = (h.offset_start as usize).min(raw.len());
    let end = (h.offset_end as usize).clamp(start, raw.len());
    let (s, problem) = decode_header_bytes(&raw[start..end]);
    if let Some(p) = problem {
        problems.push(format!("subject: {p}"));
    }
    s.trim().to_string()
}

/// RFC 2047 decoding of a raw header value with `decode_bytes` for every charset. Written here
/// because mail-parser's decoder (used first) gives no way to fall back on a detector.
fn decode_header_bytes(value: &[u8]) -> (String, Option<String>) {
    // Unfold: CRLF followed by white space is white space.
    let unfolded: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let mut out = String::new();
    let mut note = None;
    let mut plain: Vec<u8> = Vec::new();
    let mut rest = &unfolded[..];
    let mut last_was_word = false;
    while !rest.is_empty() {
        if let Some((word, len)) = encoded_word(rest) {
            if !(last_was_word && plain.iter().all(u8::is_ascii_whitespace)) {
                let (p, n) = decode_plain_header(&plain);
                out.push_str(&p);
                note = note.or(n);
            }
            plain.clear();
            let (w, n) = word;
            out.push_str(&w);
            note = note.or(n);
            rest = &rest[len..];
            last_was_word = true;
        } else {
            plain.push(rest[0]);
            rest = &rest[1..];
        }
    }
    let (p, n) = decode_plain_header(&plain);
    out.push_str(&p);
    (out, note.or(n))
}

/// Header text outside encoded words: UTF-8 (RFC 6532) or raw bytes of a legacy charset.
fn decode_plain_header(bytes: &[u8]) -> Decoded {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), None),
        Err(_) => decode_bytes(bytes, None),
    }
}

type Decoded = (String, Option<String>);

/// `=?charset?B|Q?data?=` at the start of `s`: its decoded text and its length.
fn encoded_word(s: &[u8]) -> Option<(Decoded, usize)> {
    let body = s.strip_prefix(b"=?")?;
    let q1 = body.iter().position(|&b| b == b'?')?;
    let charset = std::str::from_utf8(&body[..q1]).ok()?;
    let charset = charset.split('*').next().unwrap_or(charset);
    let enc = *body.get(q1 + 1)?;
    if body.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let data = &body[q1 + 3..];
    let end = data.windows(2).position(|w| w == b"?=")?;
    let data = &data[..end];
    let bytes = match enc.to_ascii_lowercase() {
        b'b' => base64_decode(data).unwrap_or_else(|| lenient_base64(data)),
        b'q' => {
            let data: Vec<u8> = data
                .iter()
                .map(|&b| if b == b'_' { b' ' } else { b })
                .collect();
            quoted_printable_decode(&data)?
        }
        _ => return None,
    };
    Some((decode_bytes(&bytes, Some(charset)), 2 + q1 + 3 + end + 2))
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
    // quote_tail[i]: every line from i on is empty or quoted with '>'. Computed once from the
    // end, so finding the cut is linear in the number of lines (it used to rescan the rest of
    // the text for every line: quadratic).
    let mut quote_tail = vec![true; lines.len() + 1];
    for i in (0..lines.len()).rev() {
        let l = lines[i].trim_start();
        quote_tail[i] = quote_tail[i + 1] && (l.is_empty() || l.starts_with('>'));
    }
    let cut = (0..lines.len()).find(|&i| starts_quote(&lines, i, quote_tail[i]));
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

/// True when line `i` starts the quoted part; `quoted_to_end` says whether every line from `i`
/// on is empty or a `>` line.
fn starts_quote(lines: &[&str], i: usize, quoted_to_end: bool) -> bool {
    let line = lines[i].trim();
    let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
    if line.starts_with('>') {
        // A quote block: this and every following non-empty line is quoted.
        return quoted_to_end;
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

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn single(content_type: &str, cte: &str, body: &[u8]) -> Vec<u8> {
        let mut raw = format!(
            "From: a@example.com\r\nTo: support@localhost\r\nSubject: t\r\n\
             Message-ID: <t@example.com>\r\nMIME-Version: 1.0\r\n\
             Content-Type: {content_type}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw.extend_from_slice(b"\r\n");
        raw
    }

    #[test]
    fn html_only_mail_reads_as_text_not_markup() {
        let html = "<!DOCTYPE html><HTML><HEAD><TITLE>Secret title</TITLE>\
                    <style>p { color: red }</style><script>var x = 1;</script></HEAD>\
                    <BODY><p>Hello <b>agent</b>,</p><table><tr><td>Order</td><td>42</td></tr>\
                    </table><p>See <a href=\"https://example.com/x\">the page</a>.</p></BODY></HTML>";
        let m = parse(&single("text/html; charset=utf-8", "8bit", html.as_bytes()));
        assert!(m.text.contains("Hello agent"), "{}", m.text);
        assert!(
            m.text.contains("Order") && m.text.contains("42"),
            "{}",
            m.text
        );
        assert!(m.text.contains("https://example.com/x"), "{}", m.text);
        for bad in ["<", "DOCTYPE", "Secret title", "color: red", "var x"] {
            assert!(!m.text.contains(bad), "{bad} in {}", m.text);
        }
        assert!(m.html.unwrap().contains("<b>agent</b>"));
    }

    #[test]
    fn only_text_parts_are_text() {
        let png =
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
        let raw = format!(
            "From: a@example.com\r\nTo: support@localhost\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nSee the picture.\r\n--b\r\n\
             Content-Type: image/png\r\nContent-Disposition: inline\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {}\r\n--b--\r\n",
            b64(png),
            b64(png)
        );
        let m = parse(raw.as_bytes());
        assert_eq!(m.text, "See the picture.");
        assert!(!m.text.contains("PNG") && !m.text.contains('\0'));
        assert_eq!(m.attachments.len(), 2, "{:?}", m.attachments);
        assert!(m.attachments.iter().all(|a| a.data == png));
    }

    #[test]
    fn no_nul_in_any_text_field() {
        let raw = b"From: \"Nul\0Name\" <a@example.com>\r\nTo: support@localhost\r\n\
                    Subject: a\0b\r\nMessage-ID: <n\0ul@example.com>\r\n\
                    Content-Type: text/plain; charset=utf-8\r\n\r\nbody\0with nul\r\n";
        let m = parse(raw);
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("\\u0000"), "{json}");
        assert_eq!(m.text, "bodywith nul");
        assert_eq!(m.subject, "ab");
        assert!(
            m.problems.iter().any(|p| p.contains("NUL")),
            "{:?}",
            m.problems
        );
    }

    #[test]
    fn charsets_are_detected_when_the_label_lies_or_is_missing() {
        let zh = "您好，我的宽带从昨天开始无法连接，请尽快派师傅上门处理，谢谢。";
        // UTF-8 labelled GB2312.
        let m = parse(&single("text/plain; charset=gb2312", "8bit", zh.as_bytes()));
        assert_eq!(m.text, zh);
        assert!(
            m.problems.iter().any(|p| p.contains("UTF-8")),
            "{:?}",
            m.problems
        );
        // Unlabelled Big5 and Shift_JIS.
        let tw = "您好，我的帳戶被鎖定了，請協助處理。謝謝您的幫忙，我們明天再聯絡。";
        let (big5, _, _) = encoding_rs::BIG5.encode(tw);
        let m = parse(&single("text/plain", "8bit", &big5));
        assert_eq!(m.text, tw);
        assert!(
            m.problems.iter().any(|p| p.contains("Big5")),
            "{:?}",
            m.problems
        );
        let ja = "お世話になっております。注文した商品がまだ届いていません。確認をお願いします。";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(ja);
        let m = parse(&single("text/plain", "8bit", &sjis));
        assert_eq!(m.text, ja);
        assert!(
            m.problems.iter().any(|p| p.contains("Shift_JIS")),
            "{:?}",
            m.problems
        );
        // Unknown labels.
        let (gbk, _, _) = encoding_rs::GBK.encode(zh);
        let m = parse(&single(
            "text/plain; charset=gb2312_charset",
            "base64",
            b64(&gbk).as_bytes(),
        ));
        assert_eq!(m.text, zh);
        let m = parse(&single("text/plain; charset=chinesebig5", "8bit", &big5));
        assert_eq!(m.text, tw);
        let m = parse(&single("text/plain; charset=x-unknown", "8bit", &gbk));
        assert_eq!(m.text, zh);
        assert!(
            m.problems.iter().any(|p| p.contains("x-unknown")),
            "{:?}",
            m.problems
        );
        // An encoded-word subject with an unknown label.
        let raw = format!(
            "From: a@example.com\r\nSubject: =?gb2312_charset?B?{}?=\r\n\r\nx\r\n",
            b64(&encoding_rs::GBK.encode("宽带故障").0)
        );
        assert_eq!(parse(raw.as_bytes()).subject, "宽带故障");
    }

    #[test]
    fn base64_text_with_a_plain_footer_is_decoded() {
        let body = format!(
            "{}\r\n\r\n_______________________________________________\r\n\
             users mailing list\r\nhttps://lists.example.org/users\r\n",
            b64("Bonjour, la connexion est coupée depuis hier.".as_bytes())
        );
        let m = parse(&single(
            "text/plain; charset=utf-8",
            "base64",
            body.as_bytes(),
        ));
        assert!(
            m.text
                .starts_with("Bonjour, la connexion est coupée depuis hier."),
            "{}",
            m.text
        );
        assert!(m.text.contains("users mailing list"));
    }

    #[test]
    fn quote_detection_is_linear() {
        let mut body = String::new();
        for i in 0..50_000 {
            body.push_str(&format!("> quoted line {i}\n"));
        }
        body.push_str("a plain line at the end\n");
        let raw = single("text/plain; charset=utf-8", "8bit", body.as_bytes());
        let start = std::time::Instant::now();
        let m = parse(&raw);
        let took = start.elapsed();
        assert!(
            took < std::time::Duration::from_millis(700),
            "took {took:?}"
        );
        assert_eq!(m.new_text, "a plain line at the end");
    }

    #[test]
    fn the_content_hash_tells_retries_from_different_mails() {
        let mail = |received: &str, pdf: &[u8]| {
            format!(
                "{received}From: a@example.com\r\nSubject: Invoice\r\n\
                 Date: Mon, 06 Jan 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
                 Content-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n\
                 Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\
                 \r\n{}\r\n--b--\r\n",
                b64(pdf)
            )
        };
        let one = parse(mail("", b"%PDF-1 one").as_bytes());
        let retry = parse(mail("Received: from mx by imap\r\n", b"%PDF-1 one").as_bytes());
        let other = parse(mail("", b"%PDF-1 two").as_bytes());
        assert_eq!(one.dedup_key, retry.dedup_key);
        assert_ne!(one.dedup_key, other.dedup_key);
        assert!(one.dedup_key.starts_with("sha256:"));
    }
}

/// Property tests: `parse` takes whatever arrived by SMTP or IMAP. Arbitrary bytes and real
/// messages from tests/fixtures with mutations (flipped bytes, cut, repeated or inserted MIME
/// syntax) never panic, finish in bounded time, and keep the promise of `parse`: no text field
/// holds NUL or another control character. The other text entry points are covered too.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use std::sync::OnceLock;

    use crate::testing::bounded;

    /// Every .eml under tests/fixtures (the golden set and the third-party corpora).
    fn fixtures() -> &'static [(String, Vec<u8>)] {
        static ALL: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
        ALL.get_or_init(|| {
            let mut out = Vec::new();
            let mut dirs =
                vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir).expect("fixtures readable") {
                    let path = entry.expect("dir entry").path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else if path.extension().is_some_and(|e| e == "eml") {
                        let bytes = std::fs::read(&path).expect("fixture readable");
                        out.push((path.display().to_string(), bytes));
                    }
                }
            }
            out.sort();
            assert!(out.len() >= 20, "fixtures found: {}", out.len());
            out
        })
    }

    fn check_clean(m: &ParsedMail) -> Result<(), String> {
        let bad = |s: &str| {
            s.chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        };
        let mut fields: Vec<(&str, &str)> = vec![
            ("subject", m.subject.as_str()),
            ("text", m.text.as_str()),
            ("new_text", m.new_text.as_str()),
            ("quoted", m.quoted.as_str()),
            ("dedup_key", m.dedup_key.as_str()),
        ];
        for (name, v) in [
            ("message_id", &m.message_id),
            ("from", &m.from),
            ("from_name", &m.from_name),
            ("reply_to", &m.reply_to),
            ("html", &m.html),
            ("automated", &m.automated),
        ] {
            if let Some(v) = v {
                fields.push((name, v.as_str()));
            }
        }
        for (name, list) in [
            ("to", &m.to),
            ("cc", &m.cc),
            ("in_reply_to", &m.in_reply_to),
            ("references", &m.references),
        ] {
            fields.extend(list.iter().map(|v| (name, v.as_str())));
        }
        for a in &m.attachments {
            fields.push(("attachment filename", a.filename.as_str()));
            fields.push(("attachment content_type", a.content_type.as_str()));
            if a.size != a.data.len() {
                return Err(format!(
                    "attachment size {} != {} bytes",
                    a.size,
                    a.data.len()
                ));
            }
        }
        match fields.into_iter().find(|(_, v)| bad(v)) {
            Some((name, v)) => Err(format!("control character in {name}: {v:?}")),
            None if m.dedup_key.is_empty() => Err("empty dedup_key".into()),
            None => Ok(()),
        }
    }

    fn parse_checked(raw: Vec<u8>, what: String) -> Result<(), String> {
        let mail = bounded(what, move || parse(&raw));
        check_clean(&mail)
    }

    /// MIME syntax that steers the parser into its less-travelled paths.
    const TOKENS: &[&str] = &[
        "\r\n",
        "\n",
        "\r\n\r\n",
        "\r\n--",
        "--\r\n",
        "\r\n\t",
        ": ",
        ";",
        "=?",
        "?=",
        "=?utf-8?B?5L2g5aW9?=",
        "=?gb2312?Q?=C4=E3?=",
        "=?x-unknown?B?",
        "=?utf-8?q?a_b?=",
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n",
        "Content-Type: message/rfc822\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        "charset=\"",
        "charset=utf-16",
        "charset=iso-2022-jp",
        "boundary=",
        "\"",
        "\\",
        "=\r\n",
        "=XX",
        "=0",
        "<",
        ">",
        "@",
        ",",
        "(",
        ")",
        "\0",
        "\u{7f}",
        "\u{feff}",
        "\u{85}",
        "\x1b$B",
        "<html><body>",
        "</",
        "<script>",
        "&#0;",
        "&#x1F600;",
        "Subject: ",
        "From: ",
        "To: ",
        "Message-ID: <",
        "In-Reply-To: ",
        "References: ",
        "Auto-Submitted: auto-replied\r\n",
        "filename*=utf-8''%E4%BD%A0",
        "name=",
        "Content-Disposition: attachment\r\n",
    ];

    #[derive(Debug, Clone)]
    enum Mutation {
        Flip(Index, u8),
        Insert(Index, &'static str),
        Delete(Index, usize),
        Truncate(Index),
        Repeat(Index, usize, usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
            4 => (any::<Index>(), proptest::sample::select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
            2 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
            1 => any::<Index>().prop_map(Mutation::Truncate),
            1 => (any::<Index>(), 1usize..256, 2usize..50).prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
        ]
    }

    fn mutate(mut raw: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
        for m in mutations {
            let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
            match m {
                Mutation::Flip(i, b) if !raw.is_empty() => {
                    let p = i.index(raw.len());
                    raw[p] = *b;
                }
                Mutation::Flip(..) => {}
                Mutation::Insert(i, t) => {
                    let p = at(i, raw.len());
                    raw.splice(p..p, t.bytes());
                }
                Mutation::Delete(i, n) => {
                    let p = at(i, raw.len()).min(raw.len());
                    let end = (p + n).min(raw.len());
                    raw.drain(p..end);
                }
                Mutation::Truncate(i) => {
                    let p = at(i, raw.len()).min(raw.len());
                    raw.truncate(p);
                }
                Mutation::Repeat(i, n, k) => {
                    let p = at(i, raw.len()).min(raw.len());
                    let end = (p + n).min(raw.len());
                    let piece = raw[p..end].to_vec();
                    for _ in 0..*k {
                        raw.splice(end..end, piece.iter().copied());
                    }
                }
            }
        }
        raw
    }

    fn header_ish() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                3 => proptest::sample::select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
                2 => "[ -~]{0,20}".prop_map(String::into_bytes),
                1 => proptest::collection::vec(any::<u8>(), 0..20),
            ],
            0..60,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_parse_into_clean_text(raw in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            header_ish(),
        ]) {
            let shown = format!("{:?}", String::from_utf8_lossy(&raw));
            let r = parse_checked(raw, shown.clone());
            prop_assert!(r.is_ok(), "{:?} for {}", r, shown);
        }

        #[test]
        fn mutated_real_messages_parse_into_clean_text(
            which in any::<Index>(),
            mutations in proptest::collection::vec(mutation(), 1..10),
        ) {
            let (name, raw) = &fixtures()[which.index(fixtures().len())];
            let raw = mutate(raw.clone(), &mutations);
            let r = parse_checked(raw, format!("{name} with {mutations:?}"));
            prop_assert!(r.is_ok(), "{:?}: {} with {:?}", r, name, mutations);
        }

        #[test]
        fn text_helpers_take_any_input(
            bytes in proptest::collection::vec(any::<u8>(), 0..1024),
            label in prop_oneof![
                Just(None),
                proptest::sample::select(vec!["utf-8", "gb2312", "gbk", "big5", "utf-16", "utf-16be",
                    "iso-2022-jp", "x-unknown", "", "unicode-1-1-utf-7", "replacement"])
                    .prop_map(|l| Some(l.to_string())),
                "\\PC{0,12}".prop_map(Some),
            ],
            html in "(<[a-z/!]{0,8}( [a-z]{1,5}=\"[^\"]{0,10}\")?>|&#?[a-z0-9]{0,6};|\\PC){0,80}",
        ) {
            let (b, l) = (bytes.clone(), label.clone());
            let (text, _) = bounded(format!("decode_bytes {label:?}"), move || decode_bytes(&b, l.as_deref()));
            prop_assert!(!text.contains('\0') || bytes.contains(&0));
            let h = html.clone();
            let (text, clean) = bounded(format!("html {html:?}"), move || (html_to_text(&h), sanitize_html(&h)));
            prop_assert!(!clean.to_ascii_lowercase().contains("<script"), "{}", clean);
            bounded(format!("split {text:?}"), move || split_quoted(&text));
        }
    }

    /// A message with a part nested thousands of levels deep and one with thousands of parts:
    /// the parser's own limits must answer, not the stack or the clock.
    #[test]
    fn deep_and_wide_messages_stay_bounded() {
        let mut deep = String::new();
        for i in 0..5_000 {
            deep.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        deep.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
        let mut wide = String::from("Content-Type: multipart/mixed; boundary=\"w\"\r\n\r\n");
        for _ in 0..20_000 {
            wide.push_str("--w\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        wide.push_str("--w--\r\n");
        let mut rfc822 = String::new();
        for _ in 0..5_000 {
            rfc822.push_str("Content-Type: message/rfc822\r\n\r\n");
        }
        rfc822.push_str("Subject: inner\r\n\r\nbody\r\n");
        for (name, raw) in [("deep", deep), ("wide", wide), ("rfc822", rfc822)] {
            let r = parse_checked(raw.into_bytes(), name.into());
            assert!(r.is_ok(), "{name}: {r:?}");
        }
    }
}
