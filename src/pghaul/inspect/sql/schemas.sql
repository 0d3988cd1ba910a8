-- User schemas: not the system ones, not pghaul's own state schema, not those an extension created.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target.
SELECT n.nspname AS name
FROM pg_catalog.pg_namespace AS n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_namespace'::regclass AND dep.objid = n.oid AND dep.deptype = 'e')
ORDER BY n.nspname
