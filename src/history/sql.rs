//! The SQL that reads history, in Athena and in DuckDB.
//!
//! Owns the `CREATE EXTERNAL TABLE` of every snapshot table (partition
//! projection on `snapshot`, so no `MSCK` is ever needed), their DuckDB
//! equivalents, and the `{table}_changes` views, generated from each
//! table's declaration: rows keyed by partition and identity columns, one
//! output row per added or removed row and per changed column, with the old
//! and new values as text. The timeline views are written by hand, in
//! `queries/history/` (see [`crate::views::HISTORY_VIEWS`]).

use std::fmt::Write as _;

use super::{compared, has_volatile, history_def, table_history_dir, SNAPSHOTS_DEF};
use crate::schema::ddl::{athena_type, column_line, DdlOptions, SCHEMA_VERSION};
use crate::schema::{ColumnType, TableDef};
use crate::tables::{self, Table};

/// First hour Athena projects; snapshots before it are not read.
pub const PROJECTION_START: &str = "2024-01-01-00";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Athena,
    Duckdb,
}

/// `CREATE EXTERNAL TABLE` of a snapshot table (`def` is one of
/// [`history_def`] or [`SNAPSHOTS_DEF`]; `dir` its folder name).
pub fn create_table(def: &TableDef, dir: &str, opts: &DdlOptions) -> String {
    let location = format!(
        "{}/{}/",
        opts.location.trim_end_matches('/'),
        table_history_dir(dir)
    );
    let mut s = String::new();
    let _ = writeln!(
        s,
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{}`.`{}{}` (",
        opts.database, opts.table_prefix, def.name
    );
    let cols: Vec<String> = def.columns.iter().map(column_line).collect();
    s.push_str(&cols.join(",\n"));
    let _ = write!(s, "\n)\nCOMMENT '{}'\n", def.doc);
    s.push_str("PARTITIONED BY (`snapshot` string)\nSTORED AS PARQUET\n");
    let _ = writeln!(s, "LOCATION '{location}'");
    let props = [
        ("classification", "parquet".to_string()),
        ("parquet.compression", "ZSTD".to_string()),
        ("fleetcmdb.schema_version", SCHEMA_VERSION.to_string()),
        ("projection.enabled", "true".to_string()),
        ("projection.snapshot.type", "date".to_string()),
        ("projection.snapshot.format", "yyyy-MM-dd-HH".to_string()),
        (
            "projection.snapshot.range",
            format!("{PROJECTION_START},NOW"),
        ),
        ("projection.snapshot.interval", "1".to_string()),
        ("projection.snapshot.interval.unit", "HOURS".to_string()),
        (
            "storage.location.template",
            format!("{location}snapshot=${{snapshot}}/"),
        ),
    ];
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("  '{k}'='{v}'"))
        .collect();
    let _ = write!(s, "TBLPROPERTIES (\n{}\n)", props.join(",\n"));
    s
}

/// Every snapshot table's `CREATE EXTERNAL TABLE`, the `snapshots` table last.
pub fn create_tables(opts: &DdlOptions) -> Vec<String> {
    super::history_defs()
        .map(|(def, dir)| create_table(def, dir, opts))
        .collect()
}

/// DuckDB views over the snapshot files, under `root` (a folder or `s3://…`).
pub fn duckdb_tables(opts: &DdlOptions, root: &str) -> Vec<String> {
    super::history_defs()
        .map(|(def, dir)| {
            let name = def.name;
            format!(
                "CREATE OR REPLACE VIEW \"{}\".\"{}{name}\" AS SELECT * FROM read_parquet('{root}/{}/*/*.parquet', hive_partitioning = true, hive_types = {{'snapshot': 'VARCHAR'}})",
                opts.database,
                opts.table_prefix,
                table_history_dir(dir)
            )
        })
        .collect()
}

fn has_timestamp(ty: &ColumnType) -> bool {
    match ty {
        ColumnType::Timestamp => true,
        ColumnType::Array(t) => has_timestamp(t),
        ColumnType::Struct(cols) => cols.iter().any(|c| has_timestamp(&c.ty)),
        _ => false,
    }
}

/// `expr` as a value Athena can cast to JSON, without the fields history
/// does not compare: timestamps become text (Athena casts no timestamp to
/// JSON); structs and lists are rebuilt only where they hold one of these.
fn jsonable(expr: &str, ty: &ColumnType, depth: usize) -> String {
    if !has_timestamp(ty) && !has_volatile(ty) {
        return expr.to_string();
    }
    match ty {
        ColumnType::Timestamp => format!("CAST({expr} AS varchar)"),
        ColumnType::Array(item) => {
            let x = format!("x{depth}");
            format!(
                "transform({expr}, {x} -> {})",
                jsonable(&x, item, depth + 1)
            )
        }
        ColumnType::Struct(cols) => {
            let kept: Vec<_> = cols.iter().filter(|c| !c.volatile).collect();
            let fields: Vec<String> = kept
                .iter()
                .map(|c| jsonable(&format!("{expr}.\"{}\"", c.name), &c.ty, depth))
                .collect();
            let names: Vec<String> = kept
                .iter()
                .map(|c| format!("\"{}\" {}", c.name, jsonable_type(&c.ty)))
                .collect();
            format!(
                "IF({expr} IS NULL, NULL, CAST(ROW({}) AS ROW({})))",
                fields.join(", "),
                names.join(", ")
            )
        }
        _ => expr.to_string(),
    }
}

/// `expr` without the fields history does not compare, in DuckDB.
fn duck_kept(expr: &str, ty: &ColumnType, depth: usize) -> String {
    if !has_volatile(ty) {
        return expr.to_string();
    }
    match ty {
        ColumnType::Array(item) => {
            let x = format!("x{depth}");
            format!(
                "list_transform({expr}, lambda {x}: {})",
                duck_kept(&x, item, depth + 1)
            )
        }
        ColumnType::Struct(cols) => {
            let fields: Vec<String> = cols
                .iter()
                .filter(|c| !c.volatile)
                .map(|c| {
                    format!(
                        "\"{}\" := {}",
                        c.name,
                        duck_kept(&format!("{expr}.\"{}\"", c.name), &c.ty, depth)
                    )
                })
                .collect();
            format!(
                "CASE WHEN {expr} IS NULL THEN NULL ELSE struct_pack({}) END",
                fields.join(", ")
            )
        }
        _ => expr.to_string(),
    }
}

/// The Athena (Trino) type of [`jsonable`]'s result.
fn jsonable_type(ty: &ColumnType) -> String {
    match ty {
        ColumnType::Timestamp | ColumnType::String => "varchar".into(),
        ColumnType::Array(item) => format!("array({})", jsonable_type(item)),
        ColumnType::Map => "map(varchar, varchar)".into(),
        ColumnType::Struct(cols) => {
            let f: Vec<String> = cols
                .iter()
                .filter(|c| !c.volatile)
                .map(|c| format!("\"{}\" {}", c.name, jsonable_type(&c.ty)))
                .collect();
            format!("ROW({})", f.join(", "))
        }
        other => athena_type(other),
    }
}

/// A column's value as text, for comparing and showing.
fn as_text(expr: &str, ty: &ColumnType, engine: Engine) -> String {
    match (engine, ty) {
        (Engine::Duckdb, _) => format!("CAST({} AS VARCHAR)", duck_kept(expr, ty, 0)),
        (_, ColumnType::Array(_) | ColumnType::Struct(_) | ColumnType::Map) => {
            format!("json_format(CAST({} AS JSON))", jsonable(expr, ty, 0))
        }
        _ => format!("CAST({expr} AS varchar)"),
    }
}

/// The `{table}_changes` view: between each complete snapshot and the one
/// before it, one row per row added or removed (`columnname` null), and
/// one per column of a changed row, with `oldvalue` and `newvalue`.
pub fn changes_view(t: &Table, opts: &DdlOptions, engine: Engine) -> String {
    let def = history_def(t);
    let q = |name: &str| format!("\"{}\".\"{}{name}\"", opts.database, opts.table_prefix);
    let keys: Vec<&str> = t
        .partitioning
        .columns()
        .iter()
        .copied()
        .chain(t.identity.iter().copied())
        .collect();
    let compared: Vec<_> = compared(t).collect();
    let values: Vec<String> = compared
        .iter()
        .map(|c| as_text(&format!("h.\"{}\"", c.name), &c.ty, engine))
        .collect();
    let names: Vec<String> = compared.iter().map(|c| format!("'{}'", c.name)).collect();
    let hkeys: Vec<String> = keys.iter().map(|k| format!("h.\"{k}\"")).collect();
    let side = |on: &str| {
        format!(
            "  SELECT p.\"snapshot\", p.previous, {}, ARRAY[{}] AS v\n  FROM {} h JOIN pairs p ON h.\"snapshot\" = p.{on}",
            hkeys.join(", "),
            values.join(", "),
            q(def.name)
        )
    };
    let coalesced: Vec<String> = keys
        .iter()
        .map(|k| format!("coalesce(c.\"{k}\", o.\"{k}\") AS \"{k}\""))
        .collect();
    let on: Vec<String> = keys
        .iter()
        .map(|k| format!(" AND c.\"{k}\" = o.\"{k}\""))
        .collect();
    let jkeys: Vec<String> = keys.iter().map(|k| format!("j.\"{k}\"")).collect();
    let mut s = format!(
        "CREATE OR REPLACE VIEW \"{db}\".\"{name}_changes\" AS\nWITH pairs AS (\n  SELECT \"snapshot\", previous FROM (\n    SELECT \"snapshot\", lag(\"snapshot\") OVER (ORDER BY \"snapshot\") AS previous\n    FROM {snaps} WHERE tablename = '{name}'\n  ) s WHERE previous IS NOT NULL\n),\ncur AS (\n{cur}\n),\nold AS (\n{old}\n),\njoined AS (\n  SELECT coalesce(c.\"snapshot\", o.\"snapshot\") AS \"snapshot\", coalesce(c.previous, o.previous) AS previous, {coalesced},\n    CASE WHEN o.\"snapshot\" IS NULL THEN 'added' WHEN c.\"snapshot\" IS NULL THEN 'removed' ELSE 'changed' END AS change,\n    o.v AS oldv, c.v AS newv\n  FROM cur c FULL OUTER JOIN old o ON c.\"snapshot\" = o.\"snapshot\"{on}\n)\nSELECT j.\"snapshot\", j.previous, {jkeys}, j.change, CAST(NULL AS varchar) AS columnname, CAST(NULL AS varchar) AS oldvalue, CAST(NULL AS varchar) AS newvalue\nFROM joined j WHERE j.change <> 'changed'\nUNION ALL\n",
        db = opts.database,
        name = t.name,
        snaps = q(SNAPSHOTS_DEF.name),
        cur = side("\"snapshot\""),
        old = side("previous"),
        coalesced = coalesced.join(", "),
        on = on.concat(),
        jkeys = jkeys.join(", "),
    );
    let plain: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    match engine {
        Engine::Athena => {
            let _ = write!(
                s,
                "SELECT j.\"snapshot\", j.previous, {}, j.change, u.columnname, u.oldvalue, u.newvalue\nFROM joined j CROSS JOIN UNNEST(ARRAY[{}], j.oldv, j.newv) AS u (columnname, oldvalue, newvalue)\nWHERE j.change = 'changed' AND u.oldvalue IS DISTINCT FROM u.newvalue",
                jkeys.join(", "),
                names.join(", ")
            );
        }
        Engine::Duckdb => {
            let _ = write!(
                s,
                "SELECT \"snapshot\", previous, {}, change, columnname, oldvalue, newvalue FROM (\n  SELECT j.\"snapshot\", j.previous, {}, j.change, unnest(ARRAY[{}]) AS columnname, unnest(j.oldv) AS oldvalue, unnest(j.newv) AS newvalue\n  FROM joined j WHERE j.change = 'changed'\n) u WHERE oldvalue IS DISTINCT FROM newvalue",
                plain.join(", "),
                jkeys.join(", "),
                names.join(", ")
            );
        }
    }
    s
}

/// Every `{table}_changes` view.
pub fn changes_views(opts: &DdlOptions, engine: Engine) -> Vec<String> {
    tables::ALL
        .iter()
        .map(|t| changes_view(t, opts, engine))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_inside_structs_become_text_for_json() {
        let t = &tables::INSTANCES;
        let bdm = t.column("blockdevicemappings").unwrap();
        let e = as_text("h.\"blockdevicemappings\"", &bdm.ty, Engine::Athena);
        assert!(
            e.starts_with("json_format(CAST(transform(h.\"blockdevicemappings\", x0 ->"),
            "{e}"
        );
        assert!(
            e.contains("CAST(x0.\"ebs\".\"attachtime\" AS varchar)"),
            "{e}"
        );
        // Without a timestamp, the value is cast as it is.
        let tags = t.column("tags").unwrap();
        assert_eq!(
            as_text("h.\"tags\"", &tags.ty, Engine::Athena),
            "json_format(CAST(h.\"tags\" AS JSON))"
        );
        assert_eq!(
            as_text("h.\"tags\"", &tags.ty, Engine::Duckdb),
            "CAST(h.\"tags\" AS VARCHAR)"
        );
    }

    #[test]
    fn changes_are_keyed_by_partition_and_identity_and_skip_the_run_time() {
        let v = changes_view(&tables::INSTANCES, &DdlOptions::default(), Engine::Athena);
        assert!(v.starts_with("CREATE OR REPLACE VIEW \"cmdb\".\"instances_changes\" AS"));
        assert!(v.contains(
            " AND c.\"groupname\" = o.\"groupname\" AND c.\"instanceid\" = o.\"instanceid\""
        ));
        assert!(!v.contains("metadatarecordlastupdatedat"));
        let w = changes_view(
            &tables::MAINTENANCE_WINDOWS,
            &DdlOptions::default(),
            Engine::Athena,
        );
        assert!(
            !w.contains("ismaintenancetime") && !w.contains("computednextexecutiontime"),
            "{w}"
        );
        assert!(w.contains("\"enabled\" boolean"), "{w}");
        let d = changes_view(
            &tables::MAINTENANCE_WINDOWS,
            &DdlOptions::default(),
            Engine::Duckdb,
        );
        assert!(
            d.contains("list_transform(h.\"maintenancewindows\", lambda x0: CASE WHEN x0 IS NULL"),
            "{d}"
        );
        assert!(v.contains("'instancetype'"));
        let d = changes_view(&tables::DISCOVERY, &DdlOptions::default(), Engine::Duckdb);
        assert!(d.contains("ON c.\"snapshot\" = o.\"snapshot\" AND c.\"accountid\" = o.\"accountid\" AND c.\"region\" = o.\"region\" AND c.\"groupname\" = o.\"groupname\"\n"));
    }

    #[test]
    fn history_tables_project_the_snapshot_hour() {
        let s = create_tables(&DdlOptions::default());
        assert_eq!(s.len(), tables::COUNT + 1);
        assert!(s[0].contains("'projection.snapshot.format'='yyyy-MM-dd-HH'"));
        assert!(s[0].contains("LOCATION 's3://YOUR-BUCKET/YOUR-PREFIX/history/discovery/'"));
        assert!(s[0].contains("PARTITIONED BY (`snapshot` string)"));
        assert!(s
            .last()
            .unwrap()
            .contains("`cmdb`.`cmdb_history_snapshots`"));
    }
}
