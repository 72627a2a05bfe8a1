//! Typed errors and the exit codes they map to.
//!
//! Owns [`Error`] and [`ExitCode`]. Errors say what was wrong and where (a
//! file and a JSON path, a value and its origin); `main` maps them to exit
//! codes and nothing else decides how the process ends.

use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// Bad arguments, config file or environment.
    #[error("{0}")]
    Usage(String),

    #[error("invalid {what} {value:?} (from {origin}): partition values must match [A-Za-z0-9._-]+ and not be '.' or '..'")]
    BadPartitionValue {
        what: String,
        value: String,
        origin: String,
    },

    /// Input that does not have the expected shape.
    #[error("{file}: at {json_path}: {message}")]
    Input {
        file: String,
        json_path: String,
        message: String,
    },

    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },

    /// An object or file that does not exist.
    #[error("{0}: not found")]
    NotFound(String),

    #[error("writing Parquet for {what}: {message}")]
    Parquet { what: String, message: String },

    /// An AWS call failed for this scope (account, account/region, or organization).
    #[error("{scope}: {message}")]
    Aws { scope: String, message: String },

    #[error("internal error: {0}")]
    Internal(String),

    /// Work not started because the process is stopping (a daemon's shutdown).
    #[error("not collected: {0}")]
    Cancelled(String),

    /// A deletion refused by a safety limit: nothing was deleted.
    #[error("{0}")]
    Refused(String),

    /// Another process holds what this one needs (a daemon's destination).
    #[error("{0}")]
    Busy(String),

    /// Standard output was closed by its reader: a normal end, exit 0.
    #[error("standard output closed")]
    BrokenPipe,
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    pub fn input(
        file: impl Into<String>,
        json_path: impl Into<String>,
        message: impl ToString,
    ) -> Self {
        Error::Input {
            file: file.into(),
            json_path: json_path.into(),
            message: message.to_string(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::BadPartitionValue { .. } => ExitCode::Usage,
            Error::Internal(_) => ExitCode::Internal,
            Error::BrokenPipe => ExitCode::Success,
            _ => ExitCode::Failed,
        }
    }
}

/// How the process ends. Documented in docs/usage.md; scripts rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done.
    Success = 0,
    /// A bug: please report it.
    Internal = 1,
    /// Bad arguments or configuration: nothing was done.
    Usage = 2,
    /// Some partitions failed; the others were written.
    Partial = 3,
    /// Nothing could be done.
    Failed = 4,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
