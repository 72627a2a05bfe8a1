-- What it answers: which EBS volumes are unencrypted or not attached to any
-- instance (paying for storage nobody uses), with why each one is listed.
CREATE OR REPLACE VIEW "cmdb"."volumes_at_risk" AS
SELECT
  "accountid",
  "region",
  "groupname",
  "volumeid",
  "volumetype",
  "size",
  "state",
  NOT coalesce("encrypted", false) AS "unencrypted",
  coalesce(cardinality("attachments"), 0) = 0 AS "unattached"
FROM "cmdb"."cmdb_volumes"
WHERE NOT coalesce("encrypted", false)
   OR coalesce(cardinality("attachments"), 0) = 0
