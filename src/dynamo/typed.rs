//! DynamoDB typed JSON (`{"S": "…"}`, `{"N": "…"}`, …), the one place that
//! reads and writes it.
//!
//! Owns the three conversions every path shares:
//! - SDK `AttributeValue` ⇄ typed JSON as `aws dynamodb scan` prints it
//!   (live collection and `backup-table` write it, `restore-table` reads it);
//! - typed JSON → the text of a `value` column and of a YAML backup.
//!
//! A DynamoDB number is a decimal string of up to 38 significant digits.
//! It stays that string everywhere: it is checked, never converted to a
//! float, so `12345678901234567890123456789012345678` and
//! `0.1234567890123456789` reach Parquet, backups and restores unchanged.

use std::collections::HashMap;
use std::fmt::Write as _;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::base64;
use serde_json::{Map, Value};

pub type Item = HashMap<String, AttributeValue>;

/// Significant digits a DynamoDB number may have.
pub const MAX_DIGITS: usize = 38;

/// Checks that `s` is a number DynamoDB accepts: decimal, with an optional
/// sign, fraction and exponent; at most 38 significant digits; magnitude
/// between 1E-130 and 1E+126 (or zero).
pub fn check_number(s: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("N {s:?} is not a DynamoDB number: {why}"));
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        &b[start..*i]
    };
    let int = digits(&mut i);
    let frac = if b.get(i) == Some(&b'.') {
        i += 1;
        digits(&mut i)
    } else {
        &[][..]
    };
    if int.is_empty() && frac.is_empty() {
        return bad("no digits");
    }
    let mut exp: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let neg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let e = digits(&mut i);
        if e.is_empty() || e.len() > 6 {
            return bad("bad exponent");
        }
        exp = e.iter().fold(0, |a, d| a * 10 + i64::from(d - b'0'));
        if neg {
            exp = -exp;
        }
    }
    if i != b.len() {
        return bad("unexpected characters");
    }
    let all: Vec<u8> = int.iter().chain(frac).copied().collect();
    let Some(lead) = all.iter().position(|d| *d != b'0') else {
        return Ok(()); // zero
    };
    let last = all
        .iter()
        .rposition(|d| *d != b'0')
        .expect("a non-zero digit");
    if last - lead + 1 > MAX_DIGITS {
        return bad("more than 38 significant digits");
    }
    let magnitude = int.len() as i64 - 1 - lead as i64 + exp;
    if !(-130..=125).contains(&magnitude) {
        return bad("out of range (1E-130 to 9.99E+125)");
    }
    Ok(())
}

/// A checked number as a JSON number literal with the same value: a `+`
/// sign, leading zeros and a bare `.` are what JSON does not allow.
fn json_number(s: &str) -> String {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => ("-", &s[1..]),
        Some(b'+') => ("", &s[1..]),
        _ => ("", s),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int = int.trim_start_matches('0');
    let mut out = String::with_capacity(s.len() + 1);
    out.push_str(sign);
    out.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out.push_str(exp);
    out
}

fn one(v: &Value) -> Result<(&str, &Value), String> {
    let obj = v
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or("expected a typed attribute like {\"S\": ...}")?;
    let (ty, v) = obj.iter().next().expect("one entry");
    Ok((ty.as_str(), v))
}

fn text<'v>(ty: &str, v: &'v Value) -> Result<&'v str, String> {
    v.as_str().ok_or(format!("{ty} must be a string"))
}

fn list<'v>(ty: &str, v: &'v Value) -> Result<&'v Vec<Value>, String> {
    v.as_array().ok_or(format!("{ty} must be an array"))
}

/// The text a `value` column and a YAML backup hold for a typed attribute:
/// strings as they are, numbers as their exact decimal text, binary as its
/// base64, booleans as `true`/`false`, NULL as none, and lists, maps and
/// sets as compact JSON (numbers inside exact too).
pub fn value_text(attr: &Value) -> Result<Option<String>, String> {
    let (ty, v) = one(attr)?;
    Ok(match ty {
        "S" | "B" => Some(text(ty, v)?.to_string()),
        "N" => {
            let n = text(ty, v)?;
            check_number(n)?;
            Some(n.to_string())
        }
        "BOOL" => Some(v.as_bool().ok_or("BOOL must be a boolean")?.to_string()),
        "NULL" => None,
        _ => {
            let mut out = String::new();
            write_json(attr, &mut out)?;
            Some(out)
        }
    })
}

