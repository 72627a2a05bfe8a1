//! One export run: collect every scope of a source, in parallel with a
//! bounded pool, into the destination; back groups up, prune, write the
//! history snapshot and the query-ready copy; return a [`Summary`].
//!
//! Used by `export` and `backup` (which print the summary) and by `serve`
//! (which runs it on its schedule and on demand).
//!
//! Memory is bounded by `jobs` scopes in flight: each scope's partitions are
//! written and committed as soon as the scope is collected.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde_json::json;

use crate::collect::router::{Router, ScopeReport};
use crate::collect::{collect_account, collect_scope, has_account_tables};
use crate::error::{Error, ExitCode};
use crate::partition::Failure;
use crate::partition::{Partition, PartitionKey, PartitionValue, Scope};
use crate::settings::{ExportSettings, SourceSettings};
use crate::sink::partitions::{PartitionWriter, Written};
use crate::sink::Destination;
use crate::sources::{aws::AwsSource, demo::Demo, snapshot::Snapshot, Source, Streamed};
use crate::tables;
use crate::tables::resolver::FoundGroup;

/// The outcome of an export, as printed.
#[derive(Debug, Default)]
pub struct Summary {
    pub source: String,
    pub destination: String,
    pub scopes: usize,
    pub partitions: Vec<Partition>,
    /// Partitions of the tables filled once per account.
    pub account_partitions: Vec<PartitionValue>,
    pub rows: [u64; tables::COUNT],
    pub bytes: u64,
    pub files: u64,
    pub backups: u64,
    pub seconds: f64,
    pub failures: Vec<Failure>,
    pub notes: Vec<String>,
    pub api_calls: std::collections::BTreeMap<String, u64>,
    pub pruned: Vec<String>,
    /// With `--history`: the snapshot id, and whether this run wrote it.
    pub snapshot: Option<(String, bool)>,
    /// The version of the query-ready copy this run wrote.
    pub query_copy: Option<String>,
}

impl Summary {
    fn add(&mut self, r: ScopeReport) {
        self.partitions.extend(r.partitions);
        for (t, n) in r.rows.iter().enumerate() {
            self.rows[t] += n;
        }
        self.bytes += r.bytes;
        self.files += r.files;
        self.failures.extend(r.failures);
    }

