//! Time: every form a time is read in and written out.
//!
//! Owns the bounds of a timestamp column, the parsing of the ISO 8601 forms
//! AWS prints (and epoch seconds), the one rounding rule below a
//! millisecond, and the stamps that name files: archives and run records
//! (`2026-11-22T03-00-00Z`, seconds) and query-copy versions
//! (`2026-11-22T03-00-00-000Z`, milliseconds). Snapshot ids (`2026-11-22-03`)
//! are history's own, hourly by design ([`crate::history::SnapshotId`]).

use chrono::{DateTime, NaiveDateTime, Utc};

/// The stamp in an archive's or a run record's name: sortable, second
/// precision, safe in any file name.
pub const FILE_STAMP: &str = "%Y-%m-%dT%H-%M-%SZ";
/// [`FILE_STAMP`] with milliseconds (query-copy versions).
const FILE_STAMP_MS: &str = "%Y-%m-%dT%H-%M-%S-%3fZ";
/// The length of a [`FILE_STAMP`].
pub const FILE_STAMP_LEN: usize = 20;

/// `ms` as a [`FILE_STAMP`]; a time outside chrono's range is the epoch.
pub fn file_stamp(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format(FILE_STAMP)
        .to_string()
}

/// `ms` as a [`FILE_STAMP`] with milliseconds.
pub fn file_stamp_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format(FILE_STAMP_MS)
        .to_string()
}

/// The time a name starts with, if it starts with a [`FILE_STAMP`].
pub fn parse_file_stamp(name: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(name.get(..FILE_STAMP_LEN)?, FILE_STAMP).ok()
}

/// RFC 3339 to the second, `Z` for UTC (what the daemon's API prints).
pub fn rfc3339_s(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The earliest and latest instants a timestamp column holds: years 0000 to
/// 9999, which every engine that reads the files (Athena, DuckDB, Spark) can
/// print. Anything outside is refused where it is parsed, never written.
pub const MIN_TIMESTAMP_MS: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/// Parses every ISO 8601 form AWS prints: date and time with minute, second
/// or fractional precision (`2019-02-03T02:00-08:00`, `2019-05-18T17:01Z`,
/// `2020-02-12T23:19:20.596Z`, `2024-04-25T02:57:56.123456+00:00`), a zone
/// of `Z`, `±hh:mm`, `±hhmm` or `±hh`, or none (UTC); `T`, `t` or a space
/// between date and time; a date alone is midnight UTC. Fractions beyond
/// milliseconds are rounded to the nearest millisecond, as epoch numbers
/// and the SDK's times are ([`round_nanos_to_ms`]), so one instant gives
/// one value whichever way it arrived. Out-of-range or impossible dates are
/// `None`.
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: &[u8]| -> Option<u32> {
        r.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(num(&b[0..4])?).ok()?,
        num(&b[5..7])?,
        num(&b[8..10])?,
    )?;
    let (mut h, mut m, mut sec, mut nanos) = (0, 0, 0, 0);
    let mut i = 10;
    if i < b.len() && matches!(b[i], b'T' | b't' | b' ') {
        let t = &b[i + 1..];
        if t.len() < 5 || t[2] != b':' {
            return None;
        }
        h = num(&t[0..2])?;
        m = num(&t[3..5])?;
        i += 6;
        if b.get(i) == Some(&b':') {
            sec = num(b.get(i + 1..i + 3)?)?;
            i += 3;
            if matches!(b.get(i), Some(b'.' | b',')) {
                i += 1;
                let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return None;
                }
                let kept = &b[i..i + digits.min(9)];
                nanos = num(kept)? * 10u32.pow(9 - kept.len() as u32);
                i += digits;
            }
        }
    }
    let zone = &b[i..];
    let offset_s: i64 = match zone {
        b"" | b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (hh, mm) = match rest {
                [a, b2] => (num(&[*a, *b2])?, 0),
                [a, b2, b':', c, d] | [a, b2, c, d] => (num(&[*a, *b2])?, num(&[*c, *d])?),
                _ => return None,
            };
            if hh > 23 || mm > 59 {
                return None;
            }
            let o = i64::from(hh * 3600 + mm * 60);
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let local = date.and_hms_opt(h, m, sec)?;
    let ms = local.and_utc().timestamp_millis() + round_nanos_to_ms(nanos) - offset_s * 1000;
    (MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS)
        .contains(&ms)
        .then_some(ms)
}

