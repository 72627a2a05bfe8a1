//! `export --demo`: layout, round trip, idempotence, atomicity, exit codes.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMillisecondType};
use arrow_array::Array;

use crate::common::*;

#[test]
fn demo_export_writes_one_file_per_table_and_partition() {
    let d = tmp();
    let out = export_demo(d.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["status"], "success");
    // Four accounts in two regions; the fourth runs no deployment.
    assert_eq!(s["scopes"], 8);
    assert_eq!(s["partitions"], 12);
    assert_eq!(s["rows"]["instances"], 3 * 2 * 2 * 12);
    assert_eq!(s["rows"]["discovery"], 12);
    assert_eq!(s["account_partitions"], 4);
    assert_eq!(s["rows"]["accounts"], 4);
    let (accounts, files): (Vec<String>, Vec<String>) = files(d.path())
        .into_iter()
        .partition(|f| f.starts_with("metadata/accounts/"));
    assert_eq!(files.len(), 12 * 7, "{files:#?}");
    assert_eq!(accounts.len(), 4, "{accounts:#?}");
    for f in &accounts {
        let parts: Vec<&str> = f.split('/').collect();
        let a = parts[2].strip_prefix("accountid=").unwrap();
        assert_eq!(parts[3..], [format!("accounts-{a}.parquet")], "{f}");
    }
    for f in &files {
        let parts: Vec<&str> = f.split('/').collect();
        assert_eq!(parts.len(), 6, "{f}");
        assert_eq!(parts[0], "metadata");
        let (a, r, g) = (
            parts[2].strip_prefix("accountid=").unwrap(),
            parts[3].strip_prefix("region=").unwrap(),
            parts[4].strip_prefix("groupname=").unwrap(),
        );
        assert_eq!(parts[5], format!("{}-{a}-{r}-{g}.parquet", parts[1]));
    }
    let counts = row_counts(d.path());
    for (t, n) in s["rows"].as_object().unwrap() {
        assert_eq!(
            counts.get(t).copied().unwrap_or(0) as u64,
            n.as_u64().unwrap(),
            "table {t}"
        );
    }
}

#[test]
fn instances_round_trip_nested_values_and_tags() {
    let d = tmp();
    assert_eq!(
        export_demo(
            d.path(),
            &[
                "--demo-accounts",
                "1",
                "--demo-regions",
                "eu-west-1",
                "--demo-groups",
                "1"
            ]
        )
        .status
        .code(),
        Some(0)
    );
    let f = files(d.path())
        .into_iter()
        .find(|f| f.starts_with("metadata/instances/"))
        .unwrap();
    let batches = read_parquet(&d.path().join(f));
    let b = &batches[0];
    assert_eq!(b.num_rows(), 12);
    let state = b.column_by_name("state").unwrap().as_struct();
    let codes = state
        .column_by_name("code")
        .unwrap()
        .as_primitive::<Int32Type>();
    let names = state.column_by_name("name").unwrap().as_string::<i32>();
    for i in 0..b.num_rows() {
        match names.value(i) {
            "running" => assert_eq!(codes.value(i), 16),
            "stopped" => assert_eq!(codes.value(i), 80),
            other => panic!("state {other}"),
        }
    }
    let host = b.column_by_name("_hostname").unwrap().as_string::<i32>();
    let tags = b.column_by_name("tags").unwrap().as_map();
    for i in 0..b.num_rows() {
        let entries = tags.value(i);
        let keys = entries.column(0).as_string::<i32>();
        let vals = entries.column(1).as_string::<i32>();
        let name = (0..keys.len())
            .find(|k| keys.value(*k) == "Name")
            .map(|k| vals.value(k))
            .unwrap();
        assert_eq!(host.value(i), name, "_hostname is the Name tag");
        assert!(name.ends_with(&format!("{i:04}")), "{name}");
    }
    let bdm = b
        .column_by_name("blockdevicemappings")
        .unwrap()
        .as_list::<i32>();
    let first = bdm.value(0);
    let ebs = first.as_struct().column_by_name("ebs").unwrap().as_struct();
    assert!(ebs
        .column_by_name("volumeid")
        .unwrap()
        .as_string::<i32>()
        .value(0)
        .starts_with("vol-"));
    let launch = b
        .column_by_name("launchtime")
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    assert!(
        launch.value(0) >= 1_767_225_600_000,
        "launch time is in 2026"
    );
    let upd = b
        .column_by_name("metadatarecordlastupdatedat")
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(upd.value(0), 1_795_316_400_000, "stamped with --as-of");
    assert_eq!(upd.timezone(), Some("UTC"));
}

