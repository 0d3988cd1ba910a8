-- Views, with the tables, views and materialized views each one reads (to create them in dependency order).
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       c.relname AS name,
       pg_catalog.pg_get_viewdef(c.oid) AS definition,
       COALESCE(c.reloptions, '{}') AS options,
       ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
       ARRAY(SELECT DISTINCT ARRAY[dn.nspname, dc.relname]
             FROM pg_catalog.pg_rewrite AS r
             JOIN pg_catalog.pg_depend AS d
               ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
              AND d.refclassid = 'pg_catalog.pg_class'::regclass
             JOIN pg_catalog.pg_class AS dc ON dc.oid = d.refobjid AND dc.relkind IN ('r', 'p', 'v', 'm') AND dc.oid <> c.oid
             JOIN pg_catalog.pg_namespace AS dn ON dn.oid = dc.relnamespace
             WHERE r.ev_class = c.oid) AS depends_on
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind = 'v'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e')
ORDER BY n.nspname, c.relname
