"""The views in queries/ run in DuckDB against the exported demo, and their
results are checked against expectations computed independently in Python
from the Parquet files (read with pyarrow).

Mechanical rewrites from Athena (Trino) to DuckDB, the only ones applied:
- the database qualifier `"cmdb".` is dropped; tables are bound to DuckDB
  views over the exported Parquet (`cmdb_instances`, ...);
- `current_timestamp` becomes a fixed `TIMESTAMP '…'`, so that "now" is a
  known instant;
- `cardinality(` becomes `len(` (DuckDB's `cardinality` is for maps only),
  `transform(` becomes `list_transform(`, `array_join(` becomes
  `array_to_string(`, and a lambda `x ->` becomes `lambda x:` (as
  `fleetcmdb ddl --engine duckdb` rewrites them).
"""
import re
import collections
import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from conftest import AS_OF
from test_engines import TABLES, read_parquet

QUERIES = Path(__file__).resolve().parents[2] / "queries"
PARTITIONING = ds.partitioning(pa.schema([("accountid", pa.string()), ("region", pa.string()),
                                          ("groupname", pa.string())]), flavor="hive")
EXPORT_TIME = dt.datetime(2026, 11, 22, 3, 0)


def rows(root, table):
    return ds.dataset(Path(root) / "metadata" / table, format="parquet", partitioning=PARTITIONING).to_table().to_pylist()


def load(root, now=EXPORT_TIME):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for t in TABLES:
        con.execute(f"CREATE VIEW cmdb_{t} AS SELECT * FROM {read_parquet(root, t)}")
    for q in sorted(QUERIES.glob("*.sql")):
        sql = q.read_text()
        assert "`" not in sql, f"{q.name}: views use double quotes, never backticks"
        sql = (sql.replace('"cmdb".', "")
               .replace("current_timestamp", f"TIMESTAMP '{now:%Y-%m-%d %H:%M:%S}'")
               .replace("cardinality(", "len(")
               .replace("transform(", "list_transform(")
               .replace("array_join(", "array_to_string("))
        sql = re.sub(r"(\w+) ->", r"lambda \1:", sql)
        con.execute(sql)
    return con


def naive(t):
    return None if t is None else t.replace(tzinfo=None)


def test_no_view_reads_a_partitioned_table():
    """Views read the query-ready copy (the plain names), never a `_by_group` table, whose
    projection (`ddl --projection`) answers only single-group look-ups."""
    for q in list(QUERIES.glob("*.sql")) + list(QUERIES.glob("history/*.sql")):
        assert "_by_group" not in q.read_text() and "_by_account" not in q.read_text(), q.name


def test_every_query_has_a_header_saying_what_it_answers():
    for q in QUERIES.glob("*.sql"):
        assert q.read_text().startswith("-- What it answers:"), q.name


def test_displayallhostnames(export):
    root, summary = export
    got = load(root).execute("SELECT hostname, groupname, interactapigwurl, clonesquadversion, accountname, accountemail FROM displayallhostnames").fetchall()
    assert len(got) == summary["rows"]["instances"]
    disc = {(d["accountid"], d["region"], d["groupname"]): d for d in rows(root, "discovery")}
    want = sorted((i["_hostname"], i["groupname"], *(disc[(i["accountid"], i["region"], i["groupname"])][k]
                   for k in ("interactapigwurl", "clonesquadversion", "accountname", "accountemail")))
                  for i in rows(root, "instances"))
    assert sorted(got) == want
    for host, group, url, ver, name, email in got:
        assert host.startswith(group + "-"), host
        assert url.startswith(f"https://{group}api.") and ver.startswith("v0.") and name and "@" in email


def test_instance_counts(export):
    root, _ = export
    got = {tuple(r[:5]): r[5] for r in load(root).execute("SELECT * FROM instance_counts").fetchall()}
    want = collections.Counter((i["accountid"], i["region"], i["groupname"], i["instancetype"], i["state"]["name"])
                               for i in rows(root, "instances"))
    assert got == dict(want)
    assert {k[4] for k in got} == {"running", "stopped"}


