//! The discovery row of a group: its stack's parameters and outputs, its
//! account's Organizations record, and what the instances told us.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{Doc, Naming};
use crate::error::Error;
use crate::record::parse_timestamp_ms;

/// Stacks whose names match the stack template, by group.
pub fn stacks_by_group(pages: Vec<Doc>, naming: &Naming) -> Result<BTreeMap<String, Value>, Error> {
    let mut out = BTreeMap::new();
    for doc in pages {
        let origin = doc.origin.clone();
        let v = doc.into_value()?;
        let stacks = v
            .get("Stacks")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::input(&origin, "$.Stacks", "expected an array of stacks"))?;
        for (i, s) in stacks.iter().enumerate() {
            let name = s.get("StackName").and_then(Value::as_str).ok_or_else(|| {
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

fn pairs<'v>(
    stack: &'v Value,
    list: &str,
    k: &str,
    v: &str,
) -> impl Iterator<Item = (&'v str, &'v Value)> {
    let k = k.to_string();
    let v = v.to_string();
    stack
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |p| Some((p.get(&k)?.as_str()?, p.get(&v).unwrap_or(&Value::Null))))
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
            stack.get("StackName").cloned().unwrap_or_default(),
        );
        rec.insert(
            "stackstatus".into(),
            stack.get("StackStatus").cloned().unwrap_or_default(),
        );
        if !rec.contains_key("installtime") {
            if let Some(t) = stack.get("CreationTime") {
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
    if let Some(acct) = account.and_then(|a| a.get("Account")) {
        for (col, field) in [
            ("accountarn", "Arn"),
            ("accountemail", "Email"),
            ("accountname", "Name"),
            ("accountstatus", "Status"),
            ("accountjoinedmethod", "JoinedMethod"),
            ("accountjoinedtimestamp", "JoinedTimestamp"),
        ] {
            if let Some(v) = acct.get(field) {
                rec.insert(col.into(), v.clone());
            }
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
        let bare = row(None, None, &[]);
        assert_eq!(bare["parameters"], json!({}));
    }
}
