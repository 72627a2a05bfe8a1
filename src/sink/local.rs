//! The local-directory destination.
//!
//! Owns atomic file replacement on a local disk: an object is written to a
//! hidden temporary file (`.{name}.tmp-…`, which Athena, Hive and DuckDB
//! ignore) in the same directory, then renamed over the final name. A crash
//! leaves at most a hidden temporary file; the previous file stays intact.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{check_rel_path, Destination, StagedObject};
use crate::error::Error;
use crate::failpoint;

pub struct LocalDestination {
    root: PathBuf,
}

impl LocalDestination {
    pub fn new(root: impl AsRef<Path>) -> Result<Self, Error> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        Ok(LocalDestination { root })
    }

    fn path(&self, rel: &str) -> Result<PathBuf, Error> {
        check_rel_path(rel)?;
        Ok(self.root.join(rel))
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Hidden temporary name next to `final_path`.
fn temp_path(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    final_path.with_file_name(format!(".{name}.tmp-{}-{seq}", std::process::id()))
}

struct StagedFile {
    root: PathBuf,
    temp: PathBuf,
    dest: PathBuf,
    out: Option<BufWriter<File>>,
    written: u64,
    crash: bool,
    fail: bool,
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.fail {
            return Err(io::Error::other(
                "injected write failure (FLEETCMDB_FAILPOINT)",
            ));
        }
        let out = self.out.as_mut().expect("open until commit");
        let n = out.write(buf)?;
        self.written += n as u64;
        if self.crash && self.written > 0 {
            // Simulated crash mid-file: what was written so far reaches the
            // disk under the temporary name, then the process dies.
            let _ = out.flush();
            eprintln!(
                "fleetcmdb: FLEETCMDB_FAILPOINT crash while writing {}",
                self.dest.display()
            );
            std::process::abort();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("open until commit").flush()
    }
}

impl StagedObject for StagedFile {
    fn commit(mut self: Box<Self>) -> Result<u64, Error> {
        let out = self.out.take().expect("committed once");
        // The last buffered bytes are written here: on a full disk this is
        // where it fails, and the staged file must not stay behind.
        let done = out
            .into_inner()
            .map_err(|e| Error::io(&self.temp, e.into_error()))
            .and_then(|file| {
                if failpoint::armed("fail-commit", &self.dest.to_string_lossy()) {
                    return Err(Error::io(
                        &self.temp,
                        io::Error::other("injected commit failure (FLEETCMDB_FAILPOINT)"),
                    ));
                }
                drop(file);
                fs::rename(&self.temp, &self.dest).map_err(|e| Error::io(&self.dest, e))
            });
        if done.is_err() {
            let _ = fs::remove_file(&self.temp);
            remove_empty_parents(&self.root, &self.temp);
        }
        done.map(|()| self.written)
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.temp);
            // A partition that never committed leaves no folder behind.
            remove_empty_parents(&self.root, &self.temp);
        }
    }
}

/// Removes the folders above `path` that are empty, up to (never) `root`.
fn remove_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| *d != root && d.starts_with(root)) {
        if fs::remove_dir(d).is_err() {
            break; // not empty (or gone): stop
        }
        dir = d.parent();
    }
}

impl Destination for LocalDestination {
    fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn healthcheck(&self) -> Result<(), Error> {
        let probe = ".fleetcmdb-healthcheck";
        self.put(probe, b"ok")?;
        self.delete(probe)
    }