    fn add_account(&mut self, w: Written) {
        for key in w.partitions {
            self.account_partitions.push(key.accountid().clone());
        }
        for (t, n) in w.rows.iter().enumerate() {
            self.rows[t] += n;
        }
        self.bytes += w.bytes;
        self.files += w.files;
        for (key, error) in w.failed {
            self.failures.push(Failure {
                scope: key.accountid().to_string(),
                group: None,
                error,
            });
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match (self.failures.is_empty(), self.partitions.is_empty()) {
            (true, _) => ExitCode::Success,
            (false, false) => ExitCode::Partial,
            (false, true) => ExitCode::Failed,
        }
    }

    pub fn status(&self) -> &'static str {
        match self.exit_code() {
            ExitCode::Success => "success",
            ExitCode::Partial => "partial",
            _ => "failed",
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let rows: serde_json::Map<String, serde_json::Value> = tables::ALL
            .iter()
            .zip(self.rows)
            .map(|(t, n)| (t.name.to_string(), json!(n)))
            .collect();
        json!({
            "status": self.status(),
            "source": self.source,
            "destination": self.destination,
            "scopes": self.scopes,
            "partitions": self.partitions.len(),
            "account_partitions": self.account_partitions.len(),
            "rows": rows,
            "bytes": self.bytes,
            "files": self.files,
            "backups": self.backups,
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "failures": self.failures.iter().map(|f| json!({
                "scope": f.scope, "group": f.group, "error": f.error.to_string()
            })).collect::<Vec<_>>(),
            "notes": self.notes,
            "api_calls": self.api_calls,
            "pruned": self.pruned,
            "snapshot": self.snapshot.as_ref().map(|(id, written)| json!({"id": id, "written": written})),
            "query_copy": self.query_copy,
        })
    }

    pub fn to_text(&self) -> String {
        let mut s = format!(
            "fleetcmdb export: {} -> {}\n",
            self.source, self.destination
        );
        s += &format!("  status:     {}\n", self.status());
        s += &format!("  scopes:     {} account/regions\n", self.scopes);
        s += &format!(
            "  partitions: {} written, {} failed\n",
            self.partitions.len(),
            self.failures.len()
        );
        if !self.account_partitions.is_empty() {
            s += &format!(
                "  accounts:   {} account partitions written\n",
                self.account_partitions.len()
            );
        }
        let rows: Vec<String> = tables::ALL
            .iter()
            .zip(self.rows)
            .map(|(t, n)| format!("{} {n}", t.name))
            .collect();
        s += &format!("  rows:       {}\n", rows.join(", "));
        s += &format!(
            "  written:    {} files, {:.1} KiB\n",
            self.files,
            self.bytes as f64 / 1024.0
        );
        if self.backups > 0 {
            s += &format!(
                "  backups:    {} YAML files (and their archive copies)\n",
                self.backups
            );
        }
        match &self.snapshot {
            Some((id, true)) => s += &format!("  history:    snapshot {id} written\n"),
            Some((id, false)) => {
                s += &format!("  history:    snapshot {id} already complete, kept as it was\n")
            }
            None => {}
        }
        if let Some(v) = &self.query_copy {
            s += &format!("  query copy: version {v} under query/\n");
        }
        s += &format!("  time:       {:.2} s\n", self.seconds);
        let calls: u64 = self.api_calls.values().sum();
        if calls > 0 {
            s += &format!(
                "  api calls:  {calls} ({:.0}/s)\n",
                calls as f64 / self.seconds.max(1e-3)
            );
        }
        // Everything below may quote input: escaped, one line each.
        let esc = |t: &str| crate::output::escape_controls(t).into_owned();
        for p in &self.pruned {
            s += &format!("  pruned stale partition {}\n", esc(p));
        }
        for n in &self.notes {
            s += &format!("  note: {}\n", esc(n));
        }
        for f in &self.failures {
            let what = match &f.group {
                Some(g) => format!("{} group {g}", f.scope),
                None => f.scope.clone(),
            };
            s += &format!("  FAILED {}: {}\n", esc(&what), esc(&f.error.to_string()));
        }
        s
    }
}

pub fn open_source(s: &ExportSettings) -> Result<Box<dyn Source>, Error> {
    Ok(match &s.source {
        SourceSettings::Demo(o) => Box::new(Demo::new(o.clone(), s.naming.clone())?),
        SourceSettings::Snapshot(dir, max) => Box::new(Snapshot::new(dir.clone(), *max)?),
        SourceSettings::Aws(a) => Box::new(AwsSource::new(a.as_ref().clone())?),
    })
}

/// Runs the export; returns the summary (also for partial failures).
pub fn export(
    s: &ExportSettings,
    source: &dyn Source,
    dest: &dyn Destination,
    also: &[Box<dyn Destination>],
) -> Result<Summary, Error> {
    let started = Instant::now();
    dest.healthcheck()?;
    for d in also {
        d.healthcheck()?;
    }
    let only_backups = s.backup.as_ref().is_some_and(|b| b.only);
    // A run that snapshots holds its period's lease from before it writes
    // anything: a second such run of the period refuses, so the live tree
    // it copies is one run's.
    let history = s.history.filter(|_| !only_backups);
    let _lease = match history {
        Some(period) => Some(crate::history::Lease::take(
            dest,
            &crate::history::SnapshotId::of(s.as_of_ms, period),
        )?),
        None => None,
    };
    // A network source names its scopes as it fetches them (`stream`);
    // the others name them all first.
    let streamed = source.fetch_concurrency().is_some();
    let keep = |scope: &Scope| {
        s.filter.covers(scope) && s.shard.is_none_or(|sh| sh.holds(scope.accountid.as_str()))
    };
    // A failure that names an account belongs to that account's shard.
    let ours = |f: &Failure| {
        let account = f.scope.split('/').next().unwrap_or("");
        !crate::partition::is_account_id(account) || s.shard.is_none_or(|sh| sh.holds(account))
    };
    let (mut scopes, mut early_failures) = match streamed {
        true => (Vec::new(), Vec::new()),
        false => source.scopes()?,
    };
    scopes.retain(|scope| keep(scope));
    early_failures.retain(|f| ours(f));
    // How many scopes each account has in the run.
    let mut per_account: BTreeMap<PartitionValue, usize> = BTreeMap::new();
    for scope in &scopes {
        *per_account.entry(scope.accountid.clone()).or_default() += 1;
    }
    // The copies made at the end (the query-ready copy, a snapshot) take
    // this run's partitions from `fresh` rather than reading them back.
    let copies = !only_backups && (history.is_some() || s.shard.is_none());
    let fresh = if copies {
        match crate::sink::fresh::Fresh::new(crate::tables::schemas()) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("fleetcmdb: note: the copies will read this run's files back: {e}");
                None
            }
        }
    } else {
        None
    };
    let bar = progress(scopes.len() as u64);
    let summary = Mutex::new(Summary {
        source: source.describe(),
        destination: dest.url(),
        scopes: scopes.len(),
        failures: early_failures,
        ..Default::default()
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(s.jobs)
        .build()
        .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
    // Per account: its regions still to collect, and what they found. A
    // run that covers part of an account cannot say what the whole holds.
    let accounts: Mutex<BTreeMap<PartitionValue, AccountProgress>> = Mutex::new(BTreeMap::new());
    let track_accounts = has_account_tables() && !only_backups && s.filter.is_empty();
    let one = |scope: &Scope,
               of: usize,
               inputs: Result<&dyn crate::documents::ScopeInputs, Error>| {
        if s.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst))
        {
            bar.inc(1);
            let mut sum = summary.lock().expect("no panics while holding the lock");
            sum.failures.push(Failure {
                scope: scope.to_string(),
                group: None,
                error: Error::Cancelled("the run was stopped before this account/region".into()),
            });
            return;
        }
        let sink =
            PartitionWriter::new(dest, &s.writer, crate::tables::schemas()).keeping(fresh.as_ref());
        let mut w = Router::new(scope.clone(), sink, s.as_of_ms, &s.naming.group_tag);
        if only_backups {
            w = w.without_tables();
        }
        if let Some(g) = &s.filter.group {
            w = w.only_group(g.as_str());
        }
        let items = match inputs {
            Ok(inputs) => {
                let history = History {
                    dest,
                    scope,
                    default: s
                        .backup
                        .as_ref()
                        .and_then(|b| b.schedules.as_ref())
                        .map_or(crate::settings::DEFAULT_SCHEDULE, |g| g.default.as_str()),
                };
                let backups = s.backup.is_some();
                collect_scope(
                    inputs,
                    &mut w,
                    &s.naming,
                    s.as_of_ms,
                    backups,
                    Some(&history),
                )
            }
            Err(e) => {
                w.fail_scope(e);
                Vec::new()
            }
        };
        let mut report = w.finish();
        // Backups of the groups that committed, written by the backup module.
        let (backups, backup_failures) = match &s.backup {
            Some(plan) => {
                let dests: Vec<&dyn Destination> = std::iter::once(dest)
                    .chain(also.iter().map(|d| d.as_ref()))
                    .collect();
                let ok: Vec<_> = items
                    .into_iter()
                    .filter(|g| report.ok_groups.contains(&g.group))
                    .collect();
                crate::backup::write_groups(plan, &dests, scope, s.as_of_ms, ok)
            }
            None => (0, Vec::new()),
        };
        report.failures.extend(backup_failures);
        let account_done = match track_accounts {
            true => account_progress(&accounts, scope, of, &report),
            false => None,
        };
        let pruned = if s.prune_stale && s.filter.is_empty() && report.failures.is_empty() {
            prune_stale(dest, scope, &report.partitions, s.max_stale)
        } else {
            Ok(Vec::new())
        };
        bar.inc(1);
        let mut sum = summary.lock().expect("no panics while holding the lock");
        match pruned {
            Ok(p) => sum.pruned.extend(p),
            Err(e) => sum.failures.push(Failure {
                scope: scope.to_string(),
                group: None,
                error: e,
            }),
        }
        sum.backups += backups;
        sum.add(report);
        drop(sum);
        if let Some(done) = account_done {
            let written = match source.account_inputs(&scope.accountid) {
                Ok(inputs) => collect_account(
                    inputs.as_ref(),
                    PartitionWriter::new(dest, &s.writer, crate::tables::schemas())
                        .keeping(fresh.as_ref()),
                    &done.groups,
                    &done.regions,
                    s.as_of_ms,
                ),
                Err(error) => Written {
                    failed: vec![(PartitionKey::Account(scope.accountid.clone()), error)],
                    ..Default::default()
                },
            };
            summary
                .lock()
                .expect("no panics while holding the lock")
                .add_account(written);
        }
    };
    match streamed {
        // A network source: fetch asynchronously, convert on `jobs` threads.
        // The channel holds at most `2 x jobs` fetched scopes, so memory is
        // bounded by the requests in flight, not by threads.
        true => {
            let (tx, rx) = tokio::sync::mpsc::channel(2 * s.jobs);
            let accounts_seen: Mutex<std::collections::HashSet<PartitionValue>> = Mutex::default();
            std::thread::scope(|ts| {
                ts.spawn(|| source.stream(&keep, tx));
                drain(&pool, rx, |event| match event {
                    Streamed::Scope { scope, of, inputs } => {
                        let first = accounts_seen
                            .lock()
                            .expect("not poisoned")
                            .insert(scope.accountid.clone());
                        if first {
                            bar.inc_length(of as u64);
                            summary.lock().expect("not poisoned").scopes += of;
                        }
                        match inputs {
                            Ok(inputs) => one(&scope, of, Ok(inputs.as_ref())),
                            Err(e) => one(&scope, of, Err(e)),
                        }
                    }
                    Streamed::Failure(f) => {
                        if ours(&f) {
                            summary.lock().expect("not poisoned").failures.push(f);
                        }
                    }
                });
            });
        }
        false => pool.install(|| {
            scopes.par_iter().for_each(|scope| {
                let of = per_account[&scope.accountid];
                match source.inputs(scope) {
                    Ok(inputs) => one(scope, of, Ok(inputs.as_ref())),
                    Err(e) => one(scope, of, Err(e)),
                }
            })
        }),
    }
    bar.finish_and_clear();
    let mut summary = summary.into_inner().expect("not poisoned");
    summary.partitions.sort();
    summary.account_partitions.sort();
    // A snapshot of what the destination now holds: also the partitions
    // that failed this time, as their last good files. Not after a run
    // that wrote nothing: its picture is the previous snapshot's.
    if let Some(period) = history {
        if !summary.partitions.is_empty() || summary.failures.is_empty() {
            match crate::history::take(dest, &s.writer, s.as_of_ms, period, fresh.as_ref()) {
                Ok(r) => summary.snapshot = Some((r.id.to_string(), r.written)),
                Err(error) => summary.failures.push(Failure {
                    scope: "history".into(),
                    group: None,
                    error,
                }),
            }
        }
    }
    // The query-ready copy of what the destination now holds, on the same
    // terms as the snapshot; not for a shard, which holds part of the org
    // (the finalize step's `consolidate` makes it after every shard).
    let wrote_or_whole = !summary.partitions.is_empty() || summary.failures.is_empty();
    if !only_backups && s.shard.is_none() && wrote_or_whole {
        let tag = crate::partition::process_tag();
        match crate::consolidated::write(dest, &s.writer, s.as_of_ms, tag, fresh.as_ref()) {
            Ok(r) => summary.query_copy = Some(r.version),
            Err(error) => summary.failures.push(Failure {
                scope: "query copy".into(),
                group: None,
                error,
            }),
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.notes = source.notes();
    summary.api_calls = source.api_calls();
    Ok(summary)
}

/// The groups' backups on the destination, for the discovery table.
struct History<'a> {
    dest: &'a dyn Destination,
    scope: &'a Scope,
    default: &'a str,
}

