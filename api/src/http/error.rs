//! API errors: a status and a JSON body `{"error": {"code", "message"}}` that tells the caller
//! what to do. Internal details (SQL, ClickHouse messages) are logged, never sent.
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// unauthorized, forbidden, bad_request, not_found, conflict, unavailable, overloaded or
    /// internal.
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    /// The request does not fit the resource's current state (e.g. approving an applied move).
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    /// ClickHouse or another dependency failed: logged in full, answered as 503 (retry later).
    pub fn unavailable(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "API request failed");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "the cost store did not answer; retry later (the server log has details)"
                .into(),
        }
    }
}

impl ApiError {
    /// Too many requests in flight: answered at once with 503 and `Retry-After`, rather than
    /// queued until the caller gives up.
    pub fn overloaded() -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "overloaded",
            message: "too many requests at once; retry after the number of seconds in Retry-After"
                .into(),
        }
    }
}

impl From<queries::StoreError> for ApiError {
    fn from(error: queries::StoreError) -> ApiError {
        ApiError::unavailable(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("header"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            let seconds = if self.code == "overloaded" { "1" } else { "5" };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.parse().expect("header"));
        }
        response
    }
}
