//! One job object of a `sacct --json` document, read loosely (see [`super::json`] for the
//! shapes of each version) into an accounting record.
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::job::{self, Context, RawJob};
use super::json::JobDoc;
use super::tres::{self, Tres};

/// A problem in a job: line, field path, what was expected.
type Fault = (u64, String, String);

/// A number, or `{"set": true, "infinite": false, "number": N}`; `None` when absent, null,
/// unset or infinite. `Err` for anything else.
fn loose_int(v: Option<&Value>) -> Result<Option<i64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| format!("expected a whole number, found {n}")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("expected a whole number, found {s:?}")),
        Some(Value::Object(o)) => {
            if o.get("set") == Some(&Value::Bool(false))
                || o.get("infinite") == Some(&Value::Bool(true))
            {
                return Ok(None);
            }
            loose_int(o.get("number"))
        }
        Some(other) => Err(format!(
            "expected a number or {{\"set\", \"number\"}}, found {other}"
        )),
    }
}

/// A string; numbers as text; null, absent or `{…}` as `None`.
fn loose_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn path<'v>(v: &'v Map<String, Value>, keys: &[&str]) -> Option<&'v Value> {
    let (first, rest) = keys.split_first()?;
    rest.iter().try_fold(v.get(*first)?, |v, k| v.get(k))
}

/// The state: `"COMPLETED"`, `["CANCELLED", …]`, or `{"current": either}`.
fn loose_state(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.iter().find_map(|s| s.as_str().map(str::to_string)),
        Value::Object(o) => loose_state(o.get("current")),
        _ => None,
    }
}

pub(super) fn judge(doc: &JobDoc, ctx: &Context) -> Result<job::Judged, Fault> {
    let f = &doc.fields;
    let at = |key: &str| doc.lines.get(key).copied().unwrap_or(doc.line);
    let int =
        |keys: &[&str]| loose_int(path(f, keys)).map_err(|m| (at(keys[0]), keys.join("."), m));
    let job_id = match int(&["job_id"])? {
        Some(id) => id,
        None => {
            return Err((
                doc.line,
                "job_id".into(),
                "expected the job's job_id".into(),
            ))
        }
    };
    let mut id = job_id.to_string();
    if let (Some(array), Some(task)) = (int(&["array", "job_id"])?, int(&["array", "task_id"])?) {
        if array > 0 {
            id = format!("{array}_{task}");
        }
    }
    if let (Some(het), Some(offset)) = (int(&["het", "job_id"])?, int(&["het", "job_offset"])?) {
        if het > 0 {
            id = format!("{het}+{offset}");
        }
    }
    let state_field = if f.contains_key("state") {
        "state"
    } else {
        "job_state"
    };
    let state = loose_state(f.get(state_field))
        .ok_or_else(|| {
            (
                at(state_field),
                "state.current".into(),
                "expected the job's state".into(),
            )
        })
        .and_then(|s| {
            job::base_state(&s).map_err(|m| (at(state_field), "state.current".into(), m))
        })?;
    let tres = allocated(f).map_err(|(p, m)| (at("tres"), p, m))?;
    let text = |keys: &[&str]| loose_str(path(f, keys)).unwrap_or_default();
    let or = |a: String, b: &[&str]| if a.is_empty() { text(b) } else { a };
    if let Some(nodes) = loose_str(f.get("nodes")) {
        tres::count_nodes(&nodes).map_err(|m| (at("nodes"), "nodes".into(), m))?;
    }
    let raw = RawJob {
        cluster: Some(or(text(&["cluster"]), &["association", "cluster"])),
        job_id: id,
        job_name: text(&["name"]),
        partition: text(&["partition"]),
        account: or(text(&["account"]), &["association", "account"]),
        user: or(text(&["user"]), &["association", "user"]),
        tres,
        start: int(&["time", "start"])?,
        end: int(&["time", "end"])?,
        elapsed: int(&["time", "elapsed"])?,
        state,
    };
    job::judge(raw, ctx).map_err(|m| (at("time"), "time".into(), m))
}

