//! REST API bearer tokens: `costmill tokens create|list|revoke`, and their verification by the
//! HTTP layer. A token is `cmt_<id>_<secret>`; only the SHA-256 of the secret is stored (table
//! `api_tokens`), so a token is shown once, when it is created.
//!
//! Scopes nest: `admin` can do everything `migrate` can, and `migrate` everything `read` can. A
//! token limited to teams sees only those teams' costs; org-wide data (billing dimensions, sources,
//! metrics) is refused to it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Subcommand, ValueEnum};
use clickhouse::Row;
use comfy_table::Cell;
use queries::{q, Store};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::report;
use crate::showback::OutputFormat;

const PREFIX: &str = "cmt_";

/// What a token may do. Ordered: a scope allows itself and every scope before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read costs, allocations, recommendations, alerts, budgets, exports.
    Read,
    /// Read, and approve or roll back migrations.
    Migrate,
    /// Everything, including acknowledging alerts.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Migrate => "migrate",
            Scope::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Option<Scope> {
        match text {
            "read" => Some(Scope::Read),
            "migrate" => Some(Scope::Migrate),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// The holder of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    /// Empty: every team.
    pub teams: Vec<String>,
}

impl Principal {
    pub fn allows(&self, needed: Scope) -> bool {
        self.scope >= needed
    }

    pub fn team_limited(&self) -> bool {
        !self.teams.is_empty()
    }

    pub fn sees_team(&self, team: &str) -> bool {
        self.teams.is_empty() || self.teams.iter().any(|t| t == team)
    }
}

/// sql/tokens_list.sql; also the insert row of `api_tokens`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub secret_sha256: String,
    pub scope: String,
    pub teams: Vec<String>,
    pub created_at: u32,
    pub revoked_at: u32,
    pub revoked: u8,
    pub version: u64,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it once (first line of standard output); only its hash is kept.
    Create {
        /// A name to recognise it by (unique among active tokens), e.g. grafana.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "read")]
        scope: Scope,
        /// Limit the token to this team's costs (repeat for several). Default: every team.
        #[arg(long = "team")]
        teams: Vec<String>,
    },
    /// Every token: id, name, scope, teams, created, revoked. Never the secret.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Revoke a token by id or name. Servers stop accepting it within 5 seconds.
    Revoke { token: String },
}

pub async fn run(store: &Store, command: TokensCommand) -> Result<()> {
    match command {
        TokensCommand::Create { name, scope, teams } => {
            let (token, row) = create(store, &name, scope, &teams).await?;
            println!("{token}");
            eprintln!(
                "token `{}` (id {}, scope {}, {}): shown once, store it now",
                row.name,
                row.id,
                row.scope,
                teams_label(&row.teams)
            );
        }
        TokensCommand::List { format } => print_list(&list(store).await?, format)?,
        TokensCommand::Revoke { token } => {
            let row = revoke(store, &token).await?;
            println!("revoked token `{}` ({})", row.name, row.id);
        }
    }
    Ok(())
}

