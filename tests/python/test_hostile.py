"""Hostile input and faults, tried as an attacker or an unlucky operator would.

Each test asserts the clear error, the exit code, a bound on the child's
peak memory (its own ru_maxrss, from wait4, with a generous limit), and that
nothing already written was lost or changed. No test asserts a duration; a
run that hangs fails on the helper's deadline.
"""
import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import zlib
from pathlib import Path

import pytest

import awsorg
from conftest import AS_OF, binary

MIB = 1024
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def run(*args, env=None, deadline=120):
    """Runs the binary; returns (exit code, stdout, stderr, its own peak RSS in KiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile() as rss:
        env = dict(env if env is not None else os.environ, FLEETCMDB_PEAK_RSS_TO=rss.name)
        p = subprocess.Popen([binary(), *map(str, args)], stdout=out, stderr=err, env=env,
                             stdin=subprocess.DEVNULL)
        end = time.monotonic() + deadline
        while True:
            pid, status, _ = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > end:
                p.kill()
                os.wait4(p.pid, 0)
                raise AssertionError(f"fleetcmdb {' '.join(map(str, args))} still running after {deadline} s")
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak = int(Path(rss.name).read_text() or 0)
        assert peak > 0, "the peak RSS was reported"
        return p.returncode, out.read().decode(), err.read().decode(errors="replace"), peak


def snapshot(dir: Path, groups=2, instances=6, seed=42):
    code, _, err, _ = run("gen-snapshot", dir, "--demo-accounts", 1, "--demo-regions", "eu-west-1",
                          "--demo-groups", groups, "--demo-instances", instances, "--seed", seed)
    assert code == 0, err
    (account,) = [p for p in dir.iterdir() if p.is_dir()]
    return account, account / "eu-west-1"


def export(snap, out, *extra, **kw):
    return run("export", "--snapshot", snap, "--out", out, "--as-of", AS_OF, "--json", *extra, **kw)


def tree(root: Path):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def exported(tmp_path):
    """A good snapshot and its export, to break afterwards."""
    snap = tmp_path / "snap"
    account, region = snapshot(snap)
    out = tmp_path / "out"
    code, _, err, _ = export(snap, out)
    assert code == 0, err
    return snap, account, region, out, tree(out)


# --- memory and time bounded by the input's declared limits -------------------

def test_a_huge_page_is_refused_before_it_is_read(exported):
    snap, _, region, out, before = exported
    page = region / "ec2-describe-instances-0002.json"
    with open(page, "wb") as f:  # 1 GiB, sparse: costs no disk
        f.truncate(1 << 30)
    code, stdout, err, rss = export(snap, out)
    assert code == 4, err
    assert "1073741824 bytes is over the size limit of 536870912 bytes" in stdout, stdout
    assert rss < 150 * MIB, f"peak RSS {rss} KiB"
    assert tree(out) == before, "a failed scope leaves the earlier export as it was"


def test_restore_reads_no_file_over_its_limit_nor_a_device(tmp_path):
    big = tmp_path / "latest-big.yaml"
    with open(big, "wb") as f:
        f.truncate(1_250_000_000)
    code, _, err, rss = run("restore", big, "--table", "T", "--region", "eu-west-1",
                            "--endpoint-url", "http://127.0.0.1:9")
    assert code == 4 and "1250000000 bytes is over the size limit" in err, err
    assert rss < 100 * MIB, f"peak RSS {rss} KiB"
    code, _, err, rss = run("restore", "/dev/zero", "--table", "T", "--region", "eu-west-1",
                            "--endpoint-url", "http://127.0.0.1:9")
    assert code == 4 and "not a regular file" in err, err
    assert rss < 100 * MIB


def test_a_fifo_named_like_a_page_is_refused_not_waited_on(exported):
    snap, _, region, out, before = exported
    os.mkfifo(region / "ec2-describe-volumes-0002.json")
    code, stdout, err, _ = export(snap, out, deadline=60)
    assert code == 4, err
    assert "ec2-describe-volumes-0002.json" in stdout and "not a regular file" in stdout, stdout
    assert tree(out) == before


def test_jobs_is_bounded():
    code, _, err, _ = run("export", "--demo", "--jobs", 1_000_000, "--out", "/nonexistent/never")
    assert code == 2 and "between 1 and 256" in err, err
    code, out, _, _ = run("export", "--help")
    assert "1 to 256" in out


def test_a_stalled_endpoint_ends_the_run_on_its_timeouts(tmp_path):
    """Accepts every connection and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        env = awsorg.fleetcmdb_env(CREDS)
        code, stdout, err, _ = run("export", "--aws", "--regions", "eu-west-1", "--out", tmp_path,
                                   "--endpoint-url", f"http://127.0.0.1:{srv.getsockname()[1]}",
                                   "--max-attempts", 1, "--read-timeout", 1, "--operation-timeout", 3, "--json",
                                   env=env, deadline=90)
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()
    assert code in (3, 4), err + stdout
    assert "timeout" in (err + stdout).lower() or "timed out" in (err + stdout).lower(), err + stdout
    code, _, err, _ = run("export", "--demo", "--read-timeout", 0, "--out", tmp_path)
    assert code == 2 and "--read-timeout" in err, err


