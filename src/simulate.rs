//! `hotline simulate`: seeds demo agents, a supervisor, queues and customers on a RUNNING server,
//! then generates a gentle stream of calls (CTI webhook), SMS (signed Twilio webhook), emails
//! (SMTP receiver) and web complaints (portal) through the real interfaces only; agents answer
//! some. Each channel whose endpoint is missing or refuses is logged once and skipped.
//! Without `--url` it finds the server the way `serve` listens (`HOTLINE_LISTEN`, the config
//! file). With `--check` it also plays the agents and a supervisor and checks the center's
//! invariants while the traffic runs (see `check`).

pub mod check;

use anyhow::{Context, anyhow};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use rand::seq::IndexedRandom;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    /// The running server (default: where `serve` listens, from HOTLINE_LISTEN or the config
    /// file).
    #[arg(long, default_value = "")]
    pub url: String,
    /// Password of the `admin` user (or give --token; default: the config's admin_password).
    #[arg(long, env = "HOTLINE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// An admin's API token instead of the password.
    #[arg(long, env = "HOTLINE_SIMULATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Password given to the demo agents and the supervisor.
    #[arg(long, default_value = "demo-password")]
    pub demo_password: String,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Inbound messages and calls per minute.
    #[arg(long, default_value_t = 12.0)]
    pub per_minute: f64,
    /// Seed the demo data and exit.
    #[arg(long)]
    pub seed_only: bool,
    /// CTI token of the server (calls are skipped without it).
    #[arg(long, env = "HOTLINE_CTI_TOKEN", hide_env_values = true)]
    pub cti_token: Option<String>,
    /// Twilio auth token of the server, to sign SMS webhooks (SMS are skipped without it).
    #[arg(long, env = "HOTLINE_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// The server's public URL as it signs Twilio requests (default: --url).
    #[arg(long, env = "HOTLINE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The server's SMTP receiver (default: the config's smtp_listen).
    #[arg(long, env = "HOTLINE_SMTP_LISTEN", default_value = "")]
    pub smtp: String,
    /// Address the demo emails are sent to.
    #[arg(long, default_value = "support@localhost")]
    pub support_address: String,
    /// Also play the agents (as consoles on /ws) and a supervisor, check the center's invariants
    /// while the traffic runs (for --duration, default 120 s), print each violation and exit
    /// non-zero when there was one. Calls are answered and resolved in seconds, not minutes.
    #[arg(long)]
    pub check: bool,
    /// With --check: how many of the demo agents (agent1…) are played as consoles.
    #[arg(long, default_value_t = 4)]
    pub bots: usize,
    /// With --check: the bearer token /metrics asks for when the server sets one.
    #[arg(long, env = "HOTLINE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

impl SimulateArgs {
    /// Fills what was not given from the server's settings, as `serve` reads them: the URL from
    /// `listen`, the tokens, the public URL, the SMTP receiver and the admin password.
    pub fn resolve(mut self, config: &crate::config::Config) -> SimulateArgs {
        let found = self.url.trim().is_empty();
        if found {
            self.url = format!("http://{}", local_address(&config.listen));
        }
        let or = |v: Option<String>, c: &str| {
            v.filter(|v| !v.is_empty())
                .or_else(|| (!c.is_empty()).then(|| c.to_string()))
        };
        self.admin_password = or(self.admin_password, config.admin_password.expose());
        self.cti_token = or(self.cti_token, config.cti_token.expose());
        self.twilio_auth_token = or(self.twilio_auth_token, config.twilio_auth_token.expose());
        self.metrics_token = or(self.metrics_token, config.metrics_token.expose());
        // Twilio requests are signed for the URL the server checks: its public URL, which is
        // `http://{listen}` unless set (a given --url stands for it otherwise).
        let public = if found {
            config.public_url()
        } else {
            config.public_url.clone()
        };
        self.public_url = or(self.public_url, &public);
        if self.smtp.trim().is_empty() {
            self.smtp = local_address(&config.smtp_listen);
        }
        self
    }
}

