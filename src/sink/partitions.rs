//! Writing record batches into their partitions' files, and committing
//! whole partitions.
//!
//! Owns [`PartitionWriter`]: collection hands it batches tagged with their
//! partition and table; it streams them to that partition's Parquet file,
//! keeps the open files of one writer within a memory budget (closing the
//! fullest row groups first), and at the end commits every partition that
//! did not fail, each with one file per table of its partitioning (empty if
//! it has no rows), so a re-run never leaves an older file with rows that no
//! longer exist. It knows tables only by their schemas ([`TableDef`]), given
//! when it is made: the registry of tables sits above it. A failed partition commits nothing: its files from earlier
//! runs stay exactly as they were.

use arrow_array::RecordBatch;

use super::fresh::Fresh;
use super::parquet::{PartitionFile, WriterOptions};
use super::{Destination, StagedObject};
use crate::error::Error;
use crate::partition::{table_file, PartitionKey};
use crate::schema::TableDef;

/// A partition opened with [`PartitionWriter::open`].
pub type PartId = usize;

struct PartState {
    key: PartitionKey,
    /// Files being written; closed (footer written, buffers freed) as soon
    /// as a table's rows for the partition are complete, then kept staged.
    /// Indexed as the writer's tables, like `done` and `rows`.
    files: Vec<Option<PartitionFile>>,
    /// Finished files, by table index, waiting for the partition to commit.
    staged: Vec<(usize, Box<dyn StagedObject>)>,
    /// The [`Fresh`] blocks of each table's batches; `None` once one
    /// could not be kept (that file is then read back, not taken from it).
    fresh: Vec<Option<Vec<usize>>>,
    done: Vec<bool>,
    rows: Vec<u64>,
    failed: Option<Error>,
}

/// What a writer committed, and the partitions that failed.
#[derive(Debug, Default)]
pub struct Written {
    pub partitions: Vec<PartitionKey>,
    /// Rows committed, indexed as the tables the writer was made with
    /// (empty when nothing was committed).
    pub rows: Vec<u64>,
    pub bytes: u64,
    pub files: u64,
    pub failed: Vec<(PartitionKey, Error)>,
}

pub struct PartitionWriter<'a> {
    dest: &'a dyn Destination,
    opts: &'a WriterOptions,
    /// The tables it writes; a table is named by its schema's address.
    tables: Vec<&'static TableDef>,
    /// Where the batches are also kept for the copies at the run's end.
    fresh: Option<&'a Fresh>,
    parts: Vec<PartState>,
    /// What the open files hold, as last seen ([`WriterOptions::scope_bytes`]).
    buffered: usize,
}

impl<'a> PartitionWriter<'a> {
    /// A writer of `tables`: every partition it commits gets one file for
    /// each of them of its partitioning.
    pub fn new(
        dest: &'a dyn Destination,
        opts: &'a WriterOptions,
        tables: impl IntoIterator<Item = &'static TableDef>,
    ) -> Self {
        PartitionWriter {
            dest,
            opts,
            tables: tables.into_iter().collect(),
            fresh: None,
            parts: Vec::new(),
            buffered: 0,
        }
    }

    /// Also keeps every batch in `fresh`, and notes there each file committed.
    pub fn keeping(mut self, fresh: Option<&'a Fresh>) -> Self {
        self.fresh = fresh;
        self
    }

    /// The index of `table` among the writer's tables.
    fn index(&self, table: &'static TableDef) -> Result<usize, Error> {
        self.tables
            .iter()
            .position(|t| std::ptr::eq(*t, table))
            .ok_or_else(|| Error::Internal(format!("{} is not a table of this writer", table.name)))
    }

    /// Starts a partition; nothing is written until a batch arrives or it commits.
    pub fn open(&mut self, key: PartitionKey) -> PartId {
        let n = self.tables.len();
        self.parts.push(PartState {
            key,
            files: (0..n).map(|_| None).collect(),
            staged: Vec::new(),
            fresh: vec![Some(Vec::new()); n],
            done: vec![false; n],
            rows: vec![0; n],
            failed: None,
        });
        self.parts.len() - 1
    }

    pub fn is_failed(&self, part: PartId) -> bool {
        self.parts[part].failed.is_some()
    }

    /// Fails a partition: its files are dropped and none will be committed.
    /// The first error is the one reported.
    pub fn fail(&mut self, part: PartId, error: Error) {
        let p = &mut self.parts[part];
        if p.failed.is_none() {
            p.failed = Some(error);
        }
        for f in p.files.iter_mut().filter_map(Option::take) {
            self.buffered = self.buffered.saturating_sub(f.buffered());
        }
        p.staged.clear();
    }

    /// Appends `batch` to the partition's file of `table`. `whole_bytes`:
    /// the batch is all the file will hold (see [`PartitionFile::create`]).
    /// An error fails the partition.
    pub fn write(
        &mut self,
        part: PartId,
        table: &'static TableDef,
        batch: &RecordBatch,
        whole_bytes: Option<usize>,
    ) {
        if let Err(e) = self.try_write(part, table, batch, whole_bytes) {
            self.fail(part, e);
        }
    }

    fn try_write(
        &mut self,
        part: PartId,
        table: &'static TableDef,
        batch: &RecordBatch,
        whole_bytes: Option<usize>,
    ) -> Result<(), Error> {
        if self.is_failed(part) {
            return Ok(());
        }
        let ti = self.index(table)?;
        if self.parts[part].done[ti] {
            return Err(Error::Internal(format!(
                "{} written after it was closed",
                table.name
            )));
        }
        let file = self.file(part, ti, whole_bytes)?;
        let before = file.buffered();
        file.write(batch)?;
        let after = file.buffered();
        if let Some(fresh) = self.fresh {
            let slot = &mut self.parts[part].fresh[ti];
            match fresh.append(table, batch) {
                Some(block) => {
                    if let Some(blocks) = slot {
                        blocks.push(block);
                    }
                }
                None => *slot = None,
            }
        }
        self.buffered = (self.buffered + after).saturating_sub(before);
        if self.buffered > self.opts.scope_bytes {
            self.shed();
        }
        Ok(())
    }

