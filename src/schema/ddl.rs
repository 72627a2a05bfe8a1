//! Athena DDL derived from the table declarations.
//!
//! Owns the text of every statement fleetcmdb asks Athena to run:
//! `CREATE DATABASE`, `CREATE EXTERNAL TABLE`, `MSCK REPAIR TABLE`,
//! batched `ALTER TABLE … ADD IF NOT EXISTS PARTITION` and partition
//! projection properties. Each statement is one string with no trailing
//! semicolon, because Athena runs exactly one statement per call.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Column, ColumnType, Partitioning, TableDef};
use crate::partition::PartitionKey;

/// Athena rejects query strings longer than 262,144 bytes; stay well below it.
pub const MAX_STATEMENT_BYTES: usize = 256 * 1024 - 4 * 1024;

/// Placeholder location used for the committed `ddl/` files.
pub const PLACEHOLDER_LOCATION: &str = "s3://YOUR-BUCKET/YOUR-PREFIX";

/// Schema version recorded in TBLPROPERTIES; bump when a declaration changes.
pub const SCHEMA_VERSION: u32 = 4;

/// How partitions become known to Athena.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionMode {
    /// `MSCK REPAIR TABLE` after the create.
    Msck,
    /// `ALTER TABLE … ADD IF NOT EXISTS PARTITION` for exactly these
    /// partitions (each table takes those of its own partitioning).
    Explicit(Vec<PartitionKey>),
    /// Partition projection; `enum` values when known, else `injected`.
    Projection(Option<Vec<PartitionKey>>),
}

#[derive(Debug, Clone)]
pub struct DdlOptions {
    pub database: String,
    pub table_prefix: String,
    /// Export root (`s3://bucket/prefix`), without `/metadata`.
    pub location: String,
    pub partitions: PartitionMode,
    pub max_statement_bytes: usize,
}

impl Default for DdlOptions {
    fn default() -> Self {
        DdlOptions {
            database: "cmdb".into(),
            table_prefix: "cmdb_".into(),
            location: PLACEHOLDER_LOCATION.into(),
            partitions: PartitionMode::Msck,
            max_statement_bytes: MAX_STATEMENT_BYTES,
        }
    }
}

impl DdlOptions {
    /// The per-partition (Hive) table of a live table: `cmdb_instances_by_group`,
    /// `cmdb_accounts_by_account`. The plain name is the query-ready copy's.
    pub fn live_name(&self, table: &TableDef) -> String {
        let by = match table.partitioning {
            Partitioning::Group => "group",
            Partitioning::Account => "account",
        };
        format!("{}{}_by_{by}", self.table_prefix, table.name)
    }

    /// The query-ready copy of a table: `cmdb_instances`, what the views read.
    pub fn copy_name(&self, table: &TableDef) -> String {
        format!("{}{}", self.table_prefix, table.name)
    }

    /// The quoted name of a live table's per-partition table.
    pub fn qualified_name(&self, table: &TableDef) -> String {
        format!("`{}`.`{}`", self.database, self.live_name(table))
    }

    pub fn table_location(&self, table: &TableDef) -> String {
        format!(
            "{}/{}/",
            self.location.trim_end_matches('/'),
            crate::partition::table_dir(table)
        )
    }
}

/// The Athena type of a column, e.g. `array<struct<`code`:int,`name`:string>>`.
pub fn athena_type(ty: &ColumnType) -> String {
    match ty {
        ColumnType::String => "string".into(),
        ColumnType::Bigint => "bigint".into(),
        ColumnType::Int => "int".into(),
        ColumnType::Double => "double".into(),
        ColumnType::Boolean => "boolean".into(),
        ColumnType::Timestamp => "timestamp".into(),
        ColumnType::Array(item) => format!("array<{}>", athena_type(item)),
        ColumnType::Map => "map<string,string>".into(),
        ColumnType::Struct(cols) => {
            let inner: Vec<String> = cols
                .iter()
                .map(|c| format!("`{}`:{}", c.name, athena_type(&c.ty)))
                .collect();
            format!("struct<{}>", inner.join(","))
        }
    }
}