/// An address to reach a listener bound to `listen`: a wildcard host means this machine.
fn local_address(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("0.0.0.0", port)) | Some(("", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => listen.to_string(),
    }
}

/// Demo customers: name, phone, email, tier, language.
const CUSTOMERS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "王芳",
        "+8613800138001",
        "wang.fang@example.cn",
        "vip",
        "zh",
    ),
    (
        "李伟",
        "+8613800138002",
        "li.wei@example.cn",
        "regular",
        "zh",
    ),
    (
        "张敏",
        "+8613800138003",
        "zhang.min@example.cn",
        "key",
        "zh",
    ),
    (
        "刘洋",
        "+8613800138004",
        "liu.yang@example.cn",
        "regular",
        "zh",
    ),
    (
        "陈静",
        "+8613800138005",
        "chen.jing@example.cn",
        "low",
        "zh",
    ),
    (
        "杨磊",
        "+8613800138006",
        "yang.lei@example.cn",
        "regular",
        "zh",
    ),
    (
        "Emma Johnson",
        "+8613900139001",
        "emma.johnson@example.com",
        "vip",
        "en",
    ),
    (
        "Liam Smith",
        "+8613900139002",
        "liam.smith@example.com",
        "regular",
        "en",
    ),
    (
        "Olivia Brown",
        "+8613900139003",
        "olivia.brown@example.com",
        "key",
        "en",
    ),
    (
        "Noah Wilson",
        "+8613900139004",
        "noah.wilson@example.com",
        "regular",
        "en",
    ),
    (
        "Ava Martin",
        "+8613900139005",
        "ava.martin@example.com",
        "low",
        "en",
    ),
    (
        "赵强 (Zhao Qiang)",
        "+8613700137001",
        "zhao.qiang@example.cn",
        "regular",
        "zh",
    ),
];

const ZH_TEXTS: &[&str] = &[
    "我的账单多收了50元，请帮我查一下。",
    "宽带从昨天晚上开始一直断线，重启路由器也没用。",
    "我想把套餐升级成200G流量的，怎么办理？",
    "快递显示已签收，但我没有收到包裹。",
    "投诉：客服电话等了半个小时都没人接！",
    "请问发票可以开公司抬头吗？",
    "我的会员卡积分没有到账。",
    "手机在国外不能漫游，急！",
];
const EN_TEXTS: &[&str] = &[
    "My invoice for March is 50 yuan too high, please check.",
    "The internet has been dropping every few minutes since yesterday.",
    "How do I upgrade my plan to unlimited data?",
    "The parcel says delivered but I never received it.",
    "Complaint: nobody answered the hotline for 30 minutes!",
    "Can I get an invoice with my company name?",
    "My loyalty points are missing after the last purchase.",
    "Roaming does not work in Japan, please help urgently.",
];
const REPLIES: &[&str] = &[
    "Thank you for your message. We have checked your account and corrected it.",
    "您好，问题已经处理，如有疑问请随时联系我们。",
    "We are looking into it and will get back to you within 24 hours.",
];

/// A demo agent: id, login and bearer token.
#[derive(Clone, Debug)]
pub(crate) struct Agent {
    pub id: i64,
    pub login: String,
    pub token: String,
}

pub(crate) struct Demo {
    http: reqwest::Client,
    base: String,
    admin: String,
    agents: Vec<Agent>,
    /// Every seeded agent (signed in or not): id → login.
    logins: Vec<(i64, String)>,
    queues: Vec<(i64, String)>,
    customers: Vec<(i64, String, String, String, String)>,
    disabled: Mutex<HashSet<&'static str>>,
    args: SimulateArgs,
    /// Violations and notes of `--check` (a 5xx of any request is one).
    sink: Arc<check::Sink>,
}

