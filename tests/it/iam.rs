//! `iam-policy` grants exactly the calls the collection makes: the lists
//! below are written out by hand, so a table that adds a call changes them
//! here, visibly, beside the code that makes it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::*;

fn actions(policy: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in policy["Statement"].as_array().expect("statements") {
        match &s["Action"] {
            Value::String(a) => {
                out.insert(a.clone());
            }
            Value::Array(xs) => out.extend(xs.iter().map(|a| a.as_str().unwrap().to_string())),
            other => panic!("Action {other}"),
        }
    }
    out
}

#[test]
fn the_policies_grant_the_calls_of_the_collection_and_no_more() {
    let o = run(&["iam-policy", "--member-role", "FleetCmdbMember"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let member = [
        "cloudformation:DescribeStacks",
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:ListTables",
        "dynamodb:Scan",
        "ec2:DescribeInstances",
        "ec2:DescribeRegions",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVolumes",
        "ssm:DescribeMaintenanceWindows",
        "ssm:ListTagsForResource",
    ];
    let caller_only = [
        "organizations:DescribeAccount",
        "organizations:DescribeOrganizationalUnit",
        "organizations:ListAccounts",
        "organizations:ListAccountsForParent",
        "organizations:ListOrganizationalUnitsForParent",
        "organizations:ListParents",
        "organizations:ListRoots",
        "organizations:ListTagsForResource",
        "sts:AssumeRole",
        "sts:GetCallerIdentity",
    ];
    let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(actions(&v["member_role"]), set(&member));
    let caller = actions(&v["caller"]);
    let extra: BTreeSet<String> = caller.difference(&set(&member)).cloned().collect();
    assert_eq!(extra, set(&caller_only));
    assert!(
        caller.is_superset(&set(&member)),
        "the caller collects its own account"
    );
}

#[test]
fn the_trust_policy_names_the_caller_account_when_given() {
    let o = run(&[
        "iam-policy",
        "--member-role",
        "R",
        "--caller-account",
        "111111111111",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let principal = &v["member_role_trust"]["Statement"][0]["Principal"]["AWS"];
    assert_eq!(principal, "arn:aws:iam::111111111111:root");
    let o = run(&[
        "iam-policy",
        "--member-role",
        "R",
        "--caller-account",
        "111111111111",
        "--format",
        "cloudformation",
    ]);
    let t: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        t["Parameters"]["CallerAccountId"]["Default"],
        "111111111111"
    );
    assert_eq!(t["Parameters"]["MemberRoleName"]["Default"], "R");
    assert_eq!(
        t["Resources"]["MemberRole"]["Properties"]["RoleName"],
        serde_json::json!({"Ref": "MemberRoleName"})
    );
    let bad = run(&["iam-policy", "--caller-account", "12345"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--caller-account"),
        "{}",
        stderr(&bad)
    );
}
