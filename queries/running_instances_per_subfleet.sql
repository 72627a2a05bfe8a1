-- What it answers: how many instances are running in each subfleet of each
-- group; instances outside any subfleet count under the group's main fleet,
-- shown as '(main fleet)'.
CREATE OR REPLACE VIEW "cmdb"."running_instances_per_subfleet" AS
SELECT
  "accountid",
  "region",
  "groupname",
  coalesce("_subfleetname", '(main fleet)') AS "subfleet",
  count(*) AS "running"
FROM "cmdb"."cmdb_instances"
WHERE "state"."name" = 'running'
GROUP BY 1, 2, 3, 4
