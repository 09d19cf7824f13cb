//! Acknowledgement templates of every channel, per queue (0: every queue) and language: `email`
//! (a new email ticket's acknowledgement), `portal` (the portal's, sent by email) and `sms` (an
//! acknowledgement sent by SMS: the portal's to a contact who gave only a phone number; inbound
//! SMS are not acknowledged). The store, the placeholders each channel may use, the built-in
//! texts used when no template is set, and rendering.

use crate::app::AppState;
use crate::db::{Db, Exec, FromRow, now_ms};
use crate::error::{AppError, AppResult, optional_text};
use crate::http::extract::{AuthUser, Json, Query};
use crate::http::{Access, Routes};
use crate::tickets::Kind;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const CHANNELS: [&str; 3] = ["email", "portal", "sms"];
pub const LANGUAGES: [&str; 2] = ["en", "zh"];

/// The placeholders a channel's templates may use. The portal's and SMS acknowledgements go to
/// a contact anyone could have typed: they repeat nothing the customer wrote (no name, no
/// subject), only the ticket number, the kind of request and the status link.
pub fn placeholders(channel: &str) -> &'static [&'static str] {
    match channel {
        "email" => &["ticket", "subject", "name"],
        _ => &["ticket", "kind", "link"],
    }
}

/// A template text of `channel` (`field` names it in the error): every placeholder known.
pub fn check_text(channel: &str, field: &str, text: &str) -> AppResult<()> {
    crate::placeholders::check(
        placeholders(channel),
        field,
        text,
        &format!("{channel} acknowledgements"),
    )
}

pub use crate::placeholders::render;

/// The kind of a portal request as its acknowledgement names it.
pub fn kind_word(language: &str, kind: Kind) -> &'static str {
    match (language, kind) {
        ("zh", Kind::Complaint) => "投诉",
        ("zh", Kind::Request) => "请求",
        ("zh", _) => "咨询",
        (_, Kind::Complaint) => "complaint",
        (_, Kind::Request) => "request",
        _ => "message",
    }
}

/// The text used when no template is set: (subject, body); an SMS has no subject.
pub fn built_in(channel: &str, language: &str) -> (&'static str, &'static str) {
    match (channel, language) {
        ("email", l) => crate::channels::email::default_ack_template(l),
        ("portal", "zh") => (
            "我们已收到您的{kind} [#{ticket}]",
            "您好，\n\n我们已收到您的{kind}，工单号为 #{ticket}。我们会尽快处理并通过邮件或短信告知进展。\n查看处理状态和我们的回复：{link}\n（请勿转发此链接。）\n\n客服中心",
        ),
        ("portal", _) => (
            "We received your {kind} [#{ticket}]",
            "Hello,\n\nWe received your {kind}; its ticket number is #{ticket}. We will keep you informed by email or SMS.\nStatus and our replies: {link}\n(Please do not forward this link.)\n\nCustomer service",
        ),
        (_, "zh") => (
            "",
            "【客服中心】已收到您的{kind}，工单号 #{ticket}。查看进展：{link}",
        ),
        _ => (
            "",
            "Customer service: we received your {kind}, ticket #{ticket}. Status: {link}",
        ),
    }
}

/// A stored template.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Template {
    pub queue_id: i64,
    pub language: String,
    pub channel: String,
    pub subject: String,
    pub body: String,
    pub updated_at: i64,
}

