//! SDK response types → JSON shaped exactly as the AWS CLI prints them.
//!
//! Owns the mapping from aws-sdk-rust types to CLI-shaped JSON (PascalCase
//! keys, ISO timestamps, absent fields omitted, empty lists kept), so that
//! live collection feeds `collect` the same documents a snapshot does. Only
//! the fields the tables declare are converted. A call declared in
//! `crate::calls` converts its own types with the [`structs!`] and
//! [`enums!`] macros of this module.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::Value;

pub trait ToJson {
    fn to_json(&self) -> Value;
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}
impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}
impl ToJson for i32 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}
impl ToJson for i64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}
/// An SDK time in milliseconds, rounded to the nearest one: JSON-protocol
/// services send epoch seconds with a fraction (`1628601865.768`), which the
/// SDK holds as `…865.767999887`; rounding gives back `.768`, as the
/// snapshot path reads the same number.
pub fn millis(t: &DateTime) -> Option<i64> {
    t.secs()
        .checked_mul(1000)?
        .checked_add(crate::time::round_nanos_to_ms(t.subsec_nanos()))
}

impl ToJson for DateTime {
    fn to_json(&self) -> Value {
        let Some(ms) = millis(self) else {
            return Value::String(self.fmt(Format::DateTime).unwrap_or_default());
        };
        match chrono::DateTime::from_timestamp_millis(ms) {
            Some(t) if ms.rem_euclid(1000) == 0 => {
                Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            }
            Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            None => Value::String(self.fmt(Format::DateTime).unwrap_or_default()),
        }
    }
}
impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(ToJson::to_json).collect())
    }
}

/// A struct field: optional in most shapes, a plain value in a few (SSM's numbers).
pub trait FieldJson {
    fn field_json(&self) -> Option<Value>;
}
impl<T: ToJson> FieldJson for Option<T> {
    fn field_json(&self) -> Option<Value> {
        self.as_ref().map(ToJson::to_json)
    }
}
macro_rules! plain_fields {
    ($($t:ty),*) => { $( impl FieldJson for $t { fn field_json(&self) -> Option<Value> { Some(self.to_json()) } } )* };
}
plain_fields!(String, bool, i32, i64);

/// Enums print as their wire string.
macro_rules! enums {
    ($($t:ty),* $(,)?) => { $( impl $crate::aws::convert::ToJson for $t { fn to_json(&self) -> serde_json::Value { serde_json::Value::String(self.as_str().to_string()) } } )* };
}
pub(crate) use enums;

/// A struct prints as an object of its present fields. The SDK's public
/// `Option` fields keep "absent" apart from "empty list", as the CLI does.
macro_rules! structs {
    ($( $t:ty { $($key:literal => $field:ident),* $(,)? } )*) => { $(
        impl $crate::aws::convert::ToJson for $t {
            fn to_json(&self) -> serde_json::Value {
                use $crate::aws::convert::FieldJson as _;
                let mut m = serde_json::Map::new();
                $( if let Some(v) = self.$field.field_json() { m.insert($key.to_string(), v); } )*
                serde_json::Value::Object(m)
            }
        }
    )* };
}
pub(crate) use structs;

mod ec2 {
    use aws_sdk_ec2::types::*;

    enums!(
        ArchitectureValues,
        BootModeValues,
        CapacityReservationPreference,
        HypervisorType,
        InstanceLifecycleType,
        InstanceType,
        InstanceMetadataOptionsState,
        HttpTokensState,
        InstanceMetadataEndpointState,
        InstanceMetadataProtocolState,
        InstanceMetadataTagsState,
        MonitoringState,
        AttachmentStatus,
        NetworkInterfaceStatus,
        Tenancy,
        PlatformValues,
        ProductCodeValues,
        DeviceType,
        InstanceStateName,
        VirtualizationType,
    );

