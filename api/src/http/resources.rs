//! The API's other routes: allocations, explain, sources, recommendations, alerts, budgets, the
//! FOCUS export and Prometheus metrics.
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{Duration, NaiveDate, Utc};
use queries::{q, Dec18, Param};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::costs::{day_param, day_text};
use super::error::ErrorBody;
use super::paging::{self, answer, list, Format, Page, Window};
use super::{ApiError, AppState};
use crate::showback::MAX_DATETIME;
use crate::tokens::{Principal, Scope};

fn exact(value: Dec18) -> String {
    crate::report::dec(value).normalize().to_string()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AllocationsQuery {
    /// First day included, YYYY-MM or YYYY-MM-DD. Default: all data.
    from: Option<String>,
    /// First day excluded, YYYY-MM or YYYY-MM-DD. Default: all data.
    to: Option<String>,
    /// Comma-separated teams.
    team: Option<String>,
    service: Option<String>,
    env: Option<String>,
    currency: Option<String>,
    #[param(inline)]
    format: Option<Format>,
    /// 1 to 10000, default 1000.
    page_size: Option<u64>,
    page_token: Option<String>,
}

/// One allocation line: money of one day to a service, team and env, and how it got there.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationLine {
    pub day: String,
    pub service: String,
    pub team: String,
    pub env: String,
    pub currency: String,
    /// direct, pool, kubernetes, slurm or unallocated.
    pub kind: String,
    pub pool: String,
    pub method: String,
    pub cost_source: String,
    pub input_ref: String,
    pub share: String,
    pub billed: String,
    pub effective: String,
}

#[utoipa::path(
    get,
    path = "/v1/allocations",
    tag = "costs",
    params(AllocationsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "One page of allocation lines", body = Page<AllocationLine>),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A team outside the token's teams", body = ErrorBody),
    )
)]
pub async fn allocations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<AllocationsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let query = paging::params(query)?;
    let window = Window::parse(query.page_size, query.page_token.as_deref())?;
    let teams = principal.team_filter(&list("team", &query.team)?)?;
    let sql = q::api_allocations()
        .bind(
            "from",
            Param::DateTime(day_param("from", query.from.as_deref(), 0)?),
        )
        .bind(
            "to",
            Param::DateTime(day_param("to", query.to.as_deref(), MAX_DATETIME)?),
        )
        .bind("teams", Param::StrArray(teams))
        .bind(
            "services",
            Param::StrArray(list("service", &query.service)?),
        )
        .bind("envs", Param::StrArray(list("env", &query.env)?))
        .bind_str("currency", query.currency.clone().unwrap_or_default())
        .bind("offset", Param::Int(window.offset.into()))
        .bind("limit", Param::Int(window.fetch().into()));
    let rows: Vec<queries::rows::AllocationRow> = state.store.fetch_all(&sql).await?;
    let lines = rows
        .into_iter()
        .map(|r| AllocationLine {
            day: day_text(r.day),
            service: r.service,
            team: r.team,
            env: r.env,
            currency: r.currency,
            kind: r.kind,
            pool: r.pool,
            method: r.method,
            cost_source: r.cost_source,
            input_ref: r.input_ref,
            share: exact(r.share),
            billed: exact(r.billed),
            effective: exact(r.effective),
        })
        .collect();
    answer(query.format.unwrap_or_default(), window.page(lines))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// The allocated service.
    service: String,
    /// YYYY-MM.
    month: String,
}

/// Where a service's money of one month came from: one row per origin.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainLine {
    /// direct, pool, kubernetes, slurm…
    pub kind: String,
    pub pool: String,
    pub method: String,
    pub currency: String,
    pub cost_source: String,
    pub input_ref: String,
    pub days: u64,
    pub min_share: String,
    pub max_share: String,
    pub billed: String,
    pub effective: String,
}

