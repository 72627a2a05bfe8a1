//! `fleetcmdb serve`: exports that run by themselves.
//!
//! Owns the daemon: the run queue (runs never overlap; a trigger that
//! arrives while a run is queued joins it), the schedule (with one catch-up
//! run after downtime), run records under `{out}/runs/`, the counters the
//! API reports, and the shutdown: on SIGTERM or SIGINT no new work starts,
//! the run in flight stops taking account/regions (those already started
//! commit whole, or not at all), and a backup of every group labelled
//! `shutdown` is taken within the shutdown allowance; a second signal exits
//! at once. Every file is staged and renamed (or sent whole to S3), so no
//! exit leaves a partial file under a name a reader sees.
//!
//! Each group's own `backup.cron` is resolved and honoured by
//! [`crate::backup`]: a scheduled run backs up only the groups that are due.

mod http;
mod lock;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::backup::{BackupPlan, GroupSchedules};
use crate::error::{Error, ExitCode};
use crate::schedule::RunSchedule;
use crate::settings::{Filter, ServeSettings, SourceSettings};
use crate::sink::{self, Destination};
use crate::tables;

/// Where run records go, under the destination.
/// Run records kept under `runs/`; older ones are deleted.
const KEEP_RECORDS: usize = 2000;
/// Records kept in memory for the API.
const RECENT: usize = 50;
/// Distinct runs that may wait; a trigger beyond this is refused (503).
const MAX_QUEUE: usize = 100;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// On the schedule: every table, and the backups that are due.
    Scheduled,
    /// On demand: every table, and the backups that are due.
    Export,
    /// On demand: a backup of every group covered, due or not.
    Backup,
    /// At exit: a backup of every group, labelled `shutdown`.
    Shutdown,
}

impl RunKind {
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Scheduled => "scheduled",
            RunKind::Export => "export",
            RunKind::Backup => "backup",
            RunKind::Shutdown => "shutdown",
        }
    }
}

/// A run waiting or in flight.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: String,
    pub kind: RunKind,
    pub filter: Filter,
    pub queued_ms: i64,
}

fn filter_json(f: &Filter) -> Value {
    json!({
        "account": f.account.as_ref().map(|v| v.to_string()),
        "region": f.region.as_ref().map(|v| v.to_string()),
        "group": f.group.as_ref().map(|v| v.to_string()),
    })
}

impl Pending {
    fn to_json(&self) -> Value {
        json!({"id": self.id, "kind": self.kind.name(), "filter": filter_json(&self.filter),
               "queued": crate::time::rfc3339_s(self.queued_ms)})
    }
}

/// Counters for `/metrics`, since the daemon started.
#[derive(Debug, Default)]
struct Metrics {
    /// Runs by kind and status.
    runs: BTreeMap<(&'static str, String), u64>,
    failures: u64,
    partitions: u64,
    backups: u64,
    rows: [u64; tables::COUNT],
    last_duration_s: f64,
}

#[derive(Debug, Default)]
struct State {
    seq: u64,
    running: Option<Pending>,
    queue: VecDeque<Pending>,
    /// Run records, oldest first.
    recent: VecDeque<Value>,
    stopping: bool,
    next_scheduled_ms: Option<i64>,
    /// The last scheduled run failed as a whole: run again at the next tick.
    retry: bool,
    last_success_ms: Option<i64>,
    consecutive_failures: u64,
    metrics: Metrics,
    /// The report page, drawn after each run.
    report: Option<Arc<str>>,
}

/// What the daemon's threads share.
pub struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Set by the first signal: the run in flight starts no more work.
    cancel: Arc<AtomicBool>,
    clock: Clock,
    schedule_expr: String,
    started: Instant,
}

/// Why a trigger was not queued.
#[derive(Debug, PartialEq)]
pub enum Refused {
    Stopping,
    QueueFull,
}

