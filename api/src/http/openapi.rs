//! The OpenAPI 3 document: built from the handlers' annotations by `utoipa`, with the bearer
//! security scheme. Scopes in each operation's security requirement say what a token needs:
//! `read`, `read:all-teams` (org-wide data: refused to tokens limited to teams), `migrate`,
//! `admin`.
use std::sync::Arc;

use axum::{Extension, Json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "costmill",
        description = "What your software really costs: costs, allocations, recommendations, alerts and budgets. Every route needs `Authorization: Bearer TOKEN` (`costmill tokens create`).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerScheme),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `costmill tokens create --scope read|migrate|admin [--team T]`",
                    ))
                    .build(),
            ),
        );
    }
}

pub fn base() -> Document {
    ApiDoc::openapi()
}

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The OpenAPI 3 document of this API"),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn document(Extension(document): Extension<Arc<Document>>) -> Json<Document> {
    Json(document.as_ref().clone())
}
