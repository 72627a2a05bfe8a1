//! The daemon's HTTP API.
//!
//! Owns the routes, their parameters and their answers, and the server that
//! carries them: hyper's HTTP/1 server on a small tokio runtime of its own.
//!
//! | method and path | answer |
//! |---|---|
//! | `POST /v1/backup`, `POST /v1/export` (`account`, `region`, `group`) | `202` with the run queued or joined |
//! | `GET /v1/status` | running and queued runs, the next scheduled run, the last ones |
//! | `GET /v1/runs/{id}` | one run: its record, or where it stands |
//! | `GET /healthz` | `200` while the daemon runs |
//! | `GET /metrics` | Prometheus text |
//! | `GET /` | the report page ([`crate::report`]), drawn after each run |
//!
//! With a token, every request but `/healthz` needs `Authorization: Bearer
//! {token}` (compared in constant time), else `401` and nothing runs. Bad
//! parameters are `400` with a JSON error naming the parameter (query
//! values are percent-decoded first); unknown paths `404`; a known path
//! with another method `405` with `Allow`.
//!
//! No client can hold the API up: every connection is a task, headers must
//! arrive within [`Limits::header_timeout`] and a whole connection ends
//! after [`Limits::connection_timeout`]; at most [`Limits::connections`]
//! are open, [`Limits::per_peer`] from one address. Request bodies are
//! never read: a request that declares one is answered `413` and its
//! connection closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{Refused, RunKind, Shared};
use crate::error::Error;
use crate::partition::PartitionValue;
use crate::settings::Filter;
use crate::sink::Connection;

/// What one client, and all of them, may take of the API.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; one more is closed at once.
    pub connections: usize,
    /// Connections open at once from one address.
    pub per_peer: usize,
    /// Time for a request's headers to arrive.
    pub header_timeout: Duration,
    /// Time a connection may stay open, whatever it does.
    pub connection_timeout: Duration,
    /// Largest request head (line and headers), in bytes.
    pub max_head_bytes: usize,
    /// Record reads from the destination at once.
    pub blocking_reads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 256,
            per_peer: 32,
            header_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(30),
            max_head_bytes: 16 * 1024,
            blocking_reads: 4,
        }
    }
}

/// What every request is answered from.
pub struct Api {
    pub shared: Arc<Shared>,
    pub token: Option<String>,
    pub out: String,
    pub conn: Connection,
}

/// An answer, before it becomes a response.
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub kind: Kind,
    /// Methods a `405` allows.
    pub allow: Option<&'static str>,
}

/// What an answer's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Json,
    /// Prometheus text.
    Metrics,
    /// The report page.
    Html,
}

/// What a route asks for: an answer now, or a run record to read from the
/// destination (a blocking read, done off the async workers).
#[derive(Debug, PartialEq)]
pub enum Answer {
    Now(Reply),
    ReadRecord(String),
}

fn error(status: u16, message: impl Into<String>) -> Reply {
    Reply {
        status,
        body: json!({ "error": message.into() }).to_string(),
        kind: Kind::Json,
        allow: None,
    }
}

fn ok(status: u16, v: Value) -> Reply {
    Reply {
        status,
        body: serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into()),
        kind: Kind::Json,
        allow: None,
    }
}

fn not_allowed(method: &Method, path: &str, allow: &'static str) -> Reply {
    Reply {
        allow: Some(allow),
        ..error(405, format!("{method} is not allowed on {path}"))
    }
}

/// Equal bytes, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A query component, percent-decoded (`+` is a space, as in forms).
fn decode(part: &str, what: &str) -> Result<String, String> {
    let spaced = part.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("{what} is not UTF-8 once percent-decoded"))
}

