//! The query-ready copy: every table in one file, rewritten by every run.
//!
//! Owns the layout under `{out}/query/`, the writing of a new version, the
//! switch that makes it current, and the removal of superseded versions:
//!
//! ```text
//! query/version={v}/{table}/{table}-{v}.parquet   one file per table and version
//! query/manifests/{table}/manifest                the current version's file of the table (Athena reads it)
//! query/current.json                              names the current version: written last, the switch
//! ```
//!
//! Each table's file holds every live partition of `metadata/` in partition
//! order, with `accountid`, `region` and `groupname` as ordinary leading
//! columns, so row-group statistics prune any predicate on them (the shape
//! of a history snapshot, made by the same code). A group whose collection
//! failed keeps its last good files in `metadata/`, and so its rows here.
//!
//! Readers never see a mix. A version's files are written under a folder
//! of their own, named by the run's start and a part that tells processes
//! apart, so two runs at once never write the same file. Only then does the
//! run switch: each table's manifest (one `PutObject`, or a rename) and last
//! `current.json` (likewise). DuckDB reads the version `current.json` names;
//! Athena reads the file each manifest names. A crash before the switch
//! leaves the previous version in force; the next run removes the orphan.
//! The current version and the one before it are kept (a query that began
//! before the switch may still read it); older ones are deleted.

use serde_json::{json, Value};

use crate::error::Error;
use crate::history::copy_live_table;
use crate::sink::fresh::Fresh;
use crate::sink::parquet::WriterOptions;
use crate::sink::{Destination, StagedObject};
use crate::tables::{self, Table};

/// The folder of the copy, under the destination root.
pub use crate::partition::QUERY;
/// The file that names the current version.
pub fn current_file() -> String {
    format!("{QUERY}/current.json")
}
/// The largest `current.json` read.
const MAX_POINTER_BYTES: u64 = 1 << 20;

/// Table `name`'s file in version `v`.
pub fn table_file(name: &str, v: &str) -> String {
    format!("{QUERY}/version={v}/{name}/{name}-{v}.parquet")
}

/// The folder of table `name`'s manifest (its Athena LOCATION).
pub fn manifest_dir(name: &str) -> String {
    format!("{QUERY}/manifests/{name}")
}

/// A version id: the run's start (`2026-12-01T10-00-00-000Z`) and eight
/// hex digits of the process, so runs at once never share one.
pub fn version_id(at_ms: i64, process: &str) -> String {
    format!("{}-{process}", crate::time::file_stamp_ms(at_ms))
}

