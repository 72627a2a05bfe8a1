//! `fleetcmdb export` and `fleetcmdb backup`: one run of
//! [`crate::pipeline`], its summary printed as text or JSON.

use crate::error::{Error, ExitCode};
use crate::pipeline::{export, open_source};
use crate::settings::ExportSettings;
use crate::sink;

pub fn run(s: &ExportSettings) -> Result<ExitCode, Error> {
    let source = open_source(s)?;
    let dest = sink::open(&s.out, &s.conn)?;
    let also = s
        .also
        .iter()
        .map(|u| sink::open(u, &s.conn))
        .collect::<Result<Vec<_>, _>>()?;
    let summary = export(s, source.as_ref(), dest.as_ref(), &also)?;
    if s.json {
        // A closed pipe loses the summary, not the run's exit code.
        let json = serde_json::to_string_pretty(&summary.to_json()).expect("json");
        match crate::output::line(format_args!("{json}")) {
            Ok(()) | Err(Error::BrokenPipe) => {}
            Err(e) => return Err(e),
        }
    } else {
        eprint!("{}", summary.to_text());
    }
    Ok(summary.exit_code())
}
