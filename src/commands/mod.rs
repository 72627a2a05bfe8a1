//! One module per subcommand. Each takes plain settings and returns an exit code.

pub mod ddl;
pub(crate) mod diff;
pub(crate) mod export;
pub(crate) mod gen_snapshot;
pub(crate) mod iam_policy;
pub(crate) mod plan;
pub(crate) mod prune;
pub(crate) mod report;
pub(crate) mod restore;
pub(crate) mod schedule;
pub(crate) mod serve;
pub(crate) mod table_backup;
