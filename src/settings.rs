//! Arguments → plain settings. Commands take only these structs, so no clap
//! type leaks into the logic, and every check of user input happens here,
//! before any work starts. Precedence: flags, then `fleetcmdb.toml`, then
//! the environment (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, read by the
//! AWS SDK itself), then defaults.

use std::path::PathBuf;

use std::time::Duration;

use crate::aws::{AwsSettings, Timeouts};
use crate::cli::{AwsArgs, DdlArgs, DemoArgs, ExportArgs};
use crate::documents::Naming;
use crate::error::Error;
use crate::options::{
    AccountsArgs, DaemonArgs, DestArgs, EndpointArgs, NamingArgs, Options, RunArgs, TimeoutArgs,
};
use crate::partition::PartitionValue;
use crate::schema::ddl::{DdlOptions, PartitionMode};
use crate::sink::parquet::WriterOptions;
use crate::sink::s3::{S3Options, Sse};
use crate::sink::Connection;
use crate::sources::aws::{Accounts, AwsSourceSettings, Regions};
use crate::sources::demo::DemoOptions;
use crate::time::parse_timestamp_ms;

#[derive(Debug, Clone)]
pub enum SourceSettings {
    Demo(DemoOptions),
    /// A snapshot folder, and the largest file read from it.
    Snapshot(PathBuf, u64),
    Aws(Box<AwsSourceSettings>),
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
    pub prune_stale: bool,
    /// The most groups `prune_stale` deletes in one account/region (None:
    /// half the groups it held, at least 1).
    pub max_stale: Option<usize>,
    pub conn: Connection,
    /// Group backups written with the export (or instead of it).
    pub backup: Option<crate::backup::BackupPlan>,
    /// Second destinations of the backups.
    pub also: Vec<String>,
    /// Only these accounts, regions or groups (an on-demand run of `serve`).
    pub filter: Filter,
    /// Set when the run must start no more work (a daemon's shutdown).
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Only the accounts of this shard (`--shard K/N`).
    pub shard: Option<crate::partition::Shard>,
    /// Also take a history snapshot, at most one per period (`--history`).
    pub history: Option<crate::history::Period>,
}

/// What part of the organisation a run covers; empty: all of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub account: Option<PartitionValue>,
    pub region: Option<PartitionValue>,
    pub group: Option<PartitionValue>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    pub fn covers(&self, scope: &crate::partition::Scope) -> bool {
        self.account.as_ref().is_none_or(|a| *a == scope.accountid)
            && self.region.as_ref().is_none_or(|r| *r == scope.region)
    }
}

pub use crate::options::{FileConfig, DEFAULT_SCHEDULE};

pub fn naming(a: &NamingArgs, f: &FileConfig) -> Result<Naming, Error> {
    let n = f.under(a)?;
    Ok(Naming {
        group_tag: n.group_tag(),
        configuration_table: n.configuration_table_template(),
        scheduler_table: n.scheduler_table_template(),
        stack: n.stack_template(),
    })
}

pub fn demo(a: &DemoArgs) -> DemoOptions {
    DemoOptions {
        accounts: a.demo_accounts,
        regions: a.demo_regions.clone(),
        groups_per_region: a.demo_groups,
        instances_per_group: a.demo_instances,
        seed: a.seed,
        revision: a.demo_revision,
    }
}

/// `gen-snapshot`: the demo organisation, named as the settings say.
pub fn gen_snapshot(a: &crate::cli::GenSnapshotArgs) -> Result<(DemoOptions, Naming), Error> {
    let file = FileConfig::load(a.config.config.as_deref())?;
    Ok((demo(&a.demo_opts), naming(&a.naming, &file)?))
}

/// Whether the flags, else the file, collect the whole organization, and
/// the accounts listed otherwise. `--org` or `--accounts` on the command
/// line sets both, whatever the file says.
fn org_and_list(flags: &AccountsArgs, file: &AccountsArgs) -> (bool, Option<Vec<String>>) {
    let org = flags
        .org
        .or(flags.accounts.as_ref().map(|_| false))
        .or(file.org)
        .unwrap_or(false);
    let list = match org {
        true => None,
        false => flags.accounts.clone().or(file.accounts.clone()),
    };
    (org, list)
}

