//! `fleetcmdb restore`: a group backup (YAML) back into its DynamoDB table.
//!
//! Owns finding a backup that can be trusted (the given or `latest-` file,
//! else the newest valid archive, else the same in each `--also`
//! destination), refusing anything that fails its checksum, size limit or
//! shape before the table is touched, the diff against the table, and the
//! write: puts for added and changed keys, deletes only with `--force`.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use crate::backup::{self, parse_archive, Kind};
use crate::cli::RestoreArgs;
use crate::dynamo::Dynamo;
use crate::error::{Error, ExitCode};
use crate::settings::connection;
use crate::sink::partition::PartitionValue;
use crate::sink::{self, Connection, Destination};

pub type Items = BTreeMap<String, Option<String>>;

/// A file path or `s3://` URL → (its folder as a destination, its name).
pub fn open_file(url: &str, conn: &Connection) -> Result<(Box<dyn Destination>, String), Error> {
    let (dir, name) = url
        .trim_end_matches('/')
        .rsplit_once('/')
        .unwrap_or((".", url));
    if !url.starts_with("s3://") && !std::path::Path::new(dir).is_dir() {
        return Err(Error::NotFound(url.to_string()));
    }
    Ok((sink::open(dir, conn)?, name.to_string()))
}

/// Parses a verified body: a mapping of string → scalar, nothing else.
pub fn parse_yaml(origin: &str, body: &[u8]) -> Result<Items, Error> {
    use serde_yaml_ng::Value as Y;
    let v: Y = serde_yaml_ng::from_slice(body).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {}, column {}", l.line() + 2, l.column()))
            .unwrap_or_else(|| "the document".into());
        Error::input(origin, at, format!("not valid YAML: {e}"))
    })?;
    let map = match v {
        Y::Null => return Ok(Items::new()),
        Y::Mapping(m) => m,
        other => {
            let found = match other {
                Y::Sequence(_) => "a sequence",
                Y::Tagged(_) => "a tagged value",
                _ => "a single scalar",
            };
            return Err(Error::input(
                origin,
                "the document",
                format!("expected a mapping of key → value, found {found}"),
            ));
        }
    };
    let mut out = Items::new();
    for (k, v) in map {
        let key = match k {
            Y::String(s) => s,
            other => {
                return Err(Error::input(
                    origin,
                    format!("key {other:?}"),
                    "keys must be strings",
                ))
            }
        };
        let value = match v {
            Y::String(s) => Some(s),
            Y::Number(n) => Some(n.to_string()),
            Y::Bool(b) => Some(b.to_string()),
            Y::Null => None,
            _ => return Err(Error::input(
                origin,
                format!("key {key:?}"),
                "values must be scalars (a string, number, boolean or null), not a list or mapping",
            )),
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// Reads, size-checks, verifies and parses one backup object.
pub fn load(dest: &dyn Destination, rel: &str, max_size: usize) -> Result<Items, Error> {
    let origin = format!("{}/{rel}", dest.url());
    let data = dest.read(rel)?;
    if data.len() > max_size {
        return Err(Error::input(
            &origin,
            "the file",
            format!(
                "{} bytes is over the size limit of {max_size} bytes (--max-size)",
                data.len()
            ),
        ));
    }
    let body = backup::verified_body(&origin, &data)?;
    parse_yaml(&origin, body)
}

/// The first valid backup among: `rel` itself, then (when `rel` is a
/// `latest-` file) the archives of the same group and table, newest first;
/// in each destination in turn. Returns the items, where they came from,
/// and why earlier candidates were passed over.
pub fn find_valid(
    dests: &[(Box<dyn Destination>, String)],
    max_size: usize,
) -> Result<(Items, String, Vec<String>), Error> {
    let mut passed = Vec::new();
    for (dest, rel) in dests {
        match load(dest.as_ref(), rel, max_size) {
            Ok(items) => return Ok((items, format!("{}/{rel}", dest.url()), passed)),
            Err(e) => passed.push(e.to_string()),
        }
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel.as_str()));
        let Some(tail) = name.strip_prefix("latest-") else {
            continue;
        };
        let archive_dir = if dir.is_empty() {
            "archive".to_string()
        } else {
            format!("{dir}/archive")
        };
        let listed = dest.list(&archive_dir).unwrap_or_else(|e| {
            passed.push(e.to_string());
            Vec::new()
        });
        let tail = format!("-{tail}");
        let mut archives: Vec<_> = listed
            .iter()
            .filter_map(|p| parse_archive(p))
            .filter(|a| a.path.ends_with(&tail))
            .collect();
        backup::newest_first(&mut archives);
        for a in archives {
            match load(dest.as_ref(), &a.path, max_size) {
                Ok(items) => {
                    return Ok((items, format!("{}/{}", dest.url(), a.path), passed));
                }
                Err(e) => passed.push(e.to_string()),
            }
        }
    }
    Err(Error::Input {
        file: dests
            .first()
            .map(|(d, r)| format!("{}/{r}", d.url()))
            .unwrap_or_default(),
        json_path: "every candidate".into(),
        message: format!("no valid backup found:\n  {}", passed.join("\n  ")),
    })
}

