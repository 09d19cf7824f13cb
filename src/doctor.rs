//! `hotline doctor`: checks a configuration before a start (the first, or after a change) and
//! says what to fix in an operator's words: the settings, the ports, the database and its
//! migrations, the SMTP relay, the IMAP mailbox, Twilio and the CTI. It changes nothing: a
//! missing SQLite file is not created, pending migrations are not applied.

use crate::config::Config;
use crate::db::{Backend, Db};
use std::fmt;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works, but the operator should know (a feature is off, something happens at start).
    Note,
    /// Hotline cannot start, or a feature that is configured cannot work.
    Fail,
}

#[derive(Clone, Debug)]
pub struct Finding {
    pub level: Level,
    pub topic: &'static str,
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Fail => "FAIL",
        };
        write!(f, "{level:<5} {:<10} {}", self.topic, self.text)
    }
}

/// How long one peer (database, relay, mailbox) may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(c: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    settings(c, &mut out);
    ports(c, &mut out);
    database(c, &mut out).await;
    mail(c, &mut out).await;
    phone(c, &mut out);
    out
}

fn add(out: &mut Vec<Finding>, level: Level, topic: &'static str, text: impl Into<String>) {
    out.push(Finding {
        level,
        topic,
        text: text.into(),
    });
}

fn settings(c: &Config, out: &mut Vec<Finding>) {
    let zone = c.time_zone();
    match jiff::tz::TimeZone::get(&zone) {
        Ok(_) => add(out, Level::Ok, "time zone", zone.clone()),
        Err(_) => add(
            out,
            Level::Fail,
            "time zone",
            format!(
                "{zone:?} is not a time zone name: set HOTLINE_TIME_ZONE to one such as \
                 Asia/Shanghai or Europe/London"
            ),
        ),
    }
    if !["longest_idle", "round_robin", "least_loaded"].contains(&c.routing_strategy.as_str()) {
        add(
            out,
            Level::Fail,
            "routing",
            format!(
                "HOTLINE_ROUTING_STRATEGY {:?} is unknown: use longest_idle, round_robin or \
                 least_loaded",
                c.routing_strategy
            ),
        );
    }
    if !["text", "json"].contains(&c.log_format.as_str()) {
        add(
            out,
            Level::Fail,
            "logs",
            format!(
                "HOTLINE_LOG_FORMAT {:?} is unknown: use text or json",
                c.log_format
            ),
        );
    }
    if let Err(e) = c.wallboard_frame_ancestors() {
        add(out, Level::Fail, "wallboard", e);
    }
    if c.public_url.is_empty() {
        add(
            out,
            Level::Note,
            "public url",
            format!(
                "HOTLINE_PUBLIC_URL is empty: links in mail and SMS (surveys, \
                 ticket status) point to http://{}, which customers cannot open unless it is \
                 their address too, and Twilio's signatures are checked against it",
                c.listen
            ),
        );
    } else {
        match public_url_problem(&c.public_url) {
            None => add(out, Level::Ok, "public url", c.public_url.clone()),
            Some((level, why)) => add(
                out,
                level,
                "public url",
                format!("HOTLINE_PUBLIC_URL {:?} {why}", c.public_url),
            ),
        }
    }
    if c.admin_password.is_empty() {
        add(
            out,
            Level::Note,
            "admin",
            "no HOTLINE_ADMIN_PASSWORD: if the database has no admin yet, the first start \
             makes one with a generated password and prints it once",
        );
    }
    if !c.kb_dir.is_dir() {
        add(
            out,
            Level::Note,
            "knowledge",
            format!(
                "no folder {}: no articles are imported at start (HOTLINE_KB_DIR)",
                c.kb_dir.display()
            ),
        );
    }
}

