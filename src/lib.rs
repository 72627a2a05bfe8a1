//! fleetcmdb: an org-wide CMDB for CloneSquad-style EC2 fleets.
//!
//! Sources ([`sources`]) provide AWS documents per account/region;
//! [`collect`] turns them into rows of the tables declared in [`tables`]
//! (with the language of [`schema`]); [`record`] appends rows into Arrow;
//! [`sink`] writes Hive-partitioned Parquet atomically to a destination.

pub(crate) mod athena;
pub(crate) mod aws;
pub(crate) mod backup;
pub mod cli;
pub(crate) mod collect;
pub mod commands;
pub(crate) mod dynamo;
pub mod error;
pub(crate) mod failpoint;
pub mod fuzz;
pub(crate) mod input;
pub(crate) mod output;
pub(crate) mod partition;
pub(crate) mod record;
pub(crate) mod schedule;
pub mod schema;
pub(crate) mod settings;
pub(crate) mod sink;
pub(crate) mod sources;
pub mod tables;
pub(crate) mod views;

use clap::Parser;

use cli::{Cli, Command};
use error::{Error, ExitCode};

/// Parses arguments, resolves settings and runs the command.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Export(a) => commands::export::run(&settings::export(&a)?),
        Command::Backup(a) => commands::export::run(&settings::backup(&a)?),
        Command::Prune(a) => commands::prune::run(&settings::prune(&a)?),
        Command::Restore(a) => commands::restore::run(&settings::restore(&a)?),
        Command::BackupTable(a) => commands::table_backup::backup(&settings::table_backup(&a)?),
        Command::RestoreTable(a) => commands::table_backup::restore(&settings::table_restore(&a)?),
        Command::Ddl(a) => commands::ddl::run(&settings::ddl(&a)?),
        Command::IamPolicy(a) => commands::iam_policy::run(a.member_role.as_deref()),
        Command::Schedule(a) => commands::schedule::run(&settings::schedule(&a)?),
        Command::GenSnapshot(a) => commands::gen_snapshot::run(
            &a.dir,
            settings::demo(&a.demo_opts),
            settings::naming(&a.naming, &Default::default())?,
        ),
    }
}

/// Entry point used by `main`: returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage as i32
            } else {
                0
            };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code as i32,
        // The reader closed the pipe: what it wanted, it has.
        Err(Error::BrokenPipe) => 0,
        Err(e) => {
            eprintln!(
                "fleetcmdb: error: {}",
                output::escape_controls(&e.to_string())
            );
            e.exit_code() as i32
        }
    }
}
