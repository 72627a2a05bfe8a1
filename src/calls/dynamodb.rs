//! DynamoDB's calls: the tables of the account/region, and the items and
//! point-in-time recovery of each group's two tables.

use serde_json::{json, Value};

use super::{in_region, ApiCall, Demo, Ids, Input};
use crate::aws::sdk_error;
use crate::dynamo::typed::item_to_json;
use crate::schema::{Call, Resource};

/// `dynamodb:ListTables`: a group's configuration table names the group.
pub static LIST_TABLES: ApiCall = ApiCall {
    call: Call::member("dynamodb:ListTables"),
    stem: "dynamodb-list-tables",
    page_key: "TableNames",
    id: "",
    input: Input::Region,
    for_backups: true,
    live: |f, _| {
        Box::pin(async move {
            let mut pages = Vec::new();
            let mut start = None;
            loop {
                let req = f
                    .clients
                    .dynamodb
                    .list_tables()
                    .set_exclusive_start_table_name(start)
                    .set_limit(f.page.map(|p| p.clamp(1, 100)));
                let r = in_region!(f, aws_sdk_dynamodb, req)
                    .send()
                    .await
                    .map_err(|e| f.err(sdk_error("dynamodb:ListTables", &e)))?;
                pages.push(json!({ "TableNames": r.table_names() }));
                start = r.last_evaluated_table_name().map(str::to_string);
                if start.is_none() {
                    return Ok(pages);
                }
            }
        })
    },
    demo: Demo::Model,
};

/// `dynamodb:Scan` of a group's table, every page merged into one answer
/// as the AWS CLI prints it (`{"Items": [...], "Count": n}`); none when
/// the table is not there.
pub static SCAN: ApiCall = ApiCall {
    call: Call::member("dynamodb:Scan").on(Resource::GroupTables),
    stem: "dynamodb-scan",
    page_key: "Items",
    id: "",
    input: Input::Each(Ids::GroupTables),
    for_backups: true,
    live: |f, ids| {
        Box::pin(async move {
            let Some(table) = ids.first() else {
                return Ok(Vec::new());
            };
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let req = f
                    .clients
                    .dynamodb
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start)
                    .set_limit(f.page);
                let r = match in_region!(f, aws_sdk_dynamodb, req).send().await {
                    Ok(r) => r,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_not_found_exception()) =>
                    {
                        return Ok(Vec::new())
                    }
                    Err(e) => return Err(f.err(sdk_error("dynamodb:Scan", &e))),
                };
                items.extend(r.items().iter().map(item_to_json));
                start = r.last_evaluated_key().cloned();
                if start.is_none() {
                    let n = items.len();
                    return Ok(vec![json!({ "Items": Value::Array(items), "Count": n })]);
                }
            }
        })
    },
    demo: Demo::Model,
};

/// `dynamodb:DescribeContinuousBackups` of a group's table: whether
/// point-in-time recovery is on. A refusal is no answer (unknown), not an
/// error: the role may lack the action.
pub static DESCRIBE_CONTINUOUS_BACKUPS: ApiCall = ApiCall {
    call: Call::member("dynamodb:DescribeContinuousBackups").on(Resource::GroupTables),
    stem: "dynamodb-describe-continuous-backups",
    page_key: "ContinuousBackupsDescription",
    id: "",
    input: Input::Each(Ids::GroupTables),
    for_backups: false,
    live: |f, ids| {
        Box::pin(async move {
            let Some(table) = ids.first() else {
                return Ok(Vec::new());
            };
            let req = f
                .clients
                .dynamodb
                .describe_continuous_backups()
                .table_name(table);
            let Ok(out) = in_region!(f, aws_sdk_dynamodb, req).send().await else {
                return Ok(Vec::new());
            };
            let on = crate::dynamo::pitr_enabled(out.continuous_backups_description());
            let status = if on { "ENABLED" } else { "DISABLED" };
            Ok(vec![json!({"ContinuousBackupsDescription": {
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": status}
            }})])
        })
    },
    demo: Demo::Model,
};
