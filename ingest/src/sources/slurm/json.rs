//! `sacct --json` output and slurmrestd's `/slurmdb/v0.0.3x/jobs` (and later) documents: the same
//! `{"meta": …, "errors": […], "jobs": […]}`, read loosely across versions since every release
//! reshapes it (21.08 `openapi/dbv0.0.37` through 24.x `data_parser/v0.0.42`):
//!
//! - `meta.plugin` (21.08, 22.05, 23.11+) or `meta.plugins` (23.02); `meta.Slurm` or `meta.slurm`;
//! - numbers or `{"set", "infinite", "number"}` objects for times, ids and limits (an unset or
//!   infinite one counts as absent);
//! - `state.current` a string (up to 23.02) or a list of flags (23.11+; the first is the state);
//! - `tres.allocated[] = {type, name, count}` with memory in MB and `name` null or `""`;
//!   typed GPUs as `{type: "gres", name: "gpu:a100"}`;
//! - `exit_code`, `steps` and the rest are not read, whatever their shape.
//!
//! Jobs are read one at a time from a stream (a week of a large cluster is hundreds of MB), each
//! with the line it starts on and the lines of its fields for problems. `jobs[]` holds
//! allocations only (steps are nested), so nothing is counted twice. An array task is
//! `ARRAYID_TASK` and a heterogeneous component `HETID+OFFSET`, as sacct prints them.
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::job::{Collector, Context};
use super::json_job::judge;
use crate::error::Problem;
use crate::reader::Location;
use crate::record::SlurmJob;

/// Counts the lines of what the JSON parser has taken (it reads one byte at a time).
struct LineCounter<R> {
    inner: R,
    line: Rc<Cell<u64>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let newlines = buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        self.line.set(self.line.get() + newlines);
        Ok(n)
    }
}

/// One job object as read: its fields and the line each starts on.
pub(super) struct JobDoc {
    pub index: usize,
    /// The line of its `{`.
    pub line: u64,
    pub fields: Map<String, Value>,
    /// The line of each field's key.
    pub lines: BTreeMap<String, u64>,
}

/// What the document says about itself and its errors.
#[derive(Default)]
struct Meta {
    meta: Option<Value>,
    errors: Vec<(u64, Value)>,
}

struct Handler<'a> {
    line: Rc<Cell<u64>>,
    on_job: &'a mut dyn FnMut(JobDoc) -> bool,
    meta: &'a mut Meta,
}

