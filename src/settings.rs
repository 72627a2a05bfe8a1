//! Arguments → plain settings. Commands take only these structs, so no clap
//! type leaks into the logic, and every check of user input happens here,
//! before any work starts. Precedence: flags, then `fleetcmdb.toml`, then
//! the environment (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, read by the
//! AWS SDK itself), then defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use std::time::Duration;

use crate::aws::{AwsSettings, Timeouts};
use crate::cli::{AwsArgs, DdlArgs, DemoArgs, DestArgs, ExportArgs, NamingArgs};
use crate::documents::Naming;
use crate::error::Error;
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

/// `fleetcmdb.toml`: the same settings as the flags, which override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub out: Option<String>,
    pub org: Option<bool>,
    pub accounts: Option<Vec<String>>,
    pub include_ous: Option<Vec<String>>,
    pub exclude_ous: Option<Vec<String>>,
    pub exclude_accounts: Option<Vec<String>>,
    pub member_role: Option<String>,
    pub external_id: Option<String>,
    pub regions: Option<Vec<String>>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub concurrency: Option<usize>,
    pub page_size: Option<i32>,
    pub max_attempts: Option<u32>,
    pub connect_timeout: Option<f64>,
    pub read_timeout: Option<f64>,
    pub operation_timeout: Option<f64>,
    pub group_tag: Option<String>,
    pub configuration_table_template: Option<String>,
    pub scheduler_table_template: Option<String>,
    pub stack_template: Option<String>,
    pub sse: Option<String>,
    pub kms_key_id: Option<String>,
    /// `serve`: the run schedule, its time zone, the API address, the token
    /// file and the shutdown allowance in seconds.
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub listen: Option<String>,
    pub token_file: Option<PathBuf>,
    pub shutdown_timeout: Option<f64>,
    /// `history = true`: every export also takes a snapshot; `history_period`: hour or day.
    pub history: Option<bool>,
    pub history_period: Option<crate::history::Period>,
}

impl FileConfig {
    /// Reads `path`, or `./fleetcmdb.toml` when no path is given and it exists.
    pub fn load(path: Option<&Path>) -> Result<Self, Error> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("fleetcmdb.toml"), false),
        };
        // A config file is a few lines: anything over 1 MiB, or not a
        // regular file, is refused before it is read.
        let bytes = match crate::input::read_file(&path, 1 << 20) {
            Ok(b) => b,
            Err(Error::NotFound(_)) if !required => return Ok(Self::default()),
            Err(e) => return Err(Error::Usage(format!("config file: {e}"))),
        };
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::Usage(format!("config file {}: not UTF-8: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| Error::Usage(format!("config file {}: {e}", path.display())))
    }
}

pub fn naming(a: &NamingArgs, f: &FileConfig) -> Result<Naming, Error> {
    let d = Naming::default();
    let pick = |flag: &Option<String>, file: &Option<String>, default: String| {
        flag.clone().or(file.clone()).unwrap_or(default)
    };
    let n = Naming {
        group_tag: pick(&a.group_tag, &f.group_tag, d.group_tag),
        configuration_table: pick(
            &a.configuration_table_template,
            &f.configuration_table_template,
            d.configuration_table,
        ),
        scheduler_table: pick(
            &a.scheduler_table_template,
            &f.scheduler_table_template,
            d.scheduler_table,
        ),
        stack: pick(&a.stack_template, &f.stack_template, d.stack),
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
        revision: a.demo_revision,
    }
}

fn check_accounts(what: &str, list: &[String]) -> Result<(), Error> {
    for a in list {
        if !crate::partition::is_account_id(a) {
            return Err(Error::Usage(format!(
                "{what}: {a:?} is not a 12-digit account id"
            )));
        }
    }
    Ok(())
}

