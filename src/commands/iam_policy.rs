//! `fleetcmdb iam-policy`: the least-privilege policies of a live export.
//!
//! Owns the policies; the actions come from the calls each table declares
//! and the few the collection itself makes. The end-to-end tests
//! compare it with the calls counted during a real run, so an API call added
//! without its permission fails the suite.

use serde_json::json;

use crate::error::{Error, ExitCode};
use crate::schema::Call;
use crate::tables;

/// Calls of the collection itself, whatever the tables: finding regions and
/// groups in each account, and the accounts of the organisation. Every
/// table's own calls are declared with the table (`TableDef::calls`).
const COLLECTION_CALLS: &[Call] = &[
    Call::member("ec2:DescribeRegions"),
    Call::member("dynamodb:ListTables"),
    Call::caller("organizations:ListAccounts"),
    Call::caller("organizations:ListAccountsForParent"),
    Call::caller("organizations:ListOrganizationalUnitsForParent"),
    Call::caller("sts:GetCallerIdentity"),
];

/// The IAM actions made in every collected account (with the member role,
/// and by the caller in its own), or by the caller only; sorted, once each.
pub fn actions(in_member_account: bool) -> Vec<&'static str> {
    let mut v: Vec<&str> = COLLECTION_CALLS
        .iter()
        .chain(tables::ALL.iter().flat_map(|t| t.calls))
        .filter(|c| c.in_member_account == in_member_account)
        .map(|c| c.action)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub fn caller_policy(member_role: &str) -> serde_json::Value {
    let mut actions = actions(false);
    actions.extend(self::actions(true));
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
        "Statement": [{"Sid": "FleetCmdbInventory", "Effect": "Allow", "Action": actions(true), "Resource": "*"}]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policies_are_the_calls_the_tables_and_the_collection_declare() {
        assert_eq!(
            actions(true),
            [
                "cloudformation:DescribeStacks",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:ListTables",
                "dynamodb:Scan",
                "ec2:DescribeInstances",
                "ec2:DescribeRegions",
                "ec2:DescribeVolumes",
                "ssm:DescribeMaintenanceWindows",
                "ssm:ListTagsForResource",
            ]
        );
        assert_eq!(
            actions(false),
            [
                "organizations:DescribeAccount",
                "organizations:DescribeOrganizationalUnit",
                "organizations:ListAccounts",
                "organizations:ListAccountsForParent",
                "organizations:ListOrganizationalUnitsForParent",
                "organizations:ListParents",
                "organizations:ListTagsForResource",
                "sts:GetCallerIdentity",
            ]
        );
        for t in tables::ALL {
            assert!(
                !t.calls.is_empty(),
                "{} declares the calls that fill it",
                t.name
            );
            for c in t.calls {
                assert!(
                    c.action.split_once(':').is_some_and(|(s, op)| !s.is_empty()
                        && op.starts_with(|ch: char| ch.is_ascii_uppercase())),
                    "{}: {} is an IAM action",
                    t.name,
                    c.action
                );
            }
        }
    }
}
