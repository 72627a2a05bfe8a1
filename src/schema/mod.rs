//! The table description language.
//!
//! A table is declared once, as a [`TableDef`] value: its name, a one-line doc,
//! and its [`Column`]s with their [`ColumnType`], doc and [`ColumnSource`]. Everything
//! users see is derived from that value: the Arrow schema (here), the Athena
//! DDL ([`ddl`]), the column reference in `docs/columns.md` ([`docs`]) and the way JSON
//! records fill the columns ([`crate::record`]).
//!
//! This module owns the declaration types and the Arrow mapping. It must not
//! know about any particular table (those live in [`crate::tables`]).

pub mod ddl;
pub mod docs;

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// How a table's rows are divided into Hive partitions (folders), each
/// written whole by one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partitioning {
    /// `accountid/region/groupname`: the rows of one deployment.
    Group,
    /// `accountid`: rows about a whole account, across its regions.
    Account,
}

impl Partitioning {
    /// The partition columns, in path order.
    pub const fn columns(self) -> &'static [&'static str] {
        match self {
            Partitioning::Group => &["accountid", "region", "groupname"],
            Partitioning::Account => &["accountid"],
        }
    }
}

/// Every name a partition column may have, whatever the partitioning.
pub const PARTITION_COLUMNS: [&str; 3] = ["accountid", "region", "groupname"];

/// The types a column may have: only those that Athena, Trino, Spark and
/// DuckDB all read the same way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColumnType {
    String,
    Bigint,
    Int,
    Double,
    Boolean,
    /// Always Arrow `Timestamp(Millisecond, "UTC")`: Parquet INT64 TIMESTAMP_MILLIS, UTC-adjusted.
    Timestamp,
    Array(&'static ColumnType),
    Struct(&'static [Column]),
    /// `map<string,string>`. Filled from a JSON object or an AWS tag list (`[{Key, Value}]`).
    Map,
}

/// Where a column's value comes from, for one record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColumnSource {
    /// The record's field whose name, lowercased, is the column name.
    Field,
    /// The record's field of this name (top level only): for a member whose
    /// own name is taken, as `GroupName` of a security group is by the
    /// partition column `groupname`.
    Member(&'static str),
    /// The value of this tag of the record's `Tags` (derived; top level only).
    Tag(&'static str),
    /// The time of the run (`metadatarecordlastupdatedat`).
    RunTime,
}

/// One column: name, type, doc and source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub doc: &'static str,
    pub source: ColumnSource,
    /// Values are nearly all distinct (ids, addresses): stored without a
    /// Parquet dictionary, which would only add an index per value.
    pub distinct: bool,
    /// Its value follows the clock (the next occurrence of a schedule,
    /// whether a window is open now): history compares rows without it,
    /// or a change would be reported every run.
    pub volatile: bool,
}

impl Column {
    /// A column filled from the record field of the same (case-insensitive) name.
    pub const fn new(name: &'static str, ty: ColumnType, doc: &'static str) -> Self {
        Column {
            name,
            ty,
            doc,
            source: ColumnSource::Field,
            distinct: false,
            volatile: false,
        }
    }

    /// A column whose values are nearly all distinct.
    pub const fn distinct(self) -> Self {
        Column {
            distinct: true,
            ..self
        }
    }

    /// A column whose value follows the clock (see [`Column::volatile`]).
    pub const fn volatile(self) -> Self {
        Column {
            volatile: true,
            ..self
        }
    }

    /// A column filled from the record's field `member` (see [`ColumnSource::Member`]).
    pub const fn from_member(self, member: &'static str) -> Self {
        Column {
            source: ColumnSource::Member(member),
            ..self
        }
    }

    /// A column derived from one of the record's tags.
    pub const fn from_tag(name: &'static str, tag: &'static str, doc: &'static str) -> Self {
        Column {
            name,
            ty: ColumnType::String,
            doc,
            source: ColumnSource::Tag(tag),
            distinct: false,
            volatile: false,
        }
    }

    /// The `metadatarecordlastupdatedat` column that every table ends with.
    pub const fn last_updated() -> Self {
        Column {
            name: "metadatarecordlastupdatedat",
            ty: ColumnType::Timestamp,
            doc: "When fleetcmdb collected this record (UTC).",
            source: ColumnSource::RunTime,
            distinct: false,
            volatile: false,
        }
    }

    pub fn arrow_field(&self) -> Field {
        Field::new(self.name, self.ty.arrow_type(), true)
    }
}

/// A table as users query it.
#[derive(Debug, PartialEq)]
pub struct TableDef {
    /// The table's name, without the Athena prefix. Also its folder under `metadata/`.
    pub name: &'static str,
    pub doc: &'static str,
    /// What one row is.
    pub grain: &'static str,
    /// How its rows are divided into partitions.
    pub partitioning: Partitioning,
    /// The AWS API calls (IAM actions) that filling this table makes
    /// besides the call its rows are read from (which declares itself):
    /// `iam-policy` is derived from [`Calls::calls`], never listed apart.
    pub calls: &'static [Call],
    /// The columns that tell one row from another within its partition
    /// (none: the partition holds one row). History's changes are keyed
    /// by the partition and these.
    pub identity: &'static [&'static str],
    pub columns: &'static [Column],
}

