//! Learning from answered tickets: an article inserted into a reply answered the customer's
//! question on that ticket, so that question (in the customer's words) is proposed as a similar
//! question (相似问法) of the article. Admins review the proposals: an accepted one (as
//! proposed, or reworded) joins the article's `questions` in a new version and is searched at
//! once; a rejected one is kept so that it is not proposed again.

use super::routes::refresh_index;
use super::store::{self, Origin};
use super::{Article, ArticleDraft};
use crate::app::AppState;
use crate::db::{Db, Exec, FromRow, ReadRow, now_ms};
use crate::error::{AppError, AppResult};
use crate::http::extract::{AuthUser, Json, Path, Query};
use crate::http::{Access, Routes};
use crate::tickets::{Direction, Interaction};
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

/// The longest proposed question (characters); a longer message is cut at a sentence end.
pub const QUESTION_MAX: usize = 120;
/// Shorter than this is no question worth learning ("hi", "?").
const QUESTION_MIN: usize = 4;

/// The customer's question on a ticket: the first sentence(s) of their first message, up to
/// `QUESTION_MAX` characters (cut after 。？！?! or a line break), quoted replies left out;
/// the subject when the message has no text. None when it is too short.
pub fn question_of(subject: &str, interactions: &[Interaction]) -> Option<String> {
    let first = interactions
        .iter()
        .find(|i| i.direction == Direction::In && !i.body.trim().is_empty());
    let text = match first {
        Some(i) => i
            .body
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('>'))
            .take_while(|l| !(l.starts_with("On ") && l.ends_with("wrote:")))
            .collect::<Vec<_>>()
            .join(" "),
        None => subject.trim().to_string(),
    };
    let mut out = String::new();
    for c in text.chars() {
        if out.chars().count() >= QUESTION_MAX {
            break;
        }
        out.push(c);
        if matches!(c, '。' | '？' | '！' | '?' | '!') && out.chars().count() >= 8 {
            break;
        }
    }
    let out = out.trim().to_string();
    (out.chars().count() >= QUESTION_MIN).then_some(out)
}

/// Proposes the customer's question of `ticket_id` for `article` (after an insertion by
/// `by`), unless the article has it already (as a question or its title) or it was proposed
/// before. Returns whether a proposal was made.
pub async fn propose(db: &Db, article: &Article, ticket_id: i64, by: i64) -> AppResult<bool> {
    let ticket = crate::tickets::store::find_ticket(&mut &*db, ticket_id).await?;
    let interactions = crate::tickets::store::list_interactions(db, ticket_id).await?;
    let Some(q) = question_of(&ticket.subject, &interactions) else {
        return Ok(false);
    };
    let known = |s: &str| s.trim().eq_ignore_ascii_case(&q);
    if known(&article.title) || article.questions.iter().any(|x| known(x)) {
        return Ok(false);
    }
    let mut tx = db.begin().await?;
    let n = tx
        .run(
            "INSERT INTO kb_question_proposals (article_id, ticket_id, question, proposed_by, \
             created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            vec![
                article.id.into(),
                ticket_id.into(),
                q.as_str().into(),
                by.into(),
                now_ms().into(),
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(n == 1)
}

/// A proposal as the review list shows it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Proposal {
    pub id: i64,
    pub article_id: i64,
    pub article_title: String,
    pub article_lang: String,
    pub ticket_id: Option<i64>,
    pub question: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    pub proposed_by: Option<i64>,
    pub decided_by: Option<i64>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

impl FromRow for Proposal {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Proposal {
            id: r.try_get("id")?,
            article_id: r.try_get("article_id")?,
            article_title: r.try_get("article_title")?,
            article_lang: r.try_get("article_lang")?,
            ticket_id: r.try_get("ticket_id")?,
            question: r.try_get("question")?,
            status: r.try_get("status")?,
            proposed_by: r.try_get("proposed_by")?,
            decided_by: r.try_get("decided_by")?,
            created_at: r.try_get("created_at")?,
            decided_at: r.try_get("decided_at")?,
        })
    }
}

const SELECT: &str = "SELECT p.id, p.article_id, a.title AS article_title, a.lang AS article_lang, \
     p.ticket_id, p.question, p.status, p.proposed_by, p.decided_by, p.created_at, p.decided_at \
     FROM kb_question_proposals p JOIN articles a ON a.id = p.article_id";

pub async fn list<E: Exec>(exec: &mut E, status: &str, limit: i64) -> AppResult<Vec<Proposal>> {
    let sql = format!("{SELECT} WHERE p.status = $1 ORDER BY p.id DESC LIMIT $2");
    exec.rows(&sql, vec![status.into(), limit.into()]).await
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/kb/proposals",
        "kb",
        Access::Admin,
        "Similar questions learnt from answered tickets, to review (`status`: pending (default), \
         accepted, rejected), newest first",
        get(list_proposals),
    )
    .query::<ListQuery>()
    .returns::<Vec<Proposal>>(200)
    .add(
        "POST",
        "/api/kb/proposals/{id}/accept",
        "kb",
        Access::Admin,
        "Accept a proposal (`{}`, or reworded: `{\"question\"}`): it joins the article's similar \
         questions in a new version, searched at once; 409 `conflict` when already decided",
        post(accept),
    )
    .body::<AcceptBody>()
    .returns::<Proposal>(200)
    .add(
        "POST",
        "/api/kb/proposals/{id}/reject",
        "kb",
        Access::Admin,
        "Reject a proposal (kept, so it is not proposed again); 409 `conflict` when already decided",
        post(reject),
    )
    .no_body()
    .returns::<Proposal>(200)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    status: Option<String>,
}

