//! `accounts`: one row per account collected, from AWS Organizations, with
//! the groups found in its regions (none: nothing is deployed there).
//!
//! The OU path is walked from the account up with `ListParents`, naming
//! each unit with `DescribeOrganizationalUnit`; a path that cannot be read
//! whole is null rather than partial.

use serde_json::{json, Value};

use super::resolver::*;
use super::Table;
use crate::documents::{field, Doc};
use crate::error::Error;
use crate::schema::dsl::{
    c, s, Array, Call, Column, Int, Map, Partitioning, Resource, Struct, Timestamp, STRING_ARRAY,
};
use crate::schema::TableDef;

/// Units may nest five deep under the root; a longer chain is refused.
const MAX_DEPTH: usize = 8;

static GROUP: [Column; 2] = [
    s("region", "Region of the group."),
    s("groupname", "Name of the group."),
];

pub static ACCOUNTS: Table = Table {
    def: TableDef {
        name: "accounts",
        doc: "Accounts of the organization with their OU path, tags and the groups found in them.",
        grain: "account",
        partitioning: Partitioning::Account,
        calls: &[
            Call::caller("organizations:DescribeAccount").on(Resource::OrgAccounts),
            Call::caller("organizations:ListParents").on(Resource::OrgAccountsAndUnits),
            Call::caller("organizations:DescribeOrganizationalUnit").on(Resource::OrgUnits),
            Call::caller("organizations:ListTagsForResource").on(Resource::OrgAccountsAndUnits),
        ],
        identity: &[],
        columns: &[
            s("accountname", "Account name."),
            s("accountemail", "Email address of the account root user."),
            s("accountarn", "ARN of the account."),
            s(
                "accountstate",
                "Account state (State, else the older Status), for example ACTIVE.",
            ),
            s(
                "accountjoinedmethod",
                "How the account joined the organization (INVITED or CREATED).",
            ),
            c(
                "accountjoinedtimestamp",
                Timestamp,
                "When the account joined the organization.",
            ),
            s(
                "oupath",
                "Organizational units from the root down, for example Root/Workloads/Production.",
            ),
            c(
                "ouids",
                STRING_ARRAY,
                "Ids along oupath, from the root id to the account parent.",
            ),
            s(
                "ouid",
                "Id of the parent of the account (an OU, or the root).",
            ),
            s(
                "ouname",
                "Name of the parent of the account (Root for the root).",
            ),
            c("tags", Map, "Account tags; query as tags[key]."),
            c(
                "regions",
                STRING_ARRAY,
                "Regions collected in the account, sorted.",
            ),
            c(
                "groups",
                Array(&Struct(&GROUP)),
                "Groups found in the account, by region then name; empty when nothing is deployed.",
            ),
            c(
                "groupcount",
                Int,
                "How many groups were found in the account.",
            ),
            Column::last_updated(),
        ],
    },
    resolver: Resolver::PerAccount { rows },
};

