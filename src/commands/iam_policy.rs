//! `fleetcmdb iam-policy`: the least-privilege policies of a live export.
//!
//! Owns the list of IAM actions fleetcmdb may call. The end-to-end tests
//! compare it with the calls counted during a real run, so an API call added
//! without its permission fails the suite.

use serde_json::json;

use crate::error::{Error, ExitCode};

/// Actions made with the member role in every collected account (and by the
/// caller in its own account).
pub const MEMBER_ACTIONS: &[&str] = &[
    "cloudformation:DescribeStacks",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:ListTables",
    "dynamodb:Scan",
    "ec2:DescribeInstances",
    "ec2:DescribeRegions",
    "ec2:DescribeVolumes",
    "ssm:DescribeMaintenanceWindows",
    "ssm:ListTagsForResource",
];

/// Actions made only by the caller (the management or delegated-admin account).
pub const CALLER_ACTIONS: &[&str] = &[
    "organizations:DescribeAccount",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    "sts:GetCallerIdentity",
];

pub fn caller_policy(member_role: &str) -> serde_json::Value {
    let mut actions: Vec<&str> = CALLER_ACTIONS
        .iter()
        .chain(MEMBER_ACTIONS)
        .copied()
        .collect();
    actions.sort_unstable();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "FleetCmdbInventory", "Effect": "Allow", "Action": actions, "Resource": "*"},
            {"Sid": "FleetCmdbEnterMemberAccounts", "Effect": "Allow", "Action": "sts:AssumeRole",
             "Resource": format!("arn:aws:iam::*:role/{member_role}")}
        ]
    })
}

pub fn member_policy() -> serde_json::Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "FleetCmdbInventory", "Effect": "Allow", "Action": MEMBER_ACTIONS, "Resource": "*"}]
    })
}

pub fn run(member_role: Option<&str>) -> Result<ExitCode, Error> {
    let role = member_role.unwrap_or("OrganizationAccountAccessRole");
    if role.is_empty() || role.contains(['*', '"', ' ']) {
        return Err(Error::Usage(format!("--member-role {role:?}: a role name")));
    }
    let out = json!({
        "caller": caller_policy(role),
        "member_role": member_policy(),
        "member_role_trust": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::CALLER-ACCOUNT-ID:root"},
                           "Action": "sts:AssumeRole"}]
        }
    });
    crate::outln!("{}", serde_json::to_string_pretty(&out).expect("json"));
    Ok(ExitCode::Success)
}