/// Every call that filling a table makes.
pub trait Calls {
    fn calls(&self) -> Vec<Call>;
}

impl Calls for TableDef {
    fn calls(&self) -> Vec<Call> {
        self.calls.to_vec()
    }
}

/// An AWS API call a table needs, and who makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The IAM action, for example `ec2:DescribeInstances`.
    pub action: &'static str,
    /// Made in every collected account, with the member role; otherwise by
    /// the caller only (Organizations, from the management account).
    pub in_member_account: bool,
    /// What the action may touch: `iam-policy` grants no more.
    pub resource: Resource,
}

/// The resources an action is granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// Every resource: the action takes none, or lists them all.
    Any,
    /// The groups' DynamoDB tables, as the naming templates name them.
    GroupTables,
    /// The accounts of the organization.
    OrgAccounts,
    /// The organizational units of the organization.
    OrgUnits,
    /// Accounts and organizational units (a child of `ListParents`, a
    /// resource of `ListTagsForResource`).
    OrgAccountsAndUnits,
}

impl Call {
    /// A call made in every collected account.
    pub const fn member(action: &'static str) -> Self {
        Call {
            action,
            in_member_account: true,
            resource: Resource::Any,
        }
    }

    /// A call made by the caller only.
    pub const fn caller(action: &'static str) -> Self {
        Call {
            action,
            in_member_account: false,
            resource: Resource::Any,
        }
    }

    /// The same call, granted on `resource` only.
    pub const fn on(self, resource: Resource) -> Self {
        Call { resource, ..self }
    }
}

impl TableDef {
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(Column::arrow_field)
                .collect::<Vec<_>>(),
        ))
    }

    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Name of the item field of a list, as the Parquet spec writes it.
pub const LIST_ITEM: &str = "element";

impl ColumnType {
    pub fn arrow_type(&self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Bigint => DataType::Int64,
            ColumnType::Int => DataType::Int32,
            ColumnType::Double => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ColumnType::Array(item) => {
                DataType::List(Arc::new(Field::new(LIST_ITEM, item.arrow_type(), true)))
            }
            ColumnType::Struct(cols) => DataType::Struct(struct_fields(cols)),
            ColumnType::Map => DataType::Map(map_entries_field(), false),
        }
    }
}

/// One Parquet leaf column of a table (`a.list.element.b`), with what the
/// writer needs to know to encode it.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub path: String,
    /// Declared nearly all distinct (ids, addresses): no dictionary.
    pub distinct: bool,
    /// Inside a list or map: engines do not prune row groups with its
    /// statistics, so the writer skips them.
    pub repeated: bool,
    /// A timestamp: nearly unique per row (launch and attach times), so a
    /// dictionary only costs bytes; zstd does better on them plain.
    pub timestamp: bool,
}

/// Every Parquet leaf of `cols`, in schema order.
pub fn leaves(cols: &[Column]) -> Vec<Leaf> {
    fn walk(prefix: String, ty: &ColumnType, distinct: bool, repeated: bool, out: &mut Vec<Leaf>) {
        let leaf = |path: String, timestamp: bool| Leaf {
            path,
            distinct,
            repeated,
            timestamp,
        };
        match ty {
            ColumnType::Struct(cols) => {
                for c in cols.iter() {
                    walk(
                        format!("{prefix}.{}", c.name),
                        &c.ty,
                        c.distinct,
                        repeated,
                        out,
                    )
                }
            }
            ColumnType::Array(item) => walk(
                format!("{prefix}.list.{LIST_ITEM}"),
                item,
                distinct,
                true,
                out,
            ),
            ColumnType::Map => {
                for part in ["key", "value"] {
                    out.push(Leaf {
                        repeated: true,
                        ..leaf(format!("{prefix}.key_value.{part}"), false)
                    });
                }
            }
            ColumnType::Timestamp => out.push(leaf(prefix, true)),
            _ => out.push(leaf(prefix, false)),
        }
    }
    let mut out = Vec::new();
    for c in cols {
        walk(c.name.to_string(), &c.ty, c.distinct, false, &mut out);
    }
    out
}

pub fn struct_fields(cols: &[Column]) -> Fields {
    cols.iter().map(Column::arrow_field).collect()
}

/// The `key_value` entries field of a `map<string,string>`.
pub fn map_entries_field() -> Arc<Field> {
    Arc::new(Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    ))
}

/// Shorthand constructors used by the table declarations.
pub mod dsl {
    pub use super::ColumnType::{self, *};
    pub use super::{Call, Column, Partitioning, Resource};

    pub const fn c(name: &'static str, ty: ColumnType, doc: &'static str) -> Column {
        Column::new(name, ty, doc)
    }
    pub const fn s(name: &'static str, doc: &'static str) -> Column {
        Column::new(name, String, doc)
    }
    pub const STRING_ARRAY: ColumnType = Array(&String);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_millis() {
        assert_eq!(
            ColumnType::Timestamp.arrow_type(),
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
    }

    #[test]
    fn lists_use_parquet_element_name() {
        match ColumnType::Array(&ColumnType::String).arrow_type() {
            DataType::List(f) => assert_eq!(f.name(), "element"),
            other => panic!("{other:?}"),
        }
    }
}
