"""Backups against moto's DynamoDB and S3 (and local disk): group backups and
restore, fallback, refusals, GFS retention, and lossless table dumps."""
import base64
import datetime as dt
import gzip
import hashlib
import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

import awsorg
from conftest import binary

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ACCOUNT = "123456789012"
REGION = "eu-west-1"
BUCKET = "org-cmdb"
CONFIG = {"ec2.schedule.min_instance_count": "2", "loglevel": "INFO", "app.run_period": "PT30S",
          "weird key: with colon": "line1\nline2 \"quoted\"", "empty": ""}
SCHED = {"scale-up": "cron(0 7 ? * MON-FRI *),ec2.schedule.desired_instance_count=-1"}


@pytest.fixture(scope="module")
def moto():
    server = awsorg.MotoServer()
    try:
        awsorg.client(server.url, "s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield server
    finally:
        server.stop()


def ddb(moto):
    return awsorg.client(moto.url, "dynamodb", region=REGION)


def make_kv_table(moto, name, items):
    c = ddb(moto)
    c.create_table(TableName=name, KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    for k, v in items.items():
        c.put_item(TableName=name, Item={"Key": {"S": k}, "Value": {"S": v}})


def table_kv(moto, name):
    items = ddb(moto).scan(TableName=name, ConsistentRead=True)["Items"]
    return {i["Key"]["S"]: i["Value"]["S"] for i in items}


def run(moto, *args):
    return subprocess.run([binary(), *args, "--endpoint-url", moto.url], capture_output=True, text=True,
                          env=awsorg.fleetcmdb_env(CREDS), timeout=300)


def s3_objects(moto, prefix):
    """Objects under `prefix`, by full key."""
    return {prefix + k: v for k, v in awsorg.s3_objects(moto.url, BUCKET, prefix).items()}


GROUP_DIR = f"prod/backups/accountid={ACCOUNT}/region={REGION}/groupname=web"
LATEST = f"{GROUP_DIR}/latest-{ACCOUNT}-{REGION}-configuration-cs-web.yaml"


@pytest.fixture(scope="module")
def backed_up(moto, tmp_path_factory):
    make_kv_table(moto, "CloneSquad-web-Configuration", CONFIG)
    make_kv_table(moto, "CloneSquad-web-Scheduler", SCHED)
    also = tmp_path_factory.mktemp("also")
    p = run(moto, "backup", "--aws", "--regions", REGION, "--out", f"s3://{BUCKET}/prod", "--also", str(also),
            "--as-of", "2026-11-22T03:00:00Z", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["backups"] == 2 and summary["files"] == 0, json.dumps(summary)
    calls = summary["api_calls"]
    assert calls.get("dynamodb:Scan") == 2 and not any(k.startswith(("ec2:DescribeInstances", "ec2:DescribeVolumes", "ssm:")) for k in calls), \
        f"a backup reads only what it backs up: {calls}"
    return also


def test_backups_follow_clonesquad_layout_with_sorted_yaml_and_checksum(moto, backed_up):
    objs = s3_objects(moto, GROUP_DIR)
    assert sorted(objs) == sorted([
        LATEST,
        f"{GROUP_DIR}/latest-{ACCOUNT}-{REGION}-scheduler-cs-web.yaml",
        f"{GROUP_DIR}/archive/2026-11-22T03-00-00Z-{ACCOUNT}-{REGION}-configuration-cs-web.yaml",
        f"{GROUP_DIR}/archive/2026-11-22T03-00-00Z-{ACCOUNT}-{REGION}-scheduler-cs-web.yaml",
    ])
    data = objs[LATEST]
    header, digest, body = data.split(b"\n", 2)
    assert digest == b"# sha256: " + hashlib.sha256(body).hexdigest().encode()
    import yaml_check
    parsed = yaml_check.load(body)
    assert parsed == CONFIG
    keys = [json.loads(line.split(b'": ', 1)[0] + b'"') for line in body.splitlines()]
    assert keys == sorted(CONFIG), "keys sorted"
    assert objs[f"{GROUP_DIR}/archive/2026-11-22T03-00-00Z-{ACCOUNT}-{REGION}-configuration-cs-web.yaml"] == data
    local = backed_up / LATEST.removeprefix("prod/")
    assert local.read_bytes() == data, "--also holds the same backup"


def test_restore_dry_run_refusal_and_force(moto, backed_up):
    c = ddb(moto)
    c.put_item(TableName="CloneSquad-web-Configuration", Item={"Key": {"S": "loglevel"}, "Value": {"S": "DEBUG"}})
    c.delete_item(TableName="CloneSquad-web-Configuration", Key={"Key": {"S": "app.run_period"}})
    c.put_item(TableName="CloneSquad-web-Configuration", Item={"Key": {"S": "added.later"}, "Value": {"S": "x"}})
    before = table_kv(moto, "CloneSquad-web-Configuration")
    args = ["restore", "--latest", "--out", f"s3://{BUCKET}/prod", "--group", "web", "--account", ACCOUNT, "--region", REGION]
    p = run(moto, *args, "--dry-run")
    assert p.returncode == 0, p.stderr
    assert '+ app.run_period: "PT30S"' in p.stdout
    assert '~ loglevel: "DEBUG" -> "INFO"' in p.stdout
    assert "- added.later  (kept: needs --force)" in p.stdout
    assert "1 added, 1 changed, 1 removed" in p.stdout
    assert table_kv(moto, "CloneSquad-web-Configuration") == before, "dry run changes nothing"
    p = run(moto, *args)
    assert p.returncode == 2 and "refusing" in p.stderr and "added.later" in p.stderr and "--force" in p.stderr
    assert table_kv(moto, "CloneSquad-web-Configuration") == before, "a refusal changes nothing"
    p = run(moto, *args, "--force")
    assert p.returncode == 0, p.stderr
    assert table_kv(moto, "CloneSquad-web-Configuration") == CONFIG


def test_restore_creates_a_missing_table_with_clonesquad_key_schema(moto, backed_up):
    p = run(moto, "restore", f"s3://{BUCKET}/{LATEST}", "--table", "CloneSquad-copy-Configuration", "--region", REGION)
    assert p.returncode == 0, p.stderr
    d = ddb(moto).describe_table(TableName="CloneSquad-copy-Configuration")["Table"]
    assert d["KeySchema"] == [{"AttributeName": "Key", "KeyType": "HASH"}]
    assert d["AttributeDefinitions"] == [{"AttributeName": "Key", "AttributeType": "S"}]
    assert table_kv(moto, "CloneSquad-copy-Configuration") == CONFIG


def test_fallback_to_archive_then_to_the_second_destination(moto, backed_up):
    s3 = awsorg.client(moto.url, "s3")
    good = s3.get_object(Bucket=BUCKET, Key=LATEST)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=LATEST, Body=good.replace(b"INFO", b"WARN"))  # corrupt: checksum no longer matches
    args = ["restore", "--latest", "--out", f"s3://{BUCKET}/prod", "--group", "web", "--account", ACCOUNT,
            "--region", REGION, "--table", "fb1", "--also", str(backed_up)]
    p = run(moto, *args)
    assert p.returncode == 0, p.stderr
    assert "fell back to s3://org-cmdb/prod/" in p.stderr and "/archive/2026-11-22T03-00-00Z-" in p.stderr
    assert "checksum mismatch" in p.stderr
    assert table_kv(moto, "fb1") == CONFIG
    s3.delete_object(Bucket=BUCKET, Key=LATEST)
    for k in s3_objects(moto, f"{GROUP_DIR}/archive/"):
        s3.delete_object(Bucket=BUCKET, Key=k)
    p = run(moto, *[a if a != "fb1" else "fb2" for a in args])
    assert p.returncode == 0, p.stderr
    assert f"fell back to file://{backed_up}/backups/" in p.stderr and "not found" in p.stderr
    assert table_kv(moto, "fb2") == CONFIG
    p = run(moto, *[a if a != "fb1" else "fb3" for a in args][:-2])
    assert p.returncode == 4 and "no valid backup found" in p.stderr
    s3.put_object(Bucket=BUCKET, Key=LATEST, Body=good)  # restore the primary for other tests


def signed(body: bytes) -> bytes:
    return b"# hand-made\n# sha256: " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


@pytest.mark.parametrize("content,why", [
    (lambda good: good.replace(b"INFO", b"EVIL"), "checksum mismatch"),
    (lambda good: signed(b"- a\n- b\n"), "a sequence entry"),
    (lambda good: signed(b"a: [1, 2]\n"), "a flow collection"),
    (lambda good: signed(b"a: 1\nb:\n  c: 2\n"), "an indented line"),
    (lambda good: signed(b'"seed": &x "' + b"y" * (1 << 20) + b'"\n' + b"".join(b'"k%d": *x\n' % i for i in range(1500))),
     "an anchor or alias"),
    (lambda good: signed(b"a: " + b"[" * 100_000 + b"]" * 100_000 + b"\n"), "a flow collection"),
    (lambda good: signed(b"a: \"unterminated\n"), "not valid YAML"),
    (lambda good: b"a: b\n", "missing '# sha256"),
])
def test_bad_backups_are_refused_and_the_table_is_unchanged(moto, backed_up, tmp_path, content, why):
    good = (backed_up / LATEST.removeprefix("prod/")).read_bytes()
    f = tmp_path / "latest-x.yaml"
    f.write_bytes(content(good))
    before = table_kv(moto, "CloneSquad-web-Configuration")
    p = run(moto, "restore", str(f), "--table", "CloneSquad-web-Configuration", "--region", REGION, "--force")
    assert p.returncode == 4 and why in p.stderr and str(f) in p.stderr, p.stderr
    assert table_kv(moto, "CloneSquad-web-Configuration") == before


def test_an_oversized_backup_is_refused(moto, backed_up):
    f = backed_up / LATEST.removeprefix("prod/")
    p = run(moto, "restore", str(f), "--table", "CloneSquad-web-Configuration", "--region", REGION, "--max-size", "100")
    assert p.returncode == 4 and "over the size limit of 100 bytes" in p.stderr, p.stderr


# --- retention ---------------------------------------------------------------

def expected_kept(times, hourly, daily, weekly, monthly):
    times = sorted(times, reverse=True)
    keep = {times[0]}
    for n, key in ((hourly, lambda t: (t.date(), t.hour)), (daily, lambda t: t.date()),
                   (weekly, lambda t: t.isocalendar()[:2]), (monthly, lambda t: (t.year, t.month))):
        seen = []
        for t in times:
            k = key(t)
            if k not in seen:
                if len(seen) == n:
                    break
                seen.append(k)
                keep.add(t)
    return keep


def test_prune_keeps_exactly_the_gfs_set_of_three_months_of_hourly_archives(tmp_path):
    d = tmp_path / "backups/accountid=111111111111/region=eu-west-1/groupname=web"
    (d / "archive").mkdir(parents=True)
    start = dt.datetime(2026, 8, 24, 0, 0)
    times = [start + dt.timedelta(hours=h) for h in range(24 * 91)]
    name = lambda t, label="": f"{t:%Y-%m-%dT%H-%M-%SZ}{label}-111111111111-eu-west-1-configuration-cs-web.yaml"
    for t in times:
        (d / "archive" / name(t)).write_text("x")
    manual = start + dt.timedelta(hours=5, minutes=30)
    (d / "archive" / name(manual, "-manual")).write_text("m")
    (d / "latest-111111111111-eu-west-1-configuration-cs-web.yaml").write_text("l")
    keep = "hourly=24,daily=7,weekly=4,monthly=12"
    p = subprocess.run([binary(), "prune", "--out", str(tmp_path), "--keep", keep, "--dry-run", "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert len(list((d / "archive").iterdir())) == len(times) + 1, "dry run deletes nothing"
    want_kept = {name(t) for t in expected_kept(times, 24, 7, 4, 12)}
    p = subprocess.run([binary(), "prune", "--out", str(tmp_path), "--keep", keep, "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    left = {f.name for f in (d / "archive").iterdir()}
    assert left == want_kept | {name(manual, "-manual")}
    assert 24 + 7 + 4 + 3 >= len(want_kept) >= 24 + 6, len(want_kept)
    assert (d / "latest-111111111111-eu-west-1-configuration-cs-web.yaml").exists()
    assert json.loads(p.stdout)["kept"] == len(want_kept) + 1


# --- lossless table dumps ----------------------------------------------------

BIG = "12345678901234567890123456789012345678"
ITEMS = [
    {"pk": {"S": "a"}, "sk": {"N": "1"}, "s": {"S": ""}, "n": {"N": BIG}, "neg": {"N": "-0.000000000000000000000000000000000001"},
     "b": {"B": bytes([0, 1, 2, 255])}, "t": {"BOOL": True}, "f": {"BOOL": False}, "nul": {"NULL": True},
     "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", BIG]}, "bs": {"BS": [b"\x00", b"\xff\xfe"]},
     "l": {"L": [{"S": ""}, {"N": "3.14"}, {"L": []}, {"M": {}}]},
     "m": {"M": {"deep": {"M": {"deeper": {"L": [{"B": b"\x10"}, {"NULL": True}]}}}, "e": {"S": ""}}}},
] + [{"pk": {"S": f"p{i % 7}"}, "sk": {"N": str(i)}, "v": {"S": "x" * (i % 50)}, "g": {"S": f"g{i % 3}"}} for i in range(300)]


def typed_scan(moto, table):
    c = ddb(moto)
    items, start = [], None
    while True:
        kw = {"ExclusiveStartKey": start} if start else {}
        page = c.scan(TableName=table, ConsistentRead=True, **kw)
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    norm = lambda v: json.dumps(v, sort_keys=True, default=lambda o: base64.b64encode(o).decode())
    return sorted(norm(i) for i in items)


@pytest.fixture(scope="module")
def users(moto):
    c = ddb(moto)
    c.create_table(TableName="Users", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                                         {"AttributeName": "g", "AttributeType": "S"}],
                   GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                            "Projection": {"ProjectionType": "KEYS_ONLY"}}],
                   BillingMode="PAY_PER_REQUEST", Tags=[{"Key": "backup", "Value": "daily"}])
    c.create_table(TableName="Untagged", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    for it in ITEMS:
        c.put_item(TableName="Users", Item=it)
    return "Users"


def test_table_dump_round_trip_preserves_every_type(moto, users, tmp_path):
    p = run(moto, "backup-table", "--select-tag", "backup=daily", "--out", str(tmp_path), "--segments", "3",
            "--enable-pitr", "--json", "--region", REGION)
    assert p.returncode == 0, p.stderr
    (r,) = json.loads(p.stdout)["tables"]
    assert r["table"] == "Users" and r["items"] == len(ITEMS) and r["pitr"] is True
    assert ddb(moto).describe_continuous_backups(TableName="Users")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    (dump,) = (tmp_path / "backups/tables/Users").iterdir()
    manifest = json.loads((dump / "manifest.json").read_text())
    assert len(manifest["files"]) == 3 and sum(f["items"] for f in manifest["files"]) == len(ITEMS)
    assert manifest["settings"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    lines = [json.loads(l) for f in manifest["files"] for l in gzip.decompress((dump / f["file"]).read_bytes()).splitlines()]
    first = next(l for l in lines if l["pk"] == {"S": "a"})
    assert first["n"] == {"N": BIG} and first["b"] == {"B": "AAEC/w=="} and first["s"] == {"S": ""}
    p = run(moto, "restore-table", str(dump), "--table", "Users-restored", "--region", REGION)
    assert p.returncode == 0, p.stderr
    assert typed_scan(moto, "Users-restored") == typed_scan(moto, "Users")
    d = ddb(moto).describe_table(TableName="Users-restored")["Table"]
    assert [g["IndexName"] for g in d["GlobalSecondaryIndexes"]] == ["by-g"]
    p = run(moto, "restore-table", str(dump), "--table", "Users-restored", "--region", REGION)
    assert p.returncode == 2 and "not empty" in p.stderr
    f = dump / manifest["files"][1]["file"]
    f.write_bytes(f.read_bytes()[:-3] + b"xyz")
    p = run(moto, "restore-table", str(dump), "--table", "Users-3", "--region", REGION)
    assert p.returncode == 4 and "checksum mismatch" in p.stderr
    assert "Users-3" not in ddb(moto).list_tables()["TableNames"], "nothing created before the dump is verified"


def test_dynamodb_own_backups_and_point_in_time_restores(moto, users):
    # An on-demand backup, listed, then restored into a new table.
    p = run(moto, "backup-table", "--table", users, "--native", "--json", "--region", REGION)
    assert p.returncode == 0, p.stderr
    (made,) = json.loads(p.stdout)["tables"]
    assert made["arn"].startswith("arn:aws:dynamodb:") and made["name"].startswith(f"fleetcmdb-{users}-")
    p = run(moto, "backup-table", "--table", users, "--list-native", "--json", "--region", REGION)
    (listed,) = json.loads(p.stdout)["tables"]
    assert made["arn"] in [b["arn"] for b in listed["backups"]], listed
    p = run(moto, "restore-table", "--from-backup", made["arn"], "--table", "Users-from-backup", "--region", REGION)
    assert p.returncode == 0, p.stderr
    assert typed_scan(moto, "Users-from-backup") == typed_scan(moto, users)
    p = run(moto, "restore-table", "--from-backup", made["arn"], "--table", "Users-from-backup", "--region", REGION)
    assert p.returncode == 2 and "exists" in p.stderr, "a restore never overwrites a table"
    assert run(moto, "restore-table", "--from-backup", "nope", "--table", "X-1", "--region", REGION).returncode == 2
    # Point in time: the latest restorable time, then a time outside the window.
    c = ddb(moto)
    c.update_continuous_backups(TableName=users, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    p = run(moto, "restore-table", "--point-in-time", "latest", "--source", users, "--table", "Users-pitr", "--region", REGION)
    assert p.returncode == 0, p.stderr
    assert typed_scan(moto, "Users-pitr") == typed_scan(moto, users)
    p = run(moto, "restore-table", "--point-in-time", "2020-01-01T00:00:00Z", "--source", users, "--table", "Users-old",
            "--region", REGION)
    window = c.describe_continuous_backups(TableName=users)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    earliest = window["EarliestRestorableDateTime"].astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")
    assert p.returncode == 2 and "outside the recoverable window" in p.stderr and earliest in p.stderr, p.stderr
    assert "Users-old" not in c.list_tables()["TableNames"]
    p = run(moto, "restore-table", "--point-in-time", "latest", "--source", "Untagged", "--table", "Untagged-pitr",
            "--region", REGION)
    assert p.returncode == 2 and "point-in-time recovery is off" in p.stderr, p.stderr


def test_numbers_keep_every_digit_through_backup_and_restore(moto, tmp_path):
    """A 38-digit DynamoDB number, backed up as YAML and restored, is the same text."""
    big, small = "12345678901234567890123456789012345678", "0.1234567890123456789"
    region = "us-west-2"  # a region of its own: the other tests' groups live in eu-west-1
    c = awsorg.client(moto.url, "dynamodb", region=region)
    name = "CloneSquad-digits-Configuration"
    c.create_table(TableName=name, KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    items = {"big": {"N": big}, "small": {"N": small}, "nested": {"M": {"n": {"N": big}}}}
    for k, v in items.items():
        c.put_item(TableName=name, Item={"Key": {"S": k}, "Value": v})
    c.create_table(TableName="CloneSquad-digits-Scheduler", KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    out = tmp_path / "cmdb"
    p = run(moto, "backup", "--aws", "--regions", region, "--out", str(out))
    assert p.returncode == 0, p.stderr
    (yaml_file,) = out.glob("backups/**/latest-*-configuration-cs-digits.yaml")
    text = yaml_file.read_text()
    assert f'"big": "{big}"' in text and f'"small": "{small}"' in text, text
    assert '"nested": "{\\"n\\":' + big + '}"' in text, text
    p = run(moto, "restore", str(yaml_file), "--table", "CloneSquad-digits-copy", "--region", region)
    assert p.returncode == 0, p.stderr
    items = c.scan(TableName="CloneSquad-digits-copy", ConsistentRead=True)["Items"]
    assert {i["Key"]["S"]: i["Value"]["S"] for i in items} == {
        "big": big, "small": small, "nested": '{"n":' + big + "}"}


# --- any item DynamoDB accepts round-trips (property test) -------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

KEYS = st.text(min_size=1, max_size=80).filter(lambda k: len(k.encode()) <= 2048)
VALUES = st.text(max_size=300)
ROUNDS = iter(range(1_000_000))


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(conf=st.dictionaries(KEYS, VALUES, max_size=10), sched=st.dictionaries(KEYS, VALUES, max_size=5))
def test_any_items_round_trip_through_backup_and_restore_into_moto(moto, tmp_path, conf, sched):
    region = "ap-south-1"  # its own region: only this test's group is there
    group = f"prop{next(ROUNDS)}"
    c = awsorg.client(moto.url, "dynamodb", region=region)
    names = {kind: f"CloneSquad-{group}-{kind.capitalize()}" for kind in ("configuration", "scheduler")}
    for kind, items in (("configuration", conf), ("scheduler", sched)):
        c.create_table(TableName=names[kind], KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}],
                       BillingMode="PAY_PER_REQUEST")
        for k, v in items.items():
            c.put_item(TableName=names[kind], Item={"Key": {"S": k}, "Value": {"S": v}})
    out = tmp_path / f"cmdb-{group}"
    try:
        p = run(moto, "backup", "--aws", "--regions", region, "--out", str(out))
        assert p.returncode == 0, p.stderr
        for kind, items in (("configuration", conf), ("scheduler", sched)):
            (f,) = out.glob(f"backups/**/latest-*-{kind}-cs-{group}.yaml")
            copy = f"{names[kind]}-copy"
            p = run(moto, "restore", str(f), "--table", copy, "--region", region)
            assert p.returncode == 0, p.stderr
            got = c.scan(TableName=copy, ConsistentRead=True)["Items"]
            assert {i["Key"]["S"]: i["Value"]["S"] for i in got} == items
            c.delete_table(TableName=copy)
    finally:
        for name in names.values():
            c.delete_table(TableName=name)
