"""A minimal reader for the YAML fleetcmdb writes: `"key": "value"` lines with
JSON-escaped double-quoted scalars (a subset of YAML), so tests need no YAML
library of ours. Anything else fails loudly."""
import json


def load(body: bytes) -> dict:
    out = {}
    for line in body.decode().splitlines():
        if line == "{}":
            continue
        key, sep, value = line.partition('": ')
        assert sep and key.startswith('"'), line
        out[json.loads(key + '"')] = json.loads(value)
    return out
