//! History: immutable snapshots of every table, and what changed between them.
//!
//! Owns the snapshot layout under `{out}/history/`, the snapshot tables'
//! declarations (derived from the tables'), the writing of a snapshot from
//! what `metadata/` holds, the list of complete snapshots, the choice of a
//! snapshot from a time (`latest`, `yesterday`, `7d`, …), and their
//! retention. Changes are computed in [`diff`]; the SQL that reads history
//! in Athena and DuckDB is generated in [`sql`].
//!
//! ```text
//! history/{table}/snapshot={id}/{table}-{id}.parquet       one file per table and snapshot
//! history/snapshots/snapshot={id}/snapshots-{id}.parquet   written last: the snapshot is complete
//! ```
//!
//! `{id}` is the snapshot period's start in UTC, `YYYY-MM-DD-HH` (Athena
//! projects it as a date, so a range of dates prunes without `MSCK`). The
//! partition columns of `metadata/` become ordinary columns, written in
//! partition order, so Parquet statistics prune on account, region and group
//! with any predicate. A year of hourly snapshots is 8,760 partitions per
//! table and one file per table in each, whatever the size of the org.

pub mod diff;
pub(crate) mod read;
pub mod sql;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};
use serde_json::json;

use crate::error::Error;
use crate::record::RowBuilder;
use crate::retention::{to_prune, Archive, Keep};
use crate::schema::dsl::{c, s, Bigint, Timestamp};
use crate::schema::{Call, Column, ColumnSource, Partitioning, TableDef};
use crate::sink::fresh::Fresh;
use crate::sink::parquet::{PartitionFile, WriterOptions};
use crate::sink::{Destination, StagedObject};
use crate::tables::{self, Table};

/// The folder of every snapshot, under the destination root.
pub use crate::partition::HISTORY;

/// The table of complete snapshots (its file is written last).
pub const SNAPSHOTS: &str = "snapshots";

/// How often a snapshot is taken: at most one per period, the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    #[default]
    Hour,
    Day,
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Period::Hour => "hour",
            Period::Day => "day",
        })
    }
}

/// A snapshot's id, `YYYY-MM-DD-HH` (UTC): the start of its period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId(String);

impl SnapshotId {
    pub fn of(at_ms: i64, period: Period) -> Self {
        let t = DateTime::<Utc>::from_timestamp_millis(at_ms)
            .unwrap_or_default()
            .naive_utc();
        let t = match period {
            Period::Hour => t,
            Period::Day => t.with_hour(0).expect("hour 0"),
        };
        SnapshotId(t.format("%Y-%m-%d-%H").to_string())
    }

    /// Accepts exactly `YYYY-MM-DD-HH`; anything else is not a snapshot.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 13 && Self::time_of(s).is_some();
        ok.then(|| SnapshotId(s.to_string()))
    }

    fn time_of(s: &str) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(&format!("{s}:00:00"), "%Y-%m-%d-%H:%M:%S").ok()
    }

    pub fn time(&self) -> NaiveDateTime {
        Self::time_of(&self.0).expect("checked when made")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The folder of a snapshot table (its Athena LOCATION), under the root.
pub fn table_history_dir(name: &str) -> String {
    format!("{HISTORY}/{name}")
}

/// The one file of table `name` in snapshot `id`.
pub fn snapshot_file(name: &str, id: &SnapshotId) -> String {
    format!("{HISTORY}/{name}/snapshot={id}/{name}-{id}.parquet")
}

/// The snapshot a history file belongs to, if it is one readers see.
pub fn snapshot_of(path: &str) -> Option<SnapshotId> {
    let (dir, file) = path.rsplit_once('/')?;
    let id = SnapshotId::parse(dir.rsplit_once("/snapshot=")?.1)?;
    let visible = file.ends_with(".parquet") && !file.starts_with('.') && !file.starts_with('_');
    visible.then_some(id)
}

static PARTITION_DOCS: [Column; 3] = [
    s(
        "accountid",
        "AWS account id (the partition of the live table).",
    ),
    s("region", "AWS region (the partition of the live table)."),
    s("groupname", "Group name (the partition of the live table)."),
];

/// The declaration of a table's snapshots: `history_{name}`, the live
/// table's partition columns as ordinary columns, then its columns.
pub fn history_def(t: &Table) -> &'static TableDef {
    static DEFS: OnceLock<Vec<TableDef>> = OnceLock::new();
    let defs = DEFS.get_or_init(|| {
        tables::ALL
            .iter()
            .map(|t| {
                let lead = &PARTITION_DOCS[..t.partitioning.columns().len()];
                let columns: Vec<Column> = lead.iter().chain(t.columns).copied().collect();
                TableDef {
                    name: Box::leak(format!("history_{}", t.name).into_boxed_str()),
                    doc: Box::leak(
                        format!("Snapshots of {}: one per period.", t.name).into_boxed_str(),
                    ),
                    grain: t.grain,
                    partitioning: t.partitioning,
                    calls: &[],
                    identity: t.identity,
                    columns: Box::leak(columns.into_boxed_slice()),
                }
            })
            .collect()
    });
    let i = tables::ALL
        .iter()
        .position(|x| x.name == t.name)
        .expect("a registered table");
    &defs[i]
}

