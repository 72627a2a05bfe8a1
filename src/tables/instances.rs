//! `instances`: EC2 instances of a group, nested as describe-instances returns them.
//!
//! Field names are the AWS names lowercased at every level, so
//! `BlockDeviceMappings[].Ebs.VolumeId` is `blockdevicemappings[].ebs.volumeid`.

use super::resolver::*;
use super::Table;
use crate::calls::ec2::DESCRIBE_INSTANCES;
use crate::schema::dsl::*;
use crate::schema::{Column, TableDef};

static GROUP_IDENTIFIER: [Column; 2] = [
    s("groupid", "Security group id."),
    s("groupname", "Security group name."),
];

static EBS_INSTANCE_BLOCK_DEVICE: [Column; 4] = [
    c("attachtime", Timestamp, "When the volume was attached."),
    c(
        "deleteontermination",
        Boolean,
        "Whether the volume is deleted with the instance.",
    ),
    s("status", "Attachment status."),
    s("volumeid", "EBS volume id.").distinct(),
];

static BLOCK_DEVICE_MAPPING: [Column; 2] = [
    s("devicename", "Device name, for example /dev/xvda."),
    c("ebs", Struct(&EBS_INSTANCE_BLOCK_DEVICE), "EBS attachment."),
];

static ASSOCIATION: [Column; 4] = [
    s("carrierip", "Carrier IP address (Wavelength)."),
    s("ipownerid", "Owner of the public IP."),
    s("publicdnsname", "Public DNS name.").distinct(),
    s("publicip", "Public IP address.").distinct(),
];

static NI_ATTACHMENT: [Column; 6] = [
    c("attachtime", Timestamp, "When the interface was attached."),
    s("attachmentid", "Attachment id.").distinct(),
    c(
        "deleteontermination",
        Boolean,
        "Whether the interface is deleted with the instance.",
    ),
    c("deviceindex", Bigint, "Device index."),
    c("networkcardindex", Bigint, "Network card index."),
    s("status", "Attachment status."),
];

static IPV6_ADDRESS: [Column; 1] = [s("ipv6address", "IPv6 address.").distinct()];

static PRIVATE_IP: [Column; 4] = [
    c(
        "association",
        Struct(&ASSOCIATION),
        "Public IP association.",
    ),
    c(
        "primary",
        Boolean,
        "Whether this is the primary private IP.",
    ),
    s("privatednsname", "Private DNS name.").distinct(),
    s("privateipaddress", "Private IP address.").distinct(),
];

static NETWORK_INTERFACE: [Column; 17] = [
    c(
        "association",
        Struct(&ASSOCIATION),
        "Public IP association.",
    ),
    c(
        "attachment",
        Struct(&NI_ATTACHMENT),
        "Attachment to the instance.",
    ),
    s("description", "Interface description."),
    c(
        "groups",
        Array(&Struct(&GROUP_IDENTIFIER)),
        "Security groups of the interface.",
    ),
    s(
        "interfacetype",
        "Interface type, for example interface or efa.",
    ),
    c(
        "ipv6addresses",
        Array(&Struct(&IPV6_ADDRESS)),
        "IPv6 addresses.",
    ),
    s("macaddress", "MAC address.").distinct(),
    s("networkinterfaceid", "Network interface id.").distinct(),
    s("ownerid", "Account that owns the interface."),
    s("privatednsname", "Private DNS name.").distinct(),
    s("privateipaddress", "Primary private IP address.").distinct(),
    c(
        "privateipaddresses",
        Array(&Struct(&PRIVATE_IP)),
        "Private IP addresses.",
    ),
    c(
        "sourcedestcheck",
        Boolean,
        "Whether source/destination checking is enabled.",
    ),
    s("status", "Interface status."),
    s("subnetid", "Subnet id."),
    s("vpcid", "VPC id."),
    c(
        "ipv4prefixes",
        Array(&Struct(&IPV4_PREFIX)),
        "Delegated IPv4 prefixes.",
    ),
];

static IPV4_PREFIX: [Column; 1] = [s("ipv4prefix", "IPv4 prefix.")];

static PRODUCT_CODE: [Column; 2] = [
    s("productcodeid", "Product code."),
    s(
        "productcodetype",
        "Product code type, for example marketplace.",
    ),
];

static STATE: [Column; 2] = [
    c("code", Int, "State code: 0 pending, 16 running, 32 shutting-down, 48 terminated, 64 stopping, 80 stopped."),
    s("name", "State name, for example running."),
];

static STATE_REASON: [Column; 2] = [s("code", "Reason code."), s("message", "Reason message.")];

static PLACEMENT: [Column; 5] = [
    s("availabilityzone", "Availability zone."),
    s("groupname", "Placement group name."),
    s("tenancy", "Tenancy: default, dedicated or host."),
    s("hostid", "Dedicated host id."),
    c(
        "partitionnumber",
        Bigint,
        "Partition number in a partition placement group.",
    ),
];

static CPU_OPTIONS: [Column; 2] = [
    c("corecount", Bigint, "Number of CPU cores."),
    c("threadspercore", Bigint, "Threads per core."),
];

