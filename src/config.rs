//! Settings: defaults → optional `hotline.toml` → `HOTLINE_*` environment (and `DATABASE_URL`).
//! Owns nothing else; secrets are wrapped in `Secret` so they never reach a log line.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::path::PathBuf;

/// A value that prints as `***` in Debug and Display.
#[derive(Clone, Default, Serialize, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret(String::deserialize(d)?))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// HTTP listen address (`HOTLINE_LISTEN`).
    pub listen: String,
    /// Data folder: SQLite file, search index, attachments (`HOTLINE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://{data_dir}/hotline.db`.
    pub database_url: Secret,
    /// Password of the first admin (login `admin`); generated and printed once when empty.
    pub admin_password: Secret,
    /// Region for phone numbers written without a country code (ISO 3166 alpha-2).
    pub default_region: String,
    /// Base URL the public sees (links in mail, Twilio signature checks).
    pub public_url: String,
    /// Embedded SMTP receiver; empty disables it.
    pub smtp_listen: String,
    /// Comma-separated addresses the SMTP receiver accepts mail for.
    pub support_addresses: String,
    /// Maximum accepted message size in bytes (SMTP SIZE).
    pub smtp_max_size: u64,
    /// Outbound relay `smtp://user:pass@host:port`; empty: the outbox waits.
    pub smtp_relay: Secret,
    /// Sender address of outgoing mail; defaults to the first support address.
    pub mail_from: String,
    /// Token in the CTI webhook URL; empty disables CTI.
    pub cti_token: Secret,
    pub twilio_account_sid: String,
    pub twilio_auth_token: Secret,
    pub twilio_api_base: String,
    /// Pool size of database connections.
    pub db_max_connections: u32,
    /// Failed sign-ins per minute from one client address across all login names (spraying)
    /// before that address waits; devices that signed in before are exempt. One login name
    /// from one address gets growing delays after 5 failures (`auth::LoginThrottle`).
    pub login_attempts_per_minute: u32,
    /// Session lifetime in hours.
    pub session_hours: u64,
    /// The longest lifetime of an API token in days (POST /api/auth/tokens `expires_in_days`).
    pub token_max_days: u64,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Events older than this are pruned; a console further behind is told to resync.
    pub events_retention_hours: u64,
    /// Websocket heartbeat: a ping every this many seconds; two missed answers close it.
    pub ws_ping_secs: u64,
    /// Frames buffered per websocket before that (slow) client is dropped with a resync hint.
    pub ws_buffer_frames: usize,
    /// How long an offer rings before it moves on, unless the queue sets its own.
    pub offer_timeout_secs: u64,
    /// Which available agent gets the next item: `longest_idle`, `round_robin`, `least_loaded`.
    pub routing_strategy: String,
    /// After-call work: seconds in wrap-up after an agent finishes an item (0: none).
    pub wrap_up_secs: u64,
    /// How often the routing leader places, offers and checks clocks, in milliseconds.
    pub routing_tick_ms: u64,
    /// Folder of knowledge-base articles imported at start (`<lang>/<category>/<slug>.md`);
    /// a missing folder is skipped.
    pub kb_dir: PathBuf,
    /// PEM certificate chain and key for SMTP STARTTLS; both empty: no STARTTLS.
    pub smtp_tls_cert: String,
    pub smtp_tls_key: String,
    /// Speak LMTP (LHLO, one reply per recipient) instead of SMTP on `smtp_listen`.
    pub smtp_lmtp: bool,
    /// Seconds an SMTP client may stay silent (between commands and within DATA) before the
    /// receiver answers `421 4.4.2` and closes.
    pub smtp_idle_secs: u64,
    /// Seconds one SMTP message's DATA may take in all (a client trickling bytes included).
    pub smtp_data_secs: u64,
    /// Seconds one SMTP connection may last in all.
    pub smtp_session_secs: u64,
    /// Concurrent SMTP connections from one client address; more are refused with `421 4.7.0`.
    pub smtp_max_per_client: usize,
    /// Concurrent SMTP connections in all; more are refused with `421 4.7.0`.
    pub smtp_max_connections: usize,
    /// Largest attachment stored, in bytes; larger ones are listed but not kept.
    pub attachment_max_size: u64,
    /// Time one mail may take to parse and sanitize, in milliseconds; a mail over it is
    /// quarantined with that reason.
    pub mail_parse_budget_ms: u64,
    /// Acknowledge new email tickets with their number.
    pub mail_ack: bool,
    /// Acknowledgements one sender may get per hour (the rest are skipped).
    pub mail_ack_per_hour: u32,
    /// Comma-separated authserv-ids (hosts or domains, hosts under them included) whose
    /// `Authentication-Results` headers decide acknowledgements; empty: the support domains.
    pub mail_authserv_ids: String,
    /// First retry delay of the email outbox in milliseconds (doubles per attempt, max 1 h).
    pub outbox_retry_ms: u64,
    /// Attempts after which an outgoing email is marked failed.
    pub outbox_max_attempts: u32,
    /// Seconds a node's claim on an outbox row (email or SMS) lasts: another node sends the row
    /// only after it ran out (the claimer died mid-send). Longer than one send may take.
    pub outbox_lease_secs: u64,
    /// SQLite: writes waiting for the group-commit writer at most; more are refused as
    /// overloaded (HTTP 503 with Retry-After, SMTP 451 4.3.2).
    pub db_write_queue: usize,
    /// Seconds the IMAP connect and each IMAP command may take (IDLE waits longer).
    pub imap_timeout_secs: u64,
    /// Days the raw bytes of processed inbound mail are kept (quarantined mail is kept until
    /// handled).
    pub raw_mail_days: u64,
    /// IMAP mailbox to poll; empty host disables polling.
    pub imap_host: String,
    pub imap_port: u16,
    /// Implicit TLS (port 993 style).
    pub imap_tls: bool,
    pub imap_user: String,
    pub imap_password: Secret,
    pub imap_folder: String,
    /// Seconds between polls when the server has no IDLE (and the longest IDLE wait).
    pub imap_poll_secs: u64,
    /// Sender of outbound SMS: a Twilio number (E.164) or a messaging service sid (`MG…`).
    pub twilio_sms_from: String,
    /// Caller id shown when Hotline places calls through Twilio (click-to-call, connect).
    pub twilio_caller_id: String,
    /// Minutes within which a missed call must be called back (the callback's SLA).
    pub callback_sla_minutes: i64,
    /// A customer gets at most one satisfaction survey per this many days.
    pub survey_cooldown_days: i64,
    /// A survey link works for this many days.
    pub survey_ttl_days: i64,
    /// Months of orders the value score and tiers look at.
    pub value_window_months: i64,
    /// Percent of the window's revenue the `key` customers bring together (Pareto's 80).
    pub value_key_share: u32,
    /// Percent of the `key` customers (the top ones by revenue) who are `vip`.
    pub value_vip_share: u32,
    /// After orders change, the routing leader ranks every customer again at most this often
    /// (seconds); the customer whose order changed is tiered at once against the last ranking.
    pub value_rank_secs: u64,
    /// New tickets of vip (two steps) and key (one step) customers wait in their queue with a
    /// higher priority.
    pub tier_priority: bool,
    /// Attempts of one webhook delivery before it is marked failed.
    pub webhook_max_attempts: u32,
    /// First retry delay of a webhook delivery in milliseconds (doubles per attempt, max 1 h).
    pub webhook_retry_ms: u64,
    /// Customer portal: a form token must be at least this old (ms) when submitted (bots are fast).
    pub portal_form_min_age_ms: u64,
    /// Customer portal: submissions, and status look-ups, allowed per client address per minute.
    pub portal_per_minute: u32,
    /// Customer portal: knowledge-base searches allowed per client address per minute.
    pub portal_kb_searches_per_minute: u32,
    /// Customer portal: acknowledgements per destination (one email address or phone) per hour.
    pub portal_acks_per_contact_per_hour: u32,
    /// Customer portal: acknowledgements per hour in all (per node).
    pub portal_acks_per_hour: u32,
    /// The center's time zone (IANA name, e.g. `Asia/Shanghai`): "today" on the wallboard and
    /// every date the console shows. Empty: the default region's zone (UTC when unknown).
    pub time_zone: String,
    /// Seconds an agent's last console may be gone before they go offline.
    pub presence_grace_secs: u64,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>`; empty: public.
    pub metrics_token: Secret,
    /// Space-separated origins that may frame the wallboard page (CSP `frame-ancestors`);
    /// empty: none (`'none'`). Every other page may never be framed.
    pub wallboard_frame_ancestors: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: Secret::default(),
            admin_password: Secret::default(),
            default_region: "CN".into(),
            public_url: String::new(),
            smtp_listen: "127.0.0.1:2525".into(),
            support_addresses: "support@localhost".into(),
            smtp_max_size: 10 * 1024 * 1024,
            smtp_relay: Secret::default(),
            mail_from: String::new(),
            cti_token: Secret::default(),
            twilio_account_sid: String::new(),
            twilio_auth_token: Secret::default(),
            twilio_api_base: "https://api.twilio.com".into(),
            db_max_connections: 16,
            login_attempts_per_minute: 30,
            session_hours: 12,
            token_max_days: 365,
            log_format: "text".into(),
            events_retention_hours: 72,
            ws_ping_secs: 20,
            ws_buffer_frames: 1024,
            offer_timeout_secs: 20,
            routing_strategy: "longest_idle".into(),
            wrap_up_secs: 0,
            routing_tick_ms: 250,
            kb_dir: PathBuf::from("./knowledge-base"),
            smtp_tls_cert: String::new(),
            smtp_tls_key: String::new(),
            smtp_lmtp: false,
            smtp_idle_secs: 300,
            smtp_data_secs: 600,
            smtp_session_secs: 1800,
            smtp_max_per_client: 20,
            smtp_max_connections: 1000,
            attachment_max_size: 25 * 1024 * 1024,
            mail_parse_budget_ms: 10_000,
            mail_ack: true,
            mail_ack_per_hour: 5,
            mail_authserv_ids: String::new(),
            outbox_retry_ms: 5_000,
            outbox_max_attempts: 10,
            outbox_lease_secs: 300,
            db_write_queue: 1024,
            imap_timeout_secs: 60,
            raw_mail_days: 90,
            imap_host: String::new(),
            imap_port: 993,
            imap_tls: true,
            imap_user: String::new(),
            imap_password: Secret::default(),
            imap_folder: "INBOX".into(),
            imap_poll_secs: 60,
            twilio_sms_from: String::new(),
            twilio_caller_id: String::new(),
            callback_sla_minutes: 30,
            survey_cooldown_days: 30,
            survey_ttl_days: 14,
            value_window_months: 12,
            value_key_share: 80,
            value_vip_share: 20,
            value_rank_secs: 60,
            tier_priority: false,
            webhook_max_attempts: 8,
            webhook_retry_ms: 10_000,
            portal_form_min_age_ms: 3000,
            portal_per_minute: 5,
            portal_kb_searches_per_minute: 30,
            portal_acks_per_contact_per_hour: 3,
            portal_acks_per_hour: 300,
            time_zone: String::new(),
            presence_grace_secs: 60,
            metrics_token: Secret::default(),
            wallboard_frame_ancestors: String::new(),
        }
    }
}

impl Config {
    /// Loads defaults, then `toml_path` when it exists, then the environment.
    pub fn load(toml_path: Option<&std::path::Path>) -> Result<Config, Box<figment::Error>> {
        if let Some(p) = toml_path
            && !p.exists()
        {
            return Err(Box::new(figment::Error::from(format!(
                "config file {} not found",
                p.display()
            ))));
        }
        let path = toml_path
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("hotline.toml"));
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(path))
            .merge(TypedEnv)
            .extract()
            .map_err(Box::new)
    }

    /// The center's time zone: the setting, else the default region's main zone, else UTC.
    pub fn time_zone(&self) -> String {
        let tz = self.time_zone.trim();
        if !tz.is_empty() {
            return tz.to_string();
        }
        region_time_zone(&self.default_region).to_string()
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}/hotline.db", self.data_dir.display())
        } else {
            self.database_url.expose().to_string()
        }
    }

    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// The CSP `frame-ancestors` sources of the wallboard page, checked: each entry of
    /// `wallboard_frame_ancestors` is an origin (`https://tv.example.cn`, `https://*.example.cn`,
    /// `http://10.0.0.5:8080`) or `'self'`; empty gives `'none'`.
    pub fn wallboard_frame_ancestors(&self) -> Result<String, String> {
        let mut sources = Vec::new();
        for entry in self.wallboard_frame_ancestors.split_whitespace() {
            if entry == "'self'" || is_origin_source(entry) {
                sources.push(entry.to_string());
            } else {
                return Err(format!(
                    "HOTLINE_WALLBOARD_FRAME_ANCESTORS: {entry:?} is not an origin \
                     (scheme://host[:port], the host may start with *.) or 'self'"
                ));
            }
        }
        Ok(if sources.is_empty() {
            "'none'".to_string()
        } else {
            sources.join(" ")
        })
    }

    pub fn support_addresses(&self) -> Vec<String> {
        self.support_addresses
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The authserv-ids whose `Authentication-Results` count: the setting, else the domains of
    /// the support addresses.
    pub fn mail_authserv_ids(&self) -> Vec<String> {
        let set: Vec<String> = (self.mail_authserv_ids.split(','))
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if !set.is_empty() {
            return set;
        }
        let mut domains = Vec::new();
        for a in self.support_addresses() {
            if let Some((_, d)) = a.rsplit_once('@')
                && !domains.iter().any(|x| x == d)
            {
                domains.push(d.to_string());
            }
        }
        domains
    }

    pub fn mail_from(&self) -> String {
        if self.mail_from.is_empty() {
            self.support_addresses()
                .into_iter()
                .next()
                .unwrap_or_else(|| "support@localhost".into())
        } else {
            self.mail_from.clone()
        }
    }
}

