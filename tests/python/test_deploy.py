"""deploy/: the stack template lints, deploys into moto's CloudFormation (what moto applies is checked there,
the rest in the template), and its task role holds exactly
what `fleetcmdb iam-policy` prints; the runtime image's libraries suffice (scripts/check-image)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from parliament import analyze_policy_string

import awsorg
from conftest import REPO, binary

TEMPLATE = REPO / "deploy" / "cloudformation.yaml"


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Sub, !Ref, !GetAtt) read as {"Fn::…": …}."""


def _intrinsic(loader, suffix, node):
    value = (loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
             else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
             else loader.construct_mapping(node))
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def resolve(v, params):
    """The template value with Fn::Sub and Ref of parameters resolved (other intrinsics left as they are)."""
    if isinstance(v, dict) and set(v) == {"Fn::Sub"} and isinstance(v["Fn::Sub"], str):
        s = v["Fn::Sub"]
        for k, val in params.items():
            s = s.replace("${" + k + "}", val)
        return s if "${" not in s else {"Fn::Sub": s}
    if isinstance(v, dict) and set(v) == {"Ref"} and v["Ref"] in params:
        return params[v["Ref"]]
    if isinstance(v, dict):
        return {k: resolve(x, params) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve(x, params) for x in v]
    return v


def template():
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


def statements(policy):
    out = {}
    for st in policy["Statement"]:
        acts = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        res = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        out[st["Sid"]] = (sorted(acts), sorted(res))
    return out