fn aws_source(a: &AwsArgs, f: &FileConfig, naming: Naming) -> Result<AwsSourceSettings, Error> {
    let flags = a.accounts.clone().checked()?;
    let file: AccountsArgs = f.get()?;
    let (org, list) = org_and_list(&flags, &file);
    let accounts = match (org, list) {
        (true, _) => Accounts::Org,
        (false, Some(l)) => Accounts::List(l),
        (false, None) => Accounts::Caller,
    };
    let m = flags.or(file);
    let regions = match m.regions.clone() {
        Some(r) if r.len() == 1 && r[0] == "all" => Regions::All,
        Some(r) => Regions::List(r),
        None => {
            return Err(Error::Usage(
                "--aws needs --regions LIST or --regions all".into(),
            ))
        }
    };
    let include_ous = m.include_ous.clone().unwrap_or_default();
    if !include_ous.is_empty() && accounts != Accounts::Org {
        return Err(Error::Usage("--include-ous needs --org".into()));
    }
    let exclude_ous = m.exclude_ous.clone().unwrap_or_default();
    if !exclude_ous.is_empty() && accounts != Accounts::Org {
        return Err(Error::Usage("--exclude-ous needs --org".into()));
    }
    Ok(AwsSourceSettings {
        aws: aws_settings(a, f)?,
        accounts,
        regions,
        include_ous,
        exclude_ous,
        exclude_accounts: m.exclude_accounts.clone().unwrap_or_default(),
        page_size: m.page_size,
        concurrency: m.concurrency(),
        naming,
        backups_only: false,
        shard: None,
        plan: None,
        planned: Vec::new(),
        planned_units: Vec::new(),
    })
}

/// Where AWS calls go, how often each is tried and how long it may take:
/// the flags over the file over the defaults.
fn endpoint(e: &EndpointArgs, t: &TimeoutArgs, f: &FileConfig) -> Result<AwsSettings, Error> {
    let e = f.under(e)?;
    let t = f.under(t)?;
    Ok(AwsSettings {
        profile: e.profile.clone(),
        endpoint_url: e.endpoint_url.clone(),
        max_attempts: e.max_attempts(),
        timeouts: Timeouts {
            connect: Duration::from_secs_f64(t.connect_timeout()),
            read: Duration::from_secs_f64(t.read_timeout()),
            operation: Duration::from_secs_f64(t.operation_timeout()),
        },
        ..Default::default()
    })
}

/// The AWS connection of a collection or its destination, flags over file.
fn aws_settings(a: &AwsArgs, f: &FileConfig) -> Result<AwsSettings, Error> {
    Ok(AwsSettings {
        member_role: f.under(&a.role)?.member_role,
        external_id: f.under(&a.accounts)?.external_id,
        ..endpoint(&a.endpoint, &a.timeouts, f)?
    })
}

/// S3 server-side encryption: the flags over the file.
fn sse(flags: &DestArgs, f: &FileConfig) -> Result<Option<Sse>, Error> {
    let d = f.under(flags)?;
    let sse = match d.sse.as_deref() {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("AES256") => Some(Sse::S3),
        Some(_) => Some(Sse::Kms(d.kms_key_id.clone())),
    };
    if d.kms_key_id.is_some() && !matches!(sse, Some(Sse::Kms(_))) {
        return Err(Error::Usage("--kms-key-id needs --sse aws:kms".into()));
    }
    Ok(sse)
}

/// The connection of a destination: the AWS settings (used only by s3://)
/// and the S3 options.
pub fn dest_connection(a: &AwsArgs, d: &DestArgs, f: &FileConfig) -> Result<Connection, Error> {
    Ok(Connection {
        aws: aws_settings(a, f)?,
        s3: S3Options {
            sse: sse(d, f)?,
            part_size: part_size_from_env()?,
        },
    })
}

/// The connection of the commands that are not collections (restore,
/// table dumps, `ddl --apply`, report, consolidate, …): flags over the
/// settings file (`--config`, else `./fleetcmdb.toml` when there is one)
/// over the defaults, as for `export`.
pub fn connection(c: &crate::cli::ConnArgs) -> Result<Connection, Error> {
    let f = FileConfig::load(c.config.config.as_deref())?;
    Ok(Connection {
        aws: AwsSettings {
            region: c.region.clone(),
            ..endpoint(&c.endpoint, &c.timeouts, &f)?
        },
        s3: S3Options {
            sse: sse(&DestArgs::default(), &f)?,
            part_size: 0,
        },
    })
}

/// What `schedule` shows.
#[derive(Debug)]
pub struct ScheduleSettings {
    pub expr: String,
    pub timezone: Option<String>,
    pub next: usize,
    pub from: chrono::DateTime<chrono::Utc>,
}

