-- Functions and procedures (aggregates have no pg_get_functiondef and are not listed), with the tables
-- each one needs to exist first: row types in its signature, and tables a SQL-standard body (BEGIN ATOMIC) reads.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       p.proname AS name,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity_arguments,
       p.prokind::text AS kind,
       pg_catalog.pg_get_functiondef(p.oid) AS definition,
       l.lanname AS language,
       ARRAY(SELECT DISTINCT ARRAY[rn.nspname, rc.relname]
             FROM pg_catalog.pg_class AS rc
             JOIN pg_catalog.pg_namespace AS rn ON rn.oid = rc.relnamespace
             JOIN pg_catalog.pg_type AS rt ON rt.oid = rc.reltype
             WHERE rc.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND (rt.oid = p.prorettype OR rt.oid = ANY (p.proargtypes)
                    OR rt.oid = ANY (COALESCE(p.proallargtypes, '{}'))
                    OR rt.typarray = p.prorettype OR rt.typarray = ANY (p.proargtypes)
                    OR rc.oid IN (SELECT d.refobjid FROM pg_catalog.pg_depend AS d
                                  WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                                    AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'n'))
            ) AS depends_on_tables
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
WHERE p.prokind IN ('f', 'p', 'w')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e')
  -- a range type's constructor functions come with the type
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'i')
ORDER BY n.nspname, p.proname, 3
