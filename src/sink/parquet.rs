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
    /// A file of a partition that holds less than this (in memory) is
    /// written with Snappy, whatever the codec: every column chunk written
    /// or read with zstd gets zstd contexts of its own (allocated and
    /// zeroed: about 17 µs each way), and tens of thousands of small files
    /// made that most of the time of copying them (70% of a 2,000-account
    /// copy: 42 s with zstd, 5 s with Snappy). On a few kilobytes Snappy is
    /// as small as zstd (a 12-row instances file: 17.1 against 17.0 KB).
    /// A streamed file is held in memory until it reaches this size or ends.
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
            _ if whole_bytes.is_some_and(|b| b < self.small_file_bytes) => Compression::SNAPPY,
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
        if self.per_partition {
            // No column has statistics or a dictionary: said once for the
            // file, not once per column (a per-column entry costs every
            // file a map of ~200 column paths to build).
            return b
                .set_statistics_enabled(EnabledStatistics::None)
                .set_dictionary_enabled(false)
                .build();
        }
        for leaf in leaves(table.columns) {
            let path = ColumnPath::new(leaf.path.split('.').map(str::to_string).collect());
            // Min/max only where engines prune with them: top-level columns
            // of the one-file copies (accountid, region, groupname first).
            let nested = leaf.path.contains('.');
            if leaf.repeated || nested {
                b = b.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
            }
            // Nested leaves hold a few values a row: zstd does better on
            // them plain than a dictionary page and its header.
            if leaf.distinct || leaf.timestamp || nested {
                b = b.set_column_dictionary_enabled(path, false);
            }
        }
        b.build()
    }
}

/// The bytes a batch's values take, not counting the spare capacity of the
/// builders it came from (a one-row batch of 50 string columns holds ~250
/// KiB of capacity for ~2 KiB of data).
pub fn data_len(batch: &RecordBatch) -> usize {
    fn of(d: &arrow_data::ArrayData) -> usize {
        let own: usize = d.buffers().iter().map(|b| b.len()).sum();
        let nulls = d.nulls().map_or(0, |n| n.buffer().len());
        own + nulls + d.child_data().iter().map(of).sum::<usize>()
    }
    batch.columns().iter().map(|c| of(&c.to_data())).sum()
}

/// A file being written: held in memory while it may still be small, then
/// streamed through a writer.
enum State {
    /// Not yet known to be large: the staged object and compact copies of
    /// the batches so far, with their size.
    Held {
        staged: Box<dyn StagedObject>,
        batches: Vec<RecordBatch>,
        bytes: usize,
    },
    Writing(Box<ArrowWriter<Box<dyn StagedObject>>>),
    /// Between the two, and after a failed switch.
    Gone,
}

pub struct PartitionFile {
    rel_path: String,
    state: State,
    table: &'static TableDef,
    opts: WriterOptions,
    pub rows: u64,
}

impl PartitionFile {
    /// `whole_bytes`: the memory size of the one batch the file will hold,
    /// when it is written whole rather than streamed: the codec is chosen at
    /// once. Otherwise the file is held until it is known to be small (it
    /// ends first) or large (it reaches [`WriterOptions::small_file_bytes`]).
    pub fn create(
        dest: &dyn Destination,
        rel_path: String,
        table: &'static TableDef,
        opts: &WriterOptions,
        whole_bytes: Option<usize>,
    ) -> Result<Self, Error> {
        let staged = dest.stage(&rel_path)?;
        let mut f = PartitionFile {
            rel_path,
            state: State::Held {
                staged,
                batches: Vec::new(),
                bytes: 0,
            },
            table,
            opts: opts.clone(),
            rows: 0,
        };
        if let Some(b) = whole_bytes {
            f.start_writing(Some(b))?;
        }
        Ok(f)
    }