pub fn create_database(opts: &DdlOptions) -> String {
    format!("CREATE DATABASE IF NOT EXISTS `{}`", opts.database)
}

pub fn create_table(table: &TableDef, opts: &DdlOptions) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "CREATE EXTERNAL TABLE IF NOT EXISTS {} (",
        opts.qualified_name(table)
    );
    let cols: Vec<String> = table.columns.iter().map(column_line).collect();
    s.push_str(&cols.join(",\n"));
    let _ = write!(s, "\n)\nCOMMENT '{}'\n", table.doc);
    let parts: Vec<String> = table
        .partitioning
        .columns()
        .iter()
        .map(|p| format!("`{p}` string"))
        .collect();
    let _ = writeln!(s, "PARTITIONED BY ({})", parts.join(", "));
    s.push_str("STORED AS PARQUET\n");
    let _ = writeln!(s, "LOCATION '{}'", opts.table_location(table));
    let mut props = vec![
        ("classification".to_string(), "parquet".to_string()),
        ("parquet.compression".to_string(), "ZSTD".to_string()),
        (
            "fleetcmdb.schema_version".to_string(),
            SCHEMA_VERSION.to_string(),
        ),
    ];
    if let PartitionMode::Projection(known) = &opts.partitions {
        props.extend(projection_properties(table, opts, known.as_deref()));
    }
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("  '{k}'='{v}'"))
        .collect();
    let _ = write!(s, "TBLPROPERTIES (\n{}\n)", props.join(",\n"));
    s
}

