//! `fleetcmdb iam-policy`: the least-privilege policies of a live export.
//!
//! Owns the policies; the actions come from the calls each table declares
//! and the few the collection itself makes, each granted only on the
//! resources it declares (the groups' tables as the naming templates name
//! them, the organization's accounts and units), in the caller's partition.
//! Restores and table dumps have policies of their own, so the hourly
//! inventory role never holds a write permission. The end-to-end tests
//! compare it with the calls counted during a real run, so an API call added
//! without its permission fails the suite.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::documents::Naming;
use crate::error::{Error, ExitCode};
use crate::schema::{Call, Calls as _, Resource};
use crate::settings::IamSettings;
use crate::tables;

/// Calls of the collection itself, whatever the tables: finding regions in
/// each account, and the accounts of the organisation (and its tree, which
/// `plan` walks from `ListRoots`). The calls of each account/region, which
/// find the groups and fill the tables, are declared in `crate::calls`
/// (`tables::regional_calls`); each table's others with the table.
const COLLECTION_CALLS: &[Call] = &[
    Call::member("ec2:DescribeRegions"),
    Call::caller("organizations:ListAccounts"),
    Call::caller("organizations:ListAccountsForParent"),
    Call::caller("organizations:ListOrganizationalUnitsForParent"),
    Call::caller("organizations:ListRoots"),
    Call::caller("sts:GetCallerIdentity"),
];

/// How ARNs are written: the partition and the naming templates.
pub struct Arns<'a> {
    pub partition: &'a str,
    pub naming: &'a Naming,
}

impl Arns<'_> {
    /// The ARN patterns of `r` (`*` for [`Resource::Any`]).
    pub fn of(&self, r: Resource) -> Vec<String> {
        let p = self.partition;
        let table = |t: &str| format!("arn:{p}:dynamodb:*:*:table/{}", Naming::expand(t, "*"));
        let account = format!("arn:{p}:organizations::*:account/o-*/*");
        let unit = format!("arn:{p}:organizations::*:ou/o-*/ou-*");
        match r {
            Resource::Any => vec!["*".into()],
            Resource::GroupTables => {
                let mut v = vec![
                    table(&self.naming.configuration_table),
                    table(&self.naming.scheduler_table),
                ];
                v.dedup();
                v
            }
            Resource::OrgAccounts => vec![account],
            Resource::OrgUnits => vec![unit],
            Resource::OrgAccountsAndUnits => vec![account, unit],
        }
    }
}

/// One statement per set of resources, the actions of `calls` on them.
fn statements(calls: &[Call], arns: &Arns, sid: &str) -> Vec<Value> {
    let mut by_resource: BTreeMap<Resource, BTreeSet<&str>> = BTreeMap::new();
    for c in calls {
        by_resource.entry(c.resource).or_default().insert(c.action);
    }
    by_resource
        .into_iter()
        .map(|(r, actions)| {
            let name = format!("{sid}{r:?}").replace("Any", "");
            json!({"Sid": name, "Effect": "Allow",
                   "Action": actions.into_iter().collect::<Vec<_>>(), "Resource": arns.of(r)})
        })
        .collect()
}

/// The calls of the inventory made in member accounts (`true`) or by the caller.
fn inventory_calls(in_member_account: bool) -> Vec<Call> {
    COLLECTION_CALLS
        .iter()
        .copied()
        .chain(tables::regional_calls().into_iter().map(|c| c.call))
        .chain(tables::ALL.iter().flat_map(|t| t.calls()))
        .filter(|c| c.in_member_account == in_member_account)
        .collect()
}

pub fn caller_policy(member_role: &str, arns: &Arns) -> Value {
    let mut calls = inventory_calls(false);
    calls.extend(inventory_calls(true));
    let mut st = statements(&calls, arns, "FleetCmdbInventory");
    st.push(
        json!({"Sid": "FleetCmdbEnterMemberAccounts", "Effect": "Allow", "Action": "sts:AssumeRole",
                   "Resource": format!("arn:{}:iam::*:role/{member_role}", arns.partition)}),
    );
    json!({"Version": "2012-10-17", "Statement": st})
}

pub fn member_policy(arns: &Arns) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements(&inventory_calls(true), arns, "FleetCmdbInventory")})
}

/// `restore`: reads a group's table, creates it if missing, writes its items.
const RESTORE_CALLS: &[Call] = &[
    Call::member("dynamodb:DescribeTable").on(Resource::GroupTables),
    Call::member("dynamodb:CreateTable").on(Resource::GroupTables),
    Call::member("dynamodb:Scan").on(Resource::GroupTables),
    Call::member("dynamodb:BatchWriteItem").on(Resource::GroupTables),
];

/// `backup-table` and `restore-table`: any table the operator names, so
/// every table (`table/*`), and DynamoDB's own backups.
fn table_backup_policy(p: &str) -> Value {
    let tables = format!("arn:{p}:dynamodb:*:*:table/*");
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "FleetCmdbListTables", "Effect": "Allow",
         "Action": ["dynamodb:ListBackups", "dynamodb:ListTables"], "Resource": "*"},
        // Reads, and DynamoDB's own on-demand backups: no item, table
        // or setting is written.
        {"Sid": "FleetCmdbDumpTables", "Effect": "Allow", "Action": [
            "dynamodb:CreateBackup", "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTable",
            "dynamodb:ListTagsOfResource", "dynamodb:Scan"], "Resource": tables}
    ]})
}

