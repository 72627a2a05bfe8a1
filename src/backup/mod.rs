//! Group backups: the configuration and scheduler tables of every group as
//! YAML, kept as a `latest-…` file and a timestamped copy under `archive/`,
//! and their retention.
//!
//! Owns what a run backs up and when: the plan, each group's items, and
//! the writing of the due groups' backups to every destination.
//!
//! A backup is one object, so its checksum travels with it atomically:
//!
//! ```text
//! # fleetcmdb backup: configuration of 111111111111/eu-west-1/web at 2026-11-22T03-00-00Z
//! # sha256: <hex digest of every byte after this line>
//! "ec2.schedule.min_instance_count": "2"
//! "loglevel": "INFO"
//! ```
//!
//! The body is a YAML mapping of key → value, keys sorted, every scalar
//! double-quoted (JSON escaping is valid YAML), ready for import.
//!
//! The parts: [`format`] (the file and its checksum), [`store`] (the
//! layout and the write order), [`policy`] (when a group is due, by its own
//! `backup.cron`); retention is [`crate::retention`], shared with history.

pub mod format;
pub mod policy;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::partition::Scope;
use crate::sink::Destination;

pub use format::{render, scalar, verified_body};
pub use policy::{backup_due, group_time_zone, BACKUP_CRON};
pub use store::{latest_path, newest_archive, parse_archive, write};

/// Which table of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Kind {
    #[default]
    Configuration,
    Scheduler,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Configuration => "configuration",
            Kind::Scheduler => "scheduler",
        }
    }

    /// The backup of the table named `name` (one filled by group items).
    pub fn of_table(name: &str) -> Option<Kind> {
        [Kind::Configuration, Kind::Scheduler]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// Whether and how a run writes group backups.
#[derive(Debug, Clone, Default)]
pub struct BackupPlan {
    /// Only backups: no table files are written.
    pub only: bool,
    /// Archive label (see [`LABELS`]).
    pub label: Option<String>,
    /// Back up only the groups whose own schedule is due; `None`: every group.
    pub schedules: Option<GroupSchedules>,
}

/// When groups are backed up: each by its own `backup.cron`, else by `default`.
#[derive(Debug, Clone)]
pub struct GroupSchedules {
    /// The schedule of a group that sets none (the daemon's own).
    pub default: String,
}

/// The configuration or scheduler items of one group, as collected.
#[derive(Debug, Clone, Default)]
pub struct GroupItems {
    pub group: String,
    pub kind: Kind,
    pub items: BTreeMap<String, Option<String>>,
    /// When items expire (their `ExpirationTime`), in Unix milliseconds.
    pub expires: BTreeMap<String, i64>,
    /// The group's `TimeZone` deployment parameter, if any.
    pub timezone: Option<String>,
}

/// The `backup.cron` in force for a group (see [`policy::backup_cron`]).
pub fn effective_backup_cron(config: &GroupItems, now_ms: i64, default: &str) -> String {
    policy::backup_cron(&config.items, &config.expires, now_ms, default)
}

/// Writes the backups of `groups` (those whose partitions committed) to
/// every destination; returns how many were written and the failures, one
/// per group and destination that could not be written.
pub fn write_groups(
    plan: &BackupPlan,
    dests: &[&dyn Destination],
    scope: &Scope,
    run_time_ms: i64,
    groups: Vec<GroupItems>,
) -> (u64, Vec<crate::partition::Failure>) {
    let ts = crate::time::file_stamp(run_time_ms);
    let (mut written, mut failures) = (0, Vec::new());
    let groups = match &plan.schedules {
        Some(sch) => {
            let due = due_groups(sch, dests, scope, run_time_ms, &groups, &mut failures);
            groups
                .into_iter()
                .filter(|g| due.contains(&g.group))
                .collect()
        }
        None => groups,
    };
    'group: for g in groups {
        let what = format!("{} of {scope}/{}", g.kind.name(), g.group);
        let data = render(&what, &ts, &g.items);
        for dest in dests {
            if let Err(e) = write(
                *dest,
                scope,
                &g.group,
                g.kind,
                &ts,
                plan.label.as_deref(),
                &data,
            ) {
                failures.push(crate::partition::Failure {
                    scope: scope.to_string(),
                    group: Some(g.group.clone()),
                    error: Error::Aws {
                        scope: scope.to_string(),
                        message: format!("writing the backup of {what} to {}: {e}", dest.url()),
                    },
                });
                continue 'group;
            }
        }
        written += 1;
    }
    (written, failures)
}

