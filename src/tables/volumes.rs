//! `volumes`: EBS volumes attached to a group's instances, as describe-volumes returns them.

use super::resolver::*;
use super::Table;
use crate::calls::ec2::DESCRIBE_VOLUMES;
use crate::schema::dsl::*;
use crate::schema::TableDef;

static ATTACHMENT: [Column; 6] = [
    c("attachtime", Timestamp, "When the volume was attached."),
    c(
        "deleteontermination",
        Boolean,
        "Whether the volume is deleted with the instance.",
    ),
    s("device", "Device name, for example /dev/xvda."),
    s("instanceid", "Instance the volume is attached to.").distinct(),
    s("state", "Attachment state."),
    s("volumeid", "Volume id.").distinct(),
];

pub static VOLUMES: Table = Table {
    def: TableDef {
        name: "volumes",
        doc: "EBS volumes attached to the instances of a group.",
        grain: "EBS volume",
        partitioning: Partitioning::Group,
        calls: &[],
        identity: &["volumeid"],
        columns: &[
            c(
                "attachments",
                Array(&Struct(&ATTACHMENT)),
                "Attachments of the volume.",
            ),
            s("availabilityzone", "Availability zone of the volume."),
            c("createtime", Timestamp, "When the volume was created."),
            c("encrypted", Boolean, "Whether the volume is encrypted."),
            s("kmskeyid", "KMS key used to encrypt the volume."),
            c("iops", Bigint, "Provisioned or baseline IOPS."),
            c(
                "multiattachenabled",
                Boolean,
                "Whether Multi-Attach is enabled.",
            ),
            c("size", Bigint, "Size in GiB."),
            s("snapshotid", "Snapshot the volume was created from."),
            s("state", "Volume state, for example in-use."),
            c("throughput", Bigint, "Throughput in MiB/s (gp3)."),
            s("volumeid", "Volume id.").distinct(),
            s("volumetype", "Volume type, for example gp3."),
            c("tags", Map, "Volume tags; query as tags[key]."),
            Column::last_updated(),
        ],
    },
    resolver: Resolver::Pages {
        call: &DESCRIBE_VOLUMES,
        path: &["Volumes"],
        route: Route::AttachedInstance,
    },
};
