//! One table's Parquet file for one partition.
//!
//! Owns the Parquet settings (compression, statistics, row-group sizing) and
//! the writer that streams record batches into a staged object. A file is
//! finished (footer written) when its partition is complete and committed by
//! the caller only when every table of that partition succeeded.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::{Destination, StagedObject};
use crate::error::Error;

/// Parquet codec choice, see the README's "Compression" section for the measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    Zstd,
    Snappy,
}

#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub codec: Codec,
    /// Row groups hold at most this many rows.
    pub row_group_rows: usize,
    /// A row group is closed once its encoded size reaches this.
    pub row_group_bytes: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            codec: Codec::Zstd,
            row_group_rows: 128 * 1024,
            row_group_bytes: 32 << 20,
        }
    }
}

impl WriterOptions {
    fn properties(&self) -> WriterProperties {
        let compression = match self.codec {
            Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")),
            Codec::Snappy => Compression::SNAPPY,
        };
        WriterProperties::builder()
            .set_compression(compression)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_max_row_group_bytes(Some(self.row_group_bytes))
            .set_created_by(format!("fleetcmdb {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "fleetcmdb.schema_version".to_string(),
                crate::schema::ddl::SCHEMA_VERSION.to_string(),
            )]))
            .build()
    }
}

pub struct PartitionFile {
    rel_path: String,
    writer: ArrowWriter<Box<dyn StagedObject>>,
    pub rows: u64,
}

impl PartitionFile {
    pub fn create(
        dest: &dyn Destination,
        rel_path: String,
        schema: SchemaRef,
        opts: &WriterOptions,
    ) -> Result<Self, Error> {
        let staged = dest.stage(&rel_path)?;
        let writer =
            ArrowWriter::try_new(staged, schema, Some(opts.properties())).map_err(|e| {
                Error::Parquet {
                    what: rel_path.clone(),
                    message: e.to_string(),
                }
            })?;
        Ok(PartitionFile {
            rel_path,
            writer,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        self.writer.write(batch).map_err(|e| self.err(e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Writes the footer; the object is complete but not yet visible.
    pub fn finish(self) -> Result<(String, Box<dyn StagedObject>), Error> {
        let what = self.rel_path.clone();
        let staged = self.writer.into_inner().map_err(|e| Error::Parquet {
            what: what.clone(),
            message: e.to_string(),
        })?;
        Ok((self.rel_path, staged))
    }

    fn err(&self, e: parquet::errors::ParquetError) -> Error {
        Error::Parquet {
            what: self.rel_path.clone(),
            message: e.to_string(),
        }
    }
}
