//! Which SSM maintenance windows apply to which fleet, and when the next
//! maintenance period is.
//!
//! The rule, as implemented (CloneSquad's naming convention):
//! - `CS-GlobalDefaultMaintenanceWindow` applies to every fleet of every group
//!   in the account/region, and needs no tag;
//! - every other window applies only if it carries the group tag
//!   (`clonesquad:group-name={group}` by default), and then:
//!   - `CS-{group}` applies to every fleet of the group,
//!   - `CS-{group}-Mainfleet` to the main fleet (`__main__`),
//!   - `CS-{group}-Subfleet.__all__` to every subfleet,
//!   - `CS-{group}-Subfleet.{name}` to that subfleet.
//! - Windows are cumulative: a fleet is in maintenance when any enabled
//!   matching window is open; overlapping or touching periods are merged.
//! - A period starts at each schedule occurrence (in the window's time zone)
//!   plus `ScheduleOffset` days (cron only, as SSM applies it) and lasts
//!   `Duration` hours. No period starts before `StartDate`, none starts after
//!   `EndDate`, and a period that reaches past `EndDate` ends there: a window
//!   past its end date is never open and has no next start.
//! - Disabled windows are listed but never open.
//! - SSM's own `NextExecutionTime` is kept as SSM gave it
//!   (`nextexecutiontime`); ours is `computednextexecutiontime`.

use crate::calls::ssm::{DESCRIBE_MAINTENANCE_WINDOWS, LIST_WINDOW_TAGS};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use crate::documents::{field, Naming, ScopeInputs};
use crate::error::Error;
use crate::time::{json_timestamp_ms, MAX_TIMESTAMP_MS};

/// Whether a computed time can be written (a timestamp column holds years 0 to 9999).
fn representable(t: DateTime<Utc>) -> bool {
    t.timestamp_millis() <= MAX_TIMESTAMP_MS
}
use crate::schedule::{self, Schedule};

pub const MAIN_FLEET: &str = "__main__";
pub const GLOBAL_DEFAULT: &str = "CS-GlobalDefaultMaintenanceWindow";

/// A window with its tags, as the table stores it.
#[derive(Debug, Clone)]
pub struct Window {
    pub record: Value,
    pub name: String,
    pub id: String,
    pub enabled: bool,
    pub duration_h: i64,
    /// `None` when SSM gave no schedule (its outputs may omit it).
    pub schedule: Option<Result<Schedule, schedule::ScheduleError>>,
    /// `ScheduleOffset`: days after each cron occurrence.
    pub offset_days: i64,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub reported_next: Option<DateTime<Utc>>,
    pub tags: Vec<(String, String)>,
}

/// Every window of the scope, with its tags.
pub fn load(inputs: &dyn ScopeInputs) -> Result<Vec<Window>, Error> {
    let mut out = Vec::new();
    for (origin, v) in inputs.values(&DESCRIBE_MAINTENANCE_WINDOWS)? {
        let ids = field(&v, "WindowIdentities")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::input(
                    &origin,
                    "$.WindowIdentities",
                    "expected an array of windows",
                )
            })?;
        for (i, w) in ids.iter().enumerate() {
            let at = |f: &str| format!("$.WindowIdentities[{i}].{f}");
            let id = field(w, "WindowId")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::input(&origin, at("WindowId"), "expected a string"))?;
            let tags = match inputs.answer(&LIST_WINDOW_TAGS, id)? {
                Some(doc) => {
                    let o = doc.origin.clone();
                    let t = doc.into_value()?;
                    let list = field(&t, "TagList")
                        .and_then(Value::as_array)
                        .ok_or_else(|| {
                            Error::input(&o, "$.TagList", "expected an array of tags")
                        })?;
                    list.iter()
                        .filter_map(|t| {
                            Some((
                                field(t, "Key")?.as_str()?.to_string(),
                                field(t, "Value")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string(),
                            ))
                        })
                        .collect()
                }
                None => Vec::new(),
            };
            out.push(window(w, tags).map_err(|(f, m)| Error::input(&origin, at(f), m))?);
        }
    }
    Ok(out)
}

/// A timestamp field of a window: absent or null is `None`; anything else
/// must be a time AWS would print.
fn time_field(
    w: &Value,
    name: &'static str,
) -> Result<Option<DateTime<Utc>>, (&'static str, String)> {
    match field(w, name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => json_timestamp_ms(v)
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .map(Some)
            .ok_or_else(|| (name, format!("expected a timestamp, found {v}"))),
    }
}