/// Every snapshot table's declaration and folder, the `snapshots` table last.
pub fn history_defs() -> impl Iterator<Item = (&'static TableDef, &'static str)> {
    tables::ALL
        .iter()
        .map(|t| (history_def(t), t.name))
        .chain(std::iter::once((&SNAPSHOTS_DEF, SNAPSHOTS)))
}

/// The table of complete snapshots: one row per table of each snapshot.
pub static SNAPSHOTS_DEF: TableDef = TableDef {
    name: "history_snapshots",
    doc: "Complete snapshots: one row per table of each snapshot, written after the tables.",
    grain: "table of a snapshot",
    partitioning: Partitioning::Account,
    calls: &[] as &[Call],
    identity: &["tablename"],
    columns: &[
        s("tablename", "The table, for example instances."),
        c("rows", Bigint, "Rows of that table in the snapshot."),
        c("partitions", Bigint, "Live partitions read into it."),
        s("period", "How often snapshots are taken: hour or day."),
        Column {
            name: "snapshottime",
            ty: Timestamp,
            doc: "When the run that took the snapshot started (UTC).",
            source: ColumnSource::RunTime,
            distinct: false,
            volatile: true,
        },
    ],
};

/// The columns history compares: not the identity, not the run time, not
/// those that follow the clock ([`Column::volatile`]).
pub fn compared(t: &Table) -> impl Iterator<Item = &'static Column> + '_ {
    t.def.columns.iter().filter(move |c| {
        c.source != ColumnSource::RunTime && !c.volatile && !t.identity.contains(&c.name)
    })
}

/// Whether `ty` holds a field that history does not compare.
pub fn has_volatile(ty: &crate::schema::ColumnType) -> bool {
    use crate::schema::ColumnType as T;
    match ty {
        T::Array(t) => has_volatile(t),
        T::Struct(cols) => cols.iter().any(|c| c.volatile || has_volatile(&c.ty)),
        _ => false,
    }
}

/// Every complete snapshot, oldest first.
pub fn complete(dest: &dyn Destination) -> Result<Vec<SnapshotId>, Error> {
    let mut ids: BTreeSet<SnapshotId> = BTreeSet::new();
    for p in dest.list(&table_history_dir(SNAPSHOTS))? {
        if let Some(id) = snapshot_of(&p) {
            if p == snapshot_file(SNAPSHOTS, &id) {
                ids.insert(id);
            }
        }
    }
    Ok(ids.into_iter().collect())
}

/// The largest completion marker read (one row per table: a few KB).
const MAX_MARKER_BYTES: u64 = 1 << 20;

