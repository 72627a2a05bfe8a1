-- What it answers: how many instances there are per account, region, group,
-- instance type and state.
CREATE OR REPLACE VIEW "cmdb"."instance_counts" AS
SELECT
  "accountid",
  "region",
  "groupname",
  "instancetype",
  "state"."name" AS "state",
  count(*) AS "instances"
FROM "cmdb"."cmdb_instances"
GROUP BY 1, 2, 3, 4, 5
