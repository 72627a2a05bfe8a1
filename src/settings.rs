//! Arguments → plain settings. Commands take only these structs, so no clap
//! type leaks into the logic, and every check of user input happens here,
//! before any work starts.

use std::path::PathBuf;

use crate::cli::{DdlArgs, DemoArgs, ExportArgs, NamingArgs};
use crate::collect::Naming;
use crate::error::Error;
use crate::record::parse_timestamp_ms;
use crate::schema::ddl::{DdlOptions, PartitionMode};
use crate::sink::parquet::WriterOptions;
use crate::sources::demo::DemoOptions;

#[derive(Debug, Clone)]
pub enum SourceSettings {
    Demo(DemoOptions),
    Snapshot(PathBuf),
}

#[derive(Debug, Clone)]
pub struct ExportSettings {
    pub source: SourceSettings,
    pub out: String,
    pub json: bool,
    pub jobs: usize,
    pub as_of_ms: i64,
    pub writer: WriterOptions,
    pub naming: Naming,
}

pub fn naming(a: &NamingArgs) -> Result<Naming, Error> {
    let n = Naming {
        group_tag: a.group_tag.clone(),
        configuration_table: a.configuration_table_template.clone(),
        scheduler_table: a.scheduler_table_template.clone(),
        stack: a.stack_template.clone(),
    };
    n.check()?;
    Ok(n)
}

pub fn demo(a: &DemoArgs) -> DemoOptions {
    DemoOptions {
        accounts: a.demo_accounts,
        regions: a.demo_regions.clone(),
        groups_per_region: a.demo_groups,
        instances_per_group: a.demo_instances,
        seed: a.seed,
    }
}

pub fn export(a: &ExportArgs) -> Result<ExportSettings, Error> {
    let source = match (&a.snapshot, a.demo) {
        (Some(dir), false) => SourceSettings::Snapshot(dir.clone()),
        (None, true) => SourceSettings::Demo(demo(&a.demo_opts)),
        _ => {
            return Err(Error::Usage(
                "export needs a source: --demo or --snapshot DIR".into(),
            ))
        }
    };
    let as_of_ms = match &a.as_of {
        Some(s) => parse_timestamp_ms(s).ok_or_else(|| {
            Error::Usage(format!(
                "--as-of {s:?}: expected an RFC 3339 time such as 2026-11-22T03:00:00Z"
            ))
        })?,
        None => chrono::Utc::now().timestamp_millis(),
    };
    let jobs = match a.jobs {
        Some(0) => return Err(Error::Usage("--jobs must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    };
    Ok(ExportSettings {
        source,
        out: a.out.clone(),
        json: a.json,
        jobs,
        as_of_ms,
        writer: WriterOptions {
            codec: a.codec,
            ..Default::default()
        },
        naming: naming(&a.naming)?,
    })
}

#[derive(Debug, Clone)]
pub struct DdlSettings {
    pub options: DdlOptions,
    pub partitions_from: Option<PathBuf>,
    pub projection: bool,
    pub write: Option<PathBuf>,
}

pub fn ddl(a: &DdlArgs) -> Result<DdlSettings, Error> {
    let ident_ok =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ident_ok(&a.database) {
        return Err(Error::Usage(format!(
            "--database {:?}: use letters, digits and _",
            a.database
        )));
    }
    if !a.table_prefix.is_empty() && !ident_ok(&a.table_prefix) {
        return Err(Error::Usage(format!(
            "--table-prefix {:?}: use letters, digits and _",
            a.table_prefix
        )));
    }
    if a.location.contains('\'') || a.location.contains(char::is_whitespace) {
        return Err(Error::Usage(format!(
            "--location {:?}: no quotes or spaces",
            a.location
        )));
    }
    Ok(DdlSettings {
        options: DdlOptions {
            database: a.database.to_ascii_lowercase(),
            table_prefix: a.table_prefix.to_ascii_lowercase(),
            location: a.location.trim_end_matches('/').to_string(),
            partitions: PartitionMode::Msck,
            ..Default::default()
        },
        partitions_from: a.partitions_from.clone(),
        projection: a.projection,
        write: a.write.clone(),
    })
}
