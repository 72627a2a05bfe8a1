//! `fleetcmdb plan`: the organization listed once, cut into batches, for
//! a distributed export (a Step Functions Distributed Map, AWS Batch).
//!
//! Owns the plan's layout: `batch-NNNN.json` (`{"batch", "accounts": [the
//! `Account` of each, as `ListAccounts` gives it]}`), `batches.json` (the
//! items a Distributed Map iterates: `[{"batch", "plan": URL}]`), and
//! `plan.json`, written last: every account id, the batch count, and
//! `"listing": "complete"`. `prune --departed --plan` trusts a listing only
//! through that file.

use serde_json::{json, Value};

use crate::error::{Error, ExitCode};
use crate::settings::PlanSettings;
use crate::sink;
use crate::sources::aws::{Accounts, AwsSource, OrgTree};
use crate::sources::Source;

/// Name of batch `i` in a plan.
pub fn batch_name(i: usize) -> String {
    format!("batch-{i:04}.json")
}

pub fn run(s: &PlanSettings) -> Result<ExitCode, Error> {
    let dest = sink::open(&s.out, &s.conn)?;
    dest.healthcheck()?;
    let source = AwsSource::new(s.source.clone())?;
    // A listing that fails writes nothing: an old plan stays as it was.
    let mut accounts = source.listing()?;
    // The tree, walked once, gives each account its parent and OU path, and
    // each batch the units above its accounts: the exports ask no
    // ListParents, and no unit's look-ups once per batch.
    let mut notes = Vec::new();
    let tree = match s.source.accounts {
        Accounts::Org => match source.tree() {
            Ok(t) => Some(t),
            Err(e) => {
                notes.push(format!(
                    "{e}; the batches hold no parents, so each export asks ListParents"
                ));
                None
            }
        },
        _ => None,
    };
    if let Some(t) = &tree {
        for a in &mut accounts {
            let Some(id) = a.get("Id").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            if let (Some(p), Some(o)) = (t.accounts.get(&id), a.as_object_mut()) {
                o.insert("Parents".into(), p["Parents"].clone());
                o.insert("OuPath".into(), ou_path(t, p).into());
            }
        }
    }
    let url = dest.url();
    let batches: Vec<&[Value]> = accounts.chunks(s.batch_size).collect();
    let mut items = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        let units = tree.as_ref().map(|t| units_above(t, b));
        let doc = json!({"batch": i, "accounts": b, "units": units});
        dest.put(&batch_name(i), doc.to_string().as_bytes())?;
        items.push(json!({"batch": i, "plan": format!("{url}/{}", batch_name(i))}));
    }
    // Batches of an earlier, larger plan in the same folder go.
    for p in dest.list("")? {
        let stale = p.starts_with("batch-")
            && p.ends_with(".json")
            && !p.contains('/')
            && p[6..p.len() - 5]
                .parse::<usize>()
                .is_ok_and(|n| n >= batches.len());
        if stale {
            dest.delete(&p)?;
        }
    }
    dest.put("batches.json", Value::from(items).to_string().as_bytes())?;
    let ids: Vec<&str> = accounts
        .iter()
        .filter_map(|a| a.get("Id").and_then(Value::as_str))
        .collect();
    let summary = json!({
        "listing": "complete",
        "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "accounts": ids.len(),
        "batches": batches.len(),
        "batch_size": s.batch_size,
        "account_ids": ids,
        // Only a listing of the whole organization says who has left it.
        "members": source.members_listed(),
        "notes": source.notes().into_iter().chain(notes).collect::<Vec<_>>(),
        "api_calls": source.api_calls(),
    });
    dest.put(
        "plan.json",
        serde_json::to_vec_pretty(&summary)
            .expect("json")
            .as_slice(),
    )?;
    if s.json {
        let mut short = summary.clone();
        let o = short.as_object_mut().expect("object");
        o.remove("account_ids");
        o.remove("members");
        crate::outln!("{}", serde_json::to_string_pretty(&short).expect("json"));
    }
    eprintln!(
        "fleetcmdb plan: {} accounts in {} batches of at most {} under {url}",
        ids.len(),
        batches.len(),
        s.batch_size
    );
    Ok(ExitCode::Success)
}