# --- rows duplicated or misplaced -------------------------------------------

def test_two_pages_with_the_same_instances_fail_their_scope_naming_both(exported):
    snap, _, region, out, before = exported
    first = region / "ec2-describe-instances-0001.json"
    shutil.copy(first, region / "ec2-describe-instances.json")
    code, stdout, err, _ = export(snap, out)
    assert code == 4, err
    s = json.loads(stdout)
    (f,) = s["failures"]
    assert "ec2-describe-instances.json" in f["error"] and "ec2-describe-instances-0001.json" in f["error"], f
    assert "already listed" in f["error"]
    assert tree(out) == before
    # A duplicated Reservations key in one page.
    (region / "ec2-describe-instances.json").unlink()
    text = first.read_text()
    doc = json.loads(text)
    body = json.dumps(doc["Reservations"])
    first.write_text('{"Reservations": ' + body + ', "Reservations": ' + body + "}")
    code, stdout, _, _ = export(snap, out)
    assert code == 4 and "already listed" in stdout, stdout
    # The same instance with another group tag, in a second page.
    first.write_text(text)
    res = doc["Reservations"][0]
    inst = res["Instances"][0]
    inst["Tags"] = [t for t in inst["Tags"] if t["Key"] != "clonesquad:group-name"] + [
        {"Key": "clonesquad:group-name", "Value": "other"}]
    (region / "ec2-describe-instances-0002.json").write_text(json.dumps({"Reservations": [
        {"Instances": [inst]}]}))
    code, stdout, _, _ = export(snap, out)
    assert code == 4 and inst["InstanceId"] in stdout and "group other" in stdout, stdout
    assert tree(out) == before


def test_account_folders_must_be_account_ids_and_links_are_not_followed(exported, tmp_path):
    snap, account, _, out, before = exported
    shutil.copytree(account, snap / "backup-old")
    shutil.copytree(account, snap / "12345")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(account, elsewhere / "999999999999")
    (snap / "999999999999").symlink_to(elsewhere / "999999999999")
    code, stdout, err, _ = export(snap, out)
    assert code == 3, err
    errors = {f["scope"]: f["error"] for f in json.loads(stdout)["failures"]}
    assert "not an account id" in errors["backup-old"] and "not an account id" in errors["12345"], errors
    assert "symbolic link: not followed" in errors["999999999999"], errors
    assert not (out / "metadata/instances/accountid=backup-old").exists()
    tables = lambda t: {k: v for k, v in t.items() if not k.startswith("query/")}
    assert tables(tree(out)) == tables(before), "the good account exports the same files again"
    assert tree(out).keys() != before.keys(), "and a new query-ready copy, the refused folders not in it"


def test_a_group_tag_error_names_the_file_and_the_instance(exported):
    snap, _, region, out, _ = exported
    page = region / "ec2-describe-instances-0001.json"
    doc = json.loads(page.read_text())
    inst = doc["Reservations"][0]["Instances"][0]
    for t in inst["Tags"]:
        if t["Key"] == "clonesquad:group-name":
            t["Value"] = "../escape"
    page.write_text(json.dumps(doc))
    code, stdout, _, _ = export(snap, out)
    assert code == 3, stdout
    (f,) = [f for f in json.loads(stdout)["failures"] if f["group"] == "../escape"]
    assert inst["InstanceId"] in f["error"] and "ec2-describe-instances-0001.json" in f["error"], f


