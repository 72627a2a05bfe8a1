-- What it answers: which groups have a configuration value that differs from
-- the most common value of the same key across all groups (configuration
-- drift), with that common value and how many groups share it. A group that
-- does not set a key at all is not listed for that key.
CREATE OR REPLACE VIEW "cmdb"."configuration_drift" AS
WITH "counts" AS (
  SELECT "key", "value", count(*) AS "groups"
  FROM "cmdb"."cmdb_configuration"
  GROUP BY "key", "value"
),
"ranked" AS (
  SELECT
    "key",
    "value",
    "groups",
    row_number() OVER (PARTITION BY "key" ORDER BY "groups" DESC, "value") AS "rank"
  FROM "counts"
)
SELECT
  c."accountid",
  c."region",
  c."groupname",
  c."key",
  c."value",
  m."value" AS "common_value",
  m."groups" AS "groups_with_common_value"
FROM "cmdb"."cmdb_configuration" c
JOIN "ranked" m ON m."key" = c."key" AND m."rank" = 1
WHERE c."value" IS DISTINCT FROM m."value"
