//! `fleetcmdb prune`: grandfather-father-son retention of backup archives.
//!
//! Lists `backups/`, groups archives by group and table, and deletes what
//! [`crate::backup::to_prune`] selects: never a `latest-` file, never the
//! newest archive of a series, never a `manual` one. With `--history`,
//! the same rules over history snapshots ([`crate::history::to_prune_paths`]).

use std::collections::BTreeMap;

use serde_json::json;

use crate::backup::{parse_archive, to_prune, Archive};
use crate::error::{Error, ExitCode};
use crate::settings::PruneSettings;
use crate::sink;

pub fn run(a: &PruneSettings) -> Result<ExitCode, Error> {
    let keep = a.keep;
    let dest = sink::open(&a.out, &a.conn)?;
    if a.history {
        return history(a, dest.as_ref());
    }
    if let Some(d) = &a.departed {
        return departed(a, d, dest.as_ref());
    }
    let mut series: BTreeMap<String, Vec<Archive>> = BTreeMap::new();
    let mut kept_other = 0usize;
    for path in dest.list("backups")? {
        match parse_archive(&path) {
            Some(arch) => series.entry(arch.series.clone()).or_default().push(arch),
            None => kept_other += 1,
        }
    }
    let total: usize = series.values().map(Vec::len).sum();
    let mut gone = Vec::new();
    for (_, archives) in series {
        gone.extend(to_prune(archives, keep));
    }
    gone.sort();
    if !a.dry_run {
        for p in &gone {
            dest.delete(p)?;
        }
    }
    if a.json {
        let doc = json!({
            "destination": dest.url(),
            "dry_run": a.dry_run,
            "archives": total,
            "deleted": gone,
            "kept": total - gone.len(),
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        for p in &gone {
            crate::outln!(
                "{}{p}",
                if a.dry_run {
                    "would delete "
                } else {
                    "deleted "
                }
            );
        }
        eprintln!(
            "fleetcmdb prune: {} of {total} archives {} under {}; {} kept, plus {kept_other} latest- and other files",
            gone.len(),
            if a.dry_run { "would go" } else { "deleted" },
            dest.url(),
            total - gone.len()
        );
    }
    Ok(ExitCode::Success)
}

/// `prune --history`: whole snapshots, the `snapshots` file of each last.
fn history(a: &PruneSettings, dest: &dyn sink::Destination) -> Result<ExitCode, Error> {
    let before = crate::history::complete(dest)?;
    let gone = crate::history::to_prune_paths(dest, a.keep)?;
    if !a.dry_run {
        for p in &gone {
            dest.delete(p)?;
        }
    }
    let ids: std::collections::BTreeSet<String> = gone
        .iter()
        .filter_map(|p| crate::history::snapshot_of(p).map(|i| i.to_string()))
        .collect();
    if a.json {
        let doc = json!({
            "destination": dest.url(),
            "dry_run": a.dry_run,
            "snapshots": before.len(),
            "deleted_snapshots": ids,
            "deleted_files": gone,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        for p in &gone {
            crate::outln!(
                "{}{p}",
                if a.dry_run {
                    "would delete "
                } else {
                    "deleted "
                }
            );
        }
        eprintln!(
            "fleetcmdb prune --history: {} snapshots (of {} complete) {} under {}",
            ids.len(),
            before.len(),
            if a.dry_run { "would go" } else { "deleted" },
            dest.url()
        );
    }
    Ok(ExitCode::Success)
}

/// `prune --departed`: the live partitions of accounts that are no longer
/// members of the organization. The listing must be complete: a failed
/// `ListAccounts` is an error, and an empty one is refused.
fn departed(
    a: &PruneSettings,
    how: &crate::settings::Departed,
    dest: &dyn sink::Destination,
) -> Result<ExitCode, Error> {
    use crate::settings::Departed;
    let members: std::collections::BTreeSet<String> = match how {
        Departed::Plan(dir) => crate::commands::plan::listed_members(dir, &a.conn)?
            .into_iter()
            .collect(),
        Departed::Listing(s) => {
            crate::sources::aws::AwsSource::new(s.as_ref().clone())?.org_members()?
        }
    };
    if members.is_empty() {
        return Err(Error::Aws {
            scope: "organization".into(),
            message: "the listing of the organization's accounts is empty: refusing to treat every account as departed".into(),
        });
    }
    let partitions = crate::commands::ddl::partitions_in(dest)?;
    let gone: std::collections::BTreeSet<String> = partitions
        .iter()
        .map(|p| p.accountid().to_string())
        .filter(|acct| !members.contains(acct))
        .collect();
    let mut files = Vec::new();
    for t in crate::tables::ALL {
        for acct in &gone {
            let dir = format!("{}/accountid={acct}", crate::partition::table_dir(t));
            files.extend(dest.list(&dir)?);
        }
    }
    if !a.dry_run {
        for f in &files {
            dest.delete(f)?;
        }
    }
    if a.json {
        let doc = json!({
            "destination": dest.url(),
            "dry_run": a.dry_run,
            "members": members.len(),
            "departed": gone,
            "deleted": files,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        for f in &files {
            crate::outln!(
                "{}{f}",
                if a.dry_run {
                    "would delete "
                } else {
                    "deleted "
                }
            );
        }
        eprintln!(
            "fleetcmdb prune --departed: {} accounts left the organization ({} members); {} files {} under {}",
            gone.len(),
            members.len(),
            files.len(),
            if a.dry_run { "would go" } else { "deleted" },
            dest.url()
        );
    }
    Ok(ExitCode::Success)
}
