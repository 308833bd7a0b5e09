//! Streaming record readers: CSV (plain or gzip) and Parquet (one row group at a time).
//! Each hands records to a callback as text fields, with their location in the file.
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use polars::prelude::{DataType, ParquetReader, SerReader, TimeUnit};

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole (unreadable, wrong format).
    File,
    /// 1-based line of a text file (the header is line 1).
    Line(u64),
    /// 0-based row group and 0-based row within it, in a Parquet file.
    RowGroup { group: usize, row: usize },
}

impl Location {
    /// A stable row number for references back to the input.
    pub fn row_number(self) -> u64 {
        match self {
            Location::File => 0,
            Location::Line(line) => line,
            Location::RowGroup { group, row } => ((group as u64) << 32) | row as u64,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File => Ok(()),
            Location::Line(line) => write!(f, "line {line}"),
            Location::RowGroup { group, row } => write!(f, "row group {group}, row {row}"),
        }
    }
}

/// A failure to read records at all (as opposed to a bad value in one field).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError {
    pub location: Location,
    pub column: Option<String>,
    pub message: String,
}

/// The record-level interface every file format provides.
pub trait RecordReader {
    fn headers(&self) -> &[String];
    /// Feed every record to `visit` until it breaks or the file ends.
    fn for_each_record(
        &mut self,
        visit: &mut dyn FnMut(Location, &[&str]) -> ControlFlow<()>,
    ) -> Result<(), ReadError>;
    /// After reading: whether the input ended without a line end, as a file cut off mid-record does.
    fn ended_mid_line(&self) -> bool {
        false
    }
}

/// Open a file by its content (gzip and Parquet magic bytes), not only by its name.
pub fn open(path: &Path) -> Result<Box<dyn RecordReader + Send>, ReadError> {
    let file_error = |message: String| ReadError {
        location: Location::File,
        column: None,
        message,
    };
    let mut file = File::open(path).map_err(|e| file_error(format!("cannot open: {e}")))?;
    let mut magic = [0u8; 4];
    let n = file
        .read(&mut magic)
        .map_err(|e| file_error(format!("cannot read: {e}")))?;
    if n == 4 && &magic == b"PAR1" {
        return Ok(Box::new(ParquetRecords::open(path)?));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| file_error(format!("cannot read: {e}")))?;
    let input: Box<dyn Read + Send> = if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 20,
            file,
        )))
    } else {
        Box::new(file)
    };
    let last_byte = Arc::new(AtomicU8::new(b'\n'));
    let input = Box::new(LastByte {
        inner: input,
        last: last_byte.clone(),
    });
    Ok(Box::new(CsvRecords::new(input, last_byte)?))
}

/// Remembers the last byte read, to tell a file cut off mid-record from a complete one.
struct LastByte {
    inner: Box<dyn Read + Send>,
    last: Arc<AtomicU8>,
}

impl Read for LastByte {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last.store(buf[n - 1], Ordering::Relaxed);
        }
        Ok(n)
    }
}

pub struct CsvRecords {
    reader: csv::Reader<Box<dyn Read + Send>>,
    headers: Vec<String>,
    last_byte: Arc<AtomicU8>,
}

impl CsvRecords {
    fn new(input: Box<dyn Read + Send>, last_byte: Arc<AtomicU8>) -> Result<CsvRecords, ReadError> {
        // Records end at `\n` only, and a `\r` before it is cut from the last field below: the
        // csv crate's own CRLF handling counts lines one too low, and real exports (Azure,
        // Excel, Python's csv module) use CRLF.
        let mut reader = csv::ReaderBuilder::new()
            .buffer_capacity(1 << 20)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(input);
        let raw = reader.byte_headers().map_err(|e| csv_error(e))?.clone();
        let mut headers = Vec::with_capacity(raw.len());
        let last = raw.len().saturating_sub(1);
        for (i, field) in raw.iter().enumerate() {
            let field = if i == last { strip_cr(field) } else { field };
            let header = std::str::from_utf8(field).map_err(|e| ReadError {
                location: Location::Line(1),
                column: Some(format!("{}", i + 1)),
                message: format!("header is not valid UTF-8 (invalid byte at offset {}); re-export the file as UTF-8", e.valid_up_to()),
            })?;
            headers.push(header.to_string());
        }
        if headers.len() <= 1 && headers.first().is_none_or(|h| h.trim().is_empty()) {
            return Err(ReadError {
                location: Location::Line(1),
                column: None,
                message:
                    "no header row: expected a CSV file with FOCUS column names in the first line"
                        .into(),
            });
        }
        Ok(CsvRecords {
            reader,
            headers,
            last_byte,
        })
    }
}

