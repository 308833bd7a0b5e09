//! Slurm's trackable resources (TRES) and node lists, as sacct prints them.
//!
//! - `AllocTRES` of `sacct --parsable2`: `billing=4,cpu=4,gres/gpu=2,gres/gpu:a100=2,mem=16G,node=1`.
//!   Memory carries a unit (K, M, G, T, P; binary multiples; a plain number is MB) and may be
//!   rounded by sacct (`mem=3.50G`) unless `--noconvert` is given. All amounts are exact decimals.
//! - `sacct --json`: `tres.allocated[] = {type, name, count}` with memory as plain MB.
//!
//! GPUs: `gres/gpu` counts all GPUs of a job; typed GPUs (`gres/gpu:a100`) are counted again per
//! type when accounting tracks the types. The total is `gres/gpu` when present, the sum of the
//! typed counts otherwise (whichever is larger, should both be present and disagree).
use std::collections::BTreeMap;

use rust_decimal::Decimal;

/// The allocation of one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tres {
    pub cpus: Decimal,
    pub memory_mb: Decimal,
    /// `gres/gpu` (all types), if given.
    pub gpus_untyped: Option<Decimal>,
    /// `gres/gpu:TYPE` per type.
    pub gpus_by_type: BTreeMap<String, Decimal>,
    pub nodes: Option<Decimal>,
    pub billing: Option<Decimal>,
    /// Everything else (`energy`, `fs/disk`, `license/…`, `gres/shard`, …) as printed.
    pub other: BTreeMap<String, String>,
}

impl Tres {
    /// GPUs of all types.
    pub fn gpus(&self) -> Decimal {
        let typed: Decimal = self.gpus_by_type.values().copied().sum();
        self.gpus_untyped.map_or(typed, |all| all.max(typed))
    }

    pub fn is_empty(&self) -> bool {
        *self == Tres::default()
    }

    /// Add one resource. `memory_unit_mb`: a count without a unit is in MB (always, in sacct).
    /// `Err` says what was expected.
    pub fn add(&mut self, key: &str, value: &str) -> Result<(), String> {
        let key = key.trim();
        let value = value.trim();
        match key {
            "cpu" => self.cpus = count(key, value)?,
            "mem" => {
                self.memory_mb = memory_mb(value).ok_or_else(|| {
                    format!(
                    "expected a memory amount such as 16G, 512M or 3.50G for mem, found {value:?}"
                )
                })?
            }
            "node" => self.nodes = Some(count(key, value)?),
            "billing" => self.billing = Some(number(key, value)?),
            "gres/gpu" => self.gpus_untyped = Some(count(key, value)?),
            _ => {
                if let Some(kind) = key.strip_prefix("gres/gpu:") {
                    if kind.is_empty() {
                        return Err("expected a GPU type after gres/gpu:".into());
                    }
                    self.gpus_by_type
                        .insert(kind.to_string(), count(key, value)?);
                } else if key.is_empty() {
                    return Err(format!("expected name=value, found ={value}"));
                } else {
                    self.other.insert(key.to_string(), value.to_string());
                }
            }
        }
        Ok(())
    }
}

fn number(key: &str, value: &str) -> Result<Decimal, String> {
    plain_decimal(value)
        .ok_or_else(|| format!("expected a non-negative number for {key}, found {value:?}"))
}

fn count(key: &str, value: &str) -> Result<Decimal, String> {
    plain_decimal(value)
        .filter(|d| d.fract().is_zero())
        .ok_or_else(|| format!("expected a whole non-negative count for {key}, found {value:?}"))
}

/// `12`, `3.50`: digits with an optional fraction, nothing else.
fn plain_decimal(s: &str) -> Option<Decimal> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
        return None;
    }
    s.parse::<Decimal>().ok()
}

/// Memory to MB, exactly: `16G` → 16384, `3.50G` → 3584, `512K` → 0.5, `256` → 256 (MB).
pub fn memory_mb(value: &str) -> Option<Decimal> {
    let value = value.trim();
    let (number, factor) = match value.as_bytes().last()? {
        b'K' | b'k' => (
            &value[..value.len() - 1],
            Decimal::new(1, 0) / Decimal::new(1024, 0),
        ),
        b'M' | b'm' => (&value[..value.len() - 1], Decimal::ONE),
        b'G' | b'g' => (&value[..value.len() - 1], Decimal::new(1024, 0)),
        b'T' | b't' => (&value[..value.len() - 1], Decimal::new(1024 * 1024, 0)),
        b'P' | b'p' => (
            &value[..value.len() - 1],
            Decimal::new(1024 * 1024 * 1024, 0),
        ),
        _ => (value, Decimal::ONE),
    };
    let n = plain_decimal(number)?;
    n.checked_mul(factor).map(|d| d.normalize())
}