impl Shared {
    #[cfg(test)]
    fn for_tests() -> Shared {
        Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            cancel: Arc::new(AtomicBool::new(false)),
            clock: Clock { file: None },
            schedule_expr: "disabled".into(),
            started: Instant::now(),
        }
    }

    /// The report page, once one is drawn.
    pub fn report(&self) -> Option<Arc<str>> {
        self.lock().report.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a run, or joins the queued one of the same kind and filter.
    /// Returns its id and whether it was joined.
    pub fn trigger(&self, kind: RunKind, filter: Filter) -> Result<(String, bool), Refused> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        if st.stopping {
            return Err(Refused::Stopping);
        }
        let r = enqueue(&mut st, kind, filter, now)?;
        self.wake.notify_all();
        Ok(r)
    }

    /// Stops taking work; the run in flight starts no more account/regions.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.cancel.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    fn status(&self) -> Value {
        let st = self.lock();
        let state = match (&st.running, st.stopping) {
            (_, true) => "stopping",
            (Some(_), false) => "running",
            (None, false) => "idle",
        };
        json!({
            "state": state,
            "schedule": self.schedule_expr,
            "now": crate::time::rfc3339_s(self.clock.now_ms()),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "running": st.running.as_ref().map(Pending::to_json),
            "queued": st.queue.iter().map(Pending::to_json).collect::<Vec<_>>(),
            "next_scheduled_run": st.next_scheduled_ms.map(crate::time::rfc3339_s),
            "retry_at_next_tick": st.retry,
            "last_success": st.last_success_ms.map(crate::time::rfc3339_s),
            "consecutive_failures": st.consecutive_failures,
            "recent": st.recent.iter().rev().take(10).cloned().collect::<Vec<_>>(),
        })
    }

    /// A run: its record when it ended, else where it stands.
    fn run(&self, id: &str) -> Option<Value> {
        let st = self.lock();
        if let Some(r) = st.recent.iter().find(|r| r["id"] == id) {
            return Some(r.clone());
        }
        if let Some(p) = st.running.as_ref().filter(|p| p.id == id) {
            let mut v = p.to_json();
            v["status"] = json!("running");
            return Some(v);
        }
        st.queue.iter().find(|p| p.id == id).map(|p| {
            let mut v = p.to_json();
            v["status"] = json!("queued");
            v
        })
    }

    fn metrics(&self) -> String {
        let st = self.lock();
        let m = &st.metrics;
        let mut out = String::new();
        let mut put = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
        };
        put(
            "fleetcmdb_runs_total",
            "counter",
            "Runs ended, by kind and status.",
            m.runs
                .iter()
                .map(|((k, st), n)| {
                    format!("fleetcmdb_runs_total{{kind=\"{k}\",status=\"{st}\"}} {n}")
                })
                .collect(),
        );
        put(
            "fleetcmdb_failures_total",
            "counter",
            "Failed account/regions, groups and accounts, over all runs.",
            vec![format!("fleetcmdb_failures_total {}", m.failures)],
        );
        put(
            "fleetcmdb_partitions_written_total",
            "counter",
            "Group partitions written.",
            vec![format!(
                "fleetcmdb_partitions_written_total {}",
                m.partitions
            )],
        );
        put(
            "fleetcmdb_backups_written_total",
            "counter",
            "Group backups written (each a configuration or scheduler YAML).",
            vec![format!("fleetcmdb_backups_written_total {}", m.backups)],
        );
        put(
            "fleetcmdb_rows_written_total",
            "counter",
            "Rows written, by table.",
            tables::ALL
                .iter()
                .zip(m.rows)
                .map(|(t, n)| format!("fleetcmdb_rows_written_total{{table=\"{}\"}} {n}", t.name))
                .collect(),
        );
        put(
            "fleetcmdb_last_run_duration_seconds",
            "gauge",
            "Duration of the last run.",
            vec![format!(
                "fleetcmdb_last_run_duration_seconds {:.3}",
                m.last_duration_s
            )],
        );
        put(
            "fleetcmdb_last_success_timestamp_seconds",
            "gauge",
            "When the last run without failure ended (Unix seconds; 0: none yet).",
            vec![format!(
                "fleetcmdb_last_success_timestamp_seconds {}",
                st.last_success_ms.unwrap_or(0) / 1000
            )],
        );
        put(
            "fleetcmdb_queued_runs",
            "gauge",
            "Runs waiting.",
            vec![format!("fleetcmdb_queued_runs {}", st.queue.len())],
        );
        out
    }
}

