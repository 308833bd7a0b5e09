//! Alerts, budgets and reports: daily spike detection against a same-weekday baseline with root
//! causes, month-over-month projections, budgets with month-end forecasts, Slack delivery and the
//! weekly email. Everything here is a library: `costmill` (api) schedules and prints it.

pub mod budget;
pub mod config;
pub mod delivery;
pub mod detect;
pub mod email;
mod error;
pub mod model;
pub mod run;
pub mod slack;
pub mod store;

pub use config::{AlertsConfig, BudgetConfig, EmailConfig, Secret, SlackConfig};
pub use error::AlertError;
pub use model::{Alert, AlertKind, AlertState, Cause};
