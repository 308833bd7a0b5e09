//! RowBinary encoding, for inserts that write rows straight from parsed input without building
//! a struct per row (the FOCUS ingest path: no allocation per field).
//! Layout per ClickHouse: strings are a LEB128 length and bytes; integers, DateTime (u32) and
//! Decimal128 (i128 of value × 10^scale) little-endian; Nullable a 0/1 byte before the value;
//! arrays a LEB128 count and the items.

pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub fn put_str(out: &mut Vec<u8>, value: &str) {
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_i128(out: &mut Vec<u8>, value: i128) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_nullable_i128(out: &mut Vec<u8>, value: Option<i128>) {
    match value {
        Some(v) => {
            out.push(0);
            put_i128(out, v);
        }
        None => out.push(1),
    }
}

pub fn put_str_array<S: AsRef<str>>(out: &mut Vec<u8>, items: &[S]) {
    put_varint(out, items.len() as u64);
    for item in items {
        put_str(out, item.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_clickhouse() {
        let mut out = Vec::new();
        put_str(&mut out, "é");
        put_varint(&mut out, 300);
        put_nullable_i128(&mut out, None);
        put_nullable_i128(&mut out, Some(-1));
        put_str_array(&mut out, &["a", "bc"]);
        let mut expected = vec![2, 0xc3, 0xa9, 0xac, 0x02, 1, 0];
        expected.extend([0xff; 16]);
        expected.extend([2, 1, b'a', 2, b'b', b'c']);
        assert_eq!(out, expected);
    }
}
