//! What changed between two snapshots, computed from their files.
//!
//! Owns the comparison: rows are matched by partition and the table's
//! identity columns; a row only in the newer snapshot is `added`, only in
//! the older `removed`, and in both with any column's value different
//! `changed`, naming each such column with its old and new value. The run
//! time column is not compared (it changes every run). Snapshot files are
//! written in partition order, so both are read side by side, one
//! partition at a time: memory holds one partition of each, not the org.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{history_def, read, snapshot_file, SnapshotId, MAX_PARTITION_FILE_BYTES};
use crate::error::Error;
use crate::schema::ColumnType;
use crate::sink::Destination;
use crate::tables::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Added,
    Removed,
    Changed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Changed => "changed",
        }
    }
}

/// One column that changed, with its values (JSON, see [`read::cell`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnChange {
    pub column: &'static str,
    pub old: Value,
    pub new: Value,
}

/// One row added, removed or changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub table: &'static str,
    pub kind: Kind,
    /// `(column, value)` of the partition columns, then the identity columns.
    pub key: Vec<(&'static str, Value)>,
    /// For `changed`: the columns whose values differ.
    pub columns: Vec<ColumnChange>,
}

impl Change {
    /// The row's key as a person reads it: the values of the partition and
    /// identity columns, joined by `/` (`111111111111/eu-west-1/web/i-1`).
    pub fn key_text(&self) -> String {
        let parts: Vec<String> = self
            .key
            .iter()
            .map(|(_, v)| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect();
        parts.join("/")
    }
}

/// How many rows of each kind a table's diff found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

struct Row {
    key: Vec<Value>,
    values: Vec<Value>,
}

/// A partition's values and its rows.
type Part = (Vec<Value>, Vec<Row>);

/// The column positions a diff reads.
struct Layout {
    lead: Vec<usize>,
    identity: Vec<usize>,
    compared: Vec<usize>,
    names: Vec<&'static str>,
    types: Vec<ColumnType>,
}

/// Drops the fields history does not compare from a rendered value.
fn strip(v: &mut Value, ty: &ColumnType) {
    if !super::has_volatile(ty) {
        return;
    }
    match (v, ty) {
        (Value::Array(items), ColumnType::Array(t)) => items.iter_mut().for_each(|i| strip(i, t)),
        (Value::Object(m), ColumnType::Struct(cols)) => {
            for c in cols.iter() {
                if c.volatile {
                    m.remove(c.name);
                } else if let Some(x) = m.get_mut(c.name) {
                    strip(x, &c.ty);
                }
            }
        }
        _ => {}
    }
}

/// Reads a snapshot file one partition at a time.
struct Partitions {
    batches: Box<dyn Iterator<Item = Result<arrow_array::RecordBatch, Error>>>,
    batch: Option<arrow_array::RecordBatch>,
    row: usize,
}

impl Partitions {
    /// The table's file in snapshot `id`; `None` when the snapshot's marker
    /// does not list the table (it was taken before the table existed). A
    /// file the marker lists must be there and be the table's: anything
    /// else is an error naming it, never an empty side.
    fn open(
        dest: &dyn Destination,
        t: &'static Table,
        id: &SnapshotId,
    ) -> Result<Option<Self>, Error> {
        if !super::marker_tables(dest, id)?.contains(t.name) {
            return Ok(None);
        }
        let path = snapshot_file(t.name, id);
        let def = history_def(t);
        let it =
            read::batches(dest, &path, def, MAX_PARTITION_FILE_BYTES).map_err(|e| match e {
                Error::NotFound(_) => Error::input(
                    &path,
                    "the file",
                    format!(
                        "missing from complete snapshot {id}, whose marker lists {}",
                        t.name
                    ),
                ),
                e => e,
            })?;
        let needed: Vec<&str> = t
            .partitioning
            .columns()
            .iter()
            .copied()
            .chain(t.identity.iter().copied())
            .collect();
        let schema = def.arrow_schema();
        let it = it.map(move |b| project(&schema, &b?, &needed, &path));
        Ok(Some(Partitions {
            batches: Box::new(it),
            batch: None,
            row: 0,
        }))
    }

    /// The next partition's values and rows.
    fn next(&mut self, l: &Layout) -> Result<Option<Part>, Error> {
        let mut part: Option<Vec<Value>> = None;
        let mut rows = Vec::new();
        loop {
            if self.batch.as_ref().is_none_or(|b| self.row >= b.num_rows()) {
                match self.batches.next() {
                    Some(b) => {
                        self.batch = Some(b?);
                        self.row = 0;
                        continue;
                    }
                    None => return Ok(part.map(|p| (p, rows))),
                }
            }
            let b = self.batch.as_ref().expect("checked above");
            let i = self.row;
            let here: Vec<Value> = l
                .lead
                .iter()
                .map(|&c| read::cell(b.column(c).as_ref(), i))
                .collect();
            match &part {
                Some(p) if *p != here => return Ok(Some((p.clone(), rows))),
                None => part = Some(here),
                _ => {}
            }
            rows.push(Row {
                key: l
                    .identity
                    .iter()
                    .map(|&c| read::cell(b.column(c).as_ref(), i))
                    .collect(),
                values: l
                    .compared
                    .iter()
                    .map(|&c| {
                        let mut v = read::cell(b.column(c).as_ref(), i);
                        strip(&mut v, &l.types[c]);
                        v
                    })
                    .collect(),
            });
            self.row += 1;
        }
    }
}

/// `batch` in the declared columns, found by name: a column the file lacks
/// is null (the file predates it), but the partition and identity columns
/// must be there with their declared types, or the file is not the table's.
fn project(
    schema: &arrow_schema::SchemaRef,
    batch: &arrow_array::RecordBatch,
    needed: &[&str],
    path: &str,
) -> Result<arrow_array::RecordBatch, Error> {
    let n = batch.num_rows();
    let mut cols = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let col = match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            Some(c) => {
                return Err(Error::input(
                    path,
                    f.name().as_str(),
                    format!(
                        "typed {} where the table declares {}: not this table's snapshot file",
                        c.data_type(),
                        f.data_type()
                    ),
                ))
            }
            None if needed.contains(&f.name().as_str()) => {
                return Err(Error::input(
                    path,
                    f.name().as_str(),
                    "missing: not this table's snapshot file",
                ))
            }
            None => arrow_array::new_null_array(f.data_type(), n),
        };
        cols.push(col);
    }
    arrow_array::RecordBatch::try_new(schema.clone(), cols)
        .map_err(|e| Error::input(path, "the file", e))
}