async fn list_proposals(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> AppResult<axum::Json<Vec<Proposal>>> {
    let status = q.status.as_deref().unwrap_or("pending");
    if !["pending", "accepted", "rejected"].contains(&status) {
        return Err(AppError::validation(
            "status",
            "status must be pending, accepted or rejected",
        ));
    }
    Ok(axum::Json(list(&mut &state.db, status, 500).await?))
}

async fn find(db: &Db, id: i64) -> AppResult<Proposal> {
    let sql = format!("{SELECT} WHERE p.id = $1");
    let mut db = db;
    db.row(&sql, vec![id.into()])
        .await?
        .ok_or(AppError::NotFound("proposal"))
}

#[derive(Default, Deserialize, schemars::JsonSchema)]
struct AcceptBody {
    /// The wording to add instead of the proposed one.
    #[serde(default)]
    question: Option<String>,
}

async fn accept(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<AcceptBody>,
) -> AppResult<axum::Json<Proposal>> {
    let p = find(&state.db, id).await?;
    if p.status != "pending" {
        return Err(AppError::Conflict(format!("this proposal is {}", p.status)));
    }
    let wording = b
        .question
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .unwrap_or(p.question.clone());
    if wording.chars().count() > 200 {
        return Err(AppError::validation(
            "question",
            "question must be at most 200 characters",
        ));
    }
    let mut tx = state.db.begin().await?;
    let a = store::find_article(&mut *tx, p.article_id).await?;
    let mut questions = a.questions.clone();
    if !questions.iter().any(|q| q.eq_ignore_ascii_case(&wording)) {
        questions.push(wording);
    }
    let draft = ArticleDraft {
        slug: a.slug.clone(),
        lang: a.lang.clone(),
        category: a.category.clone(),
        title: a.title.clone(),
        body: a.body.clone(),
        tags: a.tags.clone(),
        questions,
        audience: a.audience,
        translation_of: a.translation_of.clone(),
    };
    draft
        .validate()
        .map_err(|(field, message)| AppError::validation(field, message))?;
    let origin = Origin {
        edited_by: Some(user.id),
        ..Origin::default()
    };
    let updated = store::update_article(&mut tx, &state.db, a.id, &draft, &origin, true).await?;
    decide(&mut tx, id, "accepted", user.id).await?;
    crate::realtime::events::commit(tx).await?;
    refresh_index(&state.kb, vec![updated]).await;
    Ok(axum::Json(find(&state.db, id).await?))
}

async fn reject(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Proposal>> {
    let p = find(&state.db, id).await?;
    if p.status != "pending" {
        return Err(AppError::Conflict(format!("this proposal is {}", p.status)));
    }
    let mut tx = state.db.begin().await?;
    decide(&mut tx, id, "rejected", user.id).await?;
    tx.commit().await?;
    Ok(axum::Json(find(&state.db, id).await?))
}

/// Marks a pending proposal decided; a proposal decided meanwhile is a conflict.
async fn decide<E: Exec>(tx: &mut E, id: i64, status: &str, by: i64) -> AppResult<()> {
    let n = tx
        .run(
            "UPDATE kb_question_proposals SET status = $2, decided_by = $3, decided_at = $4 \
             WHERE id = $1 AND status = 'pending'",
            vec![id.into(), status.into(), by.into(), now_ms().into()],
        )
        .await?;
    if n != 1 {
        return Err(AppError::Conflict(
            "this proposal was decided already".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::Channel;

    fn msg(direction: Direction, body: &str) -> Interaction {
        Interaction {
            id: 1,
            ticket_id: 1,
            customer_id: None,
            channel: Channel::Sms,
            direction,
            from_addr: String::new(),
            to_addr: String::new(),
            subject: String::new(),
            body: body.into(),
            external_id: None,
            author_id: None,
            meta: serde_json::json!({}),
            created_at: 0,
        }
    }

    #[test]
    fn the_question_is_the_customers_first_sentence() {
        let thread = [
            msg(Direction::Out, "您好"),
            msg(
                Direction::In,
                "我的快递三天了还没到，怎么办？订单号 SF123\n> 以前的邮件",
            ),
        ];
        assert_eq!(
            question_of("", &thread).as_deref(),
            Some("我的快递三天了还没到，怎么办？")
        );
        let long = "a".repeat(500);
        assert_eq!(
            question_of("", &[msg(Direction::In, &long)]).unwrap().len(),
            QUESTION_MAX
        );
        assert_eq!(question_of("hi", &[]), None);
        assert_eq!(
            question_of("Charged twice for one order", &[]).as_deref(),
            Some("Charged twice for one order")
        );
    }
}