/// What a restore changes.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

pub fn diff(backup: &Items, table: &Items) -> Diff {
    let mut d = Diff::default();
    for (k, v) in backup {
        match table.get(k) {
            None => d.added.push(k.clone()),
            Some(t) if t != v => d.changed.push(k.clone()),
            _ => {}
        }
    }
    d.removed = table
        .keys()
        .filter(|k| !backup.contains_key(*k))
        .cloned()
        .collect();
    d
}

pub fn run(a: &RestoreArgs) -> Result<ExitCode, Error> {
    let conn = connection(&a.conn);
    let kind = if a.kind == "scheduler" {
        Kind::Scheduler
    } else {
        Kind::Configuration
    };
    let (dests, default_table) = if a.latest {
        let (Some(group), Some(account), Some(region)) = (&a.group, &a.account, &a.conn.region)
        else {
            return Err(Error::Usage(
                "--latest needs --group, --account and --region".into(),
            ));
        };
        // They name folders: the same rules as the partitions they come from.
        for (value, what, flag) in [
            (group, "group name", "--group"),
            (account, "account id", "--account"),
            (region, "region", "--region"),
        ] {
            PartitionValue::parse(value, what, flag)?;
        }
        let rel = backup::latest_path(account, region, group, kind);
        let mut dests = vec![(
            sink::open(a.out.as_deref().unwrap_or("./cmdb"), &conn)?,
            rel.clone(),
        )];
        for also in &a.also {
            dests.push((sink::open(also, &conn)?, rel.clone()));
        }
        let cap = if kind == Kind::Scheduler {
            "Scheduler"
        } else {
            "Configuration"
        };
        (dests, Some(format!("CloneSquad-{group}-{cap}")))
    } else {
        let file = a
            .file
            .as_deref()
            .ok_or_else(|| Error::Usage("restore needs FILE or --latest".into()))?;
        let mut dests = Vec::new();
        match open_file(file, &conn) {
            Ok(d) => dests.push(d),
            Err(e) if a.also.is_empty() => return Err(e),
            Err(_) => {}
        }
        if let Some(i) = file.find("backups/") {
            for also in &a.also {
                dests.push((sink::open(also, &conn)?, file[i..].to_string()));
            }
        }
        (dests, None)
    };
    let table =
        a.table.clone().or(default_table).ok_or_else(|| {
            Error::Usage("--table NAME: which DynamoDB table to restore into".into())
        })?;
    let (items, from, passed) = find_valid(&dests, a.max_size)?;
    if !passed.is_empty() {
        eprintln!("fleetcmdb restore: fell back to {from}; passed over:");
        for p in &passed {
            eprintln!("  {p}");
        }
    }
    let db = Dynamo::new(&conn.aws)?;
    let exists = db.describe(&table)?.is_some();
    let current: Items = if exists {
        db.scan_all(&table, 1)?
            .into_iter()
            .filter_map(|it| {
                let k = it.get("Key")?.as_s().ok()?.clone();
                let v = it.get("Value").and_then(|v| v.as_s().ok()).cloned();
                Some((k, v))
            })
            .collect()
    } else {
        Items::new()
    };
    let d = diff(&items, &current);
    crate::outln!("restore {from} -> dynamodb table {table} ({})", db.region);
    if !exists {
        crate::outln!(
            "  table {table} does not exist: it will be created (partition key Key, string)"
        );
    }
    for k in &d.added {
        crate::outln!("  + {k}: {}", backup::scalar(&items[k]));
    }
    for k in &d.changed {
        crate::outln!(
            "  ~ {k}: {} -> {}",
            backup::scalar(&current[k]),
            backup::scalar(&items[k])
        );
    }
    for k in &d.removed {
        let note = if a.force {
            ""
        } else {
            "  (kept: needs --force)"
        };
        crate::outln!("  - {k}{note}");
    }
    crate::outln!(
        "  {} added, {} changed, {} removed, {} unchanged",
        d.added.len(),
        d.changed.len(),
        d.removed.len(),
        items.len() - d.added.len() - d.changed.len()
    );
    if a.dry_run {
        eprintln!("dry run: nothing was changed");
        return Ok(ExitCode::Success);
    }
    if !d.removed.is_empty() && !a.force {
        let shown: Vec<&str> = d.removed.iter().take(10).map(String::as_str).collect();
        return Err(Error::Usage(format!(
            "refusing to restore into {table}: {} keys in the table are not in the backup ({}{}); \
             re-run with --force to delete them. Nothing was changed.",
            d.removed.len(),
            shown.join(", "),
            if d.removed.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        )));
    }
    if !exists {
        db.create_key_table(&table)?;
    }
    let mut requests = Vec::new();
    for k in d.added.iter().chain(&d.changed) {
        let mut put = PutRequest::builder().item("Key", AttributeValue::S(k.clone()));
        if let Some(v) = &items[k] {
            put = put.item("Value", AttributeValue::S(v.clone()));
        }
        requests.push(
            WriteRequest::builder()
                .put_request(put.build().expect("item set"))
                .build(),
        );
    }
    if a.force {
        for k in &d.removed {
            requests.push(
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .key("Key", AttributeValue::S(k.clone()))
                            .build()
                            .expect("key set"),
                    )
                    .build(),
            );
        }
    }
    let n = db.batch_write(&table, requests)?;
    eprintln!("restored {table}: {n} writes");
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_mapping_of_scalars_is_accepted() {
        let ok = parse_yaml("f", b"a: \"1\"\nb: 2\nc: true\nd: null\n").unwrap();
        assert_eq!(ok["a"].as_deref(), Some("1"));
        assert_eq!(ok["b"].as_deref(), Some("2"));
        assert_eq!(ok["d"], None);
        for (bad, why) in [
            (&b"- a\n- b\n"[..], "found a sequence"),
            (b"a: [1, 2]\n", "values must be scalars"),
            (b"a: {b: 1}\n", "values must be scalars"),
            (b"? [1]\n: x\n", "keys must be strings"),
            (b"a: \"unterminated\n", "not valid YAML"),
            (b"just text", "found a single scalar"),
        ] {
            let e = parse_yaml("f.yaml", bad).unwrap_err().to_string();
            assert!(e.contains("f.yaml") && e.contains(why), "{e}");
        }
    }

    #[test]
    fn the_diff_names_added_changed_and_removed_keys() {
        let b: Items = [("a", Some("1")), ("b", Some("2")), ("c", None)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect();
        let t: Items = [("b", Some("3")), ("c", None), ("z", Some("9"))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect();
        assert_eq!(
            diff(&b, &t),
            Diff {
                added: vec!["a".into()],
                changed: vec!["b".into()],
                removed: vec!["z".into()]
            }
        );
    }
}
