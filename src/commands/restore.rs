//! `fleetcmdb restore`: a group backup (YAML) back into its DynamoDB table.
//!
//! Owns finding a backup that can be trusted (the given or `latest-` file,
//! else the newest valid archive, else the same in each `--also`
//! destination), refusing anything that fails its checksum, size limit or
//! shape before the table is touched, the diff against the table, and the
//! write: puts for added and changed keys, deletes only with `--force`.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use crate::backup::{self, parse_archive};
use crate::dynamo::Dynamo;
use crate::error::{Error, ExitCode};
use crate::settings::{BackupSource, RestoreSettings};
use crate::sink::{self, Destination};

pub type Items = BTreeMap<String, Option<String>>;

/// Refuses, before any YAML parsing, what a backup never holds: anchors and
/// aliases (`&a`, `*a`, which can expand a small file into gigabytes), tags
/// (`!t`), block scalars (`|`, `>`), flow collections (`[`, `{`), block
/// sequences (`- `) and indented lines (nested values, whose parsing time
/// grows with depth). What remains is a flat mapping of scalars; the scan
/// is one pass over the bytes.
pub fn check_flat(origin: &str, body: &[u8]) -> Result<(), Error> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::input(origin, "the document", format!("not UTF-8: {e}")))?;
    if text.trim() == "{}" {
        return Ok(()); // the body of a backup of an empty table
    }
    #[derive(PartialEq)]
    enum In {
        Plain,
        Double,
        Single,
        Comment,
    }
    let refuse = |line: usize, col: usize, what: &str| {
        Err(Error::input(
            origin,
            format!("line {line}, column {col}"),
            format!(
                "{what}: a fleetcmdb backup is a flat mapping of quoted scalars \
                 (refused before parsing)"
            ),
        ))
    };
    let mut state = In::Plain;
    // Lines count from the file's start: the body follows two header lines.
    let (mut line, mut col) = (3usize, 0usize);
    // The last character of the line outside quotes and blanks, if any.
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    let mut line_start = true;
    while let Some(c) = chars.next() {
        col += 1;
        if c == '\n' {
            (line, col) = (line + 1, 0);
            if state == In::Comment {
                state = In::Plain;
            }
            prev = None;
            line_start = state == In::Plain;
            continue;
        }
        match state {
            In::Double if c == '\\' => {
                chars.next();
                col += 1;
            }
            In::Double if c == '"' => {
                state = In::Plain;
                prev = Some('"');
            }
            In::Single if c == '\'' => {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    col += 1;
                } else {
                    state = In::Plain;
                    prev = Some('\'');
                }
            }
            In::Double | In::Single | In::Comment => {}
            In::Plain => {
                let blank = matches!(c, ' ' | '\t' | '\r');
                if line_start && blank {
                    // Indentation outside a quoted scalar: a nested value,
                    // unless the line holds nothing but blanks or a comment.
                    let rest: String = chars.clone().take_while(|c| *c != '\n').collect();
                    let t = rest.trim_start();
                    if !t.is_empty() && !t.starts_with('#') {
                        return refuse(line, col, "an indented line (a nested value)");
                    }
                }
                let first = prev.is_none();
                let token_start = matches!(prev, None | Some(':' | '?' | '-' | ','));
                line_start = false;
                if blank {
                    continue;
                }
                match c {
                    '#' => state = In::Comment,
                    '"' if token_start => state = In::Double,
                    '\'' if token_start => state = In::Single,
                    '&' | '*' if token_start => return refuse(line, col, "an anchor or alias"),
                    '!' if token_start => return refuse(line, col, "a tag"),
                    '|' | '>' if token_start => return refuse(line, col, "a block scalar"),
                    '[' | '{' if token_start => return refuse(line, col, "a flow collection"),
                    '-' if first && matches!(chars.peek(), None | Some(' ' | '\t' | '\n')) => {
                        return refuse(line, col, "a sequence entry")
                    }
                    _ => prev = Some(c),
                }
            }
        }
    }
    Ok(())
}

/// Parses a verified body: a mapping of string → scalar, nothing else.
pub fn parse_yaml(origin: &str, body: &[u8]) -> Result<Items, Error> {
    use serde_yaml_ng::Value as Y;
    check_flat(origin, body)?;
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
    // Checked before reading: a huge, sparse or endless file is never read.
    let data = dest.read(rel, max_size as u64)?;
    let body = backup::verified_body(&origin, &data)?;
    parse_yaml(&origin, body)
}

/// The first valid backup among: `rel` itself, then (when `rel` is a
/// `latest-` file) the archives of the same group and table, newest first;
/// in each destination in turn. Returns the items, where they came from,
/// and why earlier candidates were passed over.
///
/// With `label`, only archives of that label are candidates (newest first).
pub fn find_valid(
    dests: &[(Box<dyn Destination>, String)],
    max_size: usize,
    label: Option<&str>,
) -> Result<(Items, String, Vec<String>), Error> {
    let mut passed = Vec::new();
    for (dest, rel) in dests {
        if label.is_none() {
            match load(dest.as_ref(), rel, max_size) {
                Ok(items) => return Ok((items, format!("{}/{rel}", dest.url()), passed)),
                Err(e) => passed.push(e.to_string()),
            }
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
            .filter(|a| label.is_none() || a.label == label)
            .collect();
        crate::retention::newest_first(&mut archives);
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
        message: format!("no valid backup found: {}", passed.join("; then ")),
    })
}