fn aws_source(a: &AwsArgs, f: &FileConfig, naming: Naming) -> Result<AwsSourceSettings, Error> {
    let org = a.org || (a.accounts.is_none() && f.org.unwrap_or(false));
    let list = a
        .accounts
        .clone()
        .or_else(|| if a.org { None } else { f.accounts.clone() });
    let accounts = match (org, list) {
        (true, _) => Accounts::Org,
        (false, Some(l)) => {
            check_accounts("--accounts", &l)?;
            Accounts::List(l)
        }
        (false, None) => Accounts::Caller,
    };
    let regions = match a.regions.clone().or(f.regions.clone()) {
        Some(r) if r.len() == 1 && r[0] == "all" => Regions::All,
        Some(r) if !r.is_empty() => {
            for x in &r {
                PartitionValue::parse(x, "region", "--regions")?;
            }
            Regions::List(r)
        }
        _ => {
            return Err(Error::Usage(
                "--aws needs --regions LIST or --regions all".into(),
            ))
        }
    };
    let exclude = a
        .exclude_accounts
        .clone()
        .or(f.exclude_accounts.clone())
        .unwrap_or_default();
    check_accounts("--exclude-accounts", &exclude)?;
    let include_ous = a
        .include_ous
        .clone()
        .or(f.include_ous.clone())
        .unwrap_or_default();
    if !include_ous.is_empty() && accounts != Accounts::Org {
        return Err(Error::Usage("--include-ous needs --org".into()));
    }
    let exclude_ous = a
        .exclude_ous
        .clone()
        .or(f.exclude_ous.clone())
        .unwrap_or_default();
    if !exclude_ous.is_empty() && accounts != Accounts::Org {
        return Err(Error::Usage("--exclude-ous needs --org".into()));
    }
    for ou in include_ous.iter().chain(&exclude_ous) {
        let ok = ou.starts_with("ou-") || ou.starts_with("r-");
        if !ok || PartitionValue::parse(ou, "OU id", "--include-ous/--exclude-ous").is_err() {
            return Err(Error::Usage(format!(
                "{ou:?}: an organizational unit id (ou-…) or root id (r-…)"
            )));
        }
    }
    let concurrency = a.concurrency.or(f.concurrency).unwrap_or(16);
    if concurrency == 0 || concurrency > 1024 {
        return Err(Error::Usage(
            "--concurrency must be between 1 and 1024".into(),
        ));
    }
    let page_size = a.page_size.or(f.page_size);
    if page_size.is_some_and(|p| p < 1) {
        return Err(Error::Usage("--page-size must be positive".into()));
    }
    Ok(AwsSourceSettings {
        aws: aws_settings(a, f)?,
        accounts,
        regions,
        include_ous,
        exclude_ous,
        exclude_accounts: exclude,
        page_size,
        concurrency,
        naming,
        backups_only: false,
        shard: None,
        plan: None,
        planned: Vec::new(),
        planned_units: Vec::new(),
    })
}

/// The AWS connection of a collection or its destination, flags over file.
fn aws_settings(a: &AwsArgs, f: &FileConfig) -> Result<AwsSettings, Error> {
    Ok(AwsSettings {
        profile: a.profile.clone().or(f.profile.clone()),
        endpoint_url: a.endpoint_url.clone().or(f.endpoint_url.clone()),
        region: None,
        member_role: a.member_role.clone().or(f.member_role.clone()),
        external_id: a.external_id.clone().or(f.external_id.clone()),
        max_attempts: a
            .max_attempts
            .or(f.max_attempts)
            .unwrap_or(DEFAULT_MAX_ATTEMPTS),
        timeouts: timeouts(&a.timeouts, f)?,
    })
}

