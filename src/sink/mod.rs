//! Where exported files go, and how they get there safely.
//!
//! Owns the [`Destination`] trait (chosen by URL scheme: a local directory
//! or `s3://bucket/prefix`), the staged-then-committed write
//! protocol that keeps readers from ever seeing a partial file, the Parquet
//! file writer, and the writing of batches into their partitions.

pub mod fresh;
pub mod local;
pub mod parquet;
pub mod partitions;
pub mod s3;

use std::io::Write;

use crate::error::Error;

/// An object being written. Nothing is visible under its final name until
/// [`StagedObject::commit`]; dropping it without commit discards it.
pub trait StagedObject: Write + Send {
    /// Makes the object visible under its final name, replacing any previous
    /// one atomically. Returns the bytes written.
    fn commit(self: Box<Self>) -> Result<u64, Error>;
}

/// A place that holds an export: a local directory or a bucket prefix.
/// Every path is relative to the destination root and built from checked
/// partition values (see [`partition`]).
pub trait Destination: Send + Sync {
    /// `file:///…` or `s3://…`, for messages.
    fn url(&self) -> String;
    /// Checks that we can write, list and delete before any work is done.
    fn healthcheck(&self) -> Result<(), Error>;
    /// Starts writing `rel_path`.
    fn stage(&self, rel_path: &str) -> Result<Box<dyn StagedObject>, Error>;
    /// Every object path under `rel_prefix`, relative to the root, sorted.
    fn list(&self, rel_prefix: &str) -> Result<Vec<String>, Error>;
    /// Reads a whole object of at most `max_bytes`: the size is checked
    /// before anything is read, and only regular files are read.
    fn read(&self, rel_path: &str, max_bytes: u64) -> Result<Vec<u8>, Error>;
    fn delete(&self, rel_path: &str) -> Result<(), Error>;
    /// Writes a whole object only if nothing has that name yet, atomically:
    /// `Ok(false)` when one exists (it is left as it was). On disk a hard
    /// link of the staged file; on S3 a PUT with `If-None-Match: *`.
    fn put_new(&self, rel_path: &str, data: &[u8]) -> Result<bool, Error>;
    /// [`Destination::put_new`], with object tags where the destination has
    /// them (`key=value&…`, URL-encoded): on S3 a lifecycle rule can select
    /// objects by tag. A local disk has no tags.
    fn put_new_tagged(&self, rel_path: &str, data: &[u8], _tagging: &str) -> Result<bool, Error> {
        self.put_new(rel_path, data)
    }
    /// Writes a whole object at once: staged, then committed. Returns the
    /// bytes written.
    fn put(&self, rel_path: &str, data: &[u8]) -> Result<u64, Error> {
        let mut o = self.stage(rel_path)?;
        o.write_all(data).map_err(|e| Error::io(rel_path, e))?;
        o.commit()
    }
}

/// How to reach a destination that needs a connection (S3).
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub aws: crate::aws::AwsSettings,
    pub s3: s3::S3Options,
}

/// Opens the destination named by `url`: `s3://bucket/prefix`, a `file://`
/// URL or a path.
pub fn open(url: &str, conn: &Connection) -> Result<Box<dyn Destination>, Error> {
    if url.starts_with("s3://") {
        return Ok(Box::new(s3::S3Destination::new(
            url,
            &conn.aws,
            conn.s3.clone(),
        )?));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        if scheme != "file" {
            return Err(Error::Usage(format!(
                "{url}: unknown scheme {scheme}://; use s3://bucket/prefix or a local directory"
            )));
        }
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    Ok(Box::new(local::LocalDestination::new(path)?))
}

/// A file path, `file://` or `s3://` URL → (its folder as a destination,
/// its name). A missing local folder is not found, not made.
pub fn open_file(url: &str, conn: &Connection) -> Result<(Box<dyn Destination>, String), Error> {
    let (dir, name) = url
        .trim_end_matches('/')
        .rsplit_once('/')
        .unwrap_or((".", url));
    let local = dir.strip_prefix("file://").unwrap_or(dir);
    if !url.starts_with("s3://") && !std::path::Path::new(local).is_dir() {
        return Err(Error::NotFound(url.to_string()));
    }
    Ok((open(dir, conn)?, name.to_string()))
}

/// Refuses relative paths that could leave the destination root.
pub fn check_rel_path(rel: &str) -> Result<(), Error> {
    let bad = rel.is_empty()
        || rel.starts_with('/')
        || rel.contains('\\')
        || rel
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        // The path came from input (a file name, a manifest, a flag):
        // refusing it is a data error, not a bug.
        return Err(Error::input(
            rel,
            "the path",
            "refusing a path outside the destination (empty, absolute, or with '.', '..' or '\\' segments)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_opens_by_path_or_file_url_and_a_missing_folder_is_not_made() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("b.json"), b"{}").unwrap();
        let conn = Connection::default();
        let path = format!("{}/b.json", d.path().display());
        for url in [path.clone(), format!("file://{path}")] {
            let (dest, name) = open_file(&url, &conn).unwrap();
            assert_eq!(dest.read(&name, 16).unwrap(), b"{}", "{url}");
        }
        let missing = d.path().join("none");
        for url in [
            format!("{}/b.json", missing.display()),
            format!("file://{}/b.json", missing.display()),
        ] {
            assert!(
                matches!(open_file(&url, &conn), Err(Error::NotFound(_))),
                "{url}"
            );
        }
        assert!(!missing.exists(), "reading made no folder");
    }
}
