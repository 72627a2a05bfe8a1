//! `export --snapshot`: the same tables as the demo from AWS CLI JSON, and bad input.

use std::fs;
use std::path::Path;

use crate::common::*;

fn gen(dir: &Path, extra: &[&str]) {
    let mut args = vec!["gen-snapshot", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Scope folders of a snapshot: (account, region) paths, sorted.
fn scope_dirs(snap: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for a in fs::read_dir(snap).unwrap() {
        let a = a.unwrap().path();
        for r in fs::read_dir(&a).unwrap() {
            let r = r.unwrap().path();
            if r.is_dir() {
                v.push(r);
            }
        }
    }
    v.sort();
    v
}

#[test]
fn snapshot_of_the_demo_gives_identical_tables() {
    let (snap, a, b) = (tmp(), tmp(), tmp());
    gen(snap.path(), &[]);
    assert!(files(snap.path())
        .iter()
        .any(|f| f.ends_with("ec2-describe-instances-0001.json")));
    let text =
        fs::read_to_string(scope_dirs(snap.path())[0].join("ec2-describe-instances-0001.json"))
            .unwrap();
    assert!(
        text.contains("\n    \"Reservations\"") || text.starts_with("{\n  \"Reservations\""),
        "pretty-printed like the CLI"
    );
    let sa = export_snapshot(snap.path(), a.path());
    assert_eq!(sa.status.code(), Some(0), "{}", stderr(&sa));
    let sb = export_demo(b.path(), &[]);
    assert_eq!(summary(&sa)["rows"], summary(&sb)["rows"]);
    let fa = files(a.path());
    assert_eq!(fa, files(b.path()));
    for f in &fa {
        assert_eq!(
            read_parquet(&a.path().join(f)),
            read_parquet(&b.path().join(f)),
            "{f} differs"
        );
    }
}

#[test]
fn malformed_json_fails_only_its_scope_and_names_file_and_path() {
    let (snap, out) = (tmp(), tmp());
    gen(snap.path(), &[]);
    assert_eq!(
        export_snapshot(snap.path(), out.path()).status.code(),
        Some(0)
    );
    let before = files(out.path());
    let olds: Vec<Vec<u8>> = before
        .iter()
        .map(|f| fs::read(out.path().join(f)).unwrap())
        .collect();

    let bad_scope = &scope_dirs(snap.path())[0];
    let bad_file = bad_scope.join("ec2-describe-instances-0001.json");
    let text = fs::read_to_string(&bad_file).unwrap();
    // Break the second instance's state code, deep inside the document.
    let second = text
        .match_indices("\"Code\": 16")
        .nth(1)
        .or(text.match_indices("\"Code\": 80").nth(1))
        .unwrap()
        .0;
    let broken = format!(
        "{}\"Code\": \"sixteen\"{}",
        &text[..second],
        &text[second + 10..]
    );
    fs::write(&bad_file, broken).unwrap();

    let o = run(&[
        "export",
        "--snapshot",
        snap.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--as-of",
        "2026-12-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3), "partial: {}", stderr(&o));
    let s = summary(&o);
    let f = &s["failures"].as_array().unwrap()[0];
    let msg = f["error"].as_str().unwrap();
    assert!(msg.contains("ec2-describe-instances-0001.json"), "{msg}");
    assert!(
        msg.contains("$.Reservations[") && msg.contains(".state.code"),
        "{msg}"
    );
    assert!(msg.contains("expected an integer"), "{msg}");
    assert_eq!(s["partitions"], 10, "the other five scopes still export");
    // The failed scope's files are exactly as before.
    let acct = bad_scope
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let region = bad_scope.file_name().unwrap().to_str().unwrap().to_string();
    let scope_dir = format!("accountid={acct}/region={region}/");
    let assert_scope_kept = || {
        let mut checked = 0;
        for (f, old) in before.iter().zip(&olds) {
            if f.contains(&scope_dir) {
                assert_eq!(&fs::read(out.path().join(f)).unwrap(), old, "{f}");
                checked += 1;
            }
        }
        assert_eq!(checked, 14, "two groups x seven tables kept");
    };
    assert_scope_kept();

    // Broken syntax is reported with the file too.
    fs::write(
        &bad_file,
        "{\"Reservations\": [ {\"Instances\": [ {\"InstanceId\": \"i-1\", ",
    )
    .unwrap();
    let o = export_snapshot(snap.path(), out.path());
    assert_eq!(o.status.code(), Some(3));
    let msg = summary(&o)["failures"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("ec2-describe-instances-0001.json") && msg.contains("EOF"),
        "{msg}"
    );

    // Bad UTF-8 inside an instance is found, and placed, like bad syntax.
    let mut bytes = text.into_bytes();
    let at = bytes
        .windows(14)
        .position(|w| w == b"\"InstanceId\": ")
        .unwrap()
        + 16;
    bytes[at] = 0xff;
    fs::write(&bad_file, bytes).unwrap();
    let o = export_snapshot(snap.path(), out.path());
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let msg = summary(&o)["failures"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("ec2-describe-instances-0001.json")
            && msg.contains("invalid unicode")
            && msg.matches("line ").count() == 1,
        "{msg}"
    );
    assert_scope_kept();
}

#[test]
fn group_names_that_would_escape_are_refused() {
    let (snap, out) = (tmp(), tmp());
    gen(
        snap.path(),
        &["--demo-accounts", "1", "--demo-regions", "eu-west-1"],
    );
    let dir = &scope_dirs(snap.path())[0];
    let f = dir.join("ec2-describe-instances-0001.json");
    let text = fs::read_to_string(&f).unwrap();
    let evil = text.replacen("\"Value\": \"web\"", "\"Value\": \"../../evil\"", 1);
    assert_ne!(evil, text);
    fs::write(&f, evil).unwrap();
    let o = export_snapshot(snap.path(), out.path());
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let s = summary(&o);
    let msg = s["failures"][0]["error"].as_str().unwrap();
    assert!(
        msg.contains("\"../../evil\"") && msg.contains("clonesquad:group-name"),
        "{msg}"
    );
    assert!(files(out.path()).iter().all(|f| !f.contains("evil")));
    assert!(!out.path().parent().unwrap().join("evil").exists());
    assert_eq!(s["partitions"], 2, "both real groups still export");
}

#[test]
fn a_bad_or_missing_dynamodb_scan_fails_only_its_group() {
    let (snap, out) = (tmp(), tmp());
    gen(
        snap.path(),
        &["--demo-accounts", "1", "--demo-regions", "eu-west-1"],
    );
    let dir = &scope_dirs(snap.path())[0];
    let scans: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_str().unwrap().contains("dynamodb-scan-")
                && p.to_str().unwrap().contains("Configuration")
        })
        .collect();
    assert_eq!(scans.len(), 2);
    fs::write(&scans[0], "{\"Items\": [{\"Value\": {\"S\": \"no key\"}}]}").unwrap();
    let sched = scans[1]
        .to_str()
        .unwrap()
        .replace("Configuration", "Scheduler");
    fs::remove_file(&sched).unwrap();
    let o = export_snapshot(snap.path(), out.path());
    assert_eq!(o.status.code(), Some(4), "no group left: {}", stderr(&o));
    let s = summary(&o);
    let errs: Vec<String> = s["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["error"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.contains("$.Items[0].Key") && e.contains("dynamodb-scan-")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("Scheduler") && e.contains("table not found")),
        "{errs:?}"
    );
    // Only the account's own row: it lists the two groups found, both failed.
    let written = files(out.path());
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(
        written[0].starts_with("metadata/accounts/accountid="),
        "{written:?}"
    );
}
