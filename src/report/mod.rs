//! The governance picture: what an export holds, aggregated for a person.
//!
//! Owns [`gather`], which reads the query-ready copy (`crate::consolidated`)
//! and the newest run record and history snapshots of a destination, and
//! reduces them to [`Picture`]: counts and short lists, never the
//! instances one by one, so the page stays small at any size of
//! organisation. [`page`] renders it as one self-contained HTML file.

pub mod page;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch, StructArray};
use serde_json::Value;

use crate::error::Error;
use crate::history::{self, diff};
use crate::sink::Destination;
use crate::tables::{self, Table};

/// The largest table file of the copy read (the instances of 10,000
/// accounts take about 60 MB).
const MAX_TABLE_BYTES: u64 = 2 << 30;
/// Rows a list shows before it says how many more there are.
pub const LIST_ROWS: usize = 200;
/// Changes listed from the newest history diff.
const CHANGES_LISTED: usize = 50;
/// Maintenance windows within this many days are on the timeline.
pub const TIMELINE_DAYS: i64 = 7;

/// A count by label, largest first.
pub type Counts = Vec<(String, u64)>;

/// One group (a CloneSquad deployment).
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub accountid: String,
    pub accountname: String,
    pub region: String,
    pub groupname: String,
    pub version: String,
    pub backup_schedule: String,
    pub backup_zone: String,
    pub last_backup_ms: Option<i64>,
    pub next_backup_ms: Option<i64>,
    pub configuration_pitr: Option<bool>,
    pub scheduler_pitr: Option<bool>,
}

impl Group {
    /// A backup is overdue when the next one was due before now.
    pub fn overdue(&self, now_ms: i64) -> bool {
        self.next_backup_ms.is_some_and(|t| t < now_ms)
    }

    /// Tables without point-in-time recovery.
    pub fn without_pitr(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.configuration_pitr == Some(false) {
            v.push("configuration");
        }
        if self.scheduler_pitr == Some(false) {
            v.push("scheduler");
        }
        v
    }
}

