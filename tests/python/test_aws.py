"""Live collection (`export --aws`) against moto's server, through the real SDK over HTTP."""
import contextlib
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import awsorg
from conftest import AS_OF, binary
from test_engines import TABLES, con, read_parquet


@pytest.fixture(scope="module")
def org():
    server = awsorg.MotoServer()
    try:
        creds, accounts, expected = awsorg.build_org(server)
        yield server, creds, accounts, expected
    finally:
        server.stop()


def run(creds, *args, endpoint):
    p = subprocess.run([binary(), *args, "--endpoint-url", endpoint, "--as-of", AS_OF, "--json"],
                       capture_output=True, text=True, env=awsorg.fleetcmdb_env(creds), timeout=600)
    try:
        summary = json.loads(p.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p.returncode, summary


def export_org(org, out, *extra, endpoint=None, exclude_locked=True):
    server, creds, accounts, _ = org
    args = ["export", "--aws", "--org", "--member-role", awsorg.MEMBER_ROLE, "--regions", ",".join(awsorg.REGIONS),
            "--page-size", "3", "--max-attempts", "2", "--out", str(out), *extra]
    if exclude_locked:
        args += ["--exclude-accounts", accounts["locked"]]
    return run(creds, *args, endpoint=endpoint or server.url)


def files(root: Path):
    """The table files (the YAML backups beside them are checked in test_backups)."""
    return sorted(str(p.relative_to(root)) for p in (root / "metadata").rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def good(org, tmp_path_factory):
    out = tmp_path_factory.mktemp("live")
    code, summary = export_org(org, out)
    assert code == 0, summary
    return out, summary


def test_every_table_matches_what_was_created(org, good):
    _, _, accounts, expected = org
    out, summary = good
    exported = {k: v for k, v in expected.items() if k[0] != accounts["locked"]}
    assert summary["partitions"] == len(exported) == 9
    c = con(out)
    got = {(a, r, g): (n, s, sub) for a, r, g, n, s, sub in c.execute("""
        SELECT accountid, region, groupname, count(*), count(*) FILTER (state.name = 'stopped'),
               count(*) FILTER (_subfleetname = 'spot')
        FROM instances GROUP BY ALL""").fetchall()}
    assert got == {k: (v["instances"], v["stopped"], v["subfleet"]) for k, v in exported.items()}
    (bad,) = c.execute("SELECT count(*) FROM instances WHERE tags['Name'] <> _hostname OR instanceid NOT LIKE 'i-%'").fetchone()
    assert bad == 0
    for (a, r, g), v in exported.items():
        conf = dict(c.execute("SELECT key, value FROM configuration WHERE accountid=? AND region=? AND groupname=?", [a, r, g]).fetchall())
        assert conf == v["configuration"]
        sched = {k: (val, exp) for k, val, exp in c.execute(
            "SELECT key, value, epoch(expirationtime) FROM scheduler WHERE accountid=? AND region=? AND groupname=?", [a, r, g]).fetchall()}
        assert {k: val for k, (val, _) in sched.items()} == v["scheduler"]
        assert sched["cron-0"][1] == 1800000000 and sched["cron-1"][1] is None
    sgs = {(a, r, g): (gid, name, sorted(ports)) for a, r, g, gid, name, ports in c.execute("""
        SELECT accountid, region, groupname, groupid, securitygroupname,
               list_transform(list_filter(ippermissions, lambda p: list_contains(
                   list_transform(p.ipranges, lambda x: x.cidrip), '0.0.0.0/0')), lambda p: p.fromport)
        FROM security_groups""").fetchall()}
    assert sgs == {k: v["security_group"] for k, v in exported.items()}, "each group's own security group, once"
    (vols,) = c.execute("SELECT count(*) FROM volumes").fetchone()
    assert vols == sum(v["instances"] for v in exported.values()), "each instance has its root volume"
    disc = c.execute("SELECT accountid, groupname, accountname, accountemail, clonesquadversion, interactapigwurl, usermetadata['owner'] FROM discovery").fetchall()
    names = {v: k for k, v in accounts.items()}
    for a, g, name, email, ver, url, owner in disc:
        assert name == ("master" if names[a] == "management" else names[a])
        assert "@" in email and ver == "v0.42.0" and url == f"https://{g}.example.com/" and owner == f"team-{g}"
    pitr = {(a, r, g): (cp, sp) for a, r, g, cp, sp in c.execute(
        "SELECT accountid, region, groupname, configurationtablepitr, schedulertablepitr FROM discovery").fetchall()}
    assert pitr == {k: (v["pitr"], False) for k, v in exported.items()}
    windows = {(a, g, f): sorted(ws) for a, g, f, ws in c.execute(
        "SELECT accountid, groupname, fleet, list_transform(maintenancewindows, lambda w: w.name) FROM maintenance_windows").fetchall()}
    a = accounts["prod"]
    assert windows[(a, "web", "__main__")] == ["CS-GlobalDefaultMaintenanceWindow", "CS-web"]
    assert windows[(a, "web", "spot")] == ["CS-GlobalDefaultMaintenanceWindow", "CS-web", "CS-web-Subfleet.spot"]
    assert windows[(a, "batch", "__main__")] == ["CS-GlobalDefaultMaintenanceWindow", "CS-batch"]
    assert windows[(a, "api", "__main__")] == ["CS-api"], "the global default exists only in eu-west-1"
    (open_now,) = c.execute("SELECT bool_and(ismaintenancetime) FROM maintenance_windows WHERE region = 'eu-west-1'").fetchone()
    assert open_now, "AS_OF is inside the Sunday 02:00-05:00 global window"


def test_every_call_is_paginated_and_covered_by_the_iam_policy(good):
    _, summary = good
    calls = summary["api_calls"]
    # 3 accounts x 2 regions; 7 configuration items at page size 3 need 3 Scan calls for web alone.
    assert calls["dynamodb:Scan"] > 2 * 9, calls
    assert calls["dynamodb:ListTables"] > 6, "several pages of tables per scope"
    assert calls["ec2:DescribeInstances"] > 6, "web has 7 instances: two pages of 5"
    assert calls["sts:AssumeRole"] == 2, "one session per member account, reused across regions"
    p = subprocess.run([binary(), "iam-policy"], capture_output=True, text=True, check=True)
    policy = json.loads(p.stdout)
    actions = lambda p: {a for st in p["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    allowed = actions(policy["caller"])
    member = actions(policy["member_role"])
    assert set(calls) <= allowed, set(calls) - allowed
    assert member <= allowed
    assert not any(a.startswith(("organizations:", "sts:")) for a in member), "the member role needs no org or STS rights"


def test_snapshot_of_the_same_inventory_gives_identical_parquet(org, good, tmp_path):
    server, creds, accounts, _ = org
    out, _ = good
    snap = tmp_path / "snap"
    awsorg.dump_snapshot(server.url, creds, {k: v for k, v in accounts.items() if k != "locked"}, snap)
    p = subprocess.run([binary(), "export", "--snapshot", str(snap), "--out", str(tmp_path / "out"), "--as-of", AS_OF, "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr + p.stdout
    assert files(tmp_path / "out") == files(out)
    for f in files(out):
        a, b = pq.read_table(out / f), pq.read_table(tmp_path / "out" / f)
        assert a.equals(b), f


BIG, SMALL = "12345678901234567890123456789012345678", "0.1234567890123456789"
# What AWS prints where moto prints its own way: SSM's minute-precision times with offsets.
NEXT_FORMS = ["2026-11-29T02:00-08:00", "2026-11-30T04:00Z", "2026-12-07T09:30+0530"]


JOINED = 1628601865.768


def aws_forms(suspended):
    """Rewrites moto's answers into the forms AWS documents and prints, where moto prints its own."""
    def rewrite(target, doc):
        op = target.split(".")[-1]
        if op == "DescribeMaintenanceWindows":
            for i, w in enumerate(doc.get("WindowIdentities", [])):
                w["NextExecutionTime"] = NEXT_FORMS[i % len(NEXT_FORMS)]
                if w.get("Name") == "CS-GlobalDefaultMaintenanceWindow":
                    w["StartDate"] = "2026-01-01T00:00-08:00"
                    w["ScheduleOffset"] = 1
        if op in ("DescribeAccount", "ListAccounts"):
            for a in doc.get("Accounts", []) + ([doc["Account"]] if "Account" in doc else []):
                # Status retired on 2026-09-09: State only.
                a["State"] = "SUSPENDED" if a["Id"] == suspended else a.pop("Status", "ACTIVE")
                a.pop("Status", None)
                # Epoch seconds with a fraction, as the JSON protocol sends them: the SDK
                # holds .768 as .767999887, which must still be the millisecond .768.
                a["JoinedTimestamp"] = JOINED
        if op == "Scan":
            for item in doc.get("Items", []):
                forms = {"key.00": {"N": BIG}, "key.01": {"N": SMALL}, "key.02": {"M": {"n": {"N": BIG}}}}
                if item.get("Key", {}).get("S") in forms:
                    item["Value"] = forms[item["Key"]["S"]]
        return doc
    return rewrite


def test_every_view_gives_the_same_rows_over_the_copy_as_over_the_tree_on_moto(good):
    from test_queries import views_over_copy_and_tree
    out, _ = good
    results = views_over_copy_and_tree(out)
    for v, (copy, tree) in results.items():
        assert copy == tree, v
    assert results["displayallhostnames"][0] and results["instance_counts"][0]


def test_aws_forms_give_the_same_parquet_live_and_from_a_snapshot(org, tmp_path):
    server, creds, accounts, _ = org
    staging = accounts["staging"]
    proxy = awsorg.FaultProxy(server.port, rewrite=aws_forms(staging))
    try:
        code, s = export_org(org, tmp_path / "live", endpoint=proxy.url)
        assert code == 0, s
        assert any(staging in n and "SUSPENDED" in n for n in s["notes"]), s["notes"]
        snap = tmp_path / "snap"
        awsorg.dump_snapshot(proxy.url, creds, {k: v for k, v in accounts.items() if k not in ("locked", "staging")}, snap)
    finally:
        proxy.stop()
    p = subprocess.run([binary(), "export", "--snapshot", str(snap), "--out", str(tmp_path / "snap-out"), "--as-of", AS_OF,
                        "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr + p.stdout
    live = tmp_path / "live"
    assert files(tmp_path / "snap-out") == files(live)
    assert not any(f"accountid={staging}" in f for f in files(live)), "a suspended account is not collected"
    for f in files(live):
        a, b = pq.read_table(live / f), pq.read_table(tmp_path / "snap-out" / f)
        assert a.equals(b), f
    c = con(live)
    values = dict(c.execute("SELECT key, value FROM configuration WHERE groupname = 'web' AND accountid = ?",
                            [accounts["prod"]]).fetchall())
    assert values["key.00"] == BIG and values["key.01"] == SMALL and values["key.02"] == '{"n":' + BIG + "}"
    states = set(c.execute("SELECT DISTINCT accountstate, accountstatus FROM discovery").fetchall())
    assert states == {("ACTIVE", None)}
    joined = set(c.execute("SELECT DISTINCT epoch_ms(accountjoinedtimestamp) FROM discovery").fetchall())
    assert joined == {(1628601865768,)}, joined
    nexts = {r[0] for r in c.execute(
        "SELECT strftime(w.nextexecutiontime, '%Y-%m-%dT%H:%M') FROM (SELECT unnest(maintenancewindows) AS w "
        "FROM maintenance_windows)").fetchall()}
    assert nexts <= {"2026-11-29T10:00", "2026-11-30T04:00", "2026-12-07T04:00"} and nexts, nexts
    # ScheduleOffset 1 on the Sunday 02:00 global window: open on Monday, not on the Sunday of AS_OF.
    (open_now,) = c.execute("SELECT bool_or(ismaintenancetime) FROM maintenance_windows WHERE region = 'eu-west-1'"
                            " AND groupname = 'batch'").fetchone()
    assert open_now is False


def test_published_list_accounts_and_list_tables_answers_are_read(org, tmp_path):
    """The AWS CLI's own ListAccounts and ListTables outputs, served to the SDK as they are
    (account ids mapped onto moto's accounts; the real table names appended after the published ones)."""
    server, creds, accounts, expected = org
    responses = awsorg.Path(__file__).resolve().parents[1] / "fixtures/aws/responses"
    listing = json.loads((responses / "organizations-list-accounts.json").read_text())
    ids = dict(zip(["111111111111", "222222222222", "333333333333", "444444444444"],
                   [accounts[k] for k in ("management", "prod", "staging", "locked")]))
    tables = json.loads((responses / "dynamodb-list-tables.json").read_text())["TableNames"]

    def rewrite(target, doc):
        op = target.split(".")[-1]
        if op == "ListAccounts":
            doc = json.loads(json.dumps(listing))
            for a in doc["Accounts"]:
                a["Id"] = ids[a["Id"]]
        if op == "ListTables" and "LastEvaluatedTableName" not in doc:
            doc["TableNames"] = tables + doc.get("TableNames", [])
        return doc
    proxy = awsorg.FaultProxy(server.port, rewrite=rewrite)
    try:
        code, s = export_org(org, tmp_path, endpoint=proxy.url)
    finally:
        proxy.stop()
    assert code == 0, s
    got = {p.name.removeprefix("accountid=") for p in (tmp_path / "metadata/discovery").glob("accountid=*")}
    assert got == {a for a in ids.values() if a != accounts["locked"]}, "every ACTIVE account (Status only) is collected"
    assert s["partitions"] == 9, "the published tables (Forum, Thread, ...) make no group"


def test_published_describe_regions_and_get_caller_identity_answers_are_read(org, tmp_path):
    """The AWS CLI's DescribeRegions and GetCallerIdentity outputs, rendered as the XML
    that EC2 and STS send on the wire (the CLI prints the same members as JSON)."""
    server, creds, accounts, _ = org
    responses = awsorg.Path(__file__).resolve().parents[1] / "fixtures/aws/responses"
    regions = json.loads((responses / "ec2-describe-regions.json").read_text())["Regions"]
    ident = json.loads((responses / "sts-get-caller-identity.json").read_text())

    def answer(action):
        if action == "DescribeRegions":
            items = "".join(f"<item><regionName>{r['RegionName']}</regionName><regionEndpoint>{r['Endpoint']}"
                            f"</regionEndpoint><optInStatus>{r['OptInStatus']}</optInStatus></item>" for r in regions)
            return ('<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
                    f"<requestId>r-1</requestId><regionInfo>{items}</regionInfo></DescribeRegionsResponse>")
        if action == "GetCallerIdentity":
            return ('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
                    f"<Arn>{ident['Arn']}</Arn><UserId>{ident['UserId']}</UserId><Account>{ident['Account']}</Account>"
                    "</GetCallerIdentityResult><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata>"
                    "</GetCallerIdentityResponse>")
        return None
    proxy = awsorg.FaultProxy(server.port, answer=answer)
    try:
        code, s = run(creds, "export", "--aws", "--regions", "all", "--out", str(tmp_path), endpoint=proxy.url)
    finally:
        proxy.stop()
    assert code == 0, s
    # The published caller is 123456789012, moto's management account; of the published
    # regions, eu-north-1 and us-east-1 are enabled, ap-east-1 is not opted in.
    assert ident["Account"] == accounts["management"]
    assert s["scopes"] == 2, s
    got = {p.relative_to(tmp_path / "metadata/discovery").parts[:2] for p in (tmp_path / "metadata/discovery").glob("*/*")}
    assert got == {(f"accountid={ident['Account']}", "region=us-east-1")}, got


def test_four_shards_write_the_same_tree_as_one_whole_run(org, good, tmp_path):
    out, summary = good
    calls = 0
    for k in range(1, 5):
        code, s = export_org(org, tmp_path, "--shard", f"{k}/4")
        assert code == 0, s
        calls += s["api_calls"].get("ec2:DescribeRegions", 0)
    assert files(tmp_path) == files(out)
    for f in files(out):
        assert (tmp_path / f).read_bytes() == (out / f).read_bytes(), f
    assert calls == summary["api_calls"].get("ec2:DescribeRegions", 0), "each account is planned by its shard only"


def test_rerun_gives_no_duplicates(org, good):
    out, summary = good
    before = files(out)
    code, again = export_org(org, out)
    assert code == 0
    assert again["rows"] == summary["rows"]
    assert files(out) == before
    c = con(out)
    (dups,) = c.execute("SELECT count(*) - count(DISTINCT instanceid) FROM instances").fetchone()
    assert dups == 0


def test_faults_are_contained_and_prune_never_deletes_after_a_failure(org, good, tmp_path):
    server, creds, accounts, expected = org
    out = tmp_path / "cmdb"
    shutil.copytree(good[0], out)
    prod, mgmt = accounts["prod"], accounts["management"]
    # Ghost partitions of groups that no longer exist: one in a scope that will fail, one in a scope that will not.
    for acct in (prod, mgmt):
        src = out / "metadata/configuration" / f"accountid={acct}/region=eu-west-1/groupname=web"
        shutil.copytree(src, src.parent / "groupname=ghost")
    before = {f: (out / f).read_bytes() for f in files(out)}
    awsorg.client(server.url, "dynamodb", "eu-west-1", awsorg._assumed_as(server.url, creds, prod)).delete_table(
        TableName="CloneSquad-batch-Scheduler")
    proxy = awsorg.FaultProxy(server.port, "us-east-1")
    try:
        code, s = export_org(org, out, "--prune-stale", endpoint=proxy.url, exclude_locked=False)
    finally:
        proxy.stop()
    assert code == 3, s
    assert s["status"] == "partial"
    errors = {(f["scope"], f["group"]): f["error"] for f in s["failures"]}
    locked = accounts["locked"]
    assert any(k[0] == locked and "AccessDenied" in e and "assume" in e for k, e in errors.items()), "\n".join(f"{k}: {e}" for k, e in errors.items())
    assert errors[(f"{prod}/eu-west-1", "batch")].endswith("table not found"), errors
    for a in (mgmt, prod, accounts["staging"]):
        e = errors[(f"{a}/us-east-1", None)]
        assert "injected regional outage" in e or "500" in e, e
    assert s["partitions"] == 5, "web x 3 accounts + batch x 2 still export"
    # Files of failed partitions and scopes are untouched; so is the ghost of the failed scope.
    for f, data in before.items():
        failed = "region=us-east-1" in f or (f"accountid={prod}/region=eu-west-1" in f and ("batch" in f or "ghost" in f))
        if failed:
            assert (out / f).read_bytes() == data, f
    assert (out / f"metadata/configuration/accountid={prod}/region=eu-west-1/groupname=ghost").exists()
    assert not (out / f"metadata/configuration/accountid={mgmt}/region=eu-west-1/groupname=ghost").exists()
    assert s["pruned"] == [f"{mgmt}/eu-west-1/ghost"]
    # Restore the table for the tests that follow.
    c = awsorg.client(server.url, "dynamodb", "eu-west-1", awsorg._assumed_as(server.url, creds, prod))
    c.create_table(TableName="CloneSquad-batch-Scheduler", KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


def test_prune_stale_removes_a_group_that_is_gone(org, good, tmp_path):
    server, creds, accounts, _ = org
    out = tmp_path / "cmdb"
    shutil.copytree(good[0], out)
    staging = accounts["staging"]
    sc = awsorg._assumed_as(server.url, creds, staging)
    ec2 = awsorg.client(server.url, "ec2", "eu-west-1", sc)
    ids = [i["InstanceId"] for r in ec2.describe_instances(Filters=[{"Name": f"tag:{awsorg.GROUP_TAG}", "Values": ["batch"]}])["Reservations"] for i in r["Instances"]]
    ec2.delete_tags(Resources=ids, Tags=[{"Key": awsorg.GROUP_TAG}])
    ddb = awsorg.client(server.url, "dynamodb", "eu-west-1", sc)
    for t in ("CloneSquad-batch-Configuration", "CloneSquad-batch-Scheduler"):
        ddb.delete_table(TableName=t)
    awsorg.client(server.url, "cloudformation", "eu-west-1", sc).delete_stack(StackName="CloneSquad-batch")
    code, s = export_org(org, out, "--prune-stale")
    assert code == 0, s
    assert s["pruned"] == [f"{staging}/eu-west-1/batch"]
    gone = [f for f in files(out) if f"accountid={staging}/region=eu-west-1/groupname=batch" in f]
    assert gone == []
    assert s["partitions"] == 8


def test_regions_all_collects_every_enabled_region(org, tmp_path):
    server, creds, accounts, _ = org
    ec2 = awsorg.client(server.url, "ec2", "eu-west-1", creds)
    enabled = {r["RegionName"] for r in ec2.describe_regions(AllRegions=True)["Regions"]
               if r["OptInStatus"] in ("opt-in-not-required", "opted-in")
               and not r["RegionName"].startswith(("us-gov-", "cn-", "us-iso"))}  # the caller's partition only
    code, s = run(creds, "export", "--aws", "--regions", "all", "--concurrency", "8", "--out", str(tmp_path),
                  endpoint=server.url)
    assert code == 0, s
    assert s["scopes"] == len(enabled) > 2, "the caller's account, every enabled region"
    regions = {p.name.removeprefix("region=") for p in (tmp_path / "metadata/discovery").glob("*/*")}
    assert regions == {"eu-west-1", "us-east-1"}, "only regions with groups have partitions"


@contextlib.contextmanager
def nested_ous(org):
    """Root > Workloads (staging) > Production (prod), for the duration of a test."""
    server, creds, accounts, _ = org
    o = awsorg.client(server.url, "organizations", creds=creds)
    root = o.list_roots()["Roots"][0]["Id"]

    def unit(parent, name):
        for u in o.list_organizational_units_for_parent(ParentId=parent)["OrganizationalUnits"]:
            if u["Name"] == name:
                return u["Id"]
        return o.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]

    ou = unit(root, "Workloads")
    child = unit(ou, "Production")
    o.move_account(AccountId=accounts["staging"], SourceParentId=root, DestinationParentId=ou)
    o.move_account(AccountId=accounts["prod"], SourceParentId=root, DestinationParentId=child)
    try:
        yield o, root, ou, child
    finally:
        o.move_account(AccountId=accounts["staging"], SourceParentId=ou, DestinationParentId=root)
        o.move_account(AccountId=accounts["prod"], SourceParentId=child, DestinationParentId=root)


def test_include_ous_narrows_the_org_to_an_ou_and_its_children(org, tmp_path):
    server, creds, accounts, _ = org
    with nested_ous(org) as (_, _, ou, _):
        code, s = run(creds, "export", "--aws", "--org", "--include-ous", ou, "--member-role", awsorg.MEMBER_ROLE,
                      "--regions", "eu-west-1", "--out", str(tmp_path), endpoint=server.url)
        assert code == 0, s
        got = {p.name.removeprefix("accountid=") for p in (tmp_path / "metadata/discovery").glob("accountid=*")}
        assert got == {accounts["staging"], accounts["prod"]}, "the OU and its child OU, nothing else"
        assert s["api_calls"]["organizations:ListAccountsForParent"] >= 2
        code, s = run(creds, "export", "--aws", "--org", "--exclude-ous", ou, "--exclude-accounts", accounts["locked"],
                      "--member-role", awsorg.MEMBER_ROLE, "--regions", "eu-west-1", "--out", str(tmp_path / "ex"),
                      endpoint=server.url)
        assert code == 0, s
        got = {p.name.removeprefix("accountid=") for p in (tmp_path / "ex/metadata/discovery").glob("accountid=*")}
        assert got == {accounts["management"]}, "everything but the OU and its child OU"


def test_accounts_have_their_ou_path_tags_and_the_groups_found_in_them(org, tmp_path):
    server, creds, accounts, _ = org
    with nested_ous(org) as (o, root, ou, child):
        o.tag_resource(ResourceId=accounts["prod"], Tags=[{"Key": "CostCenter", "Value": "cc-42"}])
        try:
            check_accounts(org, tmp_path, root, ou, child)
        finally:
            o.untag_resource(ResourceId=accounts["prod"], TagKeys=["CostCenter"])


def check_accounts(org, tmp_path, root, ou, child):
    """The accounts table of the organization set up by nested_ous."""
    server, creds, accounts, _ = org
    code, s = export_org(org, tmp_path / "deployed")
    assert code == 0, s
    c = con(tmp_path / "deployed")
    rows = {r[0]: r[1:] for r in c.execute(
        "SELECT accountid, oupath, ouids, ouname, tags, groups, groupcount, accountname, accountstate FROM accounts"
    ).fetchall()}
    assert set(rows) == {accounts[n] for n in ("management", "prod", "staging")}, "the locked one is excluded"
    assert rows[accounts["prod"]][:3] == ("Root/Workloads/Production", [root, ou, child], "Production")
    assert rows[accounts["staging"]][:3] == ("Root/Workloads", [root, ou], "Workloads")
    assert rows[accounts["management"]][:3] == ("Root", [root], "Root")
    assert rows[accounts["prod"]][3] == {"CostCenter": "cc-42"}
    assert s["api_calls"]["organizations:DescribeOrganizationalUnit"] == 2, "each unit is described once"
    found = {}
    for a, r, g in c.execute("SELECT accountid, region, groupname FROM discovery ORDER BY ALL").fetchall():
        found.setdefault(a, []).append({"region": r, "groupname": g})
    for a, (*_, groups, count, name, state) in rows.items():
        assert groups == found[a] and count == len(groups) > 0, a
        assert state == "ACTIVE" and name
    # A region where nothing is deployed: every account is listed, with no groups.
    code, s = run(creds, "export", "--aws", "--org", "--member-role", awsorg.MEMBER_ROLE,
                  "--exclude-accounts", accounts["locked"], "--regions", "ap-southeast-2",
                  "--out", str(tmp_path / "empty"), endpoint=server.url)
    assert code == 0, s
    assert s["partitions"] == 0 and s["account_partitions"] == 3, s
    empty = duckdb.sql(f"SELECT groupcount, groups, regions FROM {read_parquet(tmp_path / 'empty', 'accounts')}"
                       ).fetchall()
    assert empty == [(0, [], ["ap-southeast-2"])] * 3


def cli(creds, *args, endpoint):
    return subprocess.run([binary(), *args, "--endpoint-url", endpoint], capture_output=True, text=True,
                          env=awsorg.fleetcmdb_env(creds), timeout=600)


def test_the_org_listing_replaces_describe_account(good):
    _, summary = good
    assert summary["api_calls"].get("organizations:ListAccounts", 0) >= 1
    assert summary["api_calls"].get("organizations:DescribeAccount", 0) == 0, summary["api_calls"]
    # Asked once, however many accounts start at once.
    assert summary["api_calls"].get("sts:GetCallerIdentity", 0) == 1, summary["api_calls"]


def test_a_plan_lists_once_and_its_batches_export_the_whole_run(org, tmp_path):
    with nested_ous(org):
        plan_and_export(org, tmp_path)


def plan_and_export(org, tmp_path):
    server, creds, accounts, _ = org
    # Other tests change the org: the whole run to compare with is taken now.
    out = tmp_path / "whole"
    code, whole = export_org(org, out)
    assert code == 0, whole
    plan = tmp_path / "plan"
    p = cli(creds, "plan", "--org", "--exclude-accounts", accounts["locked"], "--out", str(plan),
            "--batch-size", "2", "--json", endpoint=server.url)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["accounts"] == 3 and summary["batches"] == 2
    assert set(summary["api_calls"]) <= {"organizations:ListAccounts", "organizations:ListRoots",
                                         "organizations:ListAccountsForParent",
                                         "organizations:ListOrganizationalUnitsForParent",
                                         "sts:GetCallerIdentity"}, summary["api_calls"]
    doc = json.loads((plan / "plan.json").read_text())
    assert sorted(doc["account_ids"]) == sorted(a for n, a in accounts.items() if n != "locked")
    assert sorted(doc["members"]) == sorted(accounts.values()), "members: the whole org, excluded or not"
    paths = {a["Id"]: a["OuPath"] for i in range(summary["batches"])
             for a in json.loads((plan / f"batch-{i:04d}.json").read_text())["accounts"]}
    assert paths[accounts["prod"]] == "Root/Workloads/Production" and paths[accounts["staging"]] == "Root/Workloads"
    items = json.loads((plan / "batches.json").read_text())
    assert [i["batch"] for i in items] == [0, 1]
    merged = tmp_path / "merged"
    for item in items:
        batch = json.loads((plan / f"batch-{item['batch']:04d}.json").read_text())
        assert all({"Id", "Name", "Email", "Arn", "Parents", "OuPath"} <= set(a) for a in batch["accounts"])
        assert all(a["OuPath"].startswith("Root") for a in batch["accounts"])
        for a in batch["accounts"]:
            p = a["Parents"][0]
            assert p["Type"] == "ROOT" or p["Id"] in batch["units"], "every unit above an account travels with it"
        code, s = run(creds, "export", "--aws", "--plan", item["plan"], "--member-role", awsorg.MEMBER_ROLE,
                      "--regions", ",".join(awsorg.REGIONS), "--page-size", "3", "--out", str(merged),
                      endpoint=server.url)
        assert code == 0, s
        org_calls = {k for k in s["api_calls"] if k.startswith("organizations:")}
        assert org_calls <= {"organizations:ListTagsForResource"}, s["api_calls"]
    assert files(merged) == files(out)
    for f in files(out):
        assert (merged / f).read_bytes() == (out / f).read_bytes(), f
    # A second, smaller plan in the same folder leaves no stale batch behind.
    p = cli(creds, "plan", "--org", "--out", str(plan), "--batch-size", "10", endpoint=server.url)
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in plan.glob("batch-*.json")) == ["batch-0000.json"]


def test_bad_plans_are_refused(org, tmp_path):
    server, creds, _, _ = org
    bad = tmp_path / "batch-0000.json"
    bad.write_text(json.dumps({"accounts": [{"Id": "../../etc"}]}))
    p = cli(creds, "export", "--aws", "--plan", str(bad), "--regions", "eu-west-1", "--out", str(tmp_path / "o"),
            endpoint=server.url)
    assert p.returncode != 0 and "$.accounts[0].Id" in p.stderr
    p = cli(creds, "export", "--aws", "--org", "--plan", str(bad), "--regions", "eu-west-1", "--out",
            str(tmp_path / "o"), endpoint=server.url)
    assert p.returncode == 2 and "--plan" in p.stderr


def test_prune_departed_removes_only_accounts_that_left(org, good, tmp_path):
    server, creds, accounts, _ = org
    out0, _ = good
    out = tmp_path / "cmdb"
    shutil.copytree(out0, out)
    gone = "999999999999"
    for d in list((out / "metadata").glob(f"*/accountid={accounts['prod']}")):
        shutil.copytree(d, d.parent / f"accountid={gone}")
    before = files(out)
    assert any(f"accountid={gone}" in f for f in before)
    # A listing that fails deletes nothing.
    dead = f"http://127.0.0.1:{awsorg.free_port()}"
    p = cli(creds, "prune", "--out", str(out), "--departed", endpoint=dead)
    assert p.returncode != 0 and "ListAccounts" in p.stderr, p.stderr
    assert files(out) == before
    p = cli(creds, "prune", "--out", str(out), "--departed", "--json", endpoint=server.url)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["departed"] == [gone]
    assert files(out) == [f for f in before if f"accountid={gone}" not in f]
    assert all(f"accountid={gone}" in f for f in doc["deleted"]) and doc["deleted"]
    # The same from a plan of the whole organization; a plan of part of it is refused.
    for d in list((out0 / "metadata").glob(f"*/accountid={accounts['prod']}")):
        shutil.copytree(d, out / "metadata" / d.parent.name / f"accountid={gone}")
    plan = tmp_path / "plan"
    assert cli(creds, "plan", "--org", "--out", str(plan), endpoint=server.url).returncode == 0
    p = cli(creds, "prune", "--out", str(out), "--departed", "--plan", str(plan), "--json", endpoint=server.url)
    assert p.returncode == 0 and json.loads(p.stdout)["departed"] == [gone], p.stderr
    doc = json.loads((plan / "plan.json").read_text())
    doc["members"] = None
    (plan / "plan.json").write_text(json.dumps(doc))
    p = cli(creds, "prune", "--out", str(out), "--departed", "--plan", str(plan), endpoint=server.url)
    assert p.returncode != 0 and "whole organization" in p.stderr


def test_accounts_are_collected_as_their_listing_arrives(org, tmp_path):
    """The first regional call comes before the last ListAccounts page; a
    listing that fails part-way leaves what it listed collected."""
    server, creds, accounts, _ = org
    args = ["export", "--aws", "--org", "--member-role", awsorg.MEMBER_ROLE, "--regions", "eu-west-1",
            "--page-size", "1", "--max-attempts", "1", "--exclude-accounts", accounts["locked"], "--no-backup"]
    proxy = awsorg.FaultProxy(server.port, delay_target=("ListAccounts", 0.4))
    try:
        code, s = run(creds, *args, "--out", str(tmp_path / "a"), endpoint=proxy.url)
    finally:
        proxy.stop()
    assert code == 0, s
    targets = [t for (_, _, t) in proxy.requests]
    pages = [i for i, t in enumerate(targets) if t.endswith(".ListAccounts")]
    first_regional = next(i for i, t in enumerate(targets) if t.startswith("DynamoDB_"))
    assert len(pages) >= 4, targets
    assert first_regional < pages[-1], "collection waited for the whole listing"
    listed = s["api_calls"]["organizations:ListAccounts"]
    assert listed == len(pages), s["api_calls"]

    # The third page fails: the accounts of the first two are collected.
    proxy = awsorg.FaultProxy(server.port, fail_target=("ListAccounts", 2))
    try:
        code, s = run(creds, *args, "--out", str(tmp_path / "b"), endpoint=proxy.url)
    finally:
        proxy.stop()
    assert code == 3, s
    org_failures = [f for f in s["failures"] if f["scope"] == "organization"]
    assert len(org_failures) == 1 and "ListAccounts" in org_failures[0]["error"], s["failures"]
    collected = {p.name.removeprefix("accountid=") for p in (tmp_path / "b/metadata/accounts").iterdir()}
    assert 1 <= len(collected) <= 2, collected
    assert collected < set(accounts.values()), collected
