//! `GET /v1/costs`: cost grouped by any dimension `costmill costs` offers, per period and
//! currency, filtered, paged, as JSON or CSV.
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use queries::{q, Dec18, Param, Store};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::{self, answer, list, Format, Page, Window};
use super::{ApiError, AppState};
use crate::showback::{self, Grouping, GROUPINGS, MAX_DATETIME};
use crate::tokens::{Principal, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Billed,
    /// Amortized: commitments spread over the usage they cover (the usual showback figure).
    #[default]
    Effective,
    /// Public list price (billing dimensions only: allocations carry no list cost).
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Day,
    /// Weeks start on Monday.
    Week,
    #[default]
    Month,
}

impl Granularity {
    fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }
}

/// Filters take comma-separated values. Owner filters (`team`, `service`, `env`) go with an
/// owner grouping, billing filters (`provider`, `cloud_service`, `sub_account`, `region`) with a
/// billing one.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostsQuery {
    /// service, team or env (allocated owners); provider, cloud-service, service-category,
    /// sub-account, region or tag:KEY (billing dimensions). Default: team.
    by: Option<String>,
    /// First day included, YYYY-MM or YYYY-MM-DD. Default: all data.
    from: Option<String>,
    /// First day excluded, YYYY-MM or YYYY-MM-DD. Default: all data.
    to: Option<String>,
    #[param(inline)]
    metric: Option<Metric>,
    #[param(inline)]
    granularity: Option<Granularity>,
    /// Only this billing currency (amounts of two currencies are never added).
    currency: Option<String>,
    team: Option<String>,
    service: Option<String>,
    env: Option<String>,
    provider: Option<String>,
    cloud_service: Option<String>,
    sub_account: Option<String>,
    region: Option<String>,
    #[param(inline)]
    format: Option<Format>,
    /// 1 to 10000, default 1000.
    page_size: Option<u64>,
    /// `next_page_token` of the previous page.
    page_token: Option<String>,
}

/// Cost of one group in one period and currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostPoint {
    /// First day of the period, YYYY-MM-DD.
    pub period: String,
    pub group: String,
    pub currency: String,
    /// Exact decimal (up to 18 fractional digits), as a string.
    pub cost: String,
}

/// sql/api_costs_owners.sql and sql/api_costs_billing.sql
#[derive(Debug, clickhouse::Row, Deserialize)]
struct CostRow {
    period: u16,
    grp: String,
    currency: String,
    billed: Dec18,
    effective: Dec18,
    list: Dec18,
}

/// A window day (`YYYY-MM` or `YYYY-MM-DD`) as a Unix time, or 400.
pub fn day_param(name: &str, value: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => showback::parse_day(text, name).map_err(|_| {
            ApiError::bad_request(format!("{name}={text:?}: expected YYYY-MM or YYYY-MM-DD"))
        }),
    }
}

#[utoipa::path(
    get,
    path = "/v1/costs",
    tag = "costs",
    params(CostsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "One page of cost per period, group and currency (CSV: the next page token in the `next-page-token` header)", body = Page<CostPoint>),
        (status = 400, description = "A parameter is invalid", body = super::error::ErrorBody),
        (status = 401, description = "No valid token", body = super::error::ErrorBody),
        (status = 403, description = "Billing dimensions need a token not limited to teams; owner filters must stay within the token's teams", body = super::error::ErrorBody),
    )
)]
pub async fn costs(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<CostsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let query = paging::params(query)?;
    let window = Window::parse(query.page_size, query.page_token.as_deref())?;
    let rows = fetch(&state.store, &principal, &query, window).await?;
    let metric = query.metric.unwrap_or_default();
    // Empty groups are labelled as `costmill costs` labels them.
    let empty = if query.by.as_deref().is_some_and(|b| b.starts_with("tag:")) {
        "(untagged)"
    } else {
        "(none)"
    };
    let points = rows
        .into_iter()
        .map(|r| CostPoint {
            period: day_text(r.period),
            group: if r.grp.is_empty() {
                empty.to_string()
            } else {
                r.grp
            },
            currency: r.currency,
            cost: crate::report::dec(match metric {
                Metric::Billed => r.billed,
                Metric::Effective => r.effective,
                Metric::List => r.list,
            })
            .normalize()
            .to_string(),
        })
        .collect();
    answer(query.format.unwrap_or_default(), window.page(points))
}

/// ClickHouse `Date` (days since 1970-01-01) as YYYY-MM-DD.
pub fn day_text(days: u16) -> String {
    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Days::new(days.into()))
        .format("%Y-%m-%d")
        .to_string()
}

async fn fetch(
    store: &Store,
    principal: &Principal,
    query: &CostsQuery,
    window: Window,
) -> Result<Vec<CostRow>, ApiError> {
    let by = query.by.as_deref().unwrap_or("team");
    let grouping = showback::grouping(by)
        .map_err(|_| ApiError::bad_request(format!("by={by:?}: expected {GROUPINGS}")))?;
    let from = day_param("from", query.from.as_deref(), 0)?;
    let to = day_param("to", query.to.as_deref(), MAX_DATETIME)?;
    let currency = query.currency.clone().unwrap_or_default();
    let owner_filters = [&query.team, &query.service, &query.env];
    let billing_filters = [
        &query.provider,
        &query.cloud_service,
        &query.sub_account,
        &query.region,
    ];
    let sql = match grouping {
        Grouping::Owner(by) => {
            if billing_filters.iter().any(|f| f.is_some()) {
                return Err(ApiError::bad_request(
                    "provider, cloud_service, sub_account and region filter billing dimensions; group by one of those, or filter owners with team, service, env",
                ));
            }
            if query.metric == Some(Metric::List) {
                return Err(ApiError::bad_request(
                    "list cost is not allocated; use metric=effective or billed with an owner grouping",
                ));
            }
            let teams = principal.team_filter(&list("team", &query.team)?)?;
            q::api_costs_owners()
                .bind_str("by", by)
                .bind("teams", Param::StrArray(teams))
                .bind(
                    "services",
                    Param::StrArray(list("service", &query.service)?),
                )
                .bind("envs", Param::StrArray(list("env", &query.env)?))
        }
        Grouping::Billing(by, tag) => {
            principal.require_all_teams("billing data (grouping by a billing dimension)")?;
            if owner_filters.iter().any(|f| f.is_some()) {
                return Err(ApiError::bad_request(
                    "team, service and env filter allocated owners; group by service, team or env to use them",
                ));
            }
            if by == "tag" {
                q::api_costs_tag()
            } else {
                q::api_costs_billing()
            }
            .bind_str("by", by)
            .bind_str("tag", tag)
            .bind(
                "providers",
                Param::StrArray(list("provider", &query.provider)?),
            )
            .bind(
                "cloud_services",
                Param::StrArray(list("cloud_service", &query.cloud_service)?),
            )
            .bind(
                "sub_accounts",
                Param::StrArray(list("sub_account", &query.sub_account)?),
            )
            .bind("regions", Param::StrArray(list("region", &query.region)?))
        }
    };
    let sql = sql
        .bind_str(
            "granularity",
            query.granularity.unwrap_or_default().as_str(),
        )
        .bind("from", Param::DateTime(from))
        .bind("to", Param::DateTime(to))
        .bind_str("currency", currency)
        .bind("offset", Param::Int(window.offset.into()))
        .bind("limit", Param::Int(window.fetch().into()));
    Ok(store.fetch_all(&sql).await?)
}
