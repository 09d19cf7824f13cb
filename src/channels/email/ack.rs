//! Acknowledgements of new email tickets, against backscatter: whether one may go out at all
//! (never to automated or bulk mail, never when the receiving MTA's Authentication-Results says
//! the sender is not who it claims), and what of the customer's mail it may echo (a short,
//! cleaned subject: no `[#N]` tags, no earlier acknowledgement prefix, no control characters,
//! nothing a mail client would turn into a link). Pure functions; `receive` queues the mail.

/// Longest subject (and name) an acknowledgement repeats, in characters.
pub const ECHO_MAX_CHARS: usize = 60;

/// Why the mail with these raw headers gets no acknowledgement, beyond what `mime` already
/// calls automated: a sender that asks for no automatic answers (Exchange's
/// `X-Auto-Response-Suppress`), or an `Authentication-Results` header of a trusted
/// authentication service (`trusted` says which authserv-ids are; RFC 8601 requires the
/// receiving MTA to remove forged ones with its own id) that reports a DMARC, SPF or DKIM
/// failure, or none of them passing.
pub fn refusal(raw: &[u8], trusted: impl Fn(&str) -> bool) -> Option<String> {
    let msg = mail_parser::MessageParser::new().parse_headers(raw)?;
    let mut results = Vec::new();
    for (name, value) in msg.headers_raw() {
        if name.eq_ignore_ascii_case("X-Auto-Response-Suppress") {
            let v = value.to_ascii_lowercase();
            if ["all", "autoreply", "oof"].iter().any(|w| v.contains(w)) {
                return Some(format!("auto_response_suppress: {}", v.trim()));
            }
        }
        if name.eq_ignore_ascii_case("Authentication-Results")
            && let Some((id, found)) = parse_authentication_results(value)
            && trusted(&id)
        {
            results.push(found);
        }
    }
    if results.is_empty() {
        return None;
    }
    let mut passed = false;
    for (method, result) in results.iter().flatten() {
        if !["dmarc", "spf", "dkim"].contains(&method.as_str()) {
            continue;
        }
        match result.as_str() {
            "fail" | "hardfail" => return Some(format!("authentication: {method}={result}")),
            "pass" => passed = true,
            _ => {}
        }
    }
    (!passed).then(|| "authentication: no dmarc, spf or dkim pass".to_string())
}

/// An `Authentication-Results` value (RFC 8601): the authserv-id (lower case) and each
/// `method=result` pair (lower case). Written here because only these two parts are needed:
/// the crates that parse it whole also verify signatures (DNS lookups, a resolver) — far more
/// than an acknowledgement decision needs.
pub fn parse_authentication_results(value: &str) -> Option<(String, Vec<(String, String)>)> {
    let text = strip_comments(value);
    let mut parts = text.split(';');
    let id = parts
        .next()?
        .split_whitespace()
        .next()?
        .to_ascii_lowercase();
    let mut results = Vec::new();
    for part in parts {
        let Some(first) = part.split_whitespace().next() else {
            continue;
        };
        if let Some((method, result)) = first.split_once('=') {
            let method = method.split('/').next().unwrap_or("").to_ascii_lowercase();
            results.push((method, result.trim_matches('"').to_ascii_lowercase()));
        }
    }
    Some((id, results))
}

/// The text without its (possibly nested) parenthesized comments.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// True when `authserv_id` names one of `trusted` (a domain or host) or a host under it.
pub fn is_trusted(authserv_id: &str, trusted: &[String]) -> bool {
    let id = authserv_id.trim().to_ascii_lowercase();
    trusted.iter().any(|t| {
        let t = t.trim().to_ascii_lowercase();
        !t.is_empty() && (id == t || id.ends_with(&format!(".{t}")))
    })
}

/// The prefix of an acknowledgement subject template: its text before `{subject}` without the
/// ticket tag, e.g. "We received your message:".
pub fn template_prefix(subject_template: &str) -> String {
    let Some((before, _)) = subject_template.split_once("{subject}") else {
        return String::new();
    };
    let before = before
        .replace("[#{ticket}]", "")
        .replace("{ticket}", "")
        .replace("{name}", "");
    before.trim().to_string()
}

/// Reply and forward prefixes of common mailers (English, German, Nordic, Chinese).
const REPLY_PREFIXES: &[&str] = &[
    "re:",
    "re：",
    "fw:",
    "fwd:",
    "aw:",
    "wg:",
    "sv:",
    "vs:",
    "回复:",
    "回复：",
    "答复:",
    "答复：",
    "转发:",
    "转发：",
    "回覆:",
    "回覆：",
    "轉寄:",
    "轉寄：",
];

/// The subject an acknowledgement may repeat: `[#N]` tags, reply prefixes and earlier
/// acknowledgement prefixes (`ack_prefixes`) removed, control and invisible formatting
/// characters removed, every word that looks like a link, host or address dropped, at most
/// `ECHO_MAX_CHARS` characters.
pub fn echo_subject(subject: &str, ack_prefixes: &[String]) -> String {
    let text = strip_tags(&clean_chars(subject));
    let mut words = without_links(&text);
    loop {
        let before = words.len();
        let lower = words.to_lowercase();
        let prefix = REPLY_PREFIXES
            .iter()
            .map(|p| p.to_string())
            .chain(ack_prefixes.iter().map(|p| p.to_lowercase()))
            .filter(|p| !p.is_empty())
            .find(|p| lower.starts_with(p.as_str()));
        if let Some(p) = prefix {
            // Lower-casing can change byte lengths only outside ASCII; skip by characters.
            let n = p.chars().count();
            words = words.chars().skip(n).collect::<String>().trim().to_string();
        }
        if words.len() == before {
            break;
        }
    }
    shorten(&words)
}

