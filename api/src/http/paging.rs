//! Query-string parsing, paging and the JSON/CSV answer shared by the list routes.
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;

/// Rows per page unless `page_size` says otherwise, and the most a page may hold.
pub const DEFAULT_PAGE_SIZE: u64 = 1_000;
pub const MAX_PAGE_SIZE: u64 = 10_000;

/// The query string, or a 400 naming what is wrong with it.
pub fn params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// A comma-separated list parameter (`team=a,b`); empty items are refused.
pub fn list(name: &str, value: &Option<String>) -> Result<Vec<String>, ApiError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items: Vec<String> = value.split(',').map(|s| s.trim().to_string()).collect();
    if items.iter().any(String::is_empty) {
        return Err(ApiError::bad_request(format!(
            "{name}={value:?}: expected comma-separated non-empty values"
        )));
    }
    Ok(items)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Csv,
}

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub offset: u64,
    pub size: u64,
}

impl Window {
    /// From `page_size` (1..=10000, default 1000) and `page_token` (from the previous page's
    /// `next_page_token`).
    pub fn parse(page_size: Option<u64>, page_token: Option<&str>) -> Result<Window, ApiError> {
        let size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ApiError::bad_request(format!(
                "page_size={size}: expected 1 to {MAX_PAGE_SIZE}"
            )));
        }
        let offset = match page_token {
            None | Some("") => 0,
            Some(token) => token
                .parse::<u64>()
                .ok()
                .filter(|o| *o < 1 << 40)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "page_token={token:?}: not a token this API gave; start again without it"
                    ))
                })?,
        };
        Ok(Window { offset, size })
    }

    /// The rows to ask the store for: one more than the page, to know whether another follows.
    pub fn fetch(&self) -> u64 {
        self.size + 1
    }

    /// Cut the fetched rows to the page and give the next page's token.
    pub fn page<T>(&self, mut rows: Vec<T>) -> Page<T> {
        let more = rows.len() as u64 > self.size;
        rows.truncate(self.size as usize);
        Page {
            next_page_token: more.then(|| (self.offset + self.size).to_string()),
            rows,
        }
    }
}

/// One page of rows. `next_page_token` is absent on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub rows: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// The `Next-Page-Token` header of CSV answers.
pub const NEXT_PAGE_HEADER: &str = "next-page-token";

/// A page as JSON, or as CSV (a header row, then the rows; the next token in a header).
pub fn answer<T: Serialize>(format: Format, page: Page<T>) -> Result<Response, ApiError> {
    match format {
        Format::Json => Ok(Json(page).into_response()),
        Format::Csv => {
            let mut out = csv::Writer::from_writer(Vec::new());
            for row in &page.rows {
                out.serialize(row).map_err(ApiError::unavailable)?;
            }
            let body = out.into_inner().map_err(ApiError::unavailable)?;
            let mut response =
                ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
            if let Some(token) = page.next_page_token {
                response.headers_mut().insert(
                    NEXT_PAGE_HEADER,
                    token.parse().expect("digits are a header value"),
                );
            }
            Ok(response)
        }
    }
}
