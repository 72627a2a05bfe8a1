//! The backup file format: a YAML mapping of key to value, keys sorted,
//! every scalar double-quoted, behind a header whose SHA-256 covers every
//! byte of the body, so the checksum travels with the file atomically.

use std::collections::BTreeMap;
use std::io::Write;

use sha2::{Digest, Sha256};

use crate::error::Error;

/// A YAML double-quoted scalar that reads back as exactly `s`. JSON's
/// escaping is valid YAML, but leaves as they are characters YAML reads
/// otherwise: it folds U+0085, U+2028 and U+2029 as line breaks and does
/// not allow DEL, C1 controls or U+FFFE/U+FFFF. Those are escaped too.
/// (Hand-written rather than a YAML emitter: the bytes, and so the
/// checksum, stay the same from version to version.)
fn quote(s: &str) -> String {
    let json = serde_json::to_string(s).expect("strings serialise");
    if let std::borrow::Cow::Owned(escaped) = crate::output::escape_where(
        &json,
        |c| {
            matches!(
                c,
                '\u{7f}'
                    ..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            )
        },
        |c| format!("\\u{:04x}", c as u32),
    ) {
        return escaped;
    }
    json
}

/// The longest key, in bytes of its quoted form, written as a plain
/// `"key": value` line: libyaml refuses implicit keys over 1024 (it counts
/// bytes, so 300 four-byte characters are already too many); longer ones
/// are written as explicit keys (`? "key"` then `: value`).
const IMPLICIT_KEY_MAX: usize = 1000;

/// A value as the backup writes it (and as `restore` shows it): a
/// double-quoted string, or `null`.
pub fn scalar(v: &Option<String>) -> String {
    v.as_deref().map(quote).unwrap_or_else(|| "null".into())
}

/// The backup file of `items` (key → value; `None` is YAML null).
pub fn render(what: &str, ts: &str, items: &BTreeMap<String, Option<String>>) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in items {
        let key = quote(k);
        if key.len() > IMPLICIT_KEY_MAX {
            let _ = writeln!(body, "? {key}\n: {}", scalar(v));
        } else {
            let _ = writeln!(body, "{key}: {}", scalar(v));
        }
    }
    if items.is_empty() {
        body.extend_from_slice(b"{}\n");
    }
    let digest = hex::encode(Sha256::digest(&body));
    let mut out = format!("# fleetcmdb backup: {what} at {ts}\n# sha256: {digest}\n").into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Checks the embedded digest; returns the body. `origin` names the file in errors.
pub fn verified_body<'a>(origin: &str, data: &'a [u8]) -> Result<&'a [u8], Error> {
    let bad = |m: &str| Error::input(origin, "line 2", m);
    let missing =
        || bad("missing '# sha256: …' line: not a fleetcmdb backup, or its header was edited");
    let first = data.iter().position(|b| *b == b'\n').ok_or_else(missing)?;
    let rest = &data[first + 1..];
    let second = rest.iter().position(|b| *b == b'\n').ok_or_else(missing)?;
    let line = std::str::from_utf8(&rest[..second]).map_err(|_| missing())?;
    let want = line.strip_prefix("# sha256: ").ok_or_else(missing)?;
    let body = &rest[second + 1..];
    let got = hex::encode(Sha256::digest(body));
    if got != want {
        return Err(bad(&format!(
            "checksum mismatch: the file says sha256 {want}, its content has {got}"
        )));
    }
    Ok(body)
}