/// A fraction of a second in nanoseconds, rounded to the nearest
/// millisecond (half up): `767_999_887` is 768. The one rounding rule for
/// sub-millisecond times, whatever their source.
pub fn round_nanos_to_ms(nanos: u32) -> i64 {
    (i64::from(nanos) + 500_000) / 1_000_000
}

/// A timestamp as AWS prints it in JSON: an ISO 8601 string, or epoch
/// seconds as a number (the CLI prints Organizations' and DynamoDB's that way).
pub fn json_timestamp_ms(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::String(s) => parse_timestamp_ms(s),
        serde_json::Value::Number(n) => epoch_seconds_to_ms(n.as_f64()?),
        _ => None,
    }
}

pub fn epoch_seconds_to_ms(v: f64) -> Option<i64> {
    let ms = (v * 1000.0).round();
    (ms.is_finite() && (MIN_TIMESTAMP_MS as f64..=MAX_TIMESTAMP_MS as f64).contains(&ms))
        .then_some(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stamps_read_back_and_sort_by_time() {
        let t = parse_timestamp_ms("2026-11-22T03:04:05.678Z").unwrap();
        let s = file_stamp(t);
        assert_eq!(s, "2026-11-22T03-04-05Z");
        assert_eq!(s.len(), FILE_STAMP_LEN);
        assert_eq!(file_stamp_ms(t), "2026-11-22T03-04-05-678Z");
        let back = parse_file_stamp(&format!("{s}-scheduled-host-1.json")).unwrap();
        assert_eq!(back.and_utc().timestamp_millis(), t - 678);
        assert!(file_stamp(t) < file_stamp(t + 1000));
        assert_eq!(parse_file_stamp("2026-11-22"), None);
        assert_eq!(parse_file_stamp("notastamp-at-all-xxxxxxxx"), None);
        assert_eq!(rfc3339_s(t), "2026-11-22T03:04:05Z");
    }

    #[test]
    fn timestamps_in_aws_formats() {
        for (s, ms) in [
            ("2024-01-02T03:04:05+00:00", 1_704_164_645_000),
            ("2024-01-02T03:04:05.123Z", 1_704_164_645_123),
            ("2024-01-02T04:04:05+01:00", 1_704_164_645_000),
            ("2024-01-02T03:04:05", 1_704_164_645_000),
            ("2024-01-02T03:04:05.5+0000", 1_704_164_645_500),
            // The SSM user guide's own outputs: minute precision, with an offset or Z.
            ("2019-02-03T02:00-08:00", 1_549_188_000_000),
            ("2019-05-18T17:01Z", 1_558_198_860_000),
            ("2019-05-18T17:01:01.137Z", 1_558_198_861_137),
            ("2024-01-02T05:04:05+02", 1_704_164_645_000),
            ("2024-01-02 03:04:05.123456789Z", 1_704_164_645_123),
            ("2024-01-02t03:04:05,25z", 1_704_164_645_250),
            ("2024-01-02", 1_704_153_600_000),
            (" 2024-01-02T03:04:05Z ", 1_704_164_645_000),
            ("9999-12-31T23:59:59.999Z", MAX_TIMESTAMP_MS),
            ("0000-01-01T00:00:00Z", MIN_TIMESTAMP_MS),
        ] {
            assert_eq!(parse_timestamp_ms(s), Some(ms), "{s}");
        }
        for bad in [
            "2024-13-02T03:04:05Z",
            "2024-02-30T00:00Z",
            "2024-01-02T24:00Z",
            "2024-01-02T03:04:05+24:00",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03Z",
            "2024-01-02T03:04:05 UTC",
            "9999-12-31T23:59:59-01:00",
            "+10000-01-02T02:00:00.000Z",
            "1700000000",
            "",
        ] {
            assert_eq!(parse_timestamp_ms(bad), None, "{bad}");
        }
        assert_eq!(
            json_timestamp_ms(&serde_json::json!(1481756563.134)),
            Some(1_481_756_563_134)
        );
        assert_eq!(json_timestamp_ms(&serde_json::json!(1e300)), None);
    }
}
