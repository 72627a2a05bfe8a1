"""DuckDB and pyarrow, installed from PyPI, read what fleetcmdb writes.

They read the exported tree with Hive partitioning and check row counts,
nested values, tag-map lookups, and that the schema matches the DDL column
for column.
"""
import json
import re

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

GROUP_TABLES = ["discovery", "configuration", "scheduler", "instances", "volumes", "security_groups",
                "maintenance_windows"]
TABLES = GROUP_TABLES + ["accounts"]
# Each table's Hive partition columns, in path order.
PARTITIONS = {t: ["accountid", "region", "groupname"] for t in GROUP_TABLES} | {"accounts": ["accountid"]}


def read_parquet(root, t):
    """DuckDB's read_parquet of table `t`, its partition columns as strings."""
    glob = "/".join(["*"] * len(PARTITIONS[t]))
    types = ", ".join(f"'{c}': 'VARCHAR'" for c in PARTITIONS[t])
    return f"read_parquet('{root}/metadata/{t}/{glob}/*.parquet', hive_partitioning = true, hive_types = {{{types}}})"


def con(root):
    c = duckdb.connect()
    for t in TABLES:
        c.execute(f"CREATE VIEW {t} AS SELECT * FROM {read_parquet(root, t)}")
    return c


def test_row_counts_match_the_summary(export):
    root, summary = export
    c = con(root)
    for t in TABLES:
        (n,) = c.execute(f"SELECT count(*) FROM {t}").fetchone()
        assert n == summary["rows"][t], t
    # one discovery row per partition, and partition columns come from the path
    (parts,) = c.execute("SELECT count(DISTINCT (accountid, region, groupname)) FROM instances").fetchone()
    assert parts == summary["partitions"] == summary["rows"]["discovery"]


def test_nested_values_and_tag_lookups(export):
    c = con(export[0])
    bad = c.execute("""
        SELECT count(*) FROM instances
        WHERE tags['Name'] IS DISTINCT FROM _hostname
           OR tags['clonesquad:group-name'] IS DISTINCT FROM groupname
           OR (state.name = 'running' AND state.code <> 16)
           OR (state.name = 'stopped' AND state.code <> 80)
           OR NOT starts_with(blockdevicemappings[1].ebs.volumeid, 'vol-')
           OR placement.availabilityzone NOT LIKE region || '%'
    """).fetchone()[0]
    assert bad == 0
    states = dict(c.execute("SELECT state.name, count(*) FROM instances GROUP BY 1").fetchall())
    assert states.get("running", 0) > 0 and states.get("stopped", 0) > 0
    subfleets = {r[0] for r in c.execute("SELECT DISTINCT _subfleetname FROM instances").fetchall()}
    assert subfleets == {None, "spot", "batch"}
    (unicode,) = c.execute("SELECT count(*) FROM instances WHERE tags['Owner'] = 'Zoë Ångström'").fetchone()
    assert unicode > 0


def test_volumes_belong_to_instances_of_their_partition(export):
    c = con(export[0])
    orphans = c.execute("""
        SELECT count(*) FROM volumes v
        WHERE NOT EXISTS (
            SELECT 1 FROM instances i
            WHERE i.instanceid = v.attachments[1].instanceid
              AND (i.accountid, i.region, i.groupname) = (v.accountid, v.region, v.groupname))
    """).fetchone()[0]
    assert orphans == 0
    (n,) = c.execute("SELECT sum(len(blockdevicemappings)) FROM instances").fetchone()
    assert n == c.execute("SELECT count(*) FROM volumes").fetchone()[0]


def test_maintenance_state_at_the_run_time(export):
    c = con(export[0])
    rows = c.execute("""
        SELECT fleet, ismaintenancetime, nextmaintenancewindowdetails.matchingwindow.name,
               nextmaintenancewindowdetails.starttime, len(maintenancewindows)
        FROM maintenance_windows
    """).fetchall()
    assert rows
    for fleet, is_mt, name, start, n in rows:
        assert is_mt is True, fleet  # the global default window is open on Sunday 02:00-05:00 UTC
        assert n >= 1
        assert start.isoformat().startswith("2026-11-22T02:00")
    fleets = {r[0] for r in rows}
    assert "__main__" in fleets and "spot" in fleets


