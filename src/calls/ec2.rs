//! EC2's calls: instances, and what their rows name (volumes).

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
                .values(f.group_tag)
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
    demo: Demo::Instances,
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

mod convert {
    use aws_sdk_ec2::types::*;

    super::enums!(VolumeAttachmentState, VolumeState, VolumeType);

    super::structs! {
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