pub fn schedule(a: &crate::cli::ScheduleArgs) -> Result<ScheduleSettings, Error> {
    if !(1..=1000).contains(&a.next) {
        return Err(Error::Usage(format!(
            "--next {}: must be between 1 and 1000",
            a.next
        )));
    }
    let from = match &a.from {
        Some(s) => parse_timestamp_ms(s)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--from {s:?}: expected a time such as 2026-12-01T00:00:00Z"
                ))
            })?,
        None => chrono::Utc::now(),
    };
    Ok(ScheduleSettings {
        expr: a.expr.clone(),
        timezone: a.timezone.clone(),
        next: a.next,
        from,
    })
}

/// What `backup-table` dumps, and where.
#[derive(Debug)]
pub struct TableBackupSettings {
    pub tables: Vec<String>,
    /// `--select-tag KEY=VALUE`: also every table carrying that tag.
    pub select_tag: Option<(String, String)>,
    pub out: String,
    /// Parallel Scan segments, 1 to 1000.
    pub segments: i32,
    pub enable_pitr: bool,
    /// Make DynamoDB on-demand backups instead of dumps.
    pub native: bool,
    /// Only list the DynamoDB on-demand backups.
    pub list_native: bool,
    pub json: bool,
    pub conn: Connection,
}

pub fn table_backup(a: &crate::cli::TableBackupArgs) -> Result<TableBackupSettings, Error> {
    let select_tag = match &a.select_tag {
        None => None,
        Some(s) => Some(
            s.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("--select-tag {s:?}: expected KEY=VALUE")))?,
        ),
    };
    if !(1..=1000).contains(&a.segments) {
        return Err(Error::Usage(format!(
            "--segments {}: must be between 1 and 1000",
            a.segments
        )));
    }
    Ok(TableBackupSettings {
        tables: a.table.clone(),
        select_tag,
        out: a.out.clone(),
        segments: a.segments,
        enable_pitr: a.enable_pitr,
        native: a.native,
        list_native: a.list_native,
        json: a.json,
        conn: connection(&a.conn)?,
    })
}

/// What `restore-table` restores, into which table.
#[derive(Debug)]
pub struct TableRestoreSettings {
    pub from: TableRestoreFrom,
    pub table: String,
    pub max_file_bytes: u64,
    pub conn: Connection,
}

