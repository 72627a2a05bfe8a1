//! Schedules: SSM maintenance windows' `cron()`, `rate()` and `at()`, and
//! the run schedules of fleetcmdb itself ([`RunSchedule`]).
//!
//! Owns parsing and evaluation of the schedule expressions SSM accepts, in
//! the window's IANA time zone: the latest start at or before an instant and
//! the first start after it. AWS cron has six fields (minutes hours
//! day-of-month month day-of-week year) with `* ? , - /`, `L`, `W` and `#`.
//!
//! A run schedule has EventBridge's forms: `cron(…)` evaluated in UTC,
//! `localcron(…)` (the same six fields) evaluated in a time zone,
//! `rate(N minutes|hours|days)`, and `disabled`; its cron fields are
//! evaluated by the same code as maintenance windows, so there is one.
//! Around daylight-saving changes a local time that does not exist runs an
//! hour later (02:30 on a spring-forward night runs at 03:30), and one that
//! occurs twice runs once, at its first occurrence: a run is neither
//! skipped nor doubled.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::Error;

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Cron(Box<Cron>, Tz),
    /// Every `period`, counted from `anchor` (SSM counts from the window creation; we use the
    /// next execution time SSM reports when known, else the epoch).
    Rate {
        period: Duration,
    },
    At(NaiveDateTime, Tz),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Vec<bool>, // 60
    hours: Vec<bool>,   // 24
    months: Vec<bool>,  // 13, index 1..=12
    years: Option<Vec<i32>>,
    dom: DayOfMonth,
    dow: DayOfWeek,
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfMonth {
    Any,
    Set(Vec<bool>), // 32, index 1..=31
    Last(u32),      // L or L-n
    NearestWeekday(u32),
    LastWeekday,
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfWeek {
    Any,
    Set(Vec<bool>), // 8, index 1..=7 (1 = Sunday)
    Nth(u32, u32),  // weekday, n
    Last(u32),      // weekday L
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("invalid schedule {expr:?}: {reason}")]
pub struct ScheduleError {
    pub expr: String,
    pub reason: String,
}

fn err(expr: &str, reason: impl Into<String>) -> ScheduleError {
    ScheduleError {
        expr: expr.to_string(),
        reason: reason.into(),
    }
}

/// Parses `expr` (as SSM stores it) in time zone `tz` (IANA name; empty means UTC).
pub fn parse(expr: &str, tz: &str) -> Result<Schedule, ScheduleError> {
    let zone: Tz = if tz.trim().is_empty() {
        Tz::UTC
    } else {
        tz.parse()
            .map_err(|_| err(expr, format!("unknown time zone {tz:?}")))?
    };
    let e = expr.trim();
    if let Some(body) = e.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
        return Ok(Schedule::Cron(Box::new(parse_cron(expr, body)?), zone));
    }
    if let Some(body) = e.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
        let mut it = body.split_whitespace();
        let n: i64 = it
            .next()
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| err(expr, "rate needs a positive number"))?;
        // Checked before any arithmetic: the grammar spans 1970-2199, so a
        // longer period never fires twice.
        let (per_day, period) = match it.next() {
            Some("minute" | "minutes") => (24 * 60, Duration::try_minutes(n)),
            Some("hour" | "hours") => (24, Duration::try_hours(n)),
            Some("day" | "days") => (1, Duration::try_days(n)),
            other => return Err(err(expr, format!("unknown rate unit {other:?}"))),
        };
        let period = period
            .filter(|_| n <= MAX_RATE_DAYS * per_day)
            .ok_or_else(|| {
                err(
                    expr,
                    format!(
                        "rate is longer than {MAX_RATE_DAYS} days (the years 1970-{LAST_YEAR})"
                    ),
                )
            })?;
        if it.next().is_some() {
            return Err(err(expr, "trailing text after the rate unit"));
        }
        return Ok(Schedule::Rate { period });
    }
    if let Some(body) = e.strip_prefix("at(").and_then(|s| s.strip_suffix(')')) {
        let at = NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S")
            .map_err(|_| err(expr, "at() needs yyyy-mm-ddThh:mm:ss"))?;
        return Ok(Schedule::At(at, zone));
    }
    Err(err(expr, "expected cron(...), rate(...) or at(...)"))
}