def test_control_characters_from_input_are_escaped_in_the_summary(exported):
    snap, _, region, out, _ = exported
    page = region / "ec2-describe-instances-0001.json"
    doc = json.loads(page.read_text())
    for t in doc["Reservations"][0]["Instances"][0]["Tags"]:
        if t["Key"] == "clonesquad:group-name":
            t["Value"] = "web\n  status:     success\x1b[2J"
    page.write_text(json.dumps(doc))
    code, _, err, _ = run("export", "--snapshot", snap, "--out", out, "--as-of", AS_OF)
    assert code == 3
    assert "\x1b" not in err and "\n  status:     success" not in err, err
    assert "\\u{a}  status:     success\\u{1b}[2J" in err, err


def test_a_failed_commit_leaves_no_staged_file(exported):
    snap, _, _, out, before = exported
    env = dict(os.environ, FLEETCMDB_FAILPOINT="fail-commit:metadata/instances/")
    code, stdout, err, _ = export(snap, out, env=env)
    assert code in (3, 4), err
    assert "injected commit failure" in stdout, stdout
    left = [p for p in out.rglob("*") if ".tmp-" in p.name]
    assert left == []
    now = tree(out)
    assert all(now[f] == before[f] for f in before if "metadata/instances/" in f), "failed partitions kept"


def test_as_of_out_of_range_is_refused_and_never_produced(exported, tmp_path):
    snap, _, _, _, _ = exported
    code, _, err, _ = run("export", "--snapshot", snap, "--out", tmp_path / "late", "--as-of", "9999-12-31T23:59:59Z")
    assert code == 0, err
    code, _, err, _ = run("export", "--snapshot", snap, "--out", tmp_path / "later",
                          "--as-of", "+10000-01-02T02:00:00.000Z")
    assert code == 2 and "--as-of" in err, err


# --- backups -----------------------------------------------------------------

def racing_snapshots(tmp_path, n):
    """n snapshots of the same group whose tables differ by one item ("run": i)."""
    snaps = []
    for i in range(n):
        snap = tmp_path / f"snap{i}"
        _, region = snapshot(snap, groups=1, instances=2)
        for scan in region.glob("dynamodb-scan-*.json"):
            doc = json.loads(scan.read_text())
            doc["Items"].append({"Key": {"S": "run"}, "Value": {"S": str(i)}})
            scan.write_text(json.dumps(doc))
        snaps.append(snap)
    return snaps


