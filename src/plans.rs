//! A plan: the organization listed once, cut into batches (what `plan`
//! writes, and `export --plan` and `prune --departed --plan` read).
//!
//! Owns the plan's layout and its reading:
//!
//! ```text
//! batch-NNNN.json   {"batch", "accounts": [the Account of each, as ListAccounts gives it], "units"}
//! batches.json      the items a Distributed Map iterates: [{"batch", "plan": URL}]
//! plan.json         every account id, the batch count, "listing": "complete"; written last
//! ```

use serde_json::Value;

use crate::error::Error;
use crate::sink::{self, Connection};

/// The largest `plan.json` or batch file read.
const MAX_PLAN_BYTES: u64 = 64 << 20;

/// Name of batch `i` in a plan.
pub fn batch_name(i: usize) -> String {
    format!("batch-{i:04}.json")
}

/// A plan's batch: its accounts, and the units above them by id.
pub type PlanBatch = (Vec<Value>, Vec<(String, Value)>);

/// The accounts of a plan's batch file (each an `Account` as `ListAccounts`
/// gave it, with a 12-digit `Id`) and the units above them.
pub fn read_batch(url: &str, conn: &Connection) -> Result<PlanBatch, Error> {
    if !url.trim_end_matches('/').contains('/') {
        return Err(Error::Usage(format!(
            "--plan {url:?}: expected a folder and a file name"
        )));
    }
    // Reading makes no folder: a missing local one is not found.
    let (dest, name) = crate::sink::open_file(url, conn)?;
    let data = dest.read(&name, MAX_PLAN_BYTES)?;
    // serde_json stops at 128 levels of nesting: a depth limit of its own.
    let doc: Value = serde_json::from_slice(&data)
        .map_err(|e| Error::input(url, format!("line {} column {}", e.line(), e.column()), e))?;
    let accounts = doc
        .get("accounts")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::input(
                url,
                "$.accounts",
                "expected the array of the batch's accounts",
            )
        })?;
    for (i, a) in accounts.iter().enumerate() {
        let id = a.get("Id").and_then(Value::as_str).unwrap_or_default();
        if !crate::partition::is_account_id(id) {
            return Err(Error::input(
                url,
                format!("$.accounts[{i}].Id"),
                "expected a 12-digit account id",
            ));
        }
    }
    let units = match doc.get("units") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => {
            return Err(Error::input(
                url,
                "$.units",
                "expected an object of units by id",
            ))
        }
    };
    Ok((accounts.clone(), units))
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