/// Every member of the organization, from a plan's listing (`plan.json`)
/// of the whole organization; an error for any other plan. The plan is
/// checked whole before anything may be deleted on its word: every member
/// is a 12-digit account id, listed once; its `account_ids` are members
/// and number `accounts`; and its batches hold exactly those accounts.
pub fn listed_members(plan_dir: &str, conn: &sink::Connection) -> Result<Vec<String>, Error> {
    let dest = sink::open(plan_dir, conn)?;
    let what = format!("{}/plan.json", dest.url());
    let doc: Value = serde_json::from_slice(&dest.read("plan.json", MAX_PLAN_BYTES)?)
        .map_err(|e| Error::input(&what, format!("line {}", e.line()), e))?;
    if doc.get("listing").and_then(Value::as_str) != Some("complete") {
        return Err(Error::input(
            &what,
            "$.listing",
            "the plan's listing is not marked complete: refusing to treat accounts as departed",
        ));
    }
    let ids = doc.get("members").and_then(Value::as_array).ok_or_else(|| {
        Error::input(
            &what,
            "$.members",
            "the plan did not list the whole organization (--org without --include-ous): it cannot say which accounts left",
        )
    })?;
    let members = account_list(&what, "$.members", ids)?;
    let listed = doc
        .get("account_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::input(&what, "$.account_ids", "missing: the plan is not whole"))?;
    let listed = account_list(&what, "$.account_ids", listed)?;
    if doc.get("accounts").and_then(Value::as_u64) != Some(listed.len() as u64) {
        return Err(Error::input(
            &what,
            "$.accounts",
            format!(
                "says {} accounts but account_ids lists {}: the plan disagrees with itself",
                doc.get("accounts").unwrap_or(&Value::Null),
                listed.len()
            ),
        ));
    }
    let member_set: std::collections::BTreeSet<&str> = members.iter().map(String::as_str).collect();
    if let Some(stray) = listed.iter().find(|a| !member_set.contains(a.as_str())) {
        return Err(Error::input(
            &what,
            "$.account_ids",
            format!(
                "{stray} is exported but not among the members: the plan disagrees with itself"
            ),
        ));
    }
    let batches = doc
        .get("batches")
        .and_then(Value::as_u64)
        .filter(|n| *n <= MAX_BATCHES)
        .ok_or_else(|| {
            Error::input(
                &what,
                "$.batches",
                format!("not a count of batches from 0 to {MAX_BATCHES}"),
            )
        })?;
    let mut in_batches = std::collections::BTreeSet::new();
    for i in 0..batches as usize {
        let name = batch_name(i);
        let bwhat = format!("{}/{name}", dest.url());
        let b: Value = serde_json::from_slice(&dest.read(&name, MAX_PLAN_BYTES)?)
            .map_err(|e| Error::input(&bwhat, format!("line {}", e.line()), e))?;
        let accounts = b
            .get("accounts")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::input(&bwhat, "$.accounts", "missing: the plan is not whole"))?;
        for (k, a) in accounts.iter().enumerate() {
            let id = a
                .get("Id")
                .and_then(Value::as_str)
                .filter(|s| crate::partition::is_account_id(s));
            let Some(id) = id else {
                return Err(Error::input(
                    &bwhat,
                    format!("$.accounts[{k}].Id"),
                    "not a 12-digit account id",
                ));
            };
            in_batches.insert(id.to_string());
        }
    }
    let listed_set: std::collections::BTreeSet<String> = listed.into_iter().collect();
    if in_batches != listed_set {
        let odd = in_batches
            .symmetric_difference(&listed_set)
            .next()
            .cloned()
            .unwrap_or_default();
        return Err(Error::input(
            &what,
            "$.account_ids",
            format!(
                "the batches and account_ids disagree (on {odd}, for one): the plan is not whole"
            ),
        ));
    }
    Ok(members)
}

/// The largest `plan.json` or batch file read.
const MAX_PLAN_BYTES: u64 = 64 << 20;
/// The most batches a plan may name.
const MAX_BATCHES: u64 = 100_000;

/// A list of account ids, each checked, none twice; errors name the index.
fn account_list(what: &str, path: &str, list: &[Value]) -> Result<Vec<String>, Error> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let id = v
            .as_str()
            .filter(|s| crate::partition::is_account_id(s))
            .ok_or_else(|| {
                Error::input(
                    what,
                    format!("{path}[{i}]"),
                    format!(
                        "{} is not a 12-digit account id: refusing the whole plan",
                        crate::output::escape_controls(&v.to_string())
                    ),
                )
            })?;
        if !seen.insert(id) {
            return Err(Error::input(
                what,
                format!("{path}[{i}]"),
                format!("{id} is listed twice"),
            ));
        }
        out.push(id.to_string());
    }
    Ok(out)
}

/// The first parent of a `ListParents`-shaped document, as `(id, type)`.
fn first_parent(doc: &Value) -> Option<(&str, &str)> {
    let p = doc.get("Parents")?.get(0)?;
    Some((p.get("Id")?.as_str()?, p.get("Type")?.as_str()?))
}

/// The units above `doc` (a `ListParents`-shaped document, or an account
/// carrying its `Parents`), nearest first: at most 8, as the accounts
/// table walks.
fn units_up<'t>(t: &'t OrgTree, doc: &Value) -> Vec<(&'t str, &'t Value)> {
    let mut out = Vec::new();
    let mut next = first_parent(doc);
    for _ in 0..8 {
        let Some((id, "ORGANIZATIONAL_UNIT")) = next else {
            break;
        };
        let Some((id, unit)) = t.units.get_key_value(id) else {
            break;
        };
        out.push((id.as_str(), unit));
        next = first_parent(unit);
    }
    out
}

/// `Root/Workloads/Production`: the units from the root down to an account
/// whose parents are `parents`.
fn ou_path(t: &OrgTree, parents: &Value) -> String {
    let mut names: Vec<&str> = units_up(t, parents)
        .into_iter()
        .map(|(id, unit)| unit["OrganizationalUnit"]["Name"].as_str().unwrap_or(id))
        .collect();
    names.push("Root");
    names.reverse();
    names.join("/")
}

/// The units above a batch's accounts, by id.
fn units_above(t: &OrgTree, accounts: &[Value]) -> serde_json::Map<String, Value> {
    accounts
        .iter()
        .flat_map(|a| units_up(t, a))
        .map(|(id, unit)| (id.to_string(), unit.clone()))
        .collect()
}