/// What `restore-table` restores from.
#[derive(Debug)]
pub enum TableRestoreFrom {
    /// A `backup-table` dump folder.
    Dump(String),
    /// A DynamoDB on-demand backup.
    Backup(String),
    /// A table as it was at a time (`None`: the latest restorable time).
    PointInTime {
        source: String,
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

pub fn table_restore(a: &crate::cli::TableRestoreArgs) -> Result<TableRestoreSettings, Error> {
    PartitionValue::parse(&a.table, "table name", "--table")?;
    let from = match (&a.dump, &a.from_backup, &a.point_in_time, &a.source) {
        (Some(d), None, None, _) => TableRestoreFrom::Dump(d.clone()),
        (None, Some(arn), None, _) => {
            if !arn.starts_with("arn:") || !arn.contains(":table/") || !arn.contains("/backup/") {
                return Err(Error::Usage(format!(
                    "--from-backup {arn:?}: expected a backup ARN (arn:…:table/NAME/backup/ID)"
                )));
            }
            TableRestoreFrom::Backup(arn.clone())
        }
        (None, None, Some(t), Some(source)) => {
            PartitionValue::parse(source, "table name", "--source")?;
            let at = match t.as_str() {
                "latest" => None,
                _ => Some(
                    parse_timestamp_ms(t)
                        .and_then(chrono::DateTime::from_timestamp_millis)
                        .ok_or_else(|| {
                            Error::Usage(format!(
                                "--point-in-time {t:?}: expected an RFC 3339 time such as 2026-11-30T12:00:00Z, or latest"
                            ))
                        })?,
                ),
            };
            TableRestoreFrom::PointInTime {
                source: source.clone(),
                at,
            }
        }
        _ => {
            return Err(Error::Usage(
                "restore-table takes one of: a dump folder, --from-backup ARN, --point-in-time TIME --source TABLE".into(),
            ))
        }
    };
    Ok(TableRestoreSettings {
        from,
        table: a.table.clone(),
        max_file_bytes: a.max_file_bytes,
        conn: connection(&a.conn)?,
    })
}

/// Where `restore` finds its backup.
#[derive(Debug)]
pub enum BackupSource {
    /// `--latest`: the `latest-` file of a group under an export root
    /// (`rel`), or with `label` its newest archive of that label.
    Latest {
        out: String,
        rel: String,
        label: Option<String>,
    },
    /// A backup file, by path or `s3://` URL.
    File(String),
}

/// What `restore` does, resolved and checked before anything is read.
#[derive(Debug)]
pub struct RestoreSettings {
    pub source: BackupSource,
    pub table: String,
    pub also: Vec<String>,
    pub dry_run: bool,
    pub force: bool,
    pub max_size: usize,
    pub conn: Connection,
}

pub fn restore(a: &crate::cli::RestoreArgs) -> Result<RestoreSettings, Error> {
    use crate::backup::{latest_path, Kind};
    let kind = if a.kind == "scheduler" {
        Kind::Scheduler
    } else {
        Kind::Configuration
    };
    let (source, default_table) = if a.latest {
        let (Some(group), Some(account), Some(region)) = (&a.group, &a.account, &a.conn.region)
        else {
            return Err(Error::Usage(
                "--latest needs --group, --account and --region".into(),
            ));
        };
        // They name folders: the same rules as the partitions they come from.
        for (value, what, flag) in [
            (group, "group name", "--group"),
            (account, "account id", "--account"),
            (region, "region", "--region"),
        ] {
            PartitionValue::parse(value, what, flag)?;
        }
        let cap = if kind == Kind::Scheduler {
            "Scheduler"
        } else {
            "Configuration"
        };
        (
            BackupSource::Latest {
                out: a.out.clone().unwrap_or_else(|| "./cmdb".into()),
                rel: latest_path(account, region, group, kind),
                label: a.label.clone(),
            },
            Some(format!("CloneSquad-{group}-{cap}")),
        )
    } else {
        let file = a
            .file
            .clone()
            .ok_or_else(|| Error::Usage("restore needs FILE or --latest".into()))?;
        (BackupSource::File(file), None)
    };
    let table =
        a.table.clone().or(default_table).ok_or_else(|| {
            Error::Usage("--table NAME: which DynamoDB table to restore into".into())
        })?;
    Ok(RestoreSettings {
        source,
        table,
        also: a.also.clone(),
        dry_run: a.dry_run,
        force: a.force,
        max_size: a.max_size,
        conn: connection(&a.conn)?,
    })
}

/// What `prune` does: where, which retention, and whether to delete.
#[derive(Debug)]
pub struct PruneSettings {
    pub out: String,
    /// Snapshots under history/ instead of backup archives.
    pub history: bool,
    /// Partitions of accounts that left the organization instead.
    pub departed: Option<Departed>,
    /// The most departed accounts deleted in one run (`None`: 5% of those
    /// found, at least 1).
    pub max_departed: Option<usize>,
    pub keep: crate::retention::Keep,
    pub dry_run: bool,
    pub json: bool,
    pub conn: Connection,
}

/// Where `prune --departed` learns who is still in the organization.
#[derive(Debug, Clone)]
pub enum Departed {
    /// A plan's `plan.json` (`fleetcmdb plan --org`).
    Plan(String),
    /// `ListAccounts`, now.
    Listing(Box<AwsSourceSettings>),
}

pub fn prune(a: &crate::cli::PruneArgs) -> Result<PruneSettings, Error> {
    Ok(PruneSettings {
        out: a.out.clone(),
        keep: crate::retention::Keep::parse(&a.keep)?,
        history: a.history,
        departed: match (a.departed, &a.plan) {
            (false, _) => None,
            (true, Some(plan)) => Some(Departed::Plan(plan.clone())),
            (true, None) => Some(Departed::Listing(Box::new(AwsSourceSettings {
                aws: connection(&a.conn)?.aws,
                accounts: Accounts::Org,
                regions: Regions::All,
                include_ous: Vec::new(),
                exclude_ous: Vec::new(),
                exclude_accounts: Vec::new(),
                page_size: None,
                concurrency: 1,
                naming: Naming::default(),
                backups_only: false,
                shard: None,
                plan: None,
                planned: Vec::new(),
                planned_units: Vec::new(),
            }))),
        },
        max_departed: a.max_departed,
        dry_run: a.dry_run,
        json: a.json,
        conn: connection(&a.conn)?,
    })
}

/// `FLEETCMDB_S3_PART_SIZE`: a testing hook (bytes) to exercise multipart
/// uploads with small files; S3 itself refuses parts under 5 MiB.
fn part_size_from_env() -> Result<usize, Error> {
    match std::env::var("FLEETCMDB_S3_PART_SIZE") {
        Ok(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::Usage(format!(
                "FLEETCMDB_S3_PART_SIZE={v:?}: expected a positive number of bytes"
            ))
        }),
        Err(_) => Ok(0),
    }
}

pub fn export(a: &ExportArgs) -> Result<ExportSettings, Error> {
    let file = FileConfig::load(a.config.config.as_deref())?;
    let naming = naming(&a.naming, &file)?;
    let run: RunArgs = file.under(&a.run)?;
    let source = match (&a.snapshot, a.demo, a.aws) {
        (Some(dir), false, false) => SourceSettings::Snapshot(dir.clone(), a.max_page_bytes),
        (None, true, false) => SourceSettings::Demo(demo(&a.demo_opts)),
        (None, false, true) => {
            let mut live = aws_source(&a.live, &file, naming.clone())?;
            live.shard = a
                .shard
                .as_deref()
                .map(crate::partition::Shard::parse)
                .transpose()?;
            if let Some(url) = &a.plan {
                if a.live.accounts.org == Some(true) || a.live.accounts.accounts.is_some() {
                    return Err(Error::Usage(
                        "--plan names the accounts: it cannot go with --org or --accounts".into(),
                    ));
                }
                // Read by the source: resolving settings reads no plan.
                live.plan = Some((url.clone(), dest_connection(&a.live, &a.dest, &file)?));
                live.accounts = Accounts::List(Vec::new());
            }
            SourceSettings::Aws(Box::new(live))
        }
        (_, _, false) if a.plan.is_some() => {
            return Err(Error::Usage("--plan is for --aws".into()))
        }
        _ => {
            return Err(Error::Usage(
                "export needs a source: --demo, --snapshot DIR or --aws".into(),
            ))
        }
    };
    let as_of_ms = as_of_or_now("--as-of", a.as_of.as_deref())?;
    // Conversion threads; a live source's --concurrency is open requests.
    const MAX_JOBS: usize = 256;
    let jobs = match a.jobs {
        Some(n) if !(1..=MAX_JOBS).contains(&n) => {
            return Err(Error::Usage(format!(
                "--jobs {n}: must be between 1 and {MAX_JOBS} (each is a thread)"
            )))
        }
        Some(n) => n,
        None => std::thread::available_parallelism()
            .map(|n| n.get().min(MAX_JOBS))
            .unwrap_or(2),
    };
    Ok(ExportSettings {
        source,
        out: run.out(),
        json: a.json,
        jobs,
        as_of_ms,
        writer: WriterOptions {
            codec: a.codec,
            ..Default::default()
        },
        naming,
        prune_stale: a.prune_stale,
        max_stale: a.max_stale,
        conn: dest_connection(&a.live, &a.dest, &file)?,
        backup: (!a.no_backup).then(Default::default),
        also: if a.no_backup && !a.also.is_empty() {
            return Err(Error::Usage(
                "--also writes backups: it cannot go with --no-backup".into(),
            ));
        } else {
            a.also.clone()
        },
        filter: Filter::default(),
        cancel: None,
        shard: a
            .shard
            .as_deref()
            .map(crate::partition::Shard::parse)
            .transpose()?,
        history: match (run.history(), a.shard.is_some()) {
            (false, _) => None,
            (true, true) => {
                return Err(Error::Usage(
                    "--history with --shard: each shard holds part of the org; run `fleetcmdb snapshot --out …` once after every shard has finished".into(),
                ))
            }
            (true, false) => Some(run.history_period()),
        },
    })
}

/// `backup`: an export that writes only the backups.
pub fn backup(a: &crate::cli::BackupArgs) -> Result<ExportSettings, Error> {
    if a.common.no_backup {
        return Err(Error::Usage("backup --no-backup would do nothing".into()));
    }
    let mut s = export(&a.common)?;
    s.backup = Some(crate::backup::BackupPlan {
        only: true,
        label: a.label.clone(),
        schedules: None,
    });
    s.prune_stale = false;
    if let SourceSettings::Aws(a) = &mut s.source {
        a.backups_only = true;
    }
    Ok(s)
}

#[derive(Debug, Clone)]
pub struct DdlSettings {
    /// A DuckDB script instead of Athena DDL.
    pub duckdb: bool,
    /// The DuckDB script also defines the history tables and views.
    pub history: bool,
    pub options: DdlOptions,
    pub partitions_from: Option<String>,
    pub projection: bool,
    pub write: Option<PathBuf>,
    pub apply: Option<ApplySettings>,
    pub conn: Connection,
}

pub use crate::athena::ApplySettings;

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
    let duckdb = a.engine == "duckdb";
    if duckdb && (a.apply || a.projection || a.partitions_from.is_some() || a.write.is_some()) {
        return Err(Error::Usage(
            "--engine duckdb prints a script: --apply, --projection, --partitions-from and --write are Athena's".into(),
        ));
    }
    if a.history && !duckdb {
        return Err(Error::Usage(
            "--history is for --engine duckdb: Athena's DDL always has the history tables".into(),
        ));
    }
    Ok(DdlSettings {
        duckdb,
        history: a.history,
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
        apply: match a.apply {
            false => None,
            true => {
                if let Some(o) = &a.output_location {
                    if !o.starts_with("s3://") {
                        return Err(Error::Usage(format!(
                            "--output-location {o:?}: expected an s3:// URL"
                        )));
                    }
                }
                if a.location == crate::schema::ddl::PLACEHOLDER_LOCATION && !a.dry_run {
                    return Err(Error::Usage(
                        "--apply needs --location, the export root Athena reads (e.g. s3://org-cmdb/prod)".into(),
                    ));
                }
                Some(ApplySettings {
                    workgroup: a.workgroup.clone(),
                    output_location: a.output_location.clone(),
                    catalog: a.catalog.clone(),
                    timeout: std::time::Duration::from_secs(a.timeout.max(1)),
                    dry_run: a.dry_run,
                })
            }
        },
        conn: connection(&a.conn)?,
    })
}

