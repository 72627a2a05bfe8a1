//! `fleetcmdb schedule`: run schedules in UTC and in local time, across
//! daylight-saving changes, against occurrences computed here with chrono-tz.

use chrono::{Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::common::*;

fn lines(args: &[&str]) -> Vec<String> {
    let o = run(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Local `hh:mm` on each day from `start` that `keep` accepts, as the
/// documented rule has it: a time that does not exist runs an hour later,
/// one that occurs twice runs at its first occurrence.
fn expected(
    zone: Tz,
    start: NaiveDate,
    hh: u32,
    mm: u32,
    keep: fn(NaiveDate) -> bool,
    n: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut day = start;
    while out.len() < n {
        if keep(day) {
            let local = day.and_hms_opt(hh, mm, 0).unwrap();
            let t = match zone.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t,
                LocalResult::None => zone
                    .from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
                    .unwrap(),
            };
            out.push(format!(
                "{}  ({})",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                t.with_timezone(&Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        day = day.succ_opt().unwrap();
    }
    out
}

#[test]
fn localcron_follows_the_zone_across_daylight_saving_changes() {
    let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
    // Tokyo (no DST): Mondays at 03:00.
    assert_eq!(
        lines(&[
            "schedule",
            "localcron(0 3 ? * MON *)",
            "--timezone",
            "Asia/Tokyo",
            "--next",
            "5",
            "--from",
            "2026-12-01T00:00:00Z"
        ]),
        expected(
            chrono_tz::Asia::Tokyo,
            d(2026, 12, 1),
            3,
            0,
            |x| x.weekday() == Weekday::Mon,
            5
        )
    );
    // Paris, spring forward on 2026-03-29: 02:30 does not exist that night.
    let got = lines(&[
        "schedule",
        "localcron(30 2 * * ? *)",
        "--timezone",
        "Europe/Paris",
        "--next",
        "4",
        "--from",
        "2026-03-27T12:00:00Z",
    ]);
    assert_eq!(
        got,
        expected(chrono_tz::Europe::Paris, d(2026, 3, 28), 2, 30, |_| true, 4)
    );
    assert!(got[1].starts_with("2026-03-29T03:30:00+02:00"), "{got:?}");
    // New York, fall back on 2026-11-01: 01:30 occurs twice, runs once.
    let got = lines(&[
        "schedule",
        "localcron(30 1 * * ? *)",
        "--timezone",
        "America/New_York",
        "--next",
        "3",
        "--from",
        "2026-10-31T12:00:00Z",
    ]);
    assert_eq!(
        got,
        expected(
            chrono_tz::America::New_York,
            d(2026, 11, 1),
            1,
            30,
            |_| true,
            3
        )
    );
    assert_eq!(
        got.iter().filter(|l| l.starts_with("2026-11-01")).count(),
        1
    );
    // Sydney, southern hemisphere: 02:30 does not exist on 2026-10-04 and
    // occurs twice on 2026-04-05.
    for (from, first) in [
        ("2026-10-02T12:00:00Z", d(2026, 10, 3)),
        ("2026-04-03T12:00:00Z", d(2026, 4, 4)),
    ] {
        let got = lines(&[
            "schedule",
            "localcron(30 2 * * ? *)",
            "--timezone",
            "Australia/Sydney",
            "--next",
            "3",
            "--from",
            from,
        ]);
        let want = expected(chrono_tz::Australia::Sydney, first, 2, 30, |_| true, 3);
        assert_eq!(got, want, "from {from}");
        assert_eq!(got.len(), 3);
    }
}

#[test]
fn cron_is_utc_and_rate_counts_from_the_start() {
    let from = Utc.with_ymd_and_hms(2026, 12, 1, 10, 15, 0).unwrap();
    let hours: Vec<String> = (1..=3)
        .map(|h| {
            (from + Duration::minutes(45) + Duration::hours(h - 1))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .collect();
    assert_eq!(
        lines(&[
            "schedule",
            "cron(0 * * * ? *)",
            "--next",
            "3",
            "--from",
            "2026-12-01T10:15:00Z"
        ]),
        hours
    );
    let rate: Vec<String> = (1..=3)
        .map(|k| {
            (from + Duration::minutes(90 * k)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .collect();
    assert_eq!(
        lines(&[
            "schedule",
            "rate(90 minutes)",
            "--next",
            "3",
            "--from",
            "2026-12-01T10:15:00Z"
        ]),
        rate
    );
    assert_eq!(lines(&["schedule", "disabled"]), ["disabled: never runs"]);
}

#[test]
fn a_bad_schedule_is_refused_naming_the_field() {
    for (args, why) in [
        (
            &["schedule", "cron(0 25 * * ? *)"][..],
            "hours: 25 is outside 0-23",
        ),
        (&["schedule", "cron(0 3 * * MON *)"][..], "must be '?'"),
        (&["schedule", "cron(0 3 * *)"][..], "6 fields"),
        (
            &["schedule", "localcron(0 3 ? * MON *)"][..],
            "needs a time zone",
        ),
        (
            &["schedule", "cron(0 3 ? * MON *)", "--next", "0"][..],
            "--next",
        ),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
    }
}
