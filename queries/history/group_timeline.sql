-- What it answers: how each group's fleet grew or shrank: instances per state and type in every snapshot, for trend charts.
-- Reads: cmdb_history_instances, complete snapshots only (cmdb_history_snapshots).
-- Example: SELECT "snapshot", sum(instances) FROM "cmdb"."group_timeline" WHERE state = 'running' GROUP BY 1 ORDER BY 1;
CREATE OR REPLACE VIEW "cmdb"."group_timeline" AS
SELECT
  h."snapshot",
  h.accountid,
  h.region,
  h.groupname,
  h.state.name AS state,
  h.instancetype,
  count(*) AS instances
FROM "cmdb"."cmdb_history_instances" h
JOIN "cmdb"."cmdb_history_snapshots" s ON s."snapshot" = h."snapshot" AND s.tablename = 'instances'
GROUP BY h."snapshot", h.accountid, h.region, h.groupname, h.state.name, h.instancetype;
