-- What it answers: every value each configuration key of each group has had, and when: the first and last snapshot that saw it (a key that returns to an old value gets a new row).
-- Reads: cmdb_history_configuration, complete snapshots only (cmdb_history_snapshots).
-- Example: SELECT * FROM "cmdb"."configuration_history" WHERE groupname = 'web' AND key = 'ec2.schedule.min_instance_count' ORDER BY firstseen;
CREATE OR REPLACE VIEW "cmdb"."configuration_history" AS
WITH snaps AS (
  SELECT "snapshot", row_number() OVER (ORDER BY "snapshot") AS seq
  FROM "cmdb"."cmdb_history_snapshots"
  WHERE tablename = 'configuration'
),
seen AS (
  SELECT h.accountid, h.region, h.groupname, h.key, h.value, h."snapshot", s.seq,
    lag(h.value) OVER (PARTITION BY h.accountid, h.region, h.groupname, h.key ORDER BY s.seq) AS prevvalue,
    lag(s.seq) OVER (PARTITION BY h.accountid, h.region, h.groupname, h.key ORDER BY s.seq) AS prevseq
  FROM "cmdb"."cmdb_history_configuration" h
  JOIN snaps s ON s."snapshot" = h."snapshot"
),
runs AS (
  SELECT accountid, region, groupname, key, value, "snapshot", seq,
    sum(CASE WHEN prevseq IS NULL OR prevseq <> seq - 1 OR prevvalue IS DISTINCT FROM value THEN 1 ELSE 0 END)
      OVER (PARTITION BY accountid, region, groupname, key ORDER BY seq ROWS UNBOUNDED PRECEDING) AS run
  FROM seen
)
SELECT accountid, region, groupname, key, value,
  min("snapshot") AS firstseen,
  max("snapshot") AS lastseen,
  count(*) AS snapshots
FROM runs
GROUP BY accountid, region, groupname, key, value, run;
