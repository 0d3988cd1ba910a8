-- Indexes on tables and materialized views, except those that implement a constraint (primary key, unique,
-- exclusion): the constraint creates them.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       ic.relname AS name,
       tn.nspname AS table_schema,
       tc.relname AS "table",
       pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
       am.amname AS method,
       i.indisunique AS is_unique,
       (SELECT ARRAY[pn.nspname, pc.relname]
        FROM pg_catalog.pg_inherits AS inh
        JOIN pg_catalog.pg_class AS pc ON pc.oid = inh.inhparent
        JOIN pg_catalog.pg_namespace AS pn ON pn.oid = pc.relnamespace
        WHERE inh.inhrelid = ic.oid) AS parent_index
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = ic.relnamespace
JOIN pg_catalog.pg_class AS tc ON tc.oid = i.indrelid
JOIN pg_catalog.pg_namespace AS tn ON tn.oid = tc.relnamespace
JOIN pg_catalog.pg_am AS am ON am.oid = ic.relam
WHERE tc.relkind IN ('r', 'p', 'm')
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint AS con
                  WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
  AND tn.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND tn.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.deptype = 'e'
                    AND dep.objid IN (ic.oid, tc.oid))
ORDER BY n.nspname, ic.relname