/// What is wrong with a public URL, if anything: it must be an absolute http(s) URL without
/// query or fragment; plain http is allowed but noted.
fn public_url_problem(text: &str) -> Option<(Level, String)> {
    let url = match url::Url::parse(text) {
        Ok(u) => u,
        Err(e) => {
            return Some((
                Level::Fail,
                format!("is not a URL ({e}): write it as https://hotline.example.com"),
            ));
        }
    };
    if !["http", "https"].contains(&url.scheme()) || url.host_str().is_none_or(str::is_empty) {
        return Some((
            Level::Fail,
            "must start with https:// (or http://) and a host name".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Some((Level::Fail, "must not carry a query or a fragment".into()));
    }
    if url.scheme() == "http"
        && !matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
    {
        return Some((
            Level::Note,
            "is plain http: customers' links and Twilio's webhooks travel unencrypted; use \
             https behind a TLS proxy"
                .into(),
        ));
    }
    None
}

fn ports(c: &Config, out: &mut Vec<Finding>) {
    let mut listens = vec![("HOTLINE_LISTEN", "web", &c.listen)];
    if !c.smtp_listen.is_empty() {
        listens.push(("HOTLINE_SMTP_LISTEN", "smtp", &c.smtp_listen));
    }
    for (setting, topic, addr) in listens {
        let (level, text) = match std::net::TcpListener::bind(addr.as_str()) {
            Ok(_) => (Level::Ok, format!("{addr} is free")),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => (
                Level::Fail,
                format!(
                    "{addr} is in use by another program (is Hotline already running?): stop \
                     it or change {setting}"
                ),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => (
                Level::Fail,
                format!(
                    "{addr} needs privileges this user lacks (ports below 1024): use a port \
                     above 1024 in {setting} behind a proxy"
                ),
            ),
            Err(e) => (
                Level::Fail,
                format!("{addr} cannot be listened on ({e}): check {setting}"),
            ),
        };
        add(out, level, topic, text);
    }
}

async fn database(c: &Config, out: &mut Vec<Finding>) {
    let url = c.database_url();
    if let Err(e) = Backend::from_url(&url) {
        add(
            out,
            Level::Fail,
            "database",
            format!("{e}: check DATABASE_URL"),
        );
        return;
    }
    if let Some(path) = crate::db::sqlite_file(&url)
        && !path.exists()
    {
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        if writable(dir) {
            let text = format!(
                "no database yet: the first start creates {}",
                path.display()
            );
            add(out, Level::Note, "database", text);
        } else {
            let text = format!(
                "no database yet, and {} cannot be written: create it for this user or change \
                 HOTLINE_DATA_DIR",
                dir.display()
            );
            add(out, Level::Fail, "database", text);
        }
        return;
    }
    let where_ = redacted(&url);
    let db = match tokio::time::timeout(PEER_TIMEOUT, Db::connect(&url, 2)).await {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            add(
                out,
                Level::Fail,
                "database",
                format!("{where_} cannot be opened ({e:#}): check DATABASE_URL and the server"),
            );
            return;
        }
        Err(_) => {
            add(
                out,
                Level::Fail,
                "database",
                format!(
                    "{where_} did not answer within {} s",
                    PEER_TIMEOUT.as_secs()
                ),
            );
            return;
        }
    };
    match db.migration_state().await {
        Ok((_, unknown)) if !unknown.is_empty() => add(
            out,
            Level::Fail,
            "database",
            format!(
                "{where_} was migrated by a newer Hotline (migrations {unknown:?} are unknown \
                 to this one): run that version or restore a backup"
            ),
        ),
        Ok((pending, _)) if !pending.is_empty() => add(
            out,
            Level::Note,
            "database",
            format!(
                "{where_} answers; {} migrations are applied at the next start (or now with \
                 `hotline migrate`)",
                pending.len()
            ),
        ),
        Ok(_) => add(
            out,
            Level::Ok,
            "database",
            format!("{where_} answers and is migrated"),
        ),
        Err(e) => add(
            out,
            Level::Fail,
            "database",
            format!("{where_} answers but its migrations cannot be read ({e:#})"),
        ),
    }
    db.pool.close().await;
}

/// True when a file can be created in `dir` (which is created when missing, as a start
/// would).
fn writable(dir: &std::path::Path) -> bool {
    let probe = dir.join(".hotline-doctor");
    let ok = std::fs::create_dir_all(dir).is_ok() && std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    ok
}

/// A database URL without its password.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

async fn mail(c: &Config, out: &mut Vec<Finding>) {
    for address in c.support_addresses() {
        if address.parse::<lettre::Address>().is_err() {
            add(
                out,
                Level::Fail,
                "email",
                format!("{address:?} in HOTLINE_SUPPORT_ADDRESSES is not an email address"),
            );
        }
    }
    if c.mail_from().parse::<lettre::Address>().is_err() {
        add(
            out,
            Level::Fail,
            "email",
            format!(
                "HOTLINE_MAIL_FROM {:?} is not an email address",
                c.mail_from()
            ),
        );
    }
    relay(c, out).await;
    if c.imap_host.is_empty() {
        return;
    }
    let at = format!(
        "{}@{}:{} ({})",
        c.imap_user,
        c.imap_host,
        c.imap_port,
        if c.imap_tls { "TLS" } else { "no TLS" }
    );
    match crate::channels::email::imap::check(c).await {
        Ok(n) => add(
            out,
            Level::Ok,
            "imap",
            format!("signed in as {at}; {} holds {n} messages", c.imap_folder),
        ),
        Err(e) => add(
            out,
            Level::Fail,
            "imap",
            format!(
                "{at}: {}: check HOTLINE_IMAP_HOST, _PORT, _TLS, _USER, _PASSWORD and \
                 _FOLDER",
                crate::system::error_text(&e)
            ),
        ),
    }
}

async fn relay(c: &Config, out: &mut Vec<Finding>) {
    use lettre::{AsyncSmtpTransport, Tokio1Executor};
    let url = c.smtp_relay.expose();
    if url.is_empty() {
        add(
            out,
            Level::Note,
            "relay",
            "no HOTLINE_SMTP_RELAY: replies and acknowledgements by email wait in the outbox",
        );
        return;
    }
    let where_ = redacted(url);
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
        Ok(b) => b.timeout(Some(PEER_TIMEOUT)).build::<Tokio1Executor>(),
        Err(e) => {
            add(
                out,
                Level::Fail,
                "relay",
                format!(
                    "HOTLINE_SMTP_RELAY is not a relay URL ({e}): write \
                     smtp://user:password@host:587 (smtps:// for TLS from the start)"
                ),
            );
            return;
        }
    };
    match transport.test_connection().await {
        Ok(true) => add(out, Level::Ok, "relay", format!("{where_} answers")),
        Ok(false) => add(
            out,
            Level::Fail,
            "relay",
            format!("{where_} connected but did not answer as an SMTP server"),
        ),
        Err(e) => add(
            out,
            Level::Fail,
            "relay",
            format!("{where_}: {e}: check HOTLINE_SMTP_RELAY, the host and the credentials"),
        ),
    }
}

fn phone(c: &Config, out: &mut Vec<Finding>) {
    let (sid, token) = (&c.twilio_account_sid, c.twilio_auth_token.expose());
    if token.is_empty() {
        if sid.is_empty() {
            add(
                out,
                Level::Note,
                "twilio",
                "no Twilio account: no SMS, and calls only through a PBX's CTI",
            );
        } else {
            add(
                out,
                Level::Fail,
                "twilio",
                "HOTLINE_TWILIO_ACCOUNT_SID is set but HOTLINE_TWILIO_AUTH_TOKEN is not:                  without it no webhook from Twilio can be trusted",
            );
        }
    } else {
        // The token alone checks inbound webhooks; sending needs the account too.
        if sid.is_empty() {
            add(
                out,
                Level::Note,
                "twilio",
                "inbound SMS and calls only: without HOTLINE_TWILIO_ACCOUNT_SID Hotline                  cannot send SMS or place calls",
            );
        } else if sid.len() == 34 && sid.starts_with("AC") {
            add(out, Level::Ok, "twilio", format!("account {sid}"));
        } else {
            add(
                out,
                Level::Fail,
                "twilio",
                format!(
                    "HOTLINE_TWILIO_ACCOUNT_SID {sid:?} is not an account sid (AC and 32 \
                     characters)"
                ),
            );
        }
        if c.public_url.is_empty() {
            add(
                out,
                Level::Note,
                "twilio",
                format!(
                    "Twilio signs each webhook over the address it called, and Hotline checks \
                     it against http://{}: unless Twilio calls exactly that, set \
                     HOTLINE_PUBLIC_URL or every call and SMS is refused",
                    c.listen
                ),
            );
        }
        let from = &c.twilio_sms_from;
        if !from.is_empty() && !sms_sender(from, &c.default_region) {
            add(
                out,
                Level::Fail,
                "twilio",
                format!(
                    "HOTLINE_TWILIO_SMS_FROM {from:?} is neither a number in +E.164 form nor \
                     a messaging service sid (MG…)"
                ),
            );
        } else if from.is_empty() && !sid.is_empty() {
            add(
                out,
                Level::Note,
                "twilio",
                "no HOTLINE_TWILIO_SMS_FROM: agents cannot send SMS",
            );
        }
    }
    let cti = c.cti_token.expose();
    if cti.is_empty() {
        add(
            out,
            Level::Note,
            "cti",
            "no HOTLINE_CTI_TOKEN: the PBX webhook is off",
        );
    } else if cti.chars().count() < 16 {
        add(
            out,
            Level::Note,
            "cti",
            "HOTLINE_CTI_TOKEN is short: it is the PBX webhook's only secret, use 16 or more \
             random characters",
        );
    } else {
        add(out, Level::Ok, "cti", "the PBX webhook is on");
    }
}

/// A Twilio sender: a valid number already in E.164 form (checked by the phone library the
/// customers' identities use), or `MG` and 32 hexadecimal digits.
fn sms_sender(from: &str, region: &str) -> bool {
    let number = from.starts_with('+')
        && crate::customers::identity::PhoneNormalizer::new(region)
            .ok()
            .and_then(|p| p.normalize(from))
            .is_some_and(|e164| e164 == from);
    let service = from
        .strip_prefix("MG")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    number || service
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_and_sms_senders() {
        assert!(public_url_problem("https://hotline.example.cn").is_none());
        assert!(public_url_problem("http://127.0.0.1:8080").is_none());
        assert_eq!(
            public_url_problem("http://hotline.example.cn").map(|p| p.0),
            Some(Level::Note)
        );
        for bad in ["hotline.example.cn", "ftp://x.cn", "https://x.cn/?a=1"] {
            assert_eq!(
                public_url_problem(bad).map(|p| p.0),
                Some(Level::Fail),
                "{bad}"
            );
        }
        assert!(sms_sender("+8613800138000", "CN"));
        assert!(sms_sender("MG0123456789abcdef0123456789abcdef", "CN"));
        assert!(!sms_sender("13800138000", "CN"));
        assert!(!sms_sender("+86 138", "CN"));
        assert_eq!(
            redacted("postgres://hot:secret@db:5432/hotline"),
            "postgres://hot:***@db:5432/hotline"
        );
    }
}
