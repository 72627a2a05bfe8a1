//! Command-line types (clap). Nothing here is used past `settings`, which
//! turns them into plain settings for the commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::options::{
    AccountsArgs, DaemonArgs, DestArgs, EndpointArgs, NamingArgs, RoleArgs, RunArgs, TimeoutArgs,
};
use crate::sink::parquet::Codec;

#[derive(Debug, Parser)]
#[command(
    name = "fleetcmdb",
    version,
    about = "Org-wide CMDB for CloneSquad-style EC2 fleets: AWS inventory -> Hive-partitioned Parquet -> Athena"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect every table and write them as Hive-partitioned Parquet under OUT/metadata/.
    ///
    /// Examples:
    ///   fleetcmdb export --demo
    ///   fleetcmdb export --snapshot ./aws-cli-dump --out ./cmdb --json
    #[command(verbatim_doc_comment)]
    Export(Box<ExportArgs>),
    /// Back up every group's configuration and scheduler tables as YAML (latest- and archive/), without Parquet.
    ///
    /// Examples:
    ///   fleetcmdb backup --demo --out ./cmdb
    ///   fleetcmdb backup --aws --org --regions all --out s3://org-cmdb/prod --label manual
    #[command(verbatim_doc_comment)]
    Backup(Box<BackupArgs>),
    /// Restore a group backup (YAML) into a DynamoDB table: verify, diff, then write.
    ///
    /// Examples:
    ///   fleetcmdb restore ./cmdb/backups/accountid=…/region=…/groupname=web/latest-…-configuration-cs-web.yaml --table CloneSquad-web-Configuration --dry-run
    ///   fleetcmdb restore --latest --out s3://org-cmdb/prod --group web --account 111111111111 --region eu-west-1 --also ./cmdb-copy
    #[command(verbatim_doc_comment)]
    Restore(Box<RestoreArgs>),
    /// Dump any DynamoDB table, losslessly (typed JSON Lines, gzip, with a manifest).
    ///
    /// Example: fleetcmdb backup-table --table Users --out ./cmdb --segments 4
    #[command(verbatim_doc_comment)]
    BackupTable(Box<TableBackupArgs>),
    /// Recreate a table from a backup-table dump (or fill an existing empty one).
    ///
    /// Example: fleetcmdb restore-table ./cmdb/backups/tables/Users/2026-11-22T03-00-00Z --table Users-restored
    #[command(verbatim_doc_comment)]
    RestoreTable(Box<TableRestoreArgs>),
    /// Apply grandfather-father-son retention to backup archives (never latest-, the newest, or manual ones).
    ///
    /// Example: fleetcmdb prune --out s3://org-cmdb/prod --keep hourly=24,daily=7,weekly=4,monthly=12 --dry-run
    #[command(verbatim_doc_comment)]
    Prune(PruneArgs),
    /// Print (or write into ddl/) the Athena DDL of every table.
    ///
    /// Examples:
    ///   fleetcmdb ddl --location s3://my-bucket/cmdb
    ///   fleetcmdb ddl --location s3://my-bucket/cmdb --partitions-from ./cmdb
    ///   fleetcmdb ddl --write
    #[command(verbatim_doc_comment)]
    Ddl(DdlArgs),
    /// Print the least-privilege IAM policies a live export needs (caller and member role).
    ///
    /// Example: fleetcmdb iam-policy --member-role CmdbReader
    #[command(verbatim_doc_comment)]
    IamPolicy(IamPolicyArgs),
    /// Write the demo organisation as a snapshot directory (AWS CLI JSON), e.g. for benchmarks.
    ///
    /// Example: fleetcmdb gen-snapshot ./snap --demo-accounts 20 --demo-instances 400
    #[command(verbatim_doc_comment)]
    GenSnapshot(GenSnapshotArgs),
    /// Show when a run schedule would fire: cron() in UTC, localcron() in a time zone, rate(), or disabled.
    ///
    /// Examples:
    ///   fleetcmdb schedule 'cron(0 * * * ? *)' --next 3
    ///   fleetcmdb schedule 'localcron(0 3 ? * MON *)' --timezone Asia/Tokyo --next 5
    #[command(verbatim_doc_comment)]
    Schedule(ScheduleArgs),
    /// Run exports by themselves: on a schedule, on demand over HTTP, and a backup at shutdown.
    ///
    /// Examples:
    ///   fleetcmdb serve --demo --out ./cmdb
    ///   fleetcmdb serve --config fleetcmdb.toml --aws --schedule 'cron(0 * * * ? *)'
    ///   curl -X POST 'localhost:9137/v1/backup?account=111111111111&region=eu-west-1&group=web'
    #[command(verbatim_doc_comment)]
    Serve(Box<ServeArgs>),
    /// Show what changed between two history snapshots: rows added, removed and changed, column by column.
    ///
    /// Examples:
    ///   fleetcmdb diff --out ./cmdb
    ///   fleetcmdb diff --out s3://org-cmdb/prod --from 2026-11-30T00 --to latest --table configuration
    ///   fleetcmdb diff --out ./cmdb --from yesterday --json | jq .
    #[command(verbatim_doc_comment)]
    Diff(DiffArgs),
    /// List the organization's accounts once and write them as batches, one per worker of a distributed export.
    ///
    /// Example: fleetcmdb plan --org --out s3://org-cmdb/plans/2026-12-01T00 --batch-size 100
    #[command(verbatim_doc_comment)]
    Plan(Box<PlanArgs>),
    /// Take a history snapshot of what OUT/metadata/ holds now (export --history does this after each run).
    ///
    /// Example: fleetcmdb snapshot --out s3://org-cmdb/prod
    #[command(verbatim_doc_comment)]
    Snapshot(SnapshotArgs),
    /// Write the query-ready copy (OUT/query/) of what OUT/metadata/ holds now, and switch readers to it (every export does this at its end; sharded runs need it once after the last shard).
    ///
    /// Example: fleetcmdb consolidate --out s3://org-cmdb/prod
    #[command(verbatim_doc_comment)]
    Consolidate(ConsolidateArgs),
    /// Draw the governance picture of an export as one self-contained HTML page (fleet, maintenance, backups, exposure, changes, the last run).
    ///
    /// Examples:
    ///   fleetcmdb report --out ./cmdb --html report.html
    ///   fleetcmdb report --out s3://org-cmdb/prod --publish
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Export root (a directory or s3://bucket/prefix). Example: --out ./cmdb
    #[arg(long, value_name = "DIR|S3URL")]
    pub out: String,

    /// Write the page to this local file. Example: --html report.html
    #[arg(long, value_name = "FILE", required_unless_present = "publish")]
    pub html: Option<std::path::PathBuf>,

    /// Write the page to OUT/report.html, next to the export. Example: --publish
    #[arg(long)]
    pub publish: bool,

    /// Draw the picture as of this UTC time instead of now (maintenance "now", overdue backups). Example: --as-of 2026-11-22T03:00:00Z
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,

    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct ConsolidateArgs {
    /// Export root (a directory or s3://bucket/prefix). Example: --out s3://org-cmdb/prod
    #[arg(long, value_name = "DIR|S3URL")]
    pub out: String,

    /// Name the version after this UTC time instead of now. Example: --as-of 2026-11-22T03:00:00Z
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,

    /// Print the result as JSON on stdout. Example: --json
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Export root holding history/ (a directory or s3://bucket/prefix). Example: --out ./cmdb
    #[arg(long, value_name = "DIR|S3URL")]
    pub out: String,

    /// The older snapshot: the newest one taken at or before this time (latest, yesterday, 12h, 7d, 2w, 2026-11-30, 2026-11-30T00, or a snapshot id); default: the snapshot before --to. Example: --from yesterday
    #[arg(long, value_name = "WHEN")]
    pub from: Option<String>,

    /// The newer snapshot, as --from. Example: --to latest
    #[arg(long, value_name = "WHEN", default_value = "latest")]
    pub to: String,

    /// Only this table (repeatable). Example: --table configuration
    #[arg(long, value_name = "NAME")]
    pub table: Vec<String>,

    /// One JSON object per change on stdout, for scripts. Example: --json
    #[arg(long)]
    pub json: bool,

    /// Read relative times (yesterday, 7d) from this UTC time instead of now. Example: --as-of 2026-12-01T00:00:00Z
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,

    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Folder of the plan (a directory or s3://bucket/prefix): batch-NNNN.json, batches.json (the items of a Step Functions Distributed Map), then plan.json. Example: --out s3://org-cmdb/plans/2026-12-01T00
    #[arg(long, value_name = "DIR|S3URL")]
    pub out: String,

    /// Accounts per batch, 1 to 10000. Example: --batch-size 50
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub batch_size: usize,

    #[command(flatten)]
    pub config: ConfigArg,

    #[command(flatten)]
    pub live: AwsArgs,

    /// Print the plan's summary as JSON on stdout. Example: --json
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Export root (a directory or s3://bucket/prefix). Example: --out s3://org-cmdb/prod
    #[arg(long, value_name = "DIR|S3URL")]
    pub out: String,

    /// Snapshot period: hour or day. Example: --period day
    #[arg(long, value_enum, default_value = "hour")]
    pub period: crate::history::Period,

    /// Take it as of this UTC time instead of now (it names the snapshot). Example: --as-of 2026-11-22T03:00:00Z
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,

    /// Print the result as JSON on stdout. Example: --json
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: ExportArgs,

    #[command(flatten)]
    pub daemon: DaemonArgs,

    /// Seconds between two looks at the schedule (default 30). Example: --tick 5
    #[arg(long, value_name = "SECONDS")]
    pub tick: Option<f64>,

    /// Read the current time from this file (an RFC 3339 time) instead of the system clock: for tests and drills. Example: --clock-file /tmp/now
    #[arg(long, value_name = "FILE")]
    pub clock_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// cron(MIN HOUR DOM MONTH DOW YEAR), localcron(…), rate(N minutes|hours|days) or disabled. Example: 'cron(0 * * * ? *)'
    pub expr: String,

    /// IANA time zone of localcron(). Example: --timezone Europe/Paris
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,

    /// How many of the next runs to show, 1 to 1000. Example: --next 10
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub next: usize,

    /// Show the runs after this time instead of now. Example: --from 2026-12-01T00:00:00Z
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").args(["demo", "snapshot", "aws"])))]
pub struct ExportArgs {
    /// Collect the built-in demo organisation (no AWS account needed). Example: --demo
    #[arg(long)]
    pub demo: bool,

    /// Convert a directory of AWS CLI JSON output (layout in docs/layout.md). Example: --snapshot ./dump
    #[arg(long, value_name = "DIR")]
    pub snapshot: Option<PathBuf>,

    /// Refuse snapshot files larger than this many bytes, before reading them. Example: --max-page-bytes 1073741824
    #[arg(long, value_name = "BYTES", default_value_t = 512 << 20)]
    pub max_page_bytes: u64,

    /// Collect live from AWS with the default credential chain. Example: --aws --regions eu-west-1
    #[arg(long)]
    pub aws: bool,

    #[command(flatten)]
    pub config: ConfigArg,

    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub dest: DestArgs,

    /// Do not write the YAML backups of configuration and scheduler tables. Example: --no-backup
    #[arg(long)]
    pub no_backup: bool,

    /// Also write every group backup to this second destination (repeatable). Example: --also s3://cmdb-dr/prod
    #[arg(long, value_name = "DIR|S3URL")]
    pub also: Vec<String>,

    /// Delete partitions of groups that no longer exist, in account/regions collected without any failure. Example: --prune-stale
    #[arg(long)]
    pub prune_stale: bool,

    /// With --prune-stale: the most groups deleted in one account/region (default: half the groups it held, at least 1); beyond it nothing is deleted there, the groups are listed and the run exits 3. Example: --max-stale 10
    #[arg(long, value_name = "N", requires = "prune_stale")]
    pub max_stale: Option<usize>,

    #[command(flatten)]
    pub live: AwsArgs,

    /// Print the summary as JSON on stdout. Example: --json
    #[arg(long)]
    pub json: bool,

    /// Account/regions converted at once, 1 to 256 (default: the number of CPUs). Example: --jobs 2
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Collect only shard K of N: the accounts whose id hashes to it (stable across runs and machines), every region of each. N runs, one per K, write disjoint partitions that together are one whole run. Example: --shard 3/8
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Collect exactly the accounts of this batch of a plan (`fleetcmdb plan`), with what the plan's listing says of them. Example: --plan s3://org-cmdb/plans/2026-12-01T00/batch-0007.json
    #[arg(long, value_name = "URL", conflicts_with_all = ["shard", "demo", "snapshot"])]
    pub plan: Option<String>,

    /// Compute maintenance state and stamp rows as of this UTC time instead of now. Example: --as-of 2026-11-22T03:00:00Z
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,

    /// Parquet compression. Example: --codec snappy
    #[arg(long, value_enum, default_value = "zstd")]
    pub codec: Codec,

    #[command(flatten)]
    pub naming: NamingArgs,

    #[command(flatten)]
    pub demo_opts: DemoArgs,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub common: ExportArgs,

    /// Label the archives: `manual` ones are never pruned, `shutdown` ones are kept by prune --keep shutdown=N. Example: --label manual
    #[arg(long, value_parser = ["manual", "shutdown"])]
    pub label: Option<String>,
}

/// How to reach AWS (DynamoDB, S3, Athena) outside a collection.
#[derive(Debug, Args)]
pub struct ConnArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Region of the DynamoDB table or of Athena, else the default chain's (with restore --latest, also the backup's). Example: --region eu-west-1
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    #[command(flatten)]
    pub config: ConfigArg,

    #[command(flatten)]
    pub timeouts: TimeoutArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup: a path or s3:// URL of a latest- or archive YAML file. Example: ./cmdb/backups/…/latest-…-configuration-cs-web.yaml
    pub file: Option<String>,

    /// Table to write (default with --latest: CloneSquad-{group}-Configuration or -Scheduler). Example: --table CloneSquad-web-Configuration
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,

    /// Find the latest backup of --group/--account/--region under --out. Example: --latest
    #[arg(long, conflicts_with = "file")]
    pub latest: bool,

    /// With --latest: the group. Example: --group web
    #[arg(long, requires = "latest")]
    pub group: Option<String>,

    /// With --latest: the newest archive with this label instead of the latest- file. Example: --label shutdown
    #[arg(long, requires = "latest", value_parser = ["manual", "shutdown"])]
    pub label: Option<String>,

    /// With --latest: the account of the backup. Example: --account 111111111111
    #[arg(long, requires = "latest")]
    pub account: Option<String>,

    /// Which table of the group. Example: --kind scheduler
    #[arg(long, value_parser = ["configuration", "scheduler"], default_value = "configuration")]
    pub kind: String,

    /// With --latest: the export root holding backups/ (default ./cmdb). Example: --out s3://org-cmdb/prod
    #[arg(long, value_name = "DIR|S3URL")]
    pub out: Option<String>,

    /// Second destination to fall back to when the primary has nothing valid (repeatable). Example: --also s3://cmdb-dr/prod
    #[arg(long, value_name = "DIR|S3URL")]
    pub also: Vec<String>,

    /// Print the diff (added, changed, removed keys) and change nothing. Example: --dry-run
    #[arg(long)]
    pub dry_run: bool,

    /// Also delete keys that are in the table but not in the backup. Example: --force
    #[arg(long)]
    pub force: bool,

    /// Refuse backup files larger than this many bytes. Example: --max-size 1048576
    #[arg(long, value_name = "BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_size: usize,

    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct TableBackupArgs {
    /// Tables to dump, comma-separated. Example: --table Users,Orders
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        required_unless_present = "select_tag"
    )]
    pub table: Vec<String>,

    /// Dump every table of the region carrying this tag. Example: --select-tag backup=daily
    #[arg(long, value_name = "KEY=VALUE")]
    pub select_tag: Option<String>,

    /// Export root; dumps go under OUT/backups/tables/{table}/{timestamp}/. Example: --out s3://org-cmdb/prod
    #[arg(long, value_name = "DIR|S3URL", default_value = "./cmdb")]
    pub out: String,

    /// Parallel Scan segments. Example: --segments 8
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub segments: i32,

    /// Turn point-in-time recovery on for every table dumped that lacks it. Example: --enable-pitr
    #[arg(long)]
    pub enable_pitr: bool,

    /// Instead of a dump, make a DynamoDB on-demand backup (CreateBackup) of each table. Example: --native
    #[arg(long, conflicts_with = "list_native")]
    pub native: bool,

    /// List the DynamoDB on-demand backups of each table (ListBackups), and make none. Example: --list-native
    #[arg(long)]
    pub list_native: bool,

    /// Print the result as JSON on stdout. Example: --json
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("from").args(["dump", "from_backup", "point_in_time"]).required(true)))]
pub struct TableRestoreArgs {
    /// The dump folder (with manifest.json), a path or s3:// URL. Example: ./cmdb/backups/tables/Users/2026-11-22T03-00-00Z
    pub dump: Option<String>,