#[utoipa::path(
    get,
    path = "/v1/explain",
    tag = "costs",
    params(ExplainQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The service's month by origin, as `costmill explain` shows it", body = [ExplainLine]),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The service has cost of a team outside the token's teams", body = ErrorBody),
        (status = 404, description = "No allocations for that service and month", body = ErrorBody),
    )
)]
pub async fn explain(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<ExplainQuery>, QueryRejection>,
) -> Result<Json<Vec<ExplainLine>>, ApiError> {
    principal.require(Scope::Read)?;
    let query = paging::params(query)?;
    let month = NaiveDate::parse_from_str(&format!("{}-01", query.month), "%Y-%m-%d")
        .ok()
        .filter(|_| query.month.len() == 7)
        .ok_or_else(|| {
            ApiError::bad_request(format!("month={:?}: expected YYYY-MM", query.month))
        })?;
    if principal.team_limited() {
        #[derive(clickhouse::Row, Deserialize)]
        struct Team {
            team: String,
        }
        let period = month
            .format("%Y%m")
            .to_string()
            .parse::<i128>()
            .expect("digits");
        let teams: Vec<Team> = state
            .store
            .fetch_all(
                &q::api_service_teams()
                    .bind_str("service", query.service.clone())
                    .bind("month", Param::Int(period)),
            )
            .await?;
        if let Some(hidden) = teams.iter().find(|t| !principal.sees_team(&t.team)) {
            return Err(ApiError::forbidden(format!(
                "service `{}` has cost of team `{}` in {}, which token `{}` may not see",
                query.service, hidden.team, query.month, principal.name
            )));
        }
    }
    let rows = crate::showback::explain_rows(&state.store, &query.service, &query.month)
        .await
        .map_err(|e| ApiError::not_found(format!("{e:#}")))?;
    Ok(Json(
        rows.into_iter()
            .map(|r| ExplainLine {
                kind: r.kind,
                pool: r.pool,
                method: r.method,
                currency: r.currency,
                cost_source: r.cost_source,
                input_ref: r.input_ref,
                days: r.days,
                min_share: exact(r.min_share),
                max_share: exact(r.max_share),
                billed: exact(r.billed),
                effective: exact(r.effective),
            })
            .collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/sources",
    tag = "operations",
    security(("bearer" = ["read:all-teams"])),
    responses(
        (status = 200, description = "Per source: schedule, last run, lag, rows, last error", body = [crate::status::StatusOut]),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token is limited to teams", body = ErrorBody),
    )
)]
pub async fn sources(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Vec<crate::status::StatusOut>>, ApiError> {
    principal.require(Scope::Read)?;
    principal.require_all_teams("source status")?;
    crate::status::statuses(&state.store, &state.config)
        .await
        .map(Json)
        .map_err(|e| ApiError::unavailable(format!("{e:#}")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecommendationsQuery {
    /// spot, rightsize… Default: every kind.
    kind: Option<String>,
    /// Comma-separated teams.
    team: Option<String>,
    #[param(inline)]
    format: Option<Format>,
    page_size: Option<u64>,
    page_token: Option<String>,
}

/// An optimizer recommendation with its monthly saving.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recommendation {
    pub id: String,
    pub kind: String,
    pub workload: String,
    pub team: String,
    pub service: String,
    pub currency: String,
    pub current_monthly: String,
    pub proposed_monthly: String,
    pub saving_monthly: String,
    pub summary: String,
    /// JSON text: current cost rows, candidate catalog rows, assumptions.
    pub evidence: String,
    pub computed_at: String,
}

#[utoipa::path(
    get,
    path = "/v1/recommendations",
    tag = "optimizer",
    params(RecommendationsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The latest recommendations, biggest saving first", body = Page<Recommendation>),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A team outside the token's teams", body = ErrorBody),
    )
)]
pub async fn recommendations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<RecommendationsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let query = paging::params(query)?;
    let window = Window::parse(query.page_size, query.page_token.as_deref())?;
    let teams = principal.team_filter(&list("team", &query.team)?)?;
    let rows: Vec<queries::rows::RecommendationRow> = state
        .store
        .fetch_all(
            &q::api_recommendations()
                .bind_str("kind", query.kind.clone().unwrap_or_default())
                .bind("teams", Param::StrArray(teams))
                .bind("offset", Param::Int(window.offset.into()))
                .bind("limit", Param::Int(window.fetch().into())),
        )
        .await?;
    let out = rows
        .into_iter()
        .map(|r| Recommendation {
            id: r.id,
            kind: r.kind,
            workload: r.workload,
            team: r.team,
            service: r.service,
            currency: r.currency,
            current_monthly: exact(r.current_monthly),
            proposed_monthly: exact(r.proposed_monthly),
            saving_monthly: exact(r.saving_monthly),
            summary: r.summary,
            evidence: r.evidence,
            computed_at: crate::report::datetime(r.computed_at),
        })
        .collect();
    answer(query.format.unwrap_or_default(), window.page(out))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Comma-separated: open, acknowledged, resolved. Default: open,acknowledged.
    state: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    params(AlertsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Alerts, newest first (as `costmill alerts list --format json`). A token limited to teams sees the alerts of its teams: team series, services its teams pay most of, and its teams' budgets"),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn alerts(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<AlertsQuery>, QueryRejection>,
) -> Result<Json<Vec<alerts::Alert>>, ApiError> {
    principal.require(Scope::Read)?;
    let query = paging::params(query)?;
    let states = match &query.state {
        None => vec![alerts::AlertState::Open, alerts::AlertState::Acknowledged],
        Some(_) => list("state", &query.state)?
            .iter()
            .map(|s| {
                alerts::AlertState::parse(s).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "state={s:?}: expected open, acknowledged or resolved"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let all = alerts::store::list(&state.store, &states)
        .await
        .map_err(ApiError::unavailable)?;
    if !principal.team_limited() {
        return Ok(Json(all));
    }
    let owners =
        alerts::store::service_owners(&state.store, Utc::now().date_naive() - Duration::days(35))
            .await
            .map_err(ApiError::unavailable)?;
    let visible = |a: &alerts::Alert| match a.dimension.as_str() {
        "team" => principal.sees_team(&a.key),
        "service" => owners.get(&a.key).is_some_and(|t| principal.sees_team(t)),
        "budget" => state
            .config
            .budgets
            .iter()
            .find(|b| b.name == a.key)
            .and_then(|b| b.team.as_deref())
            .is_some_and(|t| principal.sees_team(t)),
        _ => false,
    };
    Ok(Json(all.into_iter().filter(|a| visible(a)).collect()))
}

/// The body of an acknowledgement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledge {
    /// Who acknowledges. Default: the token's name.
    pub by: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/ack",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert id")),
    request_body(content = Option<Acknowledge>, content_type = "application/json"),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The acknowledged alert"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's scope is not admin", body = ErrorBody),
        (status = 404, description = "No such alert", body = ErrorBody),
    )
)]
pub async fn acknowledge_alert(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Option<Json<Acknowledge>>,
) -> Result<Json<alerts::Alert>, ApiError> {
    principal.require(Scope::Admin)?;
    let by = body
        .and_then(|Json(b)| b.by)
        .unwrap_or_else(|| format!("token:{}", principal.name));
    match alerts::store::get(&state.store, &id).await {
        Ok(_) => {}
        Err(alerts::AlertError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ApiError::not_found(e.to_string())),
    }
    alerts::store::acknowledge(&state.store, &id, &by)
        .await
        .map(Json)
        .map_err(ApiError::unavailable)
}