def test_configuration_drift(export):
    root, _ = export
    conf = rows(root, "configuration")
    by_key = collections.defaultdict(collections.Counter)
    for c in conf:
        by_key[c["key"]][c["value"]] += 1
    common = {k: sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))[0] for k, v in by_key.items()}
    want = {(c["accountid"], c["region"], c["groupname"], c["key"], c["value"], *common[c["key"]])
            for c in conf if c["value"] != common[c["key"]][0]}
    got = set(load(root).execute("SELECT * FROM configuration_drift").fetchall())
    assert got == want and want, "the demo has drift to find"


def test_groups_without_maintenance_window(export, tmp_path):
    root, summary = export
    assert load(root).execute("SELECT count(*) FROM groups_without_maintenance_window").fetchone() == (0,), \
        "every demo group has a window"
    copy = tmp_path / "cmdb"
    shutil.copytree(root, copy)
    victim = sorted((copy / "metadata" / "maintenance_windows").glob("*/*/*/*.parquet"))[1]
    victim.unlink()
    a, r, g = (p.name.split("=", 1)[1] for p in (victim.parents[2], victim.parents[1], victim.parent))
    got = load(copy).execute("SELECT accountid, region, groupname, accountname FROM groups_without_maintenance_window").fetchall()
    name = next(d["accountname"] for d in rows(root, "discovery") if d["accountid"] == a)
    assert got == [(a, r, g, name)]


def test_fleets_in_maintenance_now(export):
    root, _ = export
    windows = rows(root, "maintenance_windows")
    for now in (EXPORT_TIME, dt.datetime(2026, 11, 22, 6, 0), dt.datetime(2026, 11, 23, 2, 30)):
        want = {(w["accountid"], w["region"], w["groupname"], w["fleet"]) for w in windows
                if (d := w["nextmaintenancewindowdetails"]) and d["starttime"] is not None
                and naive(d["starttime"]) <= now < naive(d["endtime"])}
        got = set(load(root, now).execute("SELECT accountid, region, groupname, fleet FROM fleets_in_maintenance_now").fetchall())
        assert got == want, now
        if now == EXPORT_TIME:
            assert want == {(w["accountid"], w["region"], w["groupname"], w["fleet"]) for w in windows if w["ismaintenancetime"]}
            assert want, f"the demo is in maintenance at {AS_OF}"


def test_running_instances_per_subfleet(export):
    root, _ = export
    want = collections.Counter((i["accountid"], i["region"], i["groupname"], i["_subfleetname"] or "(main fleet)")
                               for i in rows(root, "instances") if i["state"]["name"] == "running")
    got = {tuple(r[:4]): r[4] for r in load(root).execute("SELECT * FROM running_instances_per_subfleet").fetchall()}
    assert got == dict(want)
    assert {k[3] for k in got} >= {"(main fleet)", "spot"}


def test_volumes_at_risk(export):
    root, _ = export
    vols = rows(root, "volumes")
    want = {v["volumeid"]: (not v["encrypted"], not v["attachments"]) for v in vols
            if not v["encrypted"] or not v["attachments"]}
    got = {r[0]: (r[1], r[2]) for r in load(root).execute("SELECT volumeid, unencrypted, unattached FROM volumes_at_risk").fetchall()}
    assert got == want
    assert 0 < len(got) < len(vols)