/// `CREATE EXTERNAL TABLE` of a table's query-ready copy (`copy` is the
/// table's declaration with its partition columns leading, as
/// [`crate::history::history_def`] gives it): no partitions and no
/// projection; Athena reads the Parquet file that the table's manifest
/// names (`SymlinkTextInputFormat`), and the run that writes a new version
/// switches the manifest in one write.
pub fn create_copy_table(live: &TableDef, copy: &TableDef, opts: &DdlOptions) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{}`.`{}` (",
        opts.database,
        opts.copy_name(live)
    );
    let cols: Vec<String> = copy.columns.iter().map(column_line).collect();
    s.push_str(&cols.join(",\n"));
    let _ = write!(
        s,
        "\n)\nCOMMENT '{} The query-ready copy: every partition in one file, rewritten by every run.'\n",
        live.doc
    );
    s.push_str("ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n");
    s.push_str("STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n");
    s.push_str("OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n");
    let _ = writeln!(
        s,
        "LOCATION '{}/query/manifests/{}/'",
        opts.location.trim_end_matches('/'),
        live.name
    );
    let _ = write!(
        s,
        "TBLPROPERTIES (\n  'classification'='parquet',\n  'fleetcmdb.schema_version'='{SCHEMA_VERSION}',\n  'fleetcmdb.layout'='query-copy'\n)"
    );
    s
}

pub fn column_line(c: &Column) -> String {
    format!("  `{}` {} COMMENT '{}'", c.name, athena_type(&c.ty), c.doc)
}

fn projection_properties(
    table: &TableDef,
    opts: &DdlOptions,
    known: Option<&[PartitionKey]>,
) -> Vec<(String, String)> {
    let mut props = vec![("projection.enabled".to_string(), "true".to_string())];
    let columns = table.partitioning.columns();
    for (i, col) in columns.iter().enumerate() {
        match known {
            Some(parts) => {
                let values: BTreeSet<&str> =
                    of_table(table, parts).map(|p| p.values()[i]).collect();
                props.push((format!("projection.{col}.type"), "enum".into()));
                let values: Vec<&str> = values.into_iter().collect();
                props.push((format!("projection.{col}.values"), values.join(",")));
            }
            None => props.push((format!("projection.{col}.type"), "injected".into())),
        }
    }
    let dirs: Vec<String> = columns.iter().map(|c| format!("{c}=${{{c}}}")).collect();
    let template = format!("{}{}/", opts.table_location(table), dirs.join("/"));
    props.push(("storage.location.template".into(), template));
    props
}

/// `ALTER TABLE … ADD COLUMNS` for declared columns an existing table lacks.
/// Columns are only ever added (never renamed or retyped), so files written
/// before and after the change stay readable: Parquet is read by name.
pub fn add_columns(table: &TableDef, opts: &DdlOptions, columns: &[&Column]) -> String {
    add_columns_to(&opts.qualified_name(table), columns)
}

/// `ALTER TABLE {qualified} ADD COLUMNS …`, for any table by its quoted name.
pub fn add_columns_to(qualified: &str, columns: &[&Column]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| column_line(c)).collect();
    format!(
        "ALTER TABLE {qualified} ADD COLUMNS (\n{}\n)",
        cols.join(",\n")
    )
}

pub fn msck(table: &TableDef, opts: &DdlOptions) -> String {
    format!("MSCK REPAIR TABLE {}", opts.qualified_name(table))
}

/// `ALTER TABLE … ADD IF NOT EXISTS PARTITION …` statements for `partitions`,
/// batched so that each stays under `opts.max_statement_bytes`.
pub fn add_partitions(
    table: &TableDef,
    opts: &DdlOptions,
    partitions: &[PartitionKey],
) -> Vec<String> {
    let head = format!(
        "ALTER TABLE {} ADD IF NOT EXISTS",
        opts.qualified_name(table)
    );
    let mut out = Vec::new();
    let mut cur = head.clone();
    for p in of_table(table, partitions) {
        let values: Vec<String> = table
            .partitioning
            .columns()
            .iter()
            .zip(p.values())
            .map(|(c, v)| format!("`{c}`='{v}'"))
            .collect();
        let clause = format!(
            "\n  PARTITION ({}) LOCATION '{}{}/'",
            values.join(", "),
            opts.table_location(table),
            p.rel_dir()
        );
        if cur.len() + clause.len() > opts.max_statement_bytes && cur.len() > head.len() {
            out.push(std::mem::replace(&mut cur, head.clone()));
        }
        cur.push_str(&clause);
    }
    if cur.len() > head.len() {
        out.push(cur);
    }
    out
}

/// The partitions of `parts` that belong to `table` (those of its partitioning).
fn of_table<'p>(
    table: &TableDef,
    parts: &'p [PartitionKey],
) -> impl Iterator<Item = &'p PartitionKey> {
    let want = table.partitioning;
    parts.iter().filter(move |p| p.partitioning() == want)
}

/// The statements that make a table's partitions known, per `opts.partitions`.
pub fn partition_statements(table: &TableDef, opts: &DdlOptions) -> Vec<String> {
    match &opts.partitions {
        PartitionMode::Msck => vec![msck(table, opts)],
        PartitionMode::Explicit(parts) => add_partitions(table, opts, parts),
        PartitionMode::Projection(_) => Vec::new(),
    }
}

/// Every statement for one table, in the order they must run.
pub fn table_statements(table: &TableDef, opts: &DdlOptions) -> Vec<String> {
    let mut v = vec![create_table(table, opts)];
    v.extend(partition_statements(table, opts));
    v
}

/// The text of one `ddl/{table}.sql` file or one printed block: each statement
/// ends with `;` and statements are separated by a blank line.
pub fn render(statements: &[String]) -> String {
    let mut s = String::new();
    for st in statements {
        s.push_str(st);
        s.push_str(";\n\n");
    }
    s.pop();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::{Partition, PartitionValue};
    use crate::schema::Partitioning;
    use crate::tables;

    fn part(i: usize) -> PartitionKey {
        PartitionKey::Group(
            Partition::new(&format!("{:012}", i), "eu-west-1", &format!("group{i}")).unwrap(),
        )
    }

    static PER_ACCOUNT: TableDef = TableDef {
        name: "per_account",
        doc: "A table partitioned by account.",
        grain: "account",
        partitioning: Partitioning::Account,
        calls: &[],
        identity: &[],
        columns: &[Column::new("x", ColumnType::String, "x.")],
    };

    #[test]
    fn a_table_partitioned_by_account_has_one_partition_column() {
        let account = |a: &str| PartitionKey::Account(PartitionValue::parse(a, "a", "t").unwrap());
        let parts = vec![part(1), account("222222222222"), account("333333333333")];
        let opts = DdlOptions {
            partitions: PartitionMode::Projection(Some(parts.clone())),
            ..Default::default()
        };
        let sql = create_table(&PER_ACCOUNT, &opts);
        assert!(
            sql.contains("PARTITIONED BY (`accountid` string)\n"),
            "{sql}"
        );
        assert!(sql.contains("'projection.accountid.values'='222222222222,333333333333'"));
        assert!(!sql.contains("region"), "{sql}");
        assert!(sql.contains("'storage.location.template'='s3://YOUR-BUCKET/YOUR-PREFIX/metadata/per_account/accountid=${accountid}/'"));
        let stmts = add_partitions(&PER_ACCOUNT, &DdlOptions::default(), &parts);
        assert_eq!(stmts.len(), 1);
        assert_eq!(stmts[0].matches("PARTITION (").count(), 2, "{}", stmts[0]);
        assert!(stmts[0].contains("PARTITION (`accountid`='222222222222') LOCATION 's3://YOUR-BUCKET/YOUR-PREFIX/metadata/per_account/accountid=222222222222/'"));
        let groups = add_partitions(&tables::INSTANCES, &DdlOptions::default(), &parts);
        assert_eq!(groups[0].matches("PARTITION (").count(), 1, "{}", groups[0]);
    }

    #[test]
    fn nested_types_render_as_athena_types() {
        static STATE: [Column; 2] = [
            Column::new("code", ColumnType::Int, "x"),
            Column::new("name", ColumnType::String, "x"),
        ];
        static TY: ColumnType = ColumnType::Array(&ColumnType::Struct(&STATE));
        assert_eq!(athena_type(&TY), "array<struct<`code`:int,`name`:string>>");
        assert_eq!(athena_type(&ColumnType::Map), "map<string,string>");
    }

    #[test]
    fn create_table_has_partitions_location_and_format() {
        let opts = DdlOptions {
            location: "s3://b/p/".into(),
            ..Default::default()
        };
        let sql = create_table(&tables::CONFIGURATION, &opts);
        assert!(sql.starts_with(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `cmdb`.`cmdb_configuration_by_group` ("
        ));
        assert!(sql
            .contains("PARTITIONED BY (`accountid` string, `region` string, `groupname` string)"));
        assert!(sql.contains("STORED AS PARQUET"));
        assert!(sql.contains("LOCATION 's3://b/p/metadata/configuration/'"));
        assert!(!sql.contains(';'));
    }

    #[test]
    fn add_partition_batches_respect_the_length_limit() {
        let parts: Vec<PartitionKey> = (0..500).map(part).collect();
        let opts = DdlOptions {
            max_statement_bytes: 4096,
            ..Default::default()
        };
        let stmts = add_partitions(&tables::INSTANCES, &opts, &parts);
        assert!(stmts.len() > 1, "expected several batches");
        let mut total = 0;
        for s in &stmts {
            assert!(s.len() <= 4096, "statement of {} bytes", s.len());
            assert!(s.starts_with("ALTER TABLE `cmdb`.`cmdb_instances_by_group` ADD IF NOT EXISTS"));
            total += s.matches("PARTITION (").count();
        }
        assert_eq!(total, 500);
        assert!(stmts[0].contains("LOCATION 's3://YOUR-BUCKET/YOUR-PREFIX/metadata/instances/accountid=000000000000/region=eu-west-1/groupname=group0/'"));
    }

    #[test]
    fn projection_uses_enum_values_when_known() {
        let opts = DdlOptions {
            partitions: PartitionMode::Projection(Some(vec![part(1), part(2)])),
            ..Default::default()
        };
        let sql = create_table(&tables::VOLUMES, &opts);
        assert!(sql.contains("'projection.groupname.values'='group1,group2'"));
        assert!(sql.contains("'storage.location.template'='s3://YOUR-BUCKET/YOUR-PREFIX/metadata/volumes/accountid=${accountid}/region=${region}/groupname=${groupname}/'"));
        let injected = DdlOptions {
            partitions: PartitionMode::Projection(None),
            ..Default::default()
        };
        assert!(create_table(&tables::VOLUMES, &injected)
            .contains("'projection.accountid.type'='injected'"));
        assert_eq!(table_statements(&tables::VOLUMES, &injected).len(), 1);
    }
}