fn enqueue(
    st: &mut State,
    kind: RunKind,
    filter: Filter,
    now_ms: i64,
) -> Result<(String, bool), Refused> {
    if let Some(p) = st
        .queue
        .iter()
        .find(|p| p.kind == kind && p.filter == filter)
    {
        return Ok((p.id.clone(), true));
    }
    if st.queue.len() >= MAX_QUEUE {
        return Err(Refused::QueueFull);
    }
    st.seq += 1;
    let id = run_id(now_ms, kind, st.seq);
    st.queue.push_back(Pending {
        id: id.clone(),
        kind,
        filter,
        queued_ms: now_ms,
    });
    Ok((id, false))
}

/// A run's id: `{start}-{kind}-{daemon}-{n}`. `daemon` tells this process
/// from any other writing run records to the same destination (two daemons
/// on one S3 prefix, or one after another within a second), so no record
/// overwrites another's; `n` counts this daemon's runs.
fn run_id(now_ms: i64, kind: RunKind, seq: u64) -> String {
    format!(
        "{}-{}-{}-{seq}",
        crate::time::file_stamp(now_ms),
        kind.name(),
        crate::partition::process_tag()
    )
}

/// The time: the system clock, or the time written in a file (tests and
/// drills move it forward without waiting).
pub struct Clock {
    file: Option<std::path::PathBuf>,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        let Some(f) = &self.file else {
            return Utc::now().timestamp_millis();
        };
        let text = crate::input::read_file(f, 1024)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        match text
            .as_deref()
            .map(str::trim)
            .and_then(crate::time::parse_timestamp_ms)
        {
            Some(ms) => ms,
            None => {
                eprintln!(
                    "fleetcmdb serve: --clock-file {}: no RFC 3339 time in it; using the system clock",
                    f.display()
                );
                Utc::now().timestamp_millis()
            }
        }
    }
}

/// The first start of `s` strictly after `ms`.
fn next_after(s: &RunSchedule, ms: i64) -> Option<i64> {
    let t = DateTime::<Utc>::from_timestamp_millis(ms)?;
    crate::schedule::occurrences(s, t, 1)
        .first()
        .map(|t| t.timestamp_millis())
}

/// The latest start of `s` at or before `ms`.
fn prev_at_or_before(s: &RunSchedule, ms: i64) -> Option<i64> {
    let t = DateTime::<Utc>::from_timestamp_millis(ms)?;
    match s {
        RunSchedule::Cron(c) => c.prev_start(t, None).map(|t| t.timestamp_millis()),
        RunSchedule::Rate(_) | RunSchedule::Disabled => None,
    }
}

/// Waits for SIGTERM and SIGINT on a thread of its own (signal-hook's
/// handler only writes to a pipe that thread reads): the first stops the
/// daemon, a second exits at once.
fn watch_signals(shared: Arc<Shared>) -> Result<(), Error> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| Error::Internal(format!("watching SIGTERM and SIGINT: {e}")))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for (seen, sig) in signals.forever().enumerate() {
                if seen == 0 {
                    eprintln!(
                        "fleetcmdb serve: signal {sig}: stopping (a second signal exits at once)"
                    );
                    shared.stop();
                } else {
                    eprintln!("fleetcmdb serve: second signal: exiting now");
                    std::process::exit(130);
                }
            }
        })
        .map_err(|e| Error::Internal(format!("signal thread: {e}")))?;
    Ok(())
}