/// One fleet's maintenance window occurrence.
#[derive(Debug, Clone)]
pub struct Window {
    pub accountid: String,
    pub region: String,
    pub groupname: String,
    pub fleet: String,
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// A fleet reachable from the internet.
#[derive(Debug, Clone)]
pub struct OpenFleet {
    pub accountid: String,
    pub region: String,
    pub groupname: String,
    pub fleet: String,
    pub security_group: String,
    pub security_group_name: String,
    pub open_ports: String,
    pub instances: u64,
}

/// The newest run record, as `serve` and `export` write them under `runs/`.
#[derive(Debug, Clone, Default)]
pub struct LastRun {
    pub id: String,
    pub status: String,
    pub started: String,
    pub seconds: f64,
    /// `(scope or group, error)`.
    pub failures: Vec<(String, String)>,
}

/// What changed between the two newest history snapshots.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub from: String,
    pub to: String,
    /// `(table, added, removed, changed)`.
    pub counts: Vec<(&'static str, u64, u64, u64)>,
    /// `(table, kind, key, columns)` of the first changes.
    pub listed: Vec<(&'static str, &'static str, String, String)>,
    pub total: u64,
}

/// Everything the page shows.
#[derive(Debug, Clone, Default)]
pub struct Picture {
    pub destination: String,
    pub version: String,
    pub now_ms: i64,
    pub accounts: u64,
    pub instances: u64,
    pub running: u64,
    pub by_account: Counts,
    pub by_ou: Counts,
    pub by_region: Counts,
    pub by_type: Counts,
    pub by_state: Counts,
    pub groups: Vec<Group>,
    /// Groups no maintenance window targets: `(account, region, group)`.
    pub without_window: Vec<(String, String, String)>,
    pub upcoming: Vec<Window>,
    pub in_maintenance: Vec<Window>,
    pub open: Vec<OpenFleet>,
    pub last_run: Option<LastRun>,
    pub changes: Option<Changes>,
}

/// Calls `f` with each batch of table `t` in copy version `v`, one at a
/// time and with only `columns` decoded, so memory holds the file and one
/// batch of what the page needs.
fn each_batch(
    dest: &dyn Destination,
    t: &'static Table,
    v: &str,
    columns: &[&str],
    mut f: impl FnMut(&RecordBatch),
) -> Result<(), Error> {
    let path = crate::consolidated::table_file(t.name, v);
    let def = history::history_def(t);
    match history::read::batches_of(dest, &path, def, MAX_TABLE_BYTES, Some(columns)) {
        Ok(it) => {
            for b in it {
                f(&b?);
            }
            Ok(())
        }
        // A copy made before the table existed.
        Err(Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Column access by name; a column the file lacks reads as null.
struct Cols<'b>(&'b RecordBatch);

impl<'b> Cols<'b> {
    fn str(&self, name: &str, i: usize) -> String {
        self.opt_str(name, i).unwrap_or_default()
    }
    fn opt_str(&self, name: &str, i: usize) -> Option<String> {
        let c = self.0.column_by_name(name)?;
        let a = c.as_string_opt::<i32>()?;
        a.is_valid(i).then(|| a.value(i).to_string())
    }
    fn time(&self, name: &str, i: usize) -> Option<i64> {
        let a = self.0.column_by_name(name)?;
        let a = a.as_primitive_opt::<TimestampMillisecondType>()?;
        a.is_valid(i).then(|| a.value(i))
    }
    fn bool(&self, name: &str, i: usize) -> Option<bool> {
        let a = self.0.column_by_name(name)?.as_boolean_opt()?;
        a.is_valid(i).then(|| a.value(i))
    }
    fn strukt(&self, name: &str) -> Option<&'b StructArray> {
        self.0.column_by_name(name)?.as_struct_opt()
    }
}

fn field_str(s: &StructArray, name: &str, i: usize) -> Option<String> {
    let a = s.column_by_name(name)?.as_string_opt::<i32>()?;
    (s.is_valid(i) && a.is_valid(i)).then(|| a.value(i).to_string())
}

fn field_time(s: &StructArray, name: &str, i: usize) -> Option<i64> {
    let a = s
        .column_by_name(name)?
        .as_primitive_opt::<TimestampMillisecondType>()?;
    (s.is_valid(i) && a.is_valid(i)).then(|| a.value(i))
}

pub(crate) fn sorted(m: HashMap<String, u64>) -> Counts {
    let mut v: Counts = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The fleet an instance belongs to, named as the maintenance windows
/// table names it: its subfleet, or the main fleet.
fn fleet_of(subfleet: Option<String>) -> String {
    match subfleet {
        Some(s) if !s.is_empty() => s,
        _ => tables::MAIN_FLEET.to_string(),
    }
}

/// The page of the export at `dest`, as of `at_ms`.
pub fn html(dest: &dyn Destination, at_ms: i64) -> Result<String, Error> {
    Ok(page::render(&gather(dest, at_ms)?))
}

/// The picture of the export at `dest`, at `now_ms`.
pub fn gather(dest: &dyn Destination, now_ms: i64) -> Result<Picture, Error> {
    let version = crate::consolidated::current(dest)?.ok_or_else(|| {
        Error::Usage(format!(
            "{}: no query-ready copy under query/ (every export that is not a shard writes one; \
             `fleetcmdb consolidate --out {}` writes it from metadata/)",
            dest.url(),
            dest.url()
        ))
    })?;
    let mut p = Picture {
        destination: dest.url(),
        version: version.clone(),
        now_ms,
        ..Picture::default()
    };
    // Accounts: names and OU paths.
    let mut ou_of: HashMap<String, String> = HashMap::new();
    let mut name_of: HashMap<String, String> = HashMap::new();
    let columns = ["accountid", "oupath", "accountname"];
    each_batch(dest, &tables::ACCOUNTS, &version, &columns, |b| {
        let c = Cols(b);
        for i in 0..b.num_rows() {
            let id = c.str("accountid", i);
            ou_of.insert(
                id.clone(),
                c.opt_str("oupath", i).unwrap_or_else(|| "(unknown)".into()),
            );
            if let Some(n) = c.opt_str("accountname", i) {
                name_of.insert(id, n);
            }
        }
    })?;
    p.accounts = ou_of.len() as u64;
    // Groups, with their backups.
    let columns = [
        "accountid",
        "region",
        "groupname",
        "accountname",
        "clonesquadversion",
        "backupschedule",
        "backuptimezone",
        "lastbackuptime",
        "nextbackuptime",
        "configurationtablepitr",
        "schedulertablepitr",
    ];
    each_batch(dest, &tables::DISCOVERY, &version, &columns, |b| {
        let c = Cols(b);
        for i in 0..b.num_rows() {
            let accountid = c.str("accountid", i);
            let accountname = c
                .opt_str("accountname", i)
                .or_else(|| name_of.get(&accountid).cloned())
                .unwrap_or_default();
            p.groups.push(Group {
                accountname,
                accountid,
                region: c.str("region", i),
                groupname: c.str("groupname", i),
                version: c.str("clonesquadversion", i),
                backup_schedule: c.str("backupschedule", i),
                backup_zone: c.str("backuptimezone", i),
                last_backup_ms: c.time("lastbackuptime", i),
                next_backup_ms: c.time("nextbackuptime", i),
                configuration_pitr: c.bool("configurationtablepitr", i),
                scheduler_pitr: c.bool("schedulertablepitr", i),
            });
        }
    })?;
    p.groups.sort_by(|a, b| {
        (&a.accountid, &a.region, &a.groupname).cmp(&(&b.accountid, &b.region, &b.groupname))
    });
    // Instances: counts only; the security groups each fleet uses.
    // Every account has its bar, one that runs nothing too (at 0).
    let mut acct: HashMap<String, u64> = ou_of
        .keys()
        .map(|a| match name_of.get(a) {
            Some(n) => (format!("{n} ({a})"), 0),
            None => (a.clone(), 0),
        })
        .collect();
    let mut ou: HashMap<String, u64> = HashMap::new();
    let mut region: HashMap<String, u64> = HashMap::new();
    let mut itype: HashMap<String, u64> = HashMap::new();
    let mut state: HashMap<String, u64> = HashMap::new();
    // (account, region, group, security group) -> fleet -> instances
    let mut uses: HashMap<(String, String, String, String), BTreeMap<String, u64>> = HashMap::new();
    let columns = [
        "accountid",
        "region",
        "groupname",
        "instancetype",
        "state",
        "_subfleetname",
        "securitygroups",
    ];
    each_batch(dest, &tables::INSTANCES, &version, &columns, |b| {
        let c = Cols(b);
        let st = c.strukt("state");
        let sgs = b
            .column_by_name("securitygroups")
            .and_then(|a| a.as_list_opt::<i32>());
        for i in 0..b.num_rows() {
            let a = c.str("accountid", i);
            let label = match name_of.get(&a) {
                Some(n) => format!("{n} ({a})"),
                None => a.clone(),
            };
            *acct.entry(label).or_default() += 1;
            let o = ou_of.get(&a).cloned().unwrap_or_else(|| "(unknown)".into());
            *ou.entry(o).or_default() += 1;
            let r = c.str("region", i);
            *region.entry(r.clone()).or_default() += 1;
            *itype
                .entry(
                    c.opt_str("instancetype", i)
                        .unwrap_or_else(|| "(none)".into()),
                )
                .or_default() += 1;
            let s = st
                .and_then(|s| field_str(s, "name", i))
                .unwrap_or_else(|| "(unknown)".into());
            if s == "running" {
                p.running += 1;
            }
            *state.entry(s).or_default() += 1;
            p.instances += 1;
            if let Some(list) = sgs.filter(|l| l.is_valid(i)) {
                let v = list.value(i);
                let Some(v) = v.as_struct_opt() else { continue };
                let g = c.str("groupname", i);
                let fleet = fleet_of(c.opt_str("_subfleetname", i));
                for j in 0..v.len() {
                    if let Some(id) = field_str(v, "groupid", j) {
                        *uses
                            .entry((a.clone(), r.clone(), g.clone(), id))
                            .or_default()
                            .entry(fleet.clone())
                            .or_default() += 1;
                    }
                }
            }
        }
    })?;
    p.by_account = sorted(acct);
    p.by_ou = sorted(ou);
    p.by_region = sorted(region);
    p.by_type = sorted(itype);
    p.by_state = sorted(state);
    // Maintenance.
    let mut with_window: BTreeSet<(String, String, String)> = BTreeSet::new();
    let horizon = now_ms.saturating_add(TIMELINE_DAYS * 86_400_000);
    let columns = [
        "accountid",
        "region",
        "groupname",
        "fleet",
        "maintenancewindows",
        "nextmaintenancewindowdetails",
    ];
    each_batch(
        dest,
        &tables::MAINTENANCE_WINDOWS,
        &version,
        &columns,
        |b| {
            let c = Cols(b);
            let windows = b
                .column_by_name("maintenancewindows")
                .and_then(|a| a.as_list_opt::<i32>());
            let next = c.strukt("nextmaintenancewindowdetails");
            for i in 0..b.num_rows() {
                let key = (
                    c.str("accountid", i),
                    c.str("region", i),
                    c.str("groupname", i),
                );
                if windows.is_some_and(|w| w.is_valid(i) && w.value_length(i) > 0) {
                    with_window.insert(key.clone());
                }
                let Some(next) = next else { continue };
                let (Some(start), Some(end)) = (
                    field_time(next, "starttime", i),
                    field_time(next, "endtime", i),
                ) else {
                    continue;
                };
                let name = next
                    .column_by_name("matchingwindow")
                    .and_then(|m| m.as_struct_opt())
                    .and_then(|m| field_str(m, "name", i))
                    .unwrap_or_default();
                let w = Window {
                    accountid: key.0,
                    region: key.1,
                    groupname: key.2,
                    fleet: c.str("fleet", i),
                    name,
                    start_ms: start,
                    end_ms: end,
                };
                if start <= now_ms && now_ms < end {
                    p.in_maintenance.push(w.clone());
                }
                if end > now_ms && start < horizon {
                    p.upcoming.push(w);
                }
            }
        },
    )?;
    p.upcoming
        .sort_by_key(|w| (w.start_ms, w.accountid.clone(), w.groupname.clone()));
    p.in_maintenance
        .sort_by_key(|w| (w.end_ms, w.accountid.clone(), w.groupname.clone()));
    p.without_window = p
        .groups
        .iter()
        .map(|g| (g.accountid.clone(), g.region.clone(), g.groupname.clone()))
        .filter(|k| !with_window.contains(k))
        .collect();
    // Security groups open to the internet, by the fleets that use them.
    let columns = [
        "accountid",
        "region",
        "groupname",
        "groupid",
        "securitygroupname",
        "ippermissions",
    ];
    each_batch(dest, &tables::SECURITY_GROUPS, &version, &columns, |b| {
        let c = Cols(b);
        let perms = b
            .column_by_name("ippermissions")
            .and_then(|a| a.as_list_opt::<i32>());
        for i in 0..b.num_rows() {
            let Some(perms) = perms.filter(|l| l.is_valid(i)) else {
                continue;
            };
            let rules = perms.value(i);
            let Some(rules) = rules.as_struct_opt() else {
                continue;
            };
            let labels: Vec<String> = (0..rules.len())
                .filter_map(|j| open_label(rules, j))
                .collect();
            if labels.is_empty() {
                continue;
            }
            let key = (
                c.str("accountid", i),
                c.str("region", i),
                c.str("groupname", i),
                c.str("groupid", i),
            );
            for (fleet, n) in uses.get(&key).into_iter().flatten() {
                p.open.push(OpenFleet {
                    accountid: key.0.clone(),
                    region: key.1.clone(),
                    groupname: key.2.clone(),
                    fleet: fleet.clone(),
                    security_group: key.3.clone(),
                    security_group_name: c.str("securitygroupname", i),
                    open_ports: labels.join(", "),
                    instances: *n,
                });
            }
        }
    })?;
    p.open.sort_by(|a, b| {
        (
            &a.accountid,
            &a.region,
            &a.groupname,
            &a.fleet,
            &a.security_group,
        )
            .cmp(&(
                &b.accountid,
                &b.region,
                &b.groupname,
                &b.fleet,
                &b.security_group,
            ))
    });
    p.last_run = last_run(dest)?;
    p.changes = changes(dest)?;
    Ok(p)
}

/// How an inbound rule is open to the internet (`tcp/22`, `all traffic
/// (IPv4)`), or `None` when it is not: the same words as the view
/// `fleets_open_to_the_internet`.
fn open_label(rules: &StructArray, j: usize) -> Option<String> {
    let any = |list: &str, field: &str, want: &str| {
        rules
            .column_by_name(list)
            .and_then(|l| l.as_list_opt::<i32>())
            .filter(|l| l.is_valid(j))
            .and_then(|l| {
                let v = l.value(j);
                let s = v.as_struct_opt()?;
                Some((0..s.len()).any(|k| field_str(s, field, k).as_deref() == Some(want)))
            })
            .unwrap_or(false)
    };
    let v4 = any("ipranges", "cidrip", "0.0.0.0/0");
    let v6 = any("ipv6ranges", "cidripv6", "::/0");
    if !(v4 || v6) {
        return None;
    }
    let num = |name: &str| {
        rules
            .column_by_name(name)
            .and_then(|a| a.as_primitive_opt::<arrow_array::types::Int64Type>())
            .filter(|a| a.is_valid(j))
            .map(|a| a.value(j))
    };
    let proto = field_str(rules, "ipprotocol", j).unwrap_or_default();
    let (from, to) = (num("fromport"), num("toport"));
    let show = |n: Option<i64>| n.map_or_else(|| "?".to_string(), |n| n.to_string());
    let port = if proto == "-1" {
        "all traffic".to_string()
    } else if from == to {
        format!("{proto}/{}", show(from))
    } else {
        format!("{proto}/{}-{}", show(from), show(to))
    };
    let family = match (v4, v6) {
        (true, true) => "",
        (true, false) => " (IPv4)",
        _ => " (IPv6)",
    };
    Some(format!("{port}{family}"))
}

/// The newest record under `runs/`, if any.
fn last_run(dest: &dyn Destination) -> Result<Option<LastRun>, Error> {
    let Some((_, newest)) = crate::runs::recorded(dest)?.pop() else {
        return Ok(None);
    };
    let data = dest.read(&newest, crate::runs::MAX_RECORD_BYTES)?;
    let v: Value = serde_json::from_slice(&data)
        .map_err(|e| Error::input(&newest, "$", format!("malformed JSON: {e}")))?;
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let failures = v
        .get("failures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let scope = f.get("scope").and_then(Value::as_str).unwrap_or_default();
            let place = match f.get("group").and_then(Value::as_str) {
                Some(g) => format!("{scope}/{g}"),
                None => scope.to_string(),
            };
            let error = f.get("error").and_then(Value::as_str).unwrap_or_default();
            (place, error.to_string())
        })
        .collect();
    Ok(Some(LastRun {
        id: text("id"),
        status: text("status"),
        started: text("started"),
        seconds: v.get("seconds").and_then(Value::as_f64).unwrap_or(0.0),
        failures,
    }))
}

/// The changes between the two newest complete history snapshots.
fn changes(dest: &dyn Destination) -> Result<Option<Changes>, Error> {
    let all = history::complete_readable(dest)?;
    let [.., from, to] = all.as_slice() else {
        return Ok(None);
    };
    let mut c = Changes {
        from: from.to_string(),
        to: to.to_string(),
        ..Changes::default()
    };
    for t in tables::ALL {
        let mut emit = |ch: diff::Change| {
            if c.listed.len() < CHANGES_LISTED {
                let cols: Vec<&str> = ch.columns.iter().map(|cc| cc.column).collect();
                c.listed
                    .push((ch.table, ch.kind.as_str(), ch.key_text(), cols.join(", ")));
            }
            Ok(())
        };
        if let Some(n) = diff::table(dest, t, from, to, &mut emit)? {
            c.total += n.added + n.removed + n.changed;
            c.counts.push((t.name, n.added, n.removed, n.changed));
        }
    }
    Ok(Some(c))
}
