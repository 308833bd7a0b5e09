//! What Grafana and the ClickHouse data source plugin do to a panel's SQL before ClickHouse sees
//! it, reimplemented from their sources:
//!
//! 1. Grafana replaces template variables in the browser (`TemplateSrv.replace`, with the plugin's
//!    `format` function: grafana/clickhouse-datasource src/data/CHDatasource.ts,
//!    `applyTemplateVariables` and `format`). A multi-value variable without an explicit format
//!    becomes `'a','b'` (unescaped), a single value is inserted raw; `${v:singlequote}` gives
//!    `'a','b'` with `'` escaped as `\'`; "All" without a custom all value means every option.
//! 2. The plugin's backend expands its macros (grafana/clickhouse-datasource pkg/macros/macros.go)
//!    with the macro parser of grafana-plugin-sdk-go data/sqlutil/macros.go (`getMacroMatches`,
//!    `Interpolate`); older plugin versions used the regex `\$__name\b(?:\((.*?)\))?` of
//!    grafana/sqlds macros.go. Both parsers are implemented and must agree on every query, so the
//!    dashboards work with old and new plugin versions.
use std::collections::BTreeMap;

use serde_json::Value;

/// A dashboard file and what the tests read from it.
pub struct Dashboard {
    pub file: String,
    pub json: Value,
}

impl Dashboard {
    pub fn uid(&self) -> &str {
        self.json["uid"].as_str().unwrap_or_default()
    }

    /// Every panel, the panels of rows (collapsed or not) included.
    pub fn panels(&self) -> Vec<&Value> {
        fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
            for panel in panels.as_array().into_iter().flatten() {
                out.push(panel);
                walk(&panel["panels"], out);
            }
        }
        let mut out = Vec::new();
        walk(&self.json["panels"], &mut out);
        out
    }

    pub fn variables(&self) -> Vec<&Value> {
        self.json["templating"]["list"]
            .as_array()
            .map(|l| l.iter().collect())
            .unwrap_or_default()
    }
}

pub fn load_dashboards(dir: &std::path::Path) -> Vec<Dashboard> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let json: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Dashboard {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                json,
            }
        })
        .collect()
}

/// A variable's value as Grafana holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    Single(String),
    Multi(Vec<String>),
}

/// The time range and interval a panel is queried with.
#[derive(Debug, Clone, Copy)]
pub struct TimeRange {
    /// Seconds since the epoch.
    pub from: i64,
    pub to: i64,
    pub interval_ms: i64,
}

/// Grafana's `SingleQuote` format (public/app/features/templating/formatRegistry.ts): every value
/// in single quotes, `'` escaped as `\'`, joined by commas.
fn single_quote(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "\\'")))
        .collect::<Vec<_>>()
        .join(",")
}

