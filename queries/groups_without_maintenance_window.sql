-- What it answers: which deployed groups have no maintenance window at all
-- (no SSM maintenance window targets any of their fleets), with the account
-- they live in, so that governance can chase unpatched fleets.
CREATE OR REPLACE VIEW "cmdb"."groups_without_maintenance_window" AS
SELECT
  d."accountid",
  d."region",
  d."groupname",
  d."accountname",
  d."accountemail",
  d."clonesquadversion"
FROM "cmdb"."cmdb_discovery" d
WHERE NOT EXISTS (
  SELECT 1
  FROM "cmdb"."cmdb_maintenance_windows" w
  WHERE w."accountid" = d."accountid"
    AND w."region" = d."region"
    AND w."groupname" = d."groupname"
    AND cardinality(w."maintenancewindows") > 0
)
