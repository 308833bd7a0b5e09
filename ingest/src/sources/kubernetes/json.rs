//! Where things are in a JSON text: the byte range of a top-level field's value and of each
//! element of an array, and the line and column of a byte offset. Used on text serde_json has
//! already accepted, so each item of a `kubectl … -o json` list is deserialized on its own (its
//! kind decides its type) while problems still point at the line and column in the file.
use std::ops::Range;

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// `i` is at an opening quote; the index after the closing one.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// `i` is at the start of a value; the index after it.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = i;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = skip_string(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        _ => {
            let mut i = i;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']') && !b[i].is_ascii_whitespace()
            {
                i += 1;
            }
            i
        }
    }
}

/// The range of the value of `key` in the object `range` of `text` (valid JSON).
pub fn field(text: &str, range: Range<usize>, key: &str) -> Option<Range<usize>> {
    let b = &text.as_bytes()[..range.end];
    let mut i = skip_ws(b, range.start);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let end = skip_string(b, i);
        let name = &text[i + 1..end - 1];
        i = skip_ws(b, end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, i + 1);
        let after = skip_value(b, start);
        if name == key {
            return Some(start..after);
        }
        i = skip_ws(b, after);
        match b.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

/// The ranges of the elements of the array at `range` of `text` (valid JSON).
pub fn elements(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let b = &text.as_bytes()[..range.end];
    let mut out = Vec::new();
    let mut i = skip_ws(b, range.start);
    if b.get(i) != Some(&b'[') {
        return out;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return out;
    }
    loop {
        let start = skip_ws(b, i);
        let end = skip_value(b, start);
        out.push(start..end);
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i += 1,
            _ => return out,
        }
    }
}

/// 1-based line and column (in bytes, as serde_json counts) of the byte at `offset`.
pub fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    (line, (before.len() - line_start) as u64 + 1)
}

/// Where a serde_json error inside the slice starting at `offset` sits in the whole text.
pub fn error_position(text: &str, offset: usize, error: &serde_json::Error) -> (u64, u64) {
    let (line, column) = line_column(text, offset);
    match error.line() {
        0 => (line, column),
        1 => (line, column - 1 + error.column() as u64),
        l => (line + l as u64 - 1, error.column() as u64),
    }
}

/// A serde_json error's message without its " at line L column C".
pub fn message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.line() != 0 => text[..at].to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_and_elements_past_strings_with_brackets() {
        let text = r#" { "a": "x]}\"{", "items" : [ {"k": [1, {"z": "]"}]}, 2 ,"s" , [] ], "kind": "List" } "#;
        let all = 0..text.len();
        let items = field(text, all.clone(), "items").unwrap();
        let parts: Vec<&str> = elements(text, items)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(parts, [r#"{"k": [1, {"z": "]"}]}"#, "2", r#""s""#, "[]"]);
        assert_eq!(
            &text[field(text, all.clone(), "kind").unwrap()],
            r#""List""#
        );
        assert_eq!(field(text, all.clone(), "missing"), None);
        assert!(elements("[]", 0..2).is_empty());
    }

    #[test]
    fn positions_inside_a_slice_map_to_the_whole_text() {
        let text = "{\n  \"items\": [\n    {\"a\": 1,\n     \"b\": x}]}";
        let items = field(text, 0..text.len(), "items").unwrap();
        let item = elements(text, items)[0].clone();
        assert_eq!(line_column(text, item.start), (3, 5));
        let error = serde_json::from_str::<serde_json::Value>(&text[item.clone()]).unwrap_err();
        let whole = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
        assert_eq!((whole.line() as u64, whole.column() as u64), (4, 11));
        assert_eq!(error_position(text, item.start, &error), (4, 11));
        assert_eq!(message(&whole), "expected value");
        // An error on the item's first line.
        let text = "{\"items\": [{\"a\": 1}, {\"a\": x}]}";
        let items = field(text, 0..text.len(), "items").unwrap();
        let item = elements(text, items)[1].clone();
        let error = serde_json::from_str::<serde_json::Value>(&text[item.clone()]).unwrap_err();
        let whole = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
        assert_eq!(
            error_position(text, item.start, &error),
            (1, whole.column() as u64)
        );
    }
}
