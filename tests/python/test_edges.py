"""The daemon, schedules, history and plans at their edges: hostile clients,
hostile files and careless operators get a clear answer, never a panic, a
blocked API or a deletion on input that was not checked whole."""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import awsorg
from conftest import binary


def run(*args, check=False, timeout=120, env=None):
    p = subprocess.run([binary(), *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert "panicked" not in p.stderr, p.stderr
    if check:
        assert p.returncode == 0, p.stderr
    return p


# --- the HTTP API ---------------------------------------------------------------------------

class Daemon:
    def __init__(self, tmp: Path, out: Path = None, extra=()):
        self.out = out or tmp / "cmdb"
        self.port = awsorg.free_port()
        self.log = tmp / f"serve-{self.port}.log"
        self.err = open(self.log, "w")
        self.proc = subprocess.Popen(
            [binary(), "serve", "--demo", "--demo-accounts", "1", "--schedule", "disabled", "--out", str(self.out),
             "--tick", "0.1", "--listen", f"127.0.0.1:{self.port}", *extra],
            stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return
            try:
                if self.get("/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(self.log.read_text())

    def get(self, path, method="GET", timeout=5):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode(), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), {k.lower(): v for k, v in e.headers.items()}

    def raw(self, data: bytes, source="127.0.0.1", timeout=5):
        s = socket.socket()
        s.settimeout(timeout)
        s.bind((source, 0))
        s.connect(("127.0.0.1", self.port))
        if data:
            s.sendall(data)
        return s

    def healthy_within(self, seconds):
        t = time.time()
        code = self.get("/healthz", timeout=seconds)[0]
        return code == 200 and time.time() - t < seconds

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        text = self.log.read_text()
        assert "panicked" not in text, text
        return text


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    d.stop()


def read_status(s: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0


def test_a_huge_content_length_is_refused_and_the_api_stays_up(daemon):
    s = daemon.raw(b"POST /v1/backup HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n")
    code = read_status(s)
    s.close()
    assert code in (400, 413, 431), code
    assert daemon.healthy_within(2)
    status = json.loads(daemon.get("/v1/status")[1])
    assert status["queued"] == [] and status["running"] is None, "nothing was queued"


def test_a_slow_body_does_not_hold_the_api_up(daemon):
    s = daemon.raw(b"POST /v1/backup HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    stop = threading.Event()

    def drip():
        while not stop.is_set():
            try:
                s.send(b"x")
            except OSError:
                return
            time.sleep(1)

    t = threading.Thread(target=drip, daemon=True)
    t.start()
    try:
        for _ in range(3):
            assert daemon.healthy_within(2)
            time.sleep(0.5)
    finally:
        stop.set()
        s.close()


def test_unfinished_headers_are_cut_off_and_others_are_answered(daemon):
    s = daemon.raw(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert daemon.healthy_within(2)
    # The server closes a connection whose headers do not arrive in time.
    s.settimeout(15)
    t = time.time()
    data = s.recv(4096)
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
    assert time.time() - t < 15
    s.close()


def test_one_address_cannot_take_every_connection(daemon):
    held = []
    try:
        for _ in range(60):
            held.append(daemon.raw(b"", source="127.0.0.2"))
        time.sleep(0.3)
        closed = 0
        for s in held:
            s.settimeout(0.2)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except (socket.timeout, OSError):
                pass
        assert closed >= 60 - 32, f"only {closed} of 60 connections beyond the per-address cap were closed"
        assert daemon.healthy_within(2), "another address is still answered"
    finally:
        for s in held:
            s.close()


def test_query_values_are_percent_decoded_and_runs_refuse_other_methods(daemon):
    code, body, _ = daemon.get("/v1/backup?group=w%65b", method="POST")
    assert code == 202, body
    run_id = json.loads(body)["run"]
    deadline = time.time() + 60
    while time.time() < deadline:
        code, body, _ = daemon.get(f"/v1/runs/{run_id}")
        if json.loads(body).get("status") not in ("queued", "running"):
            break
        time.sleep(0.2)
    assert json.loads(body)["filter"]["group"] == "web", body
    code, body, _ = daemon.get("/v1/backup?group=%2e%2e", method="POST")
    assert code == 400 and "parameter group" in body
    for m in ["POST", "PUT", "DELETE"]:
        code, body, headers = daemon.get(f"/v1/runs/{run_id}", method=m)
        assert code == 405, (m, code, body)
        assert "GET" in headers.get("allow", ""), headers


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=600))
def test_any_bytes_get_an_answer_or_a_close_and_the_api_stays_up(shared_daemon, data):
    s = shared_daemon.raw(data, timeout=10)
    try:
        s.shutdown(socket.SHUT_WR)
        s.recv(65536)
    except OSError:
        pass
    finally:
        s.close()
    assert shared_daemon.healthy_within(3)


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("fuzzed"))
    yield d
    assert d.proc.poll() is None, "the daemon is still running after the fuzzing"
    d.stop()


def test_a_second_daemon_on_the_same_folder_refuses_naming_the_first(tmp_path):
    first = Daemon(tmp_path)
    try:
        second = Daemon(tmp_path, out=first.out)
        code = second.proc.wait(timeout=30)
        text = second.stop()
        assert code == 4, text
        assert "another fleetcmdb serve" in text and f"pid {first.proc.pid}" in text, text
        assert first.healthy_within(2)
    finally:
        first.stop()
    # The lock dies with its holder: a new daemon starts.
    third = Daemon(tmp_path, out=first.out)
    assert third.proc.poll() is None and third.healthy_within(2)
    third.stop()


def test_run_ids_carry_a_part_of_their_daemon(daemon):
    ids = []
    for g in ["web", "batch"]:
        code, body, _ = daemon.get(f"/v1/backup?group={g}", method="POST")
        assert code == 202
        ids.append(json.loads(body)["run"])
    parts = [i.split("-") for i in ids]
    # {time}-backup-{daemon}-{n}: the same daemon part, distinct numbers.
    assert parts[0][-3] == "backup" and len(parts[0][-2]) == 8
    assert parts[0][-2] == parts[1][-2] and parts[0][-1] != parts[1][-1]


# --- schedules -------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, want", [
    ("cron(0 0 1 1 ? 2199)", "2199-01-01T00:00:00Z"),
    ("cron(0 0 ? 2 MON#5 *)", "2044-02-29T00:00:00Z"),
    ("cron(30/1 10 * * ? *)", "2026-12-01T10:30:00Z"),
])
def test_far_and_stepped_occurrences_are_found(expr, want):
    p = run("schedule", expr, "--from", "2026-12-01T00:00:00Z", "--next", "2", check=True)
    assert p.stdout.splitlines()[0] == want
    if expr.startswith("cron(30/1"):
        assert p.stdout.splitlines()[1] == "2026-12-01T10:31:00Z"


def test_a_schedule_that_never_fires_says_so():
    p = run("schedule", "cron(0 0 1 1 ? 2020)", "--from", "2026-12-01T00:00:00Z")
    assert p.returncode == 2 and "never fires" in p.stderr and p.stdout == "", p.stderr
    p = run("schedule", "cron(0 0 1 1 ? 2199)", "--from", "2026-12-01T00:00:00Z", "--next", "3")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 1 and "only 1 of the 3" in p.stderr


@pytest.mark.parametrize("expr", ["rate(106751991168 days)", "rate(9223372036854775807 minutes)",
                                  "rate(2562047788015 hours)", "cron(59/4294967296 * * * ? *)"])
def test_huge_numbers_in_schedules_are_refused(expr, tmp_path):
    p = run("schedule", expr)
    assert p.returncode == 2 and expr in p.stderr, p.stderr
    p = run("serve", "--demo", "--out", str(tmp_path), "--schedule", expr, "--listen",
            f"127.0.0.1:{awsorg.free_port()}", timeout=30)
    assert p.returncode == 2, p.stderr


# --- history -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    base = tmp_path_factory.mktemp("edges-history")
    out = base / "cmdb"
    for rev, at in [("0", "2026-11-30T00:05:00Z"), ("1", "2026-11-30T01:05:00Z")]:
        run("export", "--demo", "--demo-accounts", "2", "--demo-revision", rev, "--out", str(out), "--history",
            "--as-of", at, check=True)
    return out


def copy(snapshots, tmp_path):
    out = tmp_path / "cmdb"
    shutil.copytree(snapshots, out)
    return out


def test_huge_durations_are_refused(snapshots):
    for w in ["4294967295w", "4294967295d", "4294967295h"]:
        p = run("diff", "--out", str(snapshots), "--from", w)
        assert p.returncode == 2 and "too far back" in p.stderr, p.stderr


def instances_file(out, snap="2026-11-30-01"):
    return out / "history" / "instances" / f"snapshot={snap}" / f"instances-{snap}.parquet"


def test_another_table_s_file_is_an_error_naming_it(snapshots, tmp_path):
    out = copy(snapshots, tmp_path)
    f = instances_file(out)
    shutil.copy(out / "history" / "volumes" / "snapshot=2026-11-30-01" / "volumes-2026-11-30-01.parquet", f)
    p = run("diff", "--out", str(out), "--json", "--table", "instances")
    assert p.returncode == 4 and f.name in p.stderr and "differs from its declaration" in p.stderr, p.stderr


@pytest.mark.parametrize("how", ["missing", "folder", "fifo", "devzero"])
def test_an_unreadable_table_file_fails_the_diff_naming_it(snapshots, tmp_path, how):
    out = copy(snapshots, tmp_path)
    f = instances_file(out)
    f.unlink()
    if how == "folder":
        f.mkdir()
    elif how == "fifo":
        os.mkfifo(f)
    elif how == "devzero":
        f.symlink_to("/dev/zero")
    p = run("diff", "--out", str(out), "--json", timeout=30)
    assert p.returncode == 4, (p.returncode, p.stderr)
    assert f.name in p.stderr, p.stderr


@pytest.mark.parametrize("marker", [b"", b"PAR1 not parquet PAR1"])
def test_a_broken_marker_never_costs_a_readable_snapshot(snapshots, tmp_path, marker):
    out = copy(snapshots, tmp_path)
    # A third snapshot whose completion marker is empty or garbage.
    bad = "2026-11-30-02"
    for t in (out / "history").iterdir():
        if t.is_dir() and not t.name.startswith("."):
            src = next((t / "snapshot=2026-11-30-01").glob("*.parquet"))
            dst = t / f"snapshot={bad}" / src.name.replace("2026-11-30-01", bad)
            dst.parent.mkdir()
            shutil.copy(src, dst)
    (out / "history" / "snapshots" / f"snapshot={bad}" / f"snapshots-{bad}.parquet").write_bytes(marker)
    p = run("prune", "--out", str(out), "--history", "--keep", "hourly=1", "--json")
    assert p.returncode == 0, p.stderr
    left = sorted(x.name for x in (out / "history" / "snapshots").iterdir())
    assert "snapshot=2026-11-30-01" in left, f"the newest readable snapshot was deleted: {left}"
    p = run("diff", "--out", str(out), "--json")
    assert p.returncode == 4 and f"snapshots-{bad}" in p.stderr, p.stderr
    # The next run of that period takes it again, whole.
    run("export", "--demo", "--demo-accounts", "2", "--demo-revision", "1", "--out", str(out), "--history",
        "--as-of", "2026-11-30T02:05:00Z", check=True)
    p = run("diff", "--out", str(out), "--json", check=True)
    assert p.stdout == ""


def test_a_period_held_by_another_run_is_refused_whole(snapshots, tmp_path):
    out = copy(snapshots, tmp_path)
    lease = out / "history" / ".leases" / "2026-11-30-02.json"
    lease.parent.mkdir(parents=True, exist_ok=True)
    # Held by a live process on this host (this test), not expired.
    lease.write_text(json.dumps({"token": "other", "pid": os.getpid(), "host": socket.gethostname(),
                                 "expires_ms": int(time.time() * 1000) + 3_600_000}))
    before = sorted(str(p) for p in out.rglob("*") if p.is_file())
    p = run("export", "--demo", "--demo-accounts", "2", "--out", str(out), "--history",
            "--as-of", "2026-11-30T02:05:00Z")
    assert p.returncode == 4 and "being taken" in p.stderr and f"pid {os.getpid()}" in p.stderr, p.stderr
    after = sorted(str(p) for p in out.rglob("*") if p.is_file())
    assert after == before, "nothing was written"
    p = run("snapshot", "--out", str(out), "--as-of", "2026-11-30T02:05:00Z")
    assert p.returncode == 4 and "being taken" in p.stderr
    # A lease whose holder is gone is taken over.
    lease.write_text(json.dumps({"token": "other", "pid": 2 ** 22 + 7, "host": socket.gethostname(),
                                 "expires_ms": int(time.time() * 1000) + 3_600_000}))
    run("export", "--demo", "--demo-accounts", "2", "--out", str(out), "--history",
        "--as-of", "2026-11-30T02:05:00Z", check=True)
    assert not lease.exists(), "released at the end"
    assert (out / "history" / "snapshots" / "snapshot=2026-11-30-02").exists()


# --- prune --departed on a plan ----------------------------------------------------------

@pytest.fixture(scope="module")
def exported4(tmp_path_factory):
    out = tmp_path_factory.mktemp("departed") / "cmdb"
    run("export", "--demo", "--demo-accounts", "4", "--out", str(out), check=True)
    accounts = sorted({p.name.split("=")[1] for p in (out / "metadata").glob("*/accountid=*")})
    assert len(accounts) == 4
    return out, accounts


def write_plan(d: Path, members, account_ids=None, accounts=None, batches=None):
    d.mkdir(parents=True, exist_ok=True)
    ids = account_ids if account_ids is not None else [m for m in members if isinstance(m, str)]
    batch_lists = batches if batches is not None else [ids]
    for i, b in enumerate(batch_lists):
        (d / f"batch-{i:04}.json").write_text(json.dumps({"batch": i, "accounts": [{"Id": a} for a in b]}))
    (d / "plan.json").write_text(json.dumps({
        "listing": "complete", "accounts": len(ids) if accounts is None else accounts,
        "batches": len(batch_lists), "account_ids": ids, "members": members}))


def files(out):
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("case", ["not ids", "a number", "disagreeing", "count", "batches", "twice"])
def test_a_plan_that_is_not_whole_deletes_nothing(exported4, tmp_path, case):
    out0, accounts = exported4
    out = tmp_path / "cmdb"
    shutil.copytree(out0, out)
    before = files(out)
    plan = tmp_path / "plan"
    keep = accounts[:3]
    if case == "not ids":
        write_plan(plan, ["not-an-id", "../../x"], account_ids=[])
        why = "$.members[0]"
    elif case == "a number":
        write_plan(plan, keep + [int(accounts[3])], account_ids=keep)
        why = "$.members[3]"
    elif case == "disagreeing":
        write_plan(plan, keep[:1], account_ids=keep)
        why = "not among the members"
    elif case == "count":
        write_plan(plan, keep, accounts=7)
        why = "$.accounts"
    elif case == "batches":
        write_plan(plan, keep, batches=[keep[:2]])
        why = "batches and account_ids disagree"
    else:
        write_plan(plan, keep + keep[:1], account_ids=keep)
        why = "listed twice"
    p = run("prune", "--out", str(out), "--departed", "--plan", str(plan), "--max-departed", "4")
    assert p.returncode == 4 and why in p.stderr, p.stderr
    assert files(out) == before


def test_more_departures_than_the_limit_are_refused_listing_them(exported4, tmp_path):
    out0, accounts = exported4
    out = tmp_path / "cmdb"
    shutil.copytree(out0, out)
    before = files(out)
    plan = tmp_path / "plan"
    write_plan(plan, accounts[:2])
    p = run("prune", "--out", str(out), "--departed", "--plan", str(plan))
    assert p.returncode == 4 and "more than the limit of 1" in p.stderr, p.stderr
    assert accounts[2] in p.stderr and accounts[3] in p.stderr
    assert files(out) == before
    p = run("prune", "--out", str(out), "--departed", "--plan", str(plan), "--dry-run", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["departed"] == accounts[2:]
    assert files(out) == before
    p = run("prune", "--out", str(out), "--departed", "--plan", str(plan), "--max-departed", "2", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["departed"] == accounts[2:]
    live = [f for f in files(out) if f.startswith("metadata/")]
    assert not any(f"accountid={a}" in f for f in live for a in accounts[2:])
    assert any(f"accountid={accounts[0]}" in f for f in live)