/// Starts of the runs recorded under `runs/`, newest last.
fn recorded_runs(dest: &dyn Destination) -> Result<Vec<(i64, String)>, Error> {
    let runs = crate::runs::recorded(dest)?;
    Ok(runs
        .into_iter()
        .map(|(t, p)| (t.and_utc().timestamp_millis(), p))
        .collect())
}

/// The bearer token in the first line of `path`: at least 16 characters,
/// from a regular file of at most 4 KiB.
fn read_token(path: &std::path::Path) -> Result<String, Error> {
    let bytes = crate::input::read_file(path, 4096)
        .map_err(|e| Error::Usage(format!("--token-file: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("--token-file {}: not UTF-8", path.display())))?;
    let t = text.lines().next().unwrap_or("").trim().to_string();
    if t.len() < 16 {
        return Err(Error::Usage(format!(
            "--token-file {}: the token must be at least 16 characters",
            path.display()
        )));
    }
    Ok(t)
}

pub fn run(s: &ServeSettings) -> Result<ExitCode, Error> {
    // Read before anything starts, so a bad token file changes nothing.
    let token = s.token_file.as_deref().map(read_token).transpose()?;
    let clock = Clock {
        file: s.clock_file.clone(),
    };
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
        cancel: Arc::new(AtomicBool::new(false)),
        clock,
        schedule_expr: s.schedule_expr.clone(),
        started: Instant::now(),
    });
    watch_signals(shared.clone())?;
    let dest = sink::open(&s.export.out, &s.export.conn)?;
    dest.healthcheck()?;
    // One daemon per local destination: the lock is held while the process
    // lives and released by the kernel when it dies.
    let _lock = lock::hold(&s.export.out)?;
    let server = http::Server::start(
        s.listen,
        http::Api {
            shared: shared.clone(),
            token,
            out: s.export.out.clone(),
            conn: s.export.conn.clone(),
        },
        http::Limits::default(),
    )?;
    eprintln!(
        "fleetcmdb serve: {} -> {}; schedule {}; API on http://{}",
        match &s.export.source {
            SourceSettings::Demo(_) => "demo".to_string(),
            SourceSettings::Snapshot(d, _) => format!("snapshot {}", d.display()),
            SourceSettings::Aws(_) => "aws".to_string(),
        },
        dest.url(),
        s.schedule_expr,
        s.listen
    );
    // The page of what the destination holds already, until a run redraws it.
    redraw(&shared, dest.as_ref());
    // One catch-up run when the last recorded run is older than the
    // schedule's latest start (or there is none).
    {
        let now = shared.clock.now_ms();
        let last = recorded_runs(dest.as_ref())?.last().map(|r| r.0);
        let missed = match prev_at_or_before(&s.schedule, now) {
            Some(prev) => last.is_none_or(|l| l < prev),
            None => last.is_none() && s.schedule != RunSchedule::Disabled,
        };
        let mut st = shared.lock();
        if missed {
            let _ = enqueue(&mut st, RunKind::Scheduled, Filter::default(), now);
        }
        st.next_scheduled_ms = next_after(&s.schedule, now);
    }
    loop {
        let mut st = shared.lock();
        if st.stopping {
            break;
        }
        let now = shared.clock.now_ms();
        if st.next_scheduled_ms.is_some_and(|n| n <= now) || st.retry {
            let _ = enqueue(&mut st, RunKind::Scheduled, Filter::default(), now);
            st.next_scheduled_ms = next_after(&s.schedule, now);
            st.retry = false;
        }
        if let Some(p) = st.queue.pop_front() {
            st.running = Some(p.clone());
            drop(st);
            let cancel = shared.cancel.clone();
            let record = execute(s, dest.as_ref(), &shared, &p, cancel);
            finish(&shared, dest.as_ref(), record, p.kind);
            if matches!(p.kind, RunKind::Scheduled | RunKind::Export) {
                redraw(&shared, dest.as_ref());
            }
            continue;
        }
        let _unused = shared
            .wake
            .wait_timeout(st, s.tick)
            .unwrap_or_else(|p| p.into_inner());
    }
    // Shutdown: the run in flight has returned; back up every group within
    // what is left of the allowance.
    let deadline = Instant::now() + s.shutdown_timeout;
    let stop_shutdown = Arc::new(AtomicBool::new(false));
    {
        let flag = stop_shutdown.clone();
        std::thread::spawn(move || {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            flag.store(true, Ordering::SeqCst);
        });
    }
    let p = {
        let mut st = shared.lock();
        st.queue.clear();
        st.seq += 1;
        let now = shared.clock.now_ms();
        let p = Pending {
            id: run_id(now, RunKind::Shutdown, st.seq),
            kind: RunKind::Shutdown,
            filter: Filter::default(),
            queued_ms: now,
        };
        st.running = Some(p.clone());
        p
    };
    let record = execute(s, dest.as_ref(), &shared, &p, stop_shutdown);
    let status = record["status"].as_str().unwrap_or("failed").to_string();
    finish(&shared, dest.as_ref(), record, p.kind);
    server.stop();
    eprintln!("fleetcmdb serve: stopped after the shutdown backup ({status})");
    Ok(ExitCode::Success)
}

/// Runs one export and returns its record.
fn execute(
    s: &ServeSettings,
    dest: &dyn Destination,
    shared: &Shared,
    p: &Pending,
    cancel: Arc<AtomicBool>,
) -> Value {
    let started_ms = shared.clock.now_ms();
    let clock = Instant::now();
    let mut e = s.export.clone();
    e.as_of_ms = started_ms;
    e.filter = p.filter.clone();
    e.cancel = Some(cancel);
    let wants_backups = e.backup.is_some();
    let only_backups = matches!(p.kind, RunKind::Backup | RunKind::Shutdown);
    e.backup = match p.kind {
        RunKind::Scheduled | RunKind::Export => wants_backups.then(|| BackupPlan {
            only: false,
            label: None,
            schedules: Some(GroupSchedules {
                default: s.schedule_expr.clone(),
            }),
        }),
        RunKind::Backup => Some(BackupPlan::default()),
        RunKind::Shutdown => Some(BackupPlan {
            label: Some("shutdown".into()),
            ..BackupPlan::default()
        }),
    };
    if let Some(b) = e.backup.as_mut() {
        b.only = only_backups;
    }
    if only_backups {
        e.prune_stale = false;
        if let SourceSettings::Aws(a) = &mut e.source {
            a.backups_only = true;
        }
    }
    let result = crate::pipeline::open_source(&e).and_then(|source| {
        let also = e
            .also
            .iter()
            .map(|u| sink::open(u, &e.conn))
            .collect::<Result<Vec<_>, _>>()?;
        crate::pipeline::export(&e, source.as_ref(), dest, &also)
    });
    let mut record = match result {
        Ok(summary) => summary.to_json(),
        Err(err) => json!({"status": "failed", "error": err.to_string()}),
    };
    record["id"] = json!(p.id);
    record["kind"] = json!(p.kind.name());
    record["filter"] = filter_json(&p.filter);
    record["started"] = json!(crate::time::rfc3339_s(started_ms));
    record["ended"] = json!(crate::time::rfc3339_s(shared.clock.now_ms()));
    record["seconds"] = json!((clock.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
    record
}

/// Draws the report page of the destination, serves it at `/` and writes
/// it next to the export (`report.html`). A destination with no
/// query-ready copy yet has no page; any other failure is logged, and the
/// page drawn before stays.
fn redraw(shared: &Shared, dest: &dyn Destination) {
    let at = shared.clock.now_ms();
    match crate::report::html(dest, at) {
        Ok(page) => {
            if let Err(e) = dest.put(crate::partition::REPORT_PAGE, page.as_bytes()) {
                eprintln!("fleetcmdb serve: writing the report page: {e}");
            }
            shared.lock().report = Some(Arc::from(page));
        }
        Err(Error::Usage(_)) => {}
        Err(e) => eprintln!("fleetcmdb serve: drawing the report page: {e}"),
    }
}

/// Records a run: under `runs/`, in memory, in the counters.
fn finish(shared: &Shared, dest: &dyn Destination, record: Value, kind: RunKind) {
    let id = record["id"].as_str().unwrap_or("run").to_string();
    let text = serde_json::to_vec_pretty(&record).expect("json");
    if let Err(e) = dest.put(&crate::runs::record_path(&id), &text) {
        eprintln!("fleetcmdb serve: writing the record of run {id}: {e}");
    }
    if let Ok(runs) = recorded_runs(dest) {
        for (_, old) in runs.iter().take(runs.len().saturating_sub(KEEP_RECORDS)) {
            let _ = dest.delete(old);
        }
    }
    let status = record["status"].as_str().unwrap_or("failed").to_string();
    eprintln!(
        "fleetcmdb serve: run {id}: {status}, {} partitions, {} failures",
        record["partitions"],
        record["failures"].as_array().map_or(0, Vec::len)
    );
    let mut st = shared.lock();
    let m = &mut st.metrics;
    *m.runs.entry((kind.name(), status.clone())).or_default() += 1;
    m.failures += record["failures"].as_array().map_or(0, |f| f.len() as u64);
    m.partitions += record["partitions"].as_u64().unwrap_or(0);
    m.backups += record["backups"].as_u64().unwrap_or(0);
    for (t, n) in tables::ALL.iter().zip(m.rows.iter_mut()) {
        *n += record["rows"][t.name].as_u64().unwrap_or(0);
    }
    m.last_duration_s = record["seconds"].as_f64().unwrap_or(0.0);
    match status.as_str() {
        "success" => {
            st.last_success_ms = Some(shared.clock.now_ms());
            st.consecutive_failures = 0;
        }
        "failed" => {
            st.consecutive_failures += 1;
            // A scheduled run that failed whole is tried again at the next tick.
            st.retry |= kind == RunKind::Scheduled;
        }
        _ => st.consecutive_failures = 0,
    }
    st.running = None;
    st.recent.push_back(record);
    while st.recent.len() > RECENT {
        st.recent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::PartitionValue;

    #[test]
    fn a_trigger_joins_the_queued_run_of_the_same_kind_and_filter() {
        let mut st = State::default();
        let (a, joined) = enqueue(&mut st, RunKind::Backup, Filter::default(), 0).unwrap();
        assert!(!joined);
        let (b, joined) = enqueue(&mut st, RunKind::Backup, Filter::default(), 1).unwrap();
        assert!(joined && a == b);
        let web = Filter {
            group: Some(PartitionValue::parse("web", "g", "t").unwrap()),
            ..Filter::default()
        };
        let (c, joined) = enqueue(&mut st, RunKind::Backup, web, 2).unwrap();
        assert!(!joined && c != a);
        let (d, _) = enqueue(&mut st, RunKind::Export, Filter::default(), 3).unwrap();
        assert_ne!(d, a);
        assert_eq!(st.queue.len(), 3);
        for i in 0..MAX_QUEUE {
            let f = Filter {
                group: Some(PartitionValue::parse(&format!("g{i}"), "g", "t").unwrap()),
                ..Filter::default()
            };
            let r = enqueue(&mut st, RunKind::Backup, f, 4);
            assert_eq!(r.is_err(), st.queue.len() >= MAX_QUEUE && r.is_err());
        }
        assert_eq!(st.queue.len(), MAX_QUEUE, "the queue is bounded");
    }

    #[test]
    fn the_schedule_gives_the_next_and_latest_starts() {
        let hourly = crate::schedule::parse_run("cron(0 * * * ? *)", None).unwrap();
        let t = crate::time::parse_timestamp_ms("2026-12-01T10:15:00Z").unwrap();
        let h = 3_600_000;
        assert_eq!(next_after(&hourly, t), Some(t - 15 * 60_000 + h));
        assert_eq!(prev_at_or_before(&hourly, t), Some(t - 15 * 60_000));
        assert_eq!(next_after(&RunSchedule::Disabled, t), None);
    }
}
