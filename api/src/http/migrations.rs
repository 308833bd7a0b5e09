//! `/v1/migrations`: workload migrations proposed by the optimizer, their audit trail, and the
//! two actions people take on them: approve, roll back (scope `migrate`).
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use optimizer::migration::{self, Action, EventRow, Filter, MigrationError, MigrationRow, Status};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::paging::{self, answer, list, Format, Page, Window};
use super::{ApiError, AppState};
use crate::tokens::{Principal, Scope};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MigrationsQuery {
    /// Comma-separated: proposed, approved, applied, failed, rollback_requested, rolled_back,
    /// rejected. Default: all.
    status: Option<String>,
    /// Comma-separated teams (within the token's).
    team: Option<String>,
    #[param(inline)]
    format: Option<Format>,
    /// 1 to 10000, default 1000.
    page_size: Option<u64>,
    /// `next_page_token` of the previous page.
    page_token: Option<String>,
}

/// A workload migration and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct Migration {
    pub id: String,
    pub created_at: String,
    pub created_by: String,
    /// kubernetes, slurm or skypilot.
    pub kind: String,
    pub workload: String,
    pub team: String,
    pub service: String,
    pub env: String,
    pub from_placement: String,
    pub to_placement: String,
    /// Net saving per month (exact decimal).
    pub saving_month: String,
    pub currency: String,
    pub status: String,
    /// Empty until the first action.
    pub updated_at: String,
    pub updated_by: String,
    /// JSON text: the workload's spec before and after the move.
    pub spec_before: String,
    pub spec_after: String,
    /// JSON text: current cost rows, candidate catalog rows, assumptions.
    pub evidence: String,
}

/// One action on a migration.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub status_before: String,
    pub status_after: String,
    pub detail: String,
}

/// A migration with its audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationDetail {
    #[serde(flatten)]
    pub migration: Migration,
    /// Every action, oldest first.
    pub events: Vec<Event>,
}

/// The body of an approval or a rollback.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Why (kept in the audit trail).
    pub reason: Option<String>,
}

pub(crate) fn view(r: MigrationRow) -> Migration {
    Migration {
        id: r.id,
        created_at: crate::report::datetime(r.created_at),
        created_by: r.created_by,
        kind: r.kind,
        workload: r.workload,
        team: r.team,
        service: r.service,
        env: r.env,
        from_placement: r.from_placement,
        to_placement: r.to_placement,
        saving_month: crate::report::dec(r.saving_month).normalize().to_string(),
        currency: r.currency,
        status: r.status,
        updated_at: if r.updated_at == 0 {
            String::new()
        } else {
            crate::report::datetime(r.updated_at)
        },
        updated_by: r.updated_by,
        spec_before: r.spec_before,
        spec_after: r.spec_after,
        evidence: r.evidence,
    }
}

pub(crate) fn event(e: EventRow) -> Event {
    Event {
        at: crate::report::datetime(e.at),
        actor: e.actor,
        action: e.action,
        status_before: e.status_before,
        status_after: e.status_after,
        detail: e.detail,
    }
}

impl From<MigrationError> for ApiError {
    fn from(error: MigrationError) -> ApiError {
        match error {
            MigrationError::NotFound(_) => ApiError::not_found(error.to_string()),
            MigrationError::InvalidTransition { .. } => ApiError::conflict(error.to_string()),
            MigrationError::Store(e) => e.into(),
            other => ApiError::unavailable(other),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/migrations",
    tag = "optimizer",
    params(MigrationsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Workload migrations with their status, newest first", body = Page<Migration>),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A team outside the token's teams", body = ErrorBody),
    )
)]
pub async fn migrations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<MigrationsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let query = paging::params(query)?;
    let window = Window::parse(query.page_size, query.page_token.as_deref())?;
    let statuses = list("status", &query.status)?
        .iter()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status={s:?}: expected proposed, approved, applied, failed, rollback_requested, rolled_back or rejected"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filter = Filter {
        id: None,
        statuses,
        teams: principal.team_filter(&list("team", &query.team)?)?,
        offset: window.offset,
        limit: window.fetch(),
    };
    let rows = migration::list(&state.store, &filter).await?;
    answer(
        query.format.unwrap_or_default(),
        window.page(rows.into_iter().map(view).collect()),
    )
}

/// The migration, if the token may see its team (403 otherwise).
async fn visible(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<MigrationRow, ApiError> {
    let row = migration::get(&state.store, id).await?;
    principal.team_filter(std::slice::from_ref(&row.team))?;
    Ok(row)
}

#[utoipa::path(
    get,
    path = "/v1/migrations/{id}",
    tag = "optimizer",
    params(("id" = String, Path, description = "The migration id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The migration and its audit trail", body = MigrationDetail),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A migration of a team outside the token's teams", body = ErrorBody),
        (status = 404, description = "No such migration", body = ErrorBody),
    )
)]
pub async fn migration_detail(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<MigrationDetail>, ApiError> {
    principal.require(Scope::Read)?;
    let row = visible(&state, &principal, &id).await?;
    let events = migration::events(&state.store, &id).await?;
    Ok(Json(MigrationDetail {
        migration: view(row),
        events: events.into_iter().map(event).collect(),
    }))
}

async fn decide(
    state: AppState,
    principal: Principal,
    id: String,
    body: Option<Json<Decision>>,
    action: Action,
) -> Result<Json<Migration>, ApiError> {
    principal.require(Scope::Migrate)?;
    visible(&state, &principal, &id).await?;
    let reason = body.and_then(|Json(d)| d.reason).unwrap_or_default();
    let actor = format!("token:{}", principal.name);
    let row = migration::act(&state.store, &id, action, &actor, &reason).await?;
    Ok(Json(view(row)))
}

#[utoipa::path(
    post,
    path = "/v1/migrations/{id}/approve",
    tag = "optimizer",
    params(("id" = String, Path, description = "The migration id")),
    request_body(content = Option<Decision>, content_type = "application/json"),
    security(("bearer" = ["migrate"])),
    responses(
        (status = 200, description = "The approved migration (the executor applies it under the policy)", body = Migration),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's scope is not migrate or admin, or the migration's team is outside the token's teams", body = ErrorBody),
        (status = 404, description = "No such migration", body = ErrorBody),
        (status = 409, description = "The migration is not proposed", body = ErrorBody),
    )
)]
pub async fn approve_migration(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Option<Json<Decision>>,
) -> Result<Json<Migration>, ApiError> {
    decide(state, principal, id, body, Action::Approve).await
}

#[utoipa::path(
    post,
    path = "/v1/migrations/{id}/rollback",
    tag = "optimizer",
    params(("id" = String, Path, description = "The migration id")),
    request_body(content = Option<Decision>, content_type = "application/json"),
    security(("bearer" = ["migrate"])),
    responses(
        (status = 200, description = "The migration, rollback requested (the executor puts the workload back)", body = Migration),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's scope is not migrate or admin, or the migration's team is outside the token's teams", body = ErrorBody),
        (status = 404, description = "No such migration", body = ErrorBody),
        (status = 409, description = "The migration is not applied or failed", body = ErrorBody),
    )
)]
pub async fn rollback_migration(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Option<Json<Decision>>,
) -> Result<Json<Migration>, ApiError> {
    decide(state, principal, id, body, Action::Rollback).await
}
