//! `security_groups`: the security groups a group's instances use, with
//! their rules, as describe-security-groups returns them.

use super::resolver::*;
use super::Table;
use crate::calls::ec2::DESCRIBE_SECURITY_GROUPS;
use crate::schema::dsl::*;
use crate::schema::{Column, TableDef};

static IP_RANGE: [Column; 2] = [
    s("cidrip", "IPv4 range, for example 0.0.0.0/0.").distinct(),
    s("description", "Description of the range."),
];

static IPV6_RANGE: [Column; 2] = [
    s("cidripv6", "IPv6 range, for example ::/0.").distinct(),
    s("description", "Description of the range."),
];

static PREFIX_LIST: [Column; 2] = [
    s("description", "Description of the prefix list entry."),
    s("prefixlistid", "Prefix list id."),
];

static GROUP_PAIR: [Column; 7] = [
    s("description", "Description of the pair."),
    s("groupid", "Security group the rule refers to."),
    s("groupname", "Name of that security group."),
    s(
        "peeringstatus",
        "Status of the VPC peering, when across one.",
    ),
    s("userid", "Account of that security group."),
    s("vpcid", "VPC of that security group."),
    s(
        "vpcpeeringconnectionid",
        "VPC peering connection, when across one.",
    ),
];

static PERMISSION: [Column; 7] = [
    c(
        "fromport",
        Bigint,
        "First port of the range (ICMP type for icmp; -1 for all).",
    ),
    c(
        "toport",
        Bigint,
        "Last port of the range (ICMP code for icmp; -1 for all).",
    ),
    s(
        "ipprotocol",
        "Protocol name or number, -1 for every protocol.",
    ),
    c(
        "ipranges",
        Array(&Struct(&IP_RANGE)),
        "IPv4 ranges allowed.",
    ),
    c(
        "ipv6ranges",
        Array(&Struct(&IPV6_RANGE)),
        "IPv6 ranges allowed.",
    ),
    c(
        "prefixlistids",
        Array(&Struct(&PREFIX_LIST)),
        "Prefix lists allowed.",
    ),
    c(
        "useridgrouppairs",
        Array(&Struct(&GROUP_PAIR)),
        "Security groups allowed.",
    ),
];

pub static SECURITY_GROUPS: Table = Table {
    def: TableDef {
        name: "security_groups",
        doc: "Security groups used by the instances of a group, with their rules.",
        grain: "security group used by an instance of the group",
        partitioning: Partitioning::Group,
        calls: &[],
        identity: &["groupid"],
        columns: &[
            s("groupid", "Security group id.").distinct(),
            s("securitygroupname", "Security group name.").from_member("GroupName"),
            s("description", "Description of the security group."),
            s("ownerid", "Account that owns the security group."),
            s("vpcid", "VPC of the security group."),
            s("securitygrouparn", "ARN of the security group."),
            c(
                "ippermissions",
                Array(&Struct(&PERMISSION)),
                "Inbound rules.",
            ),
            c(
                "ippermissionsegress",
                Array(&Struct(&PERMISSION)),
                "Outbound rules.",
            ),
            c("tags", Map, "Security group tags; query as tags[key]."),
            Column::last_updated(),
        ],
    },
    resolver: Resolver::Pages {
        call: &DESCRIBE_SECURITY_GROUPS,
        path: &["SecurityGroups"],
        route: Route::UsedByInstances {
            column: "securitygroups",
            field: "groupid",
        },
    },
};
