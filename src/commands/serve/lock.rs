//! One daemon per local destination.
//!
//! Owns the lock file `{out}/.serve.lock`: an exclusive `flock` held for
//! the life of the process and released by the kernel when it ends, however
//! it ends, so a crashed daemon never leaves a stale lock. The file names
//! its holder (process id, host, start time) for the refusal a second
//! daemon prints. S3 has no such lock: there run ids carry a per-process
//! part, so two daemons never overwrite each other's records.

use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::os::fd::AsRawFd;

use crate::error::Error;

/// The lock file's name under a local destination.
pub const LOCK_FILE: &str = ".serve.lock";
/// The most of a holder's description read back.
const MAX_HOLDER_BYTES: u64 = 4096;

/// Holds the lock until dropped (or the process ends).
pub struct Held {
    _file: File,
}

/// Takes the lock of `out` when it is a local folder; `None` on S3.
#[allow(unsafe_code, reason = "flock is a libc call")]
pub fn hold(out: &str) -> Result<Option<Held>, Error> {
    if out.starts_with("s3://") {
        return Ok(None);
    }
    let dir = std::path::Path::new(out.strip_prefix("file://").unwrap_or(out));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let holder = crate::input::read_file(&path, MAX_HOLDER_BYTES)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "another process".into());
            return Err(Error::Busy(format!(
                "{}: another fleetcmdb serve uses this destination ({}); stop it first, or give this one another --out",
                path.display(),
                crate::output::escape_controls(&holder)
            )));
        }
        return Err(Error::io(&path, e));
    }
    let me = format!(
        "pid {} on {}, since {}\n",
        std::process::id(),
        crate::partition::host_name(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(me.as_bytes()))
        .map_err(|e| Error::io(&path, e))?;
    Ok(Some(Held { _file: file }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_the_lock_dies_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        let first = hold(out).unwrap().expect("a local lock");
        let e = hold(out).err().expect("refused").to_string();
        assert!(e.contains("another fleetcmdb serve"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        assert!(hold(out).unwrap().is_some(), "free again once dropped");
        assert!(hold("s3://bucket/prefix").unwrap().is_none());
    }
}
