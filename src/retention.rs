//! Retention: which of a series of timestamped copies to keep.
//!
//! Owns the grandfather-father-son rule ([`Keep`], [`to_prune`]) that both
//! group backups (`backups/…/archive/`) and history snapshots (`history/`)
//! are pruned by: the newest copy of each hour, day, ISO week, month and
//! two-month period, up to a count each; labelled copies apart.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDateTime, Timelike};

use crate::error::Error;

/// Retention: how many of the newest hourly, daily, weekly, monthly and
/// bimonthly archives to keep (each the newest archive of its period), and
/// how many of the newest `shutdown` archives. `manual` archives are never
/// pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Keep {
    pub hourly: usize,
    pub daily: usize,
    pub weekly: usize,
    pub monthly: usize,
    /// Two-month periods: January-February, March-April, …
    pub bimonthly: usize,
    pub shutdown: usize,
}

/// Archive labels: `manual` is never pruned; `shutdown` (the daemon's
/// backup at exit) is kept by `shutdown=N`.
pub const LABELS: [&str; 2] = ["manual", "shutdown"];

impl Keep {
    /// `hourly=24,daily=7,weekly=4,monthly=12` (any subset; missing ones are 0).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut k = Keep::default();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (name, n) = part.split_once('=').ok_or_else(|| {
                Error::Usage(format!("--keep {s:?}: expected NAME=N, got {part:?}"))
            })?;
            let n: usize = n
                .parse()
                .map_err(|_| Error::Usage(format!("--keep {s:?}: {n:?} is not a whole number")))?;
            match name {
                "hourly" => k.hourly = n,
                "daily" => k.daily = n,
                "weekly" => k.weekly = n,
                "monthly" => k.monthly = n,
                "bimonthly" => k.bimonthly = n,
                "shutdown" => k.shutdown = n,
                "manual" => {
                    return Err(Error::Usage(format!(
                        "--keep {s:?}: manual archives are never pruned"
                    )))
                }
                _ => {
                    return Err(Error::Usage(format!(
                        "--keep {s:?}: unknown period {name:?} (hourly, daily, weekly, monthly, bimonthly, shutdown)"
                    )))
                }
            }
        }
        Ok(k)
    }
}

/// An archive file name, parsed: its time, label and the series it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub path: String,
    pub time: NaiveDateTime,
    /// One of [`LABELS`], if the archive has one.
    pub label: Option<&'static str>,
    /// Folder and tail: archives of one group and table.
    pub series: String,
}

/// The period an archive falls in (hour, day, ISO week or month).
type Bucket = fn(&NaiveDateTime) -> (i32, u32, u32, u32);

/// Sorts archives newest first (ties: by path, so the order is stable).
pub fn newest_first(archives: &mut [Archive]) {
    archives.sort_by(|a, b| b.time.cmp(&a.time).then(b.path.cmp(&a.path)));
}

/// Which archives of one series to delete under `keep`. Never a `manual`
/// archive, never the newest one. The periods count unlabelled archives;
/// `shutdown` archives count only towards `keep.shutdown`.
pub fn to_prune(mut archives: Vec<Archive>, keep: Keep) -> Vec<String> {
    newest_first(&mut archives);
    let mut kept: BTreeSet<String> = BTreeSet::new();
    if let Some(newest) = archives.first() {
        kept.insert(newest.path.clone());
    }
    let periodic: Vec<&Archive> = archives.iter().filter(|a| a.label.is_none()).collect();
    let periods: [(usize, Bucket); 5] = [
        (keep.hourly, |t| (t.year(), t.ordinal(), t.hour(), 0)),
        (keep.daily, |t| (t.year(), t.ordinal(), 0, 0)),
        (keep.weekly, |t| {
            let w = t.iso_week();
            (w.year(), w.week(), 0, 0)
        }),
        (keep.monthly, |t| (t.year(), t.month(), 0, 0)),
        (keep.bimonthly, |t| (t.year(), t.month0() / 2, 0, 0)),
    ];
    for (n, bucket) in periods {
        let mut seen = BTreeSet::new();
        for a in &periodic {
            if seen.len() >= n {
                break;
            }
            if seen.insert(bucket(&a.time)) {
                kept.insert(a.path.clone()); // the newest of its period
            }
        }
    }
    let shutdowns = archives.iter().filter(|a| a.label == Some("shutdown"));
    kept.extend(shutdowns.take(keep.shutdown).map(|a| a.path.clone()));
    archives
        .into_iter()
        .filter(|a| a.label != Some("manual") && !kept.contains(&a.path))
        .map(|a| a.path)
        .collect()
}