/// What `serve` does, resolved and checked before it starts.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub export: ExportSettings,
    pub schedule_expr: String,
    pub schedule: crate::schedule::RunSchedule,
    pub listen: std::net::SocketAddr,
    /// The file of the bearer token the API requires (read when the
    /// daemon starts; the token is never printed).
    pub token_file: Option<PathBuf>,
    pub shutdown_timeout: std::time::Duration,
    pub tick: std::time::Duration,
    pub clock_file: Option<PathBuf>,
}

/// A flag's seconds, checked as the declared settings' are.
fn seconds(what: &str, v: f64, max: f64) -> Result<std::time::Duration, Error> {
    crate::options::seconds_up_to(v, max).map_err(|m| Error::Usage(format!("{what} {v}: {m}")))?;
    Ok(std::time::Duration::from_secs_f64(v))
}

pub fn serve(a: &crate::cli::ServeArgs) -> Result<ServeSettings, Error> {
    if a.common.as_of.is_some() {
        return Err(Error::Usage(
            "serve takes the time from the clock (or --clock-file), not --as-of".into(),
        ));
    }
    let file = FileConfig::load(a.common.config.config.as_deref())?;
    let export = export(&a.common)?;
    let d: DaemonArgs = file.under(&a.daemon)?;
    let schedule_expr = d.schedule();
    let schedule = crate::schedule::parse_run(&schedule_expr, d.timezone.as_deref())?;
    let listen: std::net::SocketAddr = d
        .listen()
        .parse()
        .map_err(|e| Error::Usage(format!("--listen {:?}: {e}", d.listen())))?;
    if !listen.ip().is_loopback() && d.token_file.is_none() {
        return Err(Error::Usage(format!(
            "--listen {listen}: an address other than loopback needs --token-file (token_file in the config)"
        )));
    }
    Ok(ServeSettings {
        export,
        schedule_expr,
        schedule,
        listen,
        token_file: d.token_file.clone(),
        shutdown_timeout: std::time::Duration::from_secs_f64(d.shutdown_timeout()),
        tick: seconds("--tick", a.tick.unwrap_or(30.0), 3600.0)?,
        clock_file: a.clock_file.clone(),
    })
}