    structs! {
        Tag { "Key" => key, "Value" => value }
        GroupIdentifier { "GroupId" => group_id, "GroupName" => group_name }
        EbsInstanceBlockDevice { "AttachTime" => attach_time, "DeleteOnTermination" => delete_on_termination,
            "Status" => status, "VolumeId" => volume_id }
        InstanceBlockDeviceMapping { "DeviceName" => device_name, "Ebs" => ebs }
        CapacityReservationSpecificationResponse { "CapacityReservationPreference" => capacity_reservation_preference }
        CpuOptions { "CoreCount" => core_count, "ThreadsPerCore" => threads_per_core }
        EnclaveOptions { "Enabled" => enabled }
        HibernationOptions { "Configured" => configured }
        IamInstanceProfile { "Arn" => arn, "Id" => id }
        InstanceMetadataOptionsResponse { "State" => state, "HttpTokens" => http_tokens,
            "HttpPutResponseHopLimit" => http_put_response_hop_limit, "HttpEndpoint" => http_endpoint,
            "HttpProtocolIpv6" => http_protocol_ipv6, "InstanceMetadataTags" => instance_metadata_tags }
        Monitoring { "State" => state }
        InstanceNetworkInterfaceAssociation { "CarrierIp" => carrier_ip, "IpOwnerId" => ip_owner_id,
            "PublicDnsName" => public_dns_name, "PublicIp" => public_ip }
        InstanceNetworkInterfaceAttachment { "AttachTime" => attach_time, "AttachmentId" => attachment_id,
            "DeleteOnTermination" => delete_on_termination, "DeviceIndex" => device_index,
            "NetworkCardIndex" => network_card_index, "Status" => status }
        InstanceIpv6Address { "Ipv6Address" => ipv6_address }
        InstanceIpv4Prefix { "Ipv4Prefix" => ipv4_prefix }
        InstancePrivateIpAddress { "Association" => association, "Primary" => primary,
            "PrivateDnsName" => private_dns_name, "PrivateIpAddress" => private_ip_address }
        InstanceNetworkInterface { "Association" => association, "Attachment" => attachment,
            "Description" => description, "Groups" => groups, "InterfaceType" => interface_type,
            "Ipv6Addresses" => ipv6_addresses, "MacAddress" => mac_address,
            "NetworkInterfaceId" => network_interface_id, "OwnerId" => owner_id,
            "PrivateDnsName" => private_dns_name, "PrivateIpAddress" => private_ip_address,
            "PrivateIpAddresses" => private_ip_addresses, "SourceDestCheck" => source_dest_check,
            "Status" => status, "SubnetId" => subnet_id, "VpcId" => vpc_id, "Ipv4Prefixes" => ipv4_prefixes }
        Placement { "AvailabilityZone" => availability_zone, "GroupName" => group_name,
            "Tenancy" => tenancy, "HostId" => host_id, "PartitionNumber" => partition_number }
        ProductCode { "ProductCodeId" => product_code_id, "ProductCodeType" => product_code_type }
        InstanceState { "Code" => code, "Name" => name }
        StateReason { "Code" => code, "Message" => message }
        Instance { "AmiLaunchIndex" => ami_launch_index, "Architecture" => architecture,
            "BlockDeviceMappings" => block_device_mappings, "BootMode" => boot_mode,
            "CapacityReservationSpecification" => capacity_reservation_specification,
            "ClientToken" => client_token, "CpuOptions" => cpu_options, "EbsOptimized" => ebs_optimized,
            "EnaSupport" => ena_support, "EnclaveOptions" => enclave_options,
            "HibernationOptions" => hibernation_options, "Hypervisor" => hypervisor,
            "IamInstanceProfile" => iam_instance_profile, "ImageId" => image_id,
            "InstanceId" => instance_id, "InstanceLifecycle" => instance_lifecycle,
            "InstanceType" => instance_type, "KeyName" => key_name, "LaunchTime" => launch_time,
            "MetadataOptions" => metadata_options, "Monitoring" => monitoring,
            "NetworkInterfaces" => network_interfaces, "Placement" => placement, "Platform" => platform,
            "PlatformDetails" => platform_details, "PrivateDnsName" => private_dns_name,
            "PrivateIpAddress" => private_ip_address, "ProductCodes" => product_codes,
            "PublicDnsName" => public_dns_name, "PublicIpAddress" => public_ip_address,
            "RootDeviceName" => root_device_name, "RootDeviceType" => root_device_type,
            "SecurityGroups" => security_groups, "SourceDestCheck" => source_dest_check,
            "SpotInstanceRequestId" => spot_instance_request_id, "State" => state,
            "StateReason" => state_reason, "StateTransitionReason" => state_transition_reason,
            "SubnetId" => subnet_id, "Tags" => tags, "UsageOperation" => usage_operation,
            "VirtualizationType" => virtualization_type, "VpcId" => vpc_id }
        Reservation { "Groups" => groups, "Instances" => instances, "OwnerId" => owner_id,
            "ReservationId" => reservation_id }
    }
}

mod organizations {
    use aws_sdk_organizations::types::*;

    enums!(AccountStatus, AccountState, AccountJoinedMethod, ParentType);
    structs! {
        Account { "Id" => id, "Arn" => arn, "Email" => email, "Name" => name, "Status" => status,
            "State" => state, "JoinedMethod" => joined_method, "JoinedTimestamp" => joined_timestamp }
        Parent { "Id" => id, "Type" => r#type }
        OrganizationalUnit { "Id" => id, "Arn" => arn, "Name" => name }
        Tag { "Key" => key, "Value" => value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_times_round_to_the_nearest_millisecond() {
        // Organizations' JoinedTimestamp 1628601865.768, as the SDK holds it.
        let t = DateTime::from_secs_and_nanos(1_628_601_865, 767_999_887);
        assert_eq!(millis(&t), Some(1_628_601_865_768));
        assert_eq!(t.to_json(), Value::from("2021-08-10T13:24:25.768Z"));
        let below = DateTime::from_secs_and_nanos(1_628_601_865, 999_600_000);
        assert_eq!(
            below.to_json(),
            Value::from("2021-08-10T13:24:26Z"),
            "carries into the second"
        );
        let exact = DateTime::from_secs(1_628_601_865);
        assert_eq!(exact.to_json(), Value::from("2021-08-10T13:24:25Z"));
        let half = DateTime::from_secs_and_nanos(1_628_601_865, 767_499_999);
        assert_eq!(millis(&half), Some(1_628_601_865_767));
        // The same instant by every path gives the same value.
        let from_number = crate::time::json_timestamp_ms(&serde_json::json!(1628601865.768));
        let from_text = crate::time::parse_timestamp_ms("2021-08-10T13:24:25.767999887Z");
        assert_eq!(from_number, millis(&t));
        assert_eq!(from_text, millis(&t));
        assert_eq!(
            crate::time::parse_timestamp_ms(&t.fmt(Format::DateTime).unwrap()),
            millis(&t),
            "the SDK's own text of it too"
        );
    }
}
