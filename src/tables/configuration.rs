//! `configuration`: the items of a group's `CloneSquad-{group}-Configuration` DynamoDB table.

use super::resolver::*;
use super::Table;
use crate::schema::dsl::*;
use crate::schema::TableDef;

pub static CONFIGURATION: Table = Table {
    def: TableDef {
        name: "configuration",
        doc: "Key/value items of the group configuration DynamoDB table.",
        grain: "configuration key",
        partitioning: Partitioning::Group,
        calls: &[],
        identity: &["key"],
        columns: &[
            s(
                "key",
                "Configuration key, for example ec2.schedule.min_instance_count.",
            ),
            s("value", "Configuration value, as stored."),
            Column::last_updated(),
        ],
    },
    resolver: Resolver::GroupItems {
        template: |n| &n.configuration_table,
        // Not a column: read so that expired items do not set a group's
        // backup schedule.
        extra: &[("ExpirationTime", "expirationtime")],
    },
};
