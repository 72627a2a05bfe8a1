-- What it answers: which fleets (a group's main fleet, or one of its
-- subfleets) can be reached from the whole internet (0.0.0.0/0 or ::/0),
-- through which security group, on which ports, and how many instances.
CREATE OR REPLACE VIEW "cmdb"."fleets_open_to_the_internet" AS
WITH "open_groups" AS (
  SELECT
    s."accountid",
    s."region",
    s."groupname",
    s."groupid",
    s."securitygroupname",
    filter(s."ippermissions", p ->
      cardinality(filter(p."ipranges", r -> r."cidrip" = '0.0.0.0/0')) > 0
      OR cardinality(filter(p."ipv6ranges", r -> r."cidripv6" = '::/0')) > 0) AS "rules"
  FROM "cmdb"."cmdb_security_groups" s
)
SELECT
  i."accountid",
  i."region",
  i."groupname",
  CASE WHEN coalesce(i."_subfleetname", '') = '' THEN '__main__' ELSE i."_subfleetname" END AS "fleet",
  o."groupid" AS "securitygroupid",
  o."securitygroupname",
  array_join(transform(o."rules", p ->
    CASE
      WHEN p."ipprotocol" = '-1' THEN 'all traffic'
      WHEN p."fromport" = p."toport" THEN p."ipprotocol" || '/' || CAST(p."fromport" AS varchar)
      ELSE p."ipprotocol" || '/' || CAST(p."fromport" AS varchar) || '-' || CAST(p."toport" AS varchar)
    END
    || CASE
      WHEN cardinality(filter(p."ipranges", r -> r."cidrip" = '0.0.0.0/0')) = 0 THEN ' (IPv6)'
      WHEN cardinality(filter(p."ipv6ranges", r -> r."cidripv6" = '::/0')) = 0 THEN ' (IPv4)'
      ELSE ''
    END), ', ') AS "open_ports",
  count(*) AS "instances"
FROM "cmdb"."cmdb_instances" i
JOIN "open_groups" o
  ON o."accountid" = i."accountid"
  AND o."region" = i."region"
  AND o."groupname" = i."groupname"
  AND contains(transform(i."securitygroups", g -> g."groupid"), o."groupid")
WHERE cardinality(o."rules") > 0
GROUP BY 1, 2, 3, 4, 5, 6, 7
