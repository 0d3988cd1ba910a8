-- Every role a grant in this database names, as grantee or grantor (PUBLIC is not a role): what
-- --privileges needs to exist on the target. Owners come from pg_dump's archive instead.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
WITH acls AS (
    SELECT c.relacl AS acl FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s) AND n.nspname !~ '^pg_'
  UNION ALL
    SELECT a.attacl FROM pg_catalog.pg_attribute AS a
    JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE a.attacl IS NOT NULL
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s) AND n.nspname !~ '^pg_'
  UNION ALL
    SELECT p.proacl FROM pg_catalog.pg_proc AS p
    JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  UNION ALL
    SELECT t.typacl FROM pg_catalog.pg_type AS t
    JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  UNION ALL
    SELECT nspacl FROM pg_catalog.pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s) AND nspname !~ '^pg_'
  UNION ALL SELECT defaclacl FROM pg_catalog.pg_default_acl
  UNION ALL SELECT srvacl FROM pg_catalog.pg_foreign_server
  UNION ALL SELECT fdwacl FROM pg_catalog.pg_foreign_data_wrapper
  UNION ALL SELECT lanacl FROM pg_catalog.pg_language WHERE lanispl
  UNION ALL SELECT lomacl FROM pg_catalog.pg_largeobject_metadata
)
SELECT DISTINCT r.rolname AS name
FROM acls
CROSS JOIN LATERAL pg_catalog.aclexplode(acls.acl) AS x
JOIN pg_catalog.pg_roles AS r ON r.oid IN (x.grantee, x.grantor)
WHERE acls.acl IS NOT NULL
ORDER BY 1
