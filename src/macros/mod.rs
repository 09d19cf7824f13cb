//! Macros: canned replies with placeholders and optional ticket actions.
//!
//! A macro is `personal` (its owner's) or `shared` with a queue (`queue_id`) or with every queue
//! (`queue_id` none). Who may use one: its owner (personal), the members of its queue or
//! everyone (shared; admins every shared one). Who may manage one: agents their personal ones,
//! supervisors the shared ones of queues they work, admins all. Changes to shared macros are
//! audited (`macro.create`, `macro.update`, `macro.delete`).
//!
//! The body's placeholders (`PLACEHOLDERS`) are checked when saving and filled in when the
//! macro is applied to a ticket (`apply`), which also carries out its actions: status,
//! priority, tags to add, queue.

pub mod routes;

use crate::auth::{Role, User};
use crate::db::{Db, Exec, FromRow, now_ms};
use crate::error::{AppError, AppResult, required_text};
use crate::tickets::store::TicketChanges;
use crate::tickets::{Priority, Status, Ticket};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const LANGUAGES: [&str; 2] = ["zh-CN", "en"];
pub const SCOPES: [&str; 2] = ["personal", "shared"];

/// The placeholders a macro's body may use.
pub const PLACEHOLDERS: [&str; 5] = [
    "customer.name",
    "customer.honorific",
    "ticket.number",
    "ticket.subject",
    "agent.name",
];

/// What applying a macro does to the ticket besides giving the text (each optional).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actions {
    /// new, open, pending, resolved or closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// low, normal, high or urgent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Tags added to the ticket's (those it has stay).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<String>,
    /// The queue the ticket moves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<i64>,
}

impl Actions {
    pub fn is_empty(&self) -> bool {
        *self == Actions::default()
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Macro {
    pub id: i64,
    pub title: String,
    pub body: String,
    /// `zh-CN` or `en`.
    pub language: String,
    /// `personal` or `shared`.
    pub scope: String,
    /// The owner of a personal macro.
    pub owner_id: Option<i64>,
    /// The queue of a shared macro; none: every queue.
    pub queue_id: Option<i64>,
    pub actions: Actions,
    /// The built-in canned reply it started as (`greeting`, `apology`, `refund`, `closing`).
    pub seed_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Whether the reader may change or delete it.
    pub can_edit: bool,
}

impl FromRow for Macro {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Macro {
            id: r.try_get("id")?,
            title: r.try_get("title")?,
            body: r.try_get("body")?,
            language: r.try_get("language")?,
            scope: r.try_get("scope")?,
            owner_id: r.try_get("owner_id")?,
            queue_id: r.try_get("queue_id")?,
            actions: serde_json::from_str(&r.try_get::<String>("actions")?).unwrap_or_default(),
            seed_key: r.try_get("seed_key")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            can_edit: false,
        })
    }
}

const COLUMNS: &str = "id, title, body, language, scope, owner_id, queue_id, actions, seed_key, \
                       created_at, updated_at";

/// The user working with macros and the queues they are a member of.
pub struct Reader {
    pub user: User,
    pub queues: Vec<i64>,
}

impl Reader {
    pub async fn of(db: &Db, user: User) -> AppResult<Reader> {
        let queues = crate::routing::store::queues_of_user(db, user.id).await?;
        Ok(Reader { user, queues })
    }

    fn admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// May insert this macro into a reply.
    pub fn may_use(&self, m: &Macro) -> bool {
        match m.scope.as_str() {
            "personal" => m.owner_id == Some(self.user.id),
            _ => self.admin() || m.queue_id.is_none_or(|q| self.queues.contains(&q)),
        }
    }

    /// May create, change or delete a macro of this scope, owner and queue.
    pub fn may_manage(&self, scope: &str, owner_id: Option<i64>, queue_id: Option<i64>) -> bool {
        if self.admin() {
            return true;
        }
        match scope {
            "personal" => owner_id == Some(self.user.id),
            _ => {
                self.user.role == Role::Supervisor
                    && queue_id.is_some_and(|q| self.queues.contains(&q))
            }
        }
    }

