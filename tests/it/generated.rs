//! The committed `ddl/` and the column reference in `docs/columns.md` are what the code generates.
//! Run with FLEETCMDB_BLESS=1 to rewrite them after changing a table.

use std::fs;
use std::path::Path;

use fleetcmdb::commands::ddl::{statements, write_dir};
use fleetcmdb::schema::ddl::{render, DdlOptions};
use fleetcmdb::schema::docs;

use crate::common::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_ddl_is_current() {
    let fresh = tmp();
    write_dir(fresh.path(), &DdlOptions::default()).unwrap();
    if std::env::var_os("FLEETCMDB_BLESS").is_some() {
        write_dir(&repo().join("ddl"), &DdlOptions::default()).unwrap();
    }
    let want = files(fresh.path());
    assert_eq!(
        files(&repo().join("ddl")),
        want,
        "ddl/ has other files than `fleetcmdb ddl --write` writes"
    );
    for f in want {
        let a = fs::read_to_string(fresh.path().join(&f)).unwrap();
        let b = fs::read_to_string(repo().join("ddl").join(&f)).unwrap();
        assert!(
            a == b,
            "ddl/{f} is stale: run `cargo run -- ddl --write` (or FLEETCMDB_BLESS=1 cargo test)"
        );
    }
}

#[test]
fn cli_ddl_write_matches_library() {
    let d = tmp();
    let o = run(&["ddl", "--write", d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let printed = run(&["ddl"]);
    let text = String::from_utf8(printed.stdout).unwrap();
    let all: Vec<String> = statements(&DdlOptions::default())
        .into_iter()
        .flat_map(|(_, s)| s)
        .collect();
    assert_eq!(text.trim_end(), render(&all).trim_end());
    let tables = fleetcmdb::tables::COUNT;
    // Each table's query-ready copy and partitioned table, its history
    // table, and the table of snapshots.
    assert_eq!(
        text.matches("CREATE EXTERNAL TABLE IF NOT EXISTS").count(),
        3 * tables + 1
    );
    assert_eq!(text.matches("SymlinkTextInputFormat").count(), tables);
    assert_eq!(text.matches("_changes\" AS").count(), tables);
    assert_eq!(text.matches("MSCK REPAIR TABLE").count(), tables);
}

#[test]
fn readme_column_reference_is_current() {
    let readme_path = repo().join("docs/columns.md");
    let readme = fs::read_to_string(&readme_path).unwrap();
    let block = docs::column_reference(&fleetcmdb::tables::ALL, "cmdb_");
    let updated =
        docs::splice(&readme, &block).expect("docs/columns.md has the column reference markers");
    if std::env::var_os("FLEETCMDB_BLESS").is_some() && updated != readme {
        fs::write(&readme_path, &updated).unwrap();
        return;
    }
    assert!(
        updated == readme,
        "docs/columns.md is stale: FLEETCMDB_BLESS=1 cargo test readme"
    );
    for t in fleetcmdb::tables::ALL {
        assert!(readme.contains(&format!("### `cmdb_{}`", t.name)));
    }
}

#[test]
fn partitions_from_and_prefix() {
    let d = tmp();
    export_demo(d.path(), &["--demo-accounts", "1"]);
    let o = run(&[
        "ddl",
        "--location",
        "s3://b/p",
        "--table-prefix",
        "clonesquad_",
        "--partitions-from",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(!text.contains("MSCK"));
    assert!(text
        .contains("CREATE EXTERNAL TABLE IF NOT EXISTS `cmdb`.`clonesquad_maintenance_windows`"));
    assert!(text.contains(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `cmdb`.`clonesquad_maintenance_windows_by_group`"
    ));
    assert!(text.contains("LOCATION 's3://b/p/query/manifests/maintenance_windows/'"));
    let adds: Vec<&str> = text
        .split(";\n")
        .filter(|s| s.trim_start().starts_with("ALTER TABLE"))
        .collect();
    assert_eq!(adds.len(), 8, "one batch per table: {text}");
    for a in adds {
        let per_account = a.contains("`clonesquad_accounts_by_account`");
        assert_eq!(
            a.matches("PARTITION (").count(),
            if per_account { 1 } else { 4 },
            "1 account x 2 regions x 2 groups, and the account: {a}"
        );
        assert!(a.contains("LOCATION 's3://b/p/metadata/"));
    }
    let p = run(&[
        "ddl",
        "--projection",
        "--partitions-from",
        d.path().to_str().unwrap(),
    ]);
    let text = String::from_utf8(p.stdout).unwrap();
    // The live tables as asked, and the history tables always.
    assert_eq!(
        text.matches("'projection.enabled'='true'").count(),
        2 * fleetcmdb::tables::COUNT + 1
    );
    assert!(!text.contains("ALTER TABLE") && !text.contains("MSCK"));
}

#[test]
fn usage_options_table_is_current() {
    let path = repo().join("docs/usage.md");
    let text = fs::read_to_string(&path).unwrap();
    let start = text
        .find(fleetcmdb::options::BEGIN)
        .expect("docs/usage.md has the options markers");
    let end = text.find(fleetcmdb::options::END).unwrap() + fleetcmdb::options::END.len();
    let updated = format!(
        "{}{}{}",
        &text[..start],
        fleetcmdb::options::markdown(),
        &text[end..]
    );
    if std::env::var_os("FLEETCMDB_BLESS").is_some() && updated != text {
        fs::write(&path, &updated).unwrap();
        return;
    }
    assert!(
        updated == text,
        "docs/usage.md's options table is stale: FLEETCMDB_BLESS=1 cargo test usage_options"
    );
    // Every flag of the table is in `export` or `serve`'s help, with its variable.
    let help: String = ["export", "serve"]
        .iter()
        .map(|c| String::from_utf8(run(&[c, "--help"]).stdout).unwrap())
        .collect();
    for d in fleetcmdb::options::all() {
        assert!(
            help.contains(&format!("{} ", d.flag())) || help.contains(&format!("{}[", d.flag())),
            "{} not in --help",
            d.flag()
        );
        assert!(help.contains(d.env), "{} not in --help", d.env);
    }
}
