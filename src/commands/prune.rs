//! `fleetcmdb prune`: grandfather-father-son retention of backup archives.
//!
//! Lists `backups/`, groups archives by group and table, and deletes what
//! [`crate::retention::to_prune`] selects: never a `latest-` file, never the
//! newest archive of a series, never a `manual` one. With `--history`,
//! the same rules over history snapshots ([`crate::history::to_prune_paths`]).

use std::collections::BTreeMap;

use serde_json::json;

use crate::backup::parse_archive;
use crate::error::{Error, ExitCode};
use crate::retention::{to_prune, Archive};
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
    for path in dest.list(crate::partition::BACKUPS)? {
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
    let n = gone.len();
    let fields = json!({"archives": total, "kept": total - n});
    finish(a, dest.as_ref(), "deleted", gone, fields, |went, url| {
        format!(
            "fleetcmdb prune: {n} of {total} archives {went} under {url}; {} kept, plus {kept_other} latest- and other files",
            total - n
        )
    })
}

/// Deletes `paths` (not on a dry run), then reports them: as a JSON
/// document (`destination`, `dry_run`, the paths under `key`, and
/// `fields`), or one line per path and `summary(verb, destination)`.
fn finish(
    a: &PruneSettings,
    dest: &dyn sink::Destination,
    key: &str,
    paths: Vec<String>,
    fields: serde_json::Value,
    summary: impl FnOnce(&str, &str) -> String,
) -> Result<ExitCode, Error> {
    if !a.dry_run {
        for p in &paths {
            dest.delete(p)?;
        }
    }
    if a.json {
        let mut doc = fields;
        doc["destination"] = dest.url().into();
        doc["dry_run"] = a.dry_run.into();
        doc[key] = paths.into();
        crate::outln!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        let (verb, went) = match a.dry_run {
            true => ("would delete", "would go"),
            false => ("deleted", "deleted"),
        };
        for p in &paths {
            crate::outln!("{verb} {p}");
        }
        eprintln!("{}", summary(went, &dest.url()));
    }
    Ok(ExitCode::Success)
}

/// `prune --history`: whole snapshots, the `snapshots` file of each last.
fn history(a: &PruneSettings, dest: &dyn sink::Destination) -> Result<ExitCode, Error> {
    let before = crate::history::complete(dest)?;
    let gone = crate::history::to_prune_paths(dest, a.keep)?;
    let ids: std::collections::BTreeSet<String> = gone
        .iter()
        .filter_map(|p| crate::history::snapshot_of(p).map(|i| i.to_string()))
        .collect();
    let (n, complete) = (ids.len(), before.len());
    let fields = json!({"snapshots": complete, "deleted_snapshots": ids});
    finish(a, dest, "deleted_files", gone, fields, |went, url| {
        format!(
            "fleetcmdb prune --history: {n} snapshots (of {complete} complete) {went} under {url}"
        )
    })
}

/// The default `--max-departed`: 5% of the accounts found, at least 1.
fn default_max_departed(found: usize) -> usize {
    (found / 20).max(1)
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
        Departed::Plan(dir) => crate::plans::listed_members(dir, &a.conn)?
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
    let partitions = crate::tables::live_partitions(dest)?;
    let found: std::collections::BTreeSet<&str> =
        partitions.iter().map(|p| p.accountid().as_str()).collect();
    let gone: std::collections::BTreeSet<String> = found
        .iter()
        .filter(|acct| !members.contains(**acct))
        .map(|a| a.to_string())
        .collect();
    let limit = a
        .max_departed
        .unwrap_or_else(|| default_max_departed(found.len()));
    if gone.len() > limit && !a.dry_run {
        return Err(Error::Refused(format!(
            "prune --departed: {} of the {} accounts found would go, more than the limit of {limit} (--max-departed; by default 5% of those found, at least 1); nothing was deleted. They are: {}",
            gone.len(),
            found.len(),
            gone.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut files = Vec::new();
    for t in crate::tables::ALL {
        for acct in &gone {
            let dir = format!("{}/accountid={acct}", crate::partition::table_dir(t));
            files.extend(dest.list(&dir)?);
        }
    }
    let (n, m, f) = (gone.len(), members.len(), files.len());
    if n > limit {
        eprintln!(
            "fleetcmdb prune --departed: {n} accounts is over the limit of {limit}: without --dry-run this would be refused"
        );
    }
    let fields = json!({"members": m, "departed": gone, "limit": limit});
    finish(a, dest, "deleted", files, fields, |went, url| {
        format!("fleetcmdb prune --departed: {n} accounts left the organization ({m} members); {f} files {went} under {url}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_is_five_percent_and_at_least_one() {
        assert_eq!(default_max_departed(0), 1);
        assert_eq!(default_max_departed(19), 1);
        assert_eq!(default_max_departed(40), 2);
        assert_eq!(default_max_departed(10_000), 500);
    }
}