/// Parse `AllocTRES` (`cpu=4,mem=16G,…`; empty: nothing allocated). `Err((item, expected))`
/// names the faulty item.
pub fn parse_tres(s: &str) -> Result<Tres, (String, String)> {
    let mut tres = Tres::default();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err((
                item.to_string(),
                format!("expected name=value such as cpu=4 or mem=16G, found {item:?}"),
            ));
        };
        tres.add(key, value).map_err(|e| (item.to_string(), e))?;
    }
    Ok(tres)
}

/// The largest node list expanded (counting needs no expansion).
const MAX_EXPANDED: u64 = 1_000_000;

/// One host pattern of a node list: literal text and `[ranges]` in turn.
#[derive(Debug)]
enum Part {
    Text(String),
    /// (low, high, zero-padded width)
    Ranges(Vec<(u64, u64, usize)>),
}

/// Split a Slurm node list at its top-level commas and parse each pattern.
fn patterns(list: &str) -> Result<Vec<Vec<Part>>, String> {
    let list = list.trim();
    if list.is_empty() || list == "None assigned" || list == "(null)" || list == "None" {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut text = String::new();
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            ',' => {
                if !text.is_empty() {
                    current.push(Part::Text(std::mem::take(&mut text)));
                }
                if current.is_empty() {
                    return Err(format!("empty host name in node list {list:?}"));
                }
                out.push(std::mem::take(&mut current));
            }
            '[' => {
                if !text.is_empty() {
                    current.push(Part::Text(std::mem::take(&mut text)));
                }
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some('[') | None => {
                            return Err(format!("unclosed `[` in node list {list:?}"))
                        }
                        Some(c) => inner.push(c),
                    }
                }
                current.push(Part::Ranges(
                    ranges(&inner).map_err(|e| format!("{e} in node list {list:?}"))?,
                ));
            }
            ']' => return Err(format!("`]` without `[` in node list {list:?}")),
            c if c.is_whitespace() => {
                return Err(format!("unexpected space in node list {list:?}"))
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        current.push(Part::Text(text));
    }
    if current.is_empty() {
        return Err(format!("empty host name in node list {list:?}"));
    }
    out.push(current);
    Ok(out)
}

/// `01-04,07` → [(1, 4, 2), (7, 7, 2)].
fn ranges(inner: &str) -> Result<Vec<(u64, u64, usize)>, String> {
    let mut out = Vec::new();
    for r in inner.split(',') {
        let (lo, hi) = r.split_once('-').unwrap_or((r, r));
        let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !valid(lo) || !valid(hi) {
            return Err(format!("expected a range such as 01-04 or 7, found {r:?}"));
        }
        let (a, b) = (
            lo.parse::<u64>().map_err(|e| e.to_string())?,
            hi.parse::<u64>().map_err(|e| e.to_string())?,
        );
        if b < a {
            return Err(format!("range {r:?} ends before it starts"));
        }
        let width = if lo.len() > 1 && lo.starts_with('0') {
            lo.len()
        } else {
            0
        };
        out.push((a, b, width));
    }
    Ok(out)
}

/// How many nodes a node list such as `gpu[01-04,07],login1` names.
pub fn count_nodes(list: &str) -> Result<u64, String> {
    let mut total: u64 = 0;
    for pattern in patterns(list)? {
        let mut n: u64 = 1;
        for part in &pattern {
            if let Part::Ranges(ranges) = part {
                let size: u64 = ranges.iter().map(|(a, b, _)| b - a + 1).sum();
                n = n
                    .checked_mul(size)
                    .ok_or_else(|| format!("node list {list:?} is too large"))?;
            }
        }
        total = total
            .checked_add(n)
            .ok_or_else(|| format!("node list {list:?} is too large"))?;
    }
    Ok(total)
}