/// A typed numeric attribute as a JSON number (an integer when it is one),
/// for columns of a numeric or timestamp type; other types as plain JSON.
pub fn value_json(attr: &Value) -> Result<Value, String> {
    let (ty, v) = one(attr)?;
    match ty {
        "N" => {
            let n = text(ty, v)?;
            check_number(n)?;
            Ok(match n.parse::<i64>() {
                Ok(i) => Value::from(i),
                Err(_) => {
                    serde_json::from_str(&json_number(n)).map_err(|e| format!("N {n:?}: {e}"))?
                }
            })
        }
        "NULL" => Ok(Value::Null),
        "BOOL" => Ok(v.clone()),
        _ => Ok(value_text(attr)?.map(Value::String).unwrap_or_default()),
    }
}

fn write_json(attr: &Value, out: &mut String) -> Result<(), String> {
    let quoted = |s: &str, out: &mut String| {
        out.push_str(&serde_json::to_string(s).expect("a string serializes"));
    };
    let (ty, v) = one(attr)?;
    match ty {
        "S" | "B" => quoted(text(ty, v)?, out),
        "N" => {
            let n = text(ty, v)?;
            check_number(n)?;
            out.push_str(&json_number(n));
        }
        "BOOL" => {
            let _ = write!(out, "{}", v.as_bool().ok_or("BOOL must be a boolean")?);
        }
        "NULL" => out.push_str("null"),
        "SS" | "NS" | "BS" => {
            out.push('[');
            for (i, e) in list(ty, v)?.iter().enumerate() {
                let s = text(ty, e)?;
                if ty == "NS" {
                    check_number(s)?;
                }
                if i > 0 {
                    out.push(',');
                }
                quoted(s, out);
            }
            out.push(']');
        }
        "L" => {
            out.push('[');
            for (i, e) in list(ty, v)?.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(e, out)?;
            }
            out.push(']');
        }
        "M" => {
            out.push('{');
            for (i, (k, e)) in v
                .as_object()
                .ok_or("M must be an object")?
                .iter()
                .enumerate()
            {
                if i > 0 {
                    out.push(',');
                }
                quoted(k, out);
                out.push(':');
                write_json(e, out)?;
            }
            out.push('}');
        }
        other => return Err(format!("unknown DynamoDB type {other:?}")),
    }
    Ok(())
}

