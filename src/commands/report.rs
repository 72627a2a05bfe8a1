//! `fleetcmdb report`: the governance page of an export.
//!
//! Gathers the picture ([`crate::report::gather`]), renders it
//! ([`crate::report::page::render`]) and writes it whole: to a local file
//! (`--html`, replaced atomically) and/or next to the export
//! (`--publish`: `OUT/report.html`).

use std::path::Path;

use crate::error::{Error, ExitCode};
use crate::report;
use crate::settings::ReportSettings;
use crate::sink::{self, Destination};

/// Writes `html` to the local file `path`, replacing it whole.
pub fn write_local(path: &Path, html: &str) -> Result<(), Error> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Usage(format!("--html {}: not a file name", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    sink::local::LocalDestination::new(dir)?.put(name, html.as_bytes())?;
    Ok(())
}

pub fn run(s: &ReportSettings) -> Result<ExitCode, Error> {
    let dest = sink::open(&s.out, &s.conn)?;
    let started = std::time::Instant::now();
    let html = report::html(dest.as_ref(), s.at_ms)?;
    if let Some(path) = &s.html {
        write_local(path, &html)?;
        eprintln!(
            "fleetcmdb report: {} ({} bytes, {:.2} s)",
            path.display(),
            html.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if s.publish {
        dest.put(crate::partition::REPORT_PAGE, html.as_bytes())?;
        eprintln!(
            "fleetcmdb report: {}/{} ({} bytes)",
            dest.url(),
            crate::partition::REPORT_PAGE,
            html.len()
        );
    }
    Ok(ExitCode::Success)
}
