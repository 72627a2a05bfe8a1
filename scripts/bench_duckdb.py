"""DuckDB doing fleetcmdb's instance conversion on the same snapshot files.

read_json over the describe-instances pages, unnest reservations and
instances, and COPY to Parquet partitioned by accountid/region/groupname.
Usage: bench_duckdb.py SNAPSHOT_DIR OUT_DIR [zstd|snappy]
"""
import sys

import duckdb

snap, out = sys.argv[1], sys.argv[2]
codec = sys.argv[3] if len(sys.argv) > 3 else "zstd"
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
con.execute(f"""
CREATE TEMP VIEW reservations AS
SELECT unnest(Reservations) AS r, filename
FROM read_json('{snap}/*/*/ec2-describe-instances*.json', filename = true, maximum_object_size = 67108864)
""")
con.execute("""
CREATE TEMP VIEW instances AS
SELECT unnest(r.Instances) AS i, filename FROM reservations
""")
con.execute(f"""
COPY (
  SELECT i.*,
         split_part(filename, '/', -3) AS accountid,
         split_part(filename, '/', -2) AS region,
         list_filter(i.Tags, lambda t: t.Key = 'clonesquad:group-name')[1].Value AS groupname
  FROM instances
) TO '{out}' (FORMAT parquet, COMPRESSION {codec}, PARTITION_BY (accountid, region, groupname), OVERWRITE_OR_IGNORE)
""")
(n,) = con.execute(f"SELECT count(*) FROM read_parquet('{out}/*/*/*/*.parquet')").fetchone()
print(f"duckdb rows={n}")
