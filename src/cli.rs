//! Command-line types (clap). Nothing here is used past `settings`, which
//! turns them into plain settings for the commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Collect the six tables and write them as Hive-partitioned Parquet under OUT/metadata/.
    ///
    /// Examples:
    ///   fleetcmdb export --demo
    ///   fleetcmdb export --snapshot ./aws-cli-dump --out ./cmdb --json
    Export(ExportArgs),
    /// Print (or write into ddl/) the Athena DDL of the six tables.
    ///
    /// Examples:
    ///   fleetcmdb ddl --location s3://my-bucket/cmdb
    ///   fleetcmdb ddl --location s3://my-bucket/cmdb --partitions-from ./cmdb
    ///   fleetcmdb ddl --write
    Ddl(DdlArgs),
    /// Write the demo organisation as a snapshot directory (AWS CLI JSON), e.g. for benchmarks.
    ///
    /// Example: fleetcmdb gen-snapshot ./snap --demo-accounts 20 --demo-instances 400
    GenSnapshot(GenSnapshotArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Collect the built-in demo organisation (no AWS account needed). Example: --demo
    #[arg(long, conflicts_with = "snapshot")]
    pub demo: bool,

    /// Convert a directory of AWS CLI JSON output (layout in the README). Example: --snapshot ./dump
    #[arg(long, value_name = "DIR")]
    pub snapshot: Option<PathBuf>,

    /// Destination directory; files go under OUT/metadata/. Example: --out /data/cmdb
    #[arg(long, value_name = "DIR", default_value = "./cmdb")]
    pub out: String,

    /// Print the summary as JSON on stdout. Example: --json
    #[arg(long)]
    pub json: bool,

    /// Account/regions converted at once (default: the number of CPUs). Example: --jobs 2
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

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
pub struct NamingArgs {
    /// Tag that names an instance's group. Example: --group-tag clonesquad:group-name
    #[arg(long, value_name = "KEY", default_value = "clonesquad:group-name")]
    pub group_tag: String,

    /// Name of a group's configuration table; {group} is the group. Example: --configuration-table-template 'CloneSquad-{group}-Configuration'
    #[arg(
        long,
        value_name = "TEMPLATE",
        default_value = "CloneSquad-{group}-Configuration"
    )]
    pub configuration_table_template: String,

    /// Name of a group's scheduler table. Example: --scheduler-table-template 'CloneSquad-{group}-Scheduler'
    #[arg(
        long,
        value_name = "TEMPLATE",
        default_value = "CloneSquad-{group}-Scheduler"
    )]
    pub scheduler_table_template: String,

    /// Name of a group's CloudFormation stack. Example: --stack-template 'CloneSquad-{group}'
    #[arg(long, value_name = "TEMPLATE", default_value = "CloneSquad-{group}")]
    pub stack_template: String,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Demo: number of accounts. Example: --demo-accounts 20
    #[arg(long, value_name = "N", default_value_t = 3)]
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
}

#[derive(Debug, Args)]
pub struct DdlArgs {
    /// Export root that Athena reads (tables are under LOCATION/metadata/). Example: --location s3://my-bucket/cmdb
    #[arg(long, value_name = "URL", default_value = crate::schema::ddl::PLACEHOLDER_LOCATION)]
    pub location: String,

    /// Athena database. Example: --database governance
    #[arg(long, default_value = "cmdb")]
    pub database: String,

    /// Prefix of the Athena table names; clonesquad_ gives the original system's names. Example: --table-prefix clonesquad_
    #[arg(long, default_value = "cmdb_")]
    pub table_prefix: String,

    /// Instead of MSCK REPAIR, add exactly the partitions found under this export. Example: --partitions-from ./cmdb
    #[arg(long, value_name = "DIR")]
    pub partitions_from: Option<PathBuf>,

    /// Use partition projection instead of MSCK REPAIR (enum values when --partitions-from is given). Example: --projection
    #[arg(long)]
    pub projection: bool,

    /// Write one file per table into DIR (default ddl/) instead of printing. Example: --write ddl
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "ddl")]
    pub write: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenSnapshotArgs {
    /// Directory to create. Example: ./snap
    pub dir: PathBuf,

    #[command(flatten)]
    pub demo_opts: DemoArgs,

    #[command(flatten)]
    pub naming: NamingArgs,
}
