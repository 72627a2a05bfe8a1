"""History end to end: snapshots of a sequence of exports with known mutations between them.

The demo organisation is written as AWS CLI JSON (gen-snapshot); between
exports the JSON is edited here: instances launched, stopped, retyped,
terminated (gone from describe-instances); configuration keys added,
changed and deleted; a maintenance window disabled; a group removed (its
stack gone). What changed is computed here from those edits (and, for the
rows a removed group or a disabled window touches, from the previous
snapshot read by DuckDB), then compared with both the `_changes` views run
by DuckDB over the snapshot files and `fleetcmdb diff --json`.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import binary

TIMES = ["2026-11-30T00:05:00Z", "2026-11-30T01:05:00Z", "2026-11-30T02:05:00Z"]
IDS = ["2026-11-30-00", "2026-11-30-01", "2026-11-30-02"]
IDENTITY = {"discovery": [], "configuration": ["key"], "scheduler": ["key"], "instances": ["instanceid"],
            "volumes": ["volumeid"], "security_groups": ["groupid"], "maintenance_windows": ["fleet"],
            "accounts": []}


def run(*args, env=None, check=True):
    p = subprocess.run([binary(), *args], capture_output=True, text=True, env=env)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def export(dump, out, at, env=None, check=True):
    return run("export", "--snapshot", str(dump), "--out", str(out), "--history", "--prune-stale",
               "--as-of", at, "--json", env=env, check=check)


def load(p):
    return json.loads(Path(p).read_text())


def save(p, doc):
    Path(p).write_text(json.dumps(doc))


def partition_cols(table):
    return ["accountid"] if table == "accounts" else ["accountid", "region", "groupname"]


def key_of(table, row):
    return tuple(row[c] for c in partition_cols(table) + IDENTITY[table])


def duck(out):
    script = run("ddl", "--engine", "duckdb", "--history", "--location", str(out)).stdout
    con = duckdb.connect()
    con.execute(script)
    return con


def view_changes(con, snapshot):
    got = set()
    for t, ident in IDENTITY.items():
        cols = partition_cols(t) + ident
        q = f'SELECT change, columnname, {", ".join(cols)} FROM cmdb.{t}_changes WHERE snapshot = ?'
        for change, column, *key in con.execute(q, [snapshot]).fetchall():
            got.add((t, change, tuple(key), column))
    return got


def diff_changes(out, frm, to):
    p = run("diff", "--out", str(out), "--from", frm, "--to", to, "--json")
    got = set()
    for line in p.stdout.splitlines():
        c = json.loads(line)
        assert (c["from"], c["to"]) == (frm, to)
        t = c["table"]
        assert sorted(c["key"]) == sorted(partition_cols(t) + IDENTITY[t])
        key = key_of(t, c["key"])
        if c["change"] == "changed":
            assert c["columns"], c
            for col in c["columns"]:
                assert col["old"] != col["new"]
                got.add((c["table"], "changed", key, col["column"]))
        else:
            got.add((c["table"], c["change"], key, None))
    return got


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    base = tmp_path_factory.mktemp("history")
    dump, out = base / "dump", base / "cmdb"
    run("gen-snapshot", str(dump), "--demo-accounts", "2", "--demo-groups", "2", "--demo-instances", "6")
    accounts = sorted(p.name for p in dump.iterdir() if p.is_dir())
    a, b = accounts
    r = "eu-west-1"
    export(dump, out, TIMES[0])
    expected = [set(), set()]

    # Round 1: instances and configuration of account a, eu-west-1.
    pages = dump / a / r / "ec2-describe-instances-0001.json"
    doc = load(pages)
    insts = [i for res in doc["Reservations"] for i in res["Instances"]]
    group = lambda i: next(t["Value"] for t in i["Tags"] if t["Key"] == "clonesquad:group-name")
    g = group(insts[0])
    mine = [i for i in insts if group(i) == g]
    stopped, retyped, gone = mine[0], mine[1], mine[2]
    new = json.loads(json.dumps(mine[3]))
    new["InstanceId"] = "i-0feedfacefeedface"
    doc["Reservations"].append({"ReservationId": "r-0feedface", "OwnerId": a, "Instances": [new]})
    stopped["State"] = {"Code": 80, "Name": "stopped"}
    retyped["InstanceType"] = "m7g.4xlarge" if retyped["InstanceType"] != "m7g.4xlarge" else "m7g.8xlarge"
    for res in doc["Reservations"]:
        res["Instances"] = [i for i in res["Instances"] if i["InstanceId"] != gone["InstanceId"]]
    save(pages, doc)
    e = expected[0]
    e.add(("instances", "added", (a, r, g, new["InstanceId"]), None))
    e.add(("instances", "changed", (a, r, g, stopped["InstanceId"]), "state"))
    e.add(("instances", "changed", (a, r, g, retyped["InstanceId"]), "instancetype"))
    e.add(("instances", "removed", (a, r, g, gone["InstanceId"]), None))
    # Volumes find their group through the instance they are attached to:
    # those of the instance that is gone leave the group with it.
    vols = load(dump / a / r / "ec2-describe-volumes-0001.json")["Volumes"]
    for v in vols:
        if any(x.get("InstanceId") == gone["InstanceId"] for x in v.get("Attachments", [])):
            e.add(("volumes", "removed", (a, r, g, v["VolumeId"]), None))

    cfg = dump / a / r / f"dynamodb-scan-CloneSquad-{g}-Configuration.json"
    doc = load(cfg)
    items = doc["Items"]
    changed_key, deleted_key = items[0]["Key"]["S"], items[1]["Key"]["S"]
    items[0]["Value"] = {"S": items[0]["Value"]["S"] + "7"}
    del items[1]
    items.append({"Key": {"S": "app.history.added"}, "Value": {"S": "yes"}})
    doc["Count"] = len(items)
    save(cfg, doc)
    e.add(("configuration", "changed", (a, r, g, changed_key), "value"))
    e.add(("configuration", "removed", (a, r, g, deleted_key), None))
    e.add(("configuration", "added", (a, r, g, "app.history.added"), None))
    export(dump, out, TIMES[1])

    # Round 2: a window of account b disabled; a group of account b removed.
    con = duck(out)
    win = dump / b / r / "ssm-describe-maintenance-windows-0001.json"
    doc = load(win)
    target = next(w for w in doc["WindowIdentities"] if w["Name"].endswith("-Mainfleet"))
    target["Enabled"] = False
    save(win, doc)
    # A group is removed whole: its stack, its tables, its instances (and
    # so the volumes attached to them).
    ue = dump / b / "us-east-1"
    stacks = ue / "cloudformation-describe-stacks-0001.json"
    doc = load(stacks)
    removed_stack = doc["Stacks"].pop(0)
    removed = removed_stack["StackName"].removeprefix("CloneSquad-")
    save(stacks, doc)
    for f in ue.glob(f"dynamodb-*-CloneSquad-{removed}-*.json"):
        f.unlink()
    pages = ue / "ec2-describe-instances-0001.json"
    doc = load(pages)
    for res in doc["Reservations"]:
        res["Instances"] = [i for i in res["Instances"] if group(i) != removed]
    doc["Reservations"] = [res for res in doc["Reservations"] if res["Instances"]]
    save(pages, doc)
    e = expected[1]
    fleets = con.execute(
        "SELECT accountid, region, groupname, fleet FROM cmdb.cmdb_history_maintenance_windows "
        "WHERE snapshot = ? AND accountid = ? AND region = ? "
        "AND list_contains(list_transform(maintenancewindows, lambda w: w.windowid), ?)",
        [IDS[1], b, r, target["WindowId"]]).fetchall()
    assert fleets, "the disabled window applies to some fleet"
    for f in fleets:
        e.add(("maintenance_windows", "changed", tuple(f), "maintenancewindows"))
    for t, ident in IDENTITY.items():
        if t == "accounts":
            continue
        cols = partition_cols(t) + ident
        rows = con.execute(
            f'SELECT {", ".join(cols)} FROM cmdb.cmdb_history_{t} WHERE snapshot = ? '
            'AND accountid = ? AND region = ? AND groupname = ?', [IDS[1], b, "us-east-1", removed]).fetchall()
        if t == "discovery":
            assert len(rows) == 1
        for row in rows:
            e.add((t, "removed", tuple(row), None))
    e.add(("accounts", "changed", (b,), "groups"))
    e.add(("accounts", "changed", (b,), "groupcount"))
    export(dump, out, TIMES[2])
    return dump, out, expected


def test_changes_views_and_diff_equal_the_mutations(history):
    _, out, expected = history
    con = duck(out)
    for i, want in enumerate(expected):
        frm, to = IDS[i], IDS[i + 1]
        assert view_changes(con, to) == want, f"views, {frm} -> {to}"
        assert diff_changes(out, frm, to) == want, f"diff, {frm} -> {to}"
        prev = con.execute("SELECT DISTINCT previous FROM cmdb.instances_changes WHERE snapshot = ?", [to]).fetchall()
        assert prev in ([(frm,)], []), prev


def test_old_and_new_values_are_shown(history):
    _, out, _ = history
    con = duck(out)
    rows = con.execute("SELECT oldvalue, newvalue FROM cmdb.instances_changes WHERE columnname = 'instancetype'").fetchall()
    assert len(rows) == 1 and rows[0][1] in ("m7g.4xlarge", "m7g.8xlarge") and rows[0][0] != rows[0][1]
    p = run("diff", "--out", str(out), "--from", IDS[0], "--to", IDS[1], "--table", "configuration")
    assert "app.history.added" in p.stdout and "added" in p.stdout
    assert '-> ' in p.stdout and "value:" in p.stdout


def test_diff_across_several_snapshots_is_the_net_change(history):
    _, out, expected = history
    net = diff_changes(out, IDS[0], IDS[2])
    assert net == expected[0] | expected[1]


def test_timelines(history):
    _, out, _ = history
    con = duck(out)
    n = con.execute("SELECT count(DISTINCT snapshot) FROM cmdb.instance_timeline").fetchone()[0]
    assert n == 3
    typed = con.execute("SELECT count(*) FROM cmdb.instance_timeline WHERE typechanged AND snapshot = ?", [IDS[1]]).fetchone()[0]
    assert typed == 2  # the retyped instance, and the one launched
    hist = con.execute("SELECT value, firstseen, lastseen FROM cmdb.configuration_history "
                       "WHERE key = 'app.history.added'").fetchall()
    assert hist == [("yes", IDS[1], IDS[2])]
    total = con.execute("SELECT snapshot, sum(instances) FROM cmdb.group_timeline GROUP BY 1 ORDER BY 1").fetchall()
    direct = con.execute("SELECT snapshot, count(*) FROM cmdb.cmdb_history_instances GROUP BY 1 ORDER BY 1").fetchall()
    assert total == direct


def test_relative_times_and_errors(history):
    _, out, _ = history
    p = run("diff", "--out", str(out), "--as-of", "2026-11-30T02:30:00Z", "--from", "1h", "--json")
    tos = {json.loads(l)["to"] for l in p.stdout.splitlines()}
    froms = {json.loads(l)["from"] for l in p.stdout.splitlines()}
    assert tos == {IDS[2]} and froms == {IDS[1]}
    p = run("diff", "--out", str(out), "--from", "2026-11-29", check=False)
    assert p.returncode == 2 and "2026-11-30-00 to 2026-11-30-02" in p.stderr
    p = run("diff", "--out", str(out), "--from", "last tuesday", check=False)
    assert p.returncode == 2 and "last tuesday" in p.stderr
    p = run("diff", "--out", str(out), "--table", "nope", check=False)
    assert p.returncode == 2 and "instances" in p.stderr


def test_a_snapshot_is_taken_once_per_period(history):
    dump, out, _ = history
    f = out / "history" / "instances" / f"snapshot={IDS[2]}" / f"instances-{IDS[2]}.parquet"
    before = f.read_bytes()
    p = export(dump, out, "2026-11-30T02:45:00Z")
    assert json.loads(p.stdout)["snapshot"] == {"id": IDS[2], "written": False}
    assert f.read_bytes() == before


def test_an_interrupted_snapshot_is_invisible_and_completed_later(history, tmp_path):
    dump, out0, _ = history
    out = tmp_path / "cmdb"
    shutil.copytree(out0, out)
    before = {p: p.read_bytes() for p in (out / "history").rglob("*.parquet")}
    env = dict(os.environ, FLEETCMDB_FAILPOINT="crash-in-snapshot:instances")
    p = export(dump, out, "2026-11-30T03:05:00Z", env=env, check=False)
    assert p.returncode != 0
    # Earlier snapshots are untouched; the partial one has tables but no completion.
    for path, data in before.items():
        assert path.read_bytes() == data
    partial = "2026-11-30-03"
    assert (out / "history" / "instances" / f"snapshot={partial}").exists()
    assert not (out / "history" / "snapshots" / f"snapshot={partial}").exists()
    con = duck(out)
    for v in ["instances_changes", "configuration_changes", "instance_timeline", "group_timeline"]:
        n = con.execute(f"SELECT count(*) FROM cmdb.{v} WHERE snapshot = ?", [partial]).fetchone()[0]
        assert n == 0, v
    p = run("diff", "--out", str(out), "--json")
    assert all(json.loads(l)["to"] == IDS[2] for l in p.stdout.splitlines())
    # The next run of the same period completes it.
    p = export(dump, out, "2026-11-30T03:35:00Z")
    assert json.loads(p.stdout)["snapshot"] == {"id": partial, "written": True}
    p = run("diff", "--out", str(out), "--json")
    assert p.stdout == ""  # nothing changed since 02
    assert "from snapshot 2026-11-30-02 to 2026-11-30-03" in p.stderr


def test_prune_keeps_what_the_policy_says(history, tmp_path):
    _, out0, _ = history
    out = tmp_path / "cmdb"
    shutil.copytree(out0, out)
    # An incomplete snapshot older than the newest complete one is removed too.
    orphan = out / "history" / "volumes" / "snapshot=2026-11-29-23" / "volumes-2026-11-29-23.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"PAR1")
    p = run("prune", "--out", str(out), "--history", "--keep", "hourly=2", "--json")
    doc = json.loads(p.stdout)
    assert doc["deleted_snapshots"] == ["2026-11-29-23", IDS[0]]
    assert not orphan.exists()
    left = sorted(p.name for p in (out / "history" / "snapshots").iterdir())
    assert left == [f"snapshot={IDS[1]}", f"snapshot={IDS[2]}"]
    assert not any((out / "history").rglob(f"*{IDS[0]}*"))
    # Backups are not touched by --history.
    assert any((out / "backups").rglob("archive/*.yaml"))


def test_demo_revisions_change_what_they_say(tmp_path):
    out = tmp_path / "cmdb"
    for rev, at in [("0", TIMES[0]), ("1", TIMES[1])]:
        run("export", "--demo", "--demo-accounts", "2", "--demo-revision", rev, "--out", str(out), "--history",
            "--as-of", at, "--no-backup")
    got = diff_changes(out, IDS[0], IDS[1])
    assert got == view_changes(duck(out), IDS[1])
    tables = {t for t, *_ in got}
    assert tables == {"instances", "configuration"}, tables
    follows_state_or_type = {"state", "statereason", "statetransitionreason", "publicipaddress", "publicdnsname",
                             "networkinterfaces", "instancetype", "architecture", "bootmode", "cpuoptions",
                             "ebsoptimized"}
    assert {c for t, change, _, c in got if t == "instances"} <= follows_state_or_type
    assert all(change == "changed" for _, change, _, _ in got)
    assert {k[-1] for t, _, k, c in got if t == "configuration"} == {"ec2.schedule.min_instance_count"}
