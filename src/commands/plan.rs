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
use crate::sources::aws::AwsSource;
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
    let accounts = source.listing()?;
    let url = dest.url();
    let batches: Vec<&[Value]> = accounts.chunks(s.batch_size).collect();
    let mut items = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        let doc = json!({"batch": i, "accounts": b});
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
        "notes": source.notes(),
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
/// of the whole organization; an error for any other plan.
pub fn listed_members(plan_dir: &str, conn: &sink::Connection) -> Result<Vec<String>, Error> {
    let dest = sink::open(plan_dir, conn)?;
    let what = format!("{}/plan.json", dest.url());
    let doc: Value = serde_json::from_slice(&dest.read("plan.json", 64 << 20)?)
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
    Ok(ids
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect())
}