    /// Restore a DynamoDB on-demand backup (RestoreTableFromBackup). Example: --from-backup arn:aws:dynamodb:eu-west-1:111111111111:table/Users/backup/01700000000000-abcdef12
    #[arg(long, value_name = "ARN")]
    pub from_backup: Option<String>,

    /// Restore --source as it was at this time (RestoreTableToPointInTime): an RFC 3339 time or latest. Example: --point-in-time 2026-11-30T12:00:00Z
    #[arg(long, value_name = "TIME", requires = "source")]
    pub point_in_time: Option<String>,

    /// With --point-in-time: the table to restore from. Example: --source Users
    #[arg(long, value_name = "TABLE", requires = "point_in_time")]
    pub source: Option<String>,

    /// Table to create (or fill, if it exists and is empty). Example: --table Users-restored
    #[arg(long, value_name = "NAME")]
    pub table: String,

    /// Refuse dump files (compressed) larger than this many bytes, before reading them. Example: --max-file-bytes 4294967296
    #[arg(long, value_name = "BYTES", default_value_t = 2 << 30)]
    pub max_file_bytes: u64,

    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Export root holding backups/ (a directory or s3://bucket/prefix). Example: --out s3://org-cmdb/prod
    #[arg(long, value_name = "DIR|S3URL")]
    pub out: String,

    /// Newest archives to keep per period (hourly, daily, weekly, monthly, bimonthly) and of shutdown backups (shutdown). Example: --keep hourly=24,daily=7,weekly=4,monthly=12
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "hourly=24,daily=7,weekly=4,monthly=12"
    )]
    pub keep: String,

    /// List what would be deleted, delete nothing. Example: --dry-run
    #[arg(long)]
    pub dry_run: bool,

    /// Prune history snapshots (OUT/history/) instead of backup archives; also removes snapshots a stopped run left incomplete. Example: --history --keep daily=30,monthly=24
    #[arg(long, conflicts_with = "departed")]
    pub history: bool,

    /// Delete the partitions (under metadata/) of accounts no longer in the organization, from a complete ListAccounts (never after a failed one); backups and history stay. Example: --departed
    #[arg(long)]
    pub departed: bool,

    /// With --departed: take the organization's members from this plan (fleetcmdb plan --org) instead of listing them. Example: --departed --plan s3://org-cmdb/plans/2026-12-01T00
    #[arg(long, value_name = "DIR|S3URL", requires = "departed")]
    pub plan: Option<String>,

    /// With --departed: the most accounts whose partitions may be deleted in one run; more are refused, listing them (default: 5% of the accounts found under metadata/, at least 1). Example: --departed --max-departed 40
    #[arg(long, value_name = "N", requires = "departed")]
    pub max_departed: Option<usize>,

    /// Print the result as JSON on stdout. Example: --json
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnArgs,
}

