//! Client-side rendering of `{name:Type}` placeholders in the SQL files.
//!
//! ClickHouse 18.16 has no server-side query parameters, so values are rendered as
//! literals here, escaped by the placeholder's declared type.
use std::collections::BTreeMap;

use crate::StoreError;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Str(String),
    Int(i128),
    /// Unix seconds, UTC.
    DateTime(i64),
    /// `YYYY-MM-DD`.
    Date(chrono::NaiveDate),
    StrArray(Vec<String>),
    /// A table or column name.
    Ident(String),
}

/// One SQL file and the values bound to its placeholders.
#[derive(Debug, Clone)]
pub struct Query {
    pub name: &'static str,
    pub text: &'static str,
    params: BTreeMap<String, Param>,
}

impl Query {
    pub fn new(name: &'static str, text: &'static str) -> Query {
        Query {
            name,
            text,
            params: BTreeMap::new(),
        }
    }

    pub fn bind(mut self, name: &str, value: Param) -> Query {
        self.params.insert(name.to_string(), value);
        self
    }

    pub fn bind_str(self, name: &str, value: impl Into<String>) -> Query {
        self.bind(name, Param::Str(value.into()))
    }

    pub fn bind_ident(self, name: &str, value: impl Into<String>) -> Query {
        self.bind(name, Param::Ident(value.into()))
    }

    /// The placeholders in the text: `(name, type)` in order of appearance.
    pub fn placeholders(&self) -> Vec<(String, String)> {
        scan(self.text)
            .into_iter()
            .map(|p| (p.name.to_string(), p.ty.to_string()))
            .collect()
    }

    /// The SQL with every placeholder replaced by a literal.
    pub fn render(&self) -> Result<String, StoreError> {
        let mut out = String::with_capacity(self.text.len());
        let mut last = 0;
        for placeholder in scan(self.text) {
            out.push_str(&self.text[last..placeholder.start]);
            let value =
                self.params
                    .get(placeholder.name)
                    .ok_or_else(|| StoreError::MissingParam {
                        query: self.name.into(),
                        name: placeholder.name.into(),
                        ty: placeholder.ty.into(),
                    })?;
            out.push_str(&literal(self.name, &placeholder, value)?);
            last = placeholder.end;
        }
        out.push_str(&self.text[last..]);
        Ok(out)
    }
}

struct Placeholder<'a> {
    start: usize,
    end: usize,
    name: &'a str,
    ty: &'a str,
}

fn scan(text: &str) -> Vec<Placeholder<'_>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            if let Some(p) = placeholder_at(text, i) {
                i = p.end;
                found.push(p);
                continue;
            }
        }
        i += 1;
    }
    found
}

fn placeholder_at(text: &str, start: usize) -> Option<Placeholder<'_>> {
    let close = start + text[start..].find('}')?;
    let (name, ty) = text[start + 1..close].split_once(':')?;
    let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let ty_ok = ty.starts_with(|c: char| c.is_ascii_alphabetic())
        && ty
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "(), ".contains(c));
    (name_ok && ty_ok).then_some(Placeholder {
        start,
        end: close + 1,
        name,
        ty,
    })
}

/// A string literal ClickHouse reads back unchanged.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A back-quoted identifier ClickHouse reads back unchanged: inside back quotes, ClickHouse
/// processes the same escape sequences as in strings, so backslashes are escaped too.
pub fn quote_ident(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('`');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '`' => out.push_str("\\`"),
            '\n' => out.push_str("\\n"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

fn literal(query: &str, p: &Placeholder<'_>, value: &Param) -> Result<String, StoreError> {
    let mismatch = || StoreError::ParamType {
        query: query.into(),
        name: p.name.into(),
        ty: p.ty.into(),
        given: format!("{value:?}"),
    };
    let ty = p.ty.trim();
    let rendered = match (ty, value) {
        ("String", Param::Str(s)) => quote(s),
        ("Identifier", Param::Ident(s)) => quote_ident(s),
        ("DateTime", Param::DateTime(secs)) => {
            let ts = chrono::DateTime::from_timestamp(*secs, 0).ok_or_else(mismatch)?;
            // Always UTC: the server's own timezone must not move a day or a month.
            format!("toDateTime({}, 'UTC')", quote(&crate::format_datetime(ts)))
        }
        ("Date", Param::Date(d)) => format!("toDate({})", quote(&d.format("%Y-%m-%d").to_string())),
        ("Array(String)", Param::StrArray(items)) => {
            let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("CAST([{}] AS Array(String))", items.join(", "))
        }
        (t, Param::Int(n)) if t.starts_with("UInt") || t.starts_with("Int") => {
            if t.starts_with("UInt") && *n < 0 {
                return Err(mismatch());
            }
            // A bare literal: partition expressions (REPLACE PARTITION) take no function calls.
            n.to_string()
        }
        _ => return Err(mismatch()),
    };
    Ok(rendered)
}

/// Split a file of several statements on `;` at the end of a line, outside string literals.
pub fn statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        match c {
            '\\' if in_string => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '\'' => in_string = !in_string,
            '-' if !in_string && chars.peek() == Some(&'-') => {
                // Comment to end of line: keep it, but quotes inside do not count.
                for next in chars.by_ref() {
                    current.push(next);
                    if next == '\n' {
                        break;
                    }
                }
            }
            ';' if !in_string => {
                current.pop();
                push_statement(&mut out, &current);
                current.clear();
            }
            _ => {}
        }
    }
    push_statement(&mut out, &current);
    out
}

fn push_statement(out: &mut Vec<String>, text: &str) {
    let has_code = text.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with("--")
    });
    if has_code {
        out.push(text.trim().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_type_and_escapes_strings() {
        let q = Query::new(
            "t",
            "SELECT {s:String}, {t:Identifier}, {d:DateTime}, {n:UInt32}, {a:Array(String)}, '{}'",
        )
        .bind_str("s", "it's a \\ test")
        .bind_ident("t", "tbl")
        .bind("d", Param::DateTime(1_725_148_800))
        .bind("n", Param::Int(7))
        .bind("a", Param::StrArray(vec!["x".into(), "y'".into()]));
        assert_eq!(
            q.render().unwrap(),
            "SELECT 'it\\'s a \\\\ test', `tbl`, toDateTime('2024-09-01 00:00:00', 'UTC'), 7, \
             CAST(['x', 'y\\''] AS Array(String)), '{}'"
        );
    }

    #[test]
    fn identifiers_escape_backslashes_and_backquotes() {
        assert_eq!(quote_ident("plain_1"), "`plain_1`");
        assert_eq!(quote_ident("a\\b`c"), "`a\\\\b\\`c`");
    }

    #[test]
    fn missing_and_mistyped_values_are_errors() {
        let q = Query::new("t", "SELECT {a:String}");
        assert!(matches!(q.render(), Err(StoreError::MissingParam { .. })));
        let q = Query::new("t", "SELECT {a:UInt8}").bind("a", Param::Int(-1));
        assert!(matches!(q.render(), Err(StoreError::ParamType { .. })));
    }

    #[test]
    fn splits_statements_outside_strings_and_comments() {
        let text = "-- a comment; with 'quote\nCREATE TABLE a (x String DEFAULT ';');\n\nSELECT 1;\n-- trailing\n";
        assert_eq!(
            statements(text),
            vec![
                "-- a comment; with 'quote\nCREATE TABLE a (x String DEFAULT ';')",
                "SELECT 1"
            ]
        );
    }
}