/// The main time zone of a region (ISO 3166 alpha-2) for the regions Hotline's users are in;
/// UTC for any other (set `HOTLINE_TIME_ZONE` there).
pub fn region_time_zone(region: &str) -> &'static str {
    match region.to_ascii_uppercase().as_str() {
        "CN" => "Asia/Shanghai",
        "HK" => "Asia/Hong_Kong",
        "MO" => "Asia/Macau",
        "TW" => "Asia/Taipei",
        "SG" => "Asia/Singapore",
        "MY" => "Asia/Kuala_Lumpur",
        "JP" => "Asia/Tokyo",
        "KR" => "Asia/Seoul",
        "IN" => "Asia/Kolkata",
        "GB" => "Europe/London",
        "IE" => "Europe/Dublin",
        "DE" => "Europe/Berlin",
        "FR" => "Europe/Paris",
        "NL" => "Europe/Amsterdam",
        "ES" => "Europe/Madrid",
        "IT" => "Europe/Rome",
        "US" => "America/New_York",
        "CA" => "America/Toronto",
        "AU" => "Australia/Sydney",
        "NZ" => "Pacific/Auckland",
        _ => "UTC",
    }
}

/// The environment as settings: `HOTLINE_*` (and `DATABASE_URL`). figment's own `Env` parses
/// every value as TOML-like data, so `HOTLINE_CTI_TOKEN=0123456789` became the number
/// 123456789 (and then failed as "expected a string"). Here a setting that is a string keeps
/// the exact text; only numbers and flags are parsed.
struct TypedEnv;