fn csv_error(error: csv::Error) -> ReadError {
    let line = error.position().map(|p| p.line()).unwrap_or(0);
    match error.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => ReadError {
            location: Location::Line(line),
            column: None,
            message: format!(
                "row has {len} fields but the header has {expected_len}: the file is truncated or a quote is unbalanced"
            ),
        },
        csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => ReadError {
            location: Location::Line(line),
            column: None,
            message: "the compressed stream ends early: the file is truncated; download it again".into(),
        },
        csv::ErrorKind::Io(io) => ReadError {
            location: Location::Line(line),
            column: None,
            message: format!("read failed: {io} (a corrupt or truncated file?)"),
        },
        _ => ReadError { location: Location::Line(line), column: None, message: error.to_string() },
    }
}

impl RecordReader for CsvRecords {
    fn headers(&self) -> &[String] {
        &self.headers
    }

    fn ended_mid_line(&self) -> bool {
        !matches!(self.last_byte.load(Ordering::Relaxed), b'\n' | b'\r')
    }

    fn for_each_record(
        &mut self,
        visit: &mut dyn FnMut(Location, &[&str]) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        let mut record = csv::ByteRecord::new();
        loop {
            match self.reader.read_byte_record(&mut record) {
                Ok(false) => return Ok(()),
                Ok(true) => {}
                Err(e) => return Err(csv_error(e)),
            }
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            let mut fields: Vec<&str> = Vec::with_capacity(self.headers.len());
            let last = record.len().saturating_sub(1);
            for (i, raw) in record.iter().enumerate() {
                let raw = if i == last { strip_cr(raw) } else { raw };
                match std::str::from_utf8(raw) {
                    Ok(text) => fields.push(text),
                    Err(e) => {
                        return Err(ReadError {
                            location: Location::Line(line),
                            column: Some(column_label(&self.headers, i)),
                            message: format!(
                                "not valid UTF-8 (invalid byte at offset {} of the field); re-export the file as UTF-8",
                                e.valid_up_to()
                            ),
                        })
                    }
                }
            }
            if visit(Location::Line(line), &fields).is_break() {
                return Ok(());
            }
        }
    }
}

/// The `\r` of a CRLF line end, left on the last field by splitting records at `\n`.
fn strip_cr(field: &[u8]) -> &[u8] {
    field.strip_suffix(b"\r").unwrap_or(field)
}

/// `3 (BilledCost)`: the 1-based column number and its header.
pub fn column_label(headers: &[String], index: usize) -> String {
    match headers.get(index) {
        Some(name) => format!("{} ({name})", index + 1),
        None => format!("{}", index + 1),
    }
}

pub struct ParquetRecords {
    path: PathBuf,
    headers: Vec<String>,
    row_groups: Vec<usize>,
}

impl ParquetRecords {
    fn open(path: &Path) -> Result<ParquetRecords, ReadError> {
        let corrupt = |e: polars::prelude::PolarsError| ReadError {
            location: Location::File,
            column: None,
            message: format!("not a readable Parquet file (truncated or corrupt footer?): {e}"),
        };
        let file = File::open(path).map_err(|e| ReadError {
            location: Location::File,
            column: None,
            message: format!("cannot open: {e}"),
        })?;
        let mut reader = ParquetReader::new(file);
        let schema = reader.schema().map_err(corrupt)?;
        let metadata = reader.get_metadata().map_err(corrupt)?;
        Ok(ParquetRecords {
            path: path.to_path_buf(),
            headers: schema.iter_names().map(|n| n.to_string()).collect(),
            row_groups: metadata.row_groups.iter().map(|rg| rg.num_rows()).collect(),
        })
    }