impl crate::tables::resolver::BackupHistory for History<'_> {
    fn default_schedule(&self) -> &str {
        self.default
    }
    fn newest(&self, group: &str, before_ms: i64) -> Result<Option<i64>, Error> {
        let before = chrono::DateTime::from_timestamp_millis(before_ms);
        Ok(
            crate::backup::newest_archive(self.dest, self.scope, group, before)?
                .map(|t| t.timestamp_millis()),
        )
    }
}

/// An account's regions still to collect, and what the collected ones found.
#[derive(Default)]
struct AccountProgress {
    remaining: usize,
    regions: Vec<String>,
    groups: Vec<FoundGroup>,
    /// A region of the account failed as a whole: what it holds is unknown,
    /// so the account's own partitions keep what an earlier run wrote.
    failed: bool,
}

/// Records what `report` found in its account; returns the account's
/// progress once its last region is in, unless one of them failed whole.
/// `of` is how many scopes the account has in the run.
fn account_progress(
    accounts: &Mutex<BTreeMap<PartitionValue, AccountProgress>>,
    scope: &Scope,
    of: usize,
    report: &ScopeReport,
) -> Option<AccountProgress> {
    let mut all = accounts.lock().expect("no panics while holding the lock");
    let a = all
        .entry(scope.accountid.clone())
        .or_insert_with(|| AccountProgress {
            remaining: of,
            ..Default::default()
        });
    a.remaining = a.remaining.saturating_sub(1);
    a.failed |= report.scope_failed;
    a.regions.push(scope.region.to_string());
    a.groups.extend(report.groups.iter().map(|g| FoundGroup {
        region: scope.region.to_string(),
        groupname: g.clone(),
    }));
    if a.remaining > 0 {
        return None;
    }
    let mut done = all.remove(&scope.accountid)?;
    if done.failed {
        return None;
    }
    done.regions.sort();
    done.groups.sort();
    Some(done)
}