impl Demo {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.with_context(|| path.to_string())?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        self.sink.status(status, path, &text);
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Logs once that a channel is unavailable, and skips it from then on.
    fn disable(&self, channel: &'static str, why: impl std::fmt::Display) {
        if self.disabled.lock().unwrap().insert(channel) {
            println!("  {channel}: skipped ({why})");
        }
    }

    fn enabled(&self, channel: &'static str) -> bool {
        !self.disabled.lock().unwrap().contains(channel)
    }
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    login: &str,
    password: &str,
) -> anyhow::Result<String> {
    let res = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .with_context(|| format!("is the server running at {base}?"))?;
    if !res.status().is_success() {
        return Err(anyhow!("login {login}: {}", res.status()));
    }
    let v: Value = res.json().await?;
    Ok(v["token"].as_str().unwrap_or_default().to_string())
}

/// Runs the simulator with `args` as given (nothing read from settings).
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    run_with_config(args, &crate::config::Config::default()).await
}

/// `hotline simulate`: what `args` leaves out comes from the server's settings (`config`).
pub async fn run_with_config(
    args: SimulateArgs,
    config: &crate::config::Config,
) -> anyhow::Result<()> {
    let args = args.resolve(config);
    if args.check {
        let report = check::day(args, check::DayOptions::default()).await?;
        report.print();
        if !report.violations.is_empty() {
            return Err(anyhow!(
                "{} invariant violation(s)",
                report.violations.len()
            ));
        }
        return Ok(());
    }
    let demo = Arc::new(start(args).await?);
    if demo.args.seed_only {
        return Ok(());
    }
    traffic(demo, None).await;
    Ok(())
}

/// Signs in as admin and seeds the demo data.
pub(crate) async fn start(args: SimulateArgs) -> anyhow::Result<Demo> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let base = args.url.trim_end_matches('/').to_string();
    let admin = match (&args.token, &args.admin_password) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => login(&http, &base, "admin", p).await?,
        (None, None) => {
            return Err(anyhow!(
                "give --admin-password (or HOTLINE_ADMIN_PASSWORD) or --token"
            ));
        }
    };
    let mut demo = Demo {
        http,
        base,
        admin,
        agents: Vec::new(),
        logins: Vec::new(),
        queues: Vec::new(),
        customers: Vec::new(),
        disabled: Mutex::new(HashSet::new()),
        args: args.clone(),
        sink: Arc::new(check::Sink::default()),
    };
    seed(&mut demo).await?;
    Ok(demo)
}

