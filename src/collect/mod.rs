//! Running the table resolvers over what sources provide.
//!
//! Owns the order of collection and what a failure takes down, for one
//! account/region ([`collect_scope`]) and one account ([`collect_account`]):
//! which groups exist (named by deployment stacks, configuration tables and
//! instance tags), then every [`Resolver`] of the registry in turn. Rows
//! go through the [`router`] to partitions of the sink; nothing here names a
//! table, and nothing here does I/O of its own.

mod pages;
pub(crate) mod router;

use std::collections::BTreeMap;

use serde_json::Value;

pub(crate) use pages::stream_page;
use router::Router;

use crate::backup::{GroupItems, Kind};
use crate::calls::cloudformation::DESCRIBE_STACKS;
use crate::calls::dynamodb::{LIST_TABLES, SCAN};
use crate::documents::{field, AccountInputs, Naming, ScopeInputs};
use crate::error::Error;
use crate::partition::{PartitionKey, PartitionValue};
use crate::sink::partitions::{PartitionWriter, Written};
use crate::tables::resolver::{
    AccountContext, BackupHistory, FoundGroup, GroupContext, ScopeContext,
};
use crate::tables::{expirations, key_value_items, key_value_rows, Resolver, TableId};

/// Stacks whose names match the stack template, by group.
pub fn stacks_by_group(
    pages: Vec<(String, Value)>,
    naming: &Naming,
) -> Result<BTreeMap<String, Value>, Error> {
    let mut out = BTreeMap::new();
    for (origin, v) in pages {
        let stacks = field(&v, "Stacks")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::input(&origin, "$.Stacks", "expected an array of stacks"))?;
        for (i, s) in stacks.iter().enumerate() {
            let name = field(s, "StackName")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Error::input(
                        &origin,
                        format!("$.Stacks[{i}].StackName"),
                        "expected a string",
                    )
                })?;
            if let Some(g) = Naming::match_template(&naming.stack, name) {
                out.insert(g.to_string(), s.clone());
            }
        }
    }
    Ok(out)
}

/// A parameter of a deployment stack (`Parameters[].ParameterKey`).
fn stack_parameter(stack: &Value, key: &str) -> Option<String> {
    field(stack, "Parameters")?
        .as_array()?
        .iter()
        .find(|p| field(p, "ParameterKey").and_then(Value::as_str) == Some(key))
        .and_then(|p| field(p, "ParameterValue")?.as_str())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Where a table's rows come from, for error messages.
fn origin_of(table: TableId) -> &'static str {
    let t = table.def();
    let read = t.resolver.reads().first().map(|c| c.call.action);
    read.or(t.calls.first().map(|c| c.action)).unwrap_or(t.name)
}

/// Collects one account/region into `w`, and returns each group's items of
/// the tables that back up (when `backups` is set), for [`crate::backup`]
/// to write once the group has committed. Errors confined to a group fail
/// that group; anything else fails the account/region. Never returns early
/// with partial commits: the caller's [`Router::finish`] decides what
/// becomes visible.
/// `history` is what the destination holds of the groups' backups.
pub fn collect_scope(
    inputs: &dyn ScopeInputs,
    w: &mut Router,
    naming: &Naming,
    now_ms: i64,
    backups: bool,
    history: Option<&dyn BackupHistory>,
) -> Vec<GroupItems> {
    let mut items = Vec::new();
    let wanted = backups.then_some(&mut items);
    if let Err(e) = collect_inner(inputs, w, naming, now_ms, wanted, history) {
        w.fail_scope(e);
    }
    items
}