/// Runs `work` on every item `rx` receives, on each thread of `pool`, until
/// the channel is closed and empty. (Not `par_bridge`/`while_some`: once one
/// thread sees the end, `while_some` drops items other threads already hold.)
fn drain<T: Send>(
    pool: &rayon::ThreadPool,
    rx: tokio::sync::mpsc::Receiver<T>,
    work: impl Fn(T) + Sync,
) {
    let rx = Mutex::new(rx);
    pool.scope(|ps| {
        for _ in 0..pool.current_num_threads() {
            ps.spawn(|_| loop {
                // The lock is released at the end of this statement.
                let next = rx.lock().expect("not poisoned").blocking_recv();
                match next {
                    Some(item) => work(item),
                    None => break,
                }
            });
        }
    });
}

/// The most stale groups deleted in one account/region by default: half
/// of the groups it held, at least 1.
fn default_max_stale(held: usize) -> usize {
    (held / 2).max(1)
}

/// Deletes the files of partitions under `scope` whose group was not
/// collected this time. Called only for scopes collected without any failure.
/// The whole listing is read first; when more groups than `max` (default
/// [`default_max_stale`]) would go, nothing is deleted and the groups are
/// named: a source that suddenly finds nothing must not empty the CMDB.
fn prune_stale(
    dest: &dyn Destination,
    scope: &Scope,
    kept: &[Partition],
    max: Option<usize>,
) -> Result<Vec<String>, Error> {
    let per_group = tables::ALL
        .iter()
        .filter(|t| t.partitioning == crate::schema::Partitioning::Group);
    let mut doomed: Vec<(String, Partition)> = Vec::new();
    let mut held = std::collections::BTreeSet::new();
    for t in per_group {
        for path in dest.list(&crate::partition::scope_dir(t, scope))? {
            let Some((PartitionKey::Group(p), _file)) = crate::partition::partition_of_path(&path)
            else {
                continue;
            };
            held.insert(p.to_string());
            if !kept.contains(&p) {
                doomed.push((path, p));
            }
        }
    }
    let stale: std::collections::BTreeSet<String> =
        doomed.iter().map(|(_, p)| p.to_string()).collect();
    let limit = max.unwrap_or_else(|| default_max_stale(held.len()));
    if stale.len() > limit {
        return Err(Error::Refused(format!(
            "--prune-stale: {} of the {} groups of {scope} are gone, more than {limit} \
             (--max-stale): nothing deleted there: {}",
            stale.len(),
            held.len(),
            stale.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    for (path, _) in &doomed {
        dest.delete(path)?;
    }
    Ok(stale.into_iter().collect())
}

fn progress(n: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {pos}/{len} account/regions [{bar:30}] {elapsed} {msg}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_groups_are_limited_to_half_of_those_held() {
        assert_eq!(default_max_stale(0), 1);
        assert_eq!(default_max_stale(1), 1);
        assert_eq!(default_max_stale(3), 1);
        assert_eq!(default_max_stale(10), 5);
    }

    #[test]
    fn every_item_sent_is_worked_on_exactly_once() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        // Few items, many rounds: the end of the channel races with the
        // last items, which is where a parallel `while_some` loses some.
        for round in 0..10_000 {
            let n = round % 4;
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            let done = Mutex::new(Vec::new());
            std::thread::scope(|ts| {
                ts.spawn(move || {
                    for i in 0..n {
                        tx.blocking_send(i).unwrap();
                    }
                });
                drain(&pool, rx, |i| done.lock().unwrap().push(i));
            });
            let mut done = done.into_inner().unwrap();
            done.sort();
            assert_eq!(done, (0..n).collect::<Vec<_>>(), "round {round}");
        }
    }
}