impl FromRow for Template {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Template {
            queue_id: r.try_get("queue_id")?,
            language: r.try_get("language")?,
            channel: r.try_get("channel")?,
            subject: r.try_get("subject")?,
            body: r.try_get("body")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

const COLUMNS: &str = "queue_id, language, channel, subject, body, updated_at";

pub async fn list(db: &Db) -> AppResult<Vec<Template>> {
    let sql = format!("SELECT {COLUMNS} FROM ack_templates ORDER BY queue_id, channel, language");
    let mut exec = db;
    exec.rows(&sql, vec![]).await
}

/// Where a template came from: the queue's own, the one for every queue, or the built-in text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Queue,
    Default,
    BuiltIn,
}

/// The (subject, body) an acknowledgement of `channel` in `language` for a ticket of queue
/// `queue_id` uses: the queue's template, else the one for every queue (0), else the built-in.
pub async fn resolve<E: Exec>(
    exec: &mut E,
    queue_id: Option<i64>,
    language: &str,
    channel: &str,
) -> AppResult<(String, String, Source)> {
    let sql = format!(
        "SELECT {COLUMNS} FROM ack_templates WHERE language = $2 AND channel = $3 \
         AND (queue_id = $1 OR queue_id = 0) ORDER BY queue_id DESC LIMIT 1"
    );
    let found: Option<Template> = exec
        .row(
            &sql,
            vec![
                queue_id.unwrap_or(0).into(),
                language.into(),
                channel.into(),
            ],
        )
        .await?;
    Ok(match found {
        Some(t) => {
            let source = if t.queue_id == 0 {
                Source::Default
            } else {
                Source::Queue
            };
            (t.subject, t.body, source)
        }
        None => {
            let (s, b) = built_in(channel, language);
            (s.to_string(), b.to_string(), Source::BuiltIn)
        }
    })
}

/// A template as asked for, checked: known channel and language, an existing queue (0: every
/// queue), a subject for email and portal (none for SMS), a body, known placeholders.
pub struct NewTemplate {
    pub queue_id: i64,
    pub language: String,
    pub channel: String,
    pub subject: String,
    pub body: String,
}

pub async fn check(db: &Db, t: &NewTemplate, need_body: bool) -> AppResult<()> {
    if !CHANNELS.contains(&t.channel.as_str()) {
        return Err(AppError::validation(
            "channel",
            "channel must be email, portal or sms",
        ));
    }
    if !LANGUAGES.contains(&t.language.as_str()) {
        return Err(AppError::validation(
            "language",
            "language must be en or zh",
        ));
    }
    if t.queue_id != 0 {
        crate::routing::store::find_queue(db, t.queue_id)
            .await
            .map_err(|_| AppError::validation("queue_id", "queue_id is not a queue"))?;
    }
    optional_text("subject", &t.subject, 500)?;
    optional_text("body", &t.body, 20_000)?;
    if need_body {
        if t.channel == "sms" && !t.subject.trim().is_empty() {
            return Err(AppError::validation("subject", "an SMS has no subject"));
        }
        if t.channel != "sms" && t.subject.trim().is_empty() {
            return Err(AppError::validation("subject", "subject must not be empty"));
        }
        if t.body.trim().is_empty() {
            return Err(AppError::validation("body", "body must not be empty"));
        }
    }
    check_text(&t.channel, "subject", &t.subject)?;
    check_text(&t.channel, "body", &t.body)?;
    Ok(())
}

/// Sets (inserts or replaces) a template after `check`, audited as `ack_template.set` by
/// `actor` (none: a system change) with the text before and after.
pub async fn set(db: &Db, actor: Option<i64>, t: &NewTemplate) -> AppResult<Template> {
    check(db, t, true).await?;
    let mut tx = db.begin().await?;
    let before: Option<Template> = tx
        .row(
            &format!(
                "SELECT {COLUMNS} FROM ack_templates WHERE queue_id = $1 AND language = $2 \
                 AND channel = $3"
            ),
            vec![t.queue_id.into(), (&t.language).into(), (&t.channel).into()],
        )
        .await?;
    let sql = format!(
        "INSERT INTO ack_templates (queue_id, language, channel, subject, body, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (queue_id, language, channel) DO UPDATE \
         SET subject = excluded.subject, body = excluded.body, updated_at = excluded.updated_at \
         RETURNING {COLUMNS}"
    );
    let saved: Template = tx
        .row(
            &sql,
            vec![
                t.queue_id.into(),
                (&t.language).into(),
                (&t.channel).into(),
                t.subject.trim().into(),
                t.body.clone().into(),
                now_ms().into(),
            ],
        )
        .await?
        .ok_or(AppError::NotFound("template"))?;
    crate::auth::store::insert_audit(
        &mut *tx,
        actor,
        "ack_template.set",
        &format!("ack_template:{}:{}:{}", t.queue_id, t.channel, t.language),
        json!({
            "from": before.map(|b| json!({"subject": b.subject, "body": b.body})),
            "to": {"subject": saved.subject, "body": saved.body},
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}

/// Removes a template (the queue then uses the one for every queue, or the built-in text).
pub async fn remove(
    db: &Db,
    actor: i64,
    queue_id: i64,
    language: &str,
    channel: &str,
) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let removed: Option<Template> = tx
        .row(
            &format!(
                "DELETE FROM ack_templates WHERE queue_id = $1 AND language = $2 \
                 AND channel = $3 RETURNING {COLUMNS}"
            ),
            vec![queue_id.into(), language.into(), channel.into()],
        )
        .await?;
    let Some(removed) = removed else {
        return Err(AppError::NotFound("template"));
    };
    crate::auth::store::insert_audit(
        &mut *tx,
        Some(actor),
        "ack_template.delete",
        &format!("ack_template:{queue_id}:{channel}:{language}"),
        json!({"subject": removed.subject, "body": removed.body}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The values a preview fills in: a sample ticket, customer and link.
pub fn sample_values(
    channel: &str,
    language: &str,
    public_url: &str,
) -> Vec<(&'static str, String)> {
    let zh = language == "zh";
    let mut v = vec![("ticket", "1042".to_string())];
    if channel == "email" {
        v.push((
            "subject",
            if zh {
                "宽带无法连接"
            } else {
                "Broadband is down"
            }
            .to_string(),
        ));
        v.push(("name", if zh { "张伟" } else { "Wei Zhang" }.to_string()));
    } else {
        v.push(("kind", kind_word(language, Kind::Complaint).to_string()));
        v.push((
            "link",
            crate::channels::web::status_link(public_url, 1042, "sample-key"),
        ));
    }
    v
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/ack-templates",
        "templates",
        Access::Admin,
        "Acknowledgement templates (per queue, 0 = every queue; language; channel email, portal \
         or sms), the built-in texts and each channel's placeholders",
        get(list_templates),
    )
    .returns::<TemplateList>(200)
    .add(
        "PUT",
        "/api/ack-templates",
        "templates",
        Access::Admin,
        "Set an acknowledgement template {queue_id, language, channel, subject, body}",
        axum::routing::put(put_template),
    )
    .body::<TemplateBody>()
    .returns::<Template>(200)
    .add(
        "DELETE",
        "/api/ack-templates",
        "templates",
        Access::Admin,
        "Remove an acknowledgement template (?queue_id=&language=&channel=)",
        axum::routing::delete(delete_template),
    )
    .query::<TemplateKey>()
    .no_content()
    .add(
        "POST",
        "/api/ack-templates/preview",
        "templates",
        Access::Admin,
        "Render a template with sample values {queue_id, language, channel, subject?, body?} \
         (without subject and body: the one in use)",
        post(preview),
    )
    .body::<TemplateBody>()
    .returns::<Preview>(200)
}

/// A stored template with its queue's name (None for every queue).
#[derive(Serialize, schemars::JsonSchema)]
struct ListedTemplate {
    #[serde(flatten)]
    template: Template,
    queue_name: Option<String>,
}

/// The text a channel and language uses when no template is stored.
#[derive(Serialize, schemars::JsonSchema)]
struct BuiltIn {
    channel: &'static str,
    language: &'static str,
    subject: &'static str,
    body: &'static str,
}

#[derive(Serialize, schemars::JsonSchema)]
struct TemplateList {
    templates: Vec<ListedTemplate>,
    built_in: Vec<BuiltIn>,
    /// The placeholders each channel may use.
    placeholders: std::collections::BTreeMap<&'static str, &'static [&'static str]>,
    channels: [&'static str; 3],
    languages: [&'static str; 2],
}

async fn list_templates(State(state): State<AppState>) -> AppResult<axum::Json<TemplateList>> {
    let names: std::collections::HashMap<i64, String> =
        crate::routing::store::list_queues(&state.db)
            .await?
            .into_iter()
            .map(|q| (q.id, q.name))
            .collect();
    let templates = list(&state.db)
        .await?
        .into_iter()
        .map(|t| ListedTemplate {
            queue_name: names.get(&t.queue_id).cloned(),
            template: t,
        })
        .collect();
    let mut texts = Vec::new();
    let mut holes = std::collections::BTreeMap::new();
    for channel in CHANNELS {
        holes.insert(channel, placeholders(channel));
        for language in LANGUAGES {
            let (subject, body) = built_in(channel, language);
            texts.push(BuiltIn {
                channel,
                language,
                subject,
                body,
            });
        }
    }
    Ok(axum::Json(TemplateList {
        templates,
        built_in: texts,
        placeholders: holes,
        channels: CHANNELS,
        languages: LANGUAGES,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct TemplateBody {
    #[serde(default)]
    queue_id: i64,
    #[serde(default)]
    language: String,
    #[serde(default)]
    channel: String,
    subject: Option<String>,
    body: Option<String>,
}

impl TemplateBody {
    fn template(&self) -> NewTemplate {
        NewTemplate {
            queue_id: self.queue_id,
            language: self.language.trim().to_string(),
            channel: self.channel.trim().to_string(),
            subject: self.subject.clone().unwrap_or_default(),
            body: self.body.clone().unwrap_or_default(),
        }
    }
}

async fn put_template(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Json(b): Json<TemplateBody>,
) -> AppResult<axum::Json<Template>> {
    Ok(axum::Json(
        set(&state.db, Some(actor.id), &b.template()).await?,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct TemplateKey {
    queue_id: Option<String>,
    language: Option<String>,
    channel: Option<String>,
}

async fn delete_template(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Query(k): Query<TemplateKey>,
) -> AppResult<StatusCode> {
    let queue_id = match k.queue_id.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(v) => v
            .parse()
            .map_err(|_| AppError::validation("queue_id", "queue_id must be a queue id or 0"))?,
    };
    let t = NewTemplate {
        queue_id,
        language: k.language.unwrap_or_default(),
        channel: k.channel.unwrap_or_default(),
        subject: String::new(),
        body: String::new(),
    };
    check(&state.db, &t, false).await?;
    remove(&state.db, actor.id, t.queue_id, &t.language, &t.channel).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn preview(
    State(state): State<AppState>,
    Json(b): Json<TemplateBody>,
) -> AppResult<axum::Json<Preview>> {
    let t = b.template();
    check(&state.db, &t, false).await?;
    let (mut subject, mut body, source) = resolve(
        &mut &state.db,
        Some(t.queue_id).filter(|q| *q != 0),
        &t.language,
        &t.channel,
    )
    .await?;
    let given = b.subject.is_some() || b.body.is_some();
    if let Some(s) = b.subject {
        subject = s;
    }
    if let Some(s) = b.body {
        body = s;
    }
    let values = sample_values(&t.channel, &t.language, &state.config.public_url());
    Ok(axum::Json(Preview {
        subject: render(&subject, &values),
        body: render(&body, &values),
        source: match source {
            _ if given => PreviewSource::Given,
            Source::Queue => PreviewSource::Queue,
            Source::Default => PreviewSource::Default,
            Source::BuiltIn => PreviewSource::BuiltIn,
        },
        values: values.into_iter().collect(),
    }))
}

/// Where a previewed text came from: a stored template, the built-in text or the request.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum PreviewSource {
    Queue,
    Default,
    BuiltIn,
    Given,
}

/// A template rendered with sample values.
#[derive(Serialize, schemars::JsonSchema)]
struct Preview {
    subject: String,
    body: String,
    source: PreviewSource,
    values: std::collections::BTreeMap<&'static str, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_checked_and_filled_once() {
        assert_eq!(
            crate::placeholders::names_in("[#{ticket}] {subject} {not closed {} {a-b} {name}"),
            vec!["ticket", "subject", "name"]
        );
        assert!(check_text("email", "body", "Dear {name}, #{ticket}: {subject}").is_ok());
        match check_text("portal", "body", "Dear {name}") {
            Err(AppError::Validation { field, message }) => {
                assert_eq!(field, "body");
                assert!(message.contains("{name}"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(check_text("sms", "body", "{ticket} {link} {kind} {}").is_ok());
        let values = vec![
            ("ticket", "7".to_string()),
            ("name", "{ticket}".to_string()),
        ];
        assert_eq!(render("#{ticket} {name} {x}", &values), "#7 {ticket} {x}");
    }

    #[test]
    fn built_in_texts_use_only_their_channels_placeholders() {
        for channel in CHANNELS {
            for language in LANGUAGES {
                let (s, b) = built_in(channel, language);
                check_text(channel, "subject", s).unwrap();
                check_text(channel, "body", b).unwrap();
                assert_eq!(s.is_empty(), channel == "sms");
            }
        }
        let values = sample_values("portal", "en", "http://h");
        let body = render(built_in("portal", "en").1, &values);
        assert!(
            body.contains("your complaint; its ticket number is #1042"),
            "{body}"
        );
        assert!(
            body.contains("http://h/portal.html#status?t=1042&k=sample-key"),
            "{body}"
        );
    }
}
