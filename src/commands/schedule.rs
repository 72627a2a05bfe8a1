//! `fleetcmdb schedule`: when a run schedule would fire.
//!
//! Owns the forms of a run schedule, EventBridge's: `cron(…)` evaluated in
//! UTC, `localcron(…)` (the same six fields) evaluated in a time zone,
//! `rate(N minutes|hours|days)`, and `disabled`. Cron fields are evaluated
//! by [`crate::schedule`], the evaluator maintenance windows use, so there
//! is one. Around daylight-saving changes a local time that does not exist
//! runs an hour later (02:30 on a spring-forward night runs at 03:30), and
//! one that occurs twice runs once, at its first occurrence: a run is
//! neither skipped nor doubled.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::error::{Error, ExitCode};
use crate::schedule::Schedule;
use crate::settings::ScheduleSettings;

/// A parsed run schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum RunSchedule {
    Disabled,
    /// `cron()` (in UTC) or `localcron()` (in its zone).
    Cron(Schedule),
    /// Every period, counted from the start of the run.
    Rate(Duration),
}

/// Parses a run schedule; `timezone` is the zone of `localcron()`.
pub fn parse(expr: &str, timezone: Option<&str>) -> Result<RunSchedule, Error> {
    let e = expr.trim();
    let bad = |m: String| Error::Usage(format!("schedule {expr:?}: {m}"));
    if e == "disabled" {
        return Ok(RunSchedule::Disabled);
    }
    if let Some(body) = e.strip_prefix("localcron(") {
        let tz = timezone.ok_or_else(|| {
            bad("localcron() needs a time zone (--timezone or timezone in the config)".into())
        })?;
        return crate::schedule::parse(&format!("cron({body}"), tz)
            .map(RunSchedule::Cron)
            .map_err(|err| bad(err.reason));
    }
    if e.starts_with("cron(") {
        return crate::schedule::parse(e, "UTC")
            .map(RunSchedule::Cron)
            .map_err(|err| bad(err.reason));
    }
    if e.starts_with("rate(") {
        return match crate::schedule::parse(e, "UTC") {
            Ok(Schedule::Rate { period }) => Ok(RunSchedule::Rate(period)),
            Ok(_) => Err(bad("expected rate(N minutes|hours|days)".into())),
            Err(err) => Err(bad(err.reason)),
        };
    }
    Err(bad(
        "expected cron(…), localcron(…), rate(N minutes|hours|days) or disabled".into(),
    ))
}

/// The first `n` times the schedule fires strictly after `from`.
pub fn occurrences(s: &RunSchedule, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(n);
    let mut t = from;
    while out.len() < n {
        let next = match s {
            RunSchedule::Disabled => None,
            RunSchedule::Cron(c) => c.next_start(t, None),
            RunSchedule::Rate(p) => t.checked_add_signed(*p),
        };
        match next {
            Some(x) if x.timestamp_millis() <= crate::record::MAX_TIMESTAMP_MS => {
                out.push(x);
                t = x;
            }
            _ => break,
        }
    }
    out
}

pub fn run(s: &ScheduleSettings) -> Result<ExitCode, Error> {
    let sched = parse(&s.expr, s.timezone.as_deref())?;
    if sched == RunSchedule::Disabled {
        crate::outln!("disabled: never runs");
        return Ok(ExitCode::Success);
    }
    let zone: Option<Tz> = match (&sched, s.expr.trim_start().starts_with("localcron(")) {
        (RunSchedule::Cron(_), true) => s.timezone.as_deref().and_then(|z| z.parse().ok()),
        _ => None,
    };
    for t in occurrences(&sched, s.from, s.next) {
        let utc = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match zone {
            Some(z) => crate::outln!(
                "{}  ({utc})",
                t.with_timezone(&z)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None => crate::outln!("{utc}"),
        }
    }
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn forms_and_their_errors() {
        assert_eq!(parse("disabled", None).unwrap(), RunSchedule::Disabled);
        assert_eq!(
            parse("rate(90 minutes)", None).unwrap(),
            RunSchedule::Rate(Duration::minutes(90))
        );
        let hourly = parse("cron(0 * * * ? *)", None).unwrap();
        assert_eq!(
            occurrences(&hourly, utc("2026-12-01T10:15:00Z"), 2),
            [utc("2026-12-01T11:00:00Z"), utc("2026-12-01T12:00:00Z")]
        );
        for (expr, tz, why) in [
            ("cron(0 25 * * ? *)", None, "hours: 25 is outside 0-23"),
            ("cron(0 3 * * MON *)", None, "must be '?'"),
            ("localcron(0 3 ? * MON *)", None, "needs a time zone"),
            (
                "localcron(0 3 ? * MON *)",
                Some("Mars/Olympus"),
                "unknown time zone",
            ),
            ("rate(0 minutes)", None, "positive"),
            ("at(2026-12-01T00:00:00)", None, "expected cron"),
            ("hourly", None, "expected cron"),
        ] {
            let e = parse(expr, tz).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{expr}");
            assert!(e.to_string().contains(why), "{expr}: {e}");
        }
    }
}