/// What `iam-policy` prints.
#[derive(Debug, Clone)]
pub struct IamSettings {
    pub member_role: String,
    /// `inventory`, `restore` or `table-backup`.
    pub purpose: String,
    pub partition: String,
    pub naming: Naming,
    /// A CloudFormation template of the member role instead of policies.
    pub cloudformation: bool,
    /// The account that assumes the member role, when known.
    pub caller_account: Option<String>,
}

pub fn iam_policy(a: &crate::cli::IamPolicyArgs) -> Result<IamSettings, Error> {
    let file = FileConfig::load(a.config.config.as_deref())?;
    let role = file
        .under(&a.role)?
        .member_role
        .unwrap_or_else(|| "OrganizationAccountAccessRole".into());
    let cloudformation = a.format == "cloudformation";
    if cloudformation && a.purpose != "inventory" {
        return Err(Error::Usage(
            "--format cloudformation writes the member role of the inventory: it cannot go with --for restore or table-backup".into(),
        ));
    }
    if let Some(c) = &a.caller_account {
        if !crate::partition::is_account_id(c) {
            return Err(Error::Usage(format!(
                "--caller-account {c:?}: a 12-digit account id"
            )));
        }
    }
    Ok(IamSettings {
        cloudformation,
        caller_account: a.caller_account.clone(),
        member_role: role,
        purpose: a.purpose.clone(),
        partition: a.partition.clone(),
        naming: naming(&a.naming, &file)?,
    })
}

