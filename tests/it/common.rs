//! Helpers shared by the end-to-end tests.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Output};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub const AS_OF: &str = "2026-11-22T03:00:00Z";

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fleetcmdb"))
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run fleetcmdb")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn export_demo(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "export",
        "--demo",
        "--out",
        out.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--json",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// `export --snapshot SNAP --out OUT --as-of AS_OF --json`.
pub fn export_snapshot(snap: &Path, out: &Path) -> Output {
    run(&[
        "export",
        "--snapshot",
        snap.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--json",
    ])
}

pub fn summary(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "summary is JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(o)
        )
    })
}

/// Every file of the tables under `root` (`metadata/…`), relative, sorted
/// (hidden temporary files included; the YAML backups are not tables, and
/// the query-ready copy under `query/`, new with every run, has tests of
/// its own).
pub fn files(root: &Path) -> Vec<String> {
    all_files(root)
        .into_iter()
        .filter(|f| !f.starts_with("backups/") && !f.starts_with("query/"))
        .collect()
}

/// Every file under `root`, relative, sorted.
pub fn all_files(root: &Path) -> Vec<String> {
    let mut v = Vec::new();
    fn walk(root: &Path, d: &Path, v: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, v)
            } else {
                v.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    if root.exists() {
        walk(root, root, &mut v);
    }
    v.sort();
    v
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Rows per table over the whole tree.
pub fn row_counts(root: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for f in files(root) {
        if f.ends_with(".parquet") {
            let table = f.split('/').nth(1).unwrap().to_string();
            let n: usize = read_parquet(&root.join(&f))
                .iter()
                .map(|b| b.num_rows())
                .sum();
            *m.entry(table).or_default() += n;
        }
    }
    m
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
