//! The discovery row of a group: its stack's parameters and outputs, its
//! account's Organizations record, and what the instances told us.

use serde_json::{json, Map, Value};

use crate::documents::{field, Doc};
use crate::error::Error;
use crate::time::parse_timestamp_ms;

/// Whether a DescribeContinuousBackups answer says PITR is on.
pub fn pitr_status(doc: Option<Doc>) -> Result<Option<bool>, Error> {
    let Some(doc) = doc else { return Ok(None) };
    let v = doc.into_value()?;
    Ok(v.pointer(
        "/ContinuousBackupsDescription/PointInTimeRecoveryDescription/PointInTimeRecoveryStatus",
    )
    .and_then(serde_json::Value::as_str)
    .map(|s| s == "ENABLED"))
}

fn pairs<'v>(
    stack: &'v Value,
    list: &str,
    k: &str,
    v: &str,
) -> impl Iterator<Item = (&'v str, &'v Value)> {
    let k = k.to_string();
    let v = v.to_string();
    field(stack, list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |p| {
            Some((
                field(p, &k)?.as_str()?,
                field(p, &v).unwrap_or(&Value::Null),
            ))
        })
}

/// The state of an Organizations account: `State` (`ACTIVE`, `SUSPENDED`,
/// `PENDING_CLOSURE`, `CLOSED`), or, from before `Status` was retired on
/// 2026-09-09, its `Status` (`ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`).
/// `None` when neither is present.
pub fn account_state(account: &Value) -> Option<&str> {
    field(account, "State")
        .and_then(Value::as_str)
        .or_else(|| field(account, "Status").and_then(Value::as_str))
}

/// The discovery record of one group (keys are column names).
pub fn row(stack: Option<&Value>, account: Option<&Value>, subfleets: &[String]) -> Value {
    let mut rec = Map::new();
    let mut params = Map::new();
    if let Some(stack) = stack {
        for (k, v) in pairs(stack, "Parameters", "ParameterKey", "ParameterValue").chain(pairs(
            stack,
            "Outputs",
            "OutputKey",
            "OutputValue",
        )) {
            let text = match v {
                Value::String(s) => Value::String(s.clone()),
                Value::Null => Value::Null,
                other => Value::String(other.to_string()),
            };
            params.insert(k.to_string(), text.clone());
            rec.insert(k.to_ascii_lowercase(), text);
        }
        rec.insert(
            "stackname".into(),
            field(stack, "StackName").cloned().unwrap_or_default(),
        );
        rec.insert(
            "stackstatus".into(),
            field(stack, "StackStatus").cloned().unwrap_or_default(),
        );
        if !rec.contains_key("installtime") {
            if let Some(t) = field(stack, "CreationTime") {
                rec.insert("installtime".into(), t.clone());
            }
        }
    }
    // A deployment value that is not a timestamp stays in `parameters` only.
    if rec
        .get("installtime")
        .and_then(Value::as_str)
        .is_some_and(|s| parse_timestamp_ms(s).is_none())
    {
        rec.remove("installtime");
    }
    let usermeta = rec
        .get("usersuppliedjsonmetadata")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| v.as_object().cloned())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.as_str()
                            .map(|s| Value::String(s.into()))
                            .unwrap_or(Value::String(v.to_string())),
                    )
                })
                .collect::<Map<_, _>>()
        });
    if let Some(acct) = account.and_then(|a| field(a, "Account")) {
        for (col, name) in [
            ("accountarn", "Arn"),
            ("accountemail", "Email"),
            ("accountname", "Name"),
            ("accountstatus", "Status"),
            ("accountjoinedmethod", "JoinedMethod"),
            ("accountjoinedtimestamp", "JoinedTimestamp"),
        ] {
            if let Some(v) = field(acct, name) {
                rec.insert(col.into(), v.clone());
            }
        }
        if let Some(state) = account_state(acct) {
            rec.insert("accountstate".into(), Value::String(state.into()));
        }
    }
    rec.insert("subfleets".into(), json!(subfleets));
    rec.insert("parameters".into(), Value::Object(params));
    if let Some(m) = usermeta {
        rec.insert("usermetadata".into(), Value::Object(m));
    }
    Value::Object(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_outputs_and_account_fill_the_row() {
        let stack = json!({
            "StackName": "CloneSquad-web", "StackStatus": "CREATE_COMPLETE",
            "CreationTime": "2024-01-01T00:00:00Z",
            "Parameters": [{"ParameterKey": "UserSuppliedJSONMetadata", "ParameterValue": "{\"team\":\"core\",\"n\":3}"},
                           {"ParameterKey": "Subfleets", "ParameterValue": "ignored-column-collision"}],
            "Outputs": [{"OutputKey": "CloneSquadVersion", "OutputValue": "v1.2"},
                        {"OutputKey": "InstallTime", "OutputValue": "not a time"}]
        });
        let acct = json!({"Account": {"Id": "1", "Name": "prod", "Email": "p@x", "JoinedTimestamp": 1.7e9}});
        let r = row(Some(&stack), Some(&acct), &["a".into()]);
        assert_eq!(r["clonesquadversion"], "v1.2");
        assert_eq!(
            r["subfleets"],
            json!(["a"]),
            "our columns win over colliding parameters"
        );
        assert_eq!(r["parameters"]["InstallTime"], "not a time");
        assert!(
            r.get("installtime").is_none(),
            "unparsable install time is left in parameters only"
        );
        assert_eq!(r["usermetadata"], json!({"team": "core", "n": "3"}));
        assert_eq!(r["accountname"], "prod");
        assert!(r.get("accountstate").is_none(), "no State nor Status");
        // The AWS CLI's own example spells it JoinedTimeStamp; State replaced Status.
        let acct = json!({"Account": {"Id": "1", "JoinedTimeStamp": 1481756563.134, "State": "SUSPENDED"}});
        let r = row(None, Some(&acct), &[]);
        assert_eq!(r["accountjoinedtimestamp"], 1481756563.134);
        assert_eq!(r["accountstate"], "SUSPENDED");
        assert!(r.get("accountstatus").is_none());
        let old = json!({"account": {"Status": "ACTIVE"}});
        let r = row(None, Some(&old), &[]);
        assert_eq!(
            (&r["accountstatus"], &r["accountstate"]),
            (&json!("ACTIVE"), &json!("ACTIVE"))
        );
        let stack = json!({"stackName": "CloneSquad-web", "PARAMETERS": [{"parameterKey": "TimeZone", "ParameterValue": "Europe/Paris"}]});
        let r = row(Some(&stack), None, &[]);
        assert_eq!(
            (&r["stackname"], &r["timezone"]),
            (&json!("CloneSquad-web"), &json!("Europe/Paris"))
        );
        let bare = row(None, None, &[]);
        assert_eq!(bare["parameters"], json!({}));
    }
}
