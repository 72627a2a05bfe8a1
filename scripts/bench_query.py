"""Times every view of queries/ in DuckDB over the query-ready copy and over
the per-partition tree of one export, and reports the sizes of both.

Usage: bench_query.py FLEETCMDB_BIN OUT [THREADS]
Prints one JSON object: files and bytes of metadata/ and of the current copy,
the median size of the instances files of 12 rows, and per view the seconds
over the copy and over the tree (each the best of two runs, after a warm-up).
"""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
TABLES = ["discovery", "configuration", "scheduler", "instances", "volumes", "maintenance_windows", "accounts"]


def tree_stats(root: Path):
    files = [p for p in (root / "metadata").rglob("*.parquet")]
    return len(files), sum(p.stat().st_size for p in files)


def copy_stats(root: Path):
    pointer = json.loads((root / "query" / "current.json").read_text())
    files = [root / t["file"] for t in pointer["tables"].values()]
    return len(files), sum(p.stat().st_size for p in files)


def median_12_row_instances(root: Path, sample=400):
    sizes = []
    for p in sorted((root / "metadata" / "instances").rglob("*.parquet"))[:20000]:
        if pq.ParquetFile(p).metadata.num_rows == 12:
            sizes.append(p.stat().st_size)
            if len(sizes) >= sample:
                break
    return statistics.median(sizes) if sizes else None


def connect(script: str, over_tree: bool, threads: int):
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(script)
    if over_tree:
        for t in TABLES:
            by = "account" if t == "accounts" else "group"
            con.execute(f'CREATE OR REPLACE VIEW "cmdb"."cmdb_{t}" AS SELECT * FROM "cmdb"."cmdb_{t}_by_{by}"')
    return con


def time_views(con, views):
    out = {}
    for v in views:
        best = None
        for _ in range(2):
            t0 = time.perf_counter()
            con.execute(f'SELECT * FROM "cmdb"."{v}"').fetchall()
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        out[v] = best
    return out


def main():
    binary, out = sys.argv[1], Path(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    script = subprocess.run([binary, "ddl", "--engine", "duckdb", "--location", str(out)],
                            capture_output=True, text=True, check=True).stdout
    views = sorted(q.stem for q in (REPO / "queries").glob("*.sql"))
    result = {"tree_files_bytes": tree_stats(out), "copy_files_bytes": copy_stats(out),
              "median_12_row_instances_file": median_12_row_instances(out)}
    for label, over_tree in [("copy", False), ("tree", True)]:
        con = connect(script, over_tree, threads)
        con.execute('SELECT count(*) FROM "cmdb"."cmdb_instances"').fetchall()  # warm the listing
        result[label] = time_views(con, views)
        result[label + "_total"] = sum(result[label].values())
    print(json.dumps(result))
    tf, tb = result["tree_files_bytes"]
    cf, cb = result["copy_files_bytes"]
    med = result["median_12_row_instances_file"]
    lines = [f"tree: {tf} files, {tb / 1e6:.1f} MB    copy: {cf} files, {cb / 1e6:.1f} MB    "
             f"12-row instances file (median): {med:.0f} B" if med else "",
             f"{'view':38} {'copy s':>8} {'tree s':>8}"]
    for v in result["copy"]:
        lines.append(f"{v:38} {result['copy'][v]:8.3f} {result['tree'][v]:8.3f}")
    ratio = result["copy_total"] / result["tree_total"]
    lines.append(f"{'all views':38} {result['copy_total']:8.3f} {result['tree_total']:8.3f}   ratio {ratio:.4f}")
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
