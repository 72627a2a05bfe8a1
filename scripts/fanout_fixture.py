"""Benchmark fixture: a local AWS endpoint that answers after a fixed delay.

Answers what `fleetcmdb export --aws --org` calls: STS GetCallerIdentity and
AssumeRole, Organizations ListAccounts, DescribeAccount, ListParents and
ListTagsForResource, EC2
DescribeRegions/DescribeInstances/DescribeVolumes/DescribeSecurityGroups, SSM
DescribeMaintenanceWindows/ListTagsForResource, DynamoDB ListTables/Scan and
CloudFormation DescribeStacks. The XML bodies (EC2, STS, CloudFormation) are
recorded once from moto's server so their shape is what AWS sends; the JSON
ones are generated. Every response waits DELAY seconds first, so the wall time
of a run measures how well fleetcmdb overlaps calls. Not a product part and
not used by the tests.

With RATE and BURST (requests per second, and a bucket of that many), it
throttles as AWS does: each account (told apart by the access key its
AssumeRole answer handed out), region and operation has a token bucket (EC2
documents its throttling so: per account, per region, per API), and a
call that finds it empty is answered HTTP 400 with the service's own throttling
error (`RequestLimitExceeded` for EC2, `Throttling` for STS and CloudFormation,
`ThrottlingException` for the JSON APIs), after the same delay.

Usage: fanout_fixture.py PORT ACCOUNTS DELAY_SECONDS [RATE BURST [CALLER_RATE CALLER_BURST]]
Prints "ready" on stdout when it listens; counts requests (and throttled
ones) in /stats, with the wall time (Unix seconds) of the first regional call
(EC2's instances, volumes and security groups, DynamoDB, SSM, CloudFormation)
since the last GET /mark.
"""
import asyncio
import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config

PORT, ACCOUNTS, DELAY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
RATE, BURST = (float(sys.argv[4]), float(sys.argv[5])) if len(sys.argv) > 5 else (0.0, 0.0)
# The caller's own calls (AssumeRole into every account, the Organizations
# look-ups) share one account's buckets: a larger rate, 600/s by default.
CALLER_RATE, CALLER_BURST = (float(sys.argv[6]), float(sys.argv[7])) if len(sys.argv) > 7 else (600.0, 600.0)
REGIONS = ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"]
GROUP_TAG = "clonesquad:group-name"


