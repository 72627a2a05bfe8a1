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
use crate::plans::batch_name;
use crate::settings::PlanSettings;
use crate::sink;
use crate::sources::aws::{Accounts, AwsSource, OrgTree};
use crate::sources::Source;

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