/// Time limits from flags over the file over the defaults; each must be a
/// positive number of seconds of at most a day.
pub fn timeouts(a: &crate::cli::TimeoutArgs, f: &FileConfig) -> Result<Timeouts, Error> {
    let d = Timeouts::default();
    let one = |flag: &str, v: Option<f64>, default: Duration| -> Result<Duration, Error> {
        match v {
            None => Ok(default),
            Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
            Some(s) => Err(Error::Usage(format!(
                "{flag} {s}: expected seconds greater than 0 and at most 86400"
            ))),
        }
    };
    Ok(Timeouts {
        connect: one(
            "--connect-timeout",
            a.connect_timeout.or(f.connect_timeout),
            d.connect,
        )?,
        read: one("--read-timeout", a.read_timeout.or(f.read_timeout), d.read)?,
        operation: one(
            "--operation-timeout",
            a.operation_timeout.or(f.operation_timeout),
            d.operation,
        )?,
    })
}

/// S3 server-side encryption: the flags over the file.
fn sse(flag: Option<&str>, kms_key_id: Option<&str>, f: &FileConfig) -> Result<Option<Sse>, Error> {
    let sse = match flag.map(str::to_string).or(f.sse.clone()).as_deref() {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("AES256") => Some(Sse::S3),
        Some(s) if s.eq_ignore_ascii_case("aws:kms") => Some(Sse::Kms(
            kms_key_id.map(str::to_string).or(f.kms_key_id.clone()),
        )),
        Some(s) => {
            return Err(Error::Usage(format!(
                "--sse {s:?}: expected AES256 or aws:kms"
            )))
        }
    };
    if kms_key_id.is_some() && !matches!(sse, Some(Sse::Kms(_))) {
        return Err(Error::Usage("--kms-key-id needs --sse aws:kms".into()));
    }
    Ok(sse)
}

/// The connection of a destination: the AWS settings (used only by s3://)
/// and the S3 options.
pub fn dest_connection(a: &AwsArgs, d: &DestArgs, f: &FileConfig) -> Result<Connection, Error> {
    let sse = sse(d.sse.as_deref(), d.kms_key_id.as_deref(), f)?;
    Ok(Connection {
        aws: aws_settings(a, f)?,
        s3: S3Options {
            sse,
            part_size: part_size_from_env()?,
        },
    })
}

