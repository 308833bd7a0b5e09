//! Loading the dashboards, checking their structure, resolving their variables and running their
//! panel queries on a test database.
use std::collections::BTreeMap;
use std::path::PathBuf;

use queries::Store;
use serde_json::Value;

use crate::checks::{self, QueryResult};
use crate::common;
use crate::grafana::{self, Dashboard, TimeRange, VarValue};

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dashboards")
}

pub fn dashboards() -> Vec<Dashboard> {
    grafana::load_dashboards(&dir())
}

/// (uid, type) of the data source in provisioning/datasources/clickhouse.yaml.
pub fn provisioned_datasource() -> (String, String) {
    let text =
        std::fs::read_to_string(dir().join("provisioning/datasources/clickhouse.yaml")).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in clickhouse.yaml"))
            .trim()
            .to_string()
    };
    (value("uid:"), value("type:"))
}

/// The test database of a store, over plain HTTP.
pub fn db(store: &Store) -> common::Db {
    common::Db::at(store.url(), store.database())
}

/// A query as the plugin sends it: the connection's default database, JSONCompact back.
pub fn run_sql(db: &common::Db, sql: &str) -> Result<QueryResult, String> {
    let (status, body) = common::clickhouse(
        &db.addr,
        &format!("database={}", db.database),
        &format!("{sql}\nFORMAT JSONCompact"),
    );
    if status == 200 {
        Ok(QueryResult::parse(&body))
    } else {
        Err(body)
    }
}

/// One panel query that ran.
pub struct Ran {
    pub dashboard: String,
    pub title: String,
    /// Variables set to other values than the dashboard's current ones.
    pub overrides: BTreeMap<String, VarValue>,
    pub sql: String,
    pub panel: Value,
    pub target: Value,
    pub result: QueryResult,
}

pub struct Runner<'a> {
    db: &'a common::Db,
    range: TimeRange,
    /// Every column of the schema: name → type.
    column_types: BTreeMap<String, String>,
}

fn as_strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(a) => a.iter().flat_map(as_strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Null => vec![],
        other => vec![other.to_string()],
    }
}

/// A variable's query: a plain string, or the plugin's variable query object.
pub fn variable_query(v: &Value) -> String {
    match &v["query"] {
        Value::String(s) => s.clone(),
        q => q["rawSql"].as_str().unwrap_or_default().to_string(),
    }
}