/// The run filter of a trigger's query string; errors name the parameter.
fn filter(query: &str) -> Result<Filter, String> {
    let mut f = Filter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name, "a parameter name")?;
        let (slot, what) = match name.as_str() {
            "account" => (&mut f.account, "account id"),
            "region" => (&mut f.region, "region"),
            "group" => (&mut f.group, "group name"),
            _ => {
                return Err(format!(
                    "unknown parameter {:?} (account, region, group)",
                    crate::output::escape_controls(&name)
                ))
            }
        };
        let value = decode(value, &format!("parameter {name}"))?;
        if slot.is_some() {
            return Err(format!("parameter {name} is given twice"));
        }
        let v = PartitionValue::parse(&value, what, &format!("parameter {name}"))
            .map_err(|e| format!("parameter {name}: {e}"))?;
        if name == "account" && !crate::partition::is_account_id(v.as_str()) {
            return Err(format!(
                "parameter account: {:?} is not a 12-digit account id",
                v.as_str()
            ));
        }
        *slot = Some(v);
    }
    Ok(f)
}

/// The answer to one request, from its method, target, `Authorization`
/// header and whether it declares a body.
pub fn route(
    shared: &Shared,
    token: Option<&str>,
    method: &Method,
    target: &str,
    authorization: Option<&[u8]>,
    has_body: bool,
) -> Answer {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // Liveness answers whatever the token: a health check carries none.
    if path == "/healthz" {
        return Answer::Now(match *method {
            Method::GET | Method::HEAD => ok(200, json!({"status": "ok"})),
            _ => not_allowed(method, path, "GET, HEAD"),
        });
    }
    if let Some(t) = token {
        let want = format!("Bearer {t}");
        if !authorization.is_some_and(|a| same(a, want.as_bytes())) {
            return Answer::Now(error(401, "missing or wrong bearer token"));
        }
    }
    if has_body {
        return Answer::Now(error(413, "request bodies are not accepted"));
    }
    let get = matches!(*method, Method::GET | Method::HEAD);
    Answer::Now(match path {
        "/v1/backup" | "/v1/export" if *method == Method::POST => {
            let kind = if path == "/v1/backup" {
                RunKind::Backup
            } else {
                RunKind::Export
            };
            let f = match filter(query) {
                Ok(f) => f,
                Err(m) => return Answer::Now(error(400, m)),
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
        "/v1/backup" | "/v1/export" => not_allowed(method, path, "POST"),
        "/v1/status" if get => ok(200, shared.status()),
        "/metrics" if get => Reply {
            status: 200,
            body: shared.metrics(),
            kind: Kind::Metrics,
            allow: None,
        },
        "/" if get => match shared.report() {
            Some(page) => Reply {
                status: 200,
                body: page.to_string(),
                kind: Kind::Html,
                allow: None,
            },
            None => error(404, "no report yet: the daemon draws it after each run"),
        },
        "/v1/status" | "/metrics" | "/" => not_allowed(method, path, "GET, HEAD"),
        p if p.starts_with("/v1/runs/") => {
            if !get {
                return Answer::Now(not_allowed(method, path, "GET, HEAD"));
            }
            let id = &p["/v1/runs/".len()..];
            if PartitionValue::parse(id, "run id", "the path").is_err() {
                return Answer::Now(error(400, "a run id is made of [A-Za-z0-9._-]"));
            }
            match shared.run(id) {
                Some(v) => ok(200, v),
                None => return Answer::ReadRecord(id.to_string()),
            }
        }
        _ => error(
            404,
            format!("no such path: {}", crate::output::escape_controls(path)),
        ),
    })
}

/// A stored run record, or `404`.
fn read_record(api: &Api, id: &str) -> Reply {
    let stored = crate::sink::open(&api.out, &api.conn)
        .and_then(|d| d.read(&crate::runs::record_path(id), crate::runs::MAX_RECORD_BYTES));
    match stored
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        Some(v) => ok(200, v),
        None => error(404, format!("no run {id}")),
    }
}

fn respond(reply: Reply, head_only: bool, close: bool) -> Response<Full<Bytes>> {
    let ctype = match reply.kind {
        Kind::Json => "application/json",
        Kind::Metrics => "text/plain; version=0.0.4",
        Kind::Html => "text/html; charset=utf-8",
    };
    let len = reply.body.len();
    let body = if head_only {
        Bytes::new()
    } else {
        Bytes::from(reply.body)
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(a) = reply.allow {
        h.insert(ALLOW, HeaderValue::from_static(a));
    }
    h.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if close {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// Whether a request declares a body: a non-zero length, or any transfer coding.
fn declares_body(req: &Request<Incoming>) -> bool {
    let h = req.headers();
    h.contains_key(hyper::header::TRANSFER_ENCODING)
        || h.get_all(CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes().iter().any(|b| *b != b'0'))
}

async fn handle(
    api: Arc<Api>,
    reads: Arc<tokio::sync::Semaphore>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let has_body = declares_body(&req);
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let auth = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    let answer = route(
        &api.shared,
        api.token.as_deref(),
        req.method(),
        &target,
        auth,
        has_body,
    );
    let head_only = req.method() == Method::HEAD;
    let reply = match answer {
        Answer::Now(r) => r,
        Answer::ReadRecord(id) => match reads.acquire_owned().await {
            Ok(permit) => {
                let api = api.clone();
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    read_record(&api, &id)
                })
                .await
                .unwrap_or_else(|_| error(500, "reading the run record failed"))
            }
            Err(_) => error(503, "the daemon is stopping"),
        },
    };
    // A body we did not read must not be taken for the next request.
    respond(reply, head_only, has_body)
}

/// Open connections, in all and by peer address.
struct Gate {
    limits: Limits,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A connection's place under the caps; given back when dropped.
struct Ticket {
    gate: Arc<Gate>,
    peer: IpAddr,
}

impl Gate {
    fn enter(self: &Arc<Self>, peer: IpAddr) -> Option<Ticket> {
        let mut g = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (all, by_peer) = &mut *g;
        let mine = by_peer.get(&peer).copied().unwrap_or(0);
        if *all >= self.limits.connections || mine >= self.limits.per_peer {
            return None;
        }
        *all += 1;
        by_peer.insert(peer, mine + 1);
        Some(Ticket {
            gate: self.clone(),
            peer,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut g = self.gate.open.lock().unwrap_or_else(|p| p.into_inner());
        let (all, by_peer) = &mut *g;
        *all = all.saturating_sub(1);
        if let Some(n) = by_peer.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_peer.remove(&self.peer);
            }
        }
    }
}

/// The API server: it answers until [`Server::stop`].
pub struct Server {
    stop: Arc<tokio::sync::Notify>,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    /// Binds `addr` (errors here are the caller's to report) and answers on
    /// a thread of its own.
    pub fn start(addr: std::net::SocketAddr, api: Api, limits: Limits) -> Result<Server, Error> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Error::Usage(format!("--listen {addr}: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Internal(format!("--listen {addr}: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(limits.blocking_reads.max(1))
            .thread_name("api")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::Internal(format!("API runtime: {e}")))?;
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        let api = Arc::new(api);
        let thread = std::thread::Builder::new()
            .name("api".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        eprintln!("fleetcmdb serve: the API listener could not start");
                        return;
                    };
                    let accept = accept_loop(listener, api, limits);
                    let stop = stopped.notified();
                    futures_util::pin_mut!(accept, stop);
                    futures_util::future::select(accept, stop).await;
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| Error::Internal(format!("API thread: {e}")))?;
        Ok(Server { stop, thread })
    }

    /// Stops answering and waits for the server's thread.
    pub fn stop(self) {
        self.stop.notify_one();
        let _ = self.thread.join();
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, api: Arc<Api>, limits: Limits) {
    let gate = Arc::new(Gate {
        limits,
        open: Mutex::new((0, HashMap::new())),
    });
    let reads = Arc::new(tokio::sync::Semaphore::new(limits.blocking_reads.max(1)));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: wait, do not spin.
                eprintln!("fleetcmdb serve: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over a cap: closed at once, before anything is read.
        let Some(ticket) = gate.enter(peer.ip()) else {
            drop(stream);
            continue;
        };
        let (api, reads) = (api.clone(), reads.clone());
        tokio::spawn(async move {
            let _ticket = ticket;
            let svc = hyper::service::service_fn(move |req| {
                let (api, reads) = (api.clone(), reads.clone());
                async move { Ok::<_, Infallible>(handle(api, reads, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(limits.max_head_bytes.max(8192))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            let _ = tokio::time::timeout(limits.connection_timeout, conn).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            ("group=%2e%2e", "parameter group"),
            ("group=%ff", "not UTF-8"),
            ("group=a%2Fb", "parameter group"),
        ] {
            let e = filter(q).unwrap_err();
            assert!(e.contains(why), "{q}: {e}");
        }
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let f = filter("group=web%2D1&re%67ion=eu%2dwest-1").unwrap();
        assert_eq!(f.group.unwrap().as_str(), "web-1");
        assert_eq!(f.region.unwrap().as_str(), "eu-west-1");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd") && !same(b"abc", b"ab") && !same(b"", b"a"));
    }

    fn shared() -> Shared {
        Shared::for_tests()
    }

    fn status(a: &Answer) -> u16 {
        match a {
            Answer::Now(r) => r.status,
            Answer::ReadRecord(_) => 0,
        }
    }

    #[test]
    fn methods_other_than_the_route_s_are_405_with_allow() {
        let s = shared();
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let a = route(&s, None, &m, "/v1/runs/abc", None, false);
            let Answer::Now(r) = a else {
                panic!("{m}: {a:?}")
            };
            assert_eq!((r.status, r.allow), (405, Some("GET, HEAD")), "{m}");
        }
        for m in [Method::GET, Method::PUT, Method::DELETE] {
            let a = route(&s, None, &m, "/v1/backup", None, false);
            assert_eq!(status(&a), 405, "{m}");
        }
        let a = route(&s, None, &Method::POST, "/v1/status", None, false);
        assert_eq!(status(&a), 405);
        let a = route(&s, None, &Method::GET, "/v1/runs/unknown-run", None, false);
        assert_eq!(a, Answer::ReadRecord("unknown-run".into()));
    }

    #[test]
    fn healthz_needs_no_token_and_the_rest_does() {
        let s = shared();
        let tok = Some("0123456789abcdef");
        let a = route(&s, tok, &Method::GET, "/healthz", None, false);
        assert_eq!(status(&a), 200);
        let a = route(&s, tok, &Method::GET, "/v1/status", None, false);
        assert_eq!(status(&a), 401);
        let good = b"Bearer 0123456789abcdef";
        let a = route(&s, tok, &Method::GET, "/v1/status", Some(good), false);
        assert_eq!(status(&a), 200);
        let a = route(&s, tok, &Method::POST, "/v1/backup", Some(good), true);
        assert_eq!(status(&a), 413, "a body is refused, and nothing is queued");
        assert!(s.lock().queue.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// Any target, method, header and body flag gets an answer of the
        /// documented set, and never a panic.
        #[test]
        fn any_request_gets_a_documented_answer(
            m in prop::sample::select(vec![Method::GET, Method::HEAD, Method::POST, Method::PUT,
                                           Method::DELETE, Method::OPTIONS, Method::PATCH]),
            path in prop::sample::select(vec!["/healthz", "/v1/status", "/metrics", "/v1/backup",
                                              "/v1/export", "/v1/runs/", "/", "/v1/"]),
            tail in "[ -~\u{80}-\u{10ffff}]{0,40}",
            body in any::<bool>(),
            auth in prop::option::of("[ -~]{0,40}"),
            tok in prop::option::of(Just("0123456789abcdef")),
        ) {
            let s = shared();
            let target = format!("{path}{tail}");
            let a = route(&s, tok, &m, &target, auth.as_deref().map(str::as_bytes), body);
            match a {
                Answer::Now(r) => {
                    prop_assert!([200, 202, 400, 401, 404, 405, 413, 503].contains(&r.status), "{r:?}");
                    prop_assert_eq!(r.status == 405, r.allow.is_some());
                    if r.kind == Kind::Json {
                        prop_assert!(serde_json::from_str::<Value>(&r.body).is_ok());
                    }
                }
                Answer::ReadRecord(id) => {
                    prop_assert!(PartitionValue::parse(&id, "run id", "t").is_ok());
                }
            }
        }
    }
}