/// The tables a complete snapshot holds, from its completion marker. An
/// empty, unreadable or foreign marker is an error naming it: such a
/// snapshot is not complete, whatever the listing says.
pub fn marker_tables(dest: &dyn Destination, id: &SnapshotId) -> Result<BTreeSet<String>, Error> {
    use arrow_array::cast::AsArray;
    let path = snapshot_file(SNAPSHOTS, id);
    let mut names = BTreeSet::new();
    for b in read::batches(dest, &path, &SNAPSHOTS_DEF, MAX_MARKER_BYTES)? {
        let b = b?;
        let col = b
            .column_by_name("tablename")
            .and_then(|c| c.as_string_opt::<i32>().cloned())
            .ok_or_else(|| {
                Error::input(
                    &path,
                    "tablename",
                    "not a snapshot marker: no tablename column",
                )
            })?;
        names.extend(col.iter().flatten().map(str::to_string));
    }
    if names.is_empty() {
        return Err(Error::input(
            &path,
            "the file",
            "an empty snapshot marker: the snapshot is not complete",
        ));
    }
    Ok(names)
}

/// Every complete snapshot whose marker reads, oldest first (one whose
/// marker does not counts as incomplete).
pub fn complete_readable(dest: &dyn Destination) -> Result<Vec<SnapshotId>, Error> {
    Ok(complete(dest)?
        .into_iter()
        .filter(|id| marker_tables(dest, id).is_ok())
        .collect())
}

/// The right to take one period's snapshot: one run at a time.
///
/// `history/.leases/{id}.json`, created exclusively (a hard link locally,
/// `If-None-Match` on S3) before the run writes anything, and deleted when
/// it ends. A second run of the same period finds it and refuses, so a
/// snapshot holds one run's view and the live tree is not written by two
/// such runs at once. A lease is taken over when its holder has died (same
/// host, process gone) or it has expired ([`LEASE_TTL_MS`]).
pub struct Lease<'d> {
    dest: &'d dyn Destination,
    path: String,
    token: String,
}

/// How long a lease holds without its holder's word: longer than any run.
pub const LEASE_TTL_MS: i64 = 2 * 3_600_000;

impl<'d> Lease<'d> {
    pub fn take(dest: &'d dyn Destination, id: &SnapshotId) -> Result<Lease<'d>, Error> {
        let path = format!("{HISTORY}/.leases/{id}.json");
        let now = chrono::Utc::now().timestamp_millis();
        let token = format!(
            "{}-{}-{now}",
            std::process::id(),
            crate::partition::host_name()
        );
        let doc = json!({"token": token, "pid": std::process::id(), "host": crate::partition::host_name(),
                         "expires_ms": now + LEASE_TTL_MS});
        let body = doc.to_string();
        for attempt in 0..2 {
            if dest.put_new(&path, body.as_bytes())? {
                return Ok(Lease { dest, path, token });
            }
            let held = dest
                .read(&path, 4096)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let stale = match &held {
                None => true,
                Some(h) => {
                    let expired = h["expires_ms"].as_i64().is_none_or(|e| e < now);
                    let dead = h["host"].as_str() == Some(crate::partition::host_name().as_str())
                        && h["pid"]
                            .as_u64()
                            .is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists());
                    expired || dead
                }
            };
            if !stale || attempt == 1 {
                let who = held
                    .map(|h| format!("pid {} on {}", h["pid"], h["host"]))
                    .unwrap_or_else(|| "another run".into());
                return Err(Error::Busy(format!(
                    "{}/{path}: snapshot {id} is being taken by {} (a lease held until it ends or expires); nothing was written",
                    dest.url(),
                    crate::output::escape_controls(&who)
                )));
            }
            dest.delete(&path)?;
        }
        unreachable!("the loop returns")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let ours = self
            .dest
            .read(&self.path, 4096)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|h| h["token"].as_str() == Some(self.token.as_str()));
        if ours {
            let _ = self.dest.delete(&self.path);
        }
    }
}