impl<'a> Runner<'a> {
    pub fn new(db: &'a common::Db, range: TimeRange) -> Runner<'a> {
        let column_types = db
            .rows("SELECT name, type FROM system.columns WHERE database = currentDatabase()")
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        Runner {
            db,
            range,
            column_types,
        }
    }

    /// The variables' values: `overrides`, else each variable's current value, "All" being every
    /// option its query (or its custom list) gives. `empty`: a database without rows, where Grafana
    /// gives a query variable without options the value "" ("None").
    fn resolve(
        &self,
        d: &Dashboard,
        overrides: &BTreeMap<String, VarValue>,
        empty: bool,
        problems: &mut Vec<String>,
    ) -> BTreeMap<String, VarValue> {
        let mut vars = BTreeMap::new();
        for v in d.variables() {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            let multi = v["multi"].as_bool().unwrap_or(false);
            let options: Vec<String> = match v["type"].as_str() {
                Some("query") => {
                    let sql = grafana::render(&variable_query(v), &vars, self.range);
                    match run_sql(self.db, &sql) {
                        Ok(r) => r
                            .rows
                            .iter()
                            .map(|row| as_strings(&row[0]).concat())
                            .collect(),
                        Err(e) => {
                            problems.push(format!("{}: variable {name}: {e}\n{sql}", d.file));
                            vec![]
                        }
                    }
                }
                Some("custom") => as_strings(
                    &v["options"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|o| o["value"].clone())
                        .collect::<Value>(),
                )
                .into_iter()
                .filter(|o| o != "$__all")
                .collect(),
                other => {
                    problems.push(format!("{}: variable {name} of type {other:?}", d.file));
                    vec![]
                }
            };
            if options.is_empty() && !(empty && v["type"] == "query") {
                problems.push(format!("{}: variable {name} has no options", d.file));
            }
            let value = if let Some(value) = overrides.get(&name) {
                value.clone()
            } else if options.is_empty() {
                // Grafana's "None".
                if multi {
                    VarValue::Multi(vec![String::new()])
                } else {
                    VarValue::Single(String::new())
                }
            } else {
                let current = as_strings(&v["current"]["value"]);
                if current.iter().any(|c| c == "$__all") {
                    VarValue::Multi(options.clone())
                } else {
                    for c in &current {
                        if !options.contains(c) {
                            problems.push(format!(
                                "{}: {name} = {c:?} is not among {options:?}",
                                d.file
                            ));
                        }
                    }
                    match (multi, current.as_slice()) {
                        (false, [one]) => VarValue::Single(one.clone()),
                        (true, values) if !values.is_empty() => VarValue::Multi(values.to_vec()),
                        _ => {
                            problems.push(format!("{}: {name} current {:?}", d.file, v["current"]));
                            VarValue::Single(String::new())
                        }
                    }
                }
            };
            vars.insert(name, value);
        }
        vars
    }

    pub fn run_dashboard(
        &self,
        d: &Dashboard,
        overrides: &BTreeMap<String, VarValue>,
        empty: bool,
        problems: &mut Vec<String>,
    ) -> Vec<Ran> {
        self.run_panels(d, overrides, empty, &|_| true, problems)
    }

    /// Each option of each custom variable other than the current one, on the panels using it.
    pub fn run_custom_options(&self, d: &Dashboard, problems: &mut Vec<String>) -> Vec<Ran> {
        let mut out = Vec::new();
        for v in d.variables().into_iter().filter(|v| v["type"] == "custom") {
            let name = v["name"].as_str().unwrap().to_string();
            let current = as_strings(&v["current"]["value"]);
            for option in as_strings(
                &v["options"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["value"].clone())
                    .collect(),
            ) {
                if option == "$__all" || current == [option.clone()] {
                    continue;
                }
                let value = if v["multi"].as_bool().unwrap_or(false) {
                    VarValue::Multi(vec![option])
                } else {
                    VarValue::Single(option)
                };
                let overrides = BTreeMap::from([(name.clone(), value)]);
                let uses = |sql: &str| grafana::variable_refs(sql).iter().any(|r| r.0 == name);
                out.extend(self.run_panels(d, &overrides, false, &uses, problems));
            }
        }
        out
    }

    fn run_panels(
        &self,
        d: &Dashboard,
        overrides: &BTreeMap<String, VarValue>,
        empty: bool,
        only: &dyn Fn(&str) -> bool,
        problems: &mut Vec<String>,
    ) -> Vec<Ran> {
        let vars = self.resolve(d, overrides, empty, problems);
        let mut out = Vec::new();
        for panel in d.panels() {
            let title = panel["title"].as_str().unwrap_or_default().to_string();
            for target in panel["targets"].as_array().into_iter().flatten() {
                let raw = target["rawSql"].as_str().unwrap_or_default();
                if !only(raw) {
                    continue;
                }
                let name = format!("{} / {title} {overrides:?}", d.file);
                for p in checks::sql_problems(raw, &self.column_types) {
                    problems.push(format!("{name}: {p}"));
                }
                let sql = grafana::render(raw, &vars, self.range);
                if sql.contains('$') {
                    problems.push(format!("{name}: not expanded: {sql}"));
                    continue;
                }
                let result = match run_sql(self.db, &sql) {
                    Ok(result) => result,
                    Err(e) => {
                        problems.push(format!("{name}: {e}\n{sql}"));
                        continue;
                    }
                };
                for p in checks::shape_problems(panel, target, &result) {
                    problems.push(format!("{name}: {p}"));
                }
                if !empty && result.rows.is_empty() {
                    problems.push(format!("{name}: no rows\n{sql}"));
                }
                let has = |column: &str| result.columns.iter().any(|c| c.0 == column);
                if checks::reads_money(raw)
                    && !raw.contains("${currency:singlequote}")
                    && !has("currency")
                {
                    problems.push(format!("{name}: money without a currency filter or column"));
                }
                let display = panel["fieldConfig"]["defaults"]["displayName"]
                    .as_str()
                    .unwrap_or_default();
                if let Some(label) = display
                    .strip_prefix("${__field.labels.")
                    .and_then(|l| l.strip_suffix('}'))
                {
                    if !result
                        .columns
                        .iter()
                        .any(|c| c.0 == label && checks::is_text(&c.1))
                    {
                        problems.push(format!(
                            "{name}: displayName names label {label}, not a text column"
                        ));
                    }
                }
                out.push(Ran {
                    dashboard: d.uid().to_string(),
                    title: title.clone(),
                    overrides: overrides.clone(),
                    sql,
                    panel: panel.clone(),
                    target: target.clone(),
                    result,
                });
            }
        }
        out
    }
}

/// Rows in a comparable order: text cells, then numbers.
fn normalized(result: &QueryResult) -> Vec<(Vec<String>, Vec<f64>)> {
    let mut rows: Vec<(Vec<String>, Vec<f64>)> = result
        .rows
        .iter()
        .map(|row| {
            let mut texts = Vec::new();
            let mut numbers = Vec::new();
            for (cell, (_, ty)) in row.iter().zip(&result.columns) {
                if checks::is_numeric(ty) && !cell.is_null() {
                    numbers.push(checks::number(cell));
                } else {
                    texts.push(match cell {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                }
            }
            (texts, numbers)
        })
        .collect();
    let key = |v: &[f64]| v.iter().map(|n| format!("{n:.3}")).collect::<Vec<_>>();
    rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| key(&a.1).cmp(&key(&b.1))));
    rows
}

/// Whether two engines gave the same answer: same rows, numbers equal to 1e-9 (the engines convert
/// decimals to floats a little differently).
pub fn same_rows(a: &QueryResult, b: &QueryResult) -> bool {
    let (a, b) = (normalized(a), normalized(b));
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x.0 == y.0
                && x.1.len() == y.1.len()
                && x.1
                    .iter()
                    .zip(&y.1)
                    .all(|(m, n)| (m - n).abs() <= 1e-9 * m.abs().max(n.abs()).max(1.0))
        })
}
