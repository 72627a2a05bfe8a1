//! `scheduler`: the items of a group's `CloneSquad-{group}-Scheduler` DynamoDB table.

use super::resolver::*;
use super::Table;
use crate::schema::dsl::*;
use crate::schema::TableDef;

pub static SCHEDULER: Table = Table {
    def: TableDef {
        name: "scheduler",
        doc: "Entries of the group scheduler DynamoDB table.",
        grain: "scheduler entry",
        partitioning: Partitioning::Group,
        calls: &[],
        identity: &["key"],
        columns: &[
            s("key", "Scheduler entry name."),
            s("value", "Schedule and action, as stored."),
            c(
                "expirationtime",
                Timestamp,
                "When the entry expires (DynamoDB TTL), if set.",
            ),
            Column::last_updated(),
        ],
    },
    resolver: Resolver::GroupItems {
        template: |n| &n.scheduler_table,
        extra: &[("ExpirationTime", "expirationtime")],
    },
};