/// The groups of `groups` whose backup is due at `now_ms` (see
/// [`backup_due`]); a group whose schedule cannot be read gets a failure
/// naming the key, the expression and why, and no backup.
fn due_groups(
    sch: &GroupSchedules,
    dests: &[&dyn Destination],
    scope: &Scope,
    now_ms: i64,
    groups: &[GroupItems],
    failures: &mut Vec<crate::partition::Failure>,
) -> BTreeSet<String> {
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms).unwrap_or_default();
    let mut due = BTreeSet::new();
    for config in groups.iter().filter(|g| g.kind == Kind::Configuration) {
        let expr = effective_backup_cron(config, now_ms, &sch.default);
        let tz = group_time_zone(config.timezone.as_deref(), scope.region.as_str());
        let newest = match dests.first() {
            Some(d) => newest_archive(*d, scope, &config.group, None),
            None => Ok(None),
        };
        let verdict = newest.map_err(|e| e.to_string()).and_then(|n| {
            backup_due(&expr, &tz, n, now).map_err(|why| {
                format!(
                    "{BACKUP_CRON} of group {} (time zone {tz}): {why}",
                    config.group
                )
            })
        });
        match verdict {
            Ok(true) => {
                due.insert(config.group.clone());
            }
            Ok(false) => {}
            Err(message) => failures.push(crate::partition::Failure {
                scope: scope.to_string(),
                group: Some(config.group.clone()),
                error: Error::Input {
                    file: format!("{scope}/{}", config.group),
                    json_path: BACKUP_CRON.into(),
                    message,
                },
            }),
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::*;
    use chrono::Timelike;
    use store::*;

    #[test]
    fn names_follow_clonesquad() {
        assert_eq!(
            latest_path("111111111111", "eu-west-1", "web", Kind::Configuration),
            "backups/accountid=111111111111/region=eu-west-1/groupname=web/latest-111111111111-eu-west-1-configuration-cs-web.yaml"
        );
        let ts = crate::time::file_stamp(1_795_316_400_000);
        assert_eq!(ts, "2026-11-22T03-00-00Z");
        let p = archive_path("1", "r", "g", Kind::Scheduler, &ts, None);
        assert!(p.ends_with("/archive/2026-11-22T03-00-00Z-1-r-scheduler-cs-g.yaml"));
        let a = parse_archive(&p).unwrap();
        assert!(a.label.is_none() && a.time.hour() == 3);
        let m = parse_archive(&archive_path(
            "1",
            "r",
            "g",
            Kind::Scheduler,
            &ts,
            Some("manual"),
        ))
        .unwrap();
        assert!(m.label == Some("manual") && m.series == a.series);
        let c = parse_archive(&archive_path(
            "1",
            "r",
            "g",
            Kind::Scheduler,
            &format!("{ts}.2"),
            None,
        ))
        .unwrap();
        assert_eq!(c.series, a.series);
    }

    #[test]
    fn the_checksum_covers_the_body() {
        let mut m = BTreeMap::new();
        m.insert("b".to_string(), Some("x: \"quoted\"\n".to_string()));
        m.insert("a".to_string(), None);
        let data = render("configuration of 1/r/g", "T", &m);
        let body = verified_body("f", &data).unwrap();
        assert_eq!(body, b"\"a\": null\n\"b\": \"x: \\\"quoted\\\"\\n\"\n");
        let mut bad = data.clone();
        *bad.last_mut().unwrap() = b' ';
        let e = verified_body("f.yaml", &bad).unwrap_err().to_string();
        assert!(
            e.contains("f.yaml") && e.contains("checksum mismatch"),
            "{e}"
        );
    }

    #[test]
    fn keep_is_parsed_strictly() {
        assert_eq!(
            Keep::parse("hourly=24,daily=7,weekly=4,monthly=12").unwrap(),
            Keep {
                hourly: 24,
                daily: 7,
                weekly: 4,
                monthly: 12,
                ..Default::default()
            }
        );
        let k = Keep::parse("bimonthly=6,shutdown=3").unwrap();
        assert_eq!((k.bimonthly, k.shutdown, k.hourly), (6, 3, 0));
        for bad in ["hourly", "yearly=1", "daily=-1", "daily=x", "manual=1"] {
            assert!(Keep::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bimonthly_keeps_one_per_two_months_and_shutdowns_are_kept_apart() {
        let name = |m: u32, d: u32, label: &str| {
            format!("g/archive/2026-{m:02}-{d:02}T00-00-00Z{label}-1-r-configuration-cs-g.yaml")
        };
        let mut all = Vec::new();
        for m in 1..=8 {
            for d in [1, 15] {
                all.push(name(m, d, ""));
            }
        }
        let shutdowns = [
            name(3, 3, "-shutdown"),
            name(6, 6, "-shutdown"),
            name(7, 7, "-shutdown"),
        ];
        all.extend(shutdowns.iter().cloned());
        all.push(name(2, 2, "-manual"));
        let archives = all.iter().map(|p| parse_archive(p).unwrap()).collect();
        let keep = Keep {
            bimonthly: 3,
            shutdown: 2,
            ..Default::default()
        };
        let gone: BTreeSet<String> = to_prune(archives, keep).into_iter().collect();
        let kept: BTreeSet<String> = all.iter().filter(|p| !gone.contains(*p)).cloned().collect();
        let want: BTreeSet<String> = [
            name(8, 15, ""), // newest of July-August (and the newest of all)
            name(6, 15, ""), // May-June
            name(4, 15, ""), // March-April
            name(7, 7, "-shutdown"),
            name(6, 6, "-shutdown"),
            name(2, 2, "-manual"),
        ]
        .into_iter()
        .collect();
        assert_eq!(kept, want);
    }

    fn config(items: &[(&str, &str)], expires: &[(&str, i64)]) -> GroupItems {
        GroupItems {
            group: "web".into(),
            items: items
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
            expires: expires.iter().map(|(k, t)| (k.to_string(), *t)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn backup_cron_resolves_override_then_parameter_set_then_key_then_default() {
        let d = "cron(0 * * * ? *)";
        let now = 1_000_000;
        let all = [
            ("backup.cron", "cron(0 1 * * ? *)"),
            ("[night]backup.cron", "cron(0 2 * * ? *)"),
            ("config.active_parameter_set", "night"),
            ("override:backup.cron", "disabled"),
        ];
        assert_eq!(
            effective_backup_cron(&config(&all, &[]), now, d),
            "disabled"
        );
        assert_eq!(
            effective_backup_cron(&config(&all[..3], &[]), now, d),
            "cron(0 2 * * ? *)"
        );
        let other_set = [all[0], all[1], ("config.active_parameter_set", "day")];
        assert_eq!(
            effective_backup_cron(&config(&other_set, &[]), now, d),
            "cron(0 1 * * ? *)"
        );
        assert_eq!(effective_backup_cron(&config(&[], &[]), now, d), d);
        let spelt = config(&[("cron.backup", "disabled")], &[]);
        assert_eq!(effective_backup_cron(&spelt, now, d), "disabled");
        let both = config(
            &[
                ("cron.backup", "disabled"),
                ("backup.cron", "rate(2 hours)"),
            ],
            &[],
        );
        assert_eq!(effective_backup_cron(&both, now, d), "rate(2 hours)");
        // A commented key and an expired item are ignored.
        let c = config(&[("#backup.cron", "disabled")], &[]);
        assert_eq!(effective_backup_cron(&c, now, d), d);
        let c = config(&all, &[("override:backup.cron", now - 1)]);
        assert_eq!(effective_backup_cron(&c, now, d), "cron(0 2 * * ? *)");
        let c = config(&all, &[("override:backup.cron", now + 1)]);
        assert_eq!(effective_backup_cron(&c, now, d), "disabled");
        let c = config(&all[..3], &[("config.active_parameter_set", now)]);
        assert_eq!(effective_backup_cron(&c, now, d), "cron(0 1 * * ? *)");
    }

    #[test]
    fn a_backup_is_due_once_per_missed_occurrence_window() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let daily3 = "localcron(0 3 * * ? *)";
        let tokyo = "Asia/Tokyo"; // 03:00 JST is 18:00 UTC the day before
        let newest = Some(t("2026-12-01T17:00:00Z"));
        assert!(!backup_due(daily3, tokyo, newest, t("2026-12-01T17:59:00Z")).unwrap());
        assert!(backup_due(daily3, tokyo, newest, t("2026-12-01T18:00:00Z")).unwrap());
        // Down for three days: due, once (the next look starts from the new archive).
        assert!(backup_due(daily3, tokyo, newest, t("2026-12-04T20:00:00Z")).unwrap());
        assert!(!backup_due(
            daily3,
            tokyo,
            Some(t("2026-12-04T20:00:00Z")),
            t("2026-12-04T21:00:00Z")
        )
        .unwrap());
        assert!(backup_due("cron(0 * * * ? *)", "UTC", None, t("2026-12-01T00:30:00Z")).unwrap());
        assert!(!backup_due("disabled", "UTC", None, t("2026-12-01T00:30:00Z")).unwrap());
        assert!(backup_due("rate(2 hours)", "UTC", newest, t("2026-12-01T19:00:00Z")).unwrap());
        assert!(!backup_due("rate(2 hours)", "UTC", newest, t("2026-12-01T18:59:00Z")).unwrap());
        let e =
            backup_due("cron(0 25 * * ? *)", "UTC", None, t("2026-12-01T00:00:00Z")).unwrap_err();
        assert!(e.contains("hours"), "{e}");
    }

    #[test]
    fn a_group_zone_is_its_parameter_else_its_region_else_utc() {
        assert_eq!(
            group_time_zone(Some("Asia/Tokyo"), "eu-west-1"),
            "Asia/Tokyo"
        );
        assert_eq!(
            group_time_zone(Some("Mars/Base"), "eu-west-1"),
            "Europe/Dublin"
        );
        assert_eq!(group_time_zone(None, "eu-west-1"), "Europe/Dublin");
        assert_eq!(group_time_zone(None, "xx-nowhere-1"), "UTC");
        for (r, z) in [
            ("us-east-1", "America/New_York"),
            ("ap-southeast-2", "Australia/Sydney"),
        ] {
            assert_eq!(group_time_zone(None, r), z);
            assert!(z.parse::<chrono_tz::Tz>().is_ok());
        }
    }

    #[test]
    fn nothing_but_the_newest_is_kept_with_zero_retention() {
        let paths: Vec<Archive> = (0..5)
            .map(|h| {
                parse_archive(&format!(
                    "g/archive/2026-11-22T0{h}-00-00Z-1-r-configuration-cs-g.yaml"
                ))
                .unwrap()
            })
            .collect();
        let gone = to_prune(paths, Keep::default());
        assert_eq!(gone.len(), 4);
        assert!(!gone.iter().any(|p| p.contains("T04-")));
    }

    #[test]
    fn an_archive_is_never_overwritten_and_latest_comes_last() {
        use crate::partition::PartitionValue;
        use crate::sink::local::LocalDestination;
        let dir = tempfile::tempdir().unwrap();
        let dest = LocalDestination::new(dir.path()).unwrap();
        let scope = Scope {
            accountid: PartitionValue::parse("111111111111", "account", "test").unwrap(),
            region: PartitionValue::parse("eu-west-1", "region", "test").unwrap(),
        };
        let ts = "2026-11-22T03-00-00Z";
        let (a, b) = (b"first".to_vec(), b"second".to_vec());
        write(&dest, &scope, "web", Kind::Configuration, ts, None, &a).unwrap();
        write(&dest, &scope, "web", Kind::Configuration, ts, None, &a).unwrap();
        let archive = |stamp: &str| {
            archive_path(
                "111111111111",
                "eu-west-1",
                "web",
                Kind::Configuration,
                stamp,
                None,
            )
        };
        let latest = latest_path("111111111111", "eu-west-1", "web", Kind::Configuration);
        let listed = dest.list("backups").unwrap();
        assert_eq!(
            listed,
            vec![archive(ts), latest.clone()],
            "the same backup is archived once"
        );
        write(&dest, &scope, "web", Kind::Configuration, ts, None, &b).unwrap();
        assert_eq!(
            dest.read(&archive(ts), 1 << 20).unwrap(),
            a,
            "never overwritten"
        );
        assert_eq!(dest.read(&archive(&format!("{ts}.1")), 1 << 20).unwrap(), b);
        assert_eq!(dest.read(&latest, 1 << 20).unwrap(), b);
    }
}
