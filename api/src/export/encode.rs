//! FOCUS rows into CSV or Parquet, a chunk at a time.
use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use polars::prelude::{
    BatchedWriter, Column, DataFrame, DataType, Int128Chunked, IntoColumn, IntoSeries,
    NewChunkedArray, ParquetWriter, PlSmallStr, TimeUnit, TimeZone,
};

use super::focus::{FocusLine, Type, Value, COLUMNS};
use super::ExportFormat;

/// Rows encoded together; one Parquet row group each.
pub const CHUNK_ROWS: usize = 32_768;

/// Precision and scale of FOCUS amounts in Parquet, as in ClickHouse.
const PRECISION: usize = 38;
const SCALE: usize = 18;

pub enum Encoder<W: Write> {
    Csv(csv::Writer<W>),
    Parquet {
        out: Shared<W>,
        writer: BatchedWriter<Shared<W>>,
    },
}

/// The output, shared with the Parquet writer so it can be taken back when the file is complete.
pub struct Shared<W>(Arc<Mutex<W>>);

impl<W: Write> Write for Shared<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("output lock").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().expect("output lock").flush()
    }
}

/// A CSV field: exact decimal text, ISO 8601 UTC timestamps, empty for null.
fn csv_field(value: Value<'_>) -> String {
    match value {
        Value::Text(s) => s.to_string(),
        Value::Null => String::new(),
        Value::Time(secs) => chrono::DateTime::from_timestamp(secs, 0)
            .expect("a timestamp in range")
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        Value::Money(d) => d.to_string(),
    }
}

/// A chunk of rows as a frame of the export's Parquet schema.
fn frame(lines: &[FocusLine]) -> Result<DataFrame> {
    let rows: Vec<_> = lines.iter().map(FocusLine::values).collect();
    let mut columns = Vec::with_capacity(COLUMNS.len());
    for (i, (name, ty)) in COLUMNS.iter().enumerate() {
        let name = PlSmallStr::from_static(name);
        let column = match ty {
            Type::Text => Column::new(
                name,
                rows.iter()
                    .map(|r| match r[i] {
                        Value::Text(s) => Some(s),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Type::Time => Column::new(
                name,
                rows.iter()
                    .map(|r| match r[i] {
                        Value::Time(secs) => Some(secs * 1000),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
            .cast(&DataType::Datetime(
                TimeUnit::Milliseconds,
                Some(TimeZone::UTC),
            ))?,
            Type::Money => Int128Chunked::from_iter_options(
                name,
                rows.iter().map(|r| match r[i] {
                    Value::Money(d) => Some(d.0),
                    _ => None,
                }),
            )
            .into_decimal_unchecked(PRECISION, SCALE)
            .into_series()
            .into_column(),
        };
        columns.push(column);
    }
    Ok(DataFrame::new(lines.len(), columns)?)
}

impl<W: Write> Encoder<W> {
    /// An encoder that has written the CSV header, or knows the Parquet schema.
    pub fn new(format: ExportFormat, out: W) -> Result<Encoder<W>> {
        match format {
            ExportFormat::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .buffer_capacity(1 << 20)
                    .from_writer(out);
                writer.write_record(COLUMNS.iter().map(|(name, _)| *name))?;
                Ok(Encoder::Csv(writer))
            }
            ExportFormat::Parquet => {
                let out = Shared(Arc::new(Mutex::new(out)));
                let schema = frame(&[])?.schema().clone();
                let writer = ParquetWriter::new(Shared(out.0.clone())).batched(&schema)?;
                Ok(Encoder::Parquet { out, writer })
            }
        }
    }

    pub fn write(&mut self, lines: &[FocusLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        match self {
            Encoder::Csv(writer) => {
                for line in lines {
                    writer.write_record(line.values().map(csv_field))?;
                }
            }
            Encoder::Parquet { writer, .. } => writer.write_batch(&frame(lines)?)?,
        }
        Ok(())
    }

    /// Complete the file (the Parquet footer) and give the output back, flushed.
    pub fn finish(self) -> Result<W> {
        let mut out = match self {
            Encoder::Csv(writer) => writer
                .into_inner()
                .map_err(|e| e.into_error())
                .context("writing the export failed")?,
            Encoder::Parquet { out, writer } => {
                writer.finish()?;
                drop(writer);
                Arc::try_unwrap(out.0)
                    .map_err(|_| anyhow::anyhow!("the Parquet writer kept its output"))?
                    .into_inner()
                    .expect("output lock")
            }
        };
        out.flush().context("writing the export failed")?;
        Ok(out)
    }
}