def test_backups_in_the_same_second_never_lose_an_archive(tmp_path):
    """Eight backups of the same groups at the same instant, with different contents."""
    out = tmp_path / "out"
    snaps = racing_snapshots(tmp_path, 8)
    procs = [subprocess.Popen([binary(), "backup", "--snapshot", str(s), "--out", str(out), "--as-of", AS_OF],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for s in snaps]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    archives = sorted(out.rglob("archive/*"))
    assert len(archives) == 16, [a.name for a in archives]  # 8 runs x (configuration + scheduler)
    for kind in ("configuration", "scheduler"):
        runs = {line for a in archives if f"-{kind}-" in a.name
                for line in a.read_text().splitlines() if line.startswith('"run"')}
        assert runs == {f'"run": "{i}"' for i in range(8)}, (kind, runs)


@pytest.fixture(scope="module")
def moto():
    server = awsorg.MotoServer()
    try:
        yield server
    finally:
        server.stop()


def signed(body: bytes) -> bytes:
    return b"# hand-made\n# sha256: " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def kv_table(moto, name, items):
    c = awsorg.client(moto.url, "dynamodb", "eu-west-1")
    c.create_table(TableName=name, KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    for k, v in items.items():
        c.put_item(TableName=name, Item={"Key": {"S": k}, "Value": {"S": v}})
    return c


def scan_kv(c, name):
    return {i["Key"]["S"]: i["Value"]["S"] for i in c.scan(TableName=name, ConsistentRead=True)["Items"]}


def mrun(moto, *args, deadline=120):
    return run(*args, "--endpoint-url", moto.url, "--region", "eu-west-1", env=awsorg.fleetcmdb_env(CREDS),
               deadline=deadline)


@pytest.mark.parametrize("name,body,why", [
    ("alias-bomb", b'"seed": &x "' + b"y" * (1 << 20) + b'"\n' + b"".join(b'"k%d": *x\n' % i for i in range(1500)),
     "an anchor or alias"),
    ("deep", b"a: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "a flow collection"),
    ("deep-block", b"".join(b"  " * i + b"- \n" for i in range(1, 2_000)), "an indented line"),
])
def test_yaml_bombs_are_refused_in_bounded_memory(moto, tmp_path, name, body, why):
    c = kv_table(moto, f"T-{name}", {"keep": "me"})
    f = tmp_path / f"latest-{name}.yaml"
    f.write_bytes(signed(body))
    code, out, err, rss = mrun(moto, "restore", f, "--table", f"T-{name}", "--force", "--max-size", 16 << 20)
    assert code == 4 and why in err, err
    assert rss < 100 * MIB, f"peak RSS {rss} KiB"
    assert len(out) < 10_000, "no diff was printed"
    assert scan_kv(c, f"T-{name}") == {"keep": "me"}


def test_a_restore_checks_dynamodb_limits_before_the_first_write(moto, tmp_path):
    c = kv_table(moto, "T-limits", {"keep": "me"})
    items = {f"k{i:02d}": "v" for i in range(30)}
    items["huge"] = "x" * 410_000
    body = "".join(f'"{k}": "{v}"\n' for k, v in sorted(items.items())).encode()
    f = tmp_path / "latest-limits.yaml"
    f.write_bytes(signed(body))
    code, _, err, _ = mrun(moto, "restore", f, "--table", "T-limits")
    assert code == 4 and '"huge"' in err and "Nothing was written" in err, err
    assert scan_kv(c, "T-limits") == {"keep": "me"}


def dump(tmp_path, name, files, items=None):
    """A table dump folder: files are (name, gzip bytes, item count)."""
    d = tmp_path / name
    d.mkdir()
    entries = []
    for fname, data, n in files:
        if ".." not in fname:
            (d / fname).write_bytes(data)
        entries.append({"file": fname, "items": n, "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"format": "fleetcmdb-dynamodb-dump/1", "table": "Src", "items": items if items is not None else
                sum(e["items"] for e in entries), "files": entries,
                "settings": {"KeySchema": [{"AttributeName": "Key", "KeyType": "HASH"}],
                             "AttributeDefinitions": [{"AttributeName": "Key", "AttributeType": "S"}],
                             "BillingMode": "PAY_PER_REQUEST"}}
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d


def lines(n, bad_at=None):
    out = []
    for i in range(n):
        out.append("{not json" if i + 1 == bad_at else json.dumps({"Key": {"S": f"k{i}"}, "V": {"N": str(i)}}))
    return gzip.compress(("\n".join(out) + "\n").encode())


def tables(moto):
    return set(awsorg.client(moto.url, "dynamodb", "eu-west-1").list_tables()["TableNames"])


def test_restore_table_verifies_every_item_before_creating_the_table(moto, tmp_path):
    d = dump(tmp_path, "bad-line", [("items-0000.jsonl.gz", lines(1500, bad_at=1401), 1500)])
    code, _, err, _ = mrun(moto, "restore-table", d, "--table", "R-bad-line")
    assert code == 4 and "line 1401" in err, err
    assert "R-bad-line" not in tables(moto)
    d = dump(tmp_path, "lying", [("items-0000.jsonl.gz", lines(100), 90)])
    code, _, err, _ = mrun(moto, "restore-table", d, "--table", "R-lying")
    assert code == 4 and "more items than the 90" in err, err
    d = dump(tmp_path, "lying-total", [("items-0000.jsonl.gz", lines(10), 10)], items=12)
    code, _, err, _ = mrun(moto, "restore-table", d, "--table", "R-lying")
    assert code == 4 and "$.items is 12" in err, err
    d = dump(tmp_path, "escape", [("../../etc/passwd", b"", 0)])
    code, _, err, _ = mrun(moto, "restore-table", d, "--table", "R-escape")
    assert code == 4 and "outside the destination" in err, err
    assert not {"R-lying", "R-escape"} & tables(moto)
    d = dump(tmp_path, "good", [("items-0000.jsonl.gz", lines(60), 60)])
    code, _, err, _ = mrun(moto, "restore-table", d, "--table", "R-good")
    assert code == 0, err


def bomb(size, line_bytes):
    """gzip of `size` bytes: lines of `line_bytes` spaces, compressed as it goes."""
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = (b" " * (line_bytes - 1) + b"\n") * (1 << 14) if line_bytes < (1 << 20) else b" " * (4 << 20)
    parts, done = [], 0
    while done < size:
        parts.append(z.compress(chunk))
        done += len(chunk)
    parts.append(z.flush())
    return b"".join(parts)


def test_restore_table_of_a_gzip_bomb_stops_at_once(moto, tmp_path):
    # 512 and 256 MiB of text in well under 1 MiB of gzip; what matters is
    # that neither is decompressed past its first few MiB.
    for name, data in (("one-line", bomb(512 << 20, 1 << 30)), ("many-lines", bomb(256 << 20, 64))):
        d = dump(tmp_path, name, [("items-0000.jsonl.gz", data, 1)])
        code, _, err, rss = mrun(moto, "restore-table", d, "--table", f"R-{name}")
        assert code == 4 and ("longer than" in err or "more items than" in err or "line 1" in err), err
        assert rss < 150 * MIB, f"{name}: peak RSS {rss} KiB"
        assert f"R-{name}" not in tables(moto)


def test_backups_in_the_same_second_never_lose_an_archive_on_s3(moto, tmp_path):
    """The same race on S3, where archives are created with If-None-Match: *."""
    awsorg.client(moto.url, "s3").create_bucket(Bucket="race-cmdb",
                                                CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    snaps = racing_snapshots(tmp_path, 4)
    env = awsorg.fleetcmdb_env(CREDS)
    # S3's conditional writes are atomic; moto's are not (see FaultProxy).
    proxy = awsorg.FaultProxy(moto.port, atomic_conditional_puts=True)
    try:
        procs = [subprocess.Popen([binary(), "backup", "--snapshot", str(s), "--out", "s3://race-cmdb/prod", "--as-of",
                                   AS_OF, "--endpoint-url", proxy.url], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for s in snaps]
        for p in procs:
            assert p.wait(timeout=120) == 0, p.stderr.read()
    finally:
        proxy.stop()
    objects = awsorg.s3_objects(moto.url, "race-cmdb", "prod/")
    archives = {k: v for k, v in objects.items() if "/archive/" in k}
    assert len(archives) == 8, sorted(archives)
    for kind in ("configuration", "scheduler"):
        runs = {line for k, v in archives.items() if f"-{kind}-" in k
                for line in v.decode().splitlines() if line.startswith('"run"')}
        assert runs == {f'"run": "{i}"' for i in range(4)}, (kind, runs)


def test_a_restore_that_fails_mid_way_says_what_was_written(moto, tmp_path):
    c = kv_table(moto, "T-midway", {})
    items = {f"k{i:02d}": f"v{i}" for i in range(60)}
    body = "".join(f'"{k}": "{v}"\n' for k, v in sorted(items.items())).encode()
    f = tmp_path / "latest-midway.yaml"
    f.write_bytes(signed(body))
    proxy = awsorg.FaultProxy(moto.port, fail_target=("BatchWriteItem", 1))
    try:
        code, _, err, _ = run("restore", f, "--table", "T-midway", "--region", "eu-west-1",
                              "--endpoint-url", proxy.url, env=awsorg.fleetcmdb_env(CREDS))
    finally:
        proxy.stop()
    assert code == 4, err
    assert "25 of 60 writes were made" in err and "the other 35 were not" in err, err
    assert '"k00"' in err and '"k25"' in err, "names the first written and the first not written"
    assert scan_kv(c, "T-midway") == {k: v for k, v in items.items() if k < "k25"}


def test_keys_printed_by_restore_cannot_forge_lines(moto, tmp_path):
    kv_table(moto, "T-forge", {"real\n  - forged  (kept: needs --force)\x1b[2J": "v"})
    f = tmp_path / "latest-forge.yaml"
    f.write_bytes(signed(b'"a": "1"\n'))
    code, out, err, _ = mrun(moto, "restore", f, "--table", "T-forge", "--dry-run")
    assert code == 0, err
    assert "\x1b" not in out and "\n  - forged" not in out, out
    assert "real\\u{a}  - forged" in out, out
