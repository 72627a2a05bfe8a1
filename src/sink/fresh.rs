//! What a run wrote, kept aside for the copies made at its end.
//!
//! Owns [`Fresh`]: while a run writes each partition's Parquet file, it
//! also appends the same batches, per table, to an Arrow IPC file in a
//! temporary folder, and, once that partition's file is committed, notes
//! which of them it holds. The query-ready copy and the history snapshot
//! then take those partitions' rows from here instead of reading back and
//! decoding thousands of small Parquet files (a fifth of an export's CPU,
//! docs/performance.md), and read back only the partitions this run did
//! not commit (a failed group keeps its last good file).
//!
//! Memory does not grow with the run: batches go to disk as they come, and
//! only their block numbers stay, per partition. The disk holds the run's
//! rows uncompressed until the run ends (`TMPDIR`, else `/tmp`); a run
//! killed before then leaves its spill, which the next run on the same
//! host removes. Anything
//! that goes wrong here only costs speed: the table's partitions are read
//! back from the destination as before, and the run is told in a note.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;

use crate::error::Error;
use crate::partition::PartitionKey;
use crate::schema::TableDef;

/// Spill folders are `{PREFIX}{host}-{pid}-{nanos}`.
const PREFIX: &str = "fleetcmdb-fresh-";

