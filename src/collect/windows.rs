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
//!   and lasts `Duration` hours. Disabled windows are listed but never open.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::{Naming, ScopeInputs};
use crate::error::Error;
use crate::record::parse_timestamp_ms;
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
    pub schedule: Result<Schedule, schedule::ScheduleError>,
    pub reported_next: Option<DateTime<Utc>>,
    pub tags: Vec<(String, String)>,
}

/// Every window of the scope, with its tags.
pub fn load(inputs: &dyn ScopeInputs) -> Result<Vec<Window>, Error> {
    let mut out = Vec::new();
    for doc in inputs.maintenance_windows()? {
        let origin = doc.origin.clone();
        let v = doc.into_value()?;
        let ids = v
            .get("WindowIdentities")
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
            let id = w
                .get("WindowId")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::input(&origin, at("WindowId"), "expected a string"))?;
            let tags = match inputs.window_tags(id)? {
                Some(doc) => {
                    let o = doc.origin.clone();
                    let t = doc.into_value()?;
                    let list = t.get("TagList").and_then(Value::as_array).ok_or_else(|| {
                        Error::input(&o, "$.TagList", "expected an array of tags")
                    })?;
                    list.iter()
                        .filter_map(|t| {
                            Some((
                                t.get("Key")?.as_str()?.to_string(),
                                t.get("Value")?.as_str().unwrap_or("").to_string(),
                            ))
                        })
                        .collect()
                }
                None => Vec::new(),
            };
            out.push(window(w, tags));
        }
    }
    Ok(out)
}

fn window(w: &Value, tags: Vec<(String, String)>) -> Window {
    let s = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let reported_next = w
        .get("NextExecutionTime")
        .and_then(Value::as_str)
        .and_then(parse_timestamp_ms)
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    let mut record = json!({
        "windowid": s("WindowId"),
        "name": s("Name"),
        "schedule": s("Schedule"),
        "scheduletimezone": w.get("ScheduleTimezone").cloned().unwrap_or(Value::Null),
        "duration": w.get("Duration").cloned().unwrap_or(Value::Null),
        "cutoff": w.get("Cutoff").cloned().unwrap_or(Value::Null),
        "enabled": w.get("Enabled").cloned().unwrap_or(Value::Null),
        "nextexecutiontime": w.get("NextExecutionTime").cloned().unwrap_or(Value::Null),
    });
    record["tags"] = Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    );
    Window {
        name: s("Name"),
        id: s("WindowId"),
        enabled: w.get("Enabled").and_then(Value::as_bool).unwrap_or(true),
        duration_h: w.get("Duration").and_then(Value::as_i64).unwrap_or(1),
        schedule: schedule::parse(&s("Schedule"), &s("ScheduleTimezone")),
        reported_next,
        tags,
        record,
    }
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

/// The current period of `w` if open at `now`, else its next one.
fn period(w: &Window, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let s = w.schedule.as_ref().ok()?;
    let len = Duration::hours(w.duration_h.max(0));
    if let Some(prev) = s.prev_start(now, w.reported_next) {
        if now < prev + len {
            return Some((prev, prev + len));
        }
    }
    let next = s
        .next_start(now, w.reported_next)
        .or(w.reported_next.filter(|t| *t > now))?;
    Some((next, next + len))
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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
            if let Err(e) = &w.schedule {
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
                period(w, now).map(|(start, end)| Period {
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
            let mut win = first.window.record.clone();
            if let Some(n) = first
                .window
                .schedule
                .as_ref()
                .ok()
                .and_then(|s| s.next_start(now, first.window.reported_next))
            {
                win["nextexecutiontime"] = json!(ts(n));
            }
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
            .map(|(w, _)| {
                let mut r = w.record.clone();
                if r["nextexecutiontime"].is_null() && w.enabled {
                    if let Some(n) = w
                        .schedule
                        .as_ref()
                        .ok()
                        .and_then(|s| s.next_start(now, w.reported_next))
                    {
                        r["nextexecutiontime"] = json!(ts(n));
                    }
                }
                r
            })
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
    }

    fn at(s: &str) -> i64 {
        parse_timestamp_ms(s).unwrap()
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
}
