-- Materialized views (populated or not), with the tables, views and materialized views each one reads.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       c.relname AS name,
       pg_catalog.pg_get_viewdef(c.oid) AS definition,
       c.relispopulated AS populated,
       COALESCE(c.reloptions, '{}') AS options,
       CASE WHEN am.amname <> 'heap' THEN am.amname END AS access_method,
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
LEFT JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
WHERE c.relkind = 'm'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e')
ORDER BY n.nspname, c.relname
