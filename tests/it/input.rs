//! Input as it really arrives: byte-order marks, failed groups, hostile
//! flags, readers that close the pipe.

use std::fs;
use std::path::Path;
use std::process::Stdio;

use crate::common::*;

fn snapshot(dir: &Path) {
    let o = run(&[
        "gen-snapshot",
        dir.to_str().unwrap(),
        "--demo-accounts",
        "1",
        "--demo-regions",
        "eu-west-1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Every folder under `root`, relative.
fn dirs(root: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, v: &mut Vec<String>) {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                v.push(p.strip_prefix(root).unwrap().display().to_string());
                walk(root, &p, v);
            }
        }
    }
    let mut v = Vec::new();
    if root.exists() {
        walk(root, root, &mut v);
    }
    v
}

#[test]
fn pages_with_a_byte_order_mark_export_like_any_other() {
    let (snap, plain_out, bom_out) = (tmp(), tmp(), tmp());
    snapshot(snap.path());
    let o = export_snapshot(snap.path(), plain_out.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Windows PowerShell's `Out-File -Encoding utf8` starts every file with EF BB BF.
    let mut n = 0;
    for a in fs::read_dir(snap.path()).unwrap() {
        let a = a.unwrap().path();
        let mut stack = vec![a];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let mut bytes = b"\xEF\xBB\xBF".to_vec();
                    bytes.extend(fs::read(&p).unwrap());
                    fs::write(&p, bytes).unwrap();
                    n += 1;
                }
            }
        }
    }
    assert!(n > 5);
    let o = export_snapshot(snap.path(), bom_out.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(row_counts(bom_out.path()), row_counts(plain_out.path()));
}

#[test]
fn a_failed_group_leaves_no_folder_behind() {
    let (snap, out) = (tmp(), tmp());
    snapshot(snap.path());
    let region = fs::read_dir(snap.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("eu-west-1");
    // Break one group's instances late in the page: its earlier rows were
    // already staged (and their folders made) when the error is found.
    let page = fs::read_dir(&region)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().contains("ec2-describe-instances"))
        .unwrap();
    let text = fs::read_to_string(&page).unwrap();
    let broken = text.replacen("\"Code\": 16", "\"Code\": \"sixteen\"", 1);
    assert_ne!(text, broken);
    fs::write(&page, broken).unwrap();
    let o = export_snapshot(snap.path(), out.path());
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(files(out.path()), Vec::<String>::new());
    let left: Vec<String> = dirs(out.path())
        .into_iter()
        .filter(|d| d.contains('='))
        .collect();
    assert!(left.is_empty(), "empty partition folders: {left:?}");
}

#[test]
fn a_group_name_that_escapes_is_a_usage_error_for_restore() {
    let out = tmp();
    for (flag, value) in [
        ("--group", "../x"),
        ("--account", "../../etc"),
        ("--region", "eu/west"),
    ] {
        let mut args = vec![
            "restore",
            "--latest",
            "--out",
            out.path().to_str().unwrap(),
            "--group",
            "web",
            "--account",
            "111111111111",
            "--region",
            "eu-west-1",
        ];
        let i = args.iter().position(|a| *a == flag).unwrap();
        args[i + 1] = value;
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(stderr(&o).contains(value), "{}", stderr(&o));
    }
}

#[test]
#[allow(unsafe_code, reason = "pipe and close are libc calls")]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::os::fd::FromRawFd;
    for args in [&["ddl"][..], &["iam-policy"][..]] {
        // A pipe whose reader is gone before the command writes, as after `| head -1`.
        let mut fds = [0; 2];
        // SAFETY: pipe fills two descriptors we own; the read end is closed at once.
        let stdout = unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            libc::close(fds[0]);
            Stdio::from_raw_fd(fds[1])
        };
        let o = bin()
            .args(args)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

#[test]
fn help_examples_render_one_per_line() {
    for (cmd, example) in [
        ("export", "\n  fleetcmdb export --demo\n"),
        ("ddl", "\n  fleetcmdb ddl --write\n"),
        ("backup", "\n  fleetcmdb backup --demo --out ./cmdb\n"),
    ] {
        let o = run(&[cmd, "--help"]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains(example), "{cmd} --help:\n{text}");
    }
}

#[test]
fn no_command_accepts_an_option_it_would_ignore() {
    let out = tmp();
    for flag in [
        "--org",
        "--regions",
        "--member-role",
        "--concurrency",
        "--sse",
    ] {
        let mut args = vec!["prune", "--out", out.path().to_str().unwrap(), flag];
        if flag != "--org" {
            args.push("x");
        }
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "prune {flag}: {}", stderr(&o));
    }
    let o = run(&["prune", "--out", out.path().to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn table_dump_options_are_checked_before_anything_runs() {
    let out = tmp();
    let o = run(&[
        "backup-table",
        "--table",
        "T",
        "--out",
        out.path().to_str().unwrap(),
        "--segments",
        "5000",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("between 1 and 1000"), "{}", stderr(&o));
    let o = run(&[
        "backup-table",
        "--select-tag",
        "no-equals-sign",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(&[
        "restore-table",
        out.path().to_str().unwrap(),
        "--table",
        "../x",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