/// `tres.allocated`: `[{type, name, count}]` (or, loosely, an AllocTRES string).
fn allocated(f: &Map<String, Value>) -> Result<Tres, (String, String)> {
    let list = match path(f, &["tres", "allocated"]) {
        None | Some(Value::Null) => return Ok(Tres::default()),
        Some(Value::String(s)) => {
            return tres::parse_tres(s).map_err(|(_, m)| ("tres.allocated".into(), m))
        }
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err((
                "tres.allocated".into(),
                format!("expected a list of {{type, name, count}}, found {other}"),
            ))
        }
    };
    let mut tres = Tres::default();
    for (i, item) in list.iter().enumerate() {
        let here = format!("tres.allocated[{i}]");
        let kind = item.get("type").and_then(Value::as_str).ok_or_else(|| {
            (
                format!("{here}.type"),
                format!("expected a TRES type such as cpu or gres, found {item}"),
            )
        })?;
        let name = item.get("name").and_then(Value::as_str).unwrap_or("");
        let key = if name.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}/{name}")
        };
        let counted = matches!(kind, "cpu" | "mem" | "node")
            || key == "gres/gpu"
            || key.starts_with("gres/gpu:");
        let count = match loose_int(item.get("count")) {
            Ok(c) => c,
            Err(m) if counted => return Err((format!("{here}.count"), m)),
            // Not something costmill counts (billing weights, energy): whatever its shape.
            Err(_) => None,
        };
        match count {
            // Energy and the like are -2 or null when not measured; only what costmill counts
            // must be a real amount.
            Some(c) if c < 0 && counted => {
                return Err((
                    format!("{here}.count"),
                    format!("expected a count of at least 0 for {key}, found {c}"),
                ))
            }
            Some(c) if c >= 0 => {
                // JSON memory is in MB already: no unit.
                tres.add(&key, &Decimal::from(c).to_string())
                    .map_err(|m| (format!("{here}.count"), m))?;
            }
            _ => {}
        }
    }
    Ok(tres)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loose_numbers() {
        assert_eq!(loose_int(Some(&json!(5))), Ok(Some(5)));
        assert_eq!(loose_int(Some(&json!(5.0))), Ok(Some(5)));
        assert_eq!(loose_int(Some(&json!(null))), Ok(None));
        assert_eq!(loose_int(None), Ok(None));
        assert_eq!(
            loose_int(Some(&json!({"set": true, "infinite": false, "number": 7}))),
            Ok(Some(7))
        );
        assert_eq!(
            loose_int(Some(&json!({"set": false, "infinite": false, "number": 0}))),
            Ok(None)
        );
        assert_eq!(
            loose_int(Some(&json!({"set": true, "infinite": true, "number": 0}))),
            Ok(None)
        );
        assert_eq!(loose_int(Some(&json!({"number": 9}))), Ok(Some(9)));
        assert_eq!(loose_int(Some(&json!("12"))), Ok(Some(12)));
        assert!(loose_int(Some(&json!("soon"))).is_err());
        assert!(loose_int(Some(&json!([1]))).is_err());
        assert!(loose_int(Some(&json!(1.5))).is_err());
    }

    #[test]
    fn loose_states() {
        assert_eq!(
            loose_state(Some(&json!("COMPLETED"))).as_deref(),
            Some("COMPLETED")
        );
        assert_eq!(
            loose_state(Some(&json!(["RUNNING", "CONFIGURING"]))).as_deref(),
            Some("RUNNING")
        );
        assert_eq!(
            loose_state(Some(&json!({"current": ["FAILED"], "reason": "None"}))).as_deref(),
            Some("FAILED")
        );
        assert_eq!(
            loose_state(Some(&json!({"current": "TIMEOUT"}))).as_deref(),
            Some("TIMEOUT")
        );
        assert_eq!(loose_state(Some(&json!(3))), None);
    }

    #[test]
    fn typed_and_untyped_gpus_in_json() {
        let f = json!({"tres": {"allocated": [
            {"type": "cpu", "name": "", "id": 1, "count": 8},
            {"type": "mem", "name": null, "id": 2, "count": {"set": true, "infinite": false, "number": 65536}},
            {"type": "energy", "name": "", "id": 3, "count": -2},
            {"type": "gres", "name": "gpu", "id": 1001, "count": 2},
            {"type": "gres", "name": "gpu:a100", "id": 1002, "count": 2},
            {"type": "gres", "name": "gpumem", "id": 1003, "count": 81920}
        ]}});
        let Value::Object(f) = f else { unreachable!() };
        let t = allocated(&f).unwrap();
        assert_eq!(
            (t.cpus, t.memory_mb, t.gpus()),
            (8.into(), 65536.into(), 2.into())
        );
        let bad = json!({"tres": {"allocated": [{"type": "cpu", "count": -1}]}});
        let Value::Object(bad) = bad else {
            unreachable!()
        };
        assert_eq!(allocated(&bad).unwrap_err().0, "tres.allocated[0].count");
    }
}
