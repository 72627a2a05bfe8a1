//! Systems Manager's calls: the maintenance windows and their tags.

use serde_json::{json, Value};

use super::{ids_at, in_region, paginate, ApiCall, Demo, Ids, Input};
use crate::aws::convert::{structs, ToJson};
use crate::aws::sdk_error;
use crate::schema::Call;

/// `ssm:DescribeMaintenanceWindows`, every window of the account/region
/// (a window names its group by its tags, fetched next).
pub static DESCRIBE_MAINTENANCE_WINDOWS: ApiCall = ApiCall {
    call: Call::member("ssm:DescribeMaintenanceWindows"),
    stem: "ssm-describe-maintenance-windows",
    page_key: "WindowIdentities",
    id: "WindowId",
    input: Input::Region,
    for_backups: false,
    live: |f, _| {
        Box::pin(async move {
            paginate(|token| async {
                let req = f.clients.ssm.describe_maintenance_windows().set_next_token(token).set_max_results(f.page.map(|p| p.clamp(10, 100)));
                let r = in_region!(f, aws_sdk_ssm, req).send().await.map_err(|e| f.err(sdk_error("ssm:DescribeMaintenanceWindows", &e)))?;
                let page = json!({ "WindowIdentities": r.window_identities().iter().map(ToJson::to_json).collect::<Vec<_>>() });
                Ok((page, r.next_token().map(str::to_string)))
            })
            .await
        })
    },
    demo: Demo::Model,
};

/// `ssm:ListTagsForResource --resource-type MaintenanceWindow`, of each window.
pub static LIST_WINDOW_TAGS: ApiCall = ApiCall {
    call: Call::member("ssm:ListTagsForResource"),
    stem: "ssm-list-tags-for-resource",
    page_key: "TagList",
    id: "Key",
    input: Input::Each(Ids::From(&DESCRIBE_MAINTENANCE_WINDOWS, |page, out| {
        ids_at(page, &["WindowIdentities", "WindowId"], out)
    })),
    for_backups: false,
    live: |f, ids| {
        Box::pin(async move {
            let Some(id) = ids.first() else {
                return Ok(Vec::new());
            };
            let req = f
                .clients
                .ssm
                .list_tags_for_resource()
                .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::MaintenanceWindow)
                .resource_id(id);
            let r = in_region!(f, aws_sdk_ssm, req)
                .send()
                .await
                .map_err(|e| f.err(sdk_error("ssm:ListTagsForResource", &e)))?;
            let tags: Vec<Value> = r.tag_list().iter().map(ToJson::to_json).collect();
            Ok(vec![json!({ "TagList": tags })])
        })
    },
    demo: Demo::Model,
};

mod convert {
    use aws_sdk_ssm::types::*;

    super::structs! {
        MaintenanceWindowIdentity { "WindowId" => window_id, "Name" => name, "Description" => description,
            "Enabled" => enabled, "Duration" => duration, "Cutoff" => cutoff, "Schedule" => schedule,
            "ScheduleTimezone" => schedule_timezone, "ScheduleOffset" => schedule_offset,
            "EndDate" => end_date, "StartDate" => start_date, "NextExecutionTime" => next_execution_time }
        Tag { "Key" => key, "Value" => value }
    }
}