    fn with_can_edit(&self, mut m: Macro) -> Macro {
        m.can_edit = self.may_manage(&m.scope, m.owner_id, m.queue_id);
        m
    }
}

/// What `GET /api/macros` filters by.
#[derive(Default)]
pub struct Filter {
    /// Part of the title or body, any case.
    pub q: Option<String>,
    pub language: Option<String>,
    /// Only what may be used on a ticket of this queue: its shared ones, those for every
    /// queue, and personal ones.
    pub queue_id: Option<i64>,
}

/// The macros `reader` may use (personal first, then by title).
pub async fn list(db: &Db, reader: &Reader, f: &Filter) -> AppResult<Vec<Macro>> {
    if let Some(l) = &f.language
        && !LANGUAGES.contains(&l.as_str())
    {
        return Err(AppError::validation(
            "language",
            "language must be zh-CN or en",
        ));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM macros WHERE owner_id = $1 OR scope = 'shared' \
         ORDER BY scope, title, id"
    );
    let mut exec = db;
    let all: Vec<Macro> = exec.rows(&sql, vec![reader.user.id.into()]).await?;
    let needle = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let needle = needle.map(str::to_lowercase);
    Ok(all
        .into_iter()
        .filter(|m| reader.may_use(m))
        .filter(|m| f.language.as_ref().is_none_or(|l| *l == m.language))
        .filter(|m| {
            f.queue_id
                .is_none_or(|q| m.scope == "personal" || m.queue_id.is_none_or(|mq| mq == q))
        })
        .filter(|m| {
            needle.as_ref().is_none_or(|n| {
                m.title.to_lowercase().contains(n) || m.body.to_lowercase().contains(n)
            })
        })
        .map(|m| reader.with_can_edit(m))
        .collect())
}

async fn find(db: &Db, id: i64) -> AppResult<Macro> {
    let mut exec = db;
    exec.row(
        &format!("SELECT {COLUMNS} FROM macros WHERE id = $1"),
        vec![id.into()],
    )
    .await?
    .ok_or(AppError::NotFound("macro"))
}

/// A macro the reader may use or manage; others are not found (their existence is not told).
pub async fn get(db: &Db, reader: &Reader, id: i64) -> AppResult<Macro> {
    let m = find(db, id).await?;
    if reader.may_use(&m) || reader.may_manage(&m.scope, m.owner_id, m.queue_id) {
        Ok(reader.with_can_edit(m))
    } else {
        Err(AppError::NotFound("macro"))
    }
}

/// A macro as saved: every field given.
#[derive(Clone, Debug)]
pub struct NewMacro {
    pub title: String,
    pub body: String,
    pub language: String,
    pub scope: String,
    pub queue_id: Option<i64>,
    pub actions: Actions,
}

/// Changes to a macro (none: unchanged; `queue_id: Some(None)`: every queue).
#[derive(Clone, Debug, Default)]
pub struct MacroChanges {
    pub title: Option<String>,
    pub body: Option<String>,
    pub language: Option<String>,
    pub scope: Option<String>,
    pub queue_id: Option<Option<i64>>,
    pub actions: Option<Actions>,
}

async fn check_queue(db: &Db, field: &str, id: i64) -> AppResult<()> {
    crate::routing::store::find_queue(db, id)
        .await
        .map(|_| ())
        .map_err(|_| AppError::validation(field, format!("{field} is not a queue")))
}