/// Whether `v` is a version id as [`version_id`] makes them.
fn is_version(v: &str) -> bool {
    v.len() == 33 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// What one copy did.
#[derive(Debug)]
pub struct Report {
    pub version: String,
    /// `(table, rows, partitions)`.
    pub tables: Vec<(&'static str, u64, u64)>,
    pub bytes: u64,
    /// Superseded versions removed.
    pub removed: Vec<String>,
}

/// The current version, from `current.json`; `None` when there is none.
pub fn current(dest: &dyn Destination) -> Result<Option<String>, Error> {
    let data = match dest.read(&current_file(), MAX_POINTER_BYTES) {
        Ok(d) => d,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let doc: Value = serde_json::from_slice(&data)
        .map_err(|e| Error::input(current_file(), "$", format!("malformed JSON: {e}")))?;
    match doc.get("version").and_then(Value::as_str) {
        Some(v) if is_version(v) => Ok(Some(v.to_string())),
        _ => Err(Error::input(
            current_file(),
            "$.version",
            "not a version id",
        )),
    }
}

/// Writes a new version of every table from what `metadata/` holds now
/// (the partitions this run committed taken from `fresh`, when given),
/// then switches to it and removes versions older than the one it replaced.
pub fn write(
    dest: &dyn Destination,
    opts: &WriterOptions,
    at_ms: i64,
    process: &str,
    fresh: Option<&Fresh>,
) -> Result<Report, Error> {
    let version = version_id(at_ms, process);
    // A pointer that does not read is replaced by this version's, and not
    // trusted to say what may be deleted: nothing older is removed. (Failing
    // instead would leave readers on a copy no run could ever refresh.)
    let previous = match current(dest) {
        Ok(p) => p,
        Err(e @ Error::Input { .. }) => {
            eprintln!("fleetcmdb: warning: {e}: replaced by version {version}; no older version is removed");
            None
        }
        Err(e) => return Err(e),
    };
    use rayon::prelude::*;
    let copied: Vec<(u64, u64, Box<dyn StagedObject>)> = tables::ALL
        .par_iter()
        .map(|t| copy_live_table(dest, opts, t, table_file(t.name, &version), fresh))
        .collect::<Result<_, Error>>()?;
    let mut report = Report {
        version: version.clone(),
        tables: Vec::new(),
        bytes: 0,
        removed: Vec::new(),
    };
    for (t, (rows, parts, obj)) in tables::ALL.iter().zip(copied) {
        report.bytes += obj.commit()?;
        report.tables.push((t.name, rows, parts));
        if crate::failpoint::armed("crash-in-query-copy", t.name) {
            std::process::abort();
        }
    }
    // The switch: each manifest, then the pointer, each one write.
    let url = dest.url();
    for t in tables::ALL {
        let line = format!("{url}/{}\n", table_file(t.name, &version));
        dest.put(
            &format!("{}/manifest", manifest_dir(t.name)),
            line.as_bytes(),
        )?;
    }
    if crate::failpoint::armed("crash-in-query-switch", "current") {
        std::process::abort();
    }
    let tables_doc: serde_json::Map<String, Value> = report
        .tables
        .iter()
        .map(|(t, rows, parts)| {
            (
                t.to_string(),
                json!({"rows": rows, "partitions": parts, "file": table_file(t, &version)}),
            )
        })
        .collect();
    let doc = json!({"version": version, "previous": previous, "tables": tables_doc});
    dest.put(&current_file(), doc.to_string().as_bytes())?;
    report.removed = remove_superseded(dest, &version, previous.as_deref())?;
    Ok(report)
}

/// Deletes every version older than `previous` (the one `current`
/// replaced): never the current one, never the one before it, never one
/// newer than it (a run still writing, or one that stopped).
fn remove_superseded(
    dest: &dyn Destination,
    current: &str,
    previous: Option<&str>,
) -> Result<Vec<String>, Error> {
    let Some(previous) = previous else {
        return Ok(Vec::new());
    };
    let prefix = format!("{QUERY}/version=");
    let files: Vec<(String, String)> = dest
        .list(QUERY)?
        .into_iter()
        .filter_map(|path| {
            let v = path.strip_prefix(&prefix)?.split('/').next()?.to_string();
            is_version(&v).then_some((v, path))
        })
        .collect();
    // The pointer is a file: the version it names as previous must be one
    // that is there, or it says nothing about what is older.
    if !files.iter().any(|(v, _)| v == previous) {
        return Ok(Vec::new());
    }
    let mut gone = std::collections::BTreeSet::new();
    for (v, path) in &files {
        if v.as_str() < previous && v != current {
            dest.delete(path)?;
            gone.insert(v.clone());
        }
    }
    Ok(gone.into_iter().collect())
}

/// The copy's tables in DuckDB: each reads the version `current.json` names.
pub fn duckdb_views(database: &str, prefix: &str, root: &str) -> Vec<String> {
    tables::ALL
        .iter()
        .map(|t: &&Table| {
            format!(
                "CREATE OR REPLACE VIEW \"{database}\".\"{prefix}{name}\" AS SELECT * EXCLUDE (version) FROM read_parquet('{root}/{QUERY}/version=*/{name}/*.parquet', hive_partitioning = true, hive_types = {{'version': 'VARCHAR'}}) WHERE version = (SELECT version FROM read_json('{root}/{current}', columns = {{'version': 'VARCHAR'}}))",
                name = t.name,
                current = current_file()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_malformed_pointer_is_replaced_and_deletes_nothing() {
        use crate::sink::local::LocalDestination;
        let dir = tempfile::tempdir().unwrap();
        let dest = LocalDestination::new(dir.path()).unwrap();
        let opts = WriterOptions::default();
        let first = write(&dest, &opts, 1_000, "00000001", None).unwrap();
        dest.put(&current_file(), b"{not json").unwrap();
        let second = write(&dest, &opts, 2_000, "00000002", None).unwrap();
        assert_eq!(
            current(&dest).unwrap().as_deref(),
            Some(second.version.as_str())
        );
        assert!(
            second.removed.is_empty(),
            "an unreadable pointer names nothing to delete"
        );
        // Once the pointer reads again, the usual rule is back: the current
        // version and the one before it stay, older ones go.
        let third = write(&dest, &opts, 3_000, "00000003", None).unwrap();
        assert_eq!(third.removed, vec![first.version.clone()]);
        let listed = dest.list(QUERY).unwrap();
        assert!(listed.iter().any(|p| p.contains(&second.version)));
    }

    use super::*;

    #[test]
    fn only_versions_older_than_an_existing_previous_one_go() {
        let dir = tempfile::tempdir().unwrap();
        let dest = crate::sink::local::LocalDestination::new(dir.path()).unwrap();
        let v: Vec<String> = (0..4)
            .map(|i| version_id(1_795_316_400_000 + i, "0a1b2c3d"))
            .collect();
        for x in &v {
            dest.put(&table_file("accounts", x), b"PAR1").unwrap();
        }
        // A pointer naming a version that is not there deletes nothing.
        let absent = version_id(253_402_300_799_999, "ffffffff");
        assert!(remove_superseded(&dest, &v[3], Some(&absent))
            .unwrap()
            .is_empty());
        assert_eq!(dest.list(QUERY).unwrap().len(), 4);
        // The previous one and the current one stay; older ones go.
        let gone = remove_superseded(&dest, &v[3], Some(&v[2])).unwrap();
        assert_eq!(gone, vec![v[0].clone(), v[1].clone()]);
        assert_eq!(
            dest.list(QUERY).unwrap(),
            vec![table_file("accounts", &v[2]), table_file("accounts", &v[3])]
        );
    }

    #[test]
    fn version_ids_sort_by_time_and_are_checked() {
        let a = version_id(1_795_316_400_000, "0a1b2c3d");
        let b = version_id(1_795_316_400_001, "00000000");
        assert_eq!(a, "2026-11-22T03-00-00-000Z-0a1b2c3d");
        assert!(is_version(&a) && is_version(&b) && a < b);
        assert!(!is_version("../../etc") && !is_version(""));
        assert_eq!(
            table_file("instances", &a),
            format!("query/version={a}/instances/instances-{a}.parquet")
        );
    }

    #[test]
    fn the_copy_from_the_spill_equals_the_copy_read_back_and_survives_a_lost_spill() {
        use crate::partition::{Partition, PartitionKey, PartitionValue};
        use crate::record::RowBuilder;
        use crate::sink::fresh::Fresh;
        use crate::sink::partitions::PartitionWriter;
        use crate::tables::TableId;
        let dir = tempfile::tempdir().unwrap();
        let dest = crate::sink::local::LocalDestination::new(dir.path()).unwrap();
        let opts = WriterOptions::default();
        let key = |g: &str| {
            let v = |s: &str| PartitionValue::parse(s, "value", "test").unwrap();
            PartitionKey::Group(Partition {
                accountid: v("111111111111"),
                region: v("eu-west-1"),
                groupname: v(g),
            })
        };
        let instances = |ids: std::ops::Range<usize>| {
            let mut rb = RowBuilder::new(&tables::INSTANCES, 1_700_000_000_000, &[]);
            for i in ids {
                rb.append_value(&json!({"InstanceId": format!("i-{i:017x}")}))
                    .unwrap();
            }
            rb.finish()
        };
        let run = |fresh: Option<&Fresh>, group: &str, ids: std::ops::Range<usize>| {
            let mut w = PartitionWriter::new(&dest, &opts, tables::schemas()).keeping(fresh);
            let p = w.open(key(group));
            w.write(p, TableId::Instances.schema(), &instances(ids), None);
            assert!(w.commit().failed.is_empty());
        };
        let files = |v: &str| -> Vec<Vec<u8>> {
            tables::ALL
                .iter()
                .map(|t| dest.read(&table_file(t.name, v), 1 << 30).unwrap())
                .collect()
        };
        // An earlier run's partition, then this run's, kept in its spill.
        run(None, "db", 0..2);
        let fresh = Fresh::new(tables::schemas()).unwrap();
        run(Some(&fresh), "web", 10..15);
        let spilled = write(&dest, &opts, 1_000, "00000001", Some(&fresh)).unwrap();
        let read_back = write(&dest, &opts, 2_000, "00000002", None).unwrap();
        let rows = |r: &Report| r.tables.iter().find(|t| t.0 == "instances").unwrap().1;
        assert_eq!(rows(&spilled), 7);
        assert_eq!(files(&spilled.version), files(&read_back.version));
        // A spill lost before the copy: every partition is read back.
        let lost = Fresh::new(tables::schemas()).unwrap();
        run(Some(&lost), "web", 10..15);
        for f in std::fs::read_dir(lost.dir()).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        let e = lost.reader(TableId::Instances.schema()).err().unwrap();
        assert!(
            e.contains("instances.arrow"),
            "the error names the spill: {e}"
        );
        let recovered = write(&dest, &opts, 3_000, "00000003", Some(&lost)).unwrap();
        assert_eq!(rows(&recovered), 7);
        assert_eq!(files(&recovered.version), files(&read_back.version));
    }
}