/// Read a `sacct --json` / slurmrestd document. `Err`: it is not JSON of that shape.
pub(crate) fn read(
    input: impl Read,
    origin: &Path,
    ctx: &Context,
    collector: &mut Collector,
    emit: &mut dyn FnMut(Vec<SlurmJob>) -> bool,
    report: &mut dyn FnMut(Problem) -> bool,
) -> Result<(), Problem> {
    let line = Rc::new(Cell::new(1));
    let counter = LineCounter {
        inner: input,
        line: line.clone(),
    };
    let mut meta = Meta::default();
    let mut open = true;
    let mut on_job = |doc: JobDoc| {
        match judge(&doc, ctx) {
            Ok(judged) => {
                collector.push(judged, emit);
                open = !collector.stopped;
            }
            Err((line, column, message)) => {
                let id = doc
                    .fields
                    .get("job_id")
                    .map(|v| format!("job {v}: "))
                    .unwrap_or_default();
                open = report(Problem {
                    file: origin.to_path_buf(),
                    location: Location::Line(line),
                    column: Some(format!("jobs[{}].{column}", doc.index)),
                    message: format!("{id}{message}"),
                });
            }
        }
        open
    };
    let mut de = serde_json::Deserializer::from_reader(counter);
    let handler = Handler {
        line,
        on_job: &mut on_job,
        meta: &mut meta,
    };
    let result = handler.deserialize(&mut de).and_then(|()| de.end());
    if !open {
        // The run stopped (too many problems, or cancelled): nothing more to say.
        return Ok(());
    }
    if let Err(e) = result {
        let message = if e.is_io() {
            format!("cannot read: {e}")
        } else {
            format!("expected sacct --json output ({{\"jobs\": [...]}}): {e}")
        };
        return Err(Problem {
            file: origin.to_path_buf(),
            location: Location::Line(e.line() as u64),
            column: Some(e.column().to_string()),
            message,
        });
    }
    for (line, error) in &meta.errors {
        let text = ["description", "error", "source"]
            .iter()
            .filter_map(|k| error.get(k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        let text = if text.is_empty() {
            error.to_string()
        } else {
            text
        };
        let go_on = report(Problem {
            file: origin.to_path_buf(),
            location: Location::Line(*line),
            column: Some("errors".into()),
            message: format!("Slurm reported an error, so the jobs may be incomplete: {text}"),
        });
        if !go_on {
            break;
        }
    }
    collector.summary.formats.push(describe(meta.meta.as_ref()));
    Ok(())
}

/// `sacct --json (data_parser/v0.0.41, Slurm 24.05.3)`.
fn describe(meta: Option<&Value>) -> String {
    let Some(meta) = meta else {
        return "sacct --json".into();
    };
    let plugin = ["plugin", "plugins"]
        .iter()
        .filter_map(|k| meta.get(k))
        .find_map(|p| {
            ["data_parser", "type"]
                .iter()
                .filter_map(|k| p.get(k).and_then(Value::as_str))
                .find(|s| !s.is_empty())
        });
    let release = ["Slurm", "slurm"]
        .iter()
        .filter_map(|k| meta.get(k))
        .find_map(|s| s.get("release").and_then(Value::as_str));
    match (plugin, release) {
        (Some(p), Some(r)) => format!("sacct --json ({p}, Slurm {r})"),
        (Some(p), None) => format!("sacct --json ({p})"),
        (None, Some(r)) => format!("sacct --json (Slurm {r})"),
        (None, None) => "sacct --json".into(),
    }
}

impl<'de> DeserializeSeed<'de> for Handler<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Handler<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a `jobs` list, or a list of jobs")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut jobs = false;
        while let Some(key) = map.next_key::<String>()? {
            let line = self.line.get();
            match key.as_str() {
                "jobs" => {
                    jobs = true;
                    map.next_value_seed(Jobs(&mut self))?;
                }
                "meta" => self.meta.meta = Some(map.next_value()?),
                "errors" => match map.next_value::<Value>()? {
                    Value::Array(errors) => self
                        .meta
                        .errors
                        .extend(errors.into_iter().map(|e| (line, e))),
                    Value::Null => {}
                    other => self.meta.errors.push((line, other)),
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !jobs && self.meta.errors.is_empty() {
            return Err(de::Error::custom("no `jobs` list in the document"));
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, seq: A) -> Result<(), A::Error> {
        Jobs(&mut self).visit_seq(seq)
    }
}

/// The `jobs` list.
struct Jobs<'h, 'a>(&'h mut Handler<'a>);

impl<'de> DeserializeSeed<'de> for Jobs<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Jobs<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of job objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(doc) = seq.next_element_seed(OneJob {
            index,
            line: self.0.line.clone(),
        })? {
            index += 1;
            if !(self.0.on_job)(doc) {
                // The receiver is gone: stop here (the parser then reports the unread rest,
                // which the caller ignores).
                return Ok(());
            }
        }
        Ok(())
    }
}

/// One job object, with the lines of its fields.
struct OneJob {
    index: usize,
    line: Rc<Cell<u64>>,
}

impl<'de> DeserializeSeed<'de> for OneJob {
    type Value = JobDoc;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<JobDoc, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OneJob {
    type Value = JobDoc;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a job object at jobs[{}]", self.index)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JobDoc, A::Error> {
        let mut doc = JobDoc {
            index: self.index,
            line: self.line.get(),
            fields: Map::new(),
            lines: BTreeMap::new(),
        };
        while let Some(key) = map.next_key::<String>()? {
            doc.lines.insert(key.clone(), self.line.get());
            // Steps can be large and are not needed: skip them unread.
            if key == "steps" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value: Value = map.next_value()?;
            doc.fields.insert(key, value);
        }
        Ok(doc)
    }
}