/// The live collection's settings (`--aws`).
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    #[command(flatten)]
    pub accounts: AccountsArgs,

    #[command(flatten)]
    pub role: RoleArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    #[command(flatten)]
    pub timeouts: TimeoutArgs,
}

/// The settings file.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArg {
    /// Settings file (TOML; flags override it; keys in docs/usage.md). Default: ./fleetcmdb.toml when present. Example: --config /etc/fleetcmdb.toml
    #[arg(long, value_name = "FILE", env = "FLEETCMDB_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    #[command(flatten)]
    pub role: RoleArgs,

    /// Which work the policy is for: the hourly inventory, group restores, table dumps and DynamoDB backups (reads only), or table restores (and backup-table --enable-pitr). Example: --for restore
    #[arg(long = "for", value_parser = ["inventory", "restore", "table-backup", "table-restore"], default_value = "inventory")]
    pub purpose: String,

    /// The AWS partition of the ARNs. Example: --partition aws-us-gov
    #[arg(long, value_parser = ["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f"], default_value = "aws")]
    pub partition: String,

    #[command(flatten)]
    pub config: ConfigArg,

    /// json: the policies; cloudformation: a template of the member role with its policy, to deploy as a StackSet in every member account. Example: --format cloudformation
    #[arg(long, value_parser = ["json", "cloudformation"], default_value = "json")]
    pub format: String,

    /// The account that runs fleetcmdb: named in the member role's trust policy (json), the default of the template's CallerAccountId (cloudformation). Example: --caller-account 111111111111
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub caller_account: Option<String>,

    #[command(flatten)]
    pub naming: NamingArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Demo: number of accounts; the fourth (in the Sandbox OU) has joined but runs no deployment. Example: --demo-accounts 20
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub demo_accounts: usize,

    /// Demo: regions, comma-separated. Example: --demo-regions eu-west-1,us-east-1,ap-southeast-2
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "eu-west-1,us-east-1"
    )]
    pub demo_regions: Vec<String>,

    /// Demo: groups per account and region. Example: --demo-groups 4
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub demo_groups: usize,

    /// Demo: instances per group. Example: --demo-instances 1000
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub demo_instances: usize,

    /// Demo: random seed; the same seed gives the same organisation. Example: --seed 7
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,

    /// Demo: the organisation after N rounds of change (instances stopped, started and retyped; configuration edited), to try history and diff. Example: --demo-revision 1
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub demo_revision: u32,
}