/// Every node a node list names, in order: `gpu[01-02],login1` → gpu01, gpu02, login1.
pub fn expand_nodes(list: &str) -> Result<Vec<String>, String> {
    if count_nodes(list)? > MAX_EXPANDED {
        return Err(format!(
            "node list {list:?} names more than {MAX_EXPANDED} nodes"
        ));
    }
    let mut out = Vec::new();
    for pattern in patterns(list)? {
        let mut names = vec![String::new()];
        for part in &pattern {
            names = match part {
                Part::Text(t) => names.into_iter().map(|n| n + t).collect(),
                Part::Ranges(ranges) => names
                    .iter()
                    .flat_map(|n| {
                        ranges.iter().flat_map(move |&(a, b, width)| {
                            (a..=b).map(move |i| format!("{n}{i:0width$}"))
                        })
                    })
                    .collect(),
            };
        }
        out.extend(names);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn alloc_tres_with_typed_and_untyped_gpus() {
        let t = parse_tres("billing=4,cpu=4,gres/gpu=2,gres/gpu:a100=2,mem=16G,node=1").unwrap();
        assert_eq!(t.cpus, d("4"));
        assert_eq!(t.memory_mb, d("16384"));
        assert_eq!(t.gpus(), d("2"), "gres/gpu already counts the typed ones");
        assert_eq!(t.nodes, Some(d("1")));
        assert_eq!(t.billing, Some(d("4")));
        let typed = parse_tres("cpu=8,gres/gpu:a100=2,gres/gpu:h100=1,mem=3.50G").unwrap();
        assert_eq!(typed.gpus(), d("3"), "typed only: summed across types");
        assert_eq!(typed.memory_mb, d("3584"));
        assert_eq!(typed.gpus_by_type.len(), 2);
        let other = parse_tres("cpu=1,mem=1T,energy=17,fs/disk=2G,gres/gpumem=40G").unwrap();
        assert_eq!(other.memory_mb, d("1048576"));
        assert_eq!(
            other.gpus(),
            Decimal::ZERO,
            "gres/gpumem is not a GPU count"
        );
        assert_eq!(other.other["fs/disk"], "2G");
        assert!(parse_tres("").unwrap().is_empty());
    }

    #[test]
    fn memory_units_are_exact() {
        assert_eq!(memory_mb("512K"), Some(d("0.5")));
        assert_eq!(memory_mb("1K"), Some(d("0.0009765625")));
        assert_eq!(memory_mb("128M"), Some(d("128")));
        assert_eq!(memory_mb("300"), Some(d("300")));
        assert_eq!(memory_mb("2.25T"), Some(d("2359296")));
        assert_eq!(memory_mb("1P"), Some(d("1073741824")));
        for bad in ["", "G", "1.G", ".5G", "-1G", "1e3M", "1X", "1,5G"] {
            assert_eq!(memory_mb(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bad_tres_names_the_item() {
        let (item, why) = parse_tres("cpu=4,mem=lots").unwrap_err();
        assert_eq!(item, "mem=lots");
        assert!(why.contains("memory"), "{why}");
        assert_eq!(parse_tres("cpu=4,gpu").unwrap_err().0, "gpu");
        assert!(parse_tres("cpu=2.5").unwrap_err().1.contains("whole"));
        assert!(parse_tres("gres/gpu:=1").is_err());
        assert!(parse_tres("=1").is_err());
    }

    #[test]
    fn node_lists_expand_and_count() {
        assert_eq!(
            expand_nodes("gpu[01-04,07]").unwrap(),
            ["gpu01", "gpu02", "gpu03", "gpu04", "gpu07"]
        );
        assert_eq!(
            expand_nodes("node[1-3],login1").unwrap(),
            ["node1", "node2", "node3", "login1"]
        );
        assert_eq!(
            expand_nodes("r[1-2]n[08-09]-ib").unwrap(),
            ["r1n08-ib", "r1n09-ib", "r2n08-ib", "r2n09-ib"]
        );
        assert_eq!(
            expand_nodes("c[098-101]").unwrap(),
            ["c098", "c099", "c100", "c101"]
        );
        assert_eq!(expand_nodes("localhost").unwrap(), ["localhost"]);
        assert!(expand_nodes("None assigned").unwrap().is_empty());
        assert_eq!(
            count_nodes("gpu[01-04,07],cpu[001-100],login1").unwrap(),
            106
        );
        assert_eq!(count_nodes("").unwrap(), 0);
        assert_eq!(count_nodes("big[0-99999999]").unwrap(), 100_000_000);
        assert!(
            expand_nodes("big[0-99999999]").is_err(),
            "not expanded past the limit"
        );
        for bad in [
            "gpu[01-", "gpu]", "gpu[4-1]", "gpu[a-b]", "a,,b", "gpu[1-2", "a b", "[]",
        ] {
            assert!(count_nodes(bad).is_err(), "{bad:?}");
        }
    }
}
