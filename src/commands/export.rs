//! `fleetcmdb export`: collect every scope of a source, in parallel with a
//! bounded pool, into the destination; print a summary.
//!
//! Memory is bounded by `jobs` scopes in flight: each scope's partitions are
//! written and committed as soon as the scope is collected.

use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde_json::json;

use crate::collect::collect_scope;
use crate::error::{Error, ExitCode};
use crate::settings::{ExportSettings, SourceSettings};
use crate::sink::partition::Partition;
use crate::sink::scope::{Failure, ScopeReport, ScopeWriter};
use crate::sink::{self, Destination};
use crate::sources::{demo::Demo, snapshot::Snapshot, Source};
use crate::tables;

/// The outcome of an export, as printed.
#[derive(Debug, Default)]
pub struct Summary {
    pub source: String,
    pub destination: String,
    pub scopes: usize,
    pub partitions: Vec<Partition>,
    pub rows: [u64; 6],
    pub bytes: u64,
    pub files: u64,
    pub seconds: f64,
    pub failures: Vec<Failure>,
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
            "rows": rows,
            "bytes": self.bytes,
            "files": self.files,
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "failures": self.failures.iter().map(|f| json!({
                "scope": f.scope, "group": f.group, "error": f.error.to_string()
            })).collect::<Vec<_>>(),
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
        s += &format!("  time:       {:.2} s\n", self.seconds);
        for f in &self.failures {
            let what = match &f.group {
                Some(g) => format!("{} group {g}", f.scope),
                None => f.scope.clone(),
            };
            s += &format!("  FAILED {what}: {}\n", f.error);
        }
        s
    }
}

pub fn open_source(s: &ExportSettings) -> Result<Box<dyn Source>, Error> {
    Ok(match &s.source {
        SourceSettings::Demo(o) => Box::new(Demo::new(o.clone(), s.naming.clone())?),
        SourceSettings::Snapshot(dir) => Box::new(Snapshot::new(dir.clone())?),
    })
}

/// Runs the export; returns the summary (also for partial failures).
pub fn export(
    s: &ExportSettings,
    source: &dyn Source,
    dest: &dyn Destination,
) -> Result<Summary, Error> {
    let started = Instant::now();
    dest.healthcheck()?;
    let (scopes, early_failures) = source.scopes()?;
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
    pool.install(|| {
        scopes.par_iter().for_each(|scope| {
            let mut w = ScopeWriter::new(
                scope.clone(),
                dest,
                &s.writer,
                s.as_of_ms,
                &s.naming.group_tag,
            );
            match source.inputs(scope) {
                Ok(inputs) => collect_scope(inputs.as_ref(), &mut w, &s.naming, s.as_of_ms),
                Err(e) => w.fail_scope(e),
            }
            let report = w.finish();
            bar.inc(1);
            summary
                .lock()
                .expect("no panics while holding the lock")
                .add(report);
        })
    });
    bar.finish_and_clear();
    let mut summary = summary.into_inner().expect("not poisoned");
    summary.partitions.sort();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
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

pub fn run(s: &ExportSettings) -> Result<ExitCode, Error> {
    let source = open_source(s)?;
    let dest = sink::open(&s.out)?;
    let summary = export(s, source.as_ref(), dest.as_ref())?;
    if s.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary.to_json()).expect("json")
        );
    } else {
        eprint!("{}", summary.to_text());
    }
    Ok(summary.exit_code())
}