#[derive(Debug, Args)]
pub struct DdlArgs {
    /// athena: Athena DDL; duckdb: a DuckDB script defining the same tables and every view of queries/ over --location. Example: --engine duckdb --location ./cmdb
    #[arg(long, value_parser = ["athena", "duckdb"], default_value = "athena")]
    pub engine: String,

    /// With --engine duckdb: also the history tables and views (the export must hold snapshots). Athena always gets them. Example: --engine duckdb --history
    #[arg(long)]
    pub history: bool,

    /// Export root that Athena reads (tables are under LOCATION/metadata/). Example: --location s3://my-bucket/cmdb
    #[arg(long, value_name = "URL", default_value = crate::schema::ddl::PLACEHOLDER_LOCATION)]
    pub location: String,

    /// Athena database. Example: --database governance
    #[arg(long, default_value = "cmdb")]
    pub database: String,

    /// Prefix of the Athena table names; clonesquad_ gives the original system's names. Example: --table-prefix clonesquad_
    #[arg(long, default_value = "cmdb_")]
    pub table_prefix: String,

    /// Instead of MSCK REPAIR, add exactly the partitions found under this export (directory or s3:// URL). Example: --partitions-from s3://org-cmdb/prod
    #[arg(long, value_name = "DIR|S3URL")]
    pub partitions_from: Option<String>,

