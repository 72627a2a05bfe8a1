//! `fleetcmdb schedule`: when a run schedule would fire (the forms are
//! those of [`crate::schedule::RunSchedule`]).

use chrono_tz::Tz;

use crate::error::{Error, ExitCode};
use crate::schedule::{occurrences, parse_run as parse, RunSchedule};
use crate::settings::ScheduleSettings;

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
    let found = occurrences(&sched, s.from, s.next);
    let from = s.from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let last = crate::schedule::LAST_YEAR;
    if found.is_empty() {
        return Err(Error::Usage(format!(
            "schedule {:?} never fires after {from} (searched to the end of {last}, the last year of the grammar)",
            s.expr
        )));
    }
    if found.len() < s.next {
        eprintln!(
            "fleetcmdb schedule: only {} of the {} runs asked for fall after {from} (searched to the end of {last})",
            found.len(),
            s.next
        );
    }
    for t in found {
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
    use chrono::{DateTime, Duration, Utc};

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
