"""Fixtures for the independent-engine checks: export the demo org with the real binary."""
import json
import os
import subprocess
from pathlib import Path

import pytest

AS_OF = "2026-11-22T03:00:00Z"  # a Sunday, inside the demo's global default window (02:00-05:00 UTC)
REPO = Path(__file__).resolve().parents[2]


def binary() -> str:
    b = os.environ.get("FLEETCMDB_BIN")
    if not b or not Path(b).exists():
        pytest.fail("FLEETCMDB_BIN must point at a built fleetcmdb binary (scripts/test sets it)")
    return b


@pytest.fixture(scope="session")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmdb")
    p = subprocess.run(
        [binary(), "export", "--demo", "--out", str(out), "--as-of", AS_OF, "--json",
         "--demo-accounts", "3", "--demo-groups", "3"],
        capture_output=True, text=True, check=True,
    )
    return out, json.loads(p.stdout)


@pytest.fixture(scope="session")
def ddl_dir():
    return REPO / "ddl"