def test_the_template_passes_cfn_lint():
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_bucket_blocks_public_access_and_refuses_plain_http():
    # moto's CloudFormation does not apply these two: they are checked in the template.
    t = template()["Resources"]
    pab = t["Bucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert pab == {k: True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")}
    (deny,) = t["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = {r["Id"]: r for r in t["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireArchivedBackups"]["TagFilters"] == [{"Key": "fleetcmdb-archive", "Value": "true"}]
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_the_task_role_holds_exactly_the_generated_inventory_policy_and_passes_parliament():
    t = template()
    params = {"AWS::Partition": "aws", "MemberRole": "CmdbReader"}
    policies = {p["PolicyName"]: resolve(p["PolicyDocument"], params)
                for p in t["Resources"]["TaskRole"]["Properties"]["Policies"]}
    p = subprocess.run([binary(), "iam-policy", "--member-role", "CmdbReader"], capture_output=True, text=True, check=True)
    assert statements(policies["fleetcmdb-inventory"]) == statements(json.loads(p.stdout)["caller"])
    concrete = {"AWS::Region": "eu-west-1", "AWS::AccountId": "111111111111", "Bucket": "org-cmdb-bucket",
                "Bucket.Arn": "arn:aws:s3:::org-cmdb-bucket", "WorkGroup": "cmdb", "Database": "cmdb", **params}
    for name, doc in policies.items():
        doc = resolve(json.loads(json.dumps(doc).replace('{"Fn::GetAtt": ["Bucket", "Arn"]}', '"arn:aws:s3:::org-cmdb-bucket"')
                                 .replace('{"Fn::GetAtt": "Bucket.Arn"}', '"arn:aws:s3:::org-cmdb-bucket"')), concrete)
        findings = analyze_policy_string(json.dumps(doc)).findings
        assert not findings, (name, [(f.issue, f.detail) for f in findings])
    writes = [a for acts, _ in statements(policies["fleetcmdb-inventory"]).values() for a in acts
              if a.split(":")[1].startswith(("Put", "Delete", "Create", "Update", "Batch"))]
    assert not writes, "the inventory writes nothing but its own export"


def test_the_stack_deploys_into_moto():
    server = awsorg.MotoServer()
    try:
        ec2 = awsorg.client(server.url, "ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName="cmdb", Description="cmdb", VpcId=vpc)["GroupId"]
        cfn = awsorg.client(server.url, "cloudformation")
        image = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/fleetcmdb:1"
        cfn.create_stack(StackName="org-cmdb", TemplateBody=TEMPLATE.read_text(), Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=[{"ParameterKey": "ImageUri", "ParameterValue": image},
                                     {"ParameterKey": "Subnets", "ParameterValue": subnet},
                                     {"ParameterKey": "SecurityGroups", "ParameterValue": sg},
                                     {"ParameterKey": "TimeZone", "ParameterValue": "Europe/Paris"}])
        stack = cfn.describe_stacks(StackName="org-cmdb")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack
        out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        bucket = out["BucketName"]
        # What the state machine's input needs, from the stack itself.
        assert out["Subnets"] == subnet and out["SecurityGroups"] == sg, out
        assert out["DatabaseName"] == "cmdb" and out["PlansLocation"] == f"s3://{bucket}/plans"
        assert ":task-definition/" in out["TaskDefinitionArn"] and ":cluster/" in out["ClusterArn"], out
        for r in ["Bucket", "LogGroup"]:
            res = template()["Resources"][r]
            assert res["DeletionPolicy"] == res["UpdateReplacePolicy"] == "Retain", r
        s3 = awsorg.client(server.url, "s3")
        enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        iam = awsorg.client(server.url, "iam")
        roles = {r["RoleName"]: r for r in iam.list_roles()["Roles"]}
        task_role = next(n for n in roles if "TaskRole" in n)
        assert sorted(iam.list_role_policies(RoleName=task_role)["PolicyNames"]) == [
            "fleetcmdb-athena", "fleetcmdb-destination", "fleetcmdb-inventory"]
        ecs = awsorg.client(server.url, "ecs")
        arns = ecs.list_task_definitions()["taskDefinitionArns"]
        (c,) = ecs.describe_task_definition(taskDefinition=arns[0])["taskDefinition"]["containerDefinitions"]
        assert c["image"] == image and c["entryPoint"] == ["sh", "-c"]
        command = c["command"][0]
        assert f"--out s3://{bucket}/cmdb" in command and "fleetcmdb ddl --apply" in command and "exit $status" in command
        sqs = awsorg.client(server.url, "sqs")
        queue = out["DeadLetterQueueUrl"].rsplit("/", 1)[1]
        assert any(u.endswith("/" + queue) for u in sqs.list_queues()["QueueUrls"]), "the dead-letter queue exists"
    finally:
        server.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_the_binary_runs_with_only_the_runtime_image_libraries(tmp_path):
    p = subprocess.run([str(REPO / "scripts" / "check-image"), binary()], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "export --demo succeeded in a chroot" in p.stdout, p.stdout


ASL = REPO / "deploy" / "stepfunctions.asl.json"


def asl_validator():
    v = os.environ.get("ASL_VALIDATOR", "")
    if not Path(v).exists():
        pytest.fail("asl-validator (npm) is not installed: scripts/test installs it, or set ASL_VALIDATOR")
    return v


def test_the_state_machine_passes_asl_validator(tmp_path):
    v = asl_validator()
    p = subprocess.run([v, "--json-path", str(ASL)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    # The validator refuses what it should: a Map without a processor.
    doc = json.loads(ASL.read_text())
    del doc["States"]["ExportBatches"]["ItemProcessor"]
    bad = tmp_path / "bad.asl.json"
    bad.write_text(json.dumps(doc))
    assert subprocess.run([v, "--json-path", str(bad)], capture_output=True, text=True).returncode != 0


def asl_commands():
    """Every fleetcmdb command the state machine runs, placeholders filled with sample values."""
    doc = json.loads(ASL.read_text())
    found = []

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "Command.$":
                    fmt = x.split("States.Format('", 1)[1].split("'", 1)[0]
                    found.append(fmt.replace("{}", "x"))
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(doc)
    cmds = []
    for f in found:
        cmds += [c.split() for c in f.split("&&")]
    return cmds


def test_every_command_the_state_machine_runs_exists_with_its_flags():
    cmds = asl_commands()
    subs = [c[1] for c in cmds]
    assert subs == ["plan", "export", "ddl", "snapshot", "prune", "consolidate", "report",
                    "ddl", "consolidate", "report"], subs
    for c in cmds:
        assert c[0] == "fleetcmdb"
        help_text = subprocess.run([binary(), c[1], "--help"], capture_output=True, text=True, check=True).stdout
        for flag in (a for a in c[2:] if a.startswith("--")):
            assert f"{flag} " in help_text or f"{flag}\n" in help_text or f"{flag}=" in help_text, (c[1], flag)
    finalize = next(c for c in cmds if c[1] == "prune")
    assert "--departed" in finalize and "--plan" in finalize, "prune trusts only the plan's complete listing"


def test_the_map_tolerates_some_failed_batches_and_never_prunes_after_too_many():
    doc = json.loads(ASL.read_text())
    m = doc["States"]["ExportBatches"]
    assert m["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert 0 < m["ToleratedFailurePercentage"] < 50
    assert m["ItemReader"]["Parameters"]["Key.$"].startswith("States.Format('plans/{}/batches.json'")
    after = doc["States"][m["Catch"][0]["Next"]]
    command = after["Parameters"]["Overrides"]["ContainerOverrides"][0]["Command.$"]
    assert "fleetcmdb ddl --apply" in command
    assert "prune" not in command and "snapshot" not in command
    assert doc["States"][after["Next"]]["Type"] == "Fail"


def test_the_stack_inlines_the_state_machine_and_the_member_role_exactly():
    """The stack's copies are the sources': deploy/stepfunctions.asl.json and iam-policy's template."""
    t = template()["Resources"]
    asl = json.loads((REPO / "deploy" / "stepfunctions.asl.json").read_text())
    assert json.loads(t["StateMachine"]["Properties"]["DefinitionString"]) == asl
    p = subprocess.run([binary(), "iam-policy", "--member-role", "CmdbReader", "--format", "cloudformation"],
                       capture_output=True, text=True, check=True)
    stack_set = t["MemberRoleStackSet"]["Properties"]
    assert json.loads(stack_set["TemplateBody"]) == json.loads(p.stdout)
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED" and stack_set["AutoDeployment"]["Enabled"] is True
    params = {x["ParameterKey"]: x["ParameterValue"] for x in stack_set["Parameters"]}
    assert params == {"CallerAccountId": {"Ref": "AWS::AccountId"}, "MemberRoleName": {"Ref": "MemberRole"}}, \
        "the trust policy names the stack's own account, and the role the name the task assumes"


def test_the_state_machine_role_is_least_privilege_and_passes_parliament():
    t = template()["Resources"]
    concrete = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111111111111",
                "AWS::StackName": "org-cmdb", "Cluster": "org-cmdb-cluster", "Bucket.Arn": "arn:aws:s3:::org-cmdb-bucket"}
    (policy,) = t["StateMachineRole"]["Properties"]["Policies"]
    doc = json.loads(json.dumps(policy["PolicyDocument"])
                     .replace('{"Ref": "TaskDefinition"}', '"arn:aws:ecs:eu-west-1:111111111111:task-definition/cmdb:1"')
                     .replace('{"Fn::GetAtt": "Cluster.Arn"}', '"arn:aws:ecs:eu-west-1:111111111111:cluster/org-cmdb-cluster"')
                     .replace('{"Fn::GetAtt": "ExecutionRole.Arn"}', '"arn:aws:iam::111111111111:role/exec"')
                     .replace('{"Fn::GetAtt": "TaskRole.Arn"}', '"arn:aws:iam::111111111111:role/task"'))
    doc = resolve(doc, concrete)
    findings = analyze_policy_string(json.dumps(doc)).findings
    assert not findings, [(f.issue, f.detail) for f in findings]
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["RunTheTask"]["Action"] == "ecs:RunTask" and by_sid["RunTheTask"]["Condition"]
    assert by_sid["PassTheTaskRoles"]["Resource"] == ["arn:aws:iam::111111111111:role/exec",
                                                      "arn:aws:iam::111111111111:role/task"]
    assert by_sid["ReadThePlan"]["Resource"].endswith("/plans/*")
    assert by_sid["WriteTheMapResults"]["Resource"].endswith("/runs/stepfunctions/*")
    star = [s for s in doc["Statement"] if s["Resource"] == "*"]
    assert [s["Sid"] for s in star] == ["LogsAndTraces"], "only actions that take no resource are granted on *"
    assert all(a.split(":")[0] in ("logs", "xray") for a in star[0]["Action"])


def test_the_distributed_stack_deploys_into_moto():
    server = awsorg.MotoServer()
    try:
        ec2 = awsorg.client(server.url, "ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
        sg = ec2.create_security_group(GroupName="cmdb", Description="cmdb", VpcId=vpc)["GroupId"]
        cfn = awsorg.client(server.url, "cloudformation")
        cfn.create_stack(StackName="org-cmdb", TemplateBody=TEMPLATE.read_text(), Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=[{"ParameterKey": "ImageUri", "ParameterValue": "x/fleetcmdb:1"},
                                     {"ParameterKey": "Subnets", "ParameterValue": ",".join(subnets)},
                                     {"ParameterKey": "SecurityGroups", "ParameterValue": sg},
                                     {"ParameterKey": "Mode", "ParameterValue": "distributed"}])
        stack = cfn.describe_stacks(StackName="org-cmdb")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack
        out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        assert ":stateMachine:org-cmdb-export" in out["StateMachineArn"], out
        assert "MemberRoleStackSetId" not in out, "no StackSet unless targets are given"
        sfn = awsorg.client(server.url, "stepfunctions")
        sm = sfn.describe_state_machine(stateMachineArn=out["StateMachineArn"])
        asl = json.loads((REPO / "deploy" / "stepfunctions.asl.json").read_text())
        assert json.loads(sm["definition"]) == asl
        # moto's CloudFormation does not create EventBridge Scheduler schedules: the
        # distributed target is checked in the template, its input filled in as
        # CloudFormation would fill it.
        cond, distributed, single = template()["Resources"]["ExportSchedule"]["Properties"]["Target"]["Fn::If"]
        assert cond == "Distributed" and distributed["Arn"] == {"Ref": "StateMachine"}
        assert single["EcsParameters"]["TaskDefinitionArn"] == {"Ref": "TaskDefinition"}
        text, values = distributed["Input"]["Fn::Sub"]
        sample = {"Cluster.Arn": out["ClusterArn"], "TaskDefinition": out["TaskDefinitionArn"],
                  "SubnetList": '", "'.join(subnets), "SecurityGroupList": sg, "Bucket": out["BucketName"],
                  "MemberRole": "CmdbReader", "Regions": "all", "Database": "cmdb", "WorkGroup": "cmdb-wg"}
        assert set(values) == {"SubnetList", "SecurityGroupList"}
        for k, v in sample.items():
            text = text.replace("${" + k + "}", v)
        given = json.loads(text)
        assert given["subnets"] == subnets and given["securityGroups"] == [sg], given
        # Every key the definition reads from its input ($.x, not the context's $$.x) is
        # given; `plan` is the Map's own (its ItemSelector) and `error` a Catch's.
        read = set(re.findall(r"(?<!\$)\$\.([A-Za-z]+)", json.dumps(asl)))
        assert read - {"error", "plan"} == set(given), (read, set(given))
    finally:
        server.stop()


def test_checkov_fails_exactly_the_checks_deploy_md_explains():
    checkov = os.environ.get("CHECKOV")
    assert checkov and Path(checkov).exists(), "CHECKOV must point at checkov (scripts/test-env installs it)"
    p = subprocess.run([checkov, "-f", str(TEMPLATE), "--framework", "cloudformation", "--skip-download",
                        "--quiet", "-o", "json"], capture_output=True, text=True, timeout=300)
    doc = json.loads(p.stdout)
    report = doc if isinstance(doc, dict) else doc[0]
    results = report["results"]
    assert report["summary"]["passed"] > 20 and report["summary"]["parsing_errors"] == 0, report["summary"]
    failed = {c["check_id"] for c in results["failed_checks"]}
    text = (REPO / "docs" / "deploy.md").read_text()
    block = text.split("<!-- checkov: the checks left failing -->", 1)[1].split("<!-- end -->", 1)[0]
    explained = set(re.findall(r"^\s*- `(CKV_[A-Z0-9_]+)`", block, re.M))
    assert failed == explained, f"failing but not explained: {failed - explained}; explained but passing: {explained - failed}"


def test_hadolint_finds_no_error_in_the_dockerfile():
    hadolint = os.environ.get("HADOLINT")
    assert hadolint and Path(hadolint).exists(), "HADOLINT must point at hadolint (scripts/test-env installs it)"
    p = subprocess.run([hadolint, "--failure-threshold", "error", "-f", "json",
                        str(REPO / "deploy" / "Dockerfile")], capture_output=True, text=True, timeout=120)
    findings = json.loads(p.stdout or "[]")
    errors = [f for f in findings if f["level"] == "error"]
    assert p.returncode == 0 and errors == [], findings


def test_every_view_is_a_quicksight_dataset_with_its_columns(export):
    """The stack's datasets are what scripts/quicksight_datasets.py makes from queries/ now."""
    sys.path.insert(0, str(REPO / "scripts"))
    import quicksight_datasets as qs
    from test_queries import load
    root, _ = export
    views = sorted(q.stem for q in (REPO / "queries").glob("*.sql"))
    want = qs.block(qs.columns_by_view(load(root), views))
    assert qs.current_block(TEMPLATE.read_text()) == want, \
        "deploy/cloudformation.yaml's datasets are stale: run scripts/quicksight_datasets.py"
    t = template()["Resources"]
    datasets = {r["Properties"]["PhysicalTableMap"][k]["RelationalTable"]["Name"]
                for r in t.values() if r["Type"] == "AWS::QuickSight::DataSet"
                for k in r["Properties"]["PhysicalTableMap"]}
    assert datasets == set(views)
    assert all(r.get("Condition") == "QuickSight" for r in t.values() if r["Type"].startswith("AWS::QuickSight::"))


def test_every_inline_policy_of_the_stack_passes_parliament():
    """Every role's inline policies, with each Fn::If taken both ways, resolved for one account."""
    arns = {'{"Ref": "TaskDefinition"}': "arn:aws:ecs:eu-west-1:111111111111:task-definition/cmdb:1",
            '{"Ref": "StateMachine"}': "arn:aws:states:eu-west-1:111111111111:stateMachine:org-cmdb-export",
            '{"Fn::GetAtt": "Cluster.Arn"}': "arn:aws:ecs:eu-west-1:111111111111:cluster/org-cmdb",
            '{"Fn::GetAtt": "ExecutionRole.Arn"}': "arn:aws:iam::111111111111:role/exec",
            '{"Fn::GetAtt": "TaskRole.Arn"}': "arn:aws:iam::111111111111:role/task",
            '{"Fn::GetAtt": "DeadLetterQueue.Arn"}': "arn:aws:sqs:eu-west-1:111111111111:dlq",
            '{"Fn::GetAtt": ["Bucket", "Arn"]}': "arn:aws:s3:::org-cmdb-bucket",
            '{"Fn::GetAtt": "Bucket.Arn"}': "arn:aws:s3:::org-cmdb-bucket"}
    concrete = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111111111111",
                "AWS::StackName": "org-cmdb", "Cluster": "org-cmdb", "Bucket": "org-cmdb-bucket",
                "Bucket.Arn": "arn:aws:s3:::org-cmdb-bucket", "MemberRole": "CmdbReader", "WorkGroup": "cmdb",
                "Database": "cmdb"}

    def branch(v, take):
        if isinstance(v, dict) and set(v) == {"Fn::If"}:
            _, yes, no = v["Fn::If"]
            chosen = yes if take else no
            return None if chosen == {"Ref": "AWS::NoValue"} else branch(chosen, take)
        if isinstance(v, dict):
            return {k: branch(x, take) for k, x in v.items()}
        if isinstance(v, list):
            return [y for y in (branch(x, take) for x in v) if y is not None]
        return v

    checked = 0
    for name, r in template()["Resources"].items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        for p in r["Properties"].get("Policies", []):
            for take in (True, False):
                text = json.dumps(branch(p["PolicyDocument"], take))
                for k, v in arns.items():
                    text = text.replace(k, json.dumps(v))
                doc = resolve(json.loads(text), concrete)
                assert "Fn::" not in json.dumps(doc) and '"Ref"' not in json.dumps(doc), (name, doc)
                findings = analyze_policy_string(json.dumps(doc)).findings
                assert not findings, (name, p["PolicyName"], [(f.issue, f.detail) for f in findings])
                checked += 1
    assert checked >= 2 * 5, "the task, scheduler and state machine roles' policies, both ways"