    /// Use partition projection instead of MSCK REPAIR (enum values when --partitions-from is given). Example: --projection
    #[arg(long)]
    pub projection: bool,

    /// Write one file per table into DIR (default ddl/) instead of printing. Example: --write ddl
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "ddl", conflicts_with = "apply")]
    pub write: Option<PathBuf>,

    /// Run the statements in Athena, one per query, then create the views of queries/. Example: --apply --output-location s3://org-cmdb/athena-results/
    #[arg(long)]
    pub apply: bool,

    /// With --apply: print what would run (the read-only column check still runs). Example: --apply --dry-run
    #[arg(long, requires = "apply")]
    pub dry_run: bool,

    /// Athena workgroup. Example: --workgroup primary
    #[arg(long, default_value = "primary")]
    pub workgroup: String,

    /// Where Athena writes query results (else the workgroup's setting). Example: --output-location s3://org-cmdb/athena-results/
    #[arg(long, value_name = "S3URL")]
    pub output_location: Option<String>,

    /// Athena data catalog. Example: --catalog AwsDataCatalog
    #[arg(long, default_value = "AwsDataCatalog")]
    pub catalog: String,

    /// Give up on a statement that has not finished after this many seconds. Example: --timeout 600
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub timeout: u64,

    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct GenSnapshotArgs {
    /// Directory to create. Example: ./snap
    pub dir: PathBuf,

    #[command(flatten)]
    pub config: ConfigArg,

    #[command(flatten)]
    pub demo_opts: DemoArgs,

    #[command(flatten)]
    pub naming: NamingArgs,
}
