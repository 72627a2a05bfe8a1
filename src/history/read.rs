//! Reading our own Parquet files back: the live tables' partition files
//! (into a snapshot) and snapshot files (into a diff).
//!
//! Owns the read schema (the file's columns, typed as declared, so files
//! written before a column was added still read, and read back with the
//! declared time zone and field names) and the rendering of one cell as
//! JSON, which is how changes are compared and shown.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use serde_json::Value;

use crate::error::Error;
use crate::schema::TableDef;
use crate::sink::Destination;

/// A file that does not read as the table's: an input error naming it.
fn parquet_err(path: &str, e: impl ToString) -> Error {
    Error::input(
        path,
        "the file",
        format!("reading Parquet: {}", e.to_string()),
    )
}

/// The batches of the Parquet file at `path` (read whole, at most
/// `max_bytes`), with every column `def` declares typed as declared.
pub fn batches(
    dest: &dyn Destination,
    path: &str,
    def: &TableDef,
    max_bytes: u64,
) -> Result<impl Iterator<Item = Result<RecordBatch, Error>>, Error> {
    batches_of(dest, path, def, max_bytes, None)
}

/// [`batches`] of the top-level columns named in `only` (all when `None`):
/// the others are neither decompressed nor decoded.
pub fn batches_of(
    dest: &dyn Destination,
    path: &str,
    def: &TableDef,
    max_bytes: u64,
    only: Option<&[&str]>,
) -> Result<impl Iterator<Item = Result<RecordBatch, Error>>, Error> {
    let data = bytes::Bytes::from(dest.read(path, max_bytes)?);
    // The footer is parsed once; the read schema only retypes its columns.
    let found = ArrowReaderMetadata::load(&data, ArrowReaderOptions::new())
        .map_err(|e| parquet_err(path, e))?;
    // The file's own columns, each replaced by its declaration when it has
    // one; a column the declaration lacks (a file from a newer version)
    // keeps what the file says.
    let fields: Vec<Field> = found
        .schema()
        .fields()
        .iter()
        .map(|f| match def.column(f.name()) {
            Some(c) => c.arrow_field(),
            None => f.as_ref().clone(),
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
    let typed = ArrowReaderMetadata::try_new(found.metadata().clone(), options).map_err(|e| {
        parquet_err(
            path,
            format!("{e} (a column's type differs from its declaration: another table's file, or one to re-export)"),
        )
    })?;
    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(data, typed);
    if let Some(names) = only {
        let roots: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| names.contains(&f.name().as_str()))
            .map(|(i, _)| i)
            .collect();
        let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
        builder = builder.with_projection(mask);
    }
    let reader = builder
        .with_batch_size(8192)
        .build()
        .map_err(|e| parquet_err(path, e))?;
    let path = path.to_string();
    Ok(reader.map(move |b| b.map_err(|e| parquet_err(&path, e))))
}

/// `batch` in `schema`'s columns: the leading partition columns filled with
/// `values`, every other column found by name (null if the file predates it).
pub fn with_partition(
    schema: &SchemaRef,
    batch: &RecordBatch,
    values: &[&str],
    path: &str,
) -> Result<RecordBatch, Error> {
    let n = batch.num_rows();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match values.get(i) {
            Some(v) => {
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n))) as ArrayRef
            }
            None => batch
                .column_by_name(f.name())
                .cloned()
                .unwrap_or_else(|| new_null_array(f.data_type(), n)),
        })
        .collect();
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| parquet_err(path, e))
}

/// One cell as JSON: numbers, strings, booleans, timestamps as RFC 3339
/// UTC text, lists as arrays, structs and maps as objects.
pub fn cell(array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(i)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(i)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(i)),
        DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => Value::from(array.as_boolean().value(i)),
        DataType::Timestamp(_, _) => {
            let ms = array.as_primitive::<TimestampMillisecondType>().value(i);
            match chrono::DateTime::from_timestamp_millis(ms) {
                Some(t) => Value::from(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
                None => Value::from(ms),
            }
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            Value::Array((0..items.len()).map(|j| cell(items.as_ref(), j)).collect())
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            Value::Object(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, col)| (f.name().clone(), cell(col.as_ref(), i)))
                    .collect(),
            )
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(i);
            let (k, v) = (entries.column(0), entries.column(1));
            Value::Object(
                (0..entries.len())
                    .map(|j| {
                        let key = match cell(k.as_ref(), j) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, cell(v.as_ref(), j))
                    })
                    .collect(),
            )
        }
        other => Value::from(format!("<{other}>")),
    }
}
