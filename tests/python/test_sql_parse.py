"""Every statement fleetcmdb emits is parsed by an independent SQL parser: sqlglot's athena dialect.

Statements come from the committed ddl/, from `fleetcmdb ddl` in its other
modes (explicit partitions, projection, another database and prefix), and
from queries/. A statement sqlglot can only keep as an opaque `Command`
counts as unparsed and fails, with two documented exceptions:
- `MSCK REPAIR TABLE`, which sqlglot does not model;
- `ALTER TABLE … ADD IF NOT EXISTS PARTITION (…) LOCATION '…' PARTITION …`
  with several PARTITION clauses in one statement (valid Athena, see
  https://docs.aws.amazon.com/athena/latest/ug/alter-table-add-partition.html;
  sqlglot 30 parses only one clause per statement). Such a batch is checked
  clause by clause: each `ALTER TABLE … ADD IF NOT EXISTS PARTITION …` with
  one clause must parse, and the clauses must rebuild the batch exactly.
"""
import subprocess

import pytest
import sqlglot
from sqlglot import exp

from conftest import REPO, binary


def statements(text):
    text = "\n".join(l for l in text.splitlines() if not l.startswith("--"))
    return [s.strip() for s in text.split(";\n") if s.strip()]


def check(sql):
    if sql.startswith("MSCK REPAIR TABLE "):
        return
    head, sep, rest = sql.partition(" ADD IF NOT EXISTS\n")
    if sep and sql.startswith("ALTER TABLE "):
        clauses = rest.split("\n")
        assert "\n".join(clauses) == rest
        for c in clauses:
            check_one(f"{head} ADD IF NOT EXISTS {c.strip()}", exp.Alter)
        return
    check_one(sql, (exp.Create, exp.Alter))


def check_one(sql, kinds):
    parsed = sqlglot.parse(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    assert len(parsed) == 1, sql
    assert isinstance(parsed[0], kinds), f"sqlglot could not parse (got {type(parsed[0]).__name__}): {sql[:200]}"


@pytest.mark.parametrize("f", sorted((REPO / "ddl").glob("*.sql")), ids=lambda p: p.name)
def test_committed_ddl_parses(f):
    stmts = statements(f.read_text())
    assert stmts
    for s in stmts:
        check(s)


@pytest.mark.parametrize("mode", [[], ["--projection"], ["--partitions-from", "EXPORT"],
                                  ["--projection", "--partitions-from", "EXPORT"],
                                  ["--database", "gov", "--table-prefix", "clonesquad_"]])
def test_generated_ddl_parses(mode, export):
    root, summary = export
    args = [str(root) if a == "EXPORT" else a for a in mode]
    out = subprocess.run([binary(), "ddl", "--location", "s3://org-cmdb/prod", *args],
                         capture_output=True, text=True, check=True).stdout
    stmts = statements(out)
    assert len(stmts) >= 7
    for s in stmts:
        check(s)
    if "--partitions-from" in mode and "--projection" not in mode:
        adds = [s for s in stmts if " ADD IF NOT EXISTS\n" in s]
        want = 7 * summary["partitions"] + summary["account_partitions"]
        assert sum(s.count("\n  PARTITION (") for s in adds) == want


@pytest.mark.parametrize("f", sorted((REPO / "queries").rglob("*.sql")), ids=lambda p: p.name)
def test_views_parse_as_one_create_view(f):
    (s,) = statements(f.read_text())
    parsed = sqlglot.parse_one(s, read="athena")
    assert isinstance(parsed, exp.Create) and parsed.args["kind"] == "VIEW" and parsed.args.get("replace")
