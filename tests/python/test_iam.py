"""Every policy `fleetcmdb iam-policy` prints passes parliament (an IAM policy linter) with no finding,
is scoped to what the naming templates and partition say, and grants nothing to write for the inventory."""
import json
import subprocess

import pytest
from parliament import analyze_policy_string

from conftest import binary


def policies(*args):
    p = subprocess.run([binary(), "iam-policy", *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def actions(policy):
    return {a for st in policy["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}


def resources(policy, action):
    return sorted(r for st in policy["Statement"] if action in actions({"Statement": [st]})
                  for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]))


CASES = [[], ["--partition", "aws-us-gov"], ["--configuration-table-template", "Team-{group}-Conf",
                                                "--scheduler-table-template", "Team-{group}-Sched"],
         ["--for", "restore"], ["--for", "table-backup"], ["--for", "restore", "--partition", "aws-cn"]]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "inventory")
def test_parliament_finds_nothing(args):
    out = policies(*args)
    docs = [out["policy"]] if "policy" in out else [out["caller"], out["member_role"]]
    for doc in docs:
        findings = analyze_policy_string(json.dumps(doc)).findings
        assert not findings, [(f.issue, f.detail) for f in findings]


def test_the_inventory_reads_only_and_is_scoped_by_the_templates():
    out = policies("--configuration-table-template", "Team-{group}-Conf", "--partition", "aws-cn",
                   "--member-role", "CmdbReader")
    caller, member = out["caller"], out["member_role"]
    for doc in (caller, member):
        writes = {a for a in actions(doc) if a.split(":")[1].startswith(("Put", "Create", "Delete", "Update", "Batch", "Restore"))}
        assert not writes, writes
    assert resources(member, "dynamodb:Scan") == ["arn:aws-cn:dynamodb:*:*:table/CloneSquad-*-Scheduler",
                                                  "arn:aws-cn:dynamodb:*:*:table/Team-*-Conf"]
    assert resources(caller, "sts:AssumeRole") == ["arn:aws-cn:iam::*:role/CmdbReader"]
    assert resources(caller, "organizations:DescribeAccount") == ["arn:aws-cn:organizations::*:account/o-*/*"]
    assert not any(a.startswith(("organizations:", "sts:")) for a in actions(member))
    restore = policies("--for", "restore")["policy"]
    assert "dynamodb:BatchWriteItem" in actions(restore)
    assert resources(restore, "dynamodb:BatchWriteItem") == ["arn:aws:dynamodb:*:*:table/CloneSquad-*-Configuration",
                                                             "arn:aws:dynamodb:*:*:table/CloneSquad-*-Scheduler"]
    assert subprocess.run([binary(), "iam-policy", "--member-role", "a*b"], capture_output=True).returncode == 2
