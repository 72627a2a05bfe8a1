//! One module per subcommand. Each takes plain settings and returns an exit code.

pub mod ddl;
pub mod export;
pub mod gen_snapshot;
pub mod iam_policy;
pub mod prune;
pub mod restore;
pub mod table_backup;