fn collect_inner(
    inputs: &dyn ScopeInputs,
    w: &mut Router,
    naming: &Naming,
    now_ms: i64,
    mut backups: Option<&mut Vec<GroupItems>>,
    history: Option<&dyn BackupHistory>,
) -> Result<(), Error> {
    let stacks = stacks_by_group(inputs.values(&DESCRIBE_STACKS)?, naming)?;
    for g in stacks.keys() {
        w.group(
            g,
            &format!(
                "CloudFormation stack name {}",
                Naming::expand(&naming.stack, g)
            ),
        );
    }
    for (origin, page) in inputs.values(&LIST_TABLES)? {
        let names = field(&page, "TableNames")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::input(&origin, "$.TableNames", "expected an array of names"))?;
        for t in names.iter().filter_map(Value::as_str) {
            if let Some(g) = Naming::match_template(&naming.configuration_table, t) {
                w.group(g, &format!("DynamoDB table name {t}"));
            }
        }
    }
    let only_backups = !w.writes_tables();
    // Pages first, in registry order: they find more groups (by tag), and
    // a table routed through another's rows comes after it.
    if !only_backups {
        for id in TableId::ALL {
            if let Resolver::Pages { call, .. } = id.def().resolver {
                inputs.pages(call, &mut |doc| stream_page(w, id, doc))?;
                w.flush_routed();
            }
        }
    }
    let ctx = ScopeContext {
        inputs,
        naming,
        stacks: &stacks,
        now_ms,
        backups: history,
    };
    let mut per_group = Vec::new();
    if !only_backups {
        for id in TableId::ALL {
            if let Resolver::PerGroup { prepare, .. } = id.def().resolver {
                per_group.push((id, prepare(&ctx)?));
            }
        }
    }
    let groups: Vec<(usize, String)> = w.groups().map(|(i, g)| (i, g.to_string())).collect();
    for (gi, g) in groups {
        let mut key_values = BTreeMap::new();
        for id in TableId::ALL {
            let Resolver::GroupItems { template, extra } = id.def().resolver else {
                continue;
            };
            let name = Naming::expand(template(naming), &g);
            match inputs.answer(&SCAN, &name) {
                Ok(Some(doc)) => {
                    let origin = doc.origin.clone();
                    match doc
                        .into_value()
                        .and_then(|v| key_value_rows(&origin, &v, extra))
                    {
                        Ok(rows) => {
                            let kind = Kind::of_table(id.def().name);
                            if let (Some(b), Some(kind)) = (backups.as_deref_mut(), kind) {
                                b.push(GroupItems {
                                    group: g.clone(),
                                    kind,
                                    items: key_value_items(&rows),
                                    expires: expirations(&rows),
                                    timezone: stacks
                                        .get(&g)
                                        .and_then(|s| stack_parameter(s, "TimeZone")),
                                });
                            }
                            if !only_backups {
                                w.append_group(id, gi, &origin, &rows);
                                key_values.insert(id.def().name, rows);
                            }
                        }
                        Err(e) => w.fail_group(gi, e),
                    }
                }
                Ok(None) => w.fail_group(
                    gi,
                    Error::input(
                        format!("{}/DynamoDB", w.scope()),
                        name.clone(),
                        "table not found",
                    ),
                ),
                Err(e) => w.fail_group(gi, e),
            }
        }
        if only_backups {
            continue;
        }
        let subfleets = w.subfleets(gi);
        let group = GroupContext {
            name: &g,
            subfleets: &subfleets,
            key_values: &key_values,
        };
        for (id, resolver) in &per_group {
            match resolver.rows(&ctx, &group) {
                Ok(rows) => w.append_group(*id, gi, origin_of(*id), &rows),
                Err(e) => w.fail_group(gi, e),
            }
        }
    }
    Ok(())
}

/// Collects the tables filled once per account ([`Resolver::PerAccount`])
/// into the account's partition of `sink`, and commits it. Called once
/// every region of the account is collected, with the groups found in them.
pub fn collect_account(
    inputs: &dyn AccountInputs,
    mut sink: PartitionWriter,
    groups: &[FoundGroup],
    regions: &[String],
    now_ms: i64,
) -> Written {
    let account: &PartitionValue = inputs.accountid();
    let part = sink.open(PartitionKey::Account(account.clone()));
    let ctx = AccountContext {
        inputs,
        groups,
        regions,
        now_ms,
    };
    for id in TableId::ALL {
        let Resolver::PerAccount { rows } = id.def().resolver else {
            continue;
        };
        let batch = rows(&ctx).and_then(|rows| {
            let mut b = crate::record::RowBuilder::new(id.def(), now_ms, &[]);
            for (i, v) in rows.iter().enumerate() {
                b.append_value(v).map_err(|e| {
                    let path = format!("$[{i}]{}", &e.path[1..]);
                    Error::input(
                        format!("{} of account {account}", origin_of(id)),
                        path,
                        e.message,
                    )
                })?;
            }
            Ok(b.finish())
        });
        match batch {
            Ok(batch) => {
                sink.write(part, id.schema(), &batch, Some(0));
                sink.close(part, id.schema());
            }
            Err(e) => sink.fail(part, e),
        }
    }
    sink.commit()
}

/// Whether any table is filled once per account.
pub fn has_account_tables() -> bool {
    TableId::ALL
        .iter()
        .any(|t| matches!(t.def().resolver, Resolver::PerAccount { .. }))
}
