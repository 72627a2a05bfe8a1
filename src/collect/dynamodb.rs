//! DynamoDB items (typed JSON, as `aws dynamodb scan` prints them) → rows.
//!
//! Owns the conversion from `{"Key": {"S": "…"}}` items to the plain
//! key/value records of the `configuration` and `scheduler` tables.

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::tables::TableId;

/// Converts one typed attribute value to plain JSON. Sets become arrays,
/// numbers stay exact (as JSON numbers when they fit, else strings), binary stays base64.
pub fn plain(attr: &Value) -> Result<Value, String> {
    let obj = attr
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or("expected a typed attribute like {\"S\": ...}")?;
    let (ty, v) = obj.iter().next().unwrap();
    Ok(match ty.as_str() {
        "S" | "B" => Value::String(
            v.as_str()
                .ok_or(format!("{ty} must be a string"))?
                .to_string(),
        ),
        "N" => {
            let s = v.as_str().ok_or("N must be a string")?;
            match s.parse::<i64>() {
                Ok(i) => json!(i),
                Err(_) => s
                    .parse::<f64>()
                    .map(|f| json!(f))
                    .map_err(|_| format!("N {s:?} is not a number"))?,
            }
        }
        "BOOL" => Value::Bool(v.as_bool().ok_or("BOOL must be a boolean")?),
        "NULL" => Value::Null,
        "SS" | "NS" | "BS" => v.clone(),
        "L" => Value::Array(
            v.as_array()
                .ok_or("L must be an array")?
                .iter()
                .map(plain)
                .collect::<Result<_, _>>()?,
        ),
        "M" => {
            let m = v.as_object().ok_or("M must be an object")?;
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.clone(), plain(v)?);
            }
            Value::Object(out)
        }
        other => return Err(format!("unknown DynamoDB type {other:?}")),
    })
}

/// Renders a plain value as the text stored in a `value` column.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The rows of the configuration or scheduler table from a scan output.
pub fn key_value_rows(origin: &str, scan: &Value, table: TableId) -> Result<Vec<Value>, Error> {
    let items = scan
        .get("Items")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::input(origin, "$.Items", "expected an array of items"))?;
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("$.Items[{i}]{field}");
        let obj = item
            .as_object()
            .ok_or_else(|| Error::input(origin, at(""), "expected an object"))?;
        let get = |name: &str| -> Result<Option<Value>, Error> {
            obj.get(name)
                .map(plain)
                .transpose()
                .map_err(|m| Error::input(origin, at(&format!(".{name}")), m))
        };
        let key = match get("Key")? {
            Some(Value::String(k)) => k,
            _ => {
                return Err(Error::input(
                    origin,
                    at(".Key"),
                    "every item needs a string Key",
                ))
            }
        };
        let mut row = json!({ "key": key, "value": get("Value")?.as_ref().and_then(as_text) });
        if table == TableId::Scheduler {
            if let Some(exp) = get("ExpirationTime")? {
                row["expirationtime"] = exp;
            }
        }
        rows.push(row);
    }
    rows.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    Ok(rows)
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
        let rows = key_value_rows("f.json", &scan, TableId::Scheduler).unwrap();
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
        let e = key_value_rows("scan.json", &scan, TableId::Configuration)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("scan.json") && e.contains("$.Items[1].Key"),
            "{e}"
        );
        let e = key_value_rows(
            "scan.json",
            &json!({"Items": [{"Key": {"Q": "a"}}]}),
            TableId::Configuration,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown DynamoDB type"), "{e}");
        assert!(key_value_rows("s", &json!({"Count": 0}), TableId::Configuration).is_err());
    }
}
