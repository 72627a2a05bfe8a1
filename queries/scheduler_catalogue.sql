-- What it answers: every scheduler entry of every group (what runs when), with
-- the account name, the entry's expiration time, and whether it has expired.
CREATE OR REPLACE VIEW "cmdb"."scheduler_catalogue" AS
SELECT
  s."accountid",
  s."region",
  s."groupname",
  d."accountname",
  s."key",
  s."value",
  s."expirationtime",
  coalesce(s."expirationtime" < current_timestamp, false) AS "expired"
FROM "cmdb"."cmdb_scheduler" s
LEFT JOIN "cmdb"."cmdb_discovery" d
  ON d."accountid" = s."accountid" AND d."region" = s."region" AND d."groupname" = s."groupname"
