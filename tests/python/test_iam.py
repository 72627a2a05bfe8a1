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
         ["--for", "restore"], ["--for", "table-backup"], ["--for", "table-restore"],
         ["--for", "restore", "--partition", "aws-cn"]]


def test_dumping_tables_writes_nothing_and_restoring_has_the_writes():
    dump = actions(policies("--for", "table-backup")["policy"])
    writes = {a for a in dump if a.split(":")[1].startswith(("Put", "Delete", "Update", "Batch", "Restore"))
              or a == "dynamodb:CreateTable"}
    assert not writes, writes
    assert {"dynamodb:Scan", "dynamodb:CreateBackup", "dynamodb:DescribeContinuousBackups"} <= dump
    restore = actions(policies("--for", "table-restore")["policy"])
    assert {"dynamodb:CreateTable", "dynamodb:BatchWriteItem", "dynamodb:RestoreTableToPointInTime",
            "dynamodb:UpdateContinuousBackups"} <= restore
    assert not any(a.split(":")[1].startswith(("Put", "Delete")) for a in restore), restore


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


def test_the_member_role_template_lints_deploys_and_matches_the_policy(tmp_path):
    import awsorg
    template = subprocess.run([binary(), "iam-policy", "--member-role", "CmdbReader", "--format", "cloudformation"],
                              capture_output=True, text=True, check=True).stdout
    path = tmp_path / "member-role.yaml"
    path.write_text(template)
    import sys
    from pathlib import Path
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    lint = subprocess.run([str(cfn_lint), str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    doc = json.loads(template)
    role_policy = doc["Resources"]["MemberRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert actions(role_policy) == actions(policies("--member-role", "CmdbReader")["member_role"]), \
        "the template and iam-policy come from the same list"
    server = awsorg.MotoServer()
    try:
        cfn = awsorg.client(server.url, "cloudformation")
        cfn.create_stack(StackName="fleetcmdb-member", TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=[{"ParameterKey": "CallerAccountId", "ParameterValue": "111111111111"}])
        stack = cfn.describe_stacks(StackName="fleetcmdb-member")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack
        iam = awsorg.client(server.url, "iam")
        role = iam.get_role(RoleName="CmdbReader")["Role"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        assert trust["Statement"][0]["Principal"]["AWS"] == "arn:aws:iam::111111111111:root"
        deployed = iam.get_role_policy(RoleName="CmdbReader", PolicyName="fleetcmdb-inventory")["PolicyDocument"]
        if isinstance(deployed, str):  # moto's CloudFormation keeps an inline policy as Python's repr
            import ast
            deployed = ast.literal_eval(deployed)
        assert actions(deployed) == actions(role_policy)
        assert resources(deployed, "dynamodb:Scan") == ["arn:aws:dynamodb:*:*:table/CloneSquad-*-Configuration",
                                                        "arn:aws:dynamodb:*:*:table/CloneSquad-*-Scheduler"]
        findings = analyze_policy_string(json.dumps(deployed)).findings
        assert not findings, [(f.issue, f.detail) for f in findings]
    finally:
        server.stop()
