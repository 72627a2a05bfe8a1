-- What it answers: every managed instance, by hostname, with its group's API
-- URL, CloneSquad version, and the account's name and email. The equivalent of
-- CloneSquad's documented displayallhostnames view (instances x discovery).
CREATE OR REPLACE VIEW "cmdb"."displayallhostnames" AS
SELECT
  i."_hostname" AS "hostname",
  i."instanceid",
  i."instancetype",
  i."state"."name" AS "state",
  i."_subfleetname" AS "subfleet",
  i."accountid",
  i."region",
  i."groupname",
  d."interactapigwurl",
  d."clonesquadversion",
  d."accountname",
  d."accountemail"
FROM "cmdb"."cmdb_instances" i
LEFT JOIN "cmdb"."cmdb_discovery" d
  ON d."accountid" = i."accountid" AND d."region" = i."region" AND d."groupname" = i."groupname"
