//! EC2's calls: instances, and what their rows name (volumes, security groups).

use aws_sdk_ec2::types::Filter;
use serde_json::{json, Value};

use super::{ids_at, in_region, paginate, ApiCall, Demo, DemoRng, Input};
use crate::aws::convert::{enums, structs, ToJson};
use crate::aws::sdk_error;
use crate::partition::Scope;
use crate::schema::Call;

/// `ec2:DescribeInstances`, of the instances that carry the group tag.
pub static DESCRIBE_INSTANCES: ApiCall = ApiCall {
    call: Call::member("ec2:DescribeInstances"),
    stem: "ec2-describe-instances",
    page_key: "Reservations",
    id: "InstanceId",
    input: Input::Region,
    for_backups: false,
    live: |f, _| {
        Box::pin(async move {
            let filter = Filter::builder()
                .name("tag-key")
                .values(&f.naming.group_tag)
                .build();
            paginate(|token| async {
                let req = f.clients.ec2.describe_instances().filters(filter.clone()).set_next_token(token).set_max_results(f.page.map(|p| p.max(5)));
                let r = in_region!(f, aws_sdk_ec2, req).send().await.map_err(|e| f.err(sdk_error("ec2:DescribeInstances", &e)))?;
                let page = json!({ "Reservations": Value::Array(r.reservations().iter().map(ToJson::to_json).collect()) });
                Ok((page, r.next_token().map(str::to_string)))
            })
            .await
        })
    },
    demo: Demo::Model,
};

/// `ec2:DescribeVolumes`, of the volumes attached to the instances found.
pub static DESCRIBE_VOLUMES: ApiCall = ApiCall {
    call: Call::member("ec2:DescribeVolumes"),
    stem: "ec2-describe-volumes",
    page_key: "Volumes",
    id: "VolumeId",
    input: Input::Referenced {
        from: &DESCRIBE_INSTANCES,
        ids: |page, out| ids_at(page, &["Reservations", "Instances", "InstanceId"], out),
        // A filter takes at most 200 values.
        chunk: 200,
    },
    for_backups: false,
    live: |f, ids| {
        Box::pin(async move {
            let filter = Filter::builder()
                .name("attachment.instance-id")
                .set_values(Some(ids.to_vec()))
                .build();
            paginate(|token| async {
                let req = f.clients.ec2.describe_volumes().filters(filter.clone()).set_next_token(token).set_max_results(f.page.map(|p| p.max(5)));
                let r = in_region!(f, aws_sdk_ec2, req).send().await.map_err(|e| f.err(sdk_error("ec2:DescribeVolumes", &e)))?;
                let page = json!({ "Volumes": Value::Array(r.volumes().iter().map(ToJson::to_json).collect()) });
                Ok((page, r.next_token().map(str::to_string)))
            })
            .await
        })
    },
    demo: Demo::PerInstance(demo_volumes),
};

/// `ec2:DescribeSecurityGroups`, of the security groups the instances found use.
pub static DESCRIBE_SECURITY_GROUPS: ApiCall = ApiCall {
    call: Call::member("ec2:DescribeSecurityGroups"),
    stem: "ec2-describe-security-groups",
    page_key: "SecurityGroups",
    id: "GroupId",
    input: Input::Referenced {
        from: &DESCRIBE_INSTANCES,
        ids: |page, out| {
            ids_at(
                page,
                &["Reservations", "Instances", "SecurityGroups", "GroupId"],
                out,
            )
        },
        chunk: 200,
    },
    for_backups: false,
    live: |f, ids| {
        Box::pin(async move {
            let filter = Filter::builder()
                .name("group-id")
                .set_values(Some(ids.to_vec()))
                .build();
            paginate(|token| async {
                let req = f.clients.ec2.describe_security_groups().filters(filter.clone()).set_next_token(token).set_max_results(f.page.map(|p| p.clamp(5, 1000)));
                let r = in_region!(f, aws_sdk_ec2, req).send().await.map_err(|e| f.err(sdk_error("ec2:DescribeSecurityGroups", &e)))?;
                let page = json!({ "SecurityGroups": Value::Array(r.security_groups().iter().map(ToJson::to_json).collect()) });
                Ok((page, r.next_token().map(str::to_string)))
            })
            .await
        })
    },
    demo: Demo::PerInstance(demo_security_groups),
};

mod convert {
    use aws_sdk_ec2::types::*;

    super::enums!(VolumeAttachmentState, VolumeState, VolumeType);

