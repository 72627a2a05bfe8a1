-- What it answers: which accounts of the organization have no deployed group
-- in any region collected, with their OU path and tags, so that governance
-- sees where nothing runs (and where the inventory has nothing to manage).
CREATE OR REPLACE VIEW "cmdb"."accounts_without_deployments" AS
SELECT
  a."accountid",
  a."accountname",
  a."accountemail",
  a."accountstate",
  a."oupath",
  a."tags",
  a."regions"
FROM "cmdb"."cmdb_accounts" a
WHERE a."groupcount" = 0
