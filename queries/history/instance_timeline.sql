-- What it answers: what each instance was in every snapshot — its type, state, image, subfleet and address — so "when did i-0abc… change type?" is a filter on instanceid.
-- Reads: cmdb_history_instances, complete snapshots only (cmdb_history_snapshots).
-- Example: SELECT * FROM "cmdb"."instance_timeline" WHERE instanceid = 'i-0abc…' ORDER BY snapshot;
CREATE OR REPLACE VIEW "cmdb"."instance_timeline" AS
SELECT
  h."snapshot",
  h.accountid,
  h.region,
  h.groupname,
  h.instanceid,
  h.instancetype,
  h.state.name AS state,
  h."_subfleetname" AS subfleet,
  h.imageid,
  h.privateipaddress,
  h.launchtime,
  h.instancetype IS DISTINCT FROM lag(h.instancetype) OVER (PARTITION BY h.accountid, h.region, h.groupname, h.instanceid ORDER BY h."snapshot") AS typechanged,
  h.state.name IS DISTINCT FROM lag(h.state.name) OVER (PARTITION BY h.accountid, h.region, h.groupname, h.instanceid ORDER BY h."snapshot") AS statechanged
FROM "cmdb"."cmdb_history_instances" h
JOIN "cmdb"."cmdb_history_snapshots" s ON s."snapshot" = h."snapshot" AND s.tablename = 'instances';