    /// Finishes the partition's file of `table` (creating it empty if it
    /// has no rows); it stays staged, invisible, until the partition
    /// commits. An error fails the partition.
    pub fn close(&mut self, part: PartId, table: &'static TableDef) {
        if let Err(e) = self.try_close(part, table) {
            self.fail(part, e);
        }
    }

    fn try_close(&mut self, part: PartId, table: &'static TableDef) -> Result<(), Error> {
        let ti = self.index(table)?;
        self.close_at(part, ti)
    }

    fn close_at(&mut self, part: PartId, ti: usize) -> Result<(), Error> {
        if self.is_failed(part) || self.parts[part].done[ti] {
            return Ok(());
        }
        // A file first created here has no rows: written whole, and empty.
        self.file(part, ti, Some(0))?;
        let p = &mut self.parts[part];
        let f = p.files[ti].take().expect("created above");
        self.buffered = self.buffered.saturating_sub(f.buffered());
        p.rows[ti] = f.rows;
        let (_, staged) = f.finish()?;
        p.staged.push((ti, staged));
        p.done[ti] = true;
        Ok(())
    }

    /// Closes every open file of `table`: its rows are complete.
    pub fn close_table(&mut self, table: &'static TableDef) {
        let Ok(ti) = self.index(table) else {
            return; // no partition has a file of it
        };
        for part in 0..self.parts.len() {
            if self.parts[part].files[ti].is_some() {
                if let Err(e) = self.close_at(part, ti) {
                    self.fail(part, e);
                }
            }
        }
    }

    /// Closes the fullest open row groups until the open files hold at
    /// most half of [`WriterOptions::scope_bytes`].
    fn shed(&mut self) {
        let mut open: Vec<(usize, PartId, usize)> = Vec::new();
        for (pi, p) in self.parts.iter().enumerate() {
            for (ti, f) in p.files.iter().enumerate() {
                if let Some(f) = f {
                    open.push((f.buffered(), pi, ti));
                }
            }
        }
        let mut total: usize = open.iter().map(|o| o.0).sum();
        open.sort_unstable_by(|a, b| b.cmp(a));
        for (size, pi, ti) in open {
            if total <= self.opts.scope_bytes / 2 {
                break;
            }
            let f = self.parts[pi].files[ti].as_mut().expect("listed above");
            match f.flush_row_group() {
                Ok(()) => total = total - size + f.buffered(),
                Err(e) => {
                    total -= size;
                    self.parts[pi].files[ti] = None;
                    self.fail(pi, e);
                }
            }
        }
        self.buffered = total;
    }

    /// The partition's open file of table `ti`, created on first use.
    fn file(
        &mut self,
        part: PartId,
        ti: usize,
        whole_bytes: Option<usize>,
    ) -> Result<&mut PartitionFile, Error> {
        let def = self.tables[ti];
        let p = &mut self.parts[part];
        let slot = &mut p.files[ti];
        if slot.is_none() {
            *slot = Some(PartitionFile::create(
                self.dest,
                table_file(def, &p.key),
                def,
                self.opts,
                whole_bytes,
            )?);
        }
        Ok(slot.as_mut().unwrap())
    }

    /// What the open files hold now.
    #[cfg(test)]
    pub fn open_bytes(&self) -> usize {
        let files = self.parts.iter().flat_map(|p| p.files.iter().flatten());
        files.map(PartitionFile::buffered).sum()
    }

    /// Commits every partition that did not fail, each with one file per
    /// table of its partitioning.
    pub fn commit(mut self) -> Written {
        let mut out = Written::default();
        for pi in 0..self.parts.len() {
            if let Err(e) = self.commit_one(pi, &mut out) {
                self.fail(pi, e);
            }
            let p = &mut self.parts[pi];
            if let Some(e) = p.failed.take() {
                out.failed.push((p.key.clone(), e));
            }
        }
        out
    }

    /// Commits nothing (the files are dropped); reports the partitions that failed.
    pub fn abandon(mut self) -> Written {
        let failed = self
            .parts
            .iter_mut()
            .filter_map(|p| Some((p.key.clone(), p.failed.take()?)))
            .collect();
        Written {
            failed,
            ..Default::default()
        }
    }

    fn commit_one(&mut self, pi: PartId, out: &mut Written) -> Result<(), Error> {
        if self.is_failed(pi) {
            return Ok(());
        }
        let partitioning = self.parts[pi].key.partitioning();
        for ti in 0..self.tables.len() {
            if self.tables[ti].partitioning == partitioning {
                self.close_at(pi, ti)?;
            }
        }
        let p = &mut self.parts[pi];
        for (ti, obj) in std::mem::take(&mut p.staged) {
            out.bytes += obj.commit()?;
            out.files += 1;
            if let (Some(fresh), Some(blocks)) = (self.fresh, p.fresh[ti].take()) {
                fresh.keep(self.tables[ti], &p.key, blocks);
            }
        }
        out.rows.resize(self.tables.len(), 0);
        for (total, n) in out.rows.iter_mut().zip(&p.rows) {
            *total += n;
        }
        out.partitions.push(p.key.clone());
        Ok(())
    }
}
