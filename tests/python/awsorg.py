"""A real AWS organisation on moto's server, for the live-collector tests.

- `MotoServer` starts moto's server (PyPI `moto[server]`) on 127.0.0.1.
- `build_org` creates, through the real AWS APIs (boto3), an Organization of
  four accounts reached by assume-role, two regions, several groups with
  instances (some stopped, some in subfleets), volumes, DynamoDB tables,
  stacks and maintenance windows; then turns on moto's IAM enforcement so
  that one account's role really cannot be assumed.
- `dump_snapshot` writes the same inventory as the AWS CLI prints it.
- `FaultProxy` forwards every request to moto unchanged, except that it
  answers 500 to requests signed for one region (a regional outage).
"""
import base64
import datetime
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
from botocore.config import Config

REGIONS = ["eu-west-1", "us-east-1"]
GROUP_TAG = "clonesquad:group-name"
MEMBER_ROLE = "OrganizationAccountAccessRole"
# group -> (region, instances, stopped, subfleet members, config items)
GROUPS = {
    "web": ("eu-west-1", 7, 2, 3, 7),
    "batch": ("eu-west-1", 2, 0, 0, 4),
    "api": ("us-east-1", 3, 1, 1, 5),
}
STACK_TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {
        "GroupName": {"Type": "String"},
        "UserSuppliedJSONMetadata": {"Type": "String", "Default": ""},
        "TimeZone": {"Type": "String", "Default": "UTC"},
    },
    "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    "Outputs": {
        "CloneSquadVersion": {"Value": "v0.42.0"},
        "InteractAPIGWUrl": {"Value": {"Fn::Join": ["", ["https://", {"Ref": "GroupName"}, ".example.com/"]]}},
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __init__(self, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})},
        )
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def enforce_auth(self):
        req = urllib.request.Request(self.url + "/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=5)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def client(server_url, service, region="eu-west-1", creds=None):
    creds = creds or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=server_url, region_name=region,
                        config=Config(retries={"max_attempts": 2}), **creds)


def assumed(server_url, account):
    sts = client(server_url, "sts")
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}", RoleSessionName="setup")["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


def populate_account(url, account, creds, expected):
    """Creates the groups of one account; records what was created in `expected`."""
    for region in REGIONS:
        ec2 = client(url, "ec2", region, creds)
        ddb = client(url, "dynamodb", region, creds)
        ssm = client(url, "ssm", region, creds)
        cfn = client(url, "cloudformation", region, creds)
        # An instance outside any group: must not be exported.
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
        if region == "eu-west-1":
            ssm.create_maintenance_window(Name="CS-GlobalDefaultMaintenanceWindow", Schedule="cron(0 2 ? * SUN *)",
                                          Duration=3, Cutoff=0, AllowUnassociatedTargets=True)
        for g, (greg, n, stopped, sub, nconf) in GROUPS.items():
            if greg != region:
                continue
            # One security group per group; web's is open to the internet on SSH.
            sg = ec2.create_security_group(GroupName=f"{g}-sg", Description=f"{g} instances")["GroupId"]
            rules = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}]
            if g == "web":
                rules.append({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                              "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]})
            ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=rules)
            ids = []
            for i in range(n):
                tags = [{"Key": GROUP_TAG, "Value": g}, {"Key": "Name", "Value": f"{g}-{account[-4:]}-{i}"}]
                if i < sub:
                    tags.append({"Key": "clonesquad:subfleet-name", "Value": "spot"})
                r = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                      SecurityGroupIds=[sg],
                                      TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
                ids.append(r["Instances"][0]["InstanceId"])
            if stopped:
                ec2.stop_instances(InstanceIds=ids[-stopped:])
            for name in (f"CloneSquad-{g}-Configuration", f"CloneSquad-{g}-Scheduler"):
                ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")
            conf = {f"key.{k:02d}": f"value-{g}-{k}" for k in range(nconf)}
            for k, v in conf.items():
                ddb.put_item(TableName=f"CloneSquad-{g}-Configuration", Item={"Key": {"S": k}, "Value": {"S": v}})
            sched = {f"cron-{k}": f"cron(0 {k} * * ? *),ec2.schedule.min_instance_count={k}" for k in range(4)}
            for k, v in sched.items():
                item = {"Key": {"S": k}, "Value": {"S": v}}
                if k == "cron-0":
                    item["ExpirationTime"] = {"N": "1800000000"}
                ddb.put_item(TableName=f"CloneSquad-{g}-Scheduler", Item=item)
            pitr = g != "batch"  # point-in-time recovery on every configuration table but batch's
            if pitr:
                ddb.update_continuous_backups(TableName=f"CloneSquad-{g}-Configuration",
                                              PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
            cfn.create_stack(StackName=f"CloneSquad-{g}", TemplateBody=json.dumps(STACK_TEMPLATE),
                             Parameters=[{"ParameterKey": "GroupName", "ParameterValue": g},
                                         {"ParameterKey": "UserSuppliedJSONMetadata",
                                          "ParameterValue": json.dumps({"owner": f"team-{g}"})}])
            gtag = [{"Key": GROUP_TAG, "Value": g}]
            ssm.create_maintenance_window(Name=f"CS-{g}", Schedule="cron(0 4 ? * MON *)", Duration=1, Cutoff=0,
                                          AllowUnassociatedTargets=True, Tags=gtag)
            if sub:
                ssm.create_maintenance_window(Name=f"CS-{g}-Subfleet.spot", Schedule="rate(6 hours)", Duration=1,
                                              Cutoff=0, AllowUnassociatedTargets=True, Tags=gtag)
            expected[(account, region, g)] = {
                "instances": n, "stopped": stopped, "subfleet": sub, "configuration": conf, "scheduler": sched,
                "pitr": pitr, "security_group": (sg, f"{g}-sg", [22] if g == "web" else []),
            }


def build_org(server: MotoServer):
    """The organisation; returns (user credentials, accounts by name, expected inventory)."""
    url = server.url
    org = client(url, "organizations")
    org.create_organization(FeatureSet="ALL")
    accounts = {"management": "123456789012"}
    for name in ("prod", "staging", "locked"):
        st = org.create_account(AccountName=name, Email=f"aws+{name}@example.com")["CreateAccountStatus"]
        accounts[name] = st["AccountId"]
    expected = {}
    for name, acct in accounts.items():
        creds = None if name == "management" else assumed(url, acct)
        populate_account(url, acct, creds, expected)
        if name != "management":
            iam = client(url, "iam", creds=creds)
            try:  # Organizations creates it with the account, as AWS does
                iam.get_role(RoleName=MEMBER_ROLE)
            except iam.exceptions.NoSuchEntityException:
                iam.create_role(RoleName=MEMBER_ROLE, AssumeRolePolicyDocument=json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                   "Action": "sts:AssumeRole"}]}))
            iam.put_role_policy(RoleName=MEMBER_ROLE, PolicyName="admin", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    iam = client(url, "iam")
    iam.create_user(UserName="cmdb")
    iam.put_user_policy(UserName="cmdb", PolicyName="cmdb", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "sts:AssumeRole",
             "Resource": f"arn:aws:iam::{accounts['locked']}:role/*"},
        ]}))
    key = iam.create_access_key(UserName="cmdb")["AccessKey"]
    server.enforce_auth()
    creds = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    return creds, accounts, expected