fn format_value(value: &VarValue, format: Option<&str>) -> String {
    let values: Vec<String> = match value {
        VarValue::Single(v) => vec![v.clone()],
        VarValue::Multi(v) => v.clone(),
    };
    match format {
        Some("singlequote") => single_quote(&values),
        Some("csv") => values.join(","),
        Some("raw") => values.join(","),
        Some(other) => panic!("format {other:?} is not reimplemented here: add it or avoid it"),
        // The data source's own format function.
        None => match value {
            VarValue::Multi(v) => format!("'{}'", v.join("','")),
            VarValue::Single(v) => v.clone(),
        },
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// One variable reference: its byte range, name and explicit format.
struct VarRef {
    start: usize,
    end: usize,
    name: String,
    format: Option<String>,
}

/// Grafana's variable regex (public/app/features/variables/utils.ts `variableRegex`): `$name`,
/// `[[name:format]]`, `${name:format}` (a `.fieldPath` after the name is not supported here).
fn var_refs(sql: &str) -> Vec<VarRef> {
    let mut out = Vec::new();
    let bytes = sql.as_bytes();
    let mut i = 0;
    let split = |inner: &str| match inner.split_once(':') {
        Some((n, f)) => (n.to_string(), Some(f.to_string())),
        None => (inner.to_string(), None),
    };
    while i < bytes.len() {
        let found = if sql[i..].starts_with("${") {
            sql[i + 2..].find('}').map(|close| {
                let (name, format) = split(&sql[i + 2..i + 2 + close]);
                (name, format, i + 3 + close)
            })
        } else if bytes[i] == b'$' {
            let len = sql[i + 1..].chars().take_while(|c| is_word(*c)).count();
            (len > 0).then(|| (sql[i + 1..i + 1 + len].to_string(), None, i + 1 + len))
        } else if sql[i..].starts_with("[[") {
            sql[i + 2..].find("]]").map(|close| {
                let (name, format) = split(&sql[i + 2..i + 2 + close]);
                (name, format, i + 4 + close)
            })
        } else {
            None
        };
        match found {
            Some((name, format, end)) => {
                out.push(VarRef {
                    start: i,
                    end,
                    name,
                    format,
                });
                i = end;
            }
            None => i += sql[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    out
}

/// The variables a query names (not the plugin's `$__macros`), with their formats.
pub fn variable_refs(sql: &str) -> Vec<(String, Option<String>)> {
    var_refs(sql)
        .into_iter()
        .filter(|r| !r.name.starts_with("__"))
        .map(|r| (r.name, r.format))
        .collect()
}

/// `TemplateSrv.replace` with the plugin's format function. Names Grafana does not know (the
/// plugin's `$__macros`) are left as they are.
pub fn replace_variables(sql: &str, vars: &BTreeMap<String, VarValue>) -> String {
    let mut out = String::new();
    let mut at = 0;
    for r in var_refs(sql) {
        if let Some(value) = vars.get(&r.name) {
            out.push_str(&sql[at..r.start]);
            out.push_str(&format_value(value, r.format.as_deref()));
            at = r.end;
        }
    }
    out.push_str(&sql[at..]);
    out
}

/// The plugin's macros (pkg/macros/macros.go), by name.
fn expand_macro(name: &str, args: &[String], range: TimeRange) -> String {
    let date = |t: i64| {
        // timeToDate formats the time in the plugin process's zone: UTC in the grafana/grafana image.
        let d = chrono::DateTime::from_timestamp(t, 0).unwrap().date_naive();
        format!("toDate('{}')", d.format("%Y-%m-%d"))
    };
    let datetime = |t: i64| format!("toDateTime({t})");
    let datetime64 = |t: i64| format!("fromUnixTimestamp64Milli({})", t * 1000);
    let one = || {
        assert_eq!(args.len(), 1, "$__{name} takes one argument: {args:?}");
        args[0].clone()
    };
    let seconds = (range.interval_ms / 1000).max(1);
    match name {
        "fromTime" => datetime(range.from),
        "toTime" => datetime(range.to),
        "fromTime_ms" => datetime64(range.from),
        "toTime_ms" => datetime64(range.to),
        "timeFilter" => {
            let c = one();
            format!(
                "{c} >= {} AND {c} <= {}",
                datetime(range.from),
                datetime(range.to)
            )
        }
        "timeFilter_ms" => {
            let c = one();
            format!(
                "{c} >= {} AND {c} <= {}",
                datetime64(range.from),
                datetime64(range.to)
            )
        }
        "dateFilter" => {
            let c = one();
            format!("{c} >= {} AND {c} <= {}", date(range.from), date(range.to))
        }
        "dateTimeFilter" | "dt" => {
            assert_eq!(args.len(), 2, "$__{name} takes two arguments: {args:?}");
            let (d, t) = (&args[0], &args[1]);
            format!(
                "({d} >= {} AND {d} <= {}) AND ({t} >= {} AND {t} <= {})",
                date(range.from),
                date(range.to),
                datetime(range.from),
                datetime(range.to)
            )
        }
        "timeInterval" => format!(
            "toStartOfInterval(toDateTime({}), INTERVAL {seconds} second)",
            one()
        ),
        "timeInterval_ms" => format!(
            "toStartOfInterval(toDateTime64({}, 3), INTERVAL {} millisecond)",
            one(),
            range.interval_ms.max(1)
        ),
        "interval_s" => seconds.to_string(),
        other => panic!("$__{other} is not a macro of the ClickHouse plugin"),
    }
}

pub const MACROS: [&str; 12] = [
    "fromTime",
    "toTime",
    "fromTime_ms",
    "toTime_ms",
    "timeFilter",
    "timeFilter_ms",
    "dateFilter",
    "dateTimeFilter",
    "dt",
    "timeInterval",
    "timeInterval_ms",
    "interval_s",
];

/// Start offsets of `$__name` followed by a non-word character (the `\$__name\b` of both parsers).
fn macro_starts(sql: &str, name: &str) -> Vec<usize> {
    let needle = format!("$__{name}");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = sql[from..].find(&needle) {
        let start = from + at;
        let end = start + needle.len();
        if !sql[end..].chars().next().is_some_and(is_word) {
            out.push(start);
        }
        from = end;
    }
    out
}

/// grafana-plugin-sdk-go data/sqlutil/macros.go `getMacroMatches`: from the macro on, the first
/// bracket decides. A `)` before any `(` ends a macro without arguments; otherwise the arguments
/// run to the matching `)`, however far away it is.
fn matches_sdk(sql: &str, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for start in macro_starts(sql, name) {
        let input = &sql[start..];
        let (mut macro_end, mut arg_start, mut depth) = (0usize, 0usize, 0usize);
        let mut force_break = false;
        for (idx, c) in input.char_indices() {
            if depth == 0 && macro_end > 0 || force_break {
                break;
            }
            match c {
                '(' => {
                    depth += 1;
                    if arg_start == 0 {
                        arg_start = idx + 1;
                    }
                }
                ')' => {
                    if depth == 0 {
                        macro_end = 0;
                        force_break = true;
                    } else {
                        depth -= 1;
                        macro_end = idx + 1;
                    }
                }
                _ => {}
            }
        }
        if macro_end == 0 {
            macro_end = name.len() + 3;
        }
        let args = if arg_start > 0 {
            input[arg_start..macro_end - 1].to_string()
        } else {
            String::new()
        };
        out.push((input[..macro_end].to_string(), args));
    }
    out
}

/// grafana/sqlds macros.go (before the SDK parser): `\$__name\b(?:\((.*?)\))?`, arguments up to
/// the first `)`.
fn matches_regex(sql: &str, name: &str) -> Vec<(String, String)> {
    macro_starts(sql, name)
        .into_iter()
        .map(|start| {
            let after = start + name.len() + 3;
            if sql[after..].starts_with('(') {
                if let Some(close) = sql[after..].find(')') {
                    return (
                        sql[start..after + close + 1].to_string(),
                        sql[after + 1..after + close].to_string(),
                    );
                }
            }
            (sql[start..after].to_string(), String::new())
        })
        .collect()
}

/// sqlutil `Interpolate`: for each macro, each match is replaced everywhere (`strings.ReplaceAll`)
/// by its expansion; arguments are split on commas and trimmed.
fn interpolate_with(
    sql: &str,
    range: TimeRange,
    matches: fn(&str, &str) -> Vec<(String, String)>,
) -> String {
    let mut sql = sql.to_string();
    for name in MACROS {
        for (text, args) in matches(&sql, name) {
            let args: Vec<String> = args.split(',').map(|a| a.trim().to_string()).collect();
            let expansion = expand_macro(name, &args, range);
            sql = sql.replace(&text, &expansion);
        }
    }
    sql
}

/// The plugin's backend expansion; panics when the two macro parsers disagree.
pub fn expand_macros(sql: &str, range: TimeRange) -> String {
    let sdk = interpolate_with(sql, range, matches_sdk);
    let legacy = interpolate_with(sql, range, matches_regex);
    assert_eq!(
        sdk, legacy,
        "the SDK macro parser and the older sqlds regex expand this query differently:\n{sql}"
    );
    sdk
}

/// Macro names used in a query, with their argument text.
pub fn macros_used(sql: &str) -> Vec<(&'static str, String)> {
    MACROS
        .iter()
        .flat_map(|name| {
            matches_sdk(sql, name)
                .into_iter()
                .map(move |(_, args)| (*name, args))
        })
        .collect()
}

/// Everything Grafana and the plugin do to a panel's SQL.
pub fn render(sql: &str, vars: &BTreeMap<String, VarValue>, range: TimeRange) -> String {
    expand_macros(&replace_variables(sql, vars), range)
}

#[test]
fn expansion_matches_the_plugin_and_grafana() {
    let range = TimeRange {
        from: 1_785_542_400, // 2026-08-01 00:00:00 UTC
        to: 1_793_491_199,   // 2026-10-31 23:59:59 UTC
        interval_ms: 7_200_000,
    };
    let vars = BTreeMap::from([
        (
            "team".to_string(),
            VarValue::Multi(vec!["a".into(), "o'b".into()]),
        ),
        ("currency".to_string(), VarValue::Single("USD".into())),
    ]);
    assert_eq!(
        render(
            "WHERE $__timeFilter(ChargePeriodStart) AND team IN (${team:singlequote}) AND c = '$currency' AND x IN ($team)",
            &vars,
            range
        ),
        "WHERE ChargePeriodStart >= toDateTime(1785542400) AND ChargePeriodStart <= toDateTime(1793491199) \
         AND team IN ('a','o\\'b') AND c = 'USD' AND x IN ('a','o'b')"
    );
    assert_eq!(
        render("$__dateFilter(day) AND d > toDate($__toTime, 'UTC') - $__interval_s", &vars, range),
        "day >= toDate('2026-08-01') AND day <= toDate('2026-10-31') AND d > toDate(toDateTime(1793491199), 'UTC') - 7200"
    );
    // The SDK parser takes everything up to the next closing bracket as a macro's arguments when
    // an opening one comes first: a macro without arguments must be followed by `)`.
    let trap = "WHERE x >= $__fromTime AND y IN (1, 2)";
    assert_eq!(
        interpolate_with(trap, range, matches_sdk),
        "WHERE x >= toDateTime(1785542400)"
    );
    assert_ne!(
        interpolate_with(trap, range, matches_sdk),
        interpolate_with(trap, range, matches_regex)
    );
}
