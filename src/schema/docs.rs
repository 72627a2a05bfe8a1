//! The column reference (`docs/columns.md`), derived from the table declarations.
//!
//! Owns the Markdown between the `BEGIN`/`END` markers in docs/columns.md. Nested
//! columns are listed with their dotted path (`state.name`,
//! `blockdevicemappings[].ebs.volumeid`), as a query would reach them.

use std::fmt::Write as _;

use super::{ddl::athena_type, Calls, Column, ColumnSource, ColumnType, TableDef};

pub const BEGIN_MARKER: &str =
    "<!-- BEGIN COLUMN REFERENCE (generated from src/tables; do not edit) -->";
pub const END_MARKER: &str = "<!-- END COLUMN REFERENCE -->";

/// The generated Markdown for all `tables`, markers included.
pub fn column_reference<T: std::ops::Deref<Target = TableDef> + Calls>(
    tables: &[&T],
    prefix: &str,
) -> String {
    let mut s = String::new();
    s.push_str(BEGIN_MARKER);
    s.push('\n');
    for t in tables {
        let _ = write!(
            s,
            "\n### `{prefix}{}`\n\n{}\n\nOne row per {}. Partitioned by {}. History tells rows apart by {}. Filled by {}.\n\n",
            t.name,
            t.doc,
            t.grain,
            t.partitioning
                .columns()
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
            match t.identity {
                [] => "their partition".to_string(),
                ids => format!(
                    "their partition and {}",
                    ids.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                ),
            },
            t.calls()
                .iter()
                .map(|c| format!("`{}`", c.action))
                .collect::<Vec<_>>()
                .join(", ")
        );
        s.push_str("| column | type | description |\n|---|---|---|\n");
        for c in t.columns {
            rows(&mut s, "", c);
        }
    }
    s.push('\n');
    s.push_str(END_MARKER);
    s
}

fn rows(s: &mut String, parent: &str, c: &Column) {
    let path = format!("{parent}{}", c.name);
    let ty = match c.ty {
        ColumnType::Struct(_) => "struct".to_string(),
        ColumnType::Array(ColumnType::Struct(_)) => "array<struct>".to_string(),
        ref other => athena_type(other),
    };
    let origin = match c.source {
        ColumnSource::Field => String::new(),
        ColumnSource::Member(m) => format!(" (from `{m}`)"),
        ColumnSource::Tag(tag) => format!(" (derived from tag `{tag}`)"),
        ColumnSource::RunTime => " (set by fleetcmdb)".to_string(),
    };
    let clock = if c.volatile {
        " Follows the clock: history does not compare it."
    } else {
        ""
    };
    let _ = writeln!(s, "| `{path}` | `{ty}` | {}{origin}{clock} |", c.doc);
    match c.ty {
        ColumnType::Struct(children) => children
            .iter()
            .for_each(|ch| rows(s, &format!("{path}."), ch)),
        ColumnType::Array(ColumnType::Struct(children)) => children
            .iter()
            .for_each(|ch| rows(s, &format!("{path}[]."), ch)),
        _ => {}
    }
}

/// Replaces the generated block in `readme` with `block`.
pub fn splice(readme: &str, block: &str) -> Option<String> {
    let start = readme.find(BEGIN_MARKER)?;
    let end = readme.find(END_MARKER)? + END_MARKER.len();
    Some(format!("{}{}{}", &readme[..start], block, &readme[end..]))
}