fn rows(ctx: &AccountContext) -> Result<Vec<Value>, Error> {
    let inputs = ctx.inputs;
    let account = inputs
        .account()?
        .map(Doc::into_value)
        .transpose()?
        .and_then(|v| field(&v, "Account").cloned());
    let a = |name: &str| {
        account
            .as_ref()
            .and_then(|a| field(a, name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let state = match a("State") {
        Value::Null => a("Status"),
        s => s,
    };
    let tags = match inputs.tags()? {
        Some(doc) => {
            let origin = doc.origin.clone();
            let v = doc.into_value()?;
            let list = field(&v, "Tags")
                .filter(|t| t.is_array())
                .ok_or_else(|| Error::input(origin, "$.Tags", "expected an array of tags"))?;
            list.clone()
        }
        None => Value::Null,
    };
    let path = ou_path(ctx)?;
    let (oupath, ouids, ouid, ouname) = match &path {
        Some(units) => (
            json!(units
                .iter()
                .map(|u| u.1.as_str())
                .collect::<Vec<_>>()
                .join("/")),
            json!(units.iter().map(|u| &u.0).collect::<Vec<_>>()),
            json!(units.last().map(|u| &u.0)),
            json!(units.last().map(|u| &u.1)),
        ),
        None => (Value::Null, Value::Null, Value::Null, Value::Null),
    };
    let groups: Vec<Value> = ctx
        .groups
        .iter()
        .map(|g| json!({"region": g.region, "groupname": g.groupname}))
        .collect();
    Ok(vec![json!({
        "accountname": a("Name"),
        "accountemail": a("Email"),
        "accountarn": a("Arn"),
        "accountstate": state,
        "accountjoinedmethod": a("JoinedMethod"),
        "accountjoinedtimestamp": a("JoinedTimestamp"),
        "oupath": oupath,
        "ouids": ouids,
        "ouid": ouid,
        "ouname": ouname,
        "tags": tags,
        "regions": ctx.regions,
        "groupcount": groups.len(),
        "groups": groups,
    })])
}

/// (id, name) of each unit from the root to the account's parent, or None
/// when a step is unknown.
fn ou_path(ctx: &AccountContext) -> Result<Option<Vec<(String, String)>>, Error> {
    let inputs = ctx.inputs;
    let mut child = inputs.accountid().to_string();
    let mut units = Vec::new();
    for _ in 0..MAX_DEPTH {
        let Some(doc) = inputs.parents(&child)? else {
            return Ok(None);
        };
        let origin = doc.origin.clone();
        let v = doc.into_value()?;
        let parent = field(&v, "Parents")
            .and_then(Value::as_array)
            .and_then(|p| p.first())
            .ok_or_else(|| {
                Error::input(&origin, "$.Parents", "expected an array with the parent")
            })?;
        let text = |name: &str| {
            field(parent, name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    Error::input(&origin, format!("$.Parents[0].{name}"), "expected a string")
                })
        };
        let (id, kind) = (text("Id")?, text("Type")?);
        match kind.as_str() {
            "ROOT" => {
                units.push((id, "Root".to_string()));
                units.reverse();
                return Ok(Some(units));
            }
            "ORGANIZATIONAL_UNIT" => {
                let Some(doc) = inputs.organizational_unit(&id)? else {
                    return Ok(None);
                };
                let origin = doc.origin.clone();
                let v = doc.into_value()?;
                let name = field(&v, "OrganizationalUnit")
                    .and_then(|ou| field(ou, "Name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Error::input(&origin, "$.OrganizationalUnit.Name", "expected a string")
                    })?;
                units.push((id.clone(), name.to_string()));
                child = id;
            }
            other => {
                return Err(Error::input(
                    &origin,
                    "$.Parents[0].Type",
                    format!("{other:?} is neither ROOT nor ORGANIZATIONAL_UNIT"),
                ))
            }
        }
    }
    Err(Error::input(
        format!(
            "organizations:ListParents of account {}",
            inputs.accountid()
        ),
        "$.Parents",
        format!("no root within {MAX_DEPTH} levels: the parents form a loop or a chain too deep"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::AccountInputs;
    use crate::partition::PartitionValue;
    use std::collections::HashMap;

    /// An organization given as documents, for the path walk's edge cases.
    struct Org {
        id: PartitionValue,
        parents: HashMap<&'static str, Value>,
        ous: HashMap<&'static str, Value>,
    }

    impl AccountInputs for Org {
        fn accountid(&self) -> &PartitionValue {
            &self.id
        }
        fn account(&self) -> Result<Option<Doc>, Error> {
            Ok(Some(Doc::value(
                "a.json",
                json!({"Account": {"Id": self.id.as_str(), "Name": "n", "Status": "SUSPENDED",
                    "JoinedTimestamp": "2024-01-02T03:04:05.678000+01:00"}}),
            )))
        }
        fn parents(&self, child: &str) -> Result<Option<Doc>, Error> {
            Ok(self
                .parents
                .get(child)
                .map(|v| Doc::value(format!("parents-{child}.json"), v.clone())))
        }
        fn organizational_unit(&self, id: &str) -> Result<Option<Doc>, Error> {
            Ok(self
                .ous
                .get(id)
                .map(|v| Doc::value(format!("ou-{id}.json"), v.clone())))
        }
        fn tags(&self) -> Result<Option<Doc>, Error> {
            Ok(None)
        }
    }

    fn org(parents: &[(&'static str, &str, &str)], ous: &[(&'static str, &str)]) -> Org {
        Org {
            id: PartitionValue::parse("111111111111", "a", "t").unwrap(),
            parents: parents
                .iter()
                .map(|(c, p, t)| (*c, json!({"Parents": [{"Id": p, "Type": t}]})))
                .collect(),
            ous: ous
                .iter()
                .map(|(id, n)| (*id, json!({"OrganizationalUnit": {"Id": id, "Name": n}})))
                .collect(),
        }
    }

    fn row(o: &Org) -> Result<Value, Error> {
        let groups = [FoundGroup {
            region: "eu-west-1".into(),
            groupname: "web".into(),
        }];
        let ctx = AccountContext {
            inputs: o,
            groups: &groups,
            regions: &["eu-west-1".into()],
            now_ms: 0,
        };
        rows(&ctx).map(|mut r| r.remove(0))
    }

    #[test]
    fn the_path_runs_from_the_root_to_the_parent() {
        let o = org(
            &[
                ("111111111111", "ou-b", "ORGANIZATIONAL_UNIT"),
                ("ou-b", "ou-a", "ORGANIZATIONAL_UNIT"),
                ("ou-a", "r-1", "ROOT"),
            ],
            &[("ou-a", "Workloads"), ("ou-b", "Prod")],
        );
        let r = row(&o).unwrap();
        assert_eq!(r["oupath"], "Root/Workloads/Prod");
        assert_eq!(r["ouids"], json!(["r-1", "ou-a", "ou-b"]));
        assert_eq!((&r["ouid"], &r["ouname"]), (&json!("ou-b"), &json!("Prod")));
        assert_eq!(
            r["accountstate"], "SUSPENDED",
            "Status when there is no State"
        );
        assert_eq!(r["groupcount"], 1);
        assert!(r["tags"].is_null());
        let mut b = crate::record::RowBuilder::new(&ACCOUNTS, 0, &[]);
        b.append_value(&r).unwrap();
        assert_eq!(b.finish().num_rows(), 1);
    }

    #[test]
    fn an_unknown_step_leaves_the_path_null_and_a_loop_is_refused() {
        let o = org(
            &[
                ("111111111111", "ou-b", "ORGANIZATIONAL_UNIT"),
                ("ou-b", "r-1", "ROOT"),
            ],
            &[],
        );
        let r = row(&o).unwrap();
        assert!(r["oupath"].is_null() && r["ouids"].is_null(), "{r}");
        let direct = org(&[("111111111111", "r-1", "ROOT")], &[]);
        assert_eq!(row(&direct).unwrap()["oupath"], "Root");
        let cycle = org(
            &[
                ("111111111111", "ou-a", "ORGANIZATIONAL_UNIT"),
                ("ou-a", "ou-a", "ORGANIZATIONAL_UNIT"),
            ],
            &[("ou-a", "A")],
        );
        let e = row(&cycle).unwrap_err().to_string();
        assert!(e.contains("111111111111") && e.contains("loop"), "{e}");
        let odd = org(&[("111111111111", "x", "ACCOUNT")], &[]);
        let e = row(&odd).unwrap_err().to_string();
        assert!(
            e.contains("parents-111111111111.json") && e.contains("Type"),
            "{e}"
        );
    }
}
