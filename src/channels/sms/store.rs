//! SQL for SMS opt-outs and for the delivery state of outbound SMS interactions.

use crate::db::{Db, Exec, now_ms};
use crate::error::{AppError, AppResult};
use sqlx::Row;

/// Records an opt-out, in the transaction `tx` that stores the message asking for it.
pub async fn insert_opt_out<E: Exec>(tx: &mut E, number: &str, keyword: &str) -> AppResult<()> {
    tx.run(
        "INSERT INTO sms_opt_outs (number, keyword, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (number) DO NOTHING",
        vec![number.into(), keyword.into(), now_ms().into()],
    )
    .await?;
    Ok(())
}

/// Removes an opt-out (START), in the transaction `tx` that stores the message.
pub async fn delete_opt_out<E: Exec>(tx: &mut E, number: &str) -> AppResult<()> {
    tx.run(
        "DELETE FROM sms_opt_outs WHERE number = $1",
        vec![number.into()],
    )
    .await?;
    Ok(())
}

/// Refuses an outbound SMS to a number that opted out (422 `unprocessable`): every route that
/// queues one asks this before, and the sender asks again before sending.
pub async fn ensure_may_text<'e, E>(exec: E, number: &str) -> AppResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if is_opted_out(exec, number).await? {
        return Err(AppError::Unprocessable(format!(
            "{number} opted out of SMS (texted STOP); it must text START before we may write"
        )));
    }
    Ok(())
}

pub async fn is_opted_out<'e, E>(exec: E, number: &str) -> AppResult<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    Ok(
        sqlx::query("SELECT 1 AS x FROM sms_opt_outs WHERE number = $1")
            .bind(number)
            .fetch_optional(exec)
            .await?
            .is_some(),
    )
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct OptOut {
    pub number: String,
    pub keyword: String,
    pub created_at: i64,
}

pub async fn list_opt_outs(db: &Db) -> AppResult<Vec<OptOut>> {
    let rows = sqlx::query(
        "SELECT number, keyword, created_at FROM sms_opt_outs ORDER BY created_at DESC LIMIT 1000",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OptOut {
                number: r.try_get("number")?,
                keyword: r.try_get("keyword")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Merges `patch` into an outbound SMS's meta and tells the ticket's watchers
/// (`interaction.updated`), inside `tx`.
pub async fn update_delivery(
    tx: &mut crate::db::Tx<'_>,
    db: &Db,
    interaction_id: i64,
    patch: &serde_json::Value,
) -> AppResult<crate::tickets::Interaction> {
    use crate::tickets::store as tickets;
    let mut i = tickets::update_interaction_meta(tx, interaction_id, patch).await?;
    let ticket = tickets::find_ticket(&mut **tx, i.ticket_id).await?;
    i.body = i
        .body
        .chars()
        .take(crate::customers::store::PREVIEW_CHARS)
        .collect();
    crate::realtime::events::append(
        tx,
        db.backend,
        "interaction.updated",
        tickets::scope_of(&ticket),
        &serde_json::json!({ "interaction": i }),
    )
    .await?;
    Ok(i)
}

/// Records the message sid Twilio gave an outbound SMS, so status callbacks find it.
pub async fn set_external_id(
    tx: &mut crate::db::Tx<'_>,
    interaction_id: i64,
    external_id: &str,
) -> AppResult<()> {
    sqlx::query("UPDATE interactions SET external_id = $2 WHERE id = $1")
        .bind(interaction_id)
        .bind(external_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Queues an SMS for the sender (`channel = 'sms'`), inside the transaction that stored its
/// outbound interaction.
pub async fn insert_outbox(
    tx: &mut crate::db::Tx<'_>,
    ticket_id: i64,
    interaction_id: i64,
    recipient: &str,
    body: &str,
) -> AppResult<()> {
    let payload = serde_json::json!({"subject": "", "body": body, "html": null});
    crate::tickets::store::insert_outbox(
        tx,
        crate::tickets::Channel::Sms,
        ticket_id,
        Some(interaction_id),
        recipient,
        &payload,
    )
    .await
}