/// A sender's display name as an acknowledgement may repeat it (same cleaning, no tags).
pub fn echo_name(name: &str) -> String {
    shorten(&without_links(&clean_chars(name)))
}

/// Control characters (line breaks and tabs included) and invisible formatting characters
/// (bidirectional overrides, zero-width ones) become spaces.
fn clean_chars(s: &str) -> String {
    s.chars()
        .map(|c| {
            let invisible = matches!(c,
                '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
                | '\u{feff}' | '\u{061c}' | '\u{00ad}');
            if c.is_control() || invisible { ' ' } else { c }
        })
        .collect()
}

/// The text without `[#N]` tags.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("[#") {
        let tail = &rest[pos + 2..];
        let digits = tail.chars().take_while(|c| c.is_ascii_digit()).count();
        out.push_str(&rest[..pos]);
        if digits > 0 && tail[digits..].starts_with(']') {
            out.push(' ');
            rest = &tail[digits + 1..];
        } else {
            out.push_str("[#");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The words of `s` (single spaces between them) without those a mail client could turn into
/// a link: URLs, `www.` names, addresses, host names and IP addresses. Deliberately stricter
/// than a URL finder (a `file.pdf` goes too): an acknowledgement must not carry a stranger's
/// link to whoever the From address names.
fn without_links(s: &str) -> String {
    s.split_whitespace()
        .filter(|w| !looks_like_link(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn looks_like_link(word: &str) -> bool {
    let lower = word.to_lowercase();
    if lower.contains("://") || lower.contains("www.") || lower.contains('@') {
        return true;
    }
    let core = lower.trim_matches(|c: char| !c.is_alphanumeric());
    let host = core.split(['/', '?', '#', ':']).next().unwrap_or("");
    let labels: Vec<&str> = host.split(['.', '。', '．']).collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return false;
    }
    let last = labels[labels.len() - 1];
    let tld = last.chars().count() >= 2 && last.chars().all(char::is_alphabetic);
    let ip = labels.len() == 4 && labels.iter().all(|l| l.chars().all(|c| c.is_ascii_digit()));
    tld || ip
}

/// At most `ECHO_MAX_CHARS` characters, cut with "…".
fn shorten(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= ECHO_MAX_CHARS {
        return s.to_string();
    }
    let cut: String = s.chars().take(ECHO_MAX_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes() -> Vec<String> {
        vec![
            "We received your message:".into(),
            "我们已收到您的邮件：".into(),
        ]
    }

    #[test]
    fn echoed_subjects_never_nest() {
        let p = prefixes();
        assert_eq!(
            echo_subject(
                "Re: [#5] We received your message: Re: [#1] We received your message: Router",
                &p
            ),
            "Router"
        );
        assert_eq!(
            echo_subject("回复：[#3] 我们已收到您的邮件：宽带坏了", &p),
            "宽带坏了"
        );
        assert_eq!(echo_subject("RE: FW: Printer [#12] jam", &p), "Printer jam");
        assert_eq!(echo_subject("[#x] stays", &p), "[#x] stays");
        assert_eq!(echo_subject("", &p), "");
    }

    #[test]
    fn echoed_subjects_are_short_and_clean() {
        let p = prefixes();
        let s = echo_subject(
            "Win\r\nBcc: x\t now: http://evil.test/x www.evil.test evil.example/pay \
             bob@evil.test 10.0.0.1 \u{202e}gnp.exe v1.2 e.g. ok",
            &p,
        );
        assert_eq!(s, "Win Bcc: x now: v1.2 e.g. ok");
        let long = "a".repeat(200);
        let s = echo_subject(&long, &p);
        assert_eq!(s.chars().count(), ECHO_MAX_CHARS);
        assert!(s.ends_with('…'));
        assert_eq!(echo_name("Mallory\nvisit evil.test"), "Mallory visit");
        assert_eq!(
            template_prefix("[#{ticket}] We received your message: {subject}"),
            p[0]
        );
    }

    #[test]
    fn authentication_results_decide() {
        let trusted = |id: &str| is_trusted(id, &["example.com".to_string()]);
        let mail = |ar: &str| format!("{ar}From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n");
        // No header of the receiving MTA: nothing is known, acknowledge.
        assert_eq!(refusal(mail("").as_bytes(), trusted), None);
        // Another service's header is not ours to trust.
        let other = "Authentication-Results: mx.evil.test; dmarc=fail\r\n";
        assert_eq!(refusal(mail(other).as_bytes(), trusted), None);
        let pass = "Authentication-Results: mx.example.com;\r\n spf=pass (sender ok) \
                    smtp.mailfrom=b.test;\r\n dkim=none; dmarc=pass header.from=b.test\r\n";
        assert_eq!(refusal(mail(pass).as_bytes(), trusted), None);
        let fail = "Authentication-Results: example.com; spf=pass smtp.mailfrom=b.test; \
                    dmarc=fail (p=reject) header.from=b.test\r\n";
        assert_eq!(
            refusal(mail(fail).as_bytes(), trusted).as_deref(),
            Some("authentication: dmarc=fail")
        );
        let none = "Authentication-Results: example.com; spf=softfail; dkim=none\r\n";
        assert!(refusal(mail(none).as_bytes(), trusted).is_some());
        let bare = "Authentication-Results: example.com; none\r\n";
        assert!(refusal(mail(bare).as_bytes(), trusted).is_some());
        let oof = "X-Auto-Response-Suppress: All\r\n";
        assert!(refusal(mail(oof).as_bytes(), trusted).is_some());
        assert_eq!(
            parse_authentication_results("mx.Example.com 1; (c (nested)) DKIM/1=Pass x=y"),
            Some((
                "mx.example.com".to_string(),
                vec![("dkim".to_string(), "pass".to_string())]
            ))
        );
    }
}