/// What one snapshot run did.
#[derive(Debug)]
pub struct Report {
    pub id: SnapshotId,
    /// False when the period already had a complete snapshot (kept as is).
    pub written: bool,
    /// `(table, rows, partitions)`.
    pub tables: Vec<(&'static str, u64, u64)>,
    pub bytes: u64,
}

/// Largest live file read into a snapshot.
pub const MAX_PARTITION_FILE_BYTES: u64 = 2 << 30;

/// Takes the snapshot of period `at_ms` from what `metadata/` holds now,
/// unless that period already has a complete one (a snapshot is never
/// rewritten). The tables' files are staged and committed, then the
/// `snapshots` file marks the snapshot complete: until it exists readers
/// ignore the snapshot, and a later run of the same period writes it again.
pub fn take(
    dest: &dyn Destination,
    opts: &WriterOptions,
    at_ms: i64,
    period: Period,
    fresh: Option<&Fresh>,
) -> Result<Report, Error> {
    let id = SnapshotId::of(at_ms, period);
    let mut report = Report {
        id: id.clone(),
        written: false,
        tables: Vec::new(),
        bytes: 0,
    };
    // A period whose marker reads is never rewritten; one whose marker
    // does not is taken again.
    if complete(dest)?.contains(&id) && marker_tables(dest, &id).is_ok() {
        return Ok(report);
    }
    // Tables are copied side by side (on the global pool, one thread per
    // core): each reads its own partitions and writes its own file.
    use rayon::prelude::*;
    let copied: Vec<(u64, u64, Box<dyn StagedObject>)> = tables::ALL
        .par_iter()
        .map(|t| copy_live_table(dest, opts, t, snapshot_file(t.name, &id), fresh))
        .collect::<Result<_, Error>>()?;
    let mut staged: Vec<Box<dyn StagedObject>> = Vec::new();
    for (t, (rows, parts, obj)) in tables::ALL.iter().zip(copied) {
        report.tables.push((t.name, rows, parts));
        staged.push(obj);
    }
    for (obj, t) in staged.into_iter().zip(tables::ALL) {
        report.bytes += obj.commit()?;
        if crate::failpoint::armed("crash-in-snapshot", t.name) {
            std::process::abort();
        }
    }
    let mut b = RowBuilder::new(&SNAPSHOTS_DEF, at_ms, &[]);
    for (name, rows, parts) in &report.tables {
        let row = json!({"tablename": name, "rows": rows, "partitions": parts,
            "period": format!("{period:?}").to_lowercase()});
        b.append_value(&row)
            .map_err(|e| Error::Internal(format!("snapshot manifest: {e}")))?;
    }
    let batch = b.finish();
    let mut f = PartitionFile::create(
        dest,
        snapshot_file(SNAPSHOTS, &id),
        &SNAPSHOTS_DEF,
        &WriterOptions {
            per_partition: false,
            ..opts.clone()
        },
        Some(batch.get_array_memory_size()),
    )?;
    f.write(&batch)?;
    report.bytes += f.finish()?.1.commit()?;
    report.written = true;
    Ok(report)
}

/// Writes every live partition of `t` into one file at `path`, staged, in
/// partition order, with the partition values as leading columns (the
/// shape of [`history_def`]): `(rows, partitions, the staged file)`. The
/// history snapshots and the query-ready copy are both made by it.
pub(crate) fn copy_live_table(
    dest: &dyn Destination,
    opts: &WriterOptions,
    t: &'static Table,
    path: String,
    fresh: Option<&Fresh>,
) -> Result<(u64, u64, Box<dyn StagedObject>), Error> {
    let def = history_def(t);
    // This run's own partitions come from `fresh`; a spill that cannot be
    // read costs only the time of reading them back.
    let mut spill = match fresh.map(|f| f.reader(&t.def)) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            eprintln!(
                "fleetcmdb: note: {}: reading this run's files back ({e})",
                t.name
            );
            None
        }
        None => None,
    };
    let parts = tables::live_files(dest, t)?;
    let opts = WriterOptions {
        per_partition: false,
        ..opts.clone()
    };
    let mut out = PartitionFile::create(dest, path, def, &opts, None)?;
    let schema = def.arrow_schema();
    for (key, path) in &parts {
        let values: Vec<&str> = key.values();
        let from_spill = match spill.as_mut().and_then(|s| s.batches(key)) {
            Some(Ok(batches)) => Some(batches),
            Some(Err(e)) => {
                eprintln!("fleetcmdb: note: {path}: read back ({e})");
                None
            }
            None => None,
        };
        match from_spill {
            Some(batches) => {
                for batch in batches {
                    out.write(&read::with_partition(&schema, &batch, &values, path)?)?;
                }
            }
            None => {
                for batch in read::batches(dest, path, t, MAX_PARTITION_FILE_BYTES)? {
                    let batch = read::with_partition(&schema, &batch?, &values, path)?;
                    out.write(&batch)?;
                }
            }
        }
    }
    let rows = out.rows;
    Ok((rows, parts.len() as u64, out.finish()?.1))
}