    super::structs! {
        IpRange { "CidrIp" => cidr_ip, "Description" => description }
        Ipv6Range { "CidrIpv6" => cidr_ipv6, "Description" => description }
        PrefixListId { "Description" => description, "PrefixListId" => prefix_list_id }
        UserIdGroupPair { "Description" => description, "GroupId" => group_id, "GroupName" => group_name,
            "PeeringStatus" => peering_status, "UserId" => user_id, "VpcId" => vpc_id,
            "VpcPeeringConnectionId" => vpc_peering_connection_id }
        IpPermission { "FromPort" => from_port, "IpProtocol" => ip_protocol, "IpRanges" => ip_ranges,
            "Ipv6Ranges" => ipv6_ranges, "PrefixListIds" => prefix_list_ids, "ToPort" => to_port,
            "UserIdGroupPairs" => user_id_group_pairs }
        SecurityGroup { "Description" => description, "GroupName" => group_name,
            "IpPermissions" => ip_permissions, "OwnerId" => owner_id, "GroupId" => group_id,
            "IpPermissionsEgress" => ip_permissions_egress, "Tags" => tags, "VpcId" => vpc_id,
            "SecurityGroupArn" => security_group_arn }
        VolumeAttachment { "AttachTime" => attach_time, "Device" => device, "InstanceId" => instance_id,
            "State" => state, "VolumeId" => volume_id, "DeleteOnTermination" => delete_on_termination }
        Volume { "Attachments" => attachments, "AvailabilityZone" => availability_zone,
            "CreateTime" => create_time, "Encrypted" => encrypted, "KmsKeyId" => kms_key_id,
            "Size" => size, "SnapshotId" => snapshot_id, "State" => state, "VolumeId" => volume_id,
            "Iops" => iops, "Tags" => tags, "VolumeType" => volume_type,
            "MultiAttachEnabled" => multi_attach_enabled, "Throughput" => throughput }
    }
}

/// The demo's volumes of one instance: one per block device.
fn demo_volumes(inst: &Value, scope: &Scope, rng: &mut DemoRng) -> Vec<Value> {
    let az = &inst["Placement"]["AvailabilityZone"];
    let id = &inst["InstanceId"];
    let launch = inst["LaunchTime"].as_str().unwrap_or_default();
    inst["BlockDeviceMappings"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, b)| {
            let vt = *rng.pick(&["gp3", "gp2", "io2"]);
            let size = [8, 20, 100, 500][rng.below(4) as usize];
            let mut v = json!({
                "Attachments": [{"AttachTime": launch, "Device": b["DeviceName"], "InstanceId": id,
                                 "State": "attached", "VolumeId": b["Ebs"]["VolumeId"], "DeleteOnTermination": i == 0}],
                "AvailabilityZone": az, "CreateTime": launch, "Encrypted": rng.below(5) != 0,
                "Size": size, "SnapshotId": if i == 0 { format!("snap-{:08x}", rng.below(1 << 32)) } else { String::new() },
                "State": "in-use", "VolumeId": b["Ebs"]["VolumeId"], "Iops": if vt == "gp2" { size * 3 } else { 3000 },
                "VolumeType": vt, "MultiAttachEnabled": false,
                "Tags": [{"Key": "Name", "Value": format!("{}-{}", inst["Tags"][0]["Value"].as_str().unwrap_or(""), b["DeviceName"].as_str().unwrap_or(""))}]
            });
            if vt == "gp3" {
                v["Throughput"] = json!(125);
            }
            if v["Encrypted"] == true {
                v["KmsKeyId"] = json!(format!("arn:aws:kms:{}:{}:key/demo", scope.region, scope.accountid));
            }
            v
        })
        .collect()
}

/// The demo's security groups of one instance. Each allows HTTPS from its
/// VPC and all egress; some are open to the internet on 443 (both IP
/// versions), some on SSH (IPv4), as fleets are found in real accounts.
fn demo_security_groups(inst: &Value, scope: &Scope, rng: &mut DemoRng) -> Vec<Value> {
    let vpc = &inst["VpcId"];
    inst["SecurityGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let tcp = |port: u16, v4: &[&str], v6: &[&str]| {
                json!({"FromPort": port, "ToPort": port, "IpProtocol": "tcp",
                    "IpRanges": v4.iter().map(|c| json!({"CidrIp": c})).collect::<Vec<_>>(),
                    "Ipv6Ranges": v6.iter().map(|c| json!({"CidrIpv6": c})).collect::<Vec<_>>(),
                    "PrefixListIds": [], "UserIdGroupPairs": []})
            };
            let mut ingress = vec![tcp(443, &["10.0.0.0/16"], &[])];
            let draw = rng.below(6);
            if draw < 2 {
                ingress.push(tcp(443, &["0.0.0.0/0"], &["::/0"]));
            }
            if draw == 5 {
                ingress.push(tcp(22, &["0.0.0.0/0"], &[]));
            }
            let id = g["GroupId"].as_str().unwrap_or_default();
            json!({
                "Description": format!("{} instances", g["GroupName"].as_str().unwrap_or_default()),
                "GroupName": g["GroupName"], "GroupId": id, "OwnerId": scope.accountid.as_str(),
                "IpPermissions": ingress,
                "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}],
                "VpcId": vpc,
                "SecurityGroupArn": format!("arn:aws:ec2:{}:{}:security-group/{id}", scope.region, scope.accountid),
                "Tags": [],
            })
        })
        .collect()
}