static METADATA_OPTIONS: [Column; 6] = [
    s("state", "State of the metadata options update."),
    s("httptokens", "IMDSv2 setting: optional or required."),
    c(
        "httpputresponsehoplimit",
        Bigint,
        "Hop limit of PUT responses.",
    ),
    s("httpendpoint", "Whether the metadata endpoint is enabled."),
    s(
        "httpprotocolipv6",
        "Whether the IPv6 metadata endpoint is enabled.",
    ),
    s(
        "instancemetadatatags",
        "Whether tags are readable from instance metadata.",
    ),
];

static IAM_INSTANCE_PROFILE: [Column; 2] = [
    s("arn", "Instance profile ARN."),
    s("id", "Instance profile id."),
];

static CAPACITY_RESERVATION: [Column; 1] = [s("capacityreservationpreference", "open or none.")];

static MONITORING: [Column; 1] = [s("state", "Detailed monitoring state.")];
static ENCLAVE: [Column; 1] = [c("enabled", Boolean, "Whether Nitro Enclaves are enabled.")];
static HIBERNATION: [Column; 1] = [c(
    "configured",
    Boolean,
    "Whether hibernation is configured.",
)];

pub static INSTANCES: Table = Table {
    def: TableDef {
        name: "instances",
        doc: "EC2 instances of each group, nested as describe-instances returns them.",
        grain: "EC2 instance",
        partitioning: Partitioning::Group,
        calls: &[],
        identity: &["instanceid"],
        columns: &[
            c(
                "amilaunchindex",
                Bigint,
                "Launch index within the reservation.",
            ),
            s("architecture", "CPU architecture, for example x86_64."),
            c(
                "blockdevicemappings",
                Array(&Struct(&BLOCK_DEVICE_MAPPING)),
                "Attached block devices.",
            ),
            s("bootmode", "Boot mode, for example uefi."),
            c(
                "capacityreservationspecification",
                Struct(&CAPACITY_RESERVATION),
                "Capacity reservation preference.",
            ),
            s("clienttoken", "Idempotency token of the launch.").distinct(),
            c("cpuoptions", Struct(&CPU_OPTIONS), "CPU options."),
            c(
                "ebsoptimized",
                Boolean,
                "Whether the instance is EBS-optimized.",
            ),
            c("enasupport", Boolean, "Whether ENA is enabled."),
            c(
                "enclaveoptions",
                Struct(&ENCLAVE),
                "Nitro Enclaves options.",
            ),
            c(
                "hibernationoptions",
                Struct(&HIBERNATION),
                "Hibernation options.",
            ),
            s("hypervisor", "Hypervisor: xen or nitro."),
            c(
                "iaminstanceprofile",
                Struct(&IAM_INSTANCE_PROFILE),
                "IAM instance profile.",
            ),
            s("imageid", "AMI id."),
            s("instanceid", "Instance id.").distinct(),
            s(
                "instancelifecycle",
                "spot, scheduled or empty for on-demand.",
            ),
            s("instancetype", "Instance type, for example t3.micro."),
            s("keyname", "Key pair name."),
            c(
                "launchtime",
                Timestamp,
                "When the instance was last started.",
            ),
            c(
                "metadataoptions",
                Struct(&METADATA_OPTIONS),
                "Instance metadata service options.",
            ),
            c("monitoring", Struct(&MONITORING), "Detailed monitoring."),
            c(
                "networkinterfaces",
                Array(&Struct(&NETWORK_INTERFACE)),
                "Network interfaces.",
            ),
            c(
                "placement",
                Struct(&PLACEMENT),
                "Placement of the instance.",
            ),
            s("platform", "windows for Windows instances, else empty."),
            s(
                "platformdetails",
                "Platform details, for example Linux/UNIX.",
            ),
            s("privatednsname", "Private DNS name.").distinct(),
            s("privateipaddress", "Primary private IP address.").distinct(),
            c(
                "productcodes",
                Array(&Struct(&PRODUCT_CODE)),
                "Product codes of the AMI.",
            ),
            s("publicdnsname", "Public DNS name.").distinct(),
            s("publicipaddress", "Public IP address.").distinct(),
            s("rootdevicename", "Root device name."),
            s("rootdevicetype", "Root device type: ebs or instance-store."),
            c(
                "securitygroups",
                Array(&Struct(&GROUP_IDENTIFIER)),
                "Security groups.",
            ),
            c(
                "sourcedestcheck",
                Boolean,
                "Whether source/destination checking is enabled.",
            ),
            s(
                "spotinstancerequestid",
                "Spot request id, for Spot instances.",
            )
            .distinct(),
            c("state", Struct(&STATE), "Current state."),
            c(
                "statereason",
                Struct(&STATE_REASON),
                "Reason of the last state change.",
            ),
            s(
                "statetransitionreason",
                "Reason of the last state transition, as text.",
            ),
            s("subnetid", "Subnet id."),
            c("tags", Map, "Instance tags; query as tags[key]."),
            s("usageoperation", "Billing usage operation."),
            s(
                "virtualizationtype",
                "Virtualization type: hvm or paravirtual.",
            ),
            s("vpcid", "VPC id."),
            Column::from_tag("_hostname", "Name", "The Name tag of the instance.").distinct(),
            Column::from_tag(
                "_subfleetname",
                crate::documents::SUBFLEET_TAG,
                "The subfleet of the instance, empty for the main fleet.",
            ),
            Column::last_updated(),
        ],
    },
    resolver: Resolver::Pages {
        call: &DESCRIBE_INSTANCES,
        path: &["Reservations", "Instances"],
        route: Route::GroupTag,
    },
};