    /// One row group, every column as text (nulls as empty strings).
    fn read_group(
        &self,
        group: usize,
        offset: usize,
    ) -> Result<Vec<Vec<Option<String>>>, ReadError> {
        let group_error = |e: polars::prelude::PolarsError| ReadError {
            location: Location::RowGroup { group, row: 0 },
            column: None,
            message: format!("cannot read row group (truncated or corrupt file?): {e}"),
        };
        let file = File::open(&self.path).map_err(|e| ReadError {
            location: Location::File,
            column: None,
            message: format!("cannot open: {e}"),
        })?;
        let df = ParquetReader::new(file)
            .with_slice(Some((offset, self.row_groups[group])))
            .finish()
            .map_err(group_error)?;
        let mut columns = Vec::with_capacity(df.width());
        for (i, column) in df.columns().iter().enumerate() {
            let texts = column_as_text(column).map_err(|e| ReadError {
                location: Location::RowGroup { group, row: 0 },
                column: Some(column_label(&self.headers, i)),
                message: format!("cannot read the column as text: {e}"),
            })?;
            columns.push(texts);
        }
        Ok(columns)
    }
}

/// Timestamps as `YYYY-MM-DD hh:mm:ss` UTC; everything else through polars' own cast to text.
fn column_as_text(
    column: &polars::prelude::Column,
) -> polars::prelude::PolarsResult<Vec<Option<String>>> {
    if let DataType::Datetime(unit, _) = column.dtype() {
        let per_second = match unit {
            TimeUnit::Nanoseconds => 1_000_000_000,
            TimeUnit::Microseconds => 1_000_000,
            TimeUnit::Milliseconds => 1_000,
        };
        let physical = column.cast(&DataType::Int64)?;
        return Ok(physical
            .i64()?
            .iter()
            .map(|v| {
                v.and_then(|v| chrono::DateTime::from_timestamp(v.div_euclid(per_second), 0))
                    .map(queries::format_datetime)
            })
            .collect());
    }
    let text = column.cast(&DataType::String)?;
    Ok(text.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

impl RecordReader for ParquetRecords {
    fn headers(&self) -> &[String] {
        &self.headers
    }

    fn for_each_record(
        &mut self,
        visit: &mut dyn FnMut(Location, &[&str]) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        let mut offset = 0;
        for group in 0..self.row_groups.len() {
            let columns = self.read_group(group, offset)?;
            for row in 0..self.row_groups[group] {
                let fields: Vec<&str> = columns
                    .iter()
                    .map(|c| c.get(row).and_then(|v| v.as_deref()).unwrap_or(""))
                    .collect();
                if visit(Location::RowGroup { group, row }, &fields).is_break() {
                    return Ok(());
                }
            }
            offset += self.row_groups[group];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &str) -> Vec<u64> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, text).unwrap();
        let mut records = open(&path).unwrap();
        let mut lines = Vec::new();
        records
            .for_each_record(&mut |location, _| {
                if let Location::Line(l) = location {
                    lines.push(l);
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        lines
    }

    #[test]
    fn line_numbers_are_the_same_for_lf_and_crlf_files() {
        let lf = "a,b\n1,2\n3,\"x\ny\"\n5,6\n";
        assert_eq!(lines_of(lf), [2, 3, 5]);
        assert_eq!(lines_of(&lf.replace('\n', "\r\n")), [2, 3, 5]);
        // A byte-order mark and a file without a final line end change nothing.
        assert_eq!(lines_of(&format!("\u{feff}{}", lf.trim_end())), [2, 3, 5]);
    }
}
