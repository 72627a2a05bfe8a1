"""The views in queries/ run in DuckDB against the exported demo, and their results are checked.

Mechanical rewrite from Athena to DuckDB, the only one applied: the
database qualifier `"cmdb".` is dropped and table names are bound to views
over the exported Parquet (`"cmdb_instances"` -> `instances`).
"""
from pathlib import Path

import duckdb

from test_engines import TABLES

QUERIES = Path(__file__).resolve().parents[2] / "queries"


def load(con, root):
    for t in TABLES:
        con.execute(
            f"CREATE VIEW cmdb_{t} AS SELECT * FROM read_parquet('{root}/metadata/{t}/*/*/*/*.parquet', "
            "hive_partitioning = true, hive_types = {'accountid': 'VARCHAR', 'region': 'VARCHAR', 'groupname': 'VARCHAR'})"
        )
    for q in sorted(QUERIES.glob("*.sql")):
        sql = q.read_text()
        assert "`" not in sql, f"{q.name}: views use double quotes, never backticks"
        assert "CREATE OR REPLACE VIEW" in sql, q.name
        con.execute(sql.replace('"cmdb".', ""))


def test_every_query_has_a_header_saying_what_it_answers():
    for q in QUERIES.glob("*.sql"):
        assert q.read_text().startswith("-- What it answers:"), q.name


def test_displayallhostnames(export):
    root, summary = export
    con = duckdb.connect()
    load(con, root)
    rows = con.execute("SELECT hostname, groupname, interactapigwurl, clonesquadversion, accountname, accountemail FROM displayallhostnames").fetchall()
    assert len(rows) == summary["rows"]["instances"]
    for host, group, url, ver, name, email in rows:
        assert host.startswith(group + "-"), host
        assert url.startswith(f"https://{group}api.") and ver.startswith("v0.") and name and "@" in email


def test_instance_counts(export):
    root, summary = export
    con = duckdb.connect()
    load(con, root)
    (total,) = con.execute("SELECT sum(instances) FROM instance_counts").fetchone()
    assert total == summary["rows"]["instances"]
    states = {r[0] for r in con.execute("SELECT DISTINCT state FROM instance_counts").fetchall()}
    assert states == {"running", "stopped"}