/// Sends traffic until `--duration` is over, Ctrl-C, or `stop` turns true.
pub(crate) async fn traffic(demo: Arc<Demo>, stop: Option<tokio::sync::watch::Receiver<bool>>) {
    let args = demo.args.clone();
    if demo.args.cti_token.as_deref().unwrap_or("").is_empty() {
        demo.disable("calls", "no --cti-token / HOTLINE_CTI_TOKEN");
    }
    if demo
        .args
        .twilio_auth_token
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        demo.disable("sms", "no --twilio-auth-token / HOTLINE_TWILIO_AUTH_TOKEN");
    }
    if demo.args.smtp.trim().is_empty() {
        demo.disable("email", "no --smtp / smtp_listen");
    }
    println!(
        "Generating traffic at about {}/min; Ctrl-C to stop.",
        args.per_minute
    );
    let started = Instant::now();
    let gap = Duration::from_secs_f64(60.0 / args.per_minute.max(0.1));
    let mut n: u64 = 0;
    loop {
        if let Some(d) = args.duration
            && started.elapsed() >= Duration::from_secs(d)
        {
            break;
        }
        if stop.as_ref().is_some_and(|s| *s.borrow()) {
            break;
        }
        n += 1;
        let d = demo.clone();
        tokio::spawn(async move {
            if let Err(e) = step(&d, n).await {
                println!("  #{n}: {e:#}");
            }
        });
        let jitter = rand::rng().random_range(0.5..1.5);
        tokio::select! {
            _ = tokio::time::sleep(gap.mul_f64(jitter)) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    println!("Stopped after {n} events.");
}

async fn seed(d: &mut Demo) -> anyhow::Result<()> {
    println!("Seeding demo data on {} …", d.base);
    let (_, users) = d
        .call(reqwest::Method::GET, "/api/users", &d.admin.clone(), None)
        .await?;
    let existing: Vec<Value> = users.as_array().cloned().unwrap_or_default();
    let mut people = vec![(
        "supervisor",
        "Sam Supervisor 主管",
        "supervisor".to_string(),
    )];
    let names = ["Alice 艾丽", "Bo 王波", "Chen 陈晨", "Dana", "Eli 李一"];
    for (i, name) in names.iter().enumerate() {
        people.push(("agent", *name, format!("agent{}", i + 1)));
    }
    let mut agent_ids = Vec::new();
    for (role, name, login_name) in &people {
        let id = match existing.iter().find(|u| u["login"] == *login_name) {
            Some(u) => u["id"].as_i64().unwrap_or_default(),
            None => {
                let (s, b) = d
                    .call(
                        reqwest::Method::POST,
                        "/api/users",
                        &d.admin,
                        Some(json!({"login": login_name, "display_name": name, "role": role,
                                    "password": d.args.demo_password,
                                    "locale": if name.chars().any(|c| c > '\u{2e80}') { "zh-CN" } else { "en" }})),
                    )
                    .await?;
                if !s.is_success() {
                    return Err(anyhow!("creating {login_name}: {s} {b}"));
                }
                b["id"].as_i64().unwrap_or_default()
            }
        };
        if *role == "agent" {
            agent_ids.push((id, login_name.clone()));
        }
    }
    println!(
        "  users: agent1..agent5 and supervisor, password `{}`",
        d.args.demo_password
    );

    let (_, queues) = d
        .call(reqwest::Method::GET, "/api/queues", &d.admin, None)
        .await?;
    let existing: Vec<Value> = queues.as_array().cloned().unwrap_or_default();
    // The server's default queue catches everything no rule places: the demo's general queue is
    // that one (a server without one gets a queue named General).
    let general = existing
        .iter()
        .find(|q| q["is_default"] == true)
        .and_then(|q| q["name"].as_str())
        .unwrap_or("General")
        .to_string();
    let wanted = [
        (
            general.as_str(),
            "Everything else / 综合咨询",
            vec![0, 1, 2],
        ),
        (
            "Billing",
            "Invoices and payments / 账单与支付",
            vec![1, 2, 3],
        ),
        ("投诉 Complaints", "Complaints / 投诉处理", vec![3, 4]),
    ];
    for (name, description, members) in wanted {
        let found = existing
            .iter()
            .find(|q| q["name"] == name || (name == general && q["is_default"] == true));
        let id = match found {
            Some(q) => q["id"].as_i64().unwrap_or_default(),
            None => {
                let (s, b) = d
                    .call(
                        reqwest::Method::POST,
                        "/api/queues",
                        &d.admin,
                        Some(json!({"name": name, "description": description})),
                    )
                    .await?;
                if !s.is_success() {
                    return Err(anyhow!("creating queue {name}: {s} {b}"));
                }
                b["id"].as_i64().unwrap_or_default()
            }
        };
        let ids: Vec<i64> = members.iter().map(|&i| agent_ids[i].0).collect();
        d.call(
            reqwest::Method::PUT,
            &format!("/api/queues/{id}/members"),
            &d.admin,
            Some(json!({"user_ids": ids})),
        )
        .await?;
        d.queues.push((id, name.to_string()));
    }
    let names: Vec<&str> = d.queues.iter().map(|q| q.1.as_str()).collect();
    println!("  queues: {}", names.join(", "));

    for (name, phone, email, tier, lang) in CUSTOMERS {
        let (_, found) = d
            .call(
                reqwest::Method::GET,
                &format!("/api/customers/lookup?q={}", urlencode(email)),
                &d.admin,
                None,
            )
            .await?;
        let id = match found["customer"]["id"].as_i64() {
            Some(id) => id,
            None => {
                let (s, b) = d
                    .call(
                        reqwest::Method::POST,
                        "/api/customers",
                        &d.admin,
                        Some(json!({"display_name": name, "tier": tier, "language": lang,
                                    "identities": [{"kind": "phone", "value": phone},
                                                   {"kind": "email", "value": email}]})),
                    )
                    .await?;
                if !s.is_success() {
                    return Err(anyhow!("creating customer {name}: {s} {b}"));
                }
                b["id"].as_i64().unwrap_or_default()
            }
        };
        d.customers.push((
            id,
            name.to_string(),
            phone.to_string(),
            email.to_string(),
            lang.to_string(),
        ));
    }
    println!("  customers: {} (zh and en, all tiers)", CUSTOMERS.len());
    d.agents = Vec::new();
    d.logins = agent_ids.clone();
    for (id, login_name) in agent_ids {
        match login(&d.http, &d.base, &login_name, &d.args.demo_password).await {
            Ok(token) => d.agents.push(Agent {
                id,
                login: login_name,
                token,
            }),
            Err(e) => println!("  {login_name}: cannot sign in ({e}); it will not answer"),
        }
    }
    println!(
        "Open {}/ (console, e.g. agent1) and {}/wallboard.html (supervisor).",
        d.base, d.base
    );
    Ok(())
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One piece of traffic, chosen at random among the channels still enabled.
async fn step(d: &Demo, n: u64) -> anyhow::Result<()> {
    let (customer, text, unknown) = {
        let mut rng = rand::rng();
        let c = d.customers.choose(&mut rng).cloned();
        let unknown = rng.random_bool(0.15);
        let zh = c.as_ref().is_some_and(|c| c.4 == "zh");
        let text = if zh { ZH_TEXTS } else { EN_TEXTS }
            .choose(&mut rng)
            .copied()
            .unwrap_or("Hello");
        (c, text, unknown)
    };
    let Some((_, name, phone, email, _)) = customer else {
        return Ok(());
    };
    let phone = if unknown {
        format!("+86135{:08}", rand::rng().random_range(0..100_000_000u32))
    } else {
        phone
    };
    let roll: f64 = rand::rng().random();
    let mut channels = vec!["email", "web"];
    if d.enabled("calls") {
        channels.push("calls");
        channels.push("calls");
    }
    if d.enabled("sms") {
        channels.push("sms");
    }
    if d.enabled("email") {
        channels.push("email");
    }
    if !d.args.check {
        // With --check the agents are played as consoles that take their offers instead.
        channels.push("work");
    }
    let pick = channels[(roll * channels.len() as f64) as usize % channels.len()];
    match pick {
        "calls" => simulate_call(d, n, &phone).await,
        "sms" => simulate_sms(d, n, &phone, text).await,
        "email" if d.enabled("email") => simulate_email(d, n, &name, &email, text).await,
        "work" => simulate_agent_work(d).await,
        _ => simulate_portal(d, &name, &email, text).await,
    }
}

/// One inbound call through the CTI webhook. The caller waits for an agent: when routing gets
/// the call's work to one (an offer accepted) the PBX puts it through to them (`answer` as that
/// agent); a caller who waited too long hangs up (abandoned, and the server files a callback).
/// Without --check, an unrouted call is still answered by a random demo agent most of the time,
/// so that the wallboard shows handling without anyone in the console.
async fn simulate_call(d: &Demo, n: u64, from: &str) -> anyhow::Result<()> {
    let token = d.args.cti_token.clone().unwrap_or_default();
    let path = format!("/api/v1/cti/{token}");
    let (queue, patience, talk, answered) = {
        let mut rng = rand::rng();
        let queue = d
            .queues
            .choose(&mut rng)
            .map(|q| q.1.clone())
            .unwrap_or_default();
        if d.args.check {
            // A compressed day: callers wait seconds, some give up at once, talks are short.
            let patience = if rng.random_bool(0.25) {
                rng.random_range(50..400u64)
            } else {
                rng.random_range(3000..9000u64)
            };
            (queue, patience, rng.random_range(800..3000u64), false)
        } else {
            (
                queue,
                rng.random_range(5000..40_000u64),
                rng.random_range(20_000..150_000u64),
                rng.random_bool(0.8),
            )
        }
    };
    let call_id = format!("sim-{}-{n}", std::process::id());
    let send = |body: Value| {
        let req = d.http.post(d.url(&path)).json(&body);
        async move {
            let res = req.send().await?;
            d.sink.status(res.status(), "/api/v1/cti/…", "");
            Ok::<_, reqwest::Error>(res)
        }
    };
    let res = send(
        json!({"event": "newCall", "from": from, "to": "4008001234", "direction": "in",
                          "callId": call_id, "queue": queue}),
    )
    .await?;
    if matches!(res.status().as_u16(), 401 | 403 | 404) {
        d.disable("calls", format!("CTI webhook answered {}", res.status()));
        return Ok(());
    }
    println!("  call from {from} ({queue})");
    let waited = Instant::now();
    let mut ticket = None;
    let mut agent: Option<i64> = None;
    let patience = Duration::from_millis(patience);
    while let Some(left) = patience.checked_sub(waited.elapsed()) {
        tokio::time::sleep(left.min(Duration::from_millis(250))).await;
        if waited.elapsed() >= patience {
            break;
        }
        if ticket.is_none() {
            let (_, calls) = d
                .call(reqwest::Method::GET, "/api/calls?limit=100", &d.admin, None)
                .await?;
            ticket = calls.as_array().and_then(|l| {
                l.iter()
                    .find(|c| c["call_id"] == call_id.as_str())
                    .and_then(|c| c["ticket_id"].as_i64())
            });
        }
        if let Some(t) = ticket {
            let (_, w) = d
                .call(
                    reqwest::Method::GET,
                    &format!("/api/work/{t}"),
                    &d.admin,
                    None,
                )
                .await?;
            if w["state"] == "assigned" {
                agent = w["assigned_to"].as_i64();
                break;
            }
        }
    }
    let who = match agent {
        Some(id) => d.logins.iter().find(|a| a.0 == id).map(|a| a.1.clone()),
        None if answered => {
            let i = rand::rng().random_range(0..d.logins.len().max(1));
            d.logins.get(i).map(|a| a.1.clone())
        }
        None => None,
    };
    let Some(who) = who else {
        send(
            json!({"event": "hangup", "callId": call_id, "cause": "cancel", "direction": "in",
                    "from": from, "to": "4008001234"}),
        )
        .await?;
        return Ok(());
    };
    send(
        json!({"event": "answer", "callId": call_id, "user": who, "direction": "in",
                "from": from, "to": "4008001234", "answeringNumber": "4008001234"}),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(talk)).await;
    send(
        json!({"event": "hangup", "callId": call_id, "cause": "normalClearing", "direction": "in",
                "from": from, "to": "4008001234"}),
    )
    .await?;
    Ok(())
}

/// `X-Twilio-Signature`: HMAC-SHA1 over the URL followed by the sorted parameters, base64.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn simulate_sms(d: &Demo, n: u64, from: &str, text: &str) -> anyhow::Result<()> {
    let token = d.args.twilio_auth_token.clone().unwrap_or_default();
    let public = d.args.public_url.clone().unwrap_or_else(|| d.base.clone());
    let url = format!("{}/webhooks/twilio/sms", public.trim_end_matches('/'));
    let sid = format!("SMsim{}x{n}", std::process::id());
    let params = [
        ("MessageSid", sid.as_str()),
        ("AccountSid", "ACsimulator"),
        ("From", from),
        ("To", "+8610690000"),
        ("Body", text),
        ("NumMedia", "0"),
    ];
    let res = d
        .http
        .post(d.url("/webhooks/twilio/sms"))
        .header(
            "X-Twilio-Signature",
            twilio_signature(&token, &url, &params),
        )
        .form(&params)
        .send()
        .await?;
    d.sink.status(res.status(), "/webhooks/twilio/sms", "");
    if matches!(res.status().as_u16(), 401 | 403 | 404) {
        d.disable("sms", format!("SMS webhook answered {}", res.status()));
    } else {
        println!("  sms from {from}");
    }
    Ok(())
}

async fn simulate_email(
    d: &Demo,
    n: u64,
    name: &str,
    email: &str,
    text: &str,
) -> anyhow::Result<()> {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let (host, port) = d
        .args
        .smtp
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| anyhow!("--smtp must be host:port"))?;
    let subject: String = text.chars().take(30).collect();
    let msg = Message::builder()
        .from(lettre::message::Mailbox::new(
            Some(name.to_string()),
            email.parse()?,
        ))
        .to(d.args.support_address.parse()?)
        .subject(subject)
        .message_id(Some(format!(
            "<sim-{}-{n}@simulator.local>",
            std::process::id()
        )))
        .body(format!("{text}\n\n-- \n{name}\n"))?;
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    match mailer.send(msg).await {
        Ok(_) => println!("  email from {email}"),
        Err(e) => d.disable("email", format!("SMTP {}: {e}", d.args.smtp)),
    }
    Ok(())
}