impl figment::Provider for TypedEnv {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable(s)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Value};
        let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
        let mut dict = Dict::new();
        let (prefixed, raw_env) = (
            Env::prefixed("HOTLINE_"),
            Env::raw().only(&["DATABASE_URL"]),
        );
        for (key, raw) in prefixed.iter().chain(raw_env.iter()) {
            let key = key.as_str().to_ascii_lowercase();
            let value = match defaults.get(&key) {
                Some(serde_json::Value::String(_)) => Value::from(raw),
                _ => raw.parse().unwrap_or_else(|_| Value::from(raw)),
            };
            dict.insert(key, value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Every setting, for `hotline --help`: the variable, its default and what it does. The
/// README's table lists the same names (a test checks both ways).
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("HOTLINE_LISTEN", "127.0.0.1:8080", "HTTP address"),
    (
        "HOTLINE_DATA_DIR",
        "./data",
        "SQLite file, search index, attachments",
    ),
    (
        "DATABASE_URL",
        "sqlite://{data}/hotline.db",
        "or postgres://user@host/db",
    ),
    (
        "HOTLINE_ADMIN_PASSWORD",
        "generated, printed once",
        "password of `admin` on first start",
    ),
    (
        "HOTLINE_DEFAULT_REGION",
        "CN",
        "region of phone numbers without a country code",
    ),
    (
        "HOTLINE_TIME_ZONE",
        "the region's (Asia/Shanghai for CN)",
        "the center's time zone (IANA)",
    ),
    (
        "HOTLINE_PUBLIC_URL",
        "http://{listen}",
        "links in mail, Twilio signature checks",
    ),
    (
        "HOTLINE_SMTP_LISTEN",
        "127.0.0.1:2525",
        "embedded SMTP receiver (empty: off)",
    ),
    (
        "HOTLINE_SUPPORT_ADDRESSES",
        "support@localhost",
        "addresses the receiver accepts",
    ),
    (
        "HOTLINE_SMTP_RELAY",
        "none (outbox waits)",
        "smtp://user:pass@host:port",
    ),
    (
        "HOTLINE_SMTP_MAX_SIZE",
        "10485760",
        "largest message accepted",
    ),
    (
        "HOTLINE_MAIL_FROM",
        "first support address",
        "sender of replies and acknowledgements",
    ),
    (
        "HOTLINE_SMTP_TLS_CERT",
        "none",
        "PEM certificate chain for STARTTLS",
    ),
    ("HOTLINE_SMTP_TLS_KEY", "none", "PEM key for STARTTLS"),
    ("HOTLINE_SMTP_LMTP", "false", "speak LMTP on the receiver"),
    (
        "HOTLINE_SMTP_IDLE_SECS",
        "300",
        "a silent SMTP client (also in DATA) gets 421 4.4.2",
    ),
    (
        "HOTLINE_SMTP_DATA_SECS",
        "600",
        "longest DATA of one message (421 4.4.2 after)",
    ),
    (
        "HOTLINE_SMTP_SESSION_SECS",
        "1800",
        "longest SMTP connection (421 4.4.2 after)",
    ),
    (
        "HOTLINE_SMTP_MAX_PER_CLIENT",
        "20",
        "concurrent SMTP connections per client address",
    ),
    (
        "HOTLINE_SMTP_MAX_CONNECTIONS",
        "1000",
        "concurrent SMTP connections in all",
    ),
    (
        "HOTLINE_ATTACHMENT_MAX_SIZE",
        "26214400",
        "larger attachments are listed, not stored",
    ),
    (
        "HOTLINE_MAIL_PARSE_BUDGET_MS",
        "10000",
        "time one mail may take to parse before it is quarantined",
    ),
    ("HOTLINE_MAIL_ACK", "true", "acknowledge new email tickets"),
    (
        "HOTLINE_MAIL_ACK_PER_HOUR",
        "5",
        "acknowledgements per sender and hour",
    ),
    (
        "HOTLINE_MAIL_AUTHSERV_IDS",
        "the support domains",
        "whose Authentication-Results decide acknowledgements",
    ),
    (
        "HOTLINE_OUTBOX_RETRY_MS",
        "5000",
        "first retry delay of outgoing mail (doubles)",
    ),
    (
        "HOTLINE_OUTBOX_MAX_ATTEMPTS",
        "10",
        "attempts before an outgoing mail fails",
    ),
    (
        "HOTLINE_OUTBOX_LEASE_SECS",
        "300",
        "a node's claim on an outgoing message; another node sends it after",
    ),
    (
        "HOTLINE_DB_WRITE_QUEUE",
        "1024",
        "SQLite writes waiting at most (more: 503 / SMTP 451)",
    ),
    (
        "HOTLINE_IMAP_TIMEOUT_SECS",
        "60",
        "IMAP connect and each command (IDLE waits longer)",
    ),
    (
        "HOTLINE_RAW_MAIL_DAYS",
        "90",
        "raw bytes of processed inbound mail kept",
    ),
    ("HOTLINE_IMAP_HOST", "none", "mailbox to poll"),
    ("HOTLINE_IMAP_PORT", "993", "IMAP port"),
    ("HOTLINE_IMAP_TLS", "true", "implicit TLS"),
    ("HOTLINE_IMAP_USER", "none", "IMAP login"),
    ("HOTLINE_IMAP_PASSWORD", "none", "IMAP password"),
    ("HOTLINE_IMAP_FOLDER", "INBOX", "folder to poll"),
    ("HOTLINE_IMAP_POLL_SECS", "60", "poll interval without IDLE"),
    (
        "HOTLINE_CTI_TOKEN",
        "none (CTI off)",
        "token in /api/v1/cti/{token}",
    ),
    (
        "HOTLINE_TWILIO_AUTH_TOKEN",
        "none",
        "Twilio webhooks and REST",
    ),
    (
        "HOTLINE_TWILIO_API_BASE",
        "https://api.twilio.com",
        "Twilio's REST base",
    ),
    (
        "HOTLINE_TWILIO_ACCOUNT_SID",
        "none",
        "account of Twilio REST calls",
    ),
    (
        "HOTLINE_TWILIO_SMS_FROM",
        "none",
        "sender of outbound SMS (number or MG…)",
    ),
    (
        "HOTLINE_TWILIO_CALLER_ID",
        "none",
        "caller id of calls placed through Twilio",
    ),
    (
        "HOTLINE_CALLBACK_SLA_MINUTES",
        "30",
        "a missed call is called back within this",
    ),
    (
        "HOTLINE_SURVEY_COOLDOWN_DAYS",
        "30",
        "a customer gets at most one satisfaction survey per this many days",
    ),
    (
        "HOTLINE_SURVEY_TTL_DAYS",
        "14",
        "a satisfaction survey's link works this many days",
    ),
    (
        "HOTLINE_VALUE_WINDOW_MONTHS",
        "12",
        "months of orders the value score and tiers look at",
    ),
    (
        "HOTLINE_VALUE_KEY_SHARE",
        "80",
        "percent of the window's revenue the key customers bring",
    ),
    (
        "HOTLINE_VALUE_VIP_SHARE",
        "20",
        "percent of the key customers (top by revenue) who are vip",
    ),
    (
        "HOTLINE_VALUE_RANK_SECS",
        "60",
        "after orders change, every customer is ranked again at most this often",
    ),
    (
        "HOTLINE_TIER_PRIORITY",
        "false",
        "new tickets of vip (+2) and key (+1) customers get a higher queue priority",
    ),
    (
        "HOTLINE_WEBHOOK_MAX_ATTEMPTS",
        "8",
        "attempts of a webhook delivery before it is failed",
    ),
    (
        "HOTLINE_WEBHOOK_RETRY_MS",
        "10000",
        "first retry delay of a webhook delivery (doubles, max 1 h)",
    ),
    ("HOTLINE_DB_MAX_CONNECTIONS", "16", "pool size"),
    (
        "HOTLINE_LOGIN_ATTEMPTS_PER_MINUTE",
        "30",
        "failed sign-ins per address (all names) per minute",
    ),
    ("HOTLINE_SESSION_HOURS", "12", "session lifetime"),
    (
        "HOTLINE_TOKEN_MAX_DAYS",
        "365",
        "longest API token lifetime in days (default 90)",
    ),
    (
        "HOTLINE_LOG_FORMAT",
        "text",
        "or json; RUST_LOG sets levels",
    ),
    (
        "HOTLINE_KB_DIR",
        "./knowledge-base",
        "articles imported at start",
    ),
    (
        "HOTLINE_PORTAL_FORM_MIN_AGE_MS",
        "3000",
        "the portal form refuses faster submissions",
    ),
    (
        "HOTLINE_PORTAL_PER_MINUTE",
        "5",
        "portal submissions and status look-ups per address",
    ),
    (
        "HOTLINE_PORTAL_KB_SEARCHES_PER_MINUTE",
        "30",
        "portal knowledge-base searches per address",
    ),
    (
        "HOTLINE_PORTAL_ACKS_PER_CONTACT_PER_HOUR",
        "3",
        "portal acknowledgements per email/phone",
    ),
    (
        "HOTLINE_PORTAL_ACKS_PER_HOUR",
        "300",
        "portal acknowledgements in all, per node",
    ),
    (
        "HOTLINE_EVENTS_RETENTION_HOURS",
        "72",
        "events older are pruned",
    ),
    ("HOTLINE_WS_PING_SECS", "20", "websocket heartbeat"),
    (
        "HOTLINE_WS_BUFFER_FRAMES",
        "1024",
        "frames queued per console before resync",
    ),
    (
        "HOTLINE_OFFER_TIMEOUT_SECS",
        "20",
        "how long an offer rings",
    ),
    (
        "HOTLINE_ROUTING_STRATEGY",
        "longest_idle",
        "or round_robin, least_loaded",
    ),
    (
        "HOTLINE_WRAP_UP_SECS",
        "0",
        "timed wrap-up after work or a call",
    ),
    ("HOTLINE_ROUTING_TICK_MS", "250", "routing pass interval"),
    (
        "HOTLINE_PRESENCE_GRACE_SECS",
        "60",
        "an agent whose consoles are gone goes offline after",
    ),
    (
        "HOTLINE_METRICS_TOKEN",
        "none (/metrics is public)",
        "/metrics requires Authorization: Bearer <token>",
    ),
    (
        "HOTLINE_WALLBOARD_FRAME_ANCESTORS",
        "none ('none')",
        "space-separated origins that may frame the wallboard",
    ),
];

/// `scheme://host[:port]` with letters, digits, `.`, `-` in the host (which may start with `*.`):
/// nothing a CSP directive could be extended with.
fn is_origin_source(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
}

/// The settings as `hotline --help` prints them.
pub fn settings_help() -> String {
    let mut out = String::from(
        "Settings (environment; or the TOML file with the names in lower case without HOTLINE_):\n",
    );
    for (name, default, meaning) in SETTINGS {
        out.push_str(&format!("  {name:<34} {meaning} [default: {default}]\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_listed_for_help() {
        let fields = serde_json::to_value(Config::default()).unwrap();
        for key in fields.as_object().unwrap().keys() {
            let name = if key == "database_url" {
                "DATABASE_URL".to_string()
            } else {
                format!("HOTLINE_{}", key.to_ascii_uppercase())
            };
            assert!(
                SETTINGS.iter().any(|(n, _, _)| *n == name),
                "{name} is missing from SETTINGS (and so from --help)"
            );
        }
    }

    #[test]
    fn wallboard_frame_ancestors_are_origins_only() {
        let with = |v: &str| Config {
            wallboard_frame_ancestors: v.into(),
            ..Config::default()
        };
        assert_eq!(with("").wallboard_frame_ancestors().unwrap(), "'none'");
        assert_eq!(
            with(" https://tv.example.cn  http://10.0.0.5:8080 https://*.example.cn 'self'")
                .wallboard_frame_ancestors()
                .unwrap(),
            "https://tv.example.cn http://10.0.0.5:8080 https://*.example.cn 'self'"
        );
        for bad in [
            "https://a.example; script-src *",
            "*",
            "https:",
            "javascript://x",
            "https://a.example/path",
            "https://a.example:",
            "'unsafe-inline'",
        ] {
            assert!(with(bad).wallboard_frame_ancestors().is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let c = Config {
            admin_password: Secret("hunter2".into()),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