/// Checks and normalizes a macro: title, body with known placeholders, language, scope, queue
/// (only for shared ones) and actions.
async fn check(db: &Db, m: NewMacro) -> AppResult<NewMacro> {
    let title = required_text("title", &m.title, 200)?;
    if m.body.trim().is_empty() {
        return Err(AppError::validation("body", "body must not be empty"));
    }
    if m.body.chars().count() > 20_000 {
        return Err(AppError::validation(
            "body",
            "body is longer than 20000 characters",
        ));
    }
    crate::placeholders::check(&PLACEHOLDERS, "body", &m.body, "macros")?;
    let language = m.language.trim().to_string();
    if !LANGUAGES.contains(&language.as_str()) {
        return Err(AppError::validation(
            "language",
            "language must be zh-CN or en",
        ));
    }
    let scope = m.scope.trim().to_string();
    if !SCOPES.contains(&scope.as_str()) {
        return Err(AppError::validation(
            "scope",
            "scope must be personal or shared",
        ));
    }
    if let Some(q) = m.queue_id {
        if scope == "personal" {
            return Err(AppError::validation(
                "queue_id",
                "a personal macro has no queue",
            ));
        }
        check_queue(db, "queue_id", q).await?;
    }
    let a = m.actions;
    if let Some(s) = &a.status
        && Status::parse(s).is_none()
    {
        return Err(AppError::validation(
            "actions.status",
            "actions.status must be one of new, open, pending, resolved, closed",
        ));
    }
    if let Some(p) = &a.priority
        && Priority::parse(p).is_none()
    {
        return Err(AppError::validation(
            "actions.priority",
            "actions.priority must be one of low, normal, high, urgent",
        ));
    }
    if a.add_tags.len() > 20 {
        return Err(AppError::validation(
            "actions.add_tags",
            "at most 20 tags to add",
        ));
    }
    let mut add_tags: Vec<String> = Vec::new();
    for t in &a.add_tags {
        let t = required_text("actions.add_tags", t, 50)?;
        if !add_tags.contains(&t) {
            add_tags.push(t);
        }
    }
    if let Some(q) = a.queue_id {
        check_queue(db, "actions.queue_id", q).await?;
    }
    Ok(NewMacro {
        title,
        body: m.body,
        language,
        scope,
        queue_id: m.queue_id,
        actions: Actions { add_tags, ..a },
    })
}

fn actions_json(a: &Actions) -> String {
    // Plain data: serializing it cannot fail.
    serde_json::to_string(a).unwrap_or_else(|_| "{}".into())
}

fn audit_detail(m: &Macro) -> serde_json::Value {
    json!({
        "title": m.title, "language": m.language, "scope": m.scope, "queue_id": m.queue_id,
        "body": m.body, "actions": m.actions,
    })
}

