//! Run records: one JSON file per run under `runs/`, named by the run's id,
//! which starts with the run's start as a [`crate::time::FILE_STAMP`].
//!
//! Owns the record's path and the listing of records in time order, for
//! `serve` (which writes them, keeps the newest and answers `GET /runs/…`)
//! and the report (which shows the newest).

use chrono::NaiveDateTime;

use crate::error::Error;
use crate::partition::RUNS;
use crate::sink::Destination;

/// The largest run record read back: a record lists each failure, so a
/// run of 10,000 accounts whose regions all failed takes several MB.
pub const MAX_RECORD_BYTES: u64 = 16 << 20;

/// The path of run `id`'s record, under the destination root.
pub fn record_path(id: &str) -> String {
    format!("{RUNS}/{id}.json")
}

/// The records under `runs/` whose names start with a time, oldest first
/// (ties by path); anything else there is left out.
pub fn recorded(dest: &dyn Destination) -> Result<Vec<(NaiveDateTime, String)>, Error> {
    let mut v: Vec<(NaiveDateTime, String)> = dest
        .list(RUNS)?
        .into_iter()
        .filter_map(|p| {
            let name = p.rsplit('/').next()?.strip_suffix(".json")?;
            Some((crate::time::parse_file_stamp(name)?, p))
        })
        .collect();
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_listed_by_time_and_strays_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let dest = crate::sink::local::LocalDestination::new(dir.path()).unwrap();
        for id in [
            "2026-12-01T10-00-00Z-scheduled-a-2",
            "2026-11-30T23-59-59Z-manual-b-1",
            "2026-12-01T10-00-00Z-manual-a-1",
        ] {
            dest.put(&record_path(id), b"{}").unwrap();
        }
        dest.put("runs/notes.json", b"{}").unwrap();
        dest.put("runs/2026-12-02T00-00-00Z.txt", b"").unwrap();
        let got: Vec<String> = recorded(&dest)
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(
            got,
            [
                "runs/2026-11-30T23-59-59Z-manual-b-1.json",
                "runs/2026-12-01T10-00-00Z-manual-a-1.json",
                "runs/2026-12-01T10-00-00Z-scheduled-a-2.json",
            ]
        );
    }
}
