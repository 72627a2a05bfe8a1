//! When a group is backed up: its own `backup.cron`, resolved as the
//! original system resolves it, in its own time zone.
//!
//! Below the tables (discovery shows each group's next backup), so it knows
//! schedules and nothing of how backups are written.

use chrono::{DateTime, Utc};

use crate::schedule::{parse_run, region_time_zone, RunSchedule};

/// The configuration key that sets a group's backup schedule.
pub const BACKUP_CRON: &str = "backup.cron";
/// The same key as the original system's documentation spells it.
const CRON_BACKUP: &str = "cron.backup";

/// The `backup.cron` in force for a group, from its configuration items, as
/// the original system resolves it, highest first: `override:backup.cron`;
/// `[pset]backup.cron` when `config.active_parameter_set` is `pset`; the
/// plain key; `default`. Keys starting with `#`, and items whose
/// `ExpirationTime` has passed, are ignored. At each level `backup.cron`
/// comes first, then `cron.backup` (the original documentation's spelling).
pub fn backup_cron(
    items: &std::collections::BTreeMap<String, Option<String>>,
    expires: &std::collections::BTreeMap<String, i64>,
    now_ms: i64,
    default: &str,
) -> String {
    let live = |k: &str| -> Option<&str> {
        if k.starts_with('#') || expires.get(k).is_some_and(|&e| e <= now_ms) {
            return None;
        }
        Some(items.get(k)?.as_deref()?.trim()).filter(|v| !v.is_empty())
    };
    let either = |prefix: &str| {
        live(&format!("{prefix}{BACKUP_CRON}")).or_else(|| live(&format!("{prefix}{CRON_BACKUP}")))
    };
    let pset = live("config.active_parameter_set").map(|p| format!("[{p}]"));
    either("override:")
        .or_else(|| pset.as_deref().and_then(either))
        .or_else(|| either(""))
        .unwrap_or(default)
        .to_string()
}

/// The time zone of a group's `localcron()`: its `TimeZone` deployment
/// parameter, else its region's, else UTC.
pub fn group_time_zone(timezone: Option<&str>, region: &str) -> String {
    timezone
        .filter(|z| z.parse::<chrono_tz::Tz>().is_ok())
        .or_else(|| region_time_zone(region))
        .unwrap_or("UTC")
        .to_string()
}

/// Whether a backup is due: an occurrence of `expr` (in `tz`) fell after
/// `newest` (the newest archive, `None` if there is none) and at or before
/// `now`. So a daemon that was down catches up once, not once per missed
/// occurrence. The error says what is wrong with the expression.
pub fn backup_due(
    expr: &str,
    tz: &str,
    newest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, String> {
    let sched = parse_run(expr, Some(tz)).map_err(|e| e.to_string())?;
    Ok(match (sched, newest) {
        (RunSchedule::Disabled, _) => false,
        (_, None) => true,
        (RunSchedule::Cron(c), Some(n)) => c.next_start(n, None).is_some_and(|t| t <= now),
        (RunSchedule::Rate(p), Some(n)) => n.checked_add_signed(p).is_some_and(|t| t <= now),
    })
}

/// When a group's next backup falls: the first occurrence of `expr` (in
/// `tz`) after `now` (a `rate()` counts from `newest`); `None` when disabled.
pub fn next_backup(
    expr: &str,
    tz: &str,
    newest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let next = match parse_run(expr, Some(tz)).ok()? {
        RunSchedule::Disabled => None,
        RunSchedule::Cron(c) => c.next_start(now, None),
        RunSchedule::Rate(p) => newest
            .map_or(Some(now), |n| n.checked_add_signed(p))
            .map(|t| t.max(now)),
    };
    // Past year 9999 a timestamp column cannot hold it: unknown.
    next.filter(|t| t.timestamp_millis() <= crate::time::MAX_TIMESTAMP_MS)
}