#[test]
fn rerun_gives_the_same_files_and_rows() {
    let d = tmp();
    let a = export_demo(d.path(), &[]);
    let first_files = files(d.path());
    let first_rows = row_counts(d.path());
    let b = export_demo(d.path(), &["--jobs", "1"]);
    assert_eq!(summary(&a)["rows"], summary(&b)["rows"]);
    assert_eq!(files(d.path()), first_files, "no new or temporary files");
    assert_eq!(row_counts(d.path()), first_rows, "no duplicated rows");
}

#[test]
fn a_crash_mid_file_leaves_the_previous_file_intact() {
    let d = tmp();
    assert_eq!(export_demo(d.path(), &[]).status.code(), Some(0));
    let before: Vec<(String, Vec<u8>)> = files(d.path())
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(d.path().join(&f)).unwrap()))
        .collect();
    let out = bin()
        .args([
            "export",
            "--demo",
            "--out",
            d.path().to_str().unwrap(),
            "--as-of",
            "2026-12-01T00:00:00Z",
            "--jobs",
            "1",
        ])
        .env(
            "FLEETCMDB_FAILPOINT",
            "crash-during-write:metadata/instances/",
        )
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process must have died");
    assert!(
        stderr(&out).contains("FLEETCMDB_FAILPOINT crash"),
        "{}",
        stderr(&out)
    );
    for (f, bytes) in &before {
        assert_eq!(
            &std::fs::read(d.path().join(f)).unwrap(),
            bytes,
            "{f} changed"
        );
    }
    let visible: Vec<String> = files(d.path())
        .into_iter()
        .filter(|f| !f.rsplit('/').next().unwrap().starts_with('.'))
        .collect();
    assert_eq!(
        visible.len(),
        before.len(),
        "only hidden temporary files may be added"
    );
    // The next run replaces everything cleanly.
    assert_eq!(export_demo(d.path(), &[]).status.code(), Some(0));
    assert_eq!(row_counts(d.path())["instances"], 144);
}