/// Text from a backup or a table, as printed: control characters escaped.
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    crate::output::escape_controls(s)
}

/// DynamoDB's limits: a partition key of 1 to 2048 bytes, an item of at
/// most 400 KB (attribute names and values, in UTF-8 bytes).
const MAX_KEY_BYTES: usize = 2048;
const MAX_ITEM_BYTES: usize = 400 * 1024;

/// Checks every item against DynamoDB's limits before anything is written,
/// so a restore never stops half-way on an item DynamoDB would refuse.
pub fn check_limits(origin: &str, items: &Items) -> Result<(), Error> {
    let mut bad = Vec::new();
    for (k, v) in items {
        let size = "Key".len() + k.len() + v.as_ref().map_or(0, |v| "Value".len() + v.len());
        if k.is_empty() {
            bad.push("an empty key (DynamoDB keys are 1 to 2048 bytes)".to_string());
        } else if k.len() > MAX_KEY_BYTES {
            bad.push(format!(
                "key {:?}… of {} bytes (over DynamoDB's {MAX_KEY_BYTES})",
                k.chars().take(40).collect::<String>(),
                k.len()
            ));
        } else if size > MAX_ITEM_BYTES {
            bad.push(format!(
                "key {k:?}: an item of {size} bytes (over DynamoDB's {MAX_ITEM_BYTES})"
            ));
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let n = bad.len();
    bad.truncate(10);
    Err(Error::input(
        origin,
        "its items",
        format!(
            "{n} item(s) DynamoDB would refuse: {}{}. Nothing was written.",
            bad.join("; "),
            if n > 10 { "; …" } else { "" }
        ),
    ))
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

pub fn run(a: &RestoreSettings) -> Result<ExitCode, Error> {
    let conn = &a.conn;
    let table = a.table.clone();
    let dests = match &a.source {
        BackupSource::Latest { out, rel, .. } => {
            let mut dests = vec![(sink::open(out, conn)?, rel.clone())];
            for also in &a.also {
                dests.push((sink::open(also, conn)?, rel.clone()));
            }
            dests
        }
        BackupSource::File(file) => {
            let mut dests = Vec::new();
            match sink::open_file(file, conn) {
                Ok(d) => dests.push(d),
                Err(e) if a.also.is_empty() => return Err(e),
                Err(_) => {}
            }
            if let Some(i) = file.find("backups/") {
                for also in &a.also {
                    dests.push((sink::open(also, conn)?, file[i..].to_string()));
                }
            }
            dests
        }
    };
    let label = match &a.source {
        BackupSource::Latest { label, .. } => label.as_deref(),
        BackupSource::File(_) => None,
    };
    let (items, from, passed) = find_valid(&dests, a.max_size, label)?;
    check_limits(&from, &items)?;
    if !passed.is_empty() {
        eprintln!(
            "fleetcmdb restore: fell back to {}; passed over:",
            esc(&from)
        );
        for p in &passed {
            eprintln!("  {}", esc(p));
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
    crate::outln!(
        "restore {} -> dynamodb table {table} ({})",
        esc(&from),
        db.region
    );
    if !exists {
        crate::outln!(
            "  table {table} does not exist: it will be created (partition key Key, string)"
        );
    }
    for k in &d.added {
        crate::outln!("  + {}: {}", esc(k), backup::scalar(&items[k]));
    }
    for k in &d.changed {
        crate::outln!(
            "  ~ {}: {} -> {}",
            esc(k),
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
        crate::outln!("  - {}{note}", esc(k));
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
    let mut keys: Vec<&String> = Vec::new();
    for k in d.added.iter().chain(&d.changed) {
        keys.push(k);
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
            keys.push(k);
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
    let total = requests.len();
    let n = db
        .batch_write_in_order(&table, requests)
        .map_err(|(done, e)| {
            let list = |ks: &[&String]| {
                let shown: Vec<String> = ks.iter().take(5).map(|k| format!("{k:?}")).collect();
                let more = ks.len().saturating_sub(shown.len());
                format!(
                    "{}{}",
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                )
            };
            Error::Aws {
                scope: format!("dynamodb table {table}"),
                message: format!(
                    "{e}; {done} of {total} writes were made before it (keys {}), the other {} were not (keys {}). \
                     Running the restore again redoes only what differs.",
                    if done == 0 { "none".to_string() } else { list(&keys[..done]) },
                    total - done,
                    list(&keys[done..])
                ),
            }
        })?;
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
            (&b"- a\n- b\n"[..], "a sequence entry"),
            (b"a: [1, 2]\n", "a flow collection"),
            (b"a: {b: 1}\n", "a flow collection"),
            (b"? [1]\n: x\n", "a flow collection"),
            (b"a:\n  b: 1\n", "an indented line"),
            (b"a: \"unterminated\n", "not valid YAML"),
            (b"just text", "found a single scalar"),
            (b"1: x\n", "keys must be strings"),
            (b"\"seed\": &x \"v\"\n\"b\": *x\n", "an anchor or alias"),
            (b"a: !!binary AAAA\n", "a tag"),
            (b"a: |\n  text\n", "a block scalar"),
        ] {
            let e = parse_yaml("f.yaml", bad).unwrap_err().to_string();
            assert!(e.contains("f.yaml") && e.contains(why), "{bad:?}: {e}");
        }
        // What looks like YAML syntax inside quotes, or mid-scalar, is data.
        let ok = parse_yaml(
            "f",
            b"\"&a\": \"*b [c] {d} |e\"\n'x': 'it''s & more'\nplain: a&b # note\n# c\n\n",
        )
        .unwrap();
        assert_eq!(ok["&a"].as_deref(), Some("*b [c] {d} |e"));
        assert_eq!(ok["x"].as_deref(), Some("it's & more"));
        assert_eq!(ok["plain"].as_deref(), Some("a&b"));
        assert!(parse_yaml("f", b"{}\n").unwrap().is_empty());
    }

    #[test]
    fn deep_nesting_and_alias_bombs_are_refused_in_one_pass() {
        let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse_yaml("f", deep.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("a flow collection"), "{e}");
        let mut bomb = format!("\"seed\": &x \"{}\"\n", "y".repeat(1 << 20));
        for i in 0..1500 {
            bomb += &format!("\"k{i}\": *x\n");
        }
        let e = parse_yaml("f", bomb.as_bytes()).unwrap_err().to_string();
        assert!(
            e.contains("line 3, column 9") && e.contains("anchor"),
            "{e}"
        );
    }

    #[test]
    fn every_string_dynamodb_accepts_round_trips_through_the_backup() {
        let long_key = "k".repeat(2048);
        let items: Items = [
            (long_key.as_str(), Some("long key")),
            ("line\u{2028}sep\u{2029}para", Some("a\u{85}b")),
            (
                "tab\tnl\ncr\r",
                Some("\u{7f}\u{9f}\u{feff}\u{fffe}\u{ffff}"),
            ),
            ("quote\"back\\slash: # &x *y", Some("- [ ] { } ! | > ' \"")),
            ("", Some("")),
            ("null", None),
            ("emoji 🦀 and é", Some("\u{10ffff}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
        let file = backup::render("t", "ts", &items);
        let body = backup::verified_body("f", &file).unwrap();
        assert_eq!(parse_yaml("f", body).unwrap(), items);
    }

    #[test]
    fn items_dynamodb_would_refuse_are_found_before_any_write() {
        let mut items = Items::new();
        items.insert("ok".into(), Some("v".repeat(MAX_ITEM_BYTES - 20)));
        items.insert("k".repeat(MAX_KEY_BYTES), None);
        check_limits("b.yaml", &items).unwrap();
        items.insert("big".into(), Some("v".repeat(MAX_ITEM_BYTES)));
        items.insert("k".repeat(MAX_KEY_BYTES + 1), None);
        items.insert(String::new(), Some("x".into()));
        let e = check_limits("b.yaml", &items).unwrap_err().to_string();
        assert!(e.contains("b.yaml") && e.contains("3 item(s)"), "{e}");
        assert!(
            e.contains("\"big\"") && e.contains("2049 bytes") && e.contains("an empty key"),
            "{e}"
        );
        assert!(e.contains("Nothing was written"), "{e}");
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

    mod property {
        use super::*;
        use proptest::prelude::*;

        /// A string DynamoDB accepts: any Unicode scalar values, as UTF-8.
        fn text(max_chars: usize) -> impl Strategy<Value = String> {
            prop::collection::vec(any::<char>(), 0..max_chars).prop_map(String::from_iter)
        }

        fn items() -> impl Strategy<Value = Items> {
            let key = prop_oneof![
                4 => text(40),
                1 => text(1200),
            ]
            .prop_filter("a key is 1 to 2048 bytes", |k| {
                !k.is_empty() && k.len() <= MAX_KEY_BYTES
            });
            let value = prop_oneof![1 => Just(None), 6 => text(300).prop_map(Some)];
            prop::collection::btree_map(key, value, 0..12)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            /// Whatever DynamoDB holds reads back from the backup unchanged.
            #[test]
            fn every_item_round_trips_through_the_yaml_backup(items in items()) {
                check_limits("p", &items).unwrap();
                let file = backup::render("t", "ts", &items);
                let body = backup::verified_body("p", &file).unwrap();
                prop_assert_eq!(parse_yaml("p", body).unwrap(), items);
            }
        }
    }
}