def _json_default(o):
    if isinstance(o, datetime.datetime):
        return o.isoformat()
    if isinstance(o, (bytes, bytearray)):
        return base64.b64encode(o).decode()
    raise TypeError(type(o))


def _write(path: Path, doc):
    doc = {k: v for k, v in doc.items() if k != "ResponseMetadata"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=4, default=_json_default, ensure_ascii=False) + "\n")


def dump_snapshot(url, user_creds, accounts, root: Path):
    """What `aws … --output json` prints for every account/region, in the snapshot layout."""
    for name, acct in accounts.items():
        creds = user_creds if name == "management" else _assumed_as(url, user_creds, acct)
        org = client(url, "organizations", creds=user_creds)
        _write(root / acct / "organizations-describe-account.json", org.describe_account(AccountId=acct))
        _write(root / acct / "organizations-list-tags-for-resource.json", org.list_tags_for_resource(ResourceId=acct))
        child = acct
        while True:  # the account's parents up to the root
            parents = org.list_parents(ChildId=child)
            _write(root / acct / f"organizations-list-parents-{child}.json", parents)
            parent = parents["Parents"][0]
            if parent["Type"] != "ORGANIZATIONAL_UNIT":
                break
            child = parent["Id"]
            _write(root / acct / f"organizations-describe-organizational-unit-{child}.json",
                   org.describe_organizational_unit(OrganizationalUnitId=child))
        for region in REGIONS:
            d = root / acct / region
            ec2 = client(url, "ec2", region, creds)
            pages = ec2.get_paginator("describe_instances").paginate(Filters=[{"Name": "tag-key", "Values": [GROUP_TAG]}])
            reservations = [r for p in pages for r in p["Reservations"]]
            _write(d / "ec2-describe-instances.json", {"Reservations": reservations})
            vols = [v for p in ec2.get_paginator("describe_volumes").paginate() for v in p["Volumes"]]
            _write(d / "ec2-describe-volumes.json", {"Volumes": vols})
            sgs = [g for p in ec2.get_paginator("describe_security_groups").paginate() for g in p["SecurityGroups"]]
            _write(d / "ec2-describe-security-groups.json", {"SecurityGroups": sgs})
            ddb = client(url, "dynamodb", region, creds)
            for t in [t for p in ddb.get_paginator("list_tables").paginate() for t in p["TableNames"]]:
                items = [i for p in ddb.get_paginator("scan").paginate(TableName=t) for i in p["Items"]]
                _write(d / f"dynamodb-scan-{t}.json", {"Items": items, "Count": len(items)})
                cb = ddb.describe_continuous_backups(TableName=t)
                cb.pop("ResponseMetadata", None)
                _write(d / f"dynamodb-describe-continuous-backups-{t}.json", cb)
            cfn = client(url, "cloudformation", region, creds)
            _write(d / "cloudformation-describe-stacks.json", cfn.describe_stacks())
            ssm = client(url, "ssm", region, creds)
            windows = ssm.describe_maintenance_windows()
            _write(d / "ssm-describe-maintenance-windows.json", windows)
            for w in windows["WindowIdentities"]:
                tags = ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=w["WindowId"])
                _write(d / f"ssm-list-tags-for-resource-{w['WindowId']}.json", tags)


