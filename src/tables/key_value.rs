//! DynamoDB items (typed JSON, as `aws dynamodb scan` prints them) → rows.
//!
//! Owns the conversion from `{"Key": {"S": "…"}}` items to the plain
//! key/value records of the tables filled by
//! [`super::Resolver::GroupItems`] (`configuration`, `scheduler`); the
//! typed values themselves are read by [`crate::dynamo::typed`].

use serde_json::{json, Value};

use crate::documents::field;
use crate::dynamo::typed;
use crate::error::Error;

/// The key/value rows of a scan output; `extra` as in
/// [`super::Resolver::GroupItems`].
pub fn key_value_rows(
    origin: &str,
    scan: &Value,
    extra: &[(&str, &str)],
) -> Result<Vec<Value>, Error> {
    let items = field(scan, "Items")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::input(origin, "$.Items", "expected an array of items"))?;
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("$.Items[{i}]{field}");
        let obj = item
            .as_object()
            .ok_or_else(|| Error::input(origin, at(""), "expected an object"))?;
        // Attribute names are data, matched exactly (CloneSquad's own).
        let bad = |name: &str, m: String| Error::input(origin, at(&format!(".{name}")), m);
        let key = match obj.get("Key").map(|k| (k, k.get("S"))) {
            Some((_, Some(Value::String(s)))) => s.clone(),
            // Not a typed value at all says why; a typed non-string says it is one.
            other => {
                let why = other.and_then(|(k, _)| typed::value_text(k).err());
                return Err(bad(
                    "Key",
                    why.unwrap_or_else(|| "every item needs a string Key".into()),
                ));
            }
        };
        let value = match obj.get("Value") {
            Some(v) => typed::value_text(v).map_err(|m| bad("Value", m))?,
            None => None,
        };
        let mut row = json!({ "key": key, "value": value });
        for (attribute, column) in extra {
            if let Some(v) = obj.get(*attribute) {
                row[*column] = typed::value_json(v).map_err(|m| bad(attribute, m))?;
            }
        }
        rows.push(row);
    }
    rows.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    Ok(rows)
}

/// key → value of key/value rows (as [`key_value_rows`] makes them).
pub fn items(rows: &[Value]) -> std::collections::BTreeMap<String, Option<String>> {
    rows.iter()
        .filter_map(|r| {
            let k = r.get("key")?.as_str()?.to_string();
            let v = r.get("value").and_then(|v| v.as_str()).map(str::to_string);
            Some((k, v))
        })
        .collect()
}

/// key → expiration (Unix milliseconds) of the key/value rows that have one
/// (DynamoDB TTL attributes hold seconds).
pub fn expirations(rows: &[Value]) -> std::collections::BTreeMap<String, i64> {
    rows.iter()
        .filter_map(|r| {
            let k = r.get("key")?.as_str()?.to_string();
            let secs = r.get("expirationtime")?.as_f64()?;
            Some((k, (secs * 1000.0) as i64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_items_become_rows() {
        let scan = json!({"Items": [
            {"Key": {"S": "b"}, "Value": {"S": "2"}},
            {"Key": {"S": "a"}, "Value": {"N": "1"}, "ExpirationTime": {"N": "1700000000"}},
            {"Key": {"S": "c"}},
            {"Key": {"S": "d"}, "Value": {"M": {"x": {"L": [{"BOOL": true}, {"NULL": true}]}}}}
        ], "Count": 4});
        let rows =
            key_value_rows("f.json", &scan, &[("ExpirationTime", "expirationtime")]).unwrap();
        assert_eq!(
            rows[0],
            json!({"key": "a", "value": "1", "expirationtime": 1700000000})
        );
        assert_eq!(rows[1]["value"], "2");
        assert!(rows[2]["value"].is_null());
        assert_eq!(rows[3]["value"], "{\"x\":[true,null]}");
    }

    #[test]
    fn bad_items_name_the_file_and_path() {
        let scan = json!({"Items": [{"Key": {"S": "a"}}, {"Value": {"S": "x"}}]});
        let e = key_value_rows("scan.json", &scan, &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("scan.json") && e.contains("$.Items[1].Key"),
            "{e}"
        );
        let e = key_value_rows("scan.json", &json!({"Items": [{"Key": {"Q": "a"}}]}), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown DynamoDB type"), "{e}");
        assert!(key_value_rows("s", &json!({"Count": 0}), &[]).is_err());
    }
}
