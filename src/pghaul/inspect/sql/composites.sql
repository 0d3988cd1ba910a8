-- Stand-alone composite types (CREATE TYPE … AS (…)); a table's own row type is not listed.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       t.typname AS name,
       COALESCE((SELECT json_agg(json_build_object(
                          'name', a.attname,
                          'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                          'collation', CASE WHEN a.attcollation <> at.typcollation
                                            THEN a.attcollation::regcollation::text END) ORDER BY a.attnum)
                 FROM pg_catalog.pg_attribute AS a
                 JOIN pg_catalog.pg_type AS at ON at.oid = a.atttypid
                 WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS attributes,
       ARRAY(SELECT DISTINCT ARRAY[dn.nspname, dt.typname]
             FROM pg_catalog.pg_attribute AS a
             JOIN pg_catalog.pg_type AS dt ON dt.oid = a.atttypid
             JOIN pg_catalog.pg_namespace AS dn ON dn.oid = dt.typnamespace
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
               AND dt.typtype IN ('e', 'd', 'c', 'r')) AS depends_on
FROM pg_catalog.pg_type AS t
JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
JOIN pg_catalog.pg_class AS c ON c.oid = t.typrelid AND c.relkind = 'c'
WHERE t.typtype = 'c'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_type'::regclass AND dep.objid = t.oid AND dep.deptype = 'e')
ORDER BY n.nspname, t.typname