/// Calls `emit` for every row of `t` that differs between snapshots
/// `from` and `to`, in partition and key order. A table missing from
/// either snapshot (taken before the table existed) is skipped: `None`.
pub fn table(
    dest: &dyn Destination,
    t: &'static Table,
    from: &SnapshotId,
    to: &SnapshotId,
    emit: &mut dyn FnMut(Change) -> Result<(), Error>,
) -> Result<Option<Counts>, Error> {
    let def = history_def(t);
    let lead_n = t.partitioning.columns().len();
    let pos = |name: &str| {
        def.columns
            .iter()
            .position(|c| c.name == name)
            .expect("declared")
    };
    let l = Layout {
        lead: (0..lead_n).collect(),
        identity: t.identity.iter().map(|n| pos(n)).collect(),
        compared: super::compared(t).map(|c| pos(c.name)).collect(),
        types: def.columns.iter().map(|c| c.ty).collect(),
        names: def.columns.iter().map(|c| c.name).collect(),
    };
    let (Some(mut a), Some(mut b)) = (
        Partitions::open(dest, t, from)?,
        Partitions::open(dest, t, to)?,
    ) else {
        return Ok(None);
    };
    let mut counts = Counts::default();
    let (mut pa, mut pb) = (a.next(&l)?, b.next(&l)?);
    loop {
        let order = match (&pa, &pb) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => cmp_values(&x.0, &y.0),
        };
        let (old, new) = match order {
            std::cmp::Ordering::Less => (pa.take(), None),
            std::cmp::Ordering::Greater => (None, pb.take()),
            std::cmp::Ordering::Equal => (pa.take(), pb.take()),
        };
        let part = old.as_ref().or(new.as_ref()).expect("one side").0.clone();
        partition(
            t,
            &l,
            &part,
            old.map(|p| p.1),
            new.map(|p| p.1),
            &mut counts,
            emit,
        )?;
        if pa.is_none() {
            pa = a.next(&l)?;
        }
        if pb.is_none() {
            pb = b.next(&l)?;
        }
    }
    Ok(Some(counts))
}

/// Orders partitions as the snapshot writer does (by value, column by column).
fn cmp_values(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    fn text(v: &Value) -> &str {
        v.as_str().unwrap_or_default()
    }
    a.iter().map(text).cmp(b.iter().map(text))
}

fn partition(
    t: &'static Table,
    l: &Layout,
    part: &[Value],
    old: Option<Vec<Row>>,
    new: Option<Vec<Row>>,
    counts: &mut Counts,
    emit: &mut dyn FnMut(Change) -> Result<(), Error>,
) -> Result<(), Error> {
    // Rows by identity; a key seen twice (which the collectors do not
    // write) pairs its rows in order.
    type Side = BTreeMap<String, Vec<Row>>;
    let index = |rows: Option<Vec<Row>>| -> Side {
        let mut m: Side = BTreeMap::new();
        for r in rows.into_iter().flatten() {
            m.entry(Value::Array(r.key.clone()).to_string())
                .or_default()
                .push(r);
        }
        m
    };
    let (mut old, mut new) = (index(old), index(new));
    let mut keys: Vec<String> = old.keys().chain(new.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let olds = old.remove(&k).unwrap_or_default();
        let news = new.remove(&k).unwrap_or_default();
        let n = olds.len().max(news.len());
        let (mut oi, mut ni) = (olds.into_iter(), news.into_iter());
        for _ in 0..n {
            let (o, nw) = (oi.next(), ni.next());
            let row = o.as_ref().or(nw.as_ref()).expect("one side");
            let mut key: Vec<(&'static str, Value)> = l
                .lead
                .iter()
                .zip(part)
                .map(|(&i, v)| (l.names[i], v.clone()))
                .collect();
            key.extend(
                l.identity
                    .iter()
                    .zip(&row.key)
                    .map(|(&i, v)| (l.names[i], v.clone())),
            );
            let (kind, columns) = match (&o, &nw) {
                (None, Some(_)) => (Kind::Added, Vec::new()),
                (Some(_), None) => (Kind::Removed, Vec::new()),
                (Some(o), Some(nw)) => {
                    let cols: Vec<ColumnChange> = l
                        .compared
                        .iter()
                        .zip(o.values.iter().zip(&nw.values))
                        .filter(|(_, (a, b))| a != b)
                        .map(|(&i, (a, b))| ColumnChange {
                            column: l.names[i],
                            old: a.clone(),
                            new: b.clone(),
                        })
                        .collect();
                    if cols.is_empty() {
                        continue;
                    }
                    (Kind::Changed, cols)
                }
                (None, None) => unreachable!("one side"),
            };
            match kind {
                Kind::Added => counts.added += 1,
                Kind::Removed => counts.removed += 1,
                Kind::Changed => counts.changed += 1,
            }
            emit(Change {
                table: t.name,
                kind,
                key,
                columns,
            })?;
        }
    }
    Ok(())
}