/// `fleetcmdb diff`.
#[derive(Debug, Clone)]
pub struct DiffSettings {
    pub out: String,
    pub from: Option<crate::history::When>,
    pub to: crate::history::When,
    pub tables: Vec<&'static crate::tables::Table>,
    pub json: bool,
    pub conn: Connection,
}

fn as_of_or_now(flag: &str, v: Option<&str>) -> Result<i64, Error> {
    match v {
        Some(s) => parse_timestamp_ms(s).ok_or_else(|| {
            Error::Usage(format!(
                "{flag} {s:?}: expected an RFC 3339 time such as 2026-11-22T03:00:00Z"
            ))
        }),
        None => Ok(chrono::Utc::now().timestamp_millis()),
    }
}

pub fn diff(a: &crate::cli::DiffArgs) -> Result<DiffSettings, Error> {
    use crate::history::When;
    let now = as_of_or_now("--as-of", a.as_of.as_deref())?;
    let when =
        |flag: &str, v: &str| When::parse(v, now).map_err(|e| Error::Usage(format!("{flag} {e}")));
    let mut tables = Vec::new();
    for name in &a.table {
        tables.push(crate::tables::by_name(name).ok_or_else(|| {
            let known: Vec<&str> = crate::tables::ALL.iter().map(|t| t.name).collect();
            Error::Usage(format!(
                "--table {name:?}: no such table; the tables are {}",
                known.join(", ")
            ))
        })?);
    }
    if tables.is_empty() {
        tables = crate::tables::ALL.to_vec();
    }
    Ok(DiffSettings {
        out: a.out.clone(),
        from: a.from.as_deref().map(|v| when("--from", v)).transpose()?,
        to: when("--to", &a.to)?,
        tables,
        json: a.json,
        conn: connection(&a.conn)?,
    })
}

/// `fleetcmdb snapshot`.
#[derive(Debug, Clone)]
pub struct SnapshotSettings {
    pub out: String,
    pub period: crate::history::Period,
    pub at_ms: i64,
    pub json: bool,
    pub conn: Connection,
}

pub fn snapshot(a: &crate::cli::SnapshotArgs) -> Result<SnapshotSettings, Error> {
    Ok(SnapshotSettings {
        out: a.out.clone(),
        period: a.period,
        at_ms: as_of_or_now("--as-of", a.as_of.as_deref())?,
        json: a.json,
        conn: connection(&a.conn)?,
    })
}

/// `fleetcmdb consolidate`.
#[derive(Debug, Clone)]
pub struct ConsolidateSettings {
    pub out: String,
    pub at_ms: i64,
    pub json: bool,
    pub conn: Connection,
}

pub fn consolidate(a: &crate::cli::ConsolidateArgs) -> Result<ConsolidateSettings, Error> {
    Ok(ConsolidateSettings {
        out: a.out.clone(),
        at_ms: as_of_or_now("--as-of", a.as_of.as_deref())?,
        json: a.json,
        conn: connection(&a.conn)?,
    })
}

/// `fleetcmdb report`.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub out: String,
    pub html: Option<PathBuf>,
    pub publish: bool,
    pub at_ms: i64,
    pub conn: Connection,
}

