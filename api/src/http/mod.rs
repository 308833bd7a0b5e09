//! The HTTP side of `costmill serve`: /healthz and /readyz for probes, and the REST API under
//! `/v1` with its OpenAPI document at `/v1/openapi.json`, and Prometheus `/metrics`.
//!
//! Every route but the two probes needs a bearer token (`costmill tokens create`): the
//! [`auth::require_token`] layer answers 401 before any handler runs, so a new route cannot be
//! left open. Each handler then checks the scope it needs and the teams the token may see (403).
//! Routes are registered through `utoipa_axum`, so the OpenAPI document lists exactly the routes
//! that exist.
mod auth;
mod cache;
mod costs;
mod error;
pub(crate) mod migrations;
mod openapi;
mod paging;
mod resources;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use axum::Router;
use queries::Store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use cache::{Admission, ResponseCache};
pub use error::ApiError;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::tokens::TokenCache;

/// What the HTTP routes see.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// False once shutdown began: /readyz then answers 503 so a load balancer drains us.
    pub accepting: Arc<AtomicBool>,
    pub metrics: Metrics,
    pub tokens: TokenCache,
    pub config: Arc<Config>,
    pub cache: ResponseCache,
    pub admission: Admission,
}

impl AppState {
    pub fn new(store: Store, config: Arc<Config>, metrics: Metrics) -> AppState {
        // A query past its time is stopped by ClickHouse, not left running for nobody.
        let store = store.with_setting(
            "max_execution_time",
            &config.serve.api_query_timeout_secs.to_string(),
        );
        AppState {
            tokens: TokenCache::new(store.clone()),
            cache: ResponseCache::new(store.clone(), &config.serve),
            admission: Admission::new(&config.serve),
            store,
            accepting: Arc::new(AtomicBool::new(true)),
            metrics,
            config,
        }
    }
}

/// The API routes and their OpenAPI document, built together.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(costs::costs))
        .routes(routes!(resources::allocations))
        .routes(routes!(resources::explain))
        .routes(routes!(resources::sources))
        .routes(routes!(resources::recommendations))
        .routes(routes!(migrations::migrations))
        .routes(routes!(migrations::migration_detail))
        .routes(routes!(migrations::approve_migration))
        .routes(routes!(migrations::rollback_migration))
        .routes(routes!(resources::alerts))
        .routes(routes!(resources::acknowledge_alert))
        .routes(routes!(resources::budgets))
        .routes(routes!(resources::export_focus))
        .routes(routes!(resources::metrics))
        .routes(routes!(openapi::document))
        .split_for_parts()
}

/// The router every HTTP feature mounts on.
pub fn router(state: AppState) -> Router {
    let (api, document) = api();
    // Outermost last: the token is checked first, then the cache answers, then a request
    // waits for its turn to query.
    let api = api
        .layer(axum::Extension(Arc::new(document)))
        .route_layer(middleware::from_fn_with_state(state.clone(), cache::admit))
        .route_layer(middleware::from_fn_with_state(state.clone(), cache::cached))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(api)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track_http,
        ))
        .with_state(state)
}

/// Ready: not shutting down, and ClickHouse answers.
async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if !state.accepting.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("ClickHouse: {e}\n"),
        ),
    }
}