/// Creates a macro; a personal one belongs to the reader.
pub async fn create(db: &Db, reader: &Reader, m: NewMacro) -> AppResult<Macro> {
    let m = check(db, m).await?;
    let owner_id = (m.scope == "personal").then_some(reader.user.id);
    if !reader.may_manage(&m.scope, owner_id, m.queue_id) {
        return Err(AppError::Forbidden);
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    let saved: Macro = tx
        .row(
            &format!(
                "INSERT INTO macros (title, body, language, scope, owner_id, queue_id, actions, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 RETURNING {COLUMNS}"
            ),
            vec![
                m.title.into(),
                m.body.into(),
                m.language.into(),
                m.scope.into(),
                owner_id.into(),
                m.queue_id.into(),
                actions_json(&m.actions).into(),
                now.into(),
            ],
        )
        .await?
        .ok_or(AppError::NotFound("macro"))?;
    if saved.scope == "shared" {
        crate::auth::store::insert_audit(
            &mut *tx,
            Some(reader.user.id),
            "macro.create",
            &format!("macro:{}", saved.id),
            audit_detail(&saved),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(reader.with_can_edit(saved))
}

/// Changes a macro the reader may manage, both as it was and as it becomes.
pub async fn update(db: &Db, reader: &Reader, id: i64, c: MacroChanges) -> AppResult<Macro> {
    let cur = get(db, reader, id).await?;
    if !cur.can_edit {
        return Err(AppError::Forbidden);
    }
    let scope = c.scope.clone().unwrap_or_else(|| cur.scope.clone());
    // A macro made personal keeps its owner, or becomes the reader's.
    let owner_id = match scope.as_str() {
        "personal" => cur.owner_id.or(Some(reader.user.id)),
        _ => None,
    };
    let queue_id = match c.queue_id {
        Some(q) => q,
        None if scope == "personal" => None,
        None => cur.queue_id,
    };
    let m = check(
        db,
        NewMacro {
            title: c.title.unwrap_or_else(|| cur.title.clone()),
            body: c.body.unwrap_or_else(|| cur.body.clone()),
            language: c.language.unwrap_or_else(|| cur.language.clone()),
            scope,
            queue_id,
            actions: c.actions.unwrap_or_else(|| cur.actions.clone()),
        },
    )
    .await?;
    if !reader.may_manage(&m.scope, owner_id, m.queue_id) {
        return Err(AppError::Forbidden);
    }
    let mut tx = db.begin().await?;
    let saved: Macro = tx
        .row(
            &format!(
                "UPDATE macros SET title = $2, body = $3, language = $4, scope = $5, \
                 owner_id = $6, queue_id = $7, actions = $8, updated_at = $9 WHERE id = $1 \
                 RETURNING {COLUMNS}"
            ),
            vec![
                id.into(),
                m.title.into(),
                m.body.into(),
                m.language.into(),
                m.scope.into(),
                owner_id.into(),
                m.queue_id.into(),
                actions_json(&m.actions).into(),
                now_ms().into(),
            ],
        )
        .await?
        .ok_or(AppError::NotFound("macro"))?;
    if cur.scope == "shared" || saved.scope == "shared" {
        crate::auth::store::insert_audit(
            &mut *tx,
            Some(reader.user.id),
            "macro.update",
            &format!("macro:{id}"),
            json!({"from": audit_detail(&cur), "to": audit_detail(&saved)}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(reader.with_can_edit(saved))
}

/// Deletes a macro the reader may manage.
pub async fn delete(db: &Db, reader: &Reader, id: i64) -> AppResult<()> {
    let cur = get(db, reader, id).await?;
    if !cur.can_edit {
        return Err(AppError::Forbidden);
    }
    let mut tx = db.begin().await?;
    tx.run("DELETE FROM macros WHERE id = $1", vec![id.into()])
        .await?;
    if cur.scope == "shared" {
        crate::auth::store::insert_audit(
            &mut *tx,
            Some(reader.user.id),
            "macro.delete",
            &format!("macro:{id}"),
            audit_detail(&cur),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Chinese surnames of two characters (the common ones); any other Chinese name's surname is
/// its first character.
const COMPOUND_SURNAMES: [&str; 20] = [
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "长孙",
    "宇文", "司徒", "端木", "轩辕", "独孤", "南宫", "西门", "申屠",
];

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}')
}

/// How a customer is addressed: a Chinese name as 王先生 / 王女士, another as Mr Smith /
/// Ms Smith (the last word of the name) when the title (`mr`, `ms`) is known; else the name.
pub fn honorific(name: &str, title: Option<&str>) -> String {
    let name = name.trim();
    let Some(title) = title.filter(|t| *t == "mr" || *t == "ms") else {
        return name.to_string();
    };
    if name.chars().next().is_some_and(is_cjk) {
        let surname = COMPOUND_SURNAMES
            .iter()
            .find(|s| name.starts_with(*s) && name.chars().count() > 2)
            .map(|s| s.to_string())
            .unwrap_or_else(|| name.chars().take(1).collect());
        let word = if title == "mr" { "先生" } else { "女士" };
        return format!("{surname}{word}");
    }
    match name.split_whitespace().last() {
        Some(last) => format!("{} {last}", if title == "mr" { "Mr" } else { "Ms" }),
        None => String::new(),
    }
}

/// The macro language for a customer's language (`zh`, `zh-CN`, `zh-Hans` → `zh-CN`; `en…` →
/// `en`); none when not known.
pub fn language_of(customer_language: Option<&str>) -> Option<&'static str> {
    let l = customer_language?.trim().to_ascii_lowercase();
    if l.starts_with("zh") {
        Some("zh-CN")
    } else if l.starts_with("en") {
        Some("en")
    } else {
        None
    }
}

/// The values of the placeholders for `ticket` answered by `agent`.
pub async fn values(
    db: &Db,
    ticket: &Ticket,
    agent: &User,
) -> AppResult<Vec<(&'static str, String)>> {
    let customer = match ticket.customer_id {
        Some(id) => Some(crate::customers::store::find_customer(db, id).await?),
        None => None,
    };
    let (name, honor) = match &customer {
        Some(c) => (
            c.display_name.clone(),
            honorific(&c.display_name, c.title.as_deref()),
        ),
        None => (String::new(), String::new()),
    };
    Ok(vec![
        ("customer.name", name),
        ("customer.honorific", honor),
        ("ticket.number", ticket.id.to_string()),
        ("ticket.subject", ticket.subject.clone()),
        ("agent.name", agent.display_name.clone()),
    ])
}

/// A macro applied to a ticket.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Applied {
    /// The body with its placeholders filled in.
    pub text: String,
    /// The actions that changed the ticket (those it already matched are left out).
    pub applied: Actions,
    /// Nothing was changed (`dry_run`).
    pub dry_run: bool,
    /// The ticket afterwards.
    pub ticket: Ticket,
}

/// Renders macro `id` for `ticket_id` and carries out its actions (unless `dry_run`). The
/// ticket must be one the reader may open, the macro one they may use.
pub async fn apply(
    db: &Db,
    reader: &Reader,
    id: i64,
    ticket_id: i64,
    dry_run: bool,
) -> AppResult<Applied> {
    let m = find(db, id).await?;
    if !reader.may_use(&m) {
        return Err(AppError::NotFound("macro"));
    }
    let ticket = crate::tickets::store::find_ticket(&mut &*db, ticket_id).await?;
    if !crate::tickets::store::visibility(db, &reader.user)
        .await?
        .sees_ticket(&ticket)
    {
        return Err(AppError::NotFound("ticket"));
    }
    let text = crate::placeholders::render(&m.body, &values(db, &ticket, &reader.user).await?);
    let a = &m.actions;
    let mut applied = Actions::default();
    let mut changes = TicketChanges::default();
    if let Some(s) = a.status.as_deref().and_then(Status::parse)
        && s != ticket.status
    {
        changes.status = Some(s);
        applied.status = Some(s.as_str().to_string());
    }
    if let Some(p) = a.priority.as_deref().and_then(Priority::parse)
        && p != ticket.priority
    {
        changes.priority = Some(p);
        applied.priority = Some(p.as_str().to_string());
    }
    let new_tags: Vec<String> = a
        .add_tags
        .iter()
        .filter(|t| !ticket.tags.contains(t))
        .cloned()
        .collect();
    if !new_tags.is_empty() {
        changes.tags = Some(ticket.tags.iter().chain(&new_tags).cloned().collect());
        applied.add_tags = new_tags;
    }
    if let Some(q) = a.queue_id
        && Some(q) != ticket.queue_id
    {
        changes.queue_id = Some(Some(q));
        applied.queue_id = Some(q);
    }
    if dry_run || applied.is_empty() {
        return Ok(Applied {
            text,
            applied,
            dry_run,
            ticket,
        });
    }
    let mut tx = db.begin().await?;
    let (_, after) = crate::tickets::store::update_ticket(
        &mut tx,
        db,
        ticket_id,
        &changes,
        Some(reader.user.id),
    )
    .await?;
    crate::realtime::events::commit(tx).await?;
    Ok(Applied {
        text,
        applied,
        dry_run,
        ticket: after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honorifics() {
        assert_eq!(honorific("王伟", Some("mr")), "王先生");
        assert_eq!(honorific("王芳", Some("ms")), "王女士");
        assert_eq!(honorific("欧阳娜娜", Some("ms")), "欧阳女士");
        assert_eq!(honorific("王芳", None), "王芳");
        assert_eq!(honorific("John Smith", Some("mr")), "Mr Smith");
        assert_eq!(honorific("Jane Smith", Some("ms")), "Ms Smith");
        assert_eq!(honorific("Jane Smith", None), "Jane Smith");
        assert_eq!(language_of(Some("zh")), Some("zh-CN"));
        assert_eq!(language_of(Some("en-GB")), Some("en"));
        assert_eq!(language_of(None), None);
    }
}