pub fn report(a: &crate::cli::ReportArgs) -> Result<ReportSettings, Error> {
    Ok(ReportSettings {
        out: a.out.clone(),
        html: a.html.clone(),
        publish: a.publish,
        at_ms: as_of_or_now("--as-of", a.as_of.as_deref())?,
        conn: connection(&a.conn)?,
    })
}

/// `fleetcmdb plan`.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub out: String,
    pub batch_size: usize,
    pub source: AwsSourceSettings,
    pub conn: Connection,
    pub json: bool,
}

pub fn plan(a: &crate::cli::PlanArgs) -> Result<PlanSettings, Error> {
    let file = FileConfig::load(a.config.config.as_deref())?;
    if !(1..=10_000).contains(&a.batch_size) {
        return Err(Error::Usage(format!(
            "--batch-size {}: expected 1 to 10000",
            a.batch_size
        )));
    }
    let naming = naming(&Default::default(), &file)?;
    // A plan lists accounts; the regions are each worker's to find.
    let mut live = a.live.clone();
    if live.accounts.regions.is_none() && file.get::<AccountsArgs>()?.regions.is_none() {
        live.accounts.regions = Some(vec!["all".into()]);
    }
    let source = aws_source(&live, &file, naming)?;
    Ok(PlanSettings {
        out: a.out.clone(),
        batch_size: a.batch_size,
        conn: Connection {
            aws: aws_settings(&a.live, &file)?,
            ..Default::default()
        },
        source,
        json: a.json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    fn consolidate_conn(args: &[&str]) -> Result<Connection, Error> {
        let mut all = vec!["fleetcmdb", "consolidate", "--out", "x"];
        all.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(all).unwrap().command {
            crate::cli::Command::Consolidate(a) => connection(&a.conn),
            _ => unreachable!(),
        }
    }

    #[test]
    fn commands_that_are_not_collections_read_the_settings_file_under_their_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleetcmdb.toml");
        std::fs::write(
            &path,
            "profile = \"audit\"\nendpoint_url = \"http://127.0.0.1:1\"\nmax_attempts = 9\nconnect_timeout = 7.0\nsse = \"aws:kms\"\nkms_key_id = \"alias/cmdb\"\n",
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let c = consolidate_conn(&["--config", file]).unwrap();
        assert_eq!(c.aws.profile.as_deref(), Some("audit"));
        assert_eq!(c.aws.endpoint_url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(c.aws.max_attempts, 9);
        assert_eq!(c.aws.timeouts.connect, Duration::from_secs(7));
        assert!(matches!(c.s3.sse, Some(Sse::Kms(Some(ref k))) if k == "alias/cmdb"));
        let c = consolidate_conn(&[
            "--config",
            file,
            "--profile",
            "ops",
            "--connect-timeout",
            "2",
        ])
        .unwrap();
        assert_eq!(
            c.aws.profile.as_deref(),
            Some("ops"),
            "a flag wins over the file"
        );
        assert_eq!(c.aws.timeouts.connect, Duration::from_secs(2));
        std::fs::write(&path, "connect_timeout = -1.0\n").unwrap();
        let e = consolidate_conn(&["--config", file])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--connect-timeout"), "{e}");
        let missing = dir.path().join("none.toml");
        let e = consolidate_conn(&["--config", missing.to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("none.toml"), "{e}");
    }

    #[test]
    fn serve_seconds_are_checked_as_declared_settings_are() {
        let serve = |extra: &[&str]| {
            let mut all = vec!["fleetcmdb", "serve", "--demo", "--out", "x"];
            all.extend_from_slice(extra);
            match crate::cli::Cli::try_parse_from(all).unwrap().command {
                crate::cli::Command::Serve(a) => super::serve(&a).map(|s| s.tick),
                _ => unreachable!(),
            }
        };
        assert_eq!(serve(&["--tick", "5"]).unwrap(), Duration::from_secs(5));
        for bad in ["0", "3601", "NaN"] {
            let e = serve(&["--tick", bad]).unwrap_err().to_string();
            assert!(
                e.contains("--tick") && e.contains("at most 3600"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_help_states_the_default_attempts() {
        let cmd = crate::cli::Cli::command();
        let export = cmd.find_subcommand("export").unwrap();
        let arg = export
            .get_arguments()
            .find(|a| a.get_id() == "max_attempts")
            .unwrap();
        let help = arg.get_help().unwrap().to_string();
        assert!(
            help.contains(&format!(
                "(default {})",
                crate::options::DEFAULT_MAX_ATTEMPTS
            )),
            "{help}"
        );
    }
}