/// `restore-table` (and `backup-table --enable-pitr`): creates tables,
/// writes their items, restores DynamoDB backups and turns on point-in-time
/// recovery.
fn table_restore_policy(p: &str) -> Value {
    let tables = format!("arn:{p}:dynamodb:*:*:table/*");
    let backups = format!("arn:{p}:dynamodb:*:*:table/*/backup/*");
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "FleetCmdbListBackups", "Effect": "Allow",
         "Action": ["dynamodb:ListBackups"], "Resource": "*"},
        {"Sid": "FleetCmdbRestoreTables", "Effect": "Allow", "Action": [
            "dynamodb:BatchWriteItem", "dynamodb:CreateTable", "dynamodb:DescribeContinuousBackups",
            "dynamodb:DescribeTable", "dynamodb:RestoreTableFromBackup",
            "dynamodb:RestoreTableToPointInTime", "dynamodb:Scan",
            "dynamodb:UpdateContinuousBackups"], "Resource": tables},
        {"Sid": "FleetCmdbBackups", "Effect": "Allow",
         "Action": ["dynamodb:DescribeBackup", "dynamodb:RestoreTableFromBackup"], "Resource": backups}
    ]})
}

/// The member role as a CloudFormation template (JSON, which is YAML too),
/// to deploy as a StackSet in every member account. Its policy is
/// [`member_policy`], in the partition the stack is deployed into.
pub fn member_role_template(member_role: &str, caller: Option<&str>, naming: &Naming) -> Value {
    // A placeholder partition, replaced by ${AWS::Partition} through Fn::Sub.
    const P: &str = "PARTITION";
    let arns = Arns {
        partition: P,
        naming,
    };
    let mut policy = member_policy(&arns);
    for st in policy["Statement"].as_array_mut().into_iter().flatten() {
        let subbed: Vec<Value> = st["Resource"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|r| match r.contains(P) {
                true => json!({"Fn::Sub": r.replace(P, "${AWS::Partition}")}),
                false => json!(r),
            })
            .collect();
        st["Resource"] = Value::Array(subbed);
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "fleetcmdb member role: the read-only inventory of this account, assumed by the CMDB's caller account (generated by fleetcmdb iam-policy --format cloudformation).",
        "Parameters": caller_parameter(member_role, caller),
        "Resources": {
            "MemberRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "MemberRoleName"},
                    "Description": "Read-only inventory for fleetcmdb",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${CallerAccountId}:root"}},
                            "Action": "sts:AssumeRole"
                        }]
                    },
                    "Policies": [{"PolicyName": "fleetcmdb-inventory", "PolicyDocument": policy}]
                }
            }
        },
        "Outputs": {
            "MemberRoleArn": {"Value": {"Fn::GetAtt": ["MemberRole", "Arn"]}}
        }
    })
}

/// The template's parameters: who assumes the role (defaulting to
/// `--caller-account` when given) and the role's name (defaulting to
/// `--member-role`), so the stack's StackSet can pass its own.
fn caller_parameter(member_role: &str, caller: Option<&str>) -> Value {
    let mut p = json!({
        "CallerAccountId": {
            "Type": "String",
            "AllowedPattern": "^[0-9]{12}$",
            "Description": "The account that runs fleetcmdb and assumes this role."
        },
        "MemberRoleName": {
            "Type": "String",
            "Default": member_role,
            "AllowedPattern": "^[A-Za-z0-9+=,.@_-]+$",
            "Description": "The name of the role (fleetcmdb's --member-role)."
        }
    });
    if let Some(c) = caller {
        p["CallerAccountId"]["Default"] = json!(c);
    }
    p
}

pub fn run(s: &IamSettings) -> Result<ExitCode, Error> {
    let arns = Arns {
        partition: &s.partition,
        naming: &s.naming,
    };
    if s.cloudformation {
        let t = member_role_template(&s.member_role, s.caller_account.as_deref(), &s.naming);
        crate::outln!("{}", serde_json::to_string_pretty(&t).expect("json"));
        return Ok(ExitCode::Success);
    }
    let out = match s.purpose.as_str() {
        "restore" => json!({"policy": {"Version": "2012-10-17",
                                       "Statement": statements(RESTORE_CALLS, &arns, "FleetCmdbRestore")}}),
        "table-backup" => json!({"policy": table_backup_policy(&s.partition)}),
        "table-restore" => json!({"policy": table_restore_policy(&s.partition)}),
        _ => json!({
            "caller": caller_policy(&s.member_role, &arns),
            "member_role": member_policy(&arns),
            "member_role_trust": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow",
                               "Principal": {"AWS": format!("arn:{}:iam::{}:root", s.partition,
                                   s.caller_account.as_deref().unwrap_or("CALLER-ACCOUNT-ID"))},
                               "Action": "sts:AssumeRole"}]
            }
        }),
    };
    crate::outln!("{}", serde_json::to_string_pretty(&out).expect("json"));
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_declares_its_calls_as_iam_actions() {
        // The actions themselves are listed in tests/it/iam.rs.
        for t in tables::ALL {
            assert!(
                !t.calls().is_empty(),
                "{} declares the calls that fill it",
                t.name
            );
            for c in t.calls() {
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
