//! One table's Parquet file for one partition.
//!
//! Owns the Parquet settings (compression, statistics, row-group sizing) and
//! the writer that streams record batches into a staged object. A file is
//! finished (footer written) when its partition is complete and committed by
//! the caller only when every table of that partition succeeded.

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use parquet::schema::types::ColumnPath;

use super::{Destination, StagedObject};
use crate::error::Error;
use crate::schema::{leaves, TableDef};

/// Parquet codec choice, see docs/performance.md for the measurements.
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
    /// A row group is closed once its encoded size, or the memory its
    /// writer holds, reaches this.
    pub row_group_bytes: usize,
    /// A file written whole from a batch smaller than this is stored
    /// uncompressed: every column chunk would otherwise get its own zstd
    /// context (a few hundred KiB, allocated and zeroed) to save a few bytes.
    pub small_file_bytes: usize,
    /// All the files one scope has open together hold at most about this
    /// much; over it, the fullest row groups are closed early. A scope may
    /// hold hundreds of groups, each with its instances and volumes files
    /// open while their rows arrive in any order.
    pub scope_bytes: usize,
    /// Files of one partition (the per-group tree), rather than the
    /// one-file-per-table copies (history, the query-ready copy). Their
    /// footers carry no statistics and their columns no dictionary: a
    /// reader of one group's file reads it whole, and most of a 12-row
    /// file's bytes were its footer.
    pub per_partition: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            codec: Codec::Zstd,
            row_group_rows: 128 * 1024,
            row_group_bytes: 2 << 20,
            small_file_bytes: 64 << 10,
            scope_bytes: 8 << 20,
            per_partition: true,
        }
    }
}

impl WriterOptions {
    fn properties(&self, table: &TableDef, whole_bytes: Option<usize>) -> WriterProperties {
        let compression = match self.codec {
            _ if whole_bytes.is_some_and(|b| b < self.small_file_bytes) => {
                Compression::UNCOMPRESSED
            }
            Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")),
            Codec::Snappy => Compression::SNAPPY,
        };
        let mut b = WriterProperties::builder()
            .set_compression(compression)
            // Row-group min/max is what Athena prunes with; page indexes only
            // add bytes to files this small.
            .set_statistics_enabled(EnabledStatistics::Chunk)
            // No reader of these files seeks pages by row number: an offset
            // index would cost every column chunk its entry.
            .set_offset_index_disabled(true)
            .set_statistics_truncate_length(Some(64))
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_max_row_group_bytes(Some(self.row_group_bytes))
            .set_created_by(format!("fleetcmdb {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "fleetcmdb.schema_version".to_string(),
                crate::schema::ddl::SCHEMA_VERSION.to_string(),
            )]));
        for leaf in leaves(table.columns) {
            let path = ColumnPath::new(leaf.path.split('.').map(str::to_string).collect());
            // Min/max only where engines prune with them: top-level columns
            // of the one-file copies (accountid, region, groupname first).
            let nested = leaf.path.contains('.');
            if self.per_partition || leaf.repeated || nested {
                b = b.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
            }
            // Nested leaves hold a few values a row: zstd does better on
            // them plain than a dictionary page and its header.
            if self.per_partition || leaf.distinct || leaf.timestamp || nested {
                b = b.set_column_dictionary_enabled(path, false);
            }
        }
        b.build()
    }
}

pub struct PartitionFile {
    rel_path: String,
    writer: ArrowWriter<Box<dyn StagedObject>>,
    pub rows: u64,
    memory_budget: usize,
}

