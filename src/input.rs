//! Bounded reads of input: every file fleetcmdb reads (snapshot pages,
//! backups, table dumps, the config file) goes through [`read_file`], and
//! every object over its limit gets the same [`too_big`] error.
//!
//! Owns the rule that a size is checked before anything is read and that
//! only regular files are read. Used by sources, settings and destinations
//! alike, so it depends on none of them.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use crate::error::Error;

/// The error for an object over its size limit, before it is read.
pub fn too_big(origin: &str, size: u64, max_bytes: u64) -> Error {
    Error::input(
        origin,
        "the file",
        format!("{size} bytes is over the size limit of {max_bytes} bytes"),
    )
}

#[cfg(unix)]
fn open_nonblocking(p: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
}

#[cfg(not(unix))]
fn open_nonblocking(p: &Path) -> io::Result<File> {
    File::open(p)
}

/// Reads a regular file of at most `max_bytes`, refusing anything else
/// (a FIFO, a device, a folder) and anything larger before reading it.
pub fn read_file(p: &Path, max_bytes: u64) -> Result<Vec<u8>, Error> {
    let origin = p.display().to_string();
    // Non-blocking, so that opening a FIFO returns at once instead of
    // waiting for a writer; no effect on a regular file.
    let mut f = open_nonblocking(p).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound(origin.clone()),
        _ => Error::io(p, e),
    })?;
    // The open file's own metadata: what is read is what was checked.
    let meta = f.metadata().map_err(|e| Error::io(p, e))?;
    if !meta.is_file() {
        return Err(Error::input(
            &origin,
            "the file",
            "not a regular file (a FIFO, device or folder is never read)",
        ));
    }
    if meta.len() > max_bytes {
        return Err(too_big(&origin, meta.len(), max_bytes));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    // A file that grows while being read is cut at the limit and refused.
    (&mut f)
        .take(max_bytes + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io(p, e))?;
    if data.len() as u64 > max_bytes {
        return Err(too_big(&origin, data.len() as u64, max_bytes));
    }
    Ok(data)
}
