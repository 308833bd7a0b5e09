//! Bearer-token authentication for every API route, and the scope and team checks handlers make.
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::tokens::{Principal, Scope};

/// Answer 401 unless the request carries a valid, unrevoked token; otherwise hand the token's
/// [`Principal`] to the handler (as a request extension).
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(presented) = presented else {
        return ApiError::unauthorized(
            "send `Authorization: Bearer TOKEN`; create a token with `costmill tokens create`",
        )
        .into_response();
    };
    match state.tokens.verify(presented).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Ok(None) => ApiError::unauthorized("unknown or revoked token").into_response(),
        Err(e) => ApiError::unavailable(format!("{e:#}")).into_response(),
    }
}

impl Principal {
    /// 403 unless the token's scope covers `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs a token with scope `{}`; token `{}` has `{}`",
                needed.as_str(),
                self.name,
                self.scope.as_str()
            )))
        }
    }

    /// 403 for a token limited to teams: `what` is org-wide data.
    pub fn require_all_teams(&self, what: &str) -> Result<(), ApiError> {
        if self.team_limited() {
            Err(ApiError::forbidden(format!(
                "{what} is not split by team; token `{}` may only see teams {}",
                self.name,
                self.teams.join(", ")
            )))
        } else {
            Ok(())
        }
    }

    /// The teams a query must be limited to: the requested ones, which must all be visible to
    /// the token (403 otherwise); none requested: every team the token sees (empty = all).
    pub fn team_filter(&self, requested: &[String]) -> Result<Vec<String>, ApiError> {
        if let Some(hidden) = requested.iter().find(|t| !self.sees_team(t)) {
            return Err(ApiError::forbidden(format!(
                "token `{}` may not see team `{hidden}`",
                self.name
            )));
        }
        Ok(if requested.is_empty() {
            self.teams.clone()
        } else {
            requested.to_vec()
        })
    }
}
