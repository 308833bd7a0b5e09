//! `sacct --parsable2` output (or `--parsable`, with a trailing `|`), read by the column names of
//! its header line, so any `--format` order works. Needed: JobID, AllocTRES, Start, End, State;
//! used when present: Cluster, JobName, Partition, Account, User, ElapsedRaw, NodeList.
//! Step lines (`123.batch`, `123.0`, `123.extern`: output without `-X`) are skipped.
use std::io::BufRead;
use std::path::Path;

use super::job::{self, Collector, Context, RawJob};
use super::tres;
use crate::error::Problem;
use crate::reader::Location;
use crate::record::SlurmJob;

const REQUIRED: [&str; 5] = ["JobID", "AllocTRES", "Start", "End", "State"];

/// Column positions by name.
struct Columns {
    names: Vec<String>,
    fields: usize,
    /// `--parsable`: every line ends with a `|`.
    trailing: bool,
}

impl Columns {
    fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.eq_ignore_ascii_case(name))
    }

    /// `7 (AllocTRES)`.
    fn label(&self, i: usize) -> String {
        format!("{} ({})", i + 1, self.names[i])
    }
}

fn problem(origin: &Path, line: u64, column: Option<String>, message: String) -> Problem {
    Problem {
        file: origin.to_path_buf(),
        location: Location::Line(line),
        column,
        message,
    }
}

/// Read sacct's `--parsable2` output: jobs to `collector` (full chunks to `emit`), problems to
/// `report`. `Err`: the input cannot be read at all (no header, not text).
pub(crate) fn read(
    mut input: impl BufRead,
    origin: &Path,
    ctx: &Context,
    collector: &mut Collector,
    emit: &mut dyn FnMut(Vec<SlurmJob>) -> bool,
    report: &mut dyn FnMut(Problem) -> bool,
) -> Result<(), Problem> {
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut columns: Option<Columns> = None;
    let mut idx = None;
    while !collector.stopped {
        buf.clear();
        let n = input.read_until(b'\n', &mut buf).map_err(|e| Problem {
            file: origin.to_path_buf(),
            location: Location::Line(line_no + 1),
            column: None,
            message: format!("cannot read: {e}"),
        })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let Some(cols) = &columns else {
            let c = header(text, origin, line_no)?;
            idx = Some(Index::new(&c));
            columns = Some(c);
            continue;
        };
        let idx = idx.as_ref().expect("set with the header");
        let body = if cols.trailing {
            text.strip_suffix('|').unwrap_or(text)
        } else {
            text
        };
        let fields: Vec<&str> = body.split('|').collect();
        if fields.len() != cols.fields {
            let go_on = report(problem(
                origin,
                line_no,
                None,
                format!(
                    "expected {} fields separated by `|` as in the header, found {} (a `|` in a \
                     job name? sacct's --delimiter can choose another separator)",
                    cols.fields,
                    fields.len()
                ),
            ));
            if !go_on {
                return Ok(());
            }
            continue;
        }
        let job_id = fields[idx.job_id].trim();
        if job::is_step(job_id) {
            collector.step();
            continue;
        }
        let judged = parse_line(&fields, cols, idx, ctx)
            .and_then(|raw| job::judge(raw, ctx).map_err(|m| (None, m)));
        match judged {
            Ok(j) => collector.push(j, emit),
            Err((column, message)) => {
                let column = column.map(|i| cols.label(i));
                if !report(problem(
                    origin,
                    line_no,
                    column,
                    format!("job {job_id}: {message}"),
                )) {
                    return Ok(());
                }
            }
        }
    }
    if columns.is_none() {
        return Err(Problem::whole_file(
            origin,
            "empty: expected sacct --parsable2 output with its header line",
        ));
    }
    Ok(())
}

/// Where the columns this parser reads are.
struct Index {
    job_id: usize,
    tres: usize,
    start: usize,
    end: usize,
    state: usize,
    cluster: Option<usize>,
    name: Option<usize>,
    partition: Option<usize>,
    account: Option<usize>,
    user: Option<usize>,
    elapsed: Option<usize>,
    nodes: Option<usize>,
}

impl Index {
    fn new(c: &Columns) -> Index {
        let must = |n: &str| c.find(n).expect("checked with the header");
        Index {
            job_id: must("JobID"),
            tres: must("AllocTRES"),
            start: must("Start"),
            end: must("End"),
            state: must("State"),
            cluster: c.find("Cluster"),
            name: c.find("JobName"),
            partition: c.find("Partition"),
            account: c.find("Account"),
            user: c.find("User"),
            elapsed: c.find("ElapsedRaw"),
            nodes: c.find("NodeList"),
        }
    }
}

fn header(text: &str, origin: &Path, line: u64) -> Result<Columns, Problem> {
    let trailing = text.ends_with('|');
    let body = if trailing {
        &text[..text.len() - 1]
    } else {
        text
    };
    let names: Vec<String> = body.split('|').map(|n| n.trim().to_string()).collect();
    let columns = Columns {
        fields: names.len(),
        names,
        trailing,
    };
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|n| columns.find(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(problem(
            origin,
            line,
            None,
            format!(
                "expected the header line of `sacct --parsable2` output naming the columns \
                 (at least {}; run sacct without --noheader), but {} missing in {text:?}",
                REQUIRED.join(", "),
                missing.join(", ")
            ),
        ));
    }
    Ok(columns)
}

type Fault = (Option<usize>, String);

fn parse_line(
    fields: &[&str],
    cols: &Columns,
    idx: &Index,
    ctx: &Context,
) -> Result<RawJob, Fault> {
    let text = |i: Option<usize>| i.map(|i| fields[i].trim().to_string()).unwrap_or_default();
    let job_id = fields[idx.job_id].trim();
    if !job_id.starts_with(|c: char| c.is_ascii_digit()) {
        return Err((
            Some(idx.job_id),
            format!("expected a job id such as 123, 123_4 or 123+1, found {job_id:?}"),
        ));
    }
    let time =
        |i: usize| super::time::parse_sacct_time(fields[i], ctx.offset).map_err(|m| (Some(i), m));
    let state = job::base_state(fields[idx.state]).map_err(|m| (Some(idx.state), m))?;
    let tres = tres::parse_tres(fields[idx.tres]).map_err(|(_, m)| (Some(idx.tres), m))?;
    let elapsed = match idx.elapsed {
        Some(i) if !fields[i].trim().is_empty() => {
            Some(fields[i].trim().parse::<i64>().map_err(|_| {
                (
                    Some(i),
                    format!(
                        "expected whole seconds for {}, found {:?}",
                        cols.names[i], fields[i]
                    ),
                )
            })?)
        }
        _ => None,
    };
    if let Some(i) = idx.nodes {
        tres::count_nodes(fields[i]).map_err(|m| (Some(i), m))?;
    }
    Ok(RawJob {
        cluster: idx.cluster.map(|i| fields[i].trim().to_string()),
        job_id: job_id.to_string(),
        job_name: text(idx.name),
        partition: text(idx.partition),
        account: text(idx.account),
        user: text(idx.user),
        tres,
        start: time(idx.start)?,
        end: time(idx.end)?,
        elapsed,
        state,
    })
}
