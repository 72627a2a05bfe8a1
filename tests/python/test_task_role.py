"""The large-organization path under the stack's own task role, with IAM enforced.

moto's server holds a four-account organization (awsorg.build_org) and then
enforces IAM. A user holding exactly the policies of the stack's `TaskRole`
(deploy/cloudformation.yaml, resolved for a bucket) runs what the state
machine runs: `plan` into `plans/`, `export --plan` of each batch into
`cmdb/`, `prune --departed --plan`, `consolidate` and `report --publish`.
Each must succeed; a write outside the prefixes the role grants must be
refused, so the enforcement is real.
"""
import json
import subprocess

import pytest

import awsorg
from conftest import AS_OF, binary
from test_deploy import resolve, template

BUCKET = "org-cmdb-tasks"


def task_role_policies():
    """The TaskRole's inline policies, as IAM would hold them for BUCKET."""
    arn = f"arn:aws:s3:::{BUCKET}"
    concrete = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012",
                "MemberRole": awsorg.MEMBER_ROLE, "Bucket": BUCKET, "Bucket.Arn": arn, "WorkGroup": "cmdb",
                "Database": "cmdb"}
    out = {}
    for p in template()["Resources"]["TaskRole"]["Properties"]["Policies"]:
        text = (json.dumps(p["PolicyDocument"])
                .replace('{"Fn::GetAtt": ["Bucket", "Arn"]}', json.dumps(arn))
                .replace('{"Fn::GetAtt": "Bucket.Arn"}', json.dumps(arn)))
        doc = resolve(json.loads(text), concrete)
        assert "Fn::" not in json.dumps(doc) and '"Ref"' not in json.dumps(doc), doc
        out[p["PolicyName"]] = doc
    return out


@pytest.fixture(scope="module")
def enforced():
    server = awsorg.MotoServer()
    try:
        admin, accounts, _ = awsorg.build_org(server)
        awsorg.client(server.url, "s3", creds=admin).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        iam = awsorg.client(server.url, "iam", creds=admin)
        iam.create_user(UserName="task")
        for name, doc in task_role_policies().items():
            iam.put_user_policy(UserName="task", PolicyName=name, PolicyDocument=json.dumps(doc))
        key = iam.create_access_key(UserName="task")["AccessKey"]
        task = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
        yield server, task, accounts
    finally:
        server.stop()


def run(server, creds, *args):
    return subprocess.run([binary(), *args, "--endpoint-url", server.url], capture_output=True, text=True,
                          env=awsorg.fleetcmdb_env(creds), timeout=600)


def test_the_task_role_runs_the_state_machines_commands(enforced):
    server, task, accounts = enforced
    plans, cmdb = f"s3://{BUCKET}/plans/run-1", f"s3://{BUCKET}/cmdb"
    # The management account is left out of the collection: moto evaluates a
    # DynamoDB request against the resource "*", so the role's grant on the
    # groups' tables (arn:aws:dynamodb:*:*:table/CloneSquad-*-…) never matches
    # there, as it would in AWS. The member accounts are read through the
    # member role, which the task role may assume and nothing more.
    p = run(server, task, "plan", "--org", "--member-role", awsorg.MEMBER_ROLE, "--exclude-accounts",
            f"{accounts['locked']},{accounts['management']}", "--out", plans, "--batch-size", "1", "--json")
    assert p.returncode == 0, p.stderr
    batches = json.loads(p.stdout)["batches"]
    assert batches == 2, "prod and staging, one batch each"
    for i in range(batches):
        p = run(server, task, "export", "--aws", "--plan", f"{plans}/batch-{i:04d}.json", "--member-role",
                awsorg.MEMBER_ROLE, "--regions", ",".join(awsorg.REGIONS), "--out", cmdb, "--as-of", AS_OF,
                "--json")
        assert p.returncode == 0, p.stderr + p.stdout
        s = json.loads(p.stdout)
        assert s["partitions"] > 0 and not s["failures"], s
    for args in (["prune", "--departed", "--plan", plans, "--out", cmdb],
                 ["consolidate", "--out", cmdb],
                 ["report", "--out", cmdb, "--publish", "--as-of", AS_OF]):
        p = run(server, task, *args)
        assert p.returncode == 0, (args, p.stderr)
    s3 = awsorg.client(server.url, "s3", creds=task)
    page = s3.get_object(Bucket=BUCKET, Key="cmdb/report.html")["Body"].read().decode()
    assert page.startswith("<!DOCTYPE html>")
    # Outside the prefixes the role grants, nothing is written.
    p = run(server, task, "consolidate", "--out", f"s3://{BUCKET}/elsewhere")
    assert p.returncode != 0 and "AccessDenied" in p.stderr, p.stderr