fn parse_cron(expr: &str, body: &str) -> Result<Cron, ScheduleError> {
    let f: Vec<&str> = body.split_whitespace().collect();
    if f.len() != 6 {
        return Err(err(
            expr,
            format!(
                "cron needs 6 fields (minutes hours day-of-month month day-of-week year), found {}",
                f.len()
            ),
        ));
    }
    let minutes = field(expr, "minutes", f[0], 0, 59, &[])?;
    let hours = field(expr, "hours", f[1], 0, 23, &[])?;
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let months = field(expr, "month", f[3], 1, 12, &MONTHS)?;
    let years = if f[5] == "*" {
        None
    } else {
        let y = field(expr, "year", f[5], FIRST_YEAR as u32, LAST_YEAR as u32, &[])?;
        Some(
            y.iter()
                .enumerate()
                .filter(|(_, b)| **b)
                .map(|(i, _)| i as i32)
                .collect(),
        )
    };
    let dom = parse_dom(expr, f[2])?;
    let dow = parse_dow(expr, f[4])?;
    if f[2] == "?" && f[4] == "?" {
        return Err(err(expr, "day-of-month and day-of-week cannot both be '?'"));
    }
    if f[2] != "?" && f[4] != "?" {
        return Err(err(expr, "one of day-of-month or day-of-week must be '?'"));
    }
    Ok(Cron {
        minutes,
        hours,
        months,
        years,
        dom,
        dow,
    })
}

/// A set of values in `lo..=hi`, indexed by value (vector of length hi+1).
fn field(
    expr: &str,
    name: &str,
    s: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
) -> Result<Vec<bool>, ScheduleError> {
    let mut set = vec![false; hi as usize + 1];
    let value = |v: &str| -> Result<u32, ScheduleError> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(lo + i as u32);
        }
        let n: u32 = v
            .parse()
            .map_err(|_| err(expr, format!("{name}: {v:?} is not a number")))?;
        if n < lo || n > hi {
            return Err(err(expr, format!("{name}: {n} is outside {lo}-{hi}")));
        }
        Ok(n)
    };
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => {
                let st: u32 = st
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| err(expr, format!("{name}: bad increment in {part:?}")))?;
                (r, Some(st))
            }
            None => (part, None),
        };
        let (a, b) = if range == "*" || range == "?" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            // `a/n` runs from a to the end of the field, whatever n (as in
            // AWS and Quartz: `30/1` is 30, 31, … 59).
            let a = value(range)?;
            (a, if step.is_some() { hi } else { a })
        };
        if a > b {
            return Err(err(expr, format!("{name}: range {range:?} is reversed")));
        }
        // Stepped with checked arithmetic: a huge increment stops after the
        // first value instead of wrapping round.
        let mut v = Some(a);
        while let Some(x) = v.filter(|x| *x <= b) {
            set[x as usize] = true;
            v = x.checked_add(step.unwrap_or(1));
        }
    }
    Ok(set)
}

fn parse_dom(expr: &str, s: &str) -> Result<DayOfMonth, ScheduleError> {
    Ok(match s {
        "?" | "*" => DayOfMonth::Any,
        "L" => DayOfMonth::Last(0),
        "LW" => DayOfMonth::LastWeekday,
        _ if s.starts_with("L-") => DayOfMonth::Last(
            s[2..]
                .parse()
                .ok()
                .filter(|n| *n < 31)
                .ok_or_else(|| err(expr, "day-of-month: bad L-n"))?,
        ),
        _ if s.ends_with('W') => DayOfMonth::NearestWeekday(
            s[..s.len() - 1]
                .parse()
                .ok()
                .filter(|n| (1..=31).contains(n))
                .ok_or_else(|| err(expr, "day-of-month: bad nW"))?,
        ),
        _ => DayOfMonth::Set(field(expr, "day-of-month", s, 1, 31, &[])?),
    })
}