/// A point in time given on the command line: `latest`, `yesterday`, a
/// duration back from now (`12h`, `7d`, `2w`), a snapshot id
/// (`2026-11-30-00`), a date, or a UTC time (`2026-11-30T00`,
/// `2026-11-30T00:00:00Z`).
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    Latest,
    At(NaiveDateTime),
}

/// The furthest back a duration may reach, in hours (the 230 years of the grammar).
const MAX_HOURS_BACK: i64 = 230 * 366 * 24;

impl When {
    pub fn parse(s: &str, now_ms: i64) -> Result<When, Error> {
        let now = DateTime::<Utc>::from_timestamp_millis(now_ms)
            .unwrap_or_default()
            .naive_utc();
        let bad = || {
            Error::Usage(format!(
                "{s:?}: not a time; use latest, yesterday, a duration back from now (12h, 7d, 2w), a snapshot id (2026-11-30-00), a date (2026-11-30) or a UTC time (2026-11-30T00, 2026-11-30T00:00:00Z)"
            ))
        };
        let t = s.trim();
        match t {
            "latest" | "now" => return Ok(When::Latest),
            "yesterday" => return Ok(When::At(now - Duration::days(1))),
            _ => {}
        }
        if let Some(unit) = t.chars().last().filter(|c| "hdw".contains(*c)) {
            if let Ok(n) = t[..t.len() - 1].parse::<u32>() {
                let per = match unit {
                    'h' => 1,
                    'd' => 24,
                    _ => 24 * 7,
                };
                // Checked before the arithmetic: no history is older than 1970.
                let back = i64::from(n)
                    .checked_mul(per)
                    .filter(|h| *h <= MAX_HOURS_BACK)
                    .and_then(Duration::try_hours)
                    .and_then(|d| now.checked_sub_signed(d))
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "{s:?}: too far back; give at most {MAX_HOURS_BACK}h (230 years)"
                        ))
                    })?;
                return Ok(When::At(back));
            }
        }
        if let Some(id) = SnapshotId::parse(t) {
            return Ok(When::At(id.time()));
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(When::At(d.and_hms_opt(0, 0, 0).expect("midnight")));
        }
        if let Ok(dt) = NaiveDateTime::parse_from_str(&format!("{t}:00:00"), "%Y-%m-%dT%H:%M:%S") {
            return Ok(When::At(dt));
        }
        if let Some(ms) = crate::time::parse_timestamp_ms(t) {
            return Ok(When::At(
                DateTime::<Utc>::from_timestamp_millis(ms)
                    .ok_or_else(bad)?
                    .naive_utc(),
            ));
        }
        Err(bad())
    }

    /// The newest complete snapshot taken at or before this time.
    pub fn resolve<'a>(&self, snapshots: &'a [SnapshotId]) -> Option<&'a SnapshotId> {
        match self {
            When::Latest => snapshots.last(),
            When::At(t) => snapshots.iter().rev().find(|s| s.time() <= *t),
        }
    }
}