def _assumed_as(url, user_creds, account):
    sts = client(url, "sts", creds=user_creds)
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}", RoleSessionName="dump")["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


class FaultProxy:
    """A pass-through proxy in front of moto that injects faults and records requests.

    - `fault_region`: answers 500 to every request signed for that region;
    - `fail_put`: answers 500 to every S3 PUT whose path contains this text;
    - `fail_athena`: Athena queries whose text contains this marker end FAILED
      (GetQueryExecution answers are rewritten with a reason);
    - `rewrite(target, doc)`: rewrites the JSON answer of every successful
      JSON-protocol call (X-Amz-Target), so that moto answers as AWS does;
    - `atomic_conditional_puts`: forwards S3 PUTs with `If-None-Match` one at
      a time. S3 documents conditional writes as atomic (one wins, the others
      get 412 or 409); moto 5.2.5 checks for the key and then stores it with
      no lock in between, so two concurrent PUTs can both succeed;
    - `fail_target=(OPERATION, n)`: answers 500 to every call of that
      JSON-protocol operation after the first n;
    - `delay_target=(OPERATION, seconds)`: holds every call of that
      JSON-protocol operation that long before forwarding it;
    - `answer(action)`: for query-protocol calls (EC2, STS: `Action=` in the
      body), XML to answer instead of moto, or None to forward;
    - `requests` records (method, path, X-Amz-Target) of every request, and
      `statements` the QueryString of every StartQueryExecution, in order.
    """

    def __init__(self, upstream_port: int, fault_region: str | None = None,
                 fail_put: str | None = None, fail_athena: str | None = None, rewrite=None, answer=None,
                 fail_target: tuple[str, int] | None = None, atomic_conditional_puts: bool = False,
                 delay_target: tuple[str, float] | None = None):
        self.delay_target = delay_target
        self.atomic_conditional_puts = atomic_conditional_puts
        self.put_lock = threading.Lock()
        self.fail_target = fail_target
        self.target_calls = 0
        self.rewrite = rewrite
        self.answer = answer
        self.fault_region = fault_region
        self.fail_put = fail_put
        self.fail_athena = fail_athena
        self.requests = []
        self.statements = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, msg, ctype="application/x-amz-json-1.0"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization", "")
                target = self.headers.get("X-Amz-Target", "")
                with proxy.lock:
                    proxy.requests.append((self.command, self.path, target))
                    if target.endswith("StartQueryExecution"):
                        proxy.statements.append(json.loads(body)["QueryString"])
                if proxy.fail_target and target.endswith("." + proxy.fail_target[0]):
                    with proxy.lock:
                        proxy.target_calls += 1
                        over = proxy.target_calls > proxy.fail_target[1]
                    if over:
                        return self._reply(500, b'{"__type":"InternalFailure","message":"injected write failure"}')
                if proxy.delay_target and target.endswith("." + proxy.delay_target[0]):
                    time.sleep(proxy.delay_target[1])
                if proxy.fault_region and f"/{proxy.fault_region}/" in auth:
                    return self._reply(500, b'{"__type":"InternalFailure","message":"injected regional outage"}')
                if proxy.answer and not target and b"Action=" in body:
                    action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
                    xml = proxy.answer(action)
                    if xml is not None:
                        return self._reply(200, xml.encode(), "text/xml")
                if proxy.fail_put and self.command == "PUT" and proxy.fail_put in urllib.parse.unquote(self.path):
                    return self._reply(500, b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
                                            b"<Message>injected PUT failure</Message></Error>", "application/xml")
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                conditional = (proxy.atomic_conditional_puts and self.command == "PUT"
                               and self.headers.get("If-None-Match"))
                if conditional:
                    proxy.put_lock.acquire()
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                finally:
                    if conditional:
                        proxy.put_lock.release()
                if proxy.fail_athena and target.endswith("GetQueryExecution") and r.status == 200:
                    doc = json.loads(data)
                    q = doc["QueryExecution"]
                    if proxy.fail_athena in q["Query"]:
                        q["Status"]["State"] = "FAILED"
                        q["Status"]["StateChangeReason"] = "FAILED: injected: HIVE_METASTORE_ERROR on " + proxy.fail_athena
                        data = json.dumps(doc).encode()
                if proxy.rewrite and target and r.status == 200 and data:
                    data = json.dumps(proxy.rewrite(target, json.loads(data))).encode()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def s3_objects(url, bucket, prefix):
    """Every object under `prefix`, by key relative to it, with its bytes."""
    s3 = client(url, "s3")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"][len(prefix):]] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


def fleetcmdb_env(creds):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": creds["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
                "AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true"})
    return env
