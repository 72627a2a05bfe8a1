//! The daemon's HTTP API.
//!
//! Owns the routes, their parameters and their answers:
//!
//! | method and path | answer |
//! |---|---|
//! | `POST /v1/backup`, `POST /v1/export` (`account`, `region`, `group`) | `202` with the run queued or joined |
//! | `GET /v1/status` | running and queued runs, the next scheduled run, the last ones |
//! | `GET /v1/runs/{id}` | one run: its record, or where it stands |
//! | `GET /healthz` | `200` while the daemon runs |
//! | `GET /metrics` | Prometheus text |
//!
//! With a token, every request needs `Authorization: Bearer {token}`
//! (compared in constant time), else `401` and nothing runs. Bad parameters
//! are `400` with a JSON error naming the parameter; unknown paths `404`.
//! Request bodies are never read.

use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response, Server};

use super::{Refused, RunKind, Shared, RUNS};
use crate::partition::PartitionValue;
use crate::settings::Filter;
use crate::sink::Connection;

/// Largest run record read back from the destination.
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Answers requests until the server is unblocked.
pub fn serve(server: &Server, shared: &Shared, token: Option<&str>, out: &str, conn: &Connection) {
    for req in server.incoming_requests() {
        let (status, body, json) = answer(&req, shared, token, out, conn);
        let ctype: &[u8] = if json {
            b"application/json"
        } else {
            b"text/plain; version=0.0.4"
        };
        let header = Header::from_bytes(&b"Content-Type"[..], ctype).expect("static header");
        let _ = req.respond(
            Response::from_string(body)
                .with_status_code(status)
                .with_header(header),
        );
    }
}

fn error(status: u16, message: impl Into<String>) -> (u16, String, bool) {
    (status, json!({ "error": message.into() }).to_string(), true)
}

fn ok(status: u16, v: Value) -> (u16, String, bool) {
    (
        status,
        serde_json::to_string_pretty(&v).expect("json"),
        true,
    )
}

/// Equal bytes, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(req: &Request, token: &str) -> bool {
    let want = format!("Bearer {token}");
    req.headers()
        .iter()
        .filter(|h| h.field.equiv("Authorization"))
        .any(|h| same(h.value.as_str().as_bytes(), want.as_bytes()))
}

/// The run filter of a trigger's query string; errors name the parameter.
fn filter(query: &str) -> Result<Filter, String> {
    let mut f = Filter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (slot, what) = match name {
            "account" => (&mut f.account, "account id"),
            "region" => (&mut f.region, "region"),
            "group" => (&mut f.group, "group name"),
            _ => {
                return Err(format!(
                    "unknown parameter {:?} (account, region, group)",
                    crate::output::escape_controls(name)
                ))
            }
        };
        if slot.is_some() {
            return Err(format!("parameter {name} is given twice"));
        }
        let v = PartitionValue::parse(value, what, &format!("parameter {name}"))
            .map_err(|e| format!("parameter {name}: {e}"))?;
        if name == "account"
            && (v.as_str().len() != 12 || !v.as_str().bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!(
                "parameter account: {:?} is not a 12-digit account id",
                v.as_str()
            ));
        }
        *slot = Some(v);
    }
    Ok(f)
}

fn answer(
    req: &Request,
    shared: &Shared,
    token: Option<&str>,
    out: &str,
    conn: &Connection,
) -> (u16, String, bool) {
    if let Some(t) = token {
        if !authorized(req, t) {
            return error(401, "missing or wrong bearer token");
        }
    }
    let url = req.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let method = req.method();
    match (method, path) {
        (Method::Post, "/v1/backup" | "/v1/export") => {
            let kind = if path == "/v1/backup" {
                RunKind::Backup
            } else {
                RunKind::Export
            };
            let f = match filter(query) {
                Ok(f) => f,
                Err(m) => return error(400, m),
            };
            match shared.trigger(kind, f) {
                Ok((id, joined)) => ok(
                    202,
                    json!({"run": id, "joined": joined, "status": format!("/v1/runs/{id}")}),
                ),
                Err(Refused::Stopping) => error(503, "the daemon is stopping"),
                Err(Refused::QueueFull) => error(503, "too many runs are waiting"),
            }
        }
        (Method::Get, "/v1/status") => ok(200, shared.status()),
        (Method::Get, "/healthz") => ok(200, json!({"status": "ok"})),
        (Method::Get, "/metrics") => (200, shared.metrics(), false),
        (Method::Get, p) if p.starts_with("/v1/runs/") => {
            let id = &p["/v1/runs/".len()..];
            if PartitionValue::parse(id, "run id", "the path").is_err() {
                return error(400, "a run id is made of [A-Za-z0-9._-]");
            }
            if let Some(v) = shared.run(id) {
                return ok(200, v);
            }
            let stored = crate::sink::open(out, conn)
                .and_then(|d| d.read(&format!("{RUNS}/{id}.json"), MAX_RECORD_BYTES));
            match stored
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            {
                Some(v) => ok(200, v),
                None => error(404, format!("no run {id}")),
            }
        }
        (_, "/v1/backup" | "/v1/export" | "/v1/status" | "/healthz" | "/metrics") => {
            error(405, format!("{method} is not allowed on {path}"))
        }
        _ => error(
            404,
            format!("no such path: {}", crate::output::escape_controls(path)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_and_name_the_parameter() {
        let f = filter("account=111111111111&region=eu-west-1&group=web").unwrap();
        assert_eq!(f.group.unwrap().as_str(), "web");
        assert!(filter("").unwrap().is_empty());
        for (q, why) in [
            ("group=../x", "parameter group"),
            ("accout=1", "unknown parameter \"accout\""),
            ("account=12", "parameter account"),
            ("group=a&group=b", "twice"),
            ("region=", "parameter region"),
        ] {
            let e = filter(q).unwrap_err();
            assert!(e.contains(why), "{q}: {e}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd") && !same(b"abc", b"ab") && !same(b"", b"a"));
    }
}
