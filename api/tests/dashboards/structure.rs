//! Dashboard JSON Grafana loads: identity, layout, data source references, variable use.
use std::collections::BTreeSet;

use serde_json::Value;

use crate::checks;
use crate::grafana::{self, Dashboard};
use crate::runner::variable_query;

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
}

/// What Grafana would refuse or misdraw in a dashboard, as text.
pub fn structure_problems(d: &Dashboard, datasource_uid: &str, all: &[Dashboard]) -> Vec<String> {
    let mut problems = Vec::new();
    let j = &d.json;
    let uid = d.uid();
    if uid.is_empty() || uid.len() > 40 {
        problems.push(format!("uid {uid:?}"));
    }
    if j["title"].as_str().unwrap_or_default().is_empty() {
        problems.push("no title".into());
    }
    if j["schemaVersion"].as_u64().unwrap_or(0) < 30 {
        problems.push("schemaVersion".into());
    }
    if j["time"]["from"].as_str().is_none() || j["time"]["to"].as_str().is_none() {
        problems.push("no time range".into());
    }
    if j["timezone"] != "utc" {
        problems.push("costs are per UTC day: timezone utc".into());
    }
    let ds_ok =
        |ds: &Value| ds["type"] == "grafana-clickhouse-datasource" && ds["uid"] == datasource_uid;
    let variables = d.variables();
    let defined: Vec<&str> = variables
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    let uids: BTreeSet<&str> = all.iter().map(|d| d.uid()).collect();
    let check_refs = |sql: &str, known: &[&str], what: &str, problems: &mut Vec<String>| {
        if sql.contains("$__") {
            let unknown: Vec<&str> = sql
                .match_indices("$__")
                .map(|(i, _)| &sql[i + 3..])
                .filter(|rest| {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    !grafana::MACROS.contains(&name.as_str())
                })
                .collect();
            if !unknown.is_empty() {
                problems.push(format!("{what}: unknown $__ names at {unknown:?}"));
            }
        }
        for (name, format) in grafana::variable_refs(sql) {
            let Some(v) = variables.iter().find(|v| v["name"] == name.as_str()) else {
                problems.push(format!("{what}: ${name} is not a variable"));
                continue;
            };
            if !known.contains(&name.as_str()) {
                problems.push(format!("{what}: ${name} is defined after it is used"));
            }
            let identifiers = v["type"] == "custom"
                && !v["multi"].as_bool().unwrap_or(false)
                && v["options"].as_array().into_iter().flatten().all(|o| {
                    o["value"]
                        .as_str()
                        .is_some_and(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                });
            if format.as_deref() != Some("singlequote") && !identifiers {
                problems.push(format!("{what}: ${name} must be ${{{name}:singlequote}}"));
            }
        }
    };
    for (i, v) in variables.iter().enumerate() {
        let name = v["name"].as_str().unwrap_or_default();
        if v["type"] == "query" {
            if !ds_ok(&v["datasource"]) {
                problems.push(format!("variable {name}: data source {}", v["datasource"]));
            }
            check_refs(
                &variable_query(v),
                &defined[..i],
                &format!("variable {name}"),
                &mut problems,
            );
        }
        if v["allValue"].as_str().is_some_and(|a| !a.is_empty()) {
            problems.push(format!(
                "variable {name}: a custom all value is not reimplemented here"
            ));
        }
    }
    let panels = d.panels();
    let mut ids = BTreeSet::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or_default();
        match int(&p["id"]) {
            Some(id) if ids.insert(id) => {}
            id => problems.push(format!("{title}: id {id:?} missing or repeated")),
        }
        let g = &p["gridPos"];
        match (int(&g["x"]), int(&g["y"]), int(&g["w"]), int(&g["h"])) {
            (Some(x), Some(y), Some(w), Some(h))
                if x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24 => {}
            _ => problems.push(format!("{title}: gridPos {g}")),
        }
        let targets = p["targets"].as_array();
        match p["type"].as_str() {
            Some("row") | Some("text") if targets.is_none() => continue,
            _ if targets.is_none_or(|t| t.is_empty()) => {
                problems.push(format!("{title}: no queries"));
                continue;
            }
            _ => {}
        }
        if !ds_ok(&p["datasource"]) {
            problems.push(format!("{title}: data source {}", p["datasource"]));
        }
        let mut refs = BTreeSet::new();
        for t in targets.into_iter().flatten() {
            if !ds_ok(&t["datasource"]) {
                problems.push(format!("{title}: target data source {}", t["datasource"]));
            }
            if !refs.insert(t["refId"].as_str().unwrap_or_default()) {
                problems.push(format!("{title}: refId repeated"));
            }
            if t["editorType"] != "sql"
                || t["rawSql"].as_str().unwrap_or_default().trim().is_empty()
            {
                problems.push(format!("{title}: not an SQL target"));
            }
            if !matches!(
                t["format"].as_u64(),
                Some(checks::FORMAT_TIME_SERIES | checks::FORMAT_TABLE)
            ) {
                problems.push(format!("{title}: format {}", t["format"]));
            }
            check_refs(
                t["rawSql"].as_str().unwrap_or_default(),
                &defined,
                title,
                &mut problems,
            );
        }
        // Data links to other dashboards name one of these.
        let text = p["fieldConfig"].to_string();
        for (at, _) in text.match_indices("/d/") {
            let target: String = text[at + 3..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !uids.contains(target.as_str()) {
                problems.push(format!("{title}: link to unknown dashboard {target}"));
            }
        }
    }
    // Top-level panels do not overlap.
    let boxes: Vec<(i64, i64, i64, i64, &str)> = j["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let g = &p["gridPos"];
            Some((
                int(&g["x"])?,
                int(&g["y"])?,
                int(&g["w"])?,
                int(&g["h"])?,
                p["title"].as_str()?,
            ))
        })
        .collect();
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            if a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3 {
                problems.push(format!("{} overlaps {}", a.4, b.4));
            }
        }
    }
    problems
}
