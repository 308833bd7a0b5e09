//! What a panel needs from its query's result, and the rules every panel query follows.
use std::collections::BTreeMap;

use serde_json::Value;

/// A query result: column names and ClickHouse types, rows as JSON values (JSONCompact).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Value>>,
}

impl QueryResult {
    pub fn parse(body: &str) -> QueryResult {
        let json: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("JSONCompact: {e}\n{body}"));
        QueryResult {
            columns: json["meta"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap().to_string(),
                        m["type"].as_str().unwrap().to_string(),
                    )
                })
                .collect(),
            rows: json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_array().unwrap().clone())
                .collect(),
        }
    }

    pub fn column(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c.0 == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.columns))
    }

    /// A numeric cell (JSON number, or a quoted 64-bit integer).
    pub fn number(&self, row: usize, name: &str) -> f64 {
        number(&self.rows[row][self.column(name)])
    }

    pub fn text(&self, row: usize, name: &str) -> String {
        self.rows[row][self.column(name)]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
        other => panic!("not a number: {other}"),
    }
}

/// The type inside `Nullable(…)` / `LowCardinality(…)`.
pub fn base_type(ty: &str) -> &str {
    let mut ty = ty;
    for wrapper in ["Nullable(", "LowCardinality("] {
        if let Some(inner) = ty.strip_prefix(wrapper) {
            ty = inner.strip_suffix(')').unwrap();
        }
    }
    ty
}

pub fn is_numeric(ty: &str) -> bool {
    let t = base_type(ty);
    ["UInt", "Int", "Float", "Decimal"]
        .iter()
        .any(|p| t.starts_with(p))
}

pub fn is_time(ty: &str) -> bool {
    let t = base_type(ty);
    t == "Date" || t.starts_with("DateTime")
}

pub fn is_text(ty: &str) -> bool {
    base_type(ty) == "String"
}

/// Grafana's query formats (grafana-plugin-sdk-go data/sqlutil/query.go `FormatQueryOption`,
/// which the plugin's queries carry as `format`): 0 time series, 1 table, 2 logs, 3 traces.
pub const FORMAT_TIME_SERIES: u64 = 0;
pub const FORMAT_TABLE: u64 = 1;

/// Whether a result has the shape the panel type draws; problems as text.
pub fn shape_problems(panel: &Value, target: &Value, result: &QueryResult) -> Vec<String> {
    let mut problems = Vec::new();
    let kind = panel["type"].as_str().unwrap_or_default();
    let format = target["format"].as_u64();
    let columns = &result.columns;
    let numeric = columns.iter().filter(|c| is_numeric(&c.1)).count();
    let mut names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
    names.sort();
    names.dedup();
    if names.len() != columns.len() {
        problems.push(format!("duplicate column names {columns:?}"));
    }
    for (name, ty) in columns {
        if base_type(ty).starts_with("Decimal") {
            problems.push(format!(
                "column {name} is {ty}: money is shown as toFloat64(…) of the exact sum"
            ));
        }
    }
    match kind {
        "timeseries" => {
            if format != Some(FORMAT_TIME_SERIES) {
                problems.push(format!("timeseries target has format {format:?}, not 0"));
            }
            match columns.first() {
                Some((name, ty)) if name == "time" && is_time(ty) => {}
                first => problems.push(format!(
                    "first column must be a Date/DateTime `time`, is {first:?}"
                )),
            }
            if numeric == 0 {
                problems.push(format!("no numeric value column in {columns:?}"));
            }
            for (name, ty) in columns.iter().skip(1) {
                if !is_numeric(ty) && !is_text(ty) {
                    problems.push(format!("column {name} {ty} is neither a value nor a label"));
                }
            }
            // The long-to-wide conversion of time series needs rows sorted by time.
            let times: Vec<String> = result.rows.iter().map(|r| r[0].to_string()).collect();
            if times.windows(2).any(|w| w[0] > w[1]) {
                problems.push("rows are not sorted by time".into());
            }
        }
        "stat" | "gauge" => {
            if format != Some(FORMAT_TABLE) {
                problems.push(format!("{kind} target has format {format:?}, not 1"));
            }
            if result.rows.len() != 1 {
                problems.push(format!(
                    "{kind} needs exactly one row, got {}",
                    result.rows.len()
                ));
            }
            if numeric != columns.len() || numeric == 0 {
                problems.push(format!("{kind} columns must all be numbers: {columns:?}"));
            }
        }
        "barchart" | "bargauge" | "piechart" => {
            if format != Some(FORMAT_TABLE) {
                problems.push(format!("{kind} target has format {format:?}, not 1"));
            }
            match columns.first() {
                Some((_, ty)) if is_text(ty) || is_time(ty) => {}
                first => problems.push(format!("{kind} needs a label first, got {first:?}")),
            }
            if numeric == 0 || numeric + 1 != columns.len() {
                problems.push(format!("{kind} needs one label and numbers: {columns:?}"));
            }
        }
        "table" => {
            if format != Some(FORMAT_TABLE) {
                problems.push(format!("table target has format {format:?}, not 1"));
            }
            // Overrides name the columns they style: those columns must exist.
            for o in panel["fieldConfig"]["overrides"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if o["matcher"]["id"] == "byName" {
                    let name = o["matcher"]["options"].as_str().unwrap_or_default();
                    if !columns.iter().any(|c| c.0 == name) {
                        problems.push(format!("override for missing column {name}"));
                    }
                }
            }
        }
        other => problems.push(format!("panel type {other} has no shape check here")),
    }
    problems
}