def test_discovery_and_configuration(export):
    c = con(export[0])
    rows = c.execute("""
        SELECT groupname, clonesquadversion, accountname, accountemail, parameters['GroupName'],
               usermetadata['team'], interactapigwurl, installtime
        FROM discovery""").fetchall()
    for g, ver, acct, email, pg, team, url, installed in rows:
        assert pg == g and team == f"team-{g}"
        assert ver.startswith("v0.") and acct and "@" in email and url.startswith("https://")
        assert installed.year == 2025
    empty = c.execute("""
        SELECT count(*) FROM discovery d
        WHERE NOT EXISTS (SELECT 1 FROM configuration c
                          WHERE (c.accountid, c.region, c.groupname) = (d.accountid, d.region, d.groupname))""").fetchone()[0]
    assert empty > 0, "the demo has groups with an empty configuration"
    (exp,) = c.execute("SELECT count(*) FROM scheduler WHERE expirationtime IS NOT NULL").fetchone()
    assert exp == c.execute("SELECT count(*) FROM discovery").fetchone()[0]


# --- schema versus DDL -------------------------------------------------------

def athena_to_duckdb(t: str) -> str:
    """Maps an Athena type from our DDL to the DuckDB type name it reads as."""
    t = t.strip()
    simple = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE",
              "boolean": "BOOLEAN", "timestamp": "TIMESTAMP WITH TIME ZONE",
              "map<string,string>": "MAP(VARCHAR, VARCHAR)"}
    if t in simple:
        return simple[t]
    if t.startswith("array<"):
        return athena_to_duckdb(t[6:-1]) + "[]"
    if t.startswith("struct<"):
        fields = split_top(t[7:-1])
        inner = []
        for f in fields:
            name, ty = f.split(":", 1)
            inner.append(f"{name.strip('`')} {athena_to_duckdb(ty)}")
        return "STRUCT(" + ", ".join(inner) + ")"
    raise AssertionError(f"type {t!r} is not one fleetcmdb may use")


def split_top(s: str):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def ddl_columns(ddl_dir, table, copy=False):
    """The columns of the partitioned table's CREATE (or, with copy, the query-ready copy's)."""
    text = (ddl_dir / f"{table}.sql").read_text()
    name = f"`cmdb_{table}` (" if copy else f"`cmdb_{table}_by_"
    text = text.split(f"CREATE EXTERNAL TABLE IF NOT EXISTS `cmdb`.{name}", 1)[1]
    body = text.split("(\n", 1)[1].split("\n)\nCOMMENT", 1)[0] if not copy else text.split("\n)\nCOMMENT", 1)[0]
    cols = []
    for line in body.split(",\n"):
        m = re.match(r"\s*`([a-z0-9_]+)` (.+) COMMENT '", line)
        assert m, line
        cols.append((m.group(1), m.group(2)))
    return cols


@pytest.mark.parametrize("table", TABLES)
def test_schema_matches_ddl_column_for_column(export, ddl_dir, table):
    c = con(export[0])
    seen = c.execute(f"DESCRIBE {table}").fetchall()
    got = [(r[0], r[1].replace('"', "")) for r in seen]
    want = [(n, athena_to_duckdb(t)) for n, t in ddl_columns(ddl_dir, table)]
    parts = {(p, "VARCHAR") for p in PARTITIONS[table]}
    assert got[: len(want)] == want, "data columns, in declaration order"
    assert set(got[len(want):]) == parts, "then the partition columns, as strings"
    # The query-ready copy: the partition columns lead, as ordinary strings, then the same columns.
    copy = ddl_columns(ddl_dir, table, copy=True)
    assert copy == [(p, "string") for p in PARTITIONS[table]] + ddl_columns(ddl_dir, table)
    root = export[0]
    version = json.loads((root / "query" / "current.json").read_text())["version"]
    f = root / "query" / f"version={version}" / table / f"{table}-{version}.parquet"
    seen = c.execute(f"DESCRIBE SELECT * FROM read_parquet('{f}', hive_partitioning = false)").fetchall()
    assert [(r[0], r[1].replace('"', "")) for r in seen] == [(n, athena_to_duckdb(t)) for n, t in copy]


@pytest.mark.parametrize("table", TABLES)
def test_pyarrow_reads_hive_partitions_with_portable_types(export, table):
    root, summary = export
    d = ds.dataset(str(root / "metadata" / table), format="parquet", partitioning="hive")
    t = d.to_table()
    assert t.num_rows == summary["rows"][table]
    assert set(PARTITIONS[table]) <= set(t.schema.names)

    def check(ty, where):
        assert not pa.types.is_unsigned_integer(ty), where
        assert not pa.types.is_large_string(ty) and not pa.types.is_string_view(ty), where
        if pa.types.is_timestamp(ty):
            assert ty.unit == "ms" and ty.tz == "UTC", where
        for i in range(ty.num_fields):
            check(ty.field(i).type, f"{where}.{ty.field(i).name}")

    for f in t.schema:
        check(f.type, f.name)