fn parse_dow(expr: &str, s: &str) -> Result<DayOfWeek, ScheduleError> {
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    // `#n` and `nL` name one day: a list, range or step there is refused,
    // not read as its first day.
    let day = |v: &str| -> Result<u32, ScheduleError> {
        let set = field(expr, "day-of-week", v, 1, 7, &DAYS)?;
        let mut days = set.iter().enumerate().filter(|(_, b)| **b).map(|(i, _)| i);
        match (days.next(), days.next()) {
            (Some(d), None) => Ok(d as u32),
            _ => Err(err(
                expr,
                format!("day-of-week: {v:?} before # or L must be one day"),
            )),
        }
    };
    Ok(match s {
        "?" | "*" => DayOfWeek::Any,
        _ if s.contains('#') => {
            let (d, n) = s.split_once('#').unwrap();
            let n: u32 = n
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| err(expr, "day-of-week: #n must be 1-5"))?;
            DayOfWeek::Nth(day(d)?, n)
        }
        _ if s.len() > 1 && s.ends_with('L') => DayOfWeek::Last(day(&s[..s.len() - 1])?),
        // `L` alone is the last day of the week, Saturday, every week.
        "L" => DayOfWeek::Set((0..=7).map(|d| d == 7).collect()),
        _ => DayOfWeek::Set(field(expr, "day-of-week", s, 1, 7, &DAYS)?),
    })
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (NaiveDate::from_ymd_opt(ny, nm, 1).unwrap() - NaiveDate::from_ymd_opt(y, m, 1).unwrap())
        .num_days() as u32
}

fn is_weekday(d: NaiveDate) -> bool {
    d.weekday().number_from_monday() <= 5
}

impl Cron {
    /// Whether `d`'s month and year are in the expression.
    fn month_matches(&self, d: NaiveDate) -> bool {
        self.months[d.month() as usize] && self.years.as_ref().is_none_or(|y| y.contains(&d.year()))
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        if !self.month_matches(d) {
            return false;
        }
        let dim = days_in_month(d.year(), d.month());
        let dom_ok = match &self.dom {
            DayOfMonth::Any => true,
            DayOfMonth::Set(s) => s[d.day() as usize],
            DayOfMonth::Last(n) => d.day() + n == dim,
            DayOfMonth::LastWeekday => {
                let mut last = NaiveDate::from_ymd_opt(d.year(), d.month(), dim).unwrap();
                while !is_weekday(last) {
                    last = last.pred_opt().unwrap();
                }
                last == d
            }
            // As in Quartz: a month without day n has no `nW` day.
            DayOfMonth::NearestWeekday(n) if *n > dim => false,
            DayOfMonth::NearestWeekday(n) => {
                let target = NaiveDate::from_ymd_opt(d.year(), d.month(), *n).unwrap();
                let nearest = match target.weekday().number_from_monday() {
                    6 if target.day() == 1 => target + Duration::days(2),
                    6 => target - Duration::days(1),
                    7 if target.day() == dim => target - Duration::days(2),
                    7 => target + Duration::days(1),
                    _ => target,
                };
                nearest == d
            }
        };
        let wd = d.weekday().number_from_sunday(); // 1 = Sunday
        let dow_ok = match &self.dow {
            DayOfWeek::Any => true,
            DayOfWeek::Set(s) => s[wd as usize],
            DayOfWeek::Nth(day, n) => wd == *day && (d.day() - 1) / 7 + 1 == *n,
            DayOfWeek::Last(day) => wd == *day && d.day() + 7 > dim,
        };
        dom_ok && dow_ok
    }

    fn times(&self) -> impl DoubleEndedIterator<Item = (u32, u32)> + '_ {
        (0..24u32)
            .filter(|h| self.hours[*h as usize])
            .flat_map(move |h| {
                (0..60u32)
                    .filter(|m| self.minutes[*m as usize])
                    .map(move |m| (h, m))
            })
    }
}

/// Local wall-clock time → UTC; a time skipped by a DST change moves forward an hour.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        chrono::LocalResult::None => resolve(tz, local + Duration::hours(1)),
    }
}

/// The first and last years of the cron grammar: schedules are searched
/// between them, and nothing fires outside.
pub const FIRST_YEAR: i32 = 1970;
pub const LAST_YEAR: i32 = 2199;
/// The longest `rate()`: the span of the grammar's years.
const MAX_RATE_DAYS: i64 = (LAST_YEAR - FIRST_YEAR + 1) as i64 * 366;

/// The first day of the month after `d`'s, if within the grammar's years.
fn next_month(d: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).filter(|d| d.year() <= LAST_YEAR)
}

/// The last day of the month before `d`'s, if within the grammar's years.
fn prev_month(d: NaiveDate) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1)?
        .pred_opt()
        .filter(|d| d.year() >= FIRST_YEAR)
}