/// Tables whose rows are versions of one another (ReplacingMergeTree): read with FINAL.
pub const VERSIONED: [&str; 6] = [
    "k8s_nodes",
    "k8s_pod_usage",
    "slurm_jobs",
    "alerts",
    "budget_status",
    "service_metrics",
];

/// Macros whose expansion runs on ClickHouse 18.16 (dashboards/README.md says why the others
/// do not; `macros_the_dashboards_avoid_fail_on_clickhouse_18_16` shows it).
pub const SUPPORTED_MACROS: [&str; 6] = [
    "fromTime",
    "toTime",
    "timeFilter",
    "dateFilter",
    "dateTimeFilter",
    "interval_s",
];

const AGGREGATES: [&str; 10] = [
    "sum", "sumIf", "avg", "avgIf", "min", "max", "minIf", "maxIf", "argMax", "argMin",
];

/// Rules on a panel's raw SQL. `column_types`: every column of the schema by name.
pub fn sql_problems(raw: &str, column_types: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let compact: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    for table in VERSIONED {
        let from = format!("FROM {table}");
        for (at, _) in compact.match_indices(&from) {
            let rest = &compact[at + from.len()..];
            if rest
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                continue; // another table whose name starts the same
            }
            if !rest.starts_with(" FINAL") {
                problems.push(format!("{table} read without FINAL"));
            }
        }
    }
    for agg in AGGREGATES {
        if compact.contains(&format!("{agg}(toFloat64"))
            || compact.contains(&format!("{agg}( toFloat64"))
        {
            problems.push(format!(
                "{agg}(toFloat64(…)): sum the exact decimals, convert the sum"
            ));
        }
    }
    for banned in [" OVER (", " OVER(", "WITH FILL", "JSONExtract"] {
        if compact.contains(banned) {
            problems.push(format!("{banned:?} does not run on ClickHouse 18.16"));
        }
    }
    for (name, args) in crate::grafana::macros_used(raw) {
        if !SUPPORTED_MACROS.contains(&name) {
            problems.push(format!("$__{name} does not run on ClickHouse 18.16"));
            continue;
        }
        if args.contains('(') {
            problems.push(format!(
                "$__{name}({args}): macro arguments are bare column names"
            ));
        }
        let want = match name {
            "timeFilter" => Some("DateTime"),
            "dateFilter" => Some("Date"),
            _ => None,
        };
        if let Some(want) = want {
            match column_types.get(args.trim()) {
                Some(ty) if base_type(ty).split('(').next() == Some(want) => {}
                // 18.16 compares a Date with a DateTime as raw numbers.
                other => problems.push(format!(
                    "$__{name}({args}) on a column of type {other:?}, not {want}"
                )),
            }
        }
    }
    problems
}

/// Money columns of the schema: a query reading one must pick one currency or show it.
pub fn reads_money(raw: &str) -> bool {
    let words: Vec<&str> = raw
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    words.iter().any(|w| {
        [
            "BilledCost",
            "EffectiveCost",
            "ListCost",
            "ContractedCost",
            "billed",
            "effective",
            "amount",
            "actual",
            "forecast",
            "expected",
            "impact",
            "current_monthly",
            "proposed_monthly",
            "saving_monthly",
        ]
        .contains(w)
    })
}