def test_fleets_open_to_the_internet(export):
    """Computed from the Parquet in Python: each fleet whose instances use a
    security group with an inbound rule from 0.0.0.0/0 or ::/0."""
    root, _ = export

    def label(p):
        v4 = any(r["cidrip"] == "0.0.0.0/0" for r in p["ipranges"] or [])
        v6 = any(r["cidripv6"] == "::/0" for r in p["ipv6ranges"] or [])
        if not (v4 or v6):
            return None
        port = ("all traffic" if p["ipprotocol"] == "-1" else f"{p['ipprotocol']}/{p['fromport']}"
                if p["fromport"] == p["toport"] else f"{p['ipprotocol']}/{p['fromport']}-{p['toport']}")
        return port + ("" if v4 and v6 else " (IPv4)" if v4 else " (IPv6)")

    sgs = {}
    for g in rows(root, "security_groups"):
        labels = [x for x in map(label, g["ippermissions"] or []) if x]
        if labels:
            sgs[(g["accountid"], g["region"], g["groupname"], g["groupid"])] = (g["securitygroupname"], ", ".join(labels))
    want = collections.Counter()
    for i in rows(root, "instances"):
        fleet = i["_subfleetname"] or "__main__"
        for sg in i["securitygroups"] or []:
            key = (i["accountid"], i["region"], i["groupname"], sg["groupid"])
            if key in sgs:
                want[(i["accountid"], i["region"], i["groupname"], fleet, sg["groupid"], *sgs[key])] += 1
    got = {tuple(r[:-1]): r[-1] for r in load(root).execute(
        "SELECT accountid, region, groupname, fleet, securitygroupid, securitygroupname, open_ports, instances "
        "FROM fleets_open_to_the_internet").fetchall()}
    assert got == dict(want)
    assert any("tcp/22" in k[-1] for k in got), "the demo has fleets open on SSH"
    assert len({k[:3] for k in got}) < len(rows(root, "discovery")), "and groups that are not open"


def test_scheduler_catalogue(export):
    root, summary = export
    sched = rows(root, "scheduler")
    names = {d["accountid"]: d["accountname"] for d in rows(root, "discovery")}
    for now in (EXPORT_TIME, dt.datetime(2027, 1, 1)):
        want = {(s["accountid"], s["groupname"], names[s["accountid"]], s["key"], s["value"],
                 s["expirationtime"] is not None and naive(s["expirationtime"]) < now) for s in sched}
        got = set(load(root, now).execute(
            "SELECT accountid, groupname, accountname, key, value, expired FROM scheduler_catalogue").fetchall())
        assert got == want and len(sched) == summary["rows"]["scheduler"]
    assert any(w[-1] for w in want), "by 2027 some entries have expired"


def test_accounts_without_deployments(export, tmp_path):
    root, _ = export
    assert load(root).execute("SELECT count(*) FROM accounts_without_deployments").fetchone() == (0,), \
        "every demo account has groups"
    copy = tmp_path / "cmdb"
    shutil.copytree(root, copy)
    victim = sorted((copy / "metadata" / "accounts").glob("*/*.parquet"))[1]
    t = pq.read_table(victim)
    for name, value in (("groupcount", [0]), ("groups", [[]])):
        i = t.schema.get_field_index(name)
        t = t.set_column(i, t.schema.field(i), pa.array(value, type=t.schema.field(i).type))
    pq.write_table(t, victim)
    account = victim.parent.name.removeprefix("accountid=")
    got = load(copy).execute("SELECT accountid, oupath, tags['CostCenter'] FROM accounts_without_deployments").fetchall()
    cost = dict(t.column("tags")[0].as_py())["CostCenter"]
    assert got == [(account, t.column("oupath")[0].as_py(), cost)] and cost.startswith("cc-")


def test_the_default_demo_has_an_account_without_deployments(tmp_path):
    """The README tour's query shows something: the default demo's fourth
    account is in the Sandbox OU and runs no group."""
    import subprocess
    from conftest import binary
    out = tmp_path / "cmdb"
    subprocess.run([binary(), "export", "--demo", "--out", str(out), "--as-of", AS_OF], check=True,
                   capture_output=True)
    got = load(out).execute("SELECT accountid, accountname, oupath FROM accounts_without_deployments").fetchall()
    assert len(got) == 1 and got[0][2] == "Root/Sandbox" and got[0][1].startswith("sandbox"), got
    groups = {d["accountid"] for d in rows(out, "discovery")}
    assert got[0][0] not in groups and len(groups) == 3