/// Removes the spills of runs on this host whose process is gone (a run
/// killed before it could remove its own), so they do not pile up in
/// `tmp`. Another host's (a shared `TMPDIR`) are left alone: its process
/// ids mean nothing here.
fn remove_abandoned(tmp: &std::path::Path, host: &str) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let mine = format!("{PREFIX}{host}-");
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&mine)) else {
            continue;
        };
        // `{pid}-{nanos}` and nothing more: a host whose name extends
        // this one's (`h` and `h-2`) leaves a third part.
        let Some((pid, nanos)) = rest.split_once('-') else {
            continue;
        };
        let (Ok(pid), Ok(_)) = (pid.parse::<u32>(), nanos.parse::<i64>()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// One table's batches of this run, and the committed partitions' blocks.
struct Spill {
    path: PathBuf,
    writer: Option<FileWriter<BufWriter<File>>>,
    /// Blocks written so far (the next block's number).
    blocks: usize,
    /// Shared with the readers once the run ends (never copied: it holds
    /// an entry per partition of the run, so it is kept small: the
    /// partition's values as one string, `accountid/region/groupname`).
    kept: Arc<Kept>,
    /// Set at the first failure: nothing of this table is used then.
    broken: Option<String>,
}

/// Committed partitions (their values joined by `/`, which no value
/// holds) → the blocks of their batches.
type Kept = HashMap<Box<str>, Box<[usize]>>;

/// The batches a run wrote, by table (see the module doc).
pub struct Fresh {
    dir: PathBuf,
    tables: Vec<(&'static TableDef, Mutex<Spill>)>,
}

/// A committed partition's rows as this run wrote them.
pub struct FreshReader {
    reader: FileReader<BufReader<File>>,
    kept: Arc<Kept>,
}

impl Fresh {
    /// A spill for each of `tables`, in a new folder under the system's
    /// temporary directory (removed when this is dropped).
    pub fn new(tables: impl IntoIterator<Item = &'static TableDef>) -> Result<Self, Error> {
        let tmp = std::env::temp_dir();
        let host = crate::partition::host_name();
        remove_abandoned(&tmp, &host);
        let dir = tmp.join(format!(
            "{PREFIX}{host}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut out = Fresh {
            dir,
            tables: Vec::new(),
        };
        for t in tables {
            let path = out.dir.join(format!("{}.arrow", t.name));
            let spill = File::create(&path)
                .map_err(|e| e.to_string())
                .and_then(|f| {
                    FileWriter::try_new_buffered(f, &t.arrow_schema()).map_err(|e| e.to_string())
                });
            let (writer, broken) = match spill {
                Ok(w) => (Some(w), None),
                Err(e) => (None, Some(e)),
            };
            out.tables.push((
                t,
                Mutex::new(Spill {
                    path,
                    writer,
                    blocks: 0,
                    kept: Arc::default(),
                    broken,
                }),
            ));
        }
        Ok(out)
    }

    fn spill(&self, table: &'static TableDef) -> Option<std::sync::MutexGuard<'_, Spill>> {
        let (_, m) = self.tables.iter().find(|(t, _)| std::ptr::eq(*t, table))?;
        m.lock().ok()
    }

    /// Appends `batch` to `table`'s spill: its block number, or `None` if
    /// the spill cannot take it (the partition is then read back instead).
    pub fn append(&self, table: &'static TableDef, batch: &RecordBatch) -> Option<usize> {
        let mut s = self.spill(table)?;
        if s.broken.is_some() {
            return None;
        }
        let written = s.writer.as_mut().map(|w| w.write(batch));
        match written {
            Some(Ok(())) => {
                s.blocks += 1;
                Some(s.blocks - 1)
            }
            Some(Err(e)) => {
                s.broken = Some(e.to_string());
                None
            }
            None => None,
        }
    }

    /// Notes that `key`'s file of `table` was committed holding exactly
    /// the batches in `blocks`.
    pub fn keep(&self, table: &'static TableDef, key: &PartitionKey, blocks: Vec<usize>) {
        if let Some(mut s) = self.spill(table) {
            // Readers, made only once the run ends, share the map.
            let key = key.to_string().into_boxed_str();
            Arc::make_mut(&mut s.kept).insert(key, blocks.into_boxed_slice());
        }
    }

    /// A reader of `table`'s committed partitions; the first call ends the
    /// spill (nothing more is appended). `Err` names why the spill cannot
    /// be used: the caller reads every partition back.
    pub fn reader(&self, table: &'static TableDef) -> Result<FreshReader, String> {
        let mut s = self
            .spill(table)
            .ok_or_else(|| format!("{}: no spill", table.name))?;
        if let Some(mut w) = s.writer.take() {
            if let Err(e) = w.finish() {
                s.broken = Some(e.to_string());
            }
        }
        if let Some(e) = &s.broken {
            return Err(format!("{}: {e}", table.name));
        }
        let f = File::open(&s.path).map_err(|e| format!("{}: {e}", s.path.display()))?;
        let reader = FileReader::try_new_buffered(f, None).map_err(|e| e.to_string())?;
        Ok(FreshReader {
            reader,
            kept: Arc::clone(&s.kept),
        })
    }
}

#[cfg(test)]
impl Fresh {
    /// The spill's folder, for tests that break it.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl FreshReader {
    /// `key`'s rows as committed by this run, or `None` when this run did
    /// not commit that partition.
    pub fn batches(&mut self, key: &PartitionKey) -> Option<Result<Vec<RecordBatch>, String>> {
        let kept = Arc::clone(&self.kept);
        let blocks = kept.get(key.to_string().as_str())?;
        let mut out = Vec::with_capacity(blocks.len());
        for &i in blocks.iter() {
            let batch = self
                .reader
                .set_index(i)
                .map_err(|e| e.to_string())
                .and_then(|()| match self.reader.next() {
                    Some(b) => b.map_err(|e| e.to_string()),
                    None => Err(format!("block {i} is missing")),
                });
            match batch {
                Ok(b) => out.push(b),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(out))
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::{Partition, PartitionValue};
    use crate::record::RowBuilder;
    use crate::sink::local::LocalDestination;
    use crate::sink::parquet::WriterOptions;
    use crate::sink::partitions::PartitionWriter;
    use crate::tables::{self, TableId};

    fn key(group: &str) -> PartitionKey {
        let v = |s: &str| PartitionValue::parse(s, "value", "test").unwrap();
        PartitionKey::Group(Partition {
            accountid: v("111111111111"),
            region: v("eu-west-1"),
            groupname: v(group),
        })
    }

    fn instances(ids: std::ops::Range<usize>) -> RecordBatch {
        let mut rb = RowBuilder::new(&tables::INSTANCES, 1_700_000_000_000, &[]);
        for i in ids {
            rb.append_value(
                &serde_json::json!({"InstanceId": format!("i-{i:017x}"), "AmiLaunchIndex": i}),
            )
            .unwrap();
        }
        rb.finish()
    }

    #[test]
    fn spills_of_dead_processes_on_this_host_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let mk = |name: &str| {
            let d = tmp.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("instances.arrow"), b"x").unwrap();
            d
        };
        // pid_max is at most 2^22 on Linux: 4194305 is no process.
        let dead = mk("fleetcmdb-fresh-h1-4194305-1");
        let alive = mk(&format!("fleetcmdb-fresh-h1-{}-2", std::process::id()));
        let other_host = mk("fleetcmdb-fresh-h2-4194305-3");
        let unrelated = mk("fleetcmdb-fresh-h1-notapid-4");
        let longer_host = mk("fleetcmdb-fresh-h1-2-4194305-5");
        remove_abandoned(tmp.path(), "h1");
        assert!(!dead.exists());
        for kept in [alive, other_host, unrelated, longer_host] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }

    #[test]
    fn committed_partitions_are_kept_whole_and_failed_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let dest = LocalDestination::new(dir.path()).unwrap();
        let opts = WriterOptions::default();
        let table = TableId::Instances.schema();
        let fresh = Fresh::new(tables::schemas()).unwrap();
        let mut w = PartitionWriter::new(&dest, &opts, tables::schemas()).keeping(Some(&fresh));
        let (web, db, empty) = (w.open(key("web")), w.open(key("db")), w.open(key("empty")));
        // Batches of two partitions interleave, as a scope's do.
        w.write(web, table, &instances(0..3), None);
        w.write(db, table, &instances(10..12), None);
        w.write(web, table, &instances(3..5), None);
        w.fail(db, crate::error::Error::Internal("the group failed".into()));
        let written = w.commit();
        assert_eq!(written.failed.len(), 1);
        let mut r = fresh.reader(table).unwrap();
        let got = r.batches(&key("web")).unwrap().unwrap();
        let ids: Vec<RecordBatch> = vec![instances(0..3), instances(3..5)];
        assert_eq!(got, ids, "the web partition's batches, in order");
        assert_eq!(
            r.batches(&key("empty")).unwrap().unwrap(),
            Vec::<RecordBatch>::new()
        );
        assert!(
            r.batches(&key("db")).is_none(),
            "a failed partition is read back"
        );
        assert!(
            r.batches(&key("other")).is_none(),
            "so is one this run did not write"
        );
        let _ = empty;
        // Readers of the same table (the snapshot, then the copy) see the same.
        assert_eq!(
            fresh
                .reader(table)
                .unwrap()
                .batches(&key("web"))
                .unwrap()
                .unwrap(),
            ids
        );
        let spill_dir = fresh.dir.clone();
        assert!(spill_dir.is_dir());
        drop(fresh);
        assert!(!spill_dir.exists(), "the spill is removed with the run");
    }
}