    fn stage(&self, rel_path: &str) -> Result<Box<dyn StagedObject>, Error> {
        let dest = self.path(rel_path)?;
        let temp = temp_path(&dest);
        // Another partition's abandoned write may remove a shared folder
        // that has just become empty: create it again and retry once.
        let mut tries = 0;
        let file = loop {
            if let Some(dir) = dest.parent() {
                fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            match File::create(&temp) {
                Ok(f) => break f,
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 => tries += 1,
                Err(e) => {
                    remove_empty_parents(&self.root, &temp);
                    return Err(Error::io(&temp, e));
                }
            }
        };
        Ok(Box::new(StagedFile {
            root: self.root.clone(),
            out: Some(BufWriter::with_capacity(256 * 1024, file)),
            temp,
            dest,
            written: 0,
            crash: failpoint::armed("crash-during-write", rel_path),
            fail: failpoint::armed("fail-write", rel_path),
        }))
    }

    fn list(&self, rel_prefix: &str) -> Result<Vec<String>, Error> {
        let base = if rel_prefix.is_empty() {
            self.root.clone()
        } else {
            self.path(rel_prefix)?
        };
        let mut out = Vec::new();
        walk(&self.root, &base, &mut out)?;
        out.sort();
        Ok(out)
    }

    fn read(&self, rel_path: &str, max_bytes: u64) -> Result<Vec<u8>, Error> {
        crate::input::read_file(&self.path(rel_path)?, max_bytes)
    }

    fn put_new(&self, rel_path: &str, data: &[u8]) -> Result<bool, Error> {
        let dest = self.path(rel_path)?;
        let dir = dest.parent().expect("a relative path has a parent");
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let temp = temp_path(&dest);
        // Durability as for every other commit here: written and renamed
        // (linked), not fsynced; thousands of groups an hour would pay it.
        let written = File::create(&temp).and_then(|mut f| f.write_all(data));
        // A hard link fails if the name exists: exclusive, and the content
        // is complete before the name appears.
        let made = written.and_then(|()| match fs::hard_link(&temp, &dest) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            // A file system without hard links: create-exclusive instead
            // (still never replaces; a reader may see the file being written).
            Err(e)
                if e.kind() == io::ErrorKind::Unsupported
                    || e.raw_os_error() == Some(libc::EPERM) =>
            {
                match fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dest)
                {
                    Ok(mut f) => f.write_all(data).map(|()| true),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        });
        let _ = fs::remove_file(&temp);
        made.map_err(|e| Error::io(&dest, e))
    }

    /// Deletes a file, then the folders it leaves empty (never the root).
    fn delete(&self, rel_path: &str) -> Result<(), Error> {
        let p = self.path(rel_path)?;
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::io(&p, e)),
            _ => {}
        }
        remove_empty_parents(&self.root, &p);
        Ok(())
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), Error> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else if ft.is_file() {
            if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_visible_before_commit_and_drop_discards() {
        let dir = tempfile::tempdir().unwrap();
        let d = LocalDestination::new(dir.path()).unwrap();
        let mut o = d.stage("a/b/x.parquet").unwrap();
        o.write_all(b"new").unwrap();
        assert!(
            d.list("a").unwrap().is_empty()
                || d.list("a")
                    .unwrap()
                    .iter()
                    .all(|p| p.contains("/.x.parquet.tmp-"))
        );
        assert!(!dir.path().join("a/b/x.parquet").exists());
        assert_eq!(o.commit().unwrap(), 3);
        assert_eq!(d.read("a/b/x.parquet", 3).unwrap(), b"new");

        let mut o = d.stage("a/b/x.parquet").unwrap();
        o.write_all(b"half").unwrap();
        drop(o);
        assert_eq!(
            d.read("a/b/x.parquet", 1 << 20).unwrap(),
            b"new",
            "an abandoned write leaves the old file"
        );
        assert_eq!(
            d.list("").unwrap(),
            vec!["a/b/x.parquet".to_string()],
            "and no temporary file"
        );
        // An abandoned write to a new folder leaves no folder either.
        let mut o = d.stage("a/c/d/y.parquet").unwrap();
        o.write_all(b"half").unwrap();
        drop(o);
        assert!(!dir.path().join("a/c").exists(), "no empty folder is left");
        assert!(
            dir.path().join("a/b").exists(),
            "a folder holding files stays"
        );
        d.healthcheck().unwrap();
        assert_eq!(d.list("").unwrap().len(), 1);
    }

    #[allow(unsafe_code, reason = "mkfifo is a libc call")]
    #[test]
    fn reads_are_bounded_and_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = LocalDestination::new(dir.path()).unwrap();
        d.put("f", b"12345").unwrap();
        assert_eq!(d.read("f", 5).unwrap(), b"12345");
        let e = d.read("f", 4).unwrap_err().to_string();
        assert!(
            e.contains("5 bytes is over the size limit of 4 bytes"),
            "{e}"
        );
        fs::create_dir(dir.path().join("sub")).unwrap();
        let e = d.read("sub", 10).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = crate::input::read_file(&fifo, 10).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let e = crate::input::read_file(Path::new("/dev/zero"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn put_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let d = LocalDestination::new(dir.path()).unwrap();
        assert!(d.put_new("a/x", b"first").unwrap());
        assert!(!d.put_new("a/x", b"second").unwrap());
        assert_eq!(d.read("a/x", 100).unwrap(), b"first");
        assert_eq!(
            d.list("").unwrap(),
            vec!["a/x".to_string()],
            "no staged file left"
        );
    }

    #[test]
    fn refuses_paths_outside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let d = LocalDestination::new(dir.path()).unwrap();
        for bad in ["../x", "/etc/passwd", "a/../../x", "a//b", ""] {
            assert!(d.stage(bad).is_err(), "{bad}");
        }
    }
}
