//! The views of `queries/`, embedded in the binary so that `ddl --apply`
//! creates them from any working directory.
//!
//! Owns the list of views (a test checks it against the folder) and their
//! mechanical retargeting: the files are written for database `cmdb` and
//! table prefix `cmdb_`, with every identifier double-quoted, so another
//! database or prefix is a plain replacement of `"cmdb".` and `."cmdb_`.

use crate::schema::ddl::DdlOptions;

/// `(file name, SQL)` of every view, in creation order.
pub const VIEWS: &[(&str, &str)] = &[
    (
        "displayallhostnames.sql",
        include_str!("../queries/displayallhostnames.sql"),
    ),
    (
        "instance_counts.sql",
        include_str!("../queries/instance_counts.sql"),
    ),
    (
        "configuration_drift.sql",
        include_str!("../queries/configuration_drift.sql"),
    ),
    (
        "groups_without_maintenance_window.sql",
        include_str!("../queries/groups_without_maintenance_window.sql"),
    ),
    (
        "fleets_in_maintenance_now.sql",
        include_str!("../queries/fleets_in_maintenance_now.sql"),
    ),
    (
        "running_instances_per_subfleet.sql",
        include_str!("../queries/running_instances_per_subfleet.sql"),
    ),
    (
        "volumes_at_risk.sql",
        include_str!("../queries/volumes_at_risk.sql"),
    ),
    (
        "scheduler_catalogue.sql",
        include_str!("../queries/scheduler_catalogue.sql"),
    ),
    (
        "accounts_without_deployments.sql",
        include_str!("../queries/accounts_without_deployments.sql"),
    ),
    (
        "fleets_open_to_the_internet.sql",
        include_str!("../queries/fleets_open_to_the_internet.sql"),
    ),
];

/// `(file name, SQL)` of the views over history (`queries/history/`),
/// created after the history tables and their `_changes` views.
pub const HISTORY_VIEWS: &[(&str, &str)] = &[
    (
        "instance_timeline.sql",
        include_str!("../queries/history/instance_timeline.sql"),
    ),
    (
        "group_timeline.sql",
        include_str!("../queries/history/group_timeline.sql"),
    ),
    (
        "configuration_history.sql",
        include_str!("../queries/history/configuration_history.sql"),
    ),
];

/// The statement of a view (header comments dropped), for `opts`'s database
/// and table prefix.
pub fn statement(sql: &str, opts: &DdlOptions) -> String {
    let body: Vec<&str> = sql
        .lines()
        .skip_while(|l| l.starts_with("--") || l.trim().is_empty())
        .collect();
    body.join("\n")
        .trim()
        .trim_end_matches(';')
        .replace("\"cmdb\".", &format!("\"{}\".", opts.database))
        .replace(".\"cmdb_", &format!(".\"{}", opts.table_prefix))
}

/// `sql` with each call of function `from` (a whole name: `transform(`
/// but not `list_transform(`) renamed `to`.
fn replace_function(sql: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(from) {
        let whole = !rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if whole { to } else { from });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// A view's statement in DuckDB's dialect. The views are written for
/// Athena (Trino); DuckDB names four things otherwise: `cardinality(` of an
/// array is `len(`, `transform(` is `list_transform(`, `array_join(` is
/// `array_to_string(`, and a lambda `x -> e` is `lambda x: e`.
pub fn for_duckdb(sql: &str) -> String {
    let mut sql = sql.to_string();
    for (from, to) in [
        ("cardinality(", "len("),
        ("transform(", "list_transform("),
        ("array_join(", "array_to_string("),
    ] {
        sql = replace_function(&sql, from, to);
    }
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql.as_str();
    while let Some(at) = rest.find(" ->") {
        let before = &rest[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let param = &before[start..];
        if param.is_empty() {
            out.push_str(&rest[..at + 3]);
        } else {
            out.push_str(&before[..start]);
            out.push_str("lambda ");
            out.push_str(param);
            out.push(':');
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_queries_is_a_registered_view() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let mut listed: Vec<String> = VIEWS.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed);
        let mut hist: Vec<String> = std::fs::read_dir(dir.join("history"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        hist.sort();
        let mut listed: Vec<String> = HISTORY_VIEWS.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(hist, listed);
        for (name, sql) in VIEWS.iter().chain(HISTORY_VIEWS) {
            assert!(sql.starts_with("-- What it answers:"), "{name}");
            assert!(!sql.contains('`'), "{name}: double quotes, never backticks");
            let view = name.trim_end_matches(".sql");
            assert!(
                sql.contains(&format!("CREATE OR REPLACE VIEW \"cmdb\".\"{view}\" AS")),
                "{name}: the view is named after its file"
            );
        }
    }

    #[test]
    fn duckdb_gets_its_own_names_for_lambdas_and_list_functions() {
        let sql = "SELECT cardinality(filter(a, p -> p.x = 1)), array_join(transform(b, q ->\n q.y), ', ')";
        assert_eq!(
            for_duckdb(sql),
            "SELECT len(filter(a, lambda p: p.x = 1)), array_to_string(list_transform(b, lambda q:\n q.y), ', ')"
        );
        assert_eq!(for_duckdb("a -> b"), "lambda a: b");
        assert_eq!(
            for_duckdb("list_transform(x, lambda y: y), my_cardinality(z)"),
            "list_transform(x, lambda y: y), my_cardinality(z)",
            "only whole names are renamed"
        );
        assert_eq!(
            for_duckdb("x = ' ->'"),
            "x = ' ->'",
            "an arrow after no name stays"
        );
    }

    #[test]
    fn views_follow_the_database_and_prefix() {
        let opts = DdlOptions {
            database: "gov".into(),
            table_prefix: "clonesquad_".into(),
            ..Default::default()
        };
        let s = statement(VIEWS[0].1, &opts);
        assert!(s.starts_with("CREATE OR REPLACE VIEW \"gov\".\"displayallhostnames\""));
        assert!(s.contains("FROM \"gov\".\"clonesquad_instances\" i"));
        assert!(!s.contains("cmdb"), "{s}");
        assert!(!s.contains("--"));
    }
}