def record_xml():
    """Raw responses of moto for the XML (query-protocol) operations."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-west-1", aws_access_key_id="a",
                  aws_secret_access_key="b", config=Config(retries={"max_attempts": 1}))
        raw = {}

        def keep(name):
            def hook(http_response, **_):
                raw[name] = http_response.content
            return hook

        ec2 = boto3.client("ec2", **kw)
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="t3.micro",
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [
                              {"Key": GROUP_TAG, "Value": "web"}, {"Key": "Name", "Value": "web-1"}]}])
        cfn = boto3.client("cloudformation", **kw)
        cfn.create_stack(StackName="CloneSquad-web", TemplateBody=json.dumps({
            "Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {"CloneSquadVersion": {"Value": "v0.42.0"}}}))
        sts = boto3.client("sts", **kw)
        for client, op, call in [
            (ec2, "DescribeRegions", lambda: ec2.describe_regions(AllRegions=True)),
            (ec2, "DescribeInstances", lambda: ec2.describe_instances()),
            (ec2, "DescribeVolumes", lambda: ec2.describe_volumes()),
            (ec2, "DescribeSecurityGroups", lambda: ec2.describe_security_groups()),
            (cfn, "DescribeStacks", lambda: cfn.describe_stacks()),
            (sts, "GetCallerIdentity", lambda: sts.get_caller_identity()),
            (sts, "AssumeRole", lambda: sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/R", RoleSessionName="bench")),
        ]:
            client.meta.events.register(f"after-call.*.{op}", keep(op))
            call()
        return raw
    finally:
        proc.terminate()


XML = record_xml()
ACCOUNT_IDS = [f"{100000000000 + i:012d}" for i in range(ACCOUNTS)]


def json_body(service, target, body):
    req = json.loads(body or b"{}")
    if target.endswith("ListAccounts"):
        start = int(req.get("NextToken") or 0)
        page = ACCOUNT_IDS[start:start + 20]
        out = {"Accounts": [{"Id": a, "Name": f"acct-{a}", "Email": f"{a}@example.com", "Status": "ACTIVE",
                             "Arn": f"arn:aws:organizations::000000000000:account/o-x/{a}"} for a in page]}
        if start + 20 < len(ACCOUNT_IDS):
            out["NextToken"] = str(start + 20)
        return out
    if target.endswith("DescribeAccount"):
        a = req.get("AccountId", "")
        return {"Account": {"Id": a, "Name": f"acct-{a}", "Email": f"{a}@example.com", "Status": "ACTIVE",
                            "JoinedMethod": "CREATED", "JoinedTimestamp": 1.7e9}}
    if target.endswith("ListTables"):
        return {"TableNames": ["CloneSquad-web-Configuration", "CloneSquad-web-Scheduler"]}
    if target.endswith("Scan"):
        return {"Items": [{"Key": {"S": f"key.{i}"}, "Value": {"S": str(i)}} for i in range(5)], "Count": 5}
    if target.endswith("DescribeMaintenanceWindows"):
        return {"WindowIdentities": [{"WindowId": "mw-0123456789abcdef0", "Name": "CS-web", "Enabled": True,
                                      "Duration": 2, "Cutoff": 0, "Schedule": "cron(0 2 ? * SUN *)"}]}
    if target.startswith("AWSOrganizations"):
        if target.endswith("ListParents"):
            return {"Parents": [{"Id": "r-bench", "Type": "ROOT"}]}
        if target.endswith("ListTagsForResource"):
            return {"Tags": [{"Key": "CostCenter", "Value": "bench"}]}
    if target.endswith("ListTagsForResource"):
        return {"TagList": [{"Key": GROUP_TAG, "Value": "web"}]}
    return None


STATS = {"requests": 0, "throttled": 0, "first_regional": None}
REGIONAL = ("DescribeInstances", "DescribeVolumes", "DescribeSecurityGroups", "DescribeStacks")
BUCKETS = {}
KEY = re.compile(r"Credential=([A-Z0-9]+)/[0-9]+/([a-z0-9-]+)/")


def throttled(headers, op):
    """Whether this call finds its account/region/operation bucket empty."""
    if RATE <= 0:
        return False
    m = KEY.search(headers.get("authorization", ""))
    key = (m.group(1), m.group(2), op) if m else ("?", "?", op)
    rate, burst = (RATE, BURST) if key[0].startswith("ASIA") else (CALLER_RATE, CALLER_BURST)
    now = time.monotonic()
    tokens, last = BUCKETS.get(key, (burst, now))
    tokens = min(burst, tokens + (now - last) * rate)
    if tokens < 1:
        BUCKETS[key] = (tokens, now)
        return True
    BUCKETS[key] = (tokens - 1, now)
    return False


def throttle_answer(target, action):
    if target:
        return b'{"__type":"ThrottlingException","message":"Rate exceeded"}', "application/x-amz-json-1.1"
    if action.startswith("Describe") and action in ("DescribeRegions", "DescribeInstances", "DescribeVolumes",
                                                                      "DescribeSecurityGroups"):
        return (b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
                b"</Message></Error></Errors><RequestID>bench</RequestID></Response>"), "text/xml"
    return (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            b"</Error><RequestId>bench</RequestId></ErrorResponse>"), "text/xml"


def assume_role_answer(body):
    """The recorded AssumeRole answer, with an access key naming the account."""
    params = dict(p.split("=", 1) for p in body.decode().split("&") if "=" in p)
    arn = urllib.parse.unquote(params.get("RoleArn", ""))
    account = arn.split(":")[4] if arn.count(":") >= 5 else "000000000000"
    return re.sub(rb"<AccessKeyId>[^<]*</AccessKeyId>", b"<AccessKeyId>ASIA" + account.encode() + b"</AccessKeyId>",
                  XML["AssumeRole"])


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = "200 OK"
            if lines[0].startswith("GET /stats") or lines[0].startswith("GET /mark"):
                if lines[0].startswith("GET /mark"):
                    STATS["first_regional"] = None
                payload, ctype = json.dumps(STATS).encode(), "application/json"
            else:
                STATS["requests"] += 1
                target = headers.get("x-amz-target", "")
                action = "" if target else dict(
                    p.split("=", 1) for p in body.decode().split("&") if "=" in p).get("Action", "")
                regional = action in REGIONAL or target.startswith(("DynamoDB", "AmazonSSM"))
                if regional and STATS["first_regional"] is None:
                    STATS["first_regional"] = time.time()
                await asyncio.sleep(DELAY)
                if throttled(headers, target or action):
                    STATS["throttled"] += 1
                    status = "400 Bad Request"
                    payload, ctype = throttle_answer(target, action)
                elif target:
                    payload = json.dumps(json_body("", target, body)).encode()
                    ctype = "application/x-amz-json-1.1"
                elif action == "AssumeRole":
                    payload, ctype = assume_role_answer(body), "text/xml"
                else:
                    payload, ctype = XML.get(action, b"<Error/>"), "text/xml"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                         f"x-amzn-requestid: bench\r\n\r\n".encode() + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", PORT, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
