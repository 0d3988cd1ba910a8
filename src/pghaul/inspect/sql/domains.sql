-- Domains with their CHECK constraints (NOT NULL is typnotnull; PostgreSQL 17+ also stores it as contype 'n').
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       t.typname AS name,
       pg_catalog.format_type(t.typbasetype, t.typtypmod) AS base_type,
       t.typnotnull AS not_null,
       pg_catalog.pg_get_expr(t.typdefaultbin, 0) AS "default",
       CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation
            THEN t.typcollation::regcollation::text END AS collation,
       COALESCE((SELECT json_agg(json_build_object('name', c.conname,
                                                   'definition', pg_catalog.pg_get_constraintdef(c.oid),
                                                   'validated', c.convalidated) ORDER BY c.conname)
                 FROM pg_catalog.pg_constraint AS c
                 WHERE c.contypid = t.oid AND c.contype = 'c'), '[]') AS checks,
       ARRAY(SELECT DISTINCT ARRAY[dn.nspname, dt.typname]
             FROM pg_catalog.pg_type AS dt JOIN pg_catalog.pg_namespace AS dn ON dn.oid = dt.typnamespace
             WHERE dt.oid = t.typbasetype AND dt.typtype IN ('e', 'd', 'c', 'r')) AS depends_on
FROM pg_catalog.pg_type AS t
JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
JOIN pg_catalog.pg_type AS bt ON bt.oid = t.typbasetype
WHERE t.typtype = 'd'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_type'::regclass AND dep.objid = t.oid AND dep.deptype = 'e')
ORDER BY n.nspname, t.typname