fn teams_label(teams: &[String]) -> String {
    if teams.is_empty() {
        "every team".into()
    } else {
        format!("teams {}", teams.join(", "))
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Create a token: (the token text, its stored row).
pub async fn create(
    store: &Store,
    name: &str,
    scope: Scope,
    teams: &[String],
) -> Result<(String, TokenRow)> {
    if !valid_name(name) {
        bail!("--name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'");
    }
    if let Some(team) = teams.iter().find(|t| t.trim().is_empty()) {
        bail!("--team {team:?}: a team name must not be empty");
    }
    if list(store)
        .await?
        .iter()
        .any(|t| t.name == name && t.revoked == 0)
    {
        bail!("an active token is already named `{name}`: revoke it first or choose another name");
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut id_bytes = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut id_bytes);
    let id = hex::encode(id_bytes);
    let now = Utc::now();
    let mut teams = teams.to_vec();
    teams.sort();
    teams.dedup();
    let row = TokenRow {
        id: id.clone(),
        name: name.into(),
        secret_sha256: sha256_hex(&secret),
        scope: scope.as_str().into(),
        teams,
        created_at: now.timestamp() as u32,
        revoked_at: 0,
        revoked: 0,
        version: now.timestamp_nanos_opt().unwrap_or_default() as u64,
    };
    insert_row(store, &row).await?;
    Ok((format!("{PREFIX}{id}_{secret}"), row))
}

async fn insert_row(store: &Store, row: &TokenRow) -> Result<()> {
    let mut insert = store.insert::<TokenRow>("api_tokens").await?;
    insert.write(row).await.context("insert into api_tokens")?;
    insert.end().await.context("insert into api_tokens")?;
    Ok(())
}

pub async fn list(store: &Store) -> Result<Vec<TokenRow>> {
    Ok(store
        .fetch_all(&q::tokens_list().bind_str("id", ""))
        .await?)
}

/// Revoke by id or name (the active token of that name).
pub async fn revoke(store: &Store, token: &str) -> Result<TokenRow> {
    let rows = list(store).await?;
    let found = rows
        .iter()
        .find(|r| r.id == token)
        .or_else(|| rows.iter().find(|r| r.name == token && r.revoked == 0))
        .with_context(|| {
            format!("no token with id or active name `{token}`: see `costmill tokens list`")
        })?;
    let now = Utc::now();
    let mut row = found.clone();
    row.revoked = 1;
    row.revoked_at = now.timestamp() as u32;
    row.version = (now.timestamp_nanos_opt().unwrap_or_default() as u64).max(row.version + 1);
    insert_row(store, &row).await?;
    Ok(row)
}

/// Check a presented token against the stored hashes: the principal, or None when it is
/// malformed, unknown or revoked.
pub async fn verify(store: &Store, presented: &str) -> Result<Option<Principal>> {
    let Some((id, secret)) = presented
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let rows: Vec<TokenRow> = store
        .fetch_all(&q::tokens_list().bind_str("id", id))
        .await?;
    // Comparing digests, not secrets: timing reveals nothing about the secret.
    let digest = sha256_hex(secret);
    Ok(rows
        .into_iter()
        .find(|r| r.revoked == 0 && r.secret_sha256 == digest)
        .and_then(|r| {
            Some(Principal {
                scope: Scope::parse(&r.scope)?,
                id: r.id,
                name: r.name,
                teams: r.teams,
            })
        }))
}

/// Verified tokens, remembered for a few seconds so a busy API does not ask ClickHouse on every
/// request. A revocation takes effect within `ttl`.
#[derive(Clone)]
pub struct TokenCache {
    store: Store,
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, (Instant, Option<Principal>)>>>,
}

/// How long a verification is trusted.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

impl TokenCache {
    pub fn new(store: Store) -> TokenCache {
        TokenCache {
            store,
            ttl: TOKEN_CACHE_TTL,
            entries: Arc::default(),
        }
    }

    pub async fn verify(&self, presented: &str) -> Result<Option<Principal>> {
        let key = sha256_hex(presented);
        let now = Instant::now();
        {
            let entries = self.entries.lock().expect("token cache");
            if let Some((at, principal)) = entries.get(&key) {
                if now.duration_since(*at) < self.ttl {
                    return Ok(principal.clone());
                }
            }
        }
        let principal = verify(&self.store, presented).await?;
        let mut entries = self.entries.lock().expect("token cache");
        // Random garbage tokens must not grow the cache without bound.
        if entries.len() > 10_000 {
            entries.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
        }
        entries.insert(key, (now, principal.clone()));
        Ok(principal)
    }
}

fn print_list(rows: &[TokenRow], format: OutputFormat) -> Result<()> {
    #[derive(Serialize)]
    struct Listed<'a> {
        id: &'a str,
        name: &'a str,
        scope: &'a str,
        teams: &'a [String],
        created_at: String,
        revoked_at: Option<String>,
    }
    let listed: Vec<Listed> = rows
        .iter()
        .map(|r| Listed {
            id: &r.id,
            name: &r.name,
            scope: &r.scope,
            teams: &r.teams,
            created_at: report::datetime(r.created_at),
            revoked_at: (r.revoked != 0).then(|| report::datetime(r.revoked_at)),
        })
        .collect();
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&listed)?),
        OutputFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record(["id", "name", "scope", "teams", "created_at", "revoked_at"])?;
            for l in &listed {
                out.write_record([
                    l.id,
                    l.name,
                    l.scope,
                    &l.teams.join(" "),
                    &l.created_at,
                    l.revoked_at.as_deref().unwrap_or(""),
                ])?;
            }
            out.flush()?;
        }
        OutputFormat::Table => {
            if listed.is_empty() {
                println!("no tokens: `costmill tokens create --name NAME --scope read`");
                return Ok(());
            }
            let mut table = report::table(&["id", "name", "scope", "teams", "created", "revoked"]);
            for l in &listed {
                table.add_row(vec![
                    Cell::new(l.id),
                    Cell::new(l.name),
                    Cell::new(l.scope),
                    Cell::new(teams_label(l.teams)),
                    Cell::new(&l.created_at),
                    Cell::new(l.revoked_at.as_deref().unwrap_or("")),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(())
}
