-- Table constraints except NOT NULL (a column property here): primary key, unique, check, exclusion, foreign key.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       c.relname AS "table",
       con.conname AS name,
       con.contype::text AS type,
       pg_catalog.pg_get_constraintdef(con.oid) AS definition,
       ARRAY(SELECT a.attname
             FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum
             ORDER BY k.position) AS columns,
       CASE WHEN con.contype = 'f' THEN ARRAY[fn.nspname, fc.relname] END AS "references",
       con.conislocal AS is_local,
       con.convalidated AS validated,
       -- a partition's copy of its parent's constraint comes back when the partition is attached
       con.conparentid <> 0 AS inherited_from_parent
FROM pg_catalog.pg_constraint AS con
JOIN pg_catalog.pg_class AS c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class AS fc ON fc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace AS fn ON fn.oid = fc.relnamespace
WHERE con.contype IN ('p', 'u', 'c', 'x', 'f')
  AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e')
ORDER BY n.nspname, c.relname, con.conname