def test_the_duckdb_script_defines_every_table_and_view(export):
    import subprocess
    from conftest import binary
    from test_engines import TABLES
    root, summary = export
    p = subprocess.run([binary(), "ddl", "--engine", "duckdb", "--location", str(root)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    con = duckdb.connect()
    con.execute(p.stdout)
    for t in TABLES:
        (n,) = con.execute(f'SELECT count(*) FROM "cmdb"."cmdb_{t}"').fetchone()
        assert n == summary["rows"][t], t
    views = sorted(q.stem for q in QUERIES.glob("*.sql"))
    for v in views:
        con.execute(f'SELECT * FROM "cmdb"."{v}" LIMIT 5').fetchall()
    got = con.execute('SELECT count(*) FROM "cmdb"."displayallhostnames"').fetchone()[0]
    assert got == summary["rows"]["instances"]
    p = subprocess.run([binary(), "ddl", "--engine", "duckdb", "--apply"], capture_output=True, text=True)
    assert p.returncode == 2 and "--engine duckdb" in p.stderr


def views_over_copy_and_tree(root):
    """Every view of queries/, run by DuckDB from the script `ddl --engine duckdb` prints,
    once over the query-ready copy (the tables' plain names) and once with those names bound
    to the per-partition tree: `{view: (rows over the copy, rows over the tree)}`."""
    import subprocess
    from conftest import binary
    p = subprocess.run([binary(), "ddl", "--engine", "duckdb", "--location", str(root)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = {}
    views = sorted(q.stem for q in QUERIES.glob("*.sql"))
    cons = []
    for over_tree in (False, True):
        con = duckdb.connect()
        con.execute(p.stdout)
        if over_tree:
            for t in TABLES:
                by = "account" if t == "accounts" else "group"
                con.execute(f'CREATE OR REPLACE VIEW "cmdb"."cmdb_{t}" AS SELECT * FROM "cmdb"."cmdb_{t}_by_{by}"')
        cons.append(con)
    for v in views:
        got = [sorted(map(repr, c.execute(f'SELECT * FROM "cmdb"."{v}"').fetchall())) for c in cons]
        out[v] = tuple(got)
    return out


def test_every_view_gives_the_same_rows_over_the_copy_as_over_the_tree(export):
    root, _ = export
    results = views_over_copy_and_tree(root)
    for v, (copy, tree) in results.items():
        assert copy == tree, v
    for v in ["displayallhostnames", "instance_counts", "configuration_drift", "scheduler_catalogue"]:
        assert results[v][0], f"{v} returns rows on the demo"


def test_a_crash_before_the_switch_leaves_the_previous_copy_in_force(export, tmp_path):
    import json
    import os
    import subprocess
    from conftest import binary
    root0, summary = export
    root = tmp_path / "cmdb"
    shutil.copytree(root0, root)
    before = json.loads((root / "query" / "current.json").read_text())
    manifests = {p: p.read_bytes() for p in (root / "query" / "manifests").rglob("manifest")}
    for fp in ["crash-in-query-copy:instances", "crash-in-query-switch:current"]:
        env = dict(os.environ, FLEETCMDB_FAILPOINT=fp)
        p = subprocess.run([binary(), "export", "--demo", "--demo-accounts", "3", "--demo-groups", "3",
                            "--demo-revision", "1", "--out", str(root)], capture_output=True, text=True, env=env)
        assert p.returncode != 0, fp
        assert json.loads((root / "query" / "current.json").read_text()) == before, fp
        if fp.startswith("crash-in-query-copy"):
            assert {p: p.read_bytes() for p in manifests} == manifests, "Athena still reads the previous version"
        con = duckdb.connect()
        con.execute(subprocess.run([binary(), "ddl", "--engine", "duckdb", "--location", str(root)],
                                   capture_output=True, text=True).stdout)
        (n,) = con.execute('SELECT count(*) FROM "cmdb"."cmdb_instances"').fetchone()
        assert n == summary["rows"]["instances"], fp
    # The next run switches, and removes what the crashed ones left once they are superseded.
    for _ in range(3):
        p = subprocess.run([binary(), "export", "--demo", "--demo-accounts", "3", "--demo-groups", "3", "--out",
                            str(root), "--json"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    now = json.loads((root / "query" / "current.json").read_text())
    versions = sorted(d.name for d in (root / "query").glob("version=*"))
    assert versions == sorted([f"version={now['previous']}", f"version={now['version']}"]), versions
