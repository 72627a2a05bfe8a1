//! Entry points that run each parser of untrusted input on bytes in memory.
//!
//! Owns nothing but the wiring: the fuzz targets in `fuzz/` (cargo-fuzz)
//! and the corpus replay in `tests/it/fuzz_corpus.rs` call these, so both
//! exercise exactly the code an export or a restore runs. Each returns
//! whether the input was accepted; none may panic, hang or allocate
//! without bound, whatever the bytes.

use std::io::{self, Write};

use chrono::{TimeZone, Utc};

use crate::collect::router::Router;
use crate::collect::stream_page;
use crate::documents::{Body, Doc};
use crate::error::Error;
use crate::partition::{PartitionValue, Scope};
use crate::sink::parquet::WriterOptions;
use crate::sink::partitions::PartitionWriter;
use crate::sink::{Destination, StagedObject};
use crate::tables::TableId;

/// A destination that keeps nothing: the parsers, not the disk, are under test.
struct Discard;

struct DiscardObject(u64);

impl Write for DiscardObject {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedObject for DiscardObject {
    fn commit(self: Box<Self>) -> Result<u64, Error> {
        Ok(self.0)
    }
}

impl Destination for Discard {
    fn url(&self) -> String {
        "discard://".into()
    }
    fn healthcheck(&self) -> Result<(), Error> {
        Ok(())
    }
    fn stage(&self, _: &str) -> Result<Box<dyn StagedObject>, Error> {
        Ok(Box::new(DiscardObject(0)))
    }
    fn list(&self, _: &str) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }
    fn read(&self, rel_path: &str, _: u64) -> Result<Vec<u8>, Error> {
        Err(Error::NotFound(rel_path.into()))
    }
    fn delete(&self, _: &str) -> Result<(), Error> {
        Ok(())
    }
    fn put_new(&self, _: &str, _: &[u8]) -> Result<bool, Error> {
        Ok(true)
    }
}

/// A `describe-instances` page, then the same bytes as a `describe-volumes`
/// page, through the streaming page parser and the Arrow builders.
pub fn snapshot_page(data: &[u8]) -> bool {
    let dest = Discard;
    let opts = WriterOptions::default();
    let scope = Scope {
        accountid: PartitionValue::parse("111111111111", "account id", "fuzz").expect("valid"),
        region: PartitionValue::parse("eu-west-1", "region", "fuzz").expect("valid"),
    };
    let sink = PartitionWriter::new(&dest, &opts, crate::tables::schemas());
    let mut w = Router::new(scope, sink, 0, "clonesquad:group-name");
    let page = |data: &[u8]| Doc {
        origin: "fuzz.json".into(),
        body: Body::Bytes(data.to_vec()),
    };
    // As `collect` does: a page that fails fails the scope.
    let instances = stream_page(&mut w, TableId::Instances, page(data));
    w.flush_routed();
    let volumes = stream_page(&mut w, TableId::Volumes, page(data));
    let ok = instances.is_ok() && volumes.is_ok();
    if let Some(e) = instances.err().or(volumes.err()) {
        w.fail_scope(e);
    }
    // Overlapping instances are found when the routed rows are flushed.
    ok && w.finish().failures.is_empty()
}

/// A group backup file: checksum, the flat-mapping check, then YAML.
pub fn backup_yaml(data: &[u8]) -> bool {
    let body = crate::backup::verified_body("fuzz.yaml", data).unwrap_or(data);
    crate::commands::restore::parse_yaml("fuzz.yaml", body).is_ok()
}

/// A schedule expression (`cron()`, `rate()`, `at()`), evaluated around a
/// fixed instant; and the same text as a timestamp.
pub fn schedule(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let _ = crate::time::parse_timestamp_ms(text);
    let (expr, tz) = text.split_once('\n').unwrap_or((text, ""));
    match crate::schedule::parse(expr, tz) {
        Ok(s) => {
            let t = Utc
                .with_ymd_and_hms(2026, 3, 29, 1, 30, 0)
                .single()
                .expect("valid");
            let _ = s.next_start(t, None);
            let _ = s.prev_start(t, None);
            true
        }
        Err(_) => false,
    }
}
