//! The exposition parsed back: names, types, labels, buckets (process.rs); the cost gauges
//! against `costmill costs` on a generated, ingested and allocated dataset in a real ClickHouse,
//! lag from the run log, the cache, a failing ClickHouse (store_gauges.rs).
mod process;
mod store_gauges;

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// `(family → type, samples)` of an OpenMetrics text; panics on anything malformed.
fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    assert!(text.ends_with("# EOF\n"), "no EOF marker:\n{text}");
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "family {name} twice"
            );
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect("}"))),
            None => (series, BTreeMap::new()),
        };
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|e| panic!("{line}: {e}")),
        };
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    // Every sample belongs to a declared family.
    for s in &samples {
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| s.name.strip_suffix(suffix))
            .filter(|base| types.contains_key(*base))
            .unwrap_or(&s.name);
        assert!(types.contains_key(family), "{} has no # TYPE", s.name);
    }
    (types, samples)
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label {name} quoted in {text}");
        let mut value = String::new();
        loop {
            match chars.next().expect("closing quote") {
                '"' => break,
                '\\' => match chars.next().expect("escape") {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                c => value.push(c),
            }
        }
        labels.insert(name, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

/// The samples named `name` whose labels include `with`.
fn find<'a>(samples: &'a [Sample], name: &str, with: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn one(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    match find(samples, name, with).as_slice() {
        [s] => s.value,
        other => panic!("{name} {with:?}: {other:?}"),
    }
}