/// Attempts per AWS call when neither a flag nor the file says (the help
/// of `--max-attempts` states it; a test holds them equal).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// The connection of the commands that are not collections (restore,
/// table dumps, `ddl --apply`, report, consolidate, …): flags over the
/// settings file (`--config`, else `./fleetcmdb.toml` when there is one)
/// over the defaults, as for `export`.
pub fn connection(c: &crate::cli::ConnArgs) -> Result<Connection, Error> {
    let f = FileConfig::load(c.config.as_deref())?;
    Ok(Connection {
        aws: AwsSettings {
            profile: c.profile.clone().or(f.profile.clone()),
            endpoint_url: c.endpoint_url.clone().or(f.endpoint_url.clone()),
            region: c.region.clone(),
            max_attempts: f.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            timeouts: timeouts(&c.timeouts, &f)?,
            ..Default::default()
        },
        s3: S3Options {
            sse: sse(None, None, &f)?,
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
    let file = FileConfig::load(a.config.as_deref())?;
    let naming = naming(&a.naming, &file)?;
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
                if a.live.org || a.live.accounts.is_some() {
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
        out: a
            .out
            .clone()
            .or(file.out.clone())
            .unwrap_or_else(|| "./cmdb".into()),
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
        history: match (a.history || file.history == Some(true), a.shard.is_some()) {
            (false, _) => None,
            (true, true) => {
                return Err(Error::Usage(
                    "--history with --shard: each shard holds part of the org; run `fleetcmdb snapshot --out …` once after every shard has finished".into(),
                ))
            }
            (true, false) => Some(a.history_period.or(file.history_period).unwrap_or_default()),
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

/// The default run schedule: hourly, as the original system backs up.
pub const DEFAULT_SCHEDULE: &str = "cron(0 * * * ? *)";

/// What `serve` does, resolved and checked before it starts.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub export: ExportSettings,
    pub schedule_expr: String,
    pub schedule: crate::schedule::RunSchedule,
    pub listen: std::net::SocketAddr,
    /// The bearer token the API requires (never printed).
    pub token: Option<String>,
    pub shutdown_timeout: std::time::Duration,
    pub tick: std::time::Duration,
    pub clock_file: Option<PathBuf>,
}

fn seconds(what: &str, v: f64, max: f64) -> Result<std::time::Duration, Error> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(std::time::Duration::from_secs_f64(v))
    } else {
        Err(Error::Usage(format!(
            "{what} {v}: expected seconds between 0 and {max}"
        )))
    }
}

pub fn serve(a: &crate::cli::ServeArgs) -> Result<ServeSettings, Error> {
    if a.common.as_of.is_some() {
        return Err(Error::Usage(
            "serve takes the time from the clock (or --clock-file), not --as-of".into(),
        ));
    }
    let file = FileConfig::load(a.common.config.as_deref())?;
    let export = export(&a.common)?;
    let schedule_expr = a
        .schedule
        .clone()
        .or(file.schedule.clone())
        .unwrap_or_else(|| DEFAULT_SCHEDULE.into());
    let timezone = a.timezone.clone().or(file.timezone.clone());
    let schedule = crate::schedule::parse_run(&schedule_expr, timezone.as_deref())?;
    let listen_text = a
        .listen
        .clone()
        .or(file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:9137".into());
    let listen: std::net::SocketAddr = listen_text.parse().map_err(|e| {
        Error::Usage(format!(
            "--listen {listen_text:?}: expected ADDRESS:PORT such as 127.0.0.1:9137 ({e})"
        ))
    })?;
    let token_file = a.token_file.clone().or(file.token_file.clone());
    let token = match &token_file {
        Some(p) => {
            let bytes = crate::input::read_file(p, 4096)
                .map_err(|e| Error::Usage(format!("--token-file: {e}")))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::Usage(format!("--token-file {}: not UTF-8", p.display())))?;
            let t = text.lines().next().unwrap_or("").trim().to_string();
            if t.len() < 16 {
                return Err(Error::Usage(format!(
                    "--token-file {}: the token must be at least 16 characters",
                    p.display()
                )));
            }
            Some(t)
        }
        None => None,
    };
    if !listen.ip().is_loopback() && token.is_none() {
        return Err(Error::Usage(format!(
            "--listen {listen}: an address other than loopback needs --token-file (token_file in the config)"
        )));
    }
    Ok(ServeSettings {
        export,
        schedule_expr,
        schedule,
        listen,
        token,
        shutdown_timeout: seconds(
            "--shutdown-timeout",
            a.shutdown_timeout.or(file.shutdown_timeout).unwrap_or(25.0),
            3600.0,
        )?,
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
    let file = FileConfig::load(a.config.as_deref())?;
    let role = a
        .member_role
        .clone()
        .or(file.member_role.clone())
        .unwrap_or_else(|| "OrganizationAccountAccessRole".into());
    let role_ok = !role.is_empty()
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b));
    if !role_ok {
        return Err(Error::Usage(format!("--member-role {role:?}: a role name")));
    }
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
    let file = FileConfig::load(a.config.as_deref())?;
    if !(1..=10_000).contains(&a.batch_size) {
        return Err(Error::Usage(format!(
            "--batch-size {}: expected 1 to 10000",
            a.batch_size
        )));
    }
    let naming = naming(&Default::default(), &file)?;
    // A plan lists accounts; the regions are each worker's to find.
    let mut live = a.live.clone();
    if live.regions.is_none() && file.regions.is_none() {
        live.regions = Some(vec!["all".into()]);
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
    fn the_help_states_the_default_attempts() {
        let cmd = crate::cli::Cli::command();
        let export = cmd.find_subcommand("export").unwrap();
        let arg = export
            .get_arguments()
            .find(|a| a.get_id() == "max_attempts")
            .unwrap();
        let help = arg.get_help().unwrap().to_string();
        assert!(
            help.contains(&format!("(default {DEFAULT_MAX_ATTEMPTS})")),
            "{help}"
        );
    }
}