#[utoipa::path(
    get,
    path = "/v1/budgets",
    tag = "alerts",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Every [[budgets]] entry: actual and month-end forecast (as `costmill budgets --format json`). A token limited to teams sees its teams' budgets"),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn budgets(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Vec<alerts::budget::BudgetStatus>>, ApiError> {
    principal.require(Scope::Read)?;
    let visible: Vec<_> = state
        .config
        .budgets
        .iter()
        .filter(|b| {
            !principal.team_limited() || b.team.as_deref().is_some_and(|t| principal.sees_team(t))
        })
        .cloned()
        .collect();
    // Reading, not checking: a GET writes nothing to budget_status.
    alerts::budget::status_of(&state.store, &visible, Utc::now().date_naive())
        .await
        .map(Json)
        .map_err(ApiError::unavailable)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// First day included, YYYY-MM or YYYY-MM-DD.
    from: String,
    /// First day excluded, YYYY-MM or YYYY-MM-DD.
    to: String,
    #[param(inline)]
    format: Option<crate::export::ExportFormat>,
    /// Comma-separated teams. Default: every team the token sees.
    team: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/export/focus",
    tag = "costs",
    params(ExportQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Allocated cost as FOCUS 1.2 rows with x_Team, x_Service, x_Env, x_AllocationMethod (CSV or Parquet)"),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A team outside the token's teams", body = ErrorBody),
    )
)]
pub async fn export_focus(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let query = paging::params(query)?;
    let day = |name: &str, text: &str| {
        day_param(name, Some(text), 0).map(|t| {
            chrono::DateTime::from_timestamp(t, 0)
                .expect("a parsed day")
                .date_naive()
        })
    };
    let (from, to) = (day("from", &query.from)?, day("to", &query.to)?);
    if from >= to {
        return Err(ApiError::bad_request("from must be before to"));
    }
    let teams = principal.team_filter(&list("team", &query.team)?)?;
    let format = query.format.unwrap_or(crate::export::ExportFormat::Csv);
    let bytes = crate::export::focus_export(
        &state.store,
        from,
        to,
        (!teams.is_empty()).then_some(teams.as_slice()),
        format,
    )
    .await
    .map_err(|e| ApiError::unavailable(format!("{e:#}")))?;
    Ok((
        [(header::CONTENT_TYPE, crate::export::content_type(format))],
        bytes,
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(("bearer" = ["read:all-teams"])),
    responses(
        (status = 200, description = "Prometheus text exposition: source runs, rows, durations, errors, lag; HTTP latency; cost of the current month per team and service", content_type = "application/openmetrics-text"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token is limited to teams", body = ErrorBody),
    )
)]
pub async fn metrics(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    principal.require_all_teams("the metrics of every team")?;
    let text = state.metrics.render(&state.store).await;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