impl Schedule {
    /// The latest start at or before `t`.
    pub fn prev_start(
        &self,
        t: DateTime<Utc>,
        anchor: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(c, tz) => {
                let local = t.with_timezone(tz).naive_local();
                let mut day = local
                    .date()
                    .min(NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31)?);
                // Months that cannot match are skipped whole, so the search
                // reaches the grammar's first year in a few thousand steps.
                while day.year() >= FIRST_YEAR {
                    if !c.month_matches(day) {
                        day = prev_month(day)?;
                        continue;
                    }
                    if c.day_matches(day) {
                        for (h, m) in c.times().rev() {
                            let cand = resolve(*tz, day.and_hms_opt(h, m, 0)?)?;
                            if cand <= t {
                                return Some(cand);
                            }
                        }
                    }
                    day = day.pred_opt()?;
                }
                None
            }
            Schedule::Rate { period } => {
                let anchor = anchor.unwrap_or(DateTime::UNIX_EPOCH);
                let p = period.num_milliseconds();
                let k = (t - anchor).num_milliseconds().div_euclid(p);
                anchor.checked_add_signed(Duration::milliseconds(k.checked_mul(p)?))
            }
            Schedule::At(at, tz) => resolve(*tz, *at).filter(|a| *a <= t),
        }
    }

    /// The first start strictly after `t`.
    pub fn next_start(
        &self,
        t: DateTime<Utc>,
        anchor: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(c, tz) => {
                let local = t.with_timezone(tz).naive_local();
                let mut day = local.date().max(NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1)?);
                while day.year() <= LAST_YEAR {
                    if !c.month_matches(day) {
                        day = next_month(day)?;
                        continue;
                    }
                    if c.day_matches(day) {
                        for (h, m) in c.times() {
                            let cand = resolve(*tz, day.and_hms_opt(h, m, 0)?)?;
                            if cand > t {
                                return Some(cand);
                            }
                        }
                    }
                    day = day.succ_opt()?;
                }
                None
            }
            Schedule::Rate { period } => {
                let prev = self.prev_start(t, anchor)?;
                prev.checked_add_signed(*period)
            }
            Schedule::At(at, tz) => resolve(*tz, *at).filter(|a| *a > t),
        }
    }
}

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
pub fn parse_run(expr: &str, timezone: Option<&str>) -> Result<RunSchedule, Error> {
    let e = expr.trim();
    let bad = |m: String| Error::Usage(format!("schedule {expr:?}: {m}"));
    if e == "disabled" {
        return Ok(RunSchedule::Disabled);
    }
    if let Some(body) = e.strip_prefix("localcron(") {
        let tz = timezone.ok_or_else(|| {
            bad("localcron() needs a time zone (--timezone or timezone in the config)".into())
        })?;
        return parse(&format!("cron({body}"), tz)
            .map(RunSchedule::Cron)
            .map_err(|err| bad(err.reason));
    }
    if e.starts_with("cron(") {
        return parse(e, "UTC")
            .map(RunSchedule::Cron)
            .map_err(|err| bad(err.reason));
    }
    if e.starts_with("rate(") {
        return match parse(e, "UTC") {
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
            Some(x) if x.timestamp_millis() <= crate::time::MAX_TIMESTAMP_MS => {
                out.push(x);
                t = x;
            }
            _ => break,
        }
    }
    out
}