/// Snapshots to delete under `keep` (the same rules as backups: the
/// newest is always kept), plus the files of incomplete snapshots older
/// than the newest complete one (a run that stopped midway).
pub fn to_prune_paths(dest: &dyn Destination, keep: Keep) -> Result<Vec<String>, Error> {
    // Only snapshots whose marker reads are complete: retention counts
    // them alone, so an empty or broken marker never takes a readable
    // snapshot's place among those kept.
    let done = complete_readable(dest)?;
    let archives: Vec<Archive> = done
        .iter()
        .map(|id| Archive {
            path: id.to_string(),
            time: id.time(),
            label: None,
            series: HISTORY.into(),
        })
        .collect();
    let gone: BTreeSet<String> = to_prune(archives, keep).into_iter().collect();
    let newest = done.last();
    let mut paths = Vec::new();
    for p in dest.list(HISTORY)? {
        let Some(id) = snapshot_of(&p) else { continue };
        let orphan = !done.contains(&id) && newest.is_some_and(|n| id < *n);
        if gone.contains(id.as_str()) || orphan {
            paths.push(p);
        }
    }
    // The `snapshots` file last: a snapshot stays complete until its tables are gone.
    paths.sort_by_key(|p| (p.starts_with(&table_history_dir(SNAPSHOTS)), p.clone()));
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_316_400_000; // 2026-11-22T03:00:00Z

    #[test]
    fn ids_are_period_starts() {
        assert_eq!(
            SnapshotId::of(T + 59 * 60_000, Period::Hour).as_str(),
            "2026-11-22-03"
        );
        assert_eq!(SnapshotId::of(T, Period::Day).as_str(), "2026-11-22-00");
        assert!(SnapshotId::parse("2026-11-22-03").is_some());
        for bad in [
            "2026-11-22",
            "2026-11-22-24",
            "2026-13-01-00",
            "../../x-00-0",
            "2026-11-22-3",
        ] {
            assert!(SnapshotId::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(
            snapshot_of("history/instances/snapshot=2026-11-22-03/instances-2026-11-22-03.parquet"),
            SnapshotId::parse("2026-11-22-03")
        );
        assert_eq!(
            snapshot_of(
                "history/instances/snapshot=2026-11-22-03/.instances-2026-11-22-03.parquet.tmp-1"
            ),
            None
        );
    }

    #[test]
    fn times_resolve_to_the_newest_snapshot_before_them() {
        let ids: Vec<SnapshotId> = ["2026-11-20-00", "2026-11-21-00", "2026-11-22-02"]
            .iter()
            .map(|s| SnapshotId::parse(s).unwrap())
            .collect();
        let at = |s: &str| {
            When::parse(s, T)
                .unwrap()
                .resolve(&ids)
                .map(|i| i.to_string())
        };
        assert_eq!(at("latest").as_deref(), Some("2026-11-22-02"));
        assert_eq!(at("yesterday").as_deref(), Some("2026-11-21-00"));
        assert_eq!(at("1h").as_deref(), Some("2026-11-22-02"));
        assert_eq!(at("2d").as_deref(), Some("2026-11-20-00"));
        assert_eq!(at("2026-11-21").as_deref(), Some("2026-11-21-00"));
        assert_eq!(at("2026-11-21T23").as_deref(), Some("2026-11-21-00"));
        assert_eq!(at("2026-11-22T02:30:00Z").as_deref(), Some("2026-11-22-02"));
        assert_eq!(at("2026-11-19-00"), None);
        for bad in ["last week", "7x", "d", "2026-11-31"] {
            assert!(When::parse(bad, T).is_err(), "{bad}");
        }
        for huge in ["4294967295w", "4294967295d", "4294967295h", "2020321h"] {
            let e = When::parse(huge, T).unwrap_err().to_string();
            assert!(e.contains("too far back"), "{huge}: {e}");
        }
        assert!(When::parse("2020320h", T).is_ok());
    }

    #[test]
    fn history_tables_lead_with_the_live_partition() {
        let h = history_def(&tables::INSTANCES);
        assert_eq!(h.name, "history_instances");
        let names: Vec<&str> = h.columns.iter().take(4).map(|c| c.name).collect();
        assert_eq!(
            names,
            ["accountid", "region", "groupname", "amilaunchindex"]
        );
        let a = history_def(&tables::ACCOUNTS);
        assert_eq!(a.columns[0].name, "accountid");
        assert_ne!(a.columns[1].name, "region");
    }
}
