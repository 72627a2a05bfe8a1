//! fleetcmdb: an org-wide CMDB for CloneSquad-style EC2 fleets.
//!
//! Sources ([`sources`]) provide AWS documents ([`documents`]) per
//! account/region and per account; each table in [`tables`] declares its
//! columns (in the language of [`schema`]) and the resolver that fills it;
//! [`collect`] runs the resolvers and routes rows, appended into Arrow by
//! [`record`], to their partitions; [`sink`] writes Hive-partitioned
//! Parquet atomically to a destination. The layers are checked: see
//! `layering` below.

pub(crate) mod athena;
pub(crate) mod aws;
pub(crate) mod backup;
pub(crate) mod calls;
pub mod cli;
pub(crate) mod collect;
pub mod commands;
pub(crate) mod consolidated;
pub(crate) mod documents;
pub(crate) mod dynamo;
pub mod error;
pub(crate) mod failpoint;
pub mod fuzz;
pub mod history;
pub(crate) mod input;
pub mod options;
pub(crate) mod output;
pub(crate) mod partition;
pub(crate) mod pipeline;
pub(crate) mod plans;
pub(crate) mod record;
pub(crate) mod report;
pub(crate) mod retention;
pub(crate) mod runs;
pub(crate) mod schedule;
pub mod schema;
pub(crate) mod settings;
pub(crate) mod sink;
pub(crate) mod sources;
pub(crate) mod stable_hash;
pub mod tables;
pub(crate) mod time;
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
        Command::IamPolicy(a) => commands::iam_policy::run(&settings::iam_policy(&a)?),
        Command::Schedule(a) => commands::schedule::run(&settings::schedule(&a)?),
        Command::Serve(a) => commands::serve::run(&settings::serve(&a)?),
        Command::Plan(a) => commands::plan::run(&settings::plan(&a)?),
        Command::Diff(a) => commands::diff::run(&settings::diff(&a)?),
        Command::Snapshot(a) => commands::diff::snapshot(&settings::snapshot(&a)?),
        Command::Consolidate(a) => commands::diff::consolidate(&settings::consolidate(&a)?),
        Command::Report(a) => commands::report::run(&settings::report(&a)?),
        Command::GenSnapshot(a) => {
            let (demo, naming) = settings::gen_snapshot(&a)?;
            commands::gen_snapshot::run(&a.dir, demo, naming)
        }
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

#[cfg(test)]
mod layering {
    //! The modules form layers: each may use only the layers below its own
    //! (and itself). A use that points up the layers fails this test.

    /// Module paths by layer, lowest first; a file takes the layer of the
    /// longest path it starts with.
    const LAYERS: &[&[&str]] = &[
        &[
            "error",
            "failpoint",
            "output",
            "input",
            "time",
            "stable_hash",
        ],
        &["schema"],
        &["partition"],
        &["record", "schedule", "aws", "schema::ddl", "retention"],
        &[
            "dynamo",
            "documents",
            "views",
            "calls",
            "athena",
            "backup::policy",
        ],
        &["sink"],
        &["runs"],
        &["tables"],
        &["backup"],
        &["history", "consolidated"],
        &["collect", "sources", "report", "plans"],
        &["cli", "options"],
        &["settings"],
        &["pipeline"],
        &["commands"],
        &["fuzz"],
    ];

    fn layer(module: &str) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (i, names) in LAYERS.iter().enumerate() {
            for n in *names {
                let hit = module == *n || module.starts_with(&format!("{n}::"));
                if hit && best.is_none_or(|(len, _)| n.len() > len) {
                    best = Some((n.len(), i));
                }
            }
        }
        best.map(|(_, i)| i)
    }

    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn no_module_uses_a_layer_above_its_own() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let mut problems = Vec::new();
        let mut checked = 0;
        for f in all {
            let rel = f.strip_prefix(&src).unwrap().with_extension("");
            let module = rel.to_string_lossy().replace('/', "::");
            let module = module.trim_end_matches("::mod").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let own = layer(&module).unwrap_or_else(|| panic!("{module} has no layer"));
            let text = std::fs::read_to_string(&f).unwrap();
            // Tests may reach anywhere.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (n, line) in code.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                // `super::x` from a command's own file names a sibling.
                if module.matches("::").count() == 1 && module.starts_with("commands::") {
                    if let Some(i) = line.find("super::") {
                        let rest = &line[i + "super::".len()..];
                        if rest.starts_with(|c: char| c.is_ascii_lowercase()) {
                            problems.push(format!(
                                "{}:{}: command {module} uses a sibling through super::",
                                rel.display(),
                                n + 1
                            ));
                        }
                    }
                }
                for (i, _) in line.match_indices("crate::") {
                    let rest = &line[i + "crate::".len()..];
                    let path: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    let target = path.trim_end_matches(':');
                    let Some(theirs) = layer(target) else {
                        continue; // a macro or item of the crate root
                    };
                    checked += 1;
                    // Commands sit side by side: what two share belongs
                    // in a layer below them, not in one of them.
                    let sibling = |m: &str| {
                        m.strip_prefix("commands::")
                            .map(|r| r.split("::").next().unwrap_or(r).to_string())
                    };
                    if let (Some(mine), Some(other)) = (sibling(&module), sibling(target)) {
                        if mine != other {
                            problems.push(format!(
                                "{}:{}: command {module} uses command {target}",
                                rel.display(),
                                n + 1
                            ));
                        }
                    }
                    if theirs > own {
                        problems.push(format!(
                            "{}:{}: {module} uses {target}, a layer above it",
                            rel.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
        assert!(checked > 100, "only {checked} uses seen");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
