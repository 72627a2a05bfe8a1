"""The S3 destination and `ddl --apply`, against moto's S3 and Athena through the real SDK.

Faults are injected by `awsorg.FaultProxy`, a pass-through proxy in front of
moto that also records every request and every Athena statement in order.
"""
import io
import json
import subprocess
import urllib.parse
import urllib.request

import pyarrow.parquet as pq
import pytest
import sqlglot

import awsorg
from conftest import AS_OF, REPO, binary
from test_engines import PARTITIONS, TABLES

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
BUCKET = "org-cmdb"
DEMO = ["--demo-accounts", "2", "--demo-groups", "2"]


@pytest.fixture(scope="module")
def moto():
    # Parts of 16 KiB let a small export exercise multipart uploads (AWS's minimum is 5 MiB).
    server = awsorg.MotoServer(env={"S3_UPLOAD_PART_MIN_SIZE": "1024"})
    try:
        s3 = awsorg.client(server.url, "s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield server
    finally:
        server.stop()


def fleetcmdb(*args, endpoint, env=None):
    e = awsorg.fleetcmdb_env(CREDS)
    e.update(env or {})
    return subprocess.run([binary(), *args, "--endpoint-url", endpoint], capture_output=True, text=True,
                          env=e, timeout=600)


def export(out, endpoint, *extra, env=None, as_of=AS_OF):
    p = fleetcmdb("export", "--demo", *DEMO, "--out", out, "--as-of", as_of, "--json", "--no-backup", *extra,
                  endpoint=endpoint, env=env)
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except json.JSONDecodeError:
        raise AssertionError(f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")


def objects(server, prefix):
    return awsorg.s3_objects(server.url, BUCKET, prefix)


def local_files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def split_copy(files):
    """`(files outside query/, the query-ready copy's table files by table)`: a copy's
    version names its writer, so two exports' copies differ in name, not in bytes."""
    rest = {k: v for k, v in files.items() if not k.startswith("query/")}
    pointer = json.loads(files["query/current.json"])
    copy = {t: files[d["file"]] for t, d in pointer["tables"].items()}
    return rest, copy


def test_export_to_s3_writes_exactly_the_local_layout(moto, tmp_path):
    code, summary, _ = export("s3://org-cmdb/prod/", moto.url)
    assert code == 0, summary
    assert summary["destination"] == "s3://org-cmdb/prod"
    code, local, _ = export(str(tmp_path), moto.url)
    assert code == 0
    (got, got_copy), (want, want_copy) = split_copy(objects(moto, "prod/")), split_copy(local_files(tmp_path))
    assert sorted(got) == sorted(want) and len(got) == summary["files"] == 7 * summary["partitions"] + summary["account_partitions"]
    assert got == want, "the same bytes as the local export"
    assert got_copy == want_copy and sorted(got_copy) == sorted(TABLES), "and the same query-ready copy"
    manifest = objects(moto, "prod/query/manifests/instances/")["manifest"].decode()
    assert manifest == f"s3://org-cmdb/prod/query/version={summary['query_copy']}/instances/instances-{summary['query_copy']}.parquet\n"
    for t in TABLES:
        rows = sum(pq.read_table(io.BytesIO(b)).num_rows for k, b in got.items() if k.startswith(f"metadata/{t}/"))
        assert rows == summary["rows"][t], t
    everything = objects(moto, "")
    assert all(k.startswith("prod/") for k in everything), "nothing outside the prefix (no healthcheck leftovers)"


def test_history_on_s3_is_the_local_history_and_diffs_from_s3(moto, tmp_path):
    for at in ["2026-11-22T03:00:00Z", "2026-11-22T04:00:00Z"]:
        code, summary, err = export("s3://org-cmdb/hist", moto.url, "--history", as_of=at)
        assert code == 0 and summary["snapshot"]["written"], err
        code, local, _ = export(str(tmp_path), moto.url, "--history", as_of=at)
        assert code == 0
    got = {k: v for k, v in objects(moto, "hist/").items() if k.startswith("history/")}
    want = {k: v for k, v in local_files(tmp_path).items() if k.startswith("history/")}
    assert len(got) == 2 * (len(TABLES) + 1) and got == want
    p = fleetcmdb("diff", "--out", "s3://org-cmdb/hist", "--json", endpoint=moto.url)
    assert p.returncode == 0 and p.stdout == "", p.stderr
    assert "from snapshot 2026-11-22-03 to 2026-11-22-04" in p.stderr
    p = fleetcmdb("prune", "--out", "s3://org-cmdb/hist", "--history", "--keep", "hourly=1", "--json", endpoint=moto.url)
    assert json.loads(p.stdout)["deleted_snapshots"] == ["2026-11-22-03"]
    assert not any("2026-11-22-03" in k for k in objects(moto, "hist/history/"))


def test_archives_on_s3_carry_the_tag_the_lifecycle_rule_selects(moto):
    p = fleetcmdb("backup", "--demo", *DEMO, "--out", "s3://org-cmdb/tagged", "--json", endpoint=moto.url)
    assert p.returncode == 0, p.stderr
    s3 = awsorg.client(moto.url, "s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="tagged/backups/")
            for o in page.get("Contents", [])]
    archives = [k for k in keys if "/archive/" in k]
    latest = [k for k in keys if "/latest-" in k]
    assert archives and latest
    for k in archives:
        assert s3.get_object_tagging(Bucket=BUCKET, Key=k)["TagSet"] == [{"Key": "fleetcmdb-archive", "Value": "true"}], k
    for k in latest:
        assert s3.get_object_tagging(Bucket=BUCKET, Key=k)["TagSet"] == [], "latest- files never expire"


def test_large_objects_use_multipart_and_server_side_encryption(moto, tmp_path):
    proxy = awsorg.FaultProxy(moto.port)
    try:
        code, summary, _ = export("s3://org-cmdb/big", proxy.url, "--demo-instances", "300",
                                  "--sse", "aws:kms", "--kms-key-id", "alias/cmdb",
                                  env={"FLEETCMDB_S3_PART_SIZE": "16384"})
    finally:
        proxy.stop()
    assert code == 0, summary
    parts = [p for m, p, _ in proxy.requests if m == "PUT" and "partNumber=" in p]
    assert parts, "an instances file over 16 KiB went as a multipart upload"
    code, _, _ = export(str(tmp_path), moto.url, "--demo-instances", "300")
    assert split_copy(objects(moto, "big/")) == split_copy(local_files(tmp_path))
    s3 = awsorg.client(moto.url, "s3")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    key = next(k for k in objects(moto, "big/metadata/instances/"))
    head = s3.head_object(Bucket=BUCKET, Key="big/metadata/instances/" + key)
    assert head["ServerSideEncryption"] == "aws:kms" and "alias/cmdb" in head.get("SSEKMSKeyId", "")


def test_a_failed_put_mid_run_keeps_earlier_objects_and_reports_partial(moto):
    code, first, _ = export("s3://org-cmdb/partial", moto.url)
    assert code == 0
    before = objects(moto, "partial/")
    victim = next(k for k in before if k.startswith("metadata/volumes/")).rsplit("/", 1)[0]
    part_dir = victim.split("/", 2)[2]  # accountid=…/region=…/groupname=…
    proxy = awsorg.FaultProxy(moto.port, fail_put=f"/metadata/volumes/{part_dir}/")
    try:
        code, summary, _ = export("s3://org-cmdb/partial", proxy.url, "--max-attempts", "2",
                                  as_of="2026-11-22T04:00:00Z")
    finally:
        proxy.stop()
    assert code == 3 and summary["status"] == "partial", summary
    assert len(summary["failures"]) == 1
    f = summary["failures"][0]
    assert "injected PUT failure" in f["error"] and part_dir.split("/")[2].split("=")[1] == f["group"], f
    after = objects(moto, "partial/")
    (after_rest, after_copy), (before_rest, _) = split_copy(after), split_copy(before)
    assert sorted(after_rest) == sorted(before_rest), "no table or backup object appeared or vanished"
    # The copy is written anew, the failed group with its previous rows.
    assert summary["query_copy"] and summary["query_copy"] != first["query_copy"]
    vols = pq.read_table(io.BytesIO(after_copy["volumes"])).to_pylist()
    key = tuple(v.split("=")[1] for v in part_dir.split("/"))
    old = pq.read_table(io.BytesIO(before[next(k for k in before if k.startswith(victim + "/"))])).num_rows
    assert sum(1 for r in vols if (r["accountid"], r["region"], r["groupname"]) == key) == old > 0
    put = {urllib.parse.unquote(path).split("?")[0].removeprefix("/org-cmdb/partial/")
           for m, path, _ in proxy.requests if m == "PUT"}
    for k in before_rest:
        pq.read_table(io.BytesIO(after[k]))  # every object is whole
        if k.startswith(victim + "/"):
            assert after[k] == before[k], f"{k}: the object whose PUT failed keeps its old content"
        elif f"/{part_dir}/" in k:
            pass  # the failed partition's other tables: each whole, old or new (objects are atomic one by one)
        else:
            assert k in put, f"{k}: the other objects were rewritten"
    assert summary["partitions"] == first["partitions"] - 1


def test_healthcheck_fails_fast_before_any_collection(moto):
    proxy = awsorg.FaultProxy(moto.port)
    try:
        p = fleetcmdb("export", "--aws", "--regions", "eu-west-1", "--out", "s3://no-such-bucket/x",
                      endpoint=proxy.url)
    finally:
        proxy.stop()
    assert p.returncode == 4, p.stderr
    assert "s3://no-such-bucket" in p.stderr and "does not exist" in p.stderr, p.stderr
    assert proxy.requests and all(path.startswith("/no-such-bucket") and not target
                                  for _, path, target in proxy.requests), proxy.requests
    p = fleetcmdb("export", "--demo", "--out", "s3://org-cmdb/../escape", endpoint=moto.url)
    assert p.returncode == 2 and "'..'" in p.stderr, p.stderr


# --- ddl --apply --------------------------------------------------------------

def apply(moto, *extra, proxy_opts=None):
    proxy = awsorg.FaultProxy(moto.port, **(proxy_opts or {}))
    try:
        p = fleetcmdb("ddl", "--location", "s3://org-cmdb/prod", "--apply", "--database", "cmdb",
                      "--workgroup", "primary", "--output-location", "s3://org-cmdb/athena-results/", *extra,
                      endpoint=proxy.url)
    finally:
        proxy.stop()
    starts = [t for _, _, t in proxy.requests if t.endswith("StartQueryExecution")]
    assert len(starts) == len(proxy.statements)
    return p, proxy.statements


def table_ddl(table):
    text = (REPO / "ddl" / f"{table}.sql").read_text().replace("s3://YOUR-BUCKET/YOUR-PREFIX", "s3://org-cmdb/prod")
    return [strip_comments(s) for s in text.split(";\n") if strip_comments(s)]


def strip_comments(sql):
    return "\n".join(l for l in sql.splitlines() if not l.startswith("--")).strip()


def view_statements():
    return [strip_comments((REPO / "queries" / f).read_text()) for f in VIEW_ORDER]


VIEW_ORDER = ["displayallhostnames.sql", "instance_counts.sql", "configuration_drift.sql",
              "groups_without_maintenance_window.sql", "fleets_in_maintenance_now.sql",
              "running_instances_per_subfleet.sql", "volumes_at_risk.sql", "scheduler_catalogue.sql",
              "accounts_without_deployments.sql", "fleets_open_to_the_internet.sql"]


def test_apply_runs_each_statement_on_its_own_in_order(moto):
    p, stmts = apply(moto)
    assert p.returncode == 0, p.stderr
    assert stmts[0].startswith(
        "SELECT table_name, column_name, extra_info FROM information_schema.columns WHERE table_schema = 'cmdb'")
    expected = ["CREATE DATABASE IF NOT EXISTS `cmdb`"]
    for t in TABLES:
        copy, create = table_ddl(t)[:2]
        assert "SymlinkTextInputFormat" in copy and f"LOCATION 's3://org-cmdb/prod/query/manifests/{t}/'" in copy
        expected += [copy, create, f"MSCK REPAIR TABLE `cmdb`.`{live_name(t)}`"]
    expected += view_statements()
    # Then history: its projected tables (no partitions to add) and views.
    expected += table_ddl("history")
    assert stmts[1:] == expected
    assert f"[{len(stmts) - 1}/{len(stmts) - 1}] view configuration_history" in p.stderr
    for s in stmts:
        assert not s.rstrip().endswith(";")
        if not s.startswith("MSCK"):
            assert len(sqlglot.parse(s, read="athena")) == 1, s


def test_apply_adds_exactly_the_partitions_present_in_s3(moto):
    code, summary, _ = export("s3://org-cmdb/prod", moto.url)
    assert code == 0
    p, stmts = apply(moto, "--partitions-from", "s3://org-cmdb/prod")
    assert p.returncode == 0, p.stderr
    assert not any(s.startswith("MSCK") for s in stmts)
    keys = objects(moto, "prod/metadata/instances/")
    want = {k.rsplit("/", 1)[0] for k in keys}
    adds = [s for s in stmts if s.startswith("ALTER TABLE `cmdb`.`cmdb_instances_by_group` ADD IF NOT EXISTS")]
    assert len(adds) == 1
    got = set()
    for clause in adds[0].split("\n")[1:]:
        a, r, g = [v.split("'")[1] for v in clause.split(",")[:3]]
        got.add(f"accountid={a}/region={r}/groupname={g}")
        assert clause.strip().endswith(f"LOCATION 's3://org-cmdb/prod/metadata/instances/accountid={a}/region={r}/groupname={g}/'")
    assert got == want and len(got) == summary["partitions"]


def live_name(t):
    return f"cmdb_{t}_by_account" if t == "accounts" else f"cmdb_{t}_by_group"


def older_columns():
    """`(table, column, extra_info)` of an older declaration: volumes without kmskeyid and
    throughput, each table partitioned under `…_by_group` beside its query-ready copy."""
    rows = []
    for t in TABLES:
        create = sqlglot.parse_one(strip_comments(table_ddl(t)[1]), read="athena")
        names = [c.name for c in create.find_all(sqlglot.exp.ColumnDef) if c.parent is create.this]
        if t == "volumes":
            names = [n for n in names if n not in ("kmskeyid", "throughput")]
        rows += [(live_name(t), n, "") for n in names] + [(live_name(t), p, "partition key") for p in PARTITIONS[t]]
        rows += [(f"cmdb_{t}", n, "") for n in PARTITIONS[t] + names]
    return rows


def athena_answers(moto, rows):
    """The next Athena query's result rows, set in moto."""
    header = ("table_name", "column_name", "extra_info")
    data = [{"Data": [{"VarCharValue": v} for v in header]}]
    data += [{"Data": [{"VarCharValue": v} for v in r]} for r in rows]
    body = {"account_id": "123456789012", "region": "eu-west-1", "results": [{
        "rows": data,
        "column_info": [{"Name": n, "Type": "varchar", "CatalogName": "hive", "SchemaName": "", "TableName": "",
                         "Label": n, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}
                        for n in header]}]}
    req = urllib.request.Request(moto.url + "/moto-api/static/athena/query-results", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5)


def test_apply_adds_new_columns_to_an_older_table_and_never_drops(moto):
    athena_answers(moto, older_columns() + [("cmdb_volumes_by_group", "legacy_column", "")])
    p, stmts = apply(moto, "--projection")
    assert p.returncode == 0, p.stderr
    assert not any(s.startswith("CREATE EXTERNAL TABLE") and "_history_" not in s for s in stmts), \
        "existing tables are not recreated (the history tables it did not list are created)"
    alters = [s for s in stmts if " ADD COLUMNS " in s]
    assert len(alters) == 2, stmts
    for alter, name in zip(alters, ["cmdb_volumes", "cmdb_volumes_by_group"]):
        alter = sqlglot.parse_one(alter, read="athena")
        assert alter.this.name == name
        assert [c.name for c in alter.find_all(sqlglot.exp.ColumnDef)] == ["kmskeyid", "throughput"]
    alter = sqlglot.parse_one(alters[1], read="athena")
    assert alter.this.name == "cmdb_volumes_by_group"
    added = [c.name for c in alter.find_all(sqlglot.exp.ColumnDef)]
    assert added == ["kmskeyid", "throughput"]
    types = {c.name: c.args["kind"].sql("hive").lower() for c in alter.find_all(sqlglot.exp.ColumnDef)}
    assert types == {"kmskeyid": "string", "throughput": "bigint"}
    assert not any("DROP" in s or "REPLACE COLUMNS" in s or "legacy_column" in s for s in stmts)
    assert "add columns kmskeyid, throughput" in p.stderr


def test_apply_replaces_the_partitioned_tables_of_the_older_layout(moto):
    """Before the query-ready copy, `cmdb_{table}` was the partitioned table: it is dropped
    (an external table: no file is touched) and made the copy's; the partitioned one is
    created under its new name. Nothing else is dropped."""
    rows = []
    for t in TABLES:
        create = sqlglot.parse_one(strip_comments(table_ddl(t)[1]), read="athena")
        names = [c.name for c in create.find_all(sqlglot.exp.ColumnDef) if c.parent is create.this]
        rows += [(f"cmdb_{t}", n, "") for n in names] + [(f"cmdb_{t}", p, "partition key") for p in PARTITIONS[t]]
    athena_answers(moto, rows)
    p, stmts = apply(moto)
    assert p.returncode == 0, p.stderr
    drops = [s for s in stmts if s.startswith("DROP")]
    assert drops == [f"DROP TABLE IF EXISTS `cmdb`.`cmdb_{t}`" for t in TABLES]
    for t in TABLES:
        i = stmts.index(f"DROP TABLE IF EXISTS `cmdb`.`cmdb_{t}`")
        assert stmts[i + 1:i + 3] == table_ddl(t)[:2]


def test_a_failed_statement_is_reported_with_its_reason_and_stops(moto):
    marker = "CREATE EXTERNAL TABLE IF NOT EXISTS `cmdb`.`cmdb_volumes_by_group`"
    p, stmts = apply(moto, proxy_opts={"fail_athena": marker})
    assert p.returncode == 4, p.stderr
    assert "injected: HIVE_METASTORE_ERROR" in p.stderr and "statement: " + marker in p.stderr, p.stderr
    assert stmts[-1].startswith(marker), "nothing runs after the failed statement"
    assert "stopped at statement" in p.stderr


def test_dry_run_prints_and_starts_nothing_but_the_column_check(moto):
    p, stmts = apply(moto, "--dry-run")
    assert p.returncode == 0, p.stderr
    assert len(stmts) == 1 and stmts[0].startswith("SELECT table_name")
    # The views of queries/, each table's _changes view and the 3 timelines;
    # each table's copy and partitioned table, its history table and the table of snapshots.
    assert p.stdout.count("CREATE OR REPLACE VIEW") == len(VIEW_ORDER) + len(TABLES) + 3
    assert p.stdout.count("CREATE EXTERNAL TABLE IF NOT EXISTS") == 3 * len(TABLES) + 1
