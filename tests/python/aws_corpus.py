"""The corpus of what AWS itself publishes, as a snapshot fleetcmdb can export.

Two parts, laid out as one `--snapshot` folder by `build(dest)`:

- account 555555555555: the JSON outputs of the AWS CLI's documentation and
  the SSM user guide, checked in under `tests/fixtures/aws/snapshot/` with
  their provenance (`tests/fixtures/aws/PROVENANCE.md`);
- account 666666666666: *maximal* records generated here from botocore's
  service models (`botocore/data/<service>/<version>/service-2.json.gz`, as
  installed with moto): every member of Instance, Volume,
  MaintenanceWindowIdentity, Account, Stack, SecurityGroup and each member of
  AttributeValue present, with a value of its declared type, printed as the
  AWS CLI prints it. Only what placement needs is set by hand (a group tag,
  CloneSquad names, a 12-digit account id, a schedule SSM would accept).

`check(out, snapshot)` then compares every declared column of every table
with the input, value for value (see test_corpus.py).
"""
import datetime
import json
import shutil
from pathlib import Path

import botocore.session

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "tests/fixtures/aws/snapshot"
MAX_ACCOUNT = "666666666666"
MAX_REGION = "eu-west-1"
MAX_GROUP = "max"
GROUP_TAG = "clonesquad:group-name"
# As the AWS CLI v2 prints a timestamp member.
CLI_TIMESTAMP = "2024-05-06T07:08:09.123000+00:00"
# Every number DynamoDB can hold, to its last digit.
BIG_NUMBER = "12345678901234567890123456789012345678"
SMALL_NUMBER = "0.1234567890123456789"

_session = botocore.session.get_session()


def shape(service: str, name: str):
    return _session.get_service_model(service).shape_for(name)


def maximal(s, stack=()):
    """A value for botocore shape `s` with every member present."""
    t = s.type_name
    if t == "structure":
        if s.name in stack:  # a recursive shape: stop one level down
            return None
        out = {}
        for name, m in s.members.items():
            v = maximal(m, stack + (s.name,))
            if v is not None:
                out[name] = v
        return out
    if t == "list":
        v = maximal(s.member, stack)
        return [] if v is None else [v]
    if t == "map":
        v = maximal(s.value, stack)
        return {} if v is None else {"key-1": v}
    if t == "string":
        return s.enum[0] if s.enum else f"{s.name}-value"
    if t in ("integer", "long"):
        lo, hi = s.metadata.get("min", 0), s.metadata.get("max", 1 << 31)
        return max(lo, min(7, hi))
    if t == "boolean":
        return True
    if t in ("double", "float"):
        return 1.5
    if t == "timestamp":
        return CLI_TIMESTAMP
    if t == "blob":
        return "AAEC"
    raise ValueError(f"unknown shape type {t}")