/// The time zone of an AWS region's city, for a group's `localcron()` when
/// its deployment names none (as the original system maps regions).
pub fn region_time_zone(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" | "us-east-2" => "America/New_York",
        "us-west-1" | "us-west-2" => "America/Los_Angeles",
        "us-gov-east-1" => "America/New_York",
        "us-gov-west-1" => "America/Los_Angeles",
        "ca-central-1" => "America/Toronto",
        "ca-west-1" => "America/Edmonton",
        "mx-central-1" => "America/Mexico_City",
        "sa-east-1" => "America/Sao_Paulo",
        "eu-west-1" => "Europe/Dublin",
        "eu-west-2" => "Europe/London",
        "eu-west-3" => "Europe/Paris",
        "eu-central-1" => "Europe/Berlin",
        "eu-central-2" => "Europe/Zurich",
        "eu-north-1" => "Europe/Stockholm",
        "eu-south-1" => "Europe/Rome",
        "eu-south-2" => "Europe/Madrid",
        "il-central-1" => "Asia/Jerusalem",
        "me-south-1" => "Asia/Bahrain",
        "me-central-1" => "Asia/Dubai",
        "af-south-1" => "Africa/Johannesburg",
        "ap-east-1" => "Asia/Hong_Kong",
        "ap-south-1" => "Asia/Kolkata",
        "ap-south-2" => "Asia/Kolkata",
        "ap-northeast-1" => "Asia/Tokyo",
        "ap-northeast-2" => "Asia/Seoul",
        "ap-northeast-3" => "Asia/Tokyo",
        "ap-southeast-1" => "Asia/Singapore",
        "ap-southeast-2" => "Australia/Sydney",
        "ap-southeast-3" => "Asia/Jakarta",
        "ap-southeast-4" => "Australia/Melbourne",
        "ap-southeast-5" => "Asia/Kuala_Lumpur",
        "ap-southeast-7" => "Asia/Bangkok",
        "cn-north-1" | "cn-northwest-1" => "Asia/Shanghai",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weekly_cron_prev_and_next() {
        let s = parse("cron(0 2 ? * SUN *)", "").unwrap();
        let t = utc("2026-11-22T03:00:00Z"); // a Sunday
        assert_eq!(s.prev_start(t, None), Some(utc("2026-11-22T02:00:00Z")));
        assert_eq!(s.next_start(t, None), Some(utc("2026-11-29T02:00:00Z")));
    }

    #[test]
    fn nth_and_last_weekday_take_one_day() {
        for bad in ["1-3#2", "MON,WED#1", "*/2#3", "2-4L"] {
            let e = parse(&format!("cron(0 0 ? * {bad} *)"), "UTC").unwrap_err();
            assert!(e.to_string().contains("must be one day"), "{bad}: {e}");
        }
        assert!(parse("cron(0 0 ? * MON#2 *)", "UTC").is_ok());
        assert!(parse("cron(0 0 ? * 6L *)", "UTC").is_ok());
    }

    #[test]
    fn time_zone_is_applied() {
        let s = parse("cron(30 1 * * ? *)", "Europe/Paris").unwrap();
        let t = utc("2026-07-01T12:00:00Z");
        assert_eq!(
            s.next_start(t, None),
            Some(utc("2026-07-01T23:30:00Z")),
            "01:30 CEST is 23:30 UTC"
        );
        let w = utc("2026-01-15T12:00:00Z");
        assert_eq!(
            s.next_start(w, None),
            Some(utc("2026-01-16T00:30:00Z")),
            "01:30 CET is 00:30 UTC"
        );
    }

    #[test]
    fn nth_and_last_weekday_and_ranges() {
        let third_tue = parse("cron(0 4 ? * TUE#3 *)", "UTC").unwrap();
        assert_eq!(
            third_tue.next_start(utc("2026-11-01T00:00:00Z"), None),
            Some(utc("2026-11-17T04:00:00Z"))
        );
        let last_fri = parse("cron(0 22 ? * 6L *)", "UTC").unwrap();
        assert_eq!(
            last_fri.next_start(utc("2026-11-01T00:00:00Z"), None),
            Some(utc("2026-11-27T22:00:00Z"))
        );
        let last_day = parse("cron(0 0 L * ? *)", "UTC").unwrap();
        assert_eq!(
            last_day.next_start(utc("2028-02-10T00:00:00Z"), None),
            Some(utc("2028-02-29T00:00:00Z"))
        );
        let every15 = parse("cron(0/15 8-9 ? * MON-FRI *)", "UTC").unwrap();
        assert_eq!(
            every15.next_start(utc("2026-11-23T08:07:00Z"), None),
            Some(utc("2026-11-23T08:15:00Z"))
        );
        assert_eq!(
            every15.next_start(utc("2026-11-23T09:50:00Z"), None),
            Some(utc("2026-11-24T08:00:00Z"))
        );
    }

    #[test]
    fn rate_and_at() {
        let r = parse("rate(6 hours)", "").unwrap();
        let anchor = Some(utc("2026-11-22T01:00:00Z"));
        assert_eq!(
            r.prev_start(utc("2026-11-22T08:00:00Z"), anchor),
            Some(utc("2026-11-22T07:00:00Z"))
        );
        assert_eq!(
            r.next_start(utc("2026-11-22T08:00:00Z"), anchor),
            Some(utc("2026-11-22T13:00:00Z"))
        );
        let at = parse("at(2026-12-01T10:00:00)", "UTC").unwrap();
        assert_eq!(
            at.next_start(utc("2026-11-22T08:00:00Z"), None),
            Some(utc("2026-12-01T10:00:00Z"))
        );
        assert_eq!(at.next_start(utc("2026-12-22T08:00:00Z"), None), None);
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (e, want) in [
            ("cron(0 2 * * *)", "6 fields"),
            ("cron(61 2 ? * SUN *)", "outside 0-59"),
            ("cron(0 2 * * SUN *)", "must be '?'"),
            ("cron(0 2 ? * FOO *)", "not a number"),
            ("rate(0 hours)", "positive"),
            ("rate(5 weeks)", "unit"),
            ("every day", "expected cron"),
        ] {
            let m = parse(e, "").unwrap_err().to_string();
            assert!(m.contains(want) && m.contains(e), "{e}: {m}");
        }
        assert!(parse("cron(0 2 ? * SUN *)", "Mars/Olympus")
            .unwrap_err()
            .to_string()
            .contains("time zone"));
    }

    #[test]
    fn an_increment_runs_to_the_end_of_its_field() {
        let s = parse("cron(30/1 10 * * ? *)", "UTC").unwrap();
        let mut t = utc("2026-12-01T00:00:00Z");
        let mut seen = vec![];
        for _ in 0..31 {
            t = s.next_start(t, None).unwrap();
            seen.push(t);
        }
        assert_eq!(seen[0], utc("2026-12-01T10:30:00Z"));
        assert_eq!(seen[29], utc("2026-12-01T10:59:00Z"));
        assert_eq!(seen[30], utc("2026-12-02T10:30:00Z"));
        let s = parse("cron(50/4 10 * * ? *)", "UTC").unwrap();
        let t = s.next_start(utc("2026-12-01T10:54:30Z"), None).unwrap();
        assert_eq!(t, utc("2026-12-01T10:58:00Z"));
    }

    #[test]
    fn a_huge_increment_does_not_wrap() {
        let s = parse("cron(59/4294967295 10 * * ? *)", "UTC").unwrap();
        let t = s.next_start(utc("2026-12-01T00:00:00Z"), None).unwrap();
        assert_eq!(t, utc("2026-12-01T10:59:00Z"));
        assert_eq!(
            s.next_start(t, None),
            Some(utc("2026-12-02T10:59:00Z")),
            "59 only, not every minute"
        );
        assert!(parse("cron(0/4294967296 10 * * ? *)", "UTC").is_err());
    }

    #[test]
    fn l_alone_in_day_of_week_is_every_saturday() {
        let s = parse("cron(0 6 ? * L *)", "UTC").unwrap();
        let a = s.next_start(utc("2026-12-01T00:00:00Z"), None).unwrap();
        assert_eq!(a, utc("2026-12-05T06:00:00Z"), "the first Saturday");
        assert_eq!(s.next_start(a, None), Some(utc("2026-12-12T06:00:00Z")));
    }

    #[test]
    fn far_occurrences_are_found_up_to_the_last_year() {
        let from = utc("2026-12-01T00:00:00Z");
        let s = parse("cron(0 0 1 1 ? 2199)", "UTC").unwrap();
        assert_eq!(s.next_start(from, None), Some(utc("2199-01-01T00:00:00Z")));
        let s = parse("cron(0 0 ? 2 MON#5 *)", "UTC").unwrap();
        assert_eq!(s.next_start(from, None), Some(utc("2044-02-29T00:00:00Z")));
        assert_eq!(
            s.prev_start(from, None),
            Some(utc("2016-02-29T00:00:00Z")),
            "and back"
        );
        let never = parse("cron(0 0 31 2 ? *)", "UTC").unwrap();
        assert_eq!(never.next_start(from, None), None);
        assert_eq!(never.prev_start(from, None), None);
        let past = parse("cron(0 0 1 1 ? 1999)", "UTC").unwrap();
        assert_eq!(past.next_start(from, None), None);
        assert_eq!(
            past.prev_start(from, None),
            Some(utc("1999-01-01T00:00:00Z"))
        );
        let last = parse("cron(59 23 31 12 ? *)", "UTC").unwrap();
        let end = utc("2199-12-31T23:59:00Z");
        assert_eq!(
            last.next_start(utc("2199-06-01T00:00:00Z"), None),
            Some(end)
        );
        assert_eq!(last.next_start(end, None), None, "nothing after 2199");
        assert_eq!(
            last.prev_start(utc("2400-01-01T00:00:00Z"), None),
            Some(end)
        );
    }

    #[test]
    fn huge_rates_are_refused_not_panics() {
        for e in [
            "rate(106751991168 days)",
            "rate(9223372036854775807 minutes)",
            "rate(2562047788015 hours)",
            "rate(84181 days)",
        ] {
            let m = parse(e, "").unwrap_err().to_string();
            assert!(m.contains("longer than"), "{e}: {m}");
            assert!(parse_run(e, None).is_err(), "{e}");
        }
        let longest = parse("rate(84180 days)", "").unwrap();
        let t = utc("2026-12-01T00:00:00Z");
        assert!(longest.next_start(t, None).is_some());
        assert!(!crate::backup::policy::backup_due("rate(84180 days)", "UTC", Some(t), t).unwrap());
    }

    /// The forms the differential test leaves out, checked here against
    /// dates worked out by hand.
    #[test]
    fn the_forms_croner_lacks() {
        let from = utc("2026-11-01T00:00:00Z");
        // L-2: two days before the last day (November has 30: the 28th).
        let s = parse("cron(0 9 L-2 * ? *)", "UTC").unwrap();
        assert_eq!(s.next_start(from, None), Some(utc("2026-11-28T09:00:00Z")));
        // LW: the last weekday (2027-01-31 is a Sunday: Friday the 29th).
        let s = parse("cron(0 9 LW * ? *)", "UTC").unwrap();
        assert_eq!(
            s.next_start(utc("2027-01-01T00:00:00Z"), None),
            Some(utc("2027-01-29T09:00:00Z"))
        );
        // 1W when the 1st is a Saturday (2027-05-01): Monday the 3rd, never April.
        let s = parse("cron(0 9 1W * ? *)", "UTC").unwrap();
        assert_eq!(
            s.next_start(utc("2027-04-02T00:00:00Z"), None),
            Some(utc("2027-05-03T09:00:00Z"))
        );
    }

    /// Differential test: 10,000 generated expressions, evaluated here and
    /// by croner (an independent cron library, in Quartz weekday mode with
    /// seconds and years), must give the same next three and previous
    /// start. Intended differences, outside the generated subset and tested
    /// above: AWS's `L-n` and `LW` in day-of-month (croner has neither),
    /// the grammar's last year 2199 (croner searches to 5000), and `?`
    /// (croner reads it as `*`; AWS requires one of the two day fields to
    /// be `?`, so the other alone decides, as croner's AND mode does).
    #[test]
    fn agrees_with_an_independent_evaluator_on_10000_expressions() {
        use croner::parser::{CronParser, Seconds, Year};
        let parser = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Required)
            .alternative_weekdays(true)
            .dom_and_dow(true)
            .sloppy_ranges(true)
            .build();
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u32| -> u32 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % u64::from(n)) as u32
        };
        let mut compared = 0;
        for case in 0..10_000 {
            let (aws, quartz) = generate(&mut next);
            let ours = parse(&format!("cron({aws})"), "UTC")
                .unwrap_or_else(|e| panic!("case {case}: {aws}: {e}"));
            let theirs = parser.parse(&format!("0 {quartz}")).unwrap_or_else(|e| {
                panic!("case {case}: croner refused {quartz:?} (ours: {aws}): {e}")
            });
            let start = utc("2020-01-01T00:00:00Z")
                + Duration::minutes(i64::from(next(60 * 24 * 366 * 12)));
            let mut t = start;
            for k in 0..3 {
                let a = ours.next_start(t, None);
                let b = theirs
                    .find_next_occurrence(&t, false)
                    .ok()
                    .filter(|x| x.year() <= LAST_YEAR);
                assert_eq!(
                    a, b,
                    "case {case} next #{k} after {t}: cron({aws}) vs croner {quartz:?}"
                );
                match a {
                    Some(x) => t = x,
                    None => break,
                }
            }
            let a = ours.prev_start(start, None);
            let b = theirs
                .find_previous_occurrence(&start, true)
                .ok()
                .filter(|x| x.year() >= FIRST_YEAR);
            assert_eq!(
                a, b,
                "case {case} prev at {start}: cron({aws}) vs croner {quartz:?}"
            );
            compared += 1;
        }
        assert_eq!(compared, 10_000);
    }

    /// One expression in AWS's grammar and the same in croner's.
    fn generate(next: &mut impl FnMut(u32) -> u32) -> (String, String) {
        fn list(next: &mut impl FnMut(u32) -> u32, lo: u32, hi: u32) -> String {
            let parts = 1 + next(3);
            let one = |next: &mut dyn FnMut(u32) -> u32| -> String {
                let span = hi - lo + 1;
                let a = lo + next(span);
                let b = a + next(hi - a + 1);
                match next(6) {
                    0 => "*".into(),
                    1 => format!("{a}"),
                    2 => format!("{a}-{b}"),
                    3 => format!("{a}/{}", 1 + next(span)),
                    4 => format!("{a}-{b}/{}", 1 + next(span)),
                    _ => format!("*/{}", 1 + next(span)),
                }
            };
            let items: Vec<String> = (0..parts).map(|_| one(next)).collect();
            if items.iter().any(|i| i == "*") {
                "*".into()
            } else {
                items.join(",")
            }
        }
        const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        let minutes = list(next, 0, 59);
        let hours = list(next, 0, 23);
        let months = list(next, 1, 12);
        let year = match next(4) {
            0 => {
                let a = 2020 + next(12);
                format!("{a}-{}", a + next(6))
            }
            _ => "*".into(),
        };
        let (dom_a, dom_q, dow_a, dow_q) = if next(2) == 0 {
            let dom = match next(5) {
                0 => "L".to_string(),
                1 => format!("{}W", 1 + next(31)),
                _ => list(next, 1, 31),
            };
            (dom.clone(), dom, "?".to_string(), "*".to_string())
        } else {
            let d = 1 + next(7);
            let (a, q) = match next(6) {
                0 => (format!("{d}#{}", 1 + next(5)), format!("{d}#{}", 0)),
                1 => (format!("{d}L"), format!("{d}#L")),
                2 => ("L".to_string(), "7".to_string()),
                3 => {
                    let name = DAYS[(d - 1) as usize];
                    (name.to_string(), name.to_string())
                }
                _ => {
                    let l = list(next, 1, 7);
                    (l.clone(), l)
                }
            };
            let q = if a.contains('#') { a.clone() } else { q };
            ("?".to_string(), "*".to_string(), a, q)
        };
        (
            format!("{minutes} {hours} {dom_a} {months} {dow_a} {year}"),
            format!("{minutes} {hours} {dom_q} {months} {dow_q} {year}"),
        )
    }

    /// The original system's map (`src/resources/region-timezones.yaml` of
    /// jcjorel/clonesquad-ec2-pet-autoscaler @ 4ecf6e7): ours agrees on
    /// every region it lists, and every zone we name exists.
    #[test]
    fn region_zones_agree_with_the_original_system() {
        let original = [
            ("us-east-2", "America/New_York"),
            ("us-east-1", "America/New_York"),
            ("us-west-1", "America/Los_Angeles"),
            ("us-west-2", "America/Los_Angeles"),
            ("af-south-1", "Africa/Johannesburg"),
            ("ap-east-1", "Asia/Hong_Kong"),
            ("ap-south-1", "Asia/Kolkata"),
            ("ap-northeast-1", "Asia/Tokyo"),
            ("ap-northeast-2", "Asia/Seoul"),
            ("ap-northeast-3", "Asia/Tokyo"),
            ("ap-southeast-1", "Asia/Singapore"),
            ("ap-southeast-2", "Australia/Sydney"),
            ("ca-central-1", "America/Toronto"),
            ("eu-central-1", "Europe/Berlin"),
            ("eu-west-1", "Europe/Dublin"),
            ("eu-west-2", "Europe/London"),
            ("eu-west-3", "Europe/Paris"),
            ("eu-south-1", "Europe/Rome"),
            ("eu-north-1", "Europe/Stockholm"),
            ("me-south-1", "Asia/Bahrain"),
            ("sa-east-1", "America/Sao_Paulo"),
        ];
        for (region, zone) in original {
            assert_eq!(region_time_zone(region), Some(zone), "{region}");
        }
        for r in [
            "cn-north-1",
            "il-central-1",
            "ap-southeast-7",
            "mx-central-1",
        ] {
            let z = region_time_zone(r).unwrap();
            assert!(z.parse::<Tz>().is_ok(), "{r}: {z}");
        }
        assert_eq!(region_time_zone("xx-nowhere-1"), None);
    }
}