async fn simulate_portal(d: &Demo, name: &str, email: &str, text: &str) -> anyhow::Result<()> {
    let res = d.http.get(d.url("/api/portal/form-token")).send().await?;
    d.sink.status(res.status(), "/api/portal/form-token", "");
    let form: Value = res.json().await?;
    let wait = form["min_age_ms"].as_u64().unwrap_or(3000) + 300;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let kind = if text.contains("投诉") || text.contains("Complaint") {
        "complaint"
    } else {
        "request"
    };
    let res = d
        .http
        .post(d.url("/api/portal/complaints"))
        .json(
            &json!({"name": name, "email": email, "kind": kind, "description": text,
                      "form_token": form["token"], "website": ""}),
        )
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    d.sink
        .status(status, "/api/portal/complaints", &body.to_string());
    if status.is_success() {
        println!(
            "  web {kind} from {email}: ticket #{}",
            body["ticket_number"]
        );
    } else if status != StatusCode::TOO_MANY_REQUESTS {
        println!("  web form: {status} {body}");
    }
    Ok(())
}

/// An agent replies to and resolves an open ticket, so the board shows handling too.
async fn simulate_agent_work(d: &Demo) -> anyhow::Result<()> {
    let Some(Agent {
        id: agent_id,
        token,
        ..
    }) = d.agents.choose(&mut rand::rng()).cloned()
    else {
        return Ok(());
    };
    let (_, list) = d
        .call(
            reqwest::Method::GET,
            "/api/tickets?open=true&limit=50",
            &token,
            None,
        )
        .await?;
    let Some(ticket) = list
        .as_array()
        .and_then(|l| l.choose(&mut rand::rng()).cloned())
    else {
        return Ok(());
    };
    let id = ticket["id"].as_i64().unwrap_or_default();
    if ticket["assignee_id"].is_null() {
        d.call(
            reqwest::Method::PATCH,
            &format!("/api/tickets/{id}"),
            &token,
            Some(json!({"assignee_id": agent_id})),
        )
        .await?;
    }
    let reply = REPLIES.choose(&mut rand::rng()).copied().unwrap_or("OK");
    let (s, _) = d
        .call(
            reqwest::Method::POST,
            &format!("/api/tickets/{id}/replies"),
            &token,
            Some(json!({"body": reply, "status": "resolved"})),
        )
        .await?;
    if s.is_success() {
        println!("  agent {agent_id} resolved #{id}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signature_matches_the_documented_vector() {
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ];
        assert_eq!(
            twilio_signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }
}