/// Typed JSON → attribute value. The inverse of [`to_json`].
pub fn from_json(v: &Value) -> Result<AttributeValue, String> {
    let (ty, v) = one(v)?;
    let b = |v: &Value| -> Result<Blob, String> {
        base64::decode(text(ty, v)?)
            .map(Blob::new)
            .map_err(|e| format!("{ty}: bad base64: {e}"))
    };
    let n = |v: &Value| -> Result<String, String> {
        let n = text(ty, v)?;
        check_number(n)?;
        Ok(n.to_string())
    };
    let strings = |v: &Value| -> Result<Vec<String>, String> {
        list(ty, v)?
            .iter()
            .map(|e| text(ty, e).map(str::to_string))
            .collect()
    };
    Ok(match ty {
        "S" => AttributeValue::S(text(ty, v)?.to_string()),
        "N" => AttributeValue::N(n(v)?),
        "B" => AttributeValue::B(b(v)?),
        "BOOL" => AttributeValue::Bool(v.as_bool().ok_or("BOOL needs true or false")?),
        "NULL" => AttributeValue::Null(v.as_bool().unwrap_or(true)),
        "SS" => AttributeValue::Ss(strings(v)?),
        "NS" => AttributeValue::Ns(list(ty, v)?.iter().map(n).collect::<Result<_, _>>()?),
        "BS" => AttributeValue::Bs(list(ty, v)?.iter().map(b).collect::<Result<_, _>>()?),
        "L" => AttributeValue::L(
            list(ty, v)?
                .iter()
                .map(from_json)
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(
            v.as_object()
                .ok_or("M needs an object")?
                .iter()
                .map(|(k, v)| Ok((k.clone(), from_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("unknown DynamoDB type {other:?}")),
    })
}

/// A typed-JSON item → an item.
pub fn item_from_json(v: &Value) -> Result<Item, String> {
    v.as_object()
        .ok_or("an item must be an object")?
        .iter()
        .map(|(k, v)| Ok((k.clone(), from_json(v).map_err(|e| format!("{k}: {e}"))?)))
        .collect()
}

/// An attribute value in typed JSON, as `aws dynamodb scan` prints it. Lossless.
pub fn to_json(v: &AttributeValue) -> Value {
    use AttributeValue as A;
    let one = |k: &str, v: Value| Value::Object(Map::from_iter([(k.to_string(), v)]));
    match v {
        A::S(s) => one("S", Value::String(s.clone())),
        A::N(n) => one("N", Value::String(n.clone())),
        A::B(b) => one("B", Value::String(base64::encode(b.as_ref()))),
        A::Bool(b) => one("BOOL", Value::Bool(*b)),
        A::Null(b) => one("NULL", Value::Bool(*b)),
        A::Ss(v) => one("SS", v.iter().cloned().map(Value::String).collect()),
        A::Ns(v) => one("NS", v.iter().cloned().map(Value::String).collect()),
        A::Bs(v) => one(
            "BS",
            v.iter()
                .map(|b| Value::String(base64::encode(b.as_ref())))
                .collect(),
        ),
        A::L(l) => one("L", l.iter().map(to_json).collect()),
        A::M(m) => one("M", item_to_json(m)),
        _ => Value::Null,
    }
}

/// An item in typed JSON, keys sorted.
pub fn item_to_json(m: &Item) -> Value {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), to_json(&m[k])))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_every_digit() {
        for n in [
            "12345678901234567890123456789012345678",
            "0.1234567890123456789",
            "-99999999999999999999999999999999999999",
            "1E-130",
            "9.9999999999999999999999999999999999999E+125",
            "0",
            "-0.0",
        ] {
            assert_eq!(
                value_text(&json!({"N": n})).unwrap().as_deref(),
                Some(n),
                "{n}"
            );
            assert_eq!(
                from_json(&json!({"N": n})).unwrap(),
                AttributeValue::N(n.into())
            );
        }
        let nested = json!({"M": {"big": {"N": "12345678901234567890123456789012345678"},
            "l": {"L": [{"N": "0.1234567890123456789"}, {"N": "+.5"}, {"N": "007"}, {"N": "5."}]}}});
        let t = value_text(&nested).unwrap().unwrap();
        assert_eq!(
            t,
            r#"{"big":12345678901234567890123456789012345678,"l":[0.1234567890123456789,0.5,7,5]}"#
        );
        // Still JSON that a reader can parse.
        serde_json::from_str::<Value>(&t).unwrap();
    }

    #[test]
    fn what_dynamodb_refuses_is_refused() {
        for bad in [
            "",
            "-",
            "1.2.3",
            "0x10",
            "1e",
            "NaN",
            "Infinity",
            "123456789012345678901234567890123456789",
            "1E-131",
            "1E+126",
            " 1",
        ] {
            assert!(value_text(&json!({"N": bad})).is_err(), "{bad}");
            assert!(from_json(&json!({"N": bad})).is_err(), "{bad}");
        }
        // 38 significant digits with zeros around them are fine.
        check_number("000.00012345678901234567890123456789012345678000").unwrap();
    }

    #[test]
    fn every_type_has_a_text_and_round_trips_through_the_sdk_type() {
        let all = json!({
            "s": {"S": "x"}, "n": {"N": "1"}, "b": {"B": "AAEC"}, "t": {"BOOL": true},
            "z": {"NULL": true}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]},
            "bs": {"BS": ["AAE="]}, "l": {"L": [{"S": "a"}, {"NULL": true}]},
            "m": {"M": {"k": {"BOOL": false}}}
        });
        let it = item_from_json(&all).unwrap();
        assert_eq!(item_to_json(&it), all);
        let text = |k: &str| value_text(&all[k]).unwrap();
        assert_eq!(text("s").as_deref(), Some("x"));
        assert_eq!(text("b").as_deref(), Some("AAEC"));
        assert_eq!(text("t").as_deref(), Some("true"));
        assert_eq!(text("z"), None);
        assert_eq!(text("ns").as_deref(), Some(r#"["1","2.5"]"#));
        assert_eq!(text("l").as_deref(), Some(r#"["a",null]"#));
        assert_eq!(text("m").as_deref(), Some(r#"{"k":false}"#));
        assert_eq!(
            value_json(&json!({"N": "1700000000"})).unwrap(),
            json!(1700000000)
        );
        assert!(value_text(&json!({"Q": "a"}))
            .unwrap_err()
            .contains("unknown DynamoDB type"));
    }

    #[test]
    fn typed_json_round_trips_every_type() {
        let v = json!({
            "S": {"S": ""}, "N": {"N": "12345678901234567890123456789012345678"},
            "B": {"B": "AAEC/w=="}, "BOOL": {"BOOL": false}, "NULL": {"NULL": true},
            "SS": {"SS": ["a", ""]}, "NS": {"NS": ["1", "-0.5E10"]}, "BS": {"BS": ["AA==", "/w=="]},
            "L": {"L": [{"S": "x"}, {"M": {"k": {"N": "1"}}}]},
            "M": {"M": {"nested": {"L": []}, "e": {"S": ""}}}
        });
        let it = item_from_json(&v).unwrap();
        let back = item_to_json(&it);
        assert_eq!(back, v);
        assert!(item_from_json(&json!({"a": {"X": 1}}))
            .unwrap_err()
            .contains("a: unknown DynamoDB type"));
        assert!(item_from_json(&json!({"a": {"B": "!!"}}))
            .unwrap_err()
            .contains("base64"));
    }
}
