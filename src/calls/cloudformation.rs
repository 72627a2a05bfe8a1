//! CloudFormation's call: the groups' deployment stacks.

use serde_json::{json, Value};

use super::{in_region, paginate, ApiCall, Demo, Input};
use crate::aws::convert::{enums, structs, ToJson};
use crate::aws::sdk_error;
use crate::documents::Naming;
use crate::schema::Call;

/// `cloudformation:DescribeStacks`, of the stacks whose names the stack
/// template matches (the others are dropped as each page arrives).
pub static DESCRIBE_STACKS: ApiCall = ApiCall {
    call: Call::member("cloudformation:DescribeStacks"),
    stem: "cloudformation-describe-stacks",
    page_key: "Stacks",
    id: "StackName",
    input: Input::Region,
    for_backups: true,
    live: |f, _| {
        Box::pin(async move {
            paginate(|token| async {
                let req = f
                    .clients
                    .cloudformation
                    .describe_stacks()
                    .set_next_token(token);
                let r = in_region!(f, aws_sdk_cloudformation, req)
                    .send()
                    .await
                    .map_err(|e| f.err(sdk_error("cloudformation:DescribeStacks", &e)))?;
                let stacks: Vec<Value> = r
                    .stacks()
                    .iter()
                    .filter(|s| {
                        s.stack_name()
                            .and_then(|n| Naming::match_template(&f.naming.stack, n))
                            .is_some()
                    })
                    .map(ToJson::to_json)
                    .collect();
                Ok((
                    json!({ "Stacks": stacks }),
                    r.next_token().map(str::to_string),
                ))
            })
            .await
        })
    },
    demo: Demo::Model,
};

mod convert {
    use aws_sdk_cloudformation::types::*;

    super::enums!(StackStatus);
    super::structs! {
        Parameter { "ParameterKey" => parameter_key, "ParameterValue" => parameter_value }
        Output { "OutputKey" => output_key, "OutputValue" => output_value, "Description" => description }
        Stack { "StackId" => stack_id, "StackName" => stack_name, "CreationTime" => creation_time,
            "LastUpdatedTime" => last_updated_time, "StackStatus" => stack_status,
            "Parameters" => parameters, "Outputs" => outputs }
    }
}