def test_accounts_list_each_account_with_its_ou_path_tags_and_groups(export):
    root, summary = export
    c = con(root)
    accounts = c.execute("""
        SELECT accountid, accountname, oupath, ouids, tags['CostCenter'], groupcount, groups, regions
        FROM accounts ORDER BY accountid""").fetchall()
    assert len(accounts) == summary["account_partitions"] == summary["rows"]["accounts"] > 1
    found = {}
    for (a, r, g) in c.execute("SELECT accountid, region, groupname FROM discovery").fetchall():
        found.setdefault(a, []).append({"region": r, "groupname": g})
    names = dict(c.execute("SELECT DISTINCT accountid, accountname FROM discovery").fetchall())
    for a, name, path, ids, cost, count, groups, regions in accounts:
        assert name == names[a], "the same Organizations record as discovery"
        assert groups == sorted(found[a], key=lambda x: (x["region"], x["groupname"])), a
        assert count == len(groups) > 0
        assert regions == sorted({g["region"] for g in groups})
        want = {"prod": "Root/Workloads/Production", "stag": "Root/Workloads/Staging", "sand": "Root/Sandbox"}[name[:4]]
        assert path == want, (a, name, path)
        assert len(ids) == path.count("/") + 1 and ids[0] == "r-demo"
        assert cost is not None and cost.startswith("cc-")


def test_discovery_says_each_group_backup_schedule(export):
    root, summary = export
    rows = con(root).execute(
        "SELECT backupschedule, backuptimezone, lastbackuptime, nextbackuptime, metadatarecordlastupdatedat FROM discovery"
    ).fetchall()
    assert len(rows) == summary["rows"]["discovery"]
    for schedule, zone, last, nxt, now in rows:
        assert schedule == "cron(0 * * * ? *)" and zone == "Europe/Paris", (schedule, zone)
        assert last is None, "the first export finds no backup before it"
        assert nxt > now and (nxt - now).total_seconds() <= 3600 and nxt.minute == 0


def test_a_second_export_sees_the_first_backup(tmp_path):
    import json
    import subprocess
    from conftest import binary
    demo = ["--demo", "--demo-accounts", "1", "--demo-regions", "eu-west-1", "--out", str(tmp_path), "--json"]
    for t in ("2026-12-01T10:15:00Z", "2026-12-01T11:20:00Z"):
        p = subprocess.run([binary(), "export", *demo, "--as-of", t], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["backups"] > 0
    got = con(tmp_path).execute("SELECT DISTINCT lastbackuptime, nextbackuptime FROM discovery").fetchall()
    assert [(str(a), str(b)) for a, b in got] == [("2026-12-01 10:15:00+00:00", "2026-12-01 12:00:00+00:00")], got


def test_shards_together_write_exactly_the_whole_run(tmp_path):
    import filecmp
    import json
    import subprocess
    from conftest import binary
    demo = ["--demo", "--demo-accounts", "6", "--demo-groups", "2", "--as-of", "2026-12-01T10:15:00Z", "--json"]
    whole = subprocess.run([binary(), "export", *demo, "--out", str(tmp_path / "whole")], capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    scopes = 0
    for k in range(1, 5):
        p = subprocess.run([binary(), "export", *demo, "--out", str(tmp_path / "shards"), "--shard", f"{k}/4"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        scopes += json.loads(p.stdout)["scopes"]
    assert scopes == json.loads(whole.stdout)["scopes"] == 12
    files = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() and "query" not in p.parts)
    assert files(tmp_path / "shards") == files(tmp_path / "whole")
    (_, mismatch, errors) = filecmp.cmpfiles(tmp_path / "whole", tmp_path / "shards", files(tmp_path / "whole"), shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
    # A shard writes no query-ready copy (it holds part of the org); consolidate, run once
    # after the last shard, writes the one the whole run wrote, byte for byte.
    assert not (tmp_path / "shards" / "query").exists()
    p = subprocess.run([binary(), "consolidate", "--out", str(tmp_path / "shards"), "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    for d in ["whole", "shards"]:
        pointer = json.loads((tmp_path / d / "query" / "current.json").read_text())
        files_of = {t: (tmp_path / d / v["file"]).read_bytes() for t, v in pointer["tables"].items()}
        if d == "whole":
            want = files_of
    assert files_of == want