def maximal_records():
    """The generated records, placed in one group of one account/region."""
    inst = maximal(shape("ec2", "Instance"))
    inst["InstanceId"] = "i-0maximal00000001"
    inst["Tags"] = inst["Tags"] + [{"Key": GROUP_TAG, "Value": MAX_GROUP}]
    inst["SecurityGroups"][0]["GroupId"] = "sg-0maximal0000001"
    sg = maximal(shape("ec2", "SecurityGroup"))
    sg["GroupId"] = inst["SecurityGroups"][0]["GroupId"]
    vol = maximal(shape("ec2", "Volume"))
    vol["VolumeId"] = "vol-0maximal0000001"
    vol["Attachments"][0]["InstanceId"] = inst["InstanceId"]
    window = maximal(shape("ssm", "MaintenanceWindowIdentity"))
    window.update({
        "WindowId": "mw-0maximal000001", "Name": f"CS-{MAX_GROUP}", "Schedule": "cron(0 2 ? * SUN *)",
        "ScheduleTimezone": "Europe/Paris", "ScheduleOffset": 2, "Duration": 3, "Cutoff": 1,
        # SSM's string timestamps, in the forms SSM prints: minute precision, offsets.
        "StartDate": "2026-01-01T00:00+0100", "EndDate": "2027-12-31T23:59Z",
        "NextExecutionTime": "2026-11-24T02:00+01:00",
    })
    tags = maximal(shape("ssm", "ListTagsForResourceResult"))
    tags["TagList"].append({"Key": GROUP_TAG, "Value": MAX_GROUP})
    account = maximal(shape("organizations", "Account"))
    account.update({"Id": MAX_ACCOUNT, "State": "ACTIVE"})
    stack = maximal(shape("cloudformation", "Stack"))
    stack["StackName"] = f"CloneSquad-{MAX_GROUP}"
    attr = shape("dynamodb", "AttributeValue")
    items = []
    for member in attr.members:
        v = maximal(attr.members[member])
        if member == "N":
            v = BIG_NUMBER
        if member == "NS":
            v = [BIG_NUMBER, SMALL_NUMBER]
        if member == "M":
            v = {"big": {"N": BIG_NUMBER}, "small": {"N": SMALL_NUMBER}, "s": {"S": "x"}}
        if member == "L":
            v = [{"N": SMALL_NUMBER}, {"BOOL": False}, {"NULL": True}]
        items.append({"Key": {"S": f"attr.{member}"}, "Value": {member: v}})
    items.append({"Key": {"S": "attr.small"}, "Value": {"N": SMALL_NUMBER}})
    sched = [dict(i, ExpirationTime={"N": "1800000000"}) for i in items[:2]]
    pitr = maximal(shape("dynamodb", "DescribeContinuousBackupsOutput"))
    pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] = "ENABLED"
    return {
        "organizations-describe-account.json": {"Account": account},
        f"{MAX_REGION}/ec2-describe-instances.json": {"Reservations": [
            dict(maximal(shape("ec2", "Reservation")), Instances=[inst])]},
        f"{MAX_REGION}/ec2-describe-volumes.json": {"Volumes": [vol]},
        f"{MAX_REGION}/ec2-describe-security-groups.json": {"SecurityGroups": [sg]},
        f"{MAX_REGION}/ssm-describe-maintenance-windows.json": {"WindowIdentities": [window]},
        f"{MAX_REGION}/ssm-list-tags-for-resource-{window['WindowId']}.json": tags,
        f"{MAX_REGION}/cloudformation-describe-stacks.json": {"Stacks": [stack]},
        f"{MAX_REGION}/dynamodb-scan-CloneSquad-{MAX_GROUP}-Configuration.json": {"Items": items, "Count": len(items)},
        f"{MAX_REGION}/dynamodb-scan-CloneSquad-{MAX_GROUP}-Scheduler.json": {"Items": sched, "Count": len(sched)},
        f"{MAX_REGION}/dynamodb-describe-continuous-backups-CloneSquad-{MAX_GROUP}-Configuration.json": pitr,
    }


def build(dest: Path) -> Path:
    """The whole corpus as one snapshot folder."""
    shutil.copytree(PUBLISHED, dest)
    for rel, doc in maximal_records().items():
        p = dest / MAX_ACCOUNT / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(doc, indent=4) + "\n")
    return dest


# --- reading the input back --------------------------------------------------

def load(p: Path):
    return json.loads(p.read_text(encoding="utf-8-sig"))


def pages(d: Path, prefix: str):
    return [load(p) for p in sorted(d.glob(f"{prefix}*.json"))]


def ci(obj: dict, name: str):
    """A member by name, ignoring case, as the SDKs match them."""
    for k, v in obj.items():
        if k.lower() == name.lower():
            return v
    return None


def to_ms(v):
    """A timestamp as AWS prints it (ISO 8601 in any of its forms, or epoch seconds) → epoch ms."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return round(v * 1000)
    s = v.strip()
    if "T" in s and len(s.split("T")[1]) >= 5 and s.split("T")[1][5:6] != ":":
        # minute precision (2019-02-03T02:00-08:00): Python wants seconds
        date, t = s.split("T")
        s = f"{date}T{t[:5]}:00{t[5:]}"
    s = s.replace("Z", "+00:00").replace("z", "+00:00")
    if len(s) >= 5 and s[-5] in "+-" and s[-4:].isdigit():
        s = s[:-2] + ":" + s[-2:]  # ±hhmm
    dt = datetime.datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    delta = dt - epoch
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def got_ms(v):
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    delta = v - epoch
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
