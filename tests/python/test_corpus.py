"""What AWS itself publishes, exported and read back exactly.

The corpus (aws_corpus.py) is the AWS CLI's documented outputs plus maximal
records built from botocore's models. Each test reads the Parquet with
pyarrow and compares every declared column with the input, value for value:
a member the input has must be in its column unchanged; a member it lacks
must be null. Members that no column declares are collected here and must
be exactly the ones docs/not-collected.md lists.
"""
import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import aws_corpus as corpus
from conftest import AS_OF, REPO, binary

NOT_COLLECTED_DOC = REPO / "docs/not-collected.md"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    snap = corpus.build(tmp_path_factory.mktemp("corpus") / "snap")
    out = tmp_path_factory.mktemp("corpus-out")
    p = subprocess.run([binary(), "export", "--snapshot", str(snap), "--out", str(out), "--as-of", AS_OF, "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr + p.stdout
    return snap, out, json.loads(p.stdout)


def rows(out: Path, table: str, account: str, region: str, group: str):
    d = out / "metadata" / table / f"accountid={account}" / f"region={region}" / f"groupname={group}"
    files = sorted(d.glob("*.parquet"))
    assert files, f"no {table} file in {d}"
    t = pa.concat_tables([pq.read_table(f) for f in files])
    return t.schema, t.to_pylist()


SCOPES = [("555555555555", "us-east-1", "demo"), (corpus.MAX_ACCOUNT, corpus.MAX_REGION, corpus.MAX_GROUP)]
DERIVED = {"metadatarecordlastupdatedat", "computednextexecutiontime"}


class Walk:
    """Compares a Parquet value with the input member it came from."""

    def __init__(self):
        self.problems = []
        self.undeclared = set()

    def value(self, t, got, want, path, shape):
        if want is None:
            if got is not None:
                self.problems.append(f"{path}: input has nothing, column holds {got!r}")
            return
        if pa.types.is_struct(t):
            if not isinstance(want, dict):
                self.problems.append(f"{path}: input {want!r} is not an object")
                return
            self.struct(list(t), got or {}, want, path, shape)
        elif pa.types.is_list(t):
            if not isinstance(got, list) or len(got) != len(want):
                self.problems.append(f"{path}: {got!r} != {want!r}")
                return
            for i, (g, w) in enumerate(zip(got, want)):
                self.value(t.value_type, g, w, f"{path}[{i}]", shape)
        elif pa.types.is_map(t):
            want_map = {x["Key"]: x.get("Value") for x in want} if isinstance(want, list) else want
            if dict(got or []) != want_map:
                self.problems.append(f"{path}: {got!r} != {want_map!r}")
        elif pa.types.is_timestamp(t):
            if got is None or corpus.got_ms(got) != corpus.to_ms(want):
                self.problems.append(f"{path}: {got!r} != {want!r}")
        elif pa.types.is_string(t):
            expect = want if isinstance(want, str) else json.dumps(want)
            if got != expect:
                self.problems.append(f"{path}: {got!r} != {expect!r}")
        elif got != want:
            self.problems.append(f"{path}: {got!r} != {want!r}")

    def struct(self, fields, got, want, path, shape, skip=()):
        names = {f.name for f in fields}
        keys = {k.lower(): k for k in want}
        for f in fields:
            if f.name in skip or f.name in DERIVED or f.name.startswith("_"):
                continue
            member = keys.get(f.name, f.name)
            self.value(f.type, got.get(f.name), want.get(member), f"{path}.{f.name}", f"{shape}.{member}")
        for k in want:
            if k.lower() not in names:
                self.undeclared.add(f"{shape}.{k}")


def instances_and_volumes(snap: Path, out: Path, walk: Walk):
    for account, region, group in SCOPES:
        d = snap / account / region
        want = {i["InstanceId"]: i for p in corpus.pages(d, "ec2-describe-instances")
                for r in p["Reservations"] for i in r["Instances"]}
        schema, got = rows(out, "instances", account, region, group)
        assert sorted(r["instanceid"] for r in got) == sorted(want), "every instance of the group, once"
        for r in got:
            walk.struct(list(schema), r, want[r["instanceid"]], f"instances[{r['instanceid']}]", "Instance")
        attached = set(want)
        want = {v["VolumeId"]: v for p in corpus.pages(d, "ec2-describe-volumes") for v in p["Volumes"]
                if any(a.get("InstanceId") in attached for a in v.get("Attachments") or [])}
        schema, got = rows(out, "volumes", account, region, group)
        assert sorted(r["volumeid"] for r in got) == sorted(want), "every attached volume, once"
        for r in got:
            walk.struct(list(schema), r, want[r["volumeid"]], f"volumes[{r['volumeid']}]", "Volume")


def security_groups(snap: Path, out: Path, walk: Walk):
    """Each group's rows are the security groups its instances name, once,
    every member as AWS printed it (GroupName in `securitygroupname`)."""
    for account, region, group in SCOPES:
        d = snap / account / region
        used = {g["GroupId"] for p in corpus.pages(d, "ec2-describe-instances") for r in p["Reservations"]
                for i in r["Instances"] for g in i.get("SecurityGroups") or []}
        want = {g["GroupId"]: g for p in corpus.pages(d, "ec2-describe-security-groups")
                for g in p["SecurityGroups"] if g["GroupId"] in used}
        assert want, f"{d}: the corpus has a security group its instances use"
        schema, got = rows(out, "security_groups", account, region, group)
        assert sorted(r["groupid"] for r in got) == sorted(want), "every used security group, once"
        for r in got:
            w = want[r["groupid"]]
            if r["securitygroupname"] != w.get("GroupName"):
                walk.problems.append(f"security_groups[{r['groupid']}].securitygroupname: "
                                     f"{r['securitygroupname']!r} != {w.get('GroupName')!r}")
            walk.struct(list(schema), r, w, f"security_groups[{r['groupid']}]", "SecurityGroup",
                        skip=("securitygroupname",))
        walk.undeclared.discard("SecurityGroup.GroupName")


def test_security_groups_hold_every_input_value(exported):
    snap, out, summary = exported
    walk = Walk()
    security_groups(snap, out, walk)
    assert walk.problems == [], "\n".join(walk.problems)
    assert summary["rows"]["security_groups"] == 2, summary["rows"]


def test_instances_and_volumes_hold_every_input_value(exported):
    snap, out, summary = exported
    walk = Walk()
    instances_and_volumes(snap, out, walk)
    assert walk.problems == [], "\n".join(walk.problems)
    assert summary["rows"]["instances"] == 5 and summary["rows"]["volumes"] == 2, summary["rows"]


def expected_text(attr):
    """The text of a typed attribute, computed independently of fleetcmdb."""
    (ty, v), = attr.items()
    if ty in ("S", "B", "N"):
        return v
    if ty == "BOOL":
        return "true" if v else "false"
    if ty == "NULL":
        return None
    return ty, v  # structured: compared as data below


def plain(attr):
    (ty, v), = attr.items()
    return {"S": lambda: v, "B": lambda: v, "N": lambda: Decimal(v), "BOOL": lambda: v, "NULL": lambda: None,
            "SS": lambda: v, "BS": lambda: v, "NS": lambda: v,
            "L": lambda: [plain(x) for x in v], "M": lambda: {k: plain(x) for k, x in v.items()}}[ty]()


def test_configuration_and_scheduler_keep_every_value_exactly(exported):
    snap, out, _ = exported
    for account, region, group in SCOPES:
        for table, kind in (("configuration", "Configuration"), ("scheduler", "Scheduler")):
            scan = corpus.load(snap / account / region / f"dynamodb-scan-CloneSquad-{group}-{kind}.json")
            want = {i["Key"]["S"]: i for i in scan["Items"]}
            _, got = rows(out, table, account, region, group)
            assert sorted(r["key"] for r in got) == sorted(want)
            for r in got:
                item = want[r["key"]]
                e = expected_text(item["Value"])
                if isinstance(e, tuple):
                    parsed = json.loads(r["value"], parse_float=Decimal, parse_int=Decimal)
                    assert parsed == plain(item["Value"]), (r["key"], r["value"])
                else:
                    assert r["value"] == e, (r["key"], r["value"], e)
                if table == "scheduler" and "ExpirationTime" in item:
                    assert corpus.got_ms(r["expirationtime"]) == int(item["ExpirationTime"]["N"]) * 1000
    _, got = rows(out, "configuration", corpus.MAX_ACCOUNT, corpus.MAX_REGION, corpus.MAX_GROUP)
    values = {r["key"]: r["value"] for r in got}
    assert values["attr.N"] == corpus.BIG_NUMBER and values["attr.small"] == corpus.SMALL_NUMBER
    assert corpus.BIG_NUMBER in values["attr.M"] and corpus.SMALL_NUMBER in values["attr.L"]


def test_discovery_holds_the_account_and_stack_exactly(exported):
    snap, out, _ = exported
    walk = Walk()
    for account, region, group in SCOPES:
        acct = corpus.ci(corpus.load(snap / account / "organizations-describe-account.json"), "Account")
        stack = next(s for p in corpus.pages(snap / account / region, "cloudformation-describe-stacks")
                     for s in p["Stacks"] if s["StackName"] == f"CloneSquad-{group}")
        schema, (row,) = rows(out, "discovery", account, region, group)
        types = {f.name: f.type for f in schema}
        for col, member in [("accountarn", "Arn"), ("accountemail", "Email"), ("accountname", "Name"),
                            ("accountstatus", "Status"), ("accountjoinedmethod", "JoinedMethod"),
                            ("accountjoinedtimestamp", "JoinedTimestamp"), ("stackname", "StackName"),
                            ("stackstatus", "StackStatus")]:
            src = stack if col.startswith("stack") else acct
            walk.value(types[col], row[col], corpus.ci(src, member), f"discovery[{account}].{col}", "-")
        assert row["accountstate"] == (corpus.ci(acct, "State") or corpus.ci(acct, "Status"))
        assert corpus.got_ms(row["installtime"]) == corpus.to_ms(stack["CreationTime"])
        params = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters") or []}
        params.update({o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs") or []})
        assert dict(row["parameters"]) == params
        pitr = corpus.load(snap / account / region / f"dynamodb-describe-continuous-backups-CloneSquad-{group}-Configuration.json")
        assert row["configurationtablepitr"] == (
            pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED")
        collected = {"Arn", "Email", "Name", "Status", "State", "JoinedMethod", "JoinedTimestamp", "Id"}
        walk.undeclared |= {f"Account.{k}" for k in acct if k not in collected and k.lower() != "joinedtimestamp"}
        collected = {"StackName", "StackStatus", "CreationTime", "Parameters", "Outputs"}
        walk.undeclared |= {f"Stack.{k}" for k in stack if k not in collected}
    assert walk.problems == [], "\n".join(walk.problems)


def test_accounts_walk_the_ou_path_aws_publishes(exported):
    snap, out, summary = exported
    (f,) = (out / "metadata" / "accounts" / "accountid=555555555555").glob("*.parquet")
    (row,) = pq.read_table(f).to_pylist()
    acct = json.loads((snap / "555555555555" / "organizations-describe-account.json").read_text())["Account"]
    assert (row["accountname"], row["accountarn"], row["accountstate"]) == (acct["Name"], acct["Arn"], acct["Status"])
    assert row["oupath"] == "Root/Accounting Group"
    assert row["ouids"] == ["r-examplerootid111", "ou-examplerootid111-exampleouid111"]
    assert (row["ouid"], row["ouname"]) == ("ou-examplerootid111-exampleouid111", "Accounting Group")
    assert row["groups"] == [{"region": "us-east-1", "groupname": "demo"}] and row["groupcount"] == 1
    assert summary["account_partitions"] >= 1


def test_maintenance_windows_hold_what_ssm_said(exported):
    snap, out, _ = exported
    walk = Walk()
    for account, region, group in SCOPES:
        d = snap / account / region
        want = {w["WindowId"]: w for p in corpus.pages(d, "ssm-describe-maintenance-windows") for w in p["WindowIdentities"]}
        schema, got = rows(out, "maintenance_windows", account, region, group)
        wtype = schema.field("maintenancewindows").type.value_type
        seen = set()
        for r in got:
            for w in r["maintenancewindows"]:
                src = dict(want[w["windowid"]])
                tags = d / f"ssm-list-tags-for-resource-{w['windowid']}.json"
                src["Tags"] = corpus.load(tags)["TagList"] if tags.exists() else []
                walk.struct(list(wtype), w, src, f"windows[{w['windowid']}]", "MaintenanceWindowIdentity")
                seen.add(w["windowid"])
        assert seen == set(want), "every window of the scope applies to some fleet of the group"
    walk.undeclared.discard("MaintenanceWindowIdentity.Tags")
    assert walk.problems == [], "\n".join(walk.problems)
    # The maximal window: offset 2 days after Sunday 02:00 Paris, so Tuesday 01:00 UTC,
    # whatever SSM printed as its own next start.
    _, got = rows(out, "maintenance_windows", corpus.MAX_ACCOUNT, corpus.MAX_REGION, corpus.MAX_GROUP)
    w = got[0]["maintenancewindows"][0]
    assert w["computednextexecutiontime"].isoformat() == "2026-11-24T01:00:00+00:00"
    assert corpus.got_ms(w["nextexecutiontime"]) == corpus.to_ms("2026-11-24T02:00+01:00")
    assert got[0]["ismaintenancetime"] is False, "AS_OF is the Sunday itself, before the offset"


def test_the_models_are_those_the_corpus_names():
    """The botocore whose models build the maximal records is the pinned one
    PROVENANCE.md names: a new AWS member arrives only with a deliberate bump."""
    import botocore
    named = re.search(r"botocore (\d+\.\d+\.\d+)", (REPO / "tests/fixtures/aws/PROVENANCE.md").read_text())
    assert named, "PROVENANCE.md names no botocore version"
    assert botocore.__version__ == named.group(1), (
        f"botocore {botocore.__version__} is installed, the corpus names {named.group(1)}: "
        "install from tests/python/requirements.lock (scripts/test-env)")


def test_fields_no_column_declares_are_listed_as_not_collected(exported):
    snap, out, _ = exported
    walk = Walk()
    instances_and_volumes(snap, out, walk)
    security_groups(snap, out, walk)
    found = set(walk.undeclared)
    # Discovery and windows: the members they do not read.
    acct = corpus.maximal_records()["organizations-describe-account.json"]["Account"]
    found |= {f"Account.{k}" for k in acct if k not in
              {"Arn", "Email", "Name", "Status", "State", "JoinedMethod", "JoinedTimestamp", "Id"}}
    stack = corpus.maximal_records()[f"{corpus.MAX_REGION}/cloudformation-describe-stacks.json"]["Stacks"][0]
    found |= {f"Stack.{k}" for k in stack if k not in {"StackName", "StackStatus", "CreationTime", "Parameters", "Outputs"}}
    # Collapse nested paths into the first member no column declares.
    top = set()
    for p in sorted(found):
        if not any(p.startswith(t + ".") for t in top):
            top.add(p)
    listed = set(re.findall(r"^- `([A-Za-z0-9_.]+)`", NOT_COLLECTED_DOC.read_text(), re.M))
    assert listed == top, f"not listed: {sorted(top - listed)}\nlisted but collected: {sorted(listed - top)}"
