//! HTTP for the reports (supervisors see their queues, admins all): volume, service, agents,
//! complaints and the CSAT trend, each as JSON and as CSV; the rollups' rebuild (admins).

use super::views::{self, Ask, Table};
use super::{Interval, Range};
use crate::app::AppState;
use crate::error::AppResult;
use crate::http::extract::{AuthUser, Query};
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

pub fn routes(r: Routes) -> Routes {
    let r = r
        .add(
            "GET",
            "/api/reports/volume",
            "reports",
            Access::Supervisor,
            "Contacts (work entering a queue) by period, channel, queue and kind",
            get(volume),
        )
        .query::<ReportQuery>()
        .returns::<views::VolumeReport>(200)
        .add(
            "GET",
            "/api/reports/volume.csv",
            "reports",
            Access::Supervisor,
            "The volume report's table as CSV",
            get(volume_csv),
        )
        .query::<ReportQuery>()
        .returns_raw(200, "text/csv")
        .add(
            "GET",
            "/api/reports/service",
            "reports",
            Access::Supervisor,
            "Service level, ASA, AHT and abandons per period and per queue",
            get(service),
        )
        .query::<ReportQuery>()
        .returns::<views::ServiceReport>(200)
        .add(
            "GET",
            "/api/reports/service.csv",
            "reports",
            Access::Supervisor,
            "The service report's periods as CSV",
            get(service_csv),
        )
        .query::<ReportQuery>()
        .returns_raw(200, "text/csv")
        .add(
            "GET",
            "/api/reports/agents",
            "reports",
            Access::Supervisor,
            "Agent performance: handled, AHT, occupancy, time per presence state, CSAT \
             (supervisors: the members of their queues)",
            get(agents),
        )
        .query::<ReportQuery>()
        .returns::<views::AgentsReport>(200)
        .add(
            "GET",
            "/api/reports/agents.csv",
            "reports",
            Access::Supervisor,
            "The agents report as CSV",
            get(agents_csv),
        )
        .query::<ReportQuery>()
        .returns_raw(200, "text/csv")
        .add(
            "GET",
            "/api/reports/complaints",
            "reports",
            Access::Supervisor,
            "Complaints by category and severity over time, with frequency and average \
             handling time",
            get(complaints),
        )
        .query::<ReportQuery>()
        .returns::<views::ComplaintsReport>(200)
        .add(
            "GET",
            "/api/reports/complaints.csv",
            "reports",
            Access::Supervisor,
            "The complaints report (by category and severity) as CSV",
            get(complaints_csv),
        )
        .query::<ReportQuery>()
        .returns_raw(200, "text/csv")
        .add(
            "GET",
            "/api/reports/csat-trend",
            "reports",
            Access::Supervisor,
            "Satisfaction over time: answers, CSAT % (scores 4–5), average score per period",
            get(csat),
        )
        .query::<ReportQuery>()
        .returns::<views::CsatTrend>(200)
        .add(
            "GET",
            "/api/reports/csat-trend.csv",
            "reports",
            Access::Supervisor,
            "The CSAT trend as CSV",
            get(csat_csv),
        )
        .query::<ReportQuery>()
        .returns_raw(200, "text/csv");
    r.add(
        "POST",
        "/api/reports/rebuild",
        "reports",
        Access::Admin,
        "Rebuild the report rollups from the raw tables (audited)",
        post(rebuild),
    )
    .no_body()
    .returns::<Rebuilt>(200)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReportQuery {
    /// First day (YYYY-MM-DD) in the center's time zone.
    from: String,
    /// Last day (YYYY-MM-DD), inclusive.
    to: String,
    /// 15m, hour or day (default).
    interval: Option<String>,
    /// Only this queue.
    queue: Option<i64>,
}

async fn ask<'a>(
    state: &'a AppState,
    user: &crate::auth::User,
    q: &ReportQuery,
) -> AppResult<Ask<'a>> {
    let range = Range::parse(&state.time_zone, &q.from, &q.to)?;
    let interval = Interval::parse(q.interval.as_deref().unwrap_or("day"))?;
    let scope = super::scope_for(&state.db, user, q.queue).await?;
    Ok(Ask {
        db: &state.db,
        tz: &state.time_zone,
        range,
        interval,
        scope,
    })
}

fn csv_response(t: &Table) -> AppResult<Response> {
    let body = views::csv(t)?;
    let disposition = format!("attachment; filename=\"{}.csv\"", t.name);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

async fn volume(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<axum::Json<views::VolumeReport>> {
    let a = ask(&state, &user, &q).await?;
    Ok(axum::Json(views::volume(&a).await?))
}

async fn volume_csv(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let a = ask(&state, &user, &q).await?;
    let names = super::store::names(&state.db).await?;
    csv_response(&views::volume_table(&a, &names).await?)
}

async fn service(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<axum::Json<views::ServiceReport>> {
    let a = ask(&state, &user, &q).await?;
    let names = super::store::names(&state.db).await?;
    Ok(axum::Json(views::service(&a, &names).await?))
}

async fn service_csv(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let a = ask(&state, &user, &q).await?;
    let names = super::store::names(&state.db).await?;
    csv_response(&views::service(&a, &names).await?.table())
}

async fn agents_of(
    state: &AppState,
    user: &crate::auth::User,
    q: &ReportQuery,
) -> AppResult<views::AgentsReport> {
    let a = ask(state, user, q).await?;
    let names = super::store::names(&state.db).await?;
    let members = match &a.scope {
        None => None,
        Some(queues) => Some(super::store::members(&state.db, queues).await?),
    };
    views::agents(&a, &names, members.as_ref()).await
}

async fn agents(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<axum::Json<views::AgentsReport>> {
    Ok(axum::Json(agents_of(&state, &user, &q).await?))
}

async fn agents_csv(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    csv_response(&agents_of(&state, &user, &q).await?.table())
}

async fn complaints(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<axum::Json<views::ComplaintsReport>> {
    let a = ask(&state, &user, &q).await?;
    let names = super::store::names(&state.db).await?;
    Ok(axum::Json(views::complaints(&a, &names).await?))
}

async fn complaints_csv(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let a = ask(&state, &user, &q).await?;
    let names = super::store::names(&state.db).await?;
    csv_response(&views::complaints(&a, &names).await?.table())
}

async fn csat(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<axum::Json<views::CsatTrend>> {
    let a = ask(&state, &user, &q).await?;
    Ok(axum::Json(views::csat(&a).await?))
}

async fn csat_csv(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let a = ask(&state, &user, &q).await?;
    csv_response(&views::csat(&a).await?.table())
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Rebuilt {
    /// Tickets whose rows were counted.
    pub tickets: usize,
}

async fn rebuild(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> AppResult<axum::Json<Rebuilt>> {
    let tickets = super::store::rebuild(&state.db).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "reports.rebuild",
        "reports",
        serde_json::json!({"tickets": tickets}),
    )
    .await?;
    Ok(axum::Json(Rebuilt { tickets }))
}
