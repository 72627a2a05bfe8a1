-- What it answers: which fleets are inside a maintenance window right now,
-- which window it is and when it ends. "Now" is the query time, not the
-- export time, so a window that opened after the last export still shows.
CREATE OR REPLACE VIEW "cmdb"."fleets_in_maintenance_now" AS
SELECT
  w."accountid",
  w."region",
  w."groupname",
  w."fleet",
  w."nextmaintenancewindowdetails"."matchingwindow"."name" AS "window_name",
  w."nextmaintenancewindowdetails"."starttime" AS "window_start",
  w."nextmaintenancewindowdetails"."endtime" AS "window_end"
FROM "cmdb"."cmdb_maintenance_windows" w
WHERE w."nextmaintenancewindowdetails"."starttime" <= current_timestamp
  AND current_timestamp < w."nextmaintenancewindowdetails"."endtime"