fn window(w: &Value, tags: Vec<(String, String)>) -> Result<Window, (&'static str, String)> {
    let s = |k: &str| {
        field(w, k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let get = |k: &str| field(w, k).cloned().unwrap_or(Value::Null);
    let reported_next = time_field(w, "NextExecutionTime")?;
    let start_date = time_field(w, "StartDate")?;
    let end_date = time_field(w, "EndDate")?;
    let offset_days = match field(w, "ScheduleOffset") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .filter(|d| (0..=6).contains(d))
            .ok_or(("ScheduleOffset", format!("expected 0 to 6 days, found {v}")))?,
    };
    let mut record = json!({
        "windowid": get("WindowId"),
        "name": get("Name"),
        "description": get("Description"),
        "schedule": get("Schedule"),
        "scheduletimezone": get("ScheduleTimezone"),
        "duration": get("Duration"),
        "cutoff": get("Cutoff"),
        "scheduleoffset": get("ScheduleOffset"),
        "startdate": get("StartDate"),
        "enddate": get("EndDate"),
        "enabled": get("Enabled"),
        "nextexecutiontime": get("NextExecutionTime"),
    });
    record["tags"] = Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    );
    Ok(Window {
        name: s("Name"),
        id: s("WindowId"),
        enabled: field(w, "Enabled").and_then(Value::as_bool).unwrap_or(true),
        duration_h: field(w, "Duration").and_then(Value::as_i64).unwrap_or(1),
        schedule: Some(s("Schedule"))
            .filter(|e| !e.trim().is_empty())
            .map(|e| schedule::parse(&e, &s("ScheduleTimezone"))),
        offset_days,
        start_date,
        end_date,
        reported_next,
        tags,
        record,
    })
}

/// Why `w` applies to `fleet` of `group`, or None.
pub fn applies(w: &Window, naming: &Naming, group: &str, fleet: &str) -> Option<String> {
    if w.name == GLOBAL_DEFAULT {
        return Some(format!(
            "{GLOBAL_DEFAULT} applies to every fleet of the account and region"
        ));
    }
    let tagged = w
        .tags
        .iter()
        .any(|(k, v)| *k == naming.group_tag && v == group);
    if !tagged {
        return None;
    }
    let base = format!("CS-{group}");
    let rest = w.name.strip_prefix(&base)?;
    let main = fleet == MAIN_FLEET;
    match rest {
        "" => Some(format!(
            "{} applies to every fleet of group {group}",
            w.name
        )),
        "-Mainfleet" if main => Some(format!("{} applies to the main fleet", w.name)),
        "-Subfleet.__all__" if !main => Some(format!("{} applies to every subfleet", w.name)),
        r if !main && r.strip_prefix("-Subfleet.") == Some(fleet) => {
            Some(format!("{} applies to subfleet {fleet}", w.name))
        }
        _ => None,
    }
}

struct Period<'w> {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    window: &'w Window,
    why: String,
}

impl Window {
    /// `ScheduleOffset` as SSM applies it: to cron schedules only.
    fn offset(&self) -> Duration {
        match self.schedule {
            Some(Ok(Schedule::Cron(..))) => Duration::days(self.offset_days),
            _ => Duration::zero(),
        }
    }

    /// Whether a period may start at `t` (within `StartDate`..=`EndDate`).
    fn may_start(&self, t: DateTime<Utc>) -> bool {
        self.start_date.is_none_or(|s| t >= s) && self.end_date.is_none_or(|e| t <= e)
    }

    /// The end of a period that starts at `start`: `Duration` hours, cut at
    /// `EndDate` and at the last instant a timestamp column holds.
    fn period_end(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        let end = start + Duration::hours(self.duration_h.clamp(0, 24 * 366));
        let last = Utc
            .timestamp_millis_opt(MAX_TIMESTAMP_MS)
            .single()
            .expect("in range");
        self.end_date.map_or(end, |e| end.min(e)).min(last)
    }

