//! Where backups live and how one is written.
//!
//! Owns the layout under `backups/` (CloneSquad's file names, so runbooks
//! keep working), the archive-then-`latest-` write order that keeps
//! `latest-` from naming anything the archive lacks, and the parsing of an
//! archive's name back into its time, label and series.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::Kind;
use crate::error::Error;
use crate::partition::Scope;
use crate::retention::{Archive, LABELS};
use crate::sink::Destination;

/// The tag of every archive written to S3, for a lifecycle rule to select
/// (archive keys share no prefix); `deploy/cloudformation.yaml` uses it.
pub const ARCHIVE_TAGGING: &str = "fleetcmdb-archive=true";

/// The folder of a group's backups, relative to the destination root.
pub fn group_dir(accountid: &str, region: &str, group: &str) -> String {
    format!(
        "{}/{}",
        crate::partition::BACKUPS,
        crate::partition::hive_dir(accountid, region, group)
    )
}

/// `{AccountId}-{Region}-{kind}-cs-{GroupName}.yaml`, the shared tail of every name.
fn tail(accountid: &str, region: &str, group: &str, kind: Kind) -> String {
    format!("{accountid}-{region}-{}-cs-{group}.yaml", kind.name())
}

pub fn latest_path(accountid: &str, region: &str, group: &str, kind: Kind) -> String {
    format!(
        "{}/latest-{}",
        group_dir(accountid, region, group),
        tail(accountid, region, group, kind)
    )
}

/// `archive/{ts}[-{label}]-{tail}`; see [`LABELS`] for what labels mean to pruning.
pub fn archive_path(
    accountid: &str,
    region: &str,
    group: &str,
    kind: Kind,
    ts: &str,
    label: Option<&str>,
) -> String {
    let label = label.map(|l| format!("-{l}")).unwrap_or_default();
    format!(
        "{}/archive/{ts}{label}-{}",
        group_dir(accountid, region, group),
        tail(accountid, region, group, kind)
    )
}

/// Writes one backup: the archive copy first, then `latest-`. An archive
/// is never overwritten: it is created only if its name is free (a hard
/// link on disk, `If-None-Match: *` on S3), so two backups of one group in
/// the same second both stay; the second gets the next free `.{n}` suffix
/// on its timestamp, unless it is the very same bytes.
pub fn write(
    dest: &dyn Destination,
    scope: &Scope,
    group: &str,
    kind: Kind,
    ts: &str,
    label: Option<&str>,
    data: &[u8],
) -> Result<(), Error> {
    let (a, r) = (scope.accountid.as_str(), scope.region.as_str());
    let mut n = 0;
    loop {
        let stamp = if n == 0 {
            ts.to_string()
        } else {
            format!("{ts}.{n}")
        };
        let path = archive_path(a, r, group, kind, &stamp, label);
        if dest.put_new_tagged(&path, data, ARCHIVE_TAGGING)? {
            break;
        }
        match dest.read(&path, data.len() as u64) {
            Ok(old) if old == data => break, // the same backup is already archived
            Ok(_) | Err(Error::Input { .. }) => n += 1,
            Err(Error::NotFound(_)) => {} // pruned meanwhile: try the name again
            Err(e) => return Err(e),
        }
        if n > 10_000 {
            return Err(Error::Internal(format!(
                "no free archive name for {path} after 10000 tries"
            )));
        }
    }
    dest.put(&latest_path(a, r, group, kind), data).map(|_| ())
}

/// The time of the newest archive of a group's configuration on `dest`
/// (taken before `before`, when given).
pub fn newest_archive(
    dest: &dyn Destination,
    scope: &Scope,
    group: &str,
    before: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let dir = format!(
        "{}/archive",
        group_dir(scope.accountid.as_str(), scope.region.as_str(), group)
    );
    let tail = format!(
        "-{}",
        tail(
            scope.accountid.as_str(),
            scope.region.as_str(),
            group,
            Kind::Configuration
        )
    );
    Ok(dest
        .list(&dir)?
        .iter()
        .filter(|p| p.ends_with(&tail))
        .filter_map(|p| parse_archive(p))
        .map(|a| a.time.and_utc())
        .filter(|t| before.is_none_or(|b| *t < b))
        .max())
}

pub fn parse_archive(path: &str) -> Option<Archive> {
    let (dir, name) = path.rsplit_once('/')?;
    if !dir.ends_with("/archive") || !name.ends_with(".yaml") {
        return None;
    }
    let ts_end = name.find('Z')? + 1;
    let stamp = &name[..ts_end];
    let time = NaiveDateTime::parse_from_str(stamp, crate::time::FILE_STAMP).ok()?;
    let mut rest = &name[ts_end..];
    if let Some(r) = rest.strip_prefix('.') {
        // a collision suffix: `.{n}`
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        rest = &r[digits..];
    }
    let rest = rest.strip_prefix('-')?;
    let (label, tail) = LABELS
        .iter()
        .find_map(|l| Some((Some(*l), rest.strip_prefix(l)?.strip_prefix('-')?)))
        .unwrap_or((None, rest));
    Some(Archive {
        path: path.to_string(),
        time,
        label,
        series: format!("{dir}/{tail}"),
    })
}