impl PartitionFile {
    /// `whole_bytes`: the memory size of the one batch the file will hold,
    /// when it is written whole rather than streamed.
    pub fn create(
        dest: &dyn Destination,
        rel_path: String,
        table: &TableDef,
        opts: &WriterOptions,
        whole_bytes: Option<usize>,
    ) -> Result<Self, Error> {
        let staged = dest.stage(&rel_path)?;
        // The Parquet schema (logical types included) says everything the
        // readers need; the embedded Arrow IPC schema would add ~40% to the
        // footer of every file.
        let options = parquet::arrow::arrow_writer::ArrowWriterOptions::new()
            .with_properties(opts.properties(table, whole_bytes))
            .with_skip_arrow_metadata(true);
        let writer = ArrowWriter::try_new_with_options(staged, table.arrow_schema(), options)
            .map_err(|e| Error::Parquet {
                what: rel_path.clone(),
                message: e.to_string(),
            })?;
        Ok(PartitionFile {
            rel_path,
            writer,
            rows: 0,
            memory_budget: opts.row_group_bytes,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        self.writer.write(batch).map_err(|e| self.err(e))?;
        self.rows += batch.num_rows() as u64;
        // The writer's own row-group size limit counts encoded bytes, not
        // its encoders and dictionaries; bound what it really holds, so a
        // partition of any size is written in bounded memory.
        if self.writer.memory_size() > self.memory_budget {
            self.writer.flush().map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Bytes the writer holds for its unfinished row group.
    pub fn buffered(&self) -> usize {
        self.writer.memory_size()
    }

    /// Closes the unfinished row group now, freeing what it held.
    pub fn flush_row_group(&mut self) -> Result<(), Error> {
        self.writer.flush().map_err(|e| self.err(e))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RowBuilder;
    use crate::sink::local::LocalDestination;
    use crate::tables;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn instance(i: usize) -> serde_json::Value {
        serde_json::json!({
            "InstanceId": format!("i-{i:017x}"), "AmiLaunchIndex": i, "LaunchTime": "2026-01-02T03:04:05.123Z",
            "State": {"Code": 16, "Name": "running"}, "EbsOptimized": i % 2 == 0,
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-1", "DeleteOnTermination": true}}],
            "NetworkInterfaces": [{"Groups": [{"GroupId": "sg-1"}], "PrivateIpAddresses": [{"Primary": true}], "Ipv6Addresses": []}],
            "Tags": [{"Key": "Name", "Value": format!("host-é-{i}")}, {"Key": "empty", "Value": ""}],
            "ProductCodes": if i % 3 == 0 { serde_json::Value::Null } else { serde_json::json!([]) },
        })
    }

    fn instances(n: usize) -> RecordBatch {
        let mut rb = RowBuilder::new(&tables::INSTANCES, 1_700_000_000_000, &[]);
        for i in 0..n {
            rb.append_value(&instance(i)).unwrap();
        }
        rb.finish()
    }

    /// Writes `slices` of `batch` to one committed file and opens it again.
    fn write_file(
        batch: &RecordBatch,
        slices: &[(usize, usize)],
        opts: &WriterOptions,
        whole_bytes: Option<usize>,
    ) -> ParquetRecordBatchReaderBuilder<std::fs::File> {
        let dir = tempfile::tempdir().unwrap();
        let dest = LocalDestination::new(dir.path()).unwrap();
        let mut f = PartitionFile::create(
            &dest,
            "t/x.parquet".into(),
            &tables::INSTANCES,
            opts,
            whole_bytes,
        )
        .unwrap();
        for &(offset, len) in slices {
            f.write(&batch.slice(offset, len)).unwrap();
        }
        let (_, staged) = f.finish().unwrap();
        staged.commit().unwrap();
        let file = std::fs::File::open(dir.path().join("t/x.parquet")).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap()
    }

    #[test]
    fn nested_batches_round_trip_exactly() {
        let batch = instances(50);
        for codec in [Codec::Zstd, Codec::Snappy] {
            let opts = WriterOptions {
                codec,
                row_group_rows: 16,
                ..Default::default()
            };
            let reader = write_file(&batch, &[(0, 30), (30, 20)], &opts, None);
            assert_eq!(reader.metadata().num_row_groups(), 4, "16-row groups");
            let back: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
            let back = arrow_select::concat::concat_batches(&back[0].schema(), &back).unwrap();
            assert_eq!(back, batch, "{codec:?}");
        }
    }

    #[test]
    fn per_partition_files_carry_no_statistics_and_copies_prune_on_top_level_columns() {
        let batch = instances(12);
        for per_partition in [true, false] {
            let opts = WriterOptions {
                per_partition,
                ..Default::default()
            };
            let reader = write_file(&batch, &[(0, 12)], &opts, None);
            let rg = reader.metadata().row_group(0);
            let stats = |path: &str| {
                rg.columns()
                    .iter()
                    .find(|c| c.column_path().string() == path)
                    .unwrap()
                    .statistics()
                    .is_some()
            };
            assert_eq!(stats("instanceid"), !per_partition);
            assert!(!stats("state.name"), "nested leaves never");
            assert!(rg
                .columns()
                .iter()
                .all(|c| c.offset_index_offset().is_none()));
        }
    }

    #[test]
    fn a_large_partition_is_written_as_several_row_groups_within_budget() {
        let batch = instances(400);
        let opts = WriterOptions {
            row_group_bytes: 64 * 1024,
            ..Default::default()
        };
        let slices: Vec<(usize, usize)> = (0..40).map(|i| (i * 10, 10)).collect();
        let reader = write_file(&batch, &slices, &opts, None);
        assert!(
            reader.metadata().num_row_groups() > 1,
            "400 instances do not fit a 64 KiB budget in one row group"
        );
        let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 400);
    }

    #[test]
    fn only_small_files_written_whole_are_left_uncompressed() {
        let batch = instances(5);
        let opts = WriterOptions::default();
        let below = opts.small_file_bytes - 1;
        let codecs = |whole| {
            let reader = write_file(&batch, &[(0, 5)], &opts, whole);
            let rg = reader.metadata().row_group(0);
            let codecs: Vec<_> = rg.columns().iter().map(|c| c.compression()).collect();
            let back: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
            assert_eq!(back, vec![batch.clone()]);
            codecs
        };
        // The level is not stored in the file; only the codec is.
        let zstd = |c: &Compression| matches!(c, Compression::ZSTD(_));
        assert!(codecs(Some(below))
            .iter()
            .all(|c| *c == Compression::UNCOMPRESSED));
        assert!(codecs(None).iter().all(zstd), "streamed files keep zstd");
        assert!(
            codecs(Some(opts.small_file_bytes)).iter().all(zstd),
            "a whole batch at the threshold keeps zstd"
        );
    }
}
