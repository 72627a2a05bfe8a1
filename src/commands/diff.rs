//! `fleetcmdb diff`, `fleetcmdb snapshot` and `fleetcmdb consolidate`:
//! history without Athena, and the query-ready copy on demand.
//!
//! `diff` picks two complete snapshots from the times given and prints
//! their changes ([`crate::history::diff`]): a table for people, one JSON
//! object per change for scripts. `snapshot` takes one from what
//! `metadata/` holds (the finalize step after sharded exports).

use serde_json::{json, Value};

use crate::error::{Error, ExitCode};
use crate::history::diff::{self, Change};
use crate::history::{self, SnapshotId};
use crate::settings::{DiffSettings, SnapshotSettings};
use crate::sink;

/// The two snapshots to compare.
fn pick(s: &DiffSettings, all: &[SnapshotId]) -> Result<(SnapshotId, SnapshotId), Error> {
    if all.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no complete snapshot under history/; exports take them with --history",
            s.out
        )));
    }
    let range = format!(
        "the snapshots are {} to {}",
        all[0],
        all.last().expect("not empty")
    );
    let to = s.to.resolve(all).ok_or_else(|| {
        Error::Usage(format!("--to: no snapshot at or before that time; {range}"))
    })?;
    let from = match &s.from {
        Some(w) => w.resolve(all).ok_or_else(|| {
            Error::Usage(format!(
                "--from: no snapshot at or before that time; {range}"
            ))
        })?,
        None => {
            let i = all
                .iter()
                .position(|x| x == to)
                .expect("resolved from the list");
            all.get(i.wrapping_sub(1)).ok_or_else(|| {
                Error::Usage(format!(
                    "{to} is the first snapshot: nothing before it to compare with"
                ))
            })?
        }
    };
    if from > to {
        return Err(Error::Usage(format!(
            "--from is {from}, after --to ({to}): give the older time to --from"
        )));
    }
    Ok((from.clone(), to.clone()))
}

fn text(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    };
    // A terminal shows the start of a long value; --json has it whole.
    const MAX: usize = 200;
    let s = match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    };
    crate::output::escape_controls(&s).into_owned()
}

fn print_change(
    c: &Change,
    json_out: bool,
    from: &SnapshotId,
    to: &SnapshotId,
) -> Result<(), Error> {
    if json_out {
        let key: serde_json::Map<String, Value> = c
            .key
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let cols: Vec<Value> = c
            .columns
            .iter()
            .map(|cc| json!({"column": cc.column, "old": cc.old, "new": cc.new}))
            .collect();
        let doc = json!({"from": from.as_str(), "to": to.as_str(), "table": c.table,
            "change": c.kind.as_str(), "key": key, "columns": cols});
        return crate::output::line(format_args!("{doc}"));
    }
    let key = crate::output::escape_controls(&c.key_text()).into_owned();
    crate::output::line(format_args!("{:<20} {:<8} {key}", c.table, c.kind.as_str()))?;
    for cc in &c.columns {
        crate::output::line(format_args!(
            "{:<20} {:<8}   {}: {} -> {}",
            "",
            "",
            cc.column,
            text(&cc.old),
            text(&cc.new)
        ))?;
    }
    Ok(())
}

pub fn run(s: &DiffSettings) -> Result<ExitCode, Error> {
    let dest = sink::open(&s.out, &s.conn)?;
    let all = history::complete(dest.as_ref())?;
    let (from, to) = pick(s, &all)?;
    eprintln!(
        "fleetcmdb diff: {} from snapshot {from} to {to}",
        dest.url()
    );
    let mut totals = Vec::new();
    for t in &s.tables {
        let mut emit = |c: Change| print_change(&c, s.json, &from, &to);
        match diff::table(dest.as_ref(), t, &from, &to, &mut emit)? {
            Some(n) => totals.push(format!(
                "{}: {} added, {} removed, {} changed",
                t.name, n.added, n.removed, n.changed
            )),
            None => totals.push(format!("{}: not in both snapshots", t.name)),
        }
    }
    for line in totals {
        eprintln!("  {line}");
    }
    Ok(ExitCode::Success)
}

/// `{table: {"rows", "partitions"}}` of a snapshot's or a copy's tables.
fn tables_json(tables: &[(&str, u64, u64)]) -> serde_json::Map<String, Value> {
    tables
        .iter()
        .map(|(t, rows, parts)| (t.to_string(), json!({"rows": rows, "partitions": parts})))
        .collect()
}

/// `fleetcmdb consolidate`: the query-ready copy of what `metadata/` holds.
pub fn consolidate(s: &crate::settings::ConsolidateSettings) -> Result<ExitCode, Error> {
    let dest = sink::open(&s.out, &s.conn)?;
    dest.healthcheck()?;
    let r = crate::consolidated::write(
        dest.as_ref(),
        &Default::default(),
        s.at_ms,
        crate::partition::process_tag(),
        None,
    )?;
    if s.json {
        let tables = tables_json(&r.tables);
        crate::outln!(
            "{}",
            json!({"version": r.version, "bytes": r.bytes, "tables": tables, "removed": r.removed})
        );
    }
    eprintln!(
        "fleetcmdb consolidate: version {} is current under {}/query ({} bytes; {} superseded removed)",
        r.version,
        dest.url(),
        r.bytes,
        r.removed.len()
    );
    Ok(ExitCode::Success)
}

pub fn snapshot(s: &SnapshotSettings) -> Result<ExitCode, Error> {
    let dest = sink::open(&s.out, &s.conn)?;
    let _lease = history::Lease::take(dest.as_ref(), &SnapshotId::of(s.at_ms, s.period))?;
    let r = history::take(dest.as_ref(), &Default::default(), s.at_ms, s.period, None)?;
    if s.json {
        let tables = tables_json(&r.tables);
        crate::outln!(
            "{}",
            json!({"snapshot": r.id.as_str(), "written": r.written, "bytes": r.bytes, "tables": tables})
        );
    }
    match r.written {
        true => eprintln!(
            "fleetcmdb snapshot: {} written under {} ({} bytes)",
            r.id,
            dest.url(),
            r.bytes
        ),
        false => eprintln!(
            "fleetcmdb snapshot: {} was already complete under {}; kept as it was",
            r.id,
            dest.url()
        ),
    }
    Ok(ExitCode::Success)
}