#[test]
fn a_failed_write_is_partial_and_keeps_the_old_partition() {
    let d = tmp();
    assert_eq!(export_demo(d.path(), &[]).status.code(), Some(0));
    let victim = files(d.path())
        .into_iter()
        .find(|f| f.contains("metadata/volumes/") && f.contains("groupname=web"))
        .unwrap();
    let old = std::fs::read(d.path().join(&victim)).unwrap();
    let out = bin()
        .args([
            "export",
            "--demo",
            "--out",
            d.path().to_str().unwrap(),
            "--as-of",
            "2026-12-01T00:00:00Z",
            "--json",
        ])
        .env("FLEETCMDB_FAILPOINT", format!("fail-write:{victim}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "partial: {}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["status"], "partial");
    let failures = s["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["group"], "web");
    assert!(failures[0]["error"]
        .as_str()
        .unwrap()
        .contains("injected write failure"));
    assert_eq!(
        std::fs::read(d.path().join(&victim)).unwrap(),
        old,
        "old file intact"
    );
    assert_eq!(s["partitions"], 11, "the other partitions were written");
}

#[test]
fn exit_codes_and_usage_errors() {
    let o = run(&["export"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("export needs a source: --demo, --snapshot DIR or --aws"));
    let o = run(&["export", "--demo", "--as-of", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--as-of"));
    let o = run(&["export", "--demo", "--stack-template", "nogroup"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["export", "--demo", "--demo-regions", "../etc"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("\"../etc\""), "{}", stderr(&o));
    let o = run(&["ddl", "--database", "x;drop"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["no-such-command"]);
    assert_eq!(o.status.code(), Some(2));
    for sub in ["export", "ddl", "gen-snapshot"] {
        let o = run(&[sub, "--help"]);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Example"),
            "{sub} --help has examples"
        );
    }
}

#[test]
fn snappy_and_zstd_give_the_same_rows() {
    let (a, b) = (tmp(), tmp());
    export_demo(a.path(), &["--codec", "zstd"]);
    export_demo(b.path(), &["--codec", "snappy"]);
    assert_eq!(row_counts(a.path()), row_counts(b.path()));
    let f = files(a.path())
        .into_iter()
        .find(|f| f.contains("instances"))
        .unwrap();
    assert_eq!(
        read_parquet(&a.path().join(&f)),
        read_parquet(&b.path().join(&f))
    );
}

#[test]
fn config_file_values_apply_and_flags_override_them() {
    let d = tmp();
    let cfg = d.path().join("fleetcmdb.toml");
    let from_file = d.path().join("from-file");
    std::fs::write(
        &cfg,
        format!(
            "out = {:?}\ngroup_tag = \"clonesquad:group-name\"\n",
            from_file.to_str().unwrap()
        ),
    )
    .unwrap();
    let o = run(&[
        "export",
        "--demo",
        "--config",
        cfg.to_str().unwrap(),
        "--json",
        "--demo-accounts",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        from_file.join("metadata/instances").is_dir(),
        "out came from the file"
    );
    let flag = d.path().join("from-flag");
    let o = run(&[
        "export",
        "--demo",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        flag.to_str().unwrap(),
        "--demo-accounts",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        flag.join("metadata/instances").is_dir(),
        "the flag wins over the file"
    );

    std::fs::write(&cfg, "out = \"x\"\nregionz = [\"eu-west-1\"]\n").unwrap();
    let o = run(&["export", "--demo", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("fleetcmdb.toml") && e.contains("regionz"), "{e}");
    std::fs::write(&cfg, "concurrency = \"many\"\n").unwrap();
    let o = run(&["export", "--demo", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("concurrency"), "{}", stderr(&o));
    let o = run(&[
        "export",
        "--demo",
        "--config",
        d.path().join("missing.toml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    // A config file is read only when small and regular.
    for bad in ["/dev/zero", d.path().to_str().unwrap()] {
        let o = run(&["export", "--demo", "--config", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    }
    std::fs::write(&cfg, vec![b'#'; 2 << 20]).unwrap();
    let o = run(&["export", "--demo", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("over the size limit"), "{}", stderr(&o));
}

#[test]
fn aws_settings_are_checked_before_any_call() {
    for (args, want) in [
        (vec!["export", "--aws"], "--regions"),
        (
            vec![
                "export",
                "--aws",
                "--regions",
                "eu-west-1",
                "--accounts",
                "12345",
            ],
            "12-digit",
        ),
        (vec!["export", "--aws", "--regions", "eu west"], "region"),
        (
            vec![
                "export",
                "--aws",
                "--regions",
                "eu-west-1",
                "--concurrency",
                "0",
            ],
            "--concurrency",
        ),
        (
            vec![
                "export",
                "--aws",
                "--regions",
                "eu-west-1",
                "--include-ous",
                "ou-1",
            ],
            "--include-ous needs --org",
        ),
        (
            vec![
                "export",
                "--aws",
                "--regions",
                "eu-west-1",
                "--exclude-ous",
                "ou-1",
            ],
            "--exclude-ous needs --org",
        ),
        (
            vec![
                "export",
                "--aws",
                "--org",
                "--regions",
                "eu-west-1",
                "--exclude-ous",
                "../x",
            ],
            "an organizational unit id",
        ),
        (vec!["export", "--demo", "--shard", "5/4"], "--shard"),
        (vec!["export", "--demo", "--shard", "0/4"], "--shard"),
        (
            vec!["serve", "--demo", "--as-of", "2026-12-01T00:00:00Z"],
            "not --as-of",
        ),
        (vec!["serve", "--demo", "--listen", "localhost"], "--listen"),
        (
            vec![
                "iam-policy",
                "--for",
                "restore",
                "--format",
                "cloudformation",
            ],
            "--format cloudformation",
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn prune_stale_refuses_to_delete_more_than_its_limit() {
    let d = tmp();
    let first = export_demo(d.path(), &["--demo-groups", "3", "--demo-accounts", "1"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let before = files(d.path());
    // Two of the three groups of each account/region are gone: more than
    // the default limit (half of those held), so nothing is deleted.
    let o = export_demo(
        d.path(),
        &[
            "--demo-groups",
            "1",
            "--demo-accounts",
            "1",
            "--prune-stale",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let s = summary(&o);
    let failures = s["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2, "one per account/region: {failures:?}");
    assert!(failures
        .iter()
        .all(|f| f["error"].as_str().unwrap().contains("--max-stale")));
    assert_eq!(s["pruned"].as_array().unwrap().len(), 0);
    let metadata = |fs: &[String]| -> Vec<String> {
        fs.iter()
            .filter(|f| f.starts_with("metadata/"))
            .cloned()
            .collect()
    };
    assert_eq!(
        metadata(&files(d.path())),
        metadata(&before),
        "nothing deleted"
    );
    // Asked for, it deletes them.
    let o = export_demo(
        d.path(),
        &[
            "--demo-groups",
            "1",
            "--demo-accounts",
            "1",
            "--prune-stale",
            "--max-stale",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(summary(&o)["pruned"].as_array().unwrap().len(), 4);
    let groups: std::collections::BTreeSet<String> = files(d.path())
        .into_iter()
        .filter(|f| f.starts_with("metadata/instances/"))
        .map(|f| f.split('/').skip(3).take(2).collect::<Vec<_>>().join("/"))
        .collect();
    assert_eq!(groups.len(), 2, "one group per region is left: {groups:?}");
}

#[test]
fn settings_come_from_the_environment_under_the_flags_and_over_the_file() {
    let d = tmp();
    let cfg = d.path().join("fleetcmdb.toml");
    let (file, env, flag) = (
        d.path().join("file"),
        d.path().join("env"),
        d.path().join("flag"),
    );
    std::fs::write(&cfg, format!("out = {:?}\n", file.to_str().unwrap())).unwrap();
    let export = |extra: &[&str], vars: &[(&str, &str)]| {
        let mut args = vec![
            "export",
            "--demo",
            "--demo-accounts",
            "1",
            "--no-backup",
            "--config",
        ];
        args.push(cfg.to_str().unwrap());
        args.extend_from_slice(extra);
        let mut c = bin();
        c.args(&args);
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let o = export(&[], &[("FLEETCMDB_OUT", env.to_str().unwrap())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        env.join("metadata/instances").is_dir(),
        "the variable wins over the file"
    );
    assert!(!file.exists());
    let o = export(
        &["--out", flag.to_str().unwrap()],
        &[("FLEETCMDB_OUT", env.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        flag.join("metadata/instances").is_dir(),
        "the flag wins over the variable"
    );
    // A bad value names the variable it came from.
    let o = export(&[], &[("FLEETCMDB_MAX_ATTEMPTS", "0")]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("--max-attempts (or FLEETCMDB_MAX_ATTEMPTS) 0"),
        "{e}"
    );
    assert!(!file.exists(), "a refused setting writes nothing");
    std::fs::write(&cfg, "max_attempts = 99\n").unwrap();
    let o = export(&[], &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("max_attempts (--max-attempts) 99: expected 1 to 20"),
        "{e}"
    );
    assert!(!file.exists(), "a refused setting writes nothing");
}