    /// The first start strictly after `now`, by the schedule, the offset and
    /// the active dates; `None` when the window never starts again. Without
    /// a schedule, SSM's own next start is all there is to go by.
    pub fn next_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Some(Ok(s)) = &self.schedule else {
            return self
                .reported_next
                .filter(|t| *t > now && self.may_start(*t));
        };
        let off = self.offset();
        // The first start at or after StartDate counts: search from just before it.
        let from = match self.start_date {
            Some(sd) if sd > now => sd - Duration::milliseconds(1),
            _ => now,
        };
        let next = s.next_start(from - off, self.reported_next)? + off;
        (self.may_start(next) && representable(next)).then_some(next)
    }

    /// The current period of the window if open at `now`, else its next one.
    fn period(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let off = self.offset();
        let prev = match &self.schedule {
            Some(Ok(s)) => s.prev_start(now - off, self.reported_next).map(|p| p + off),
            _ => None,
        };
        if let Some(prev) = prev {
            let end = self.period_end(prev);
            if self.may_start(prev) && now < end {
                return Some((prev, end));
            }
        }
        let next = self.next_start(now)?;
        Some((next, self.period_end(next)))
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The window as the table lists it: SSM's fields untouched, plus the next
/// start we compute (enabled windows only).
fn listed_record(w: &Window, now: DateTime<Utc>) -> Value {
    let mut r = w.record.clone();
    let next = w.enabled.then(|| w.next_start(now)).flatten();
    r["computednextexecutiontime"] = next.map(|n| json!(ts(n))).unwrap_or(Value::Null);
    r
}

/// One `maintenance_windows` row per fleet of `group`.
pub fn fleet_rows(
    windows: &[Window],
    naming: &Naming,
    group: &str,
    subfleets: &[String],
    now_ms: i64,
) -> Result<Vec<Value>, Error> {
    let now = Utc
        .timestamp_millis_opt(now_ms)
        .single()
        .unwrap_or_else(Utc::now);
    let fleets = std::iter::once(MAIN_FLEET).chain(subfleets.iter().map(String::as_str));
    let mut rows = Vec::new();
    for fleet in fleets {
        let matching: Vec<(&Window, String)> = windows
            .iter()
            .filter_map(|w| applies(w, naming, group, fleet).map(|why| (w, why)))
            .collect();
        for (w, _) in &matching {
            if let Some(Err(e)) = &w.schedule {
                return Err(Error::input(
                    format!("SSM maintenance window {} ({})", w.id, w.name),
                    "$.Schedule",
                    e,
                ));
            }
        }
        let mut periods: Vec<Period> = matching
            .iter()
            .filter(|(w, _)| w.enabled)
            .filter_map(|(w, why)| {
                w.period(now).map(|(start, end)| Period {
                    start,
                    end,
                    window: w,
                    why: why.clone(),
                })
            })
            .collect();
        periods.sort_by_key(|p| (p.start, p.window.name.clone()));
        let mut next = Value::Null;
        let mut open = false;
        if let Some(first) = periods.first() {
            let mut end = first.end;
            for p in &periods[1..] {
                if p.start <= end {
                    end = end.max(p.end);
                }
            }
            open = first.start <= now && now < end;
            let win = listed_record(first.window, now);
            let msg = if open {
                format!(
                    "In maintenance until {} (window {})",
                    ts(end),
                    first.window.name
                )
            } else {
                format!(
                    "Next maintenance from {} to {} (window {})",
                    ts(first.start),
                    ts(end),
                    first.window.name
                )
            };
            next = json!({
                "starttime": ts(first.start), "endtime": ts(end),
                "matchingwindow": win, "matchingwindowmessage": first.why, "nextwindowmessage": msg,
            });
        }
        let listed: Vec<Value> = matching
            .iter()
            .map(|(w, _)| listed_record(w, now))
            .collect();
        rows.push(json!({
            "fleet": fleet,
            "maintenancewindows": listed,
            "ismaintenancetime": open,
            "nextmaintenancewindowdetails": next,
        }));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: &str, sched: &str, dur: i64, tag_group: Option<&str>) -> Window {
        let tags = tag_group
            .map(|g| vec![("clonesquad:group-name".to_string(), g.to_string())])
            .unwrap_or_default();
        window(
            &json!({"WindowId": format!("mw-{name}"), "Name": name, "Schedule": sched, "Duration": dur, "Cutoff": 0, "Enabled": true}),
            tags,
        )
        .unwrap()
    }

    fn at(s: &str) -> i64 {
        crate::time::parse_timestamp_ms(s).unwrap()
    }

    #[test]
    fn naming_rule_selects_windows_per_fleet() {
        let n = Naming::default();
        let ws = [
            w(GLOBAL_DEFAULT, "cron(0 2 ? * SUN *)", 2, None),
            w("CS-web", "cron(0 3 ? * MON *)", 1, Some("web")),
            w("CS-web-Mainfleet", "cron(0 4 ? * MON *)", 1, Some("web")),
            w(
                "CS-web-Subfleet.__all__",
                "cron(0 5 ? * MON *)",
                1,
                Some("web"),
            ),
            w(
                "CS-web-Subfleet.batch",
                "cron(0 6 ? * MON *)",
                1,
                Some("web"),
            ),
            w(
                "CS-web-Subfleet.other",
                "cron(0 6 ? * MON *)",
                1,
                Some("web"),
            ),
            w("CS-web-Mainfleet", "cron(0 7 ? * MON *)", 1, None),
            w("CS-api", "cron(0 8 ? * MON *)", 1, Some("api")),
        ];
        let names = |fleet: &str| -> Vec<String> {
            ws.iter()
                .filter(|x| applies(x, &n, "web", fleet).is_some())
                .map(|x| x.name.clone())
                .collect()
        };
        assert_eq!(
            names(MAIN_FLEET),
            vec![GLOBAL_DEFAULT, "CS-web", "CS-web-Mainfleet"]
        );
        assert_eq!(
            names("batch"),
            vec![
                GLOBAL_DEFAULT,
                "CS-web",
                "CS-web-Subfleet.__all__",
                "CS-web-Subfleet.batch"
            ]
        );
    }

    #[test]
    fn periods_are_cumulative_and_open_now_is_detected() {
        let n = Naming::default();
        let ws = vec![
            w(GLOBAL_DEFAULT, "cron(0 2 ? * SUN *)", 2, None),
            w("CS-web", "cron(0 3 ? * SUN *)", 2, Some("web")),
        ];
        // Sunday 2026-11-22 03:30 UTC: both windows open, merged 02:00-05:00.
        let rows = fleet_rows(
            &ws,
            &n,
            "web",
            &["batch".into()],
            at("2026-11-22T03:30:00Z"),
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["fleet"], MAIN_FLEET);
        assert_eq!(rows[0]["ismaintenancetime"], true);
        let d = &rows[0]["nextmaintenancewindowdetails"];
        assert_eq!(d["starttime"], "2026-11-22T02:00:00.000Z");
        assert_eq!(d["endtime"], "2026-11-22T05:00:00.000Z");
        assert_eq!(d["matchingwindow"]["name"], GLOBAL_DEFAULT);
        // Later that day: nothing open; next is the following Sunday.
        let rows = fleet_rows(&ws, &n, "web", &[], at("2026-11-22T06:00:00Z")).unwrap();
        assert_eq!(rows[0]["ismaintenancetime"], false);
        assert_eq!(
            rows[0]["nextmaintenancewindowdetails"]["starttime"],
            "2026-11-29T02:00:00.000Z"
        );
        // No window at all: listed empty, details null.
        let rows = fleet_rows(&[], &n, "web", &[], at("2026-11-22T06:00:00Z")).unwrap();
        assert_eq!(rows[0]["maintenancewindows"], json!([]));
        assert!(rows[0]["nextmaintenancewindowdetails"].is_null());
    }

    #[test]
    fn times_past_year_9999_are_never_produced() {
        let ws = vec![w(GLOBAL_DEFAULT, "cron(0 2 ? * SUN *)", 2, None)];
        let rows = fleet_rows(&ws, &Naming::default(), "web", &[], MAX_TIMESTAMP_MS).unwrap();
        assert!(
            rows[0]["nextmaintenancewindowdetails"].is_null(),
            "{}",
            rows[0]
        );
        assert!(rows[0]["maintenancewindows"][0]["computednextexecutiontime"].is_null());
    }

    #[test]
    fn a_bad_schedule_is_an_error_naming_the_window() {
        let ws = vec![w("CS-web", "cron(0 99 ? * SUN *)", 1, Some("web"))];
        let e = fleet_rows(&ws, &Naming::default(), "web", &[], 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mw-CS-web") && e.contains("cron(0 99 ? * SUN *)"),
            "{e}"
        );
    }

    fn win(extra: Value) -> Window {
        let mut w = json!({"WindowId": "mw-1", "Name": "CS-web", "Schedule": "cron(0 2 ? * SUN *)",
            "Duration": 2, "Cutoff": 0, "Enabled": true});
        w.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        window(&w, vec![("clonesquad:group-name".into(), "web".into())]).unwrap()
    }

    fn one_row(w: Window, now: &str) -> Value {
        fleet_rows(&[w], &Naming::default(), "web", &[], at(now))
            .unwrap()
            .remove(0)
    }

    #[test]
    fn schedule_offset_moves_every_period_by_whole_days() {
        // Sunday 02:00 + 2 days = Tuesday 02:00 (2026-11-24).
        let r = one_row(win(json!({"ScheduleOffset": 2})), "2026-11-23T12:00:00Z");
        let d = &r["nextmaintenancewindowdetails"];
        assert_eq!(d["starttime"], "2026-11-24T02:00:00.000Z");
        assert_eq!(r["ismaintenancetime"], false);
        // During the shifted period it is open; on the Sunday itself it is not.
        assert_eq!(
            one_row(win(json!({"ScheduleOffset": 2})), "2026-11-24T03:00:00Z")["ismaintenancetime"],
            true
        );
        assert_eq!(
            one_row(win(json!({"ScheduleOffset": 2})), "2026-11-22T03:00:00Z")["ismaintenancetime"],
            false
        );
        assert!(window(&json!({"ScheduleOffset": 9}), vec![])
            .unwrap_err()
            .1
            .contains("0 to 6"));
    }

    #[test]
    fn a_window_past_its_end_date_is_inactive_with_no_next_start() {
        let w = win(
            json!({"EndDate": "2026-11-01T00:00Z", "NextExecutionTime": "2026-11-01T02:00-08:00"}),
        );
        let r = one_row(w, "2026-11-22T03:00:00Z");
        assert_eq!(r["ismaintenancetime"], false);
        assert!(r["nextmaintenancewindowdetails"].is_null());
        let listed = &r["maintenancewindows"][0];
        assert!(listed["computednextexecutiontime"].is_null());
        // SSM's own value is kept as SSM gave it.
        assert_eq!(listed["nextexecutiontime"], "2026-11-01T02:00-08:00");
        // A period running into the end date ends there.
        let w = win(json!({"EndDate": "2026-11-22T03:00Z"}));
        let r = one_row(w, "2026-11-22T02:30:00Z");
        assert_eq!(r["ismaintenancetime"], true);
        assert_eq!(
            r["nextmaintenancewindowdetails"]["endtime"],
            "2026-11-22T03:00:00.000Z"
        );
    }

    #[test]
    fn no_period_starts_before_the_start_date() {
        let w = win(json!({"StartDate": "2026-12-10T00:00:00+01:00"}));
        let r = one_row(w, "2026-11-22T03:00:00Z");
        assert_eq!(r["ismaintenancetime"], false, "the Sunday before StartDate");
        assert_eq!(
            r["nextmaintenancewindowdetails"]["starttime"],
            "2026-12-13T02:00:00.000Z"
        );
        assert_eq!(
            r["maintenancewindows"][0]["computednextexecutiontime"],
            "2026-12-13T02:00:00.000Z"
        );
        // Exactly at StartDate, an occurrence counts.
        let w = win(json!({"StartDate": "2026-12-13T02:00:00Z"}));
        let r = one_row(w, "2026-12-01T00:00:00Z");
        assert_eq!(
            r["nextmaintenancewindowdetails"]["starttime"],
            "2026-12-13T02:00:00.000Z"
        );
    }

    #[test]
    fn ssm_next_execution_time_is_never_overwritten() {
        let w = win(json!({"NextExecutionTime": "2019-02-03T02:00-08:00"}));
        let r = one_row(w, "2026-11-23T00:00:00Z");
        let listed = &r["maintenancewindows"][0];
        assert_eq!(listed["nextexecutiontime"], "2019-02-03T02:00-08:00");
        assert_eq!(
            listed["computednextexecutiontime"],
            "2026-11-29T02:00:00.000Z"
        );
        let m = &r["nextmaintenancewindowdetails"]["matchingwindow"];
        assert_eq!(m["nextexecutiontime"], "2019-02-03T02:00-08:00");
        // A malformed time names the field.
        let e = window(&json!({"NextExecutionTime": "soon"}), vec![]).unwrap_err();
        assert_eq!(e.0, "NextExecutionTime");
        // Field names match whatever their case.
        // Without a schedule (SSM's own examples omit it), SSM's next start is used.
        let w = win(json!({"Schedule": null, "NextExecutionTime": "2026-11-23T02:00-08:00"}));
        let r = one_row(w, "2026-11-23T00:00:00Z");
        assert_eq!(
            r["nextmaintenancewindowdetails"]["starttime"],
            "2026-11-23T10:00:00.000Z"
        );
        let w = window(
            &json!({"windowid": "mw-2", "NAME": "CS-web", "schedule": "rate(1 day)", "enabled": false}),
            vec![],
        )
        .unwrap();
        assert_eq!(
            (w.id.as_str(), w.name.as_str(), w.enabled),
            ("mw-2", "CS-web", false)
        );
    }
}
