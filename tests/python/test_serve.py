"""`fleetcmdb serve` as a daemon: real HTTP requests, real signals, a clock the tests move."""
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import awsorg
from conftest import binary


class Daemon:
    def __init__(self, tmp: Path, *args, now="2026-12-01T10:15:00Z", env=None, token=None):
        self.tmp = tmp
        self.out = tmp / "cmdb"
        self.clock = tmp / "now"
        self.port = awsorg.free_port()
        self.token = token
        self.set_clock(now)
        self.err = open(tmp / f"serve-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [binary(), "serve", *args, "--out", str(self.out), "--clock-file", str(self.clock),
             "--tick", "0.1", "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=self.err, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise AssertionError(f"the daemon did not start: {self.log()}")

    def log(self):
        return (self.tmp / f"serve-{self.port}.log").read_text()

    def set_clock(self, now):
        tmp = self.clock.with_suffix(".tmp")
        tmp.write_text(now + "\n")
        tmp.replace(self.clock)

    def request(self, method, path, token=None):
        headers = {}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, headers=headers,
                                     data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = r.read().decode()
                return r.status, json.loads(body) if body.startswith("{") else body
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode())

    def wait_idle(self, records, timeout=120):
        """Waits until nothing runs or waits and `records` run records exist."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            _, s = self.request("GET", "/v1/status")
            if s["state"] == "idle" and not s["queued"] and len(self.records()) >= records:
                return s
            time.sleep(0.1)
        raise AssertionError(f"not idle: {s}\n{self.log()}")

    def records(self):
        d = self.out / "runs"
        files = sorted(d.glob("*.json")) if d.exists() else []
        # Ids end with the daemon's run number: by start, then by number.
        return sorted((json.loads(p.read_text()) for p in files),
                      key=lambda r: (r["started"], int(r["id"].rsplit("-", 1)[1])))

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.err.close()
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


@pytest.fixture
def daemons():
    started = []
    yield lambda *a, **k: started.append(Daemon(*a, **k)) or started[-1]
    for d in started:
        d.kill()


def archives(out: Path, group=None, kind="configuration"):
    g = group or "*"
    return sorted(p.name for p in out.glob(f"backups/*/*/groupname={g}/archive/*-{kind}-cs-*.yaml"))


def visible_files(out: Path):
    return sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_an_on_demand_backup_runs_once_and_is_recorded(tmp_path, daemons):
    d = daemons(tmp_path, "--demo", "--schedule", "disabled")
    _, s = d.request("GET", "/v1/status")
    assert s["state"] == "idle" and s["next_scheduled_run"] is None and not d.records(), "disabled: nothing runs"
    code, r = d.request("POST", "/v1/backup?group=web")
    assert code == 202 and not r["joined"], r
    d.wait_idle(1)
    code, run = d.request("GET", f"/v1/runs/{r['run']}")
    assert code == 200 and run["status"] == "success" and run["kind"] == "backup", run
    assert run["filter"]["group"] == "web" and run["partitions"] == 0
    assert archives(d.out) and {a.split("-cs-")[1] for a in archives(d.out)} == {"web.yaml"}
    assert not (d.out / "metadata").exists(), "a backup run writes no table"
    metrics = d.request("GET", "/metrics")[1]
    assert 'fleetcmdb_runs_total{kind="backup",status="success"} 1' in metrics, metrics
    assert d.request("GET", "/v1/runs/nope")[0] == 404
    assert d.request("GET", "/v1/runs/..%2Fx")[0] == 400
    assert d.request("POST", "/v1/backup?grop=web") == (400, {"error": 'unknown parameter "grop" (account, region, group)'})
    code, e = d.request("POST", "/v1/export?group=../etc")
    assert code == 400 and "parameter group" in e["error"]
    assert d.request("GET", "/v1/backup")[0] == 405 and d.request("GET", "/nowhere")[0] == 404
    assert d.stop() == 0


def test_two_triggers_during_a_run_give_one_extra_run(tmp_path, daemons):
    d = daemons(tmp_path, "--demo", "--demo-instances", "4000", "--schedule", "disabled", "--jobs", "1")
    code, first = d.request("POST", "/v1/export")
    assert code == 202
    deadline = time.time() + 60
    while d.request("GET", "/v1/status")[1]["state"] != "running":
        assert time.time() < deadline
        time.sleep(0.02)
    (c1, a), (c2, b) = d.request("POST", "/v1/backup"), d.request("POST", "/v1/backup")
    assert c1 == c2 == 202 and not a["joined"] and b["joined"] and a["run"] == b["run"], (a, b)
    d.wait_idle(2)
    kinds = [r["kind"] for r in d.records()]
    assert sorted(kinds) == ["backup", "export"], kinds
    assert d.stop() == 0


def test_catching_up_after_downtime_backs_up_once(tmp_path, daemons):
    d = daemons(tmp_path, "--demo", "--demo-accounts", "1", "--demo-regions", "eu-west-1", now="2026-12-01T10:15:00Z")
    d.wait_idle(1)
    assert [r["kind"] for r in d.records()] == ["scheduled"], "the first start catches up once"
    assert d.stop() == 0
    regular = [a for a in archives(d.out) if "-shutdown-" not in a]
    shutdown = [a for a in archives(d.out) if "-shutdown-" in a]
    assert regular and len(shutdown) == len(regular), "one shutdown backup per group"
    # Five hours later: one catch-up run, one more backup per group, not five.
    d2 = daemons(tmp_path, "--demo", "--demo-accounts", "1", "--demo-regions", "eu-west-1", now="2026-12-01T15:15:00Z")
    d2.wait_idle(3)
    time.sleep(0.5)
    kinds = sorted(r["kind"] for r in d2.records())
    assert kinds == ["scheduled", "scheduled", "shutdown"], kinds
    after = [a for a in archives(d2.out) if "-shutdown-" not in a]
    assert len(after) == 2 * len(regular) and all(a.startswith("2026-12-01T15-15-00Z") for a in set(after) - set(regular))
    # The next hour runs on the schedule, once.
    d2.set_clock("2026-12-01T16:00:05Z")
    d2.wait_idle(4)
    assert len([a for a in archives(d2.out) if "-shutdown-" not in a]) == 3 * len(regular)
    assert d2.stop() == 0


def test_sigterm_during_a_run_leaves_whole_files_and_shutdown_backups(tmp_path, daemons):
    d = daemons(tmp_path, "--demo", "--demo-instances", "3000", "--schedule", "disabled", "--jobs", "1")
    d.request("POST", "/v1/export")
    deadline = time.time() + 60
    while d.request("GET", "/v1/status")[1]["state"] != "running":
        assert time.time() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    assert d.stop(timeout=60) == 0, d.log()
    log = d.log()
    assert "stopped after the shutdown backup (success)" in log, log
    records = {r["kind"]: r for r in d.records()}
    assert records["shutdown"]["status"] == "success" and records["shutdown"]["backups"] > 0
    cancelled = [f for f in records["export"]["failures"] if "not collected" in f["error"]]
    assert cancelled, "the export stopped taking account/regions"
    for f in visible_files(d.out):
        if f.suffix == ".parquet":
            assert pq.read_metadata(f).num_rows >= 0, f
        elif f.name == "manifest":
            # The query-ready copy's manifest names one whole file of the current version.
            (url,) = f.read_text().splitlines()
            assert pq.read_metadata(url.removeprefix("file://")).num_rows >= 0, f
        elif f.name == "report.html":
            assert f.read_text().rstrip().endswith("</html>"), "the page is written whole"
        else:
            assert f.suffix in (".yaml", ".json"), f
    shutdown = [a for a in archives(d.out) if "-shutdown-" in a]
    assert len(shutdown) == 2 * 3 * 2, "every group of the demo, once"


def test_a_second_signal_exits_at_once(tmp_path, daemons):
    d = daemons(tmp_path, "--demo", "--demo-instances", "3000", "--schedule", "disabled", "--jobs", "1",
                "--shutdown-timeout", "60")
    d.request("POST", "/v1/export")
    while d.request("GET", "/v1/status")[1]["state"] != "running":
        time.sleep(0.02)
    # Back to back: the second arrives while the first's shutdown is under way.
    d.proc.send_signal(signal.SIGTERM)
    d.proc.send_signal(signal.SIGINT)
    assert d.proc.wait(timeout=30) == 130
    for f in visible_files(d.out):
        if f.suffix == ".parquet":
            pq.read_metadata(f)


def test_listening_beyond_loopback_needs_a_token(tmp_path, daemons):
    p = subprocess.run([binary(), "serve", "--demo", "--out", str(tmp_path / "x"), "--listen", "0.0.0.0:9137"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--token-file" in p.stderr, p.stderr
    short = tmp_path / "short"
    short.write_text("abc\n")
    p = subprocess.run([binary(), "serve", "--demo", "--token-file", str(short)], capture_output=True, text=True)
    assert p.returncode == 2 and "at least 16" in p.stderr
    huge = tmp_path / "huge"
    huge.write_text("x" * 5000)
    p = subprocess.run([binary(), "serve", "--demo", "--token-file", str(huge)], capture_output=True, text=True)
    assert p.returncode == 2 and "over the size limit" in p.stderr, p.stderr
    secret = "s3cr3t-t0ken-for-the-test"
    (tmp_path / "token").write_text(secret + "\n")
    d = daemons(tmp_path, "--demo", "--schedule", "disabled", "--token-file", str(tmp_path / "token"), token=secret)
    assert d.request("GET", "/v1/status")[0] == 200
    assert d.request("POST", "/v1/backup", token="wrong-token-of-the-same-size")[0] == 401
    assert d.request("GET", "/metrics", token="x")[0] == 401
    assert d.request("GET", "/v1/status")[1]["queued"] == [], "a refused request runs nothing"
    assert secret not in d.log()
    assert d.stop() == 0


def test_a_bad_schedule_is_refused_at_start(tmp_path):
    p = subprocess.run([binary(), "serve", "--demo", "--out", str(tmp_path), "--schedule", "cron(0 25 * * ? *)"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "hours" in p.stderr, p.stderr


# --- against moto: each group's own backup.cron --------------------------------

@pytest.fixture(scope="module")
def moto_account():
    server = awsorg.MotoServer()
    try:
        awsorg.populate_account(server.url, "123456789012", None, {})
        yield server
    finally:
        server.stop()


def test_each_group_follows_its_own_backup_cron(moto_account, tmp_path, daemons):
    url = moto_account.url
    ddb = awsorg.client(url, "dynamodb", "eu-west-1")
    put = lambda g, k, v: ddb.put_item(TableName=f"CloneSquad-{g}-Configuration",
                                       Item={"Key": {"S": k}, "Value": {"S": v}})
    put("web", "backup.cron", "disabled")
    put("batch", "backup.cron", "cron(0 * * * ? *)")  # set aside by the active parameter set
    put("batch", "config.active_parameter_set", "night")
    put("batch", "[night]backup.cron", "localcron(0 3 * * ? *)")
    cfn = awsorg.client(url, "cloudformation", "eu-west-1")
    cfn.update_stack(StackName="CloneSquad-batch", TemplateBody=json.dumps(awsorg.STACK_TEMPLATE),
                     Parameters=[{"ParameterKey": "GroupName", "ParameterValue": "batch"},
                                 {"ParameterKey": "TimeZone", "ParameterValue": "Asia/Tokyo"}])
    env = awsorg.fleetcmdb_env({"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
    # 03:00 in Tokyo is 18:00 UTC.
    d = daemons(tmp_path, "--aws", "--regions", "eu-west-1", "--endpoint-url", url, now="2026-12-01T17:30:00Z",
                env=env)
    d.wait_idle(1)
    assert archives(d.out, "web") == [], "disabled: no backup"
    assert len(archives(d.out, "batch")) == 1, "never backed up: due at once"
    d.set_clock("2026-12-01T18:00:30Z")
    d.wait_idle(2)
    assert len(archives(d.out, "batch")) == 2, "03:00 in Tokyo fell since the last backup"
    d.set_clock("2026-12-01T19:00:30Z")
    d.wait_idle(3)
    assert len(archives(d.out, "batch")) == 2, "not again before tomorrow 03:00 in Tokyo"
    assert archives(d.out, "web") == []
    runs = d.records()
    assert [r["status"] for r in runs] == ["success"] * 3, runs
    disc = lambda g: pq.read_table(next(d.out.glob(f"metadata/discovery/*/region=eu-west-1/groupname={g}/*.parquet")))
    web, batch = disc("web").to_pylist()[0], disc("batch").to_pylist()[0]
    assert str(web["metadatarecordlastupdatedat"]).startswith("2026-12-01 19:00:30"), \
        "a group without backups is still collected"
    assert (web["backupschedule"], web["lastbackuptime"], web["nextbackuptime"]) == ("disabled", None, None)
    assert (batch["backupschedule"], batch["backuptimezone"]) == ("localcron(0 3 * * ? *)", "Asia/Tokyo")
    assert str(batch["lastbackuptime"]).startswith("2026-12-01 18:00:30"), batch
    assert str(batch["nextbackuptime"]).startswith("2026-12-02 18:00:00"), batch
    assert d.stop() == 0
    # restore --latest --label shutdown takes the shutdown archive, not latest-.
    shutdown = archives(d.out, "batch")[-1]
    assert "-shutdown-" in shutdown
    p = subprocess.run([binary(), "restore", "--latest", "--label", "shutdown", "--out", str(d.out), "--group", "batch",
                        "--account", "123456789012", "--region", "eu-west-1", "--dry-run", "--endpoint-url", url],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0 and shutdown in p.stdout + p.stderr, p.stdout + p.stderr


def test_a_run_that_fails_whole_is_retried_at_the_next_tick(tmp_path, daemons):
    snap = tmp_path / "snap"
    d = daemons(tmp_path, "--snapshot", str(snap))  # not there yet: every run fails as a whole
    deadline = time.time() + 60
    while True:
        _, s = d.request("GET", "/v1/status")
        if s["consecutive_failures"] >= 2:
            break
        assert time.time() < deadline, s
        time.sleep(0.1)
    assert s["last_success"] is None and "not a directory" in json.dumps(d.records()[0])
    assert 'fleetcmdb_runs_total{kind="scheduled",status="failed"}' in d.request("GET", "/metrics")[1]
    # Written aside and renamed into place: the daemon never sees half a snapshot.
    p = subprocess.run([binary(), "gen-snapshot", str(tmp_path / "staging"), "--demo-accounts", "1",
                        "--demo-regions", "eu-west-1"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (tmp_path / "staging").rename(snap)
    while d.request("GET", "/v1/status")[1]["last_success"] is None:
        assert time.time() < deadline + 60
        time.sleep(0.1)
    _, s = d.request("GET", "/v1/status")
    assert s["consecutive_failures"] == 0 and not s["retry_at_next_tick"], s
    assert d.records()[-1]["status"] == "success" and (d.out / "metadata" / "discovery").exists()
    assert d.stop() == 0