    /// Opens the writer, with the codec for a file of `size` bytes (`None`:
    /// a large one), and writes what was held.
    fn start_writing(&mut self, size: Option<usize>) -> Result<(), Error> {
        let State::Held {
            staged, batches, ..
        } = std::mem::replace(&mut self.state, State::Gone)
        else {
            return Ok(());
        };
        // The Parquet schema (logical types included) says everything the
        // readers need; the embedded Arrow IPC schema would add ~40% to the
        // footer of every file.
        let options = parquet::arrow::arrow_writer::ArrowWriterOptions::new()
            .with_properties(self.opts.properties(self.table, size))
            .with_skip_arrow_metadata(true);
        let mut writer =
            ArrowWriter::try_new_with_options(staged, self.table.arrow_schema(), options)
                .map_err(|e| self.err(e))?;
        for b in &batches {
            writer.write(b).map_err(|e| self.err(e))?;
        }
        self.state = State::Writing(Box::new(writer));
        Ok(())
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        self.rows += batch.num_rows() as u64;
        match &mut self.state {
            State::Held { batches, bytes, .. } => {
                // A compact copy: the batch may be a slice of a much larger one.
                let own = arrow_select::concat::concat_batches(&batch.schema(), [batch])
                    .map_err(|e| Error::Internal(format!("copying a batch: {e}")))?;
                *bytes += data_len(&own);
                batches.push(own);
                if *bytes >= self.opts.small_file_bytes {
                    self.start_writing(None)?;
                }
            }
            State::Writing(writer) => {
                writer.write(batch).map_err(|e| Error::Parquet {
                    what: self.rel_path.clone(),
                    message: e.to_string(),
                })?;
            }
            State::Gone => return Err(Error::Internal(format!("{}: writer gone", self.rel_path))),
        }
        // The writer's own row-group size limit counts encoded bytes, not
        // its encoders and dictionaries; bound what it really holds, so a
        // partition of any size is written in bounded memory.
        if let State::Writing(w) = &mut self.state {
            if w.memory_size() > self.opts.row_group_bytes {
                w.flush().map_err(|e| Error::Parquet {
                    what: self.rel_path.clone(),
                    message: e.to_string(),
                })?;
            }
        }
        Ok(())
    }

    /// Bytes held for the unfinished row group (or the file, while held).
    pub fn buffered(&self) -> usize {
        match &self.state {
            State::Held { bytes, .. } => *bytes,
            State::Writing(w) => w.memory_size(),
            State::Gone => 0,
        }
    }

    /// Closes the unfinished row group now, freeing what it held.
    pub fn flush_row_group(&mut self) -> Result<(), Error> {
        if matches!(self.state, State::Held { .. }) {
            self.start_writing(None)?;
        }
        match &mut self.state {
            State::Writing(w) => w.flush().map_err(|e| Error::Parquet {
                what: self.rel_path.clone(),
                message: e.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Writes the footer; the object is complete but not yet visible.
    pub fn finish(mut self) -> Result<(String, Box<dyn StagedObject>), Error> {
        if let State::Held { bytes, .. } = self.state {
            self.start_writing(Some(bytes))?;
        }
        let State::Writing(writer) = std::mem::replace(&mut self.state, State::Gone) else {
            return Err(Error::Internal(format!("{}: writer gone", self.rel_path)));
        };
        let staged = writer.into_inner().map_err(|e| self.err(e))?;
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
            "State": {"Code": 16, "Name": "running"}, "EbsOptimized": i.is_multiple_of(2),
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-1", "DeleteOnTermination": true}}],
            "NetworkInterfaces": [{"Groups": [{"GroupId": "sg-1"}], "PrivateIpAddresses": [{"Primary": true}], "Ipv6Addresses": []}],
            "Tags": [{"Key": "Name", "Value": format!("host-é-{i}")}, {"Key": "empty", "Value": ""}],
            "ProductCodes": if i.is_multiple_of(3) { serde_json::Value::Null } else { serde_json::json!([]) },
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
    fn small_files_get_snappy_and_large_ones_the_codec() {
        let opts = WriterOptions::default();
        let codecs = |batch: &RecordBatch, slices: &[(usize, usize)], whole| {
            let reader = write_file(batch, slices, &opts, whole);
            let rg = reader.metadata().row_group(0);
            let codecs: Vec<_> = rg.columns().iter().map(|c| c.compression()).collect();
            let back: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
            let back = arrow_select::concat::concat_batches(&back[0].schema(), &back).unwrap();
            assert_eq!(&back, batch);
            codecs
        };
        // The level is not stored in the file; only the codec is.
        let zstd = |c: &Compression| matches!(c, Compression::ZSTD(_));
        let snappy = |c: &Compression| *c == Compression::SNAPPY;
        let small = instances(5);
        let below = opts.small_file_bytes - 1;
        assert!(codecs(&small, &[(0, 5)], Some(below)).iter().all(snappy));
        assert!(
            codecs(&small, &[(0, 2), (2, 3)], None).iter().all(snappy),
            "a streamed file that ends small"
        );
        assert!(
            codecs(&small, &[(0, 5)], Some(opts.small_file_bytes))
                .iter()
                .all(zstd),
            "a whole batch at the threshold keeps zstd"
        );
        let large = instances(400);
        let slices: Vec<(usize, usize)> = (0..40).map(|i| (i * 10, 10)).collect();
        assert!(
            codecs(&large, &slices, None).iter().all(zstd),
            "a streamed file that grows past the threshold keeps zstd"
        );
    }
}
