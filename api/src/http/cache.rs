//! What keeps the API fast under load: answers of GET routes kept until the data changes, and a
//! bound on the requests that reach ClickHouse at once.
//!
//! **Cache.** An answer is kept under the data generation it was computed at
//! (`sql/api_data_generation.sql`: every table's rows and highest block number, which every insert,
//! partition replace or drop changes and background merges do not), the token's scope and teams,
//! the path and query, and the UTC date (budget forecasts depend on the day). The generation is
//! read at most every `[serve] api_cache_check_ms` (default 1 s); a write through the API itself
//! (acknowledging an alert, approving a migration) and a scheduled run of `serve` itself are seen
//! at once. So an answer is never older than the data of
//! `api_cache_check_ms` ago, and it is computed exactly as an uncached answer would be.
//!
//! **Admission.** At most `[serve] api_max_concurrent` requests run their queries at once; one
//! that waits longer than `api_queue_timeout_ms` for its turn is answered 503 with
//! `Retry-After: 1` at once, instead of queueing until its caller gives up while ClickHouse works
//! on answers nobody reads.
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clickhouse::Row;
use queries::{q, Store, StoreError};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::{ApiError, AppState};
use crate::config::ServeConfig;
use crate::tokens::Principal;

/// Routes whose answers are not kept: live status (sources, /metrics), bulk downloads (export),
/// the static OpenAPI document.
const NOT_CACHED: &[&str] = &["/v1/sources", "/metrics", "/v1/export/", "/v1/openapi.json"];

#[derive(Clone)]
pub struct ResponseCache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    max_bytes: usize,
    check_every: Duration,
    /// When the generation was last read, and what it was. `None`: read it again.
    probe: tokio::sync::Mutex<Option<(Instant, u64)>>,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    map: HashMap<String, Arc<Kept>>,
    bytes: usize,
}

struct Kept {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Row, Deserialize, Hash)]
struct TableState {
    table: String,
    rows: u64,
    block: i64,
}

impl ResponseCache {
    pub fn new(store: Store, config: &ServeConfig) -> ResponseCache {
        ResponseCache {
            inner: Arc::new(Inner {
                store,
                max_bytes: config.api_cache_mb.saturating_mul(1 << 20) as usize,
                check_every: Duration::from_millis(config.api_cache_check_ms),
                probe: tokio::sync::Mutex::new(None),
                entries: Mutex::new(Entries::default()),
            }),
        }
    }

    /// Read the data generation again at the next request (after a write).
    pub async fn invalidate(&self) {
        *self.inner.probe.lock().await = None;
    }

    /// The data generation, read from ClickHouse at most every `check_every`.
    async fn generation(&self) -> Result<u64, StoreError> {
        let mut probe = self.inner.probe.lock().await;
        if let Some((at, generation)) = *probe {
            if at.elapsed() < self.inner.check_every {
                return Ok(generation);
            }
        }
        let tables: Vec<TableState> = self
            .inner
            .store
            .fetch_all(&q::api_data_generation())
            .await?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        tables.hash(&mut hasher);
        let generation = hasher.finish();
        *probe = Some((Instant::now(), generation));
        Ok(generation)
    }

    fn get(&self, generation: u64, key: &str) -> Option<Arc<Kept>> {
        let entries = self.inner.entries.lock().expect("cache lock");
        (entries.generation == generation)
            .then(|| entries.map.get(key).cloned())
            .flatten()
    }

    fn put(&self, generation: u64, key: String, kept: Kept) {
        let size = key.len() + kept.body.len();
        // One answer may take at most an eighth of the cache.
        if size > self.inner.max_bytes / 8 {
            return;
        }
        let mut entries = self.inner.entries.lock().expect("cache lock");
        if entries.generation != generation || entries.bytes + size > self.inner.max_bytes {
            // New data, or full: start over (answers of the old generation are never used again).
            *entries = Entries {
                generation,
                ..Entries::default()
            };
        }
        entries.bytes += size;
        entries.map.insert(key, Arc::new(kept));
    }
}

/// Bounds the requests that run at once.
#[derive(Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl Admission {
    pub fn new(config: &ServeConfig) -> Admission {
        Admission {
            permits: Arc::new(Semaphore::new(config.api_max_concurrent.max(1))),
            wait: Duration::from_millis(config.api_queue_timeout_ms),
        }
    }
}

/// Middleware (after authentication): answer from the cache, or compute and keep the answer.
pub async fn cached(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let cache = &state.cache;
    if request.method() != Method::GET {
        let response = next.run(request).await;
        cache.invalidate().await;
        return response;
    }
    let path = request.uri().path();
    if cache.inner.max_bytes == 0 || NOT_CACHED.iter().any(|p| path.starts_with(p)) {
        return next.run(request).await;
    }
    let Some(principal) = request.extensions().get::<Principal>() else {
        return next.run(request).await;
    };
    let generation = match cache.generation().await {
        Ok(generation) => generation,
        Err(e) => return ApiError::unavailable(e).into_response(),
    };
    let key = format!(
        "{}\n{}\n{}\n{}",
        chrono::Utc::now().date_naive(),
        principal.scope.as_str(),
        principal.teams.join("\n"),
        request.uri()
    );
    if let Some(kept) = cache.get(generation, &key) {
        let mut response = Response::new(Body::from(kept.body.clone()));
        *response.headers_mut() = kept.headers.clone();
        return response;
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => return ApiError::unavailable(e).into_response(),
    };
    cache.put(
        generation,
        key,
        Kept {
            headers: parts.headers.clone(),
            body: body.clone(),
        },
    );
    Response::from_parts(parts, Body::from(body))
}

/// Middleware (after the cache): wait at most the configured time for a turn, else 503.
pub async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let admission = &state.admission;
    match tokio::time::timeout(admission.wait, admission.permits.clone().acquire_owned()).await {
        Ok(Ok(permit)) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        _ => ApiError::overloaded().into_response(),
    }
}
