-- Tables (ordinary and partitioned) with partitioning, inheritance, storage options, row-level security,
-- primary key and size. Foreign tables are not listed: their data lives elsewhere.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       c.relname AS name,
       c.relkind AS kind,
       c.relpersistence AS persistence,
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
       (SELECT ARRAY[pn.nspname, pc.relname]
        FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS pc ON pc.oid = i.inhparent
        JOIN pg_catalog.pg_namespace AS pn ON pn.oid = pc.relnamespace
        WHERE i.inhrelid = c.oid AND c.relispartition) AS partition_of,
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       ARRAY(SELECT ARRAY[pn.nspname, pc.relname]
             FROM pg_catalog.pg_inherits AS i
             JOIN pg_catalog.pg_class AS pc ON pc.oid = i.inhparent
             JOIN pg_catalog.pg_namespace AS pn ON pn.oid = pc.relnamespace
             WHERE i.inhrelid = c.oid AND NOT c.relispartition
             ORDER BY i.inhseqno) AS inherits,
       COALESCE(c.reloptions, '{}') AS options,
       CASE WHEN am.amname <> 'heap' THEN am.amname END AS access_method,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       c.relreplident AS replica_identity,
       ARRAY(SELECT a.attname
             FROM pg_catalog.pg_constraint AS pk
             CROSS JOIN LATERAL unnest(pk.conkey) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum
             WHERE pk.conrelid = c.oid AND pk.contype = 'p'
             ORDER BY k.position) AS primary_key,
       (SELECT pk.conname FROM pg_catalog.pg_constraint AS pk
        WHERE pk.conrelid = c.oid AND pk.contype = 'p') AS primary_key_name,
       -- reltuples is -1 for a table never vacuumed or analyzed: we know nothing, so say 0
       GREATEST(c.reltuples, 0)::bigint AS rows_estimated,
       pg_catalog.pg_total_relation_size(c.oid) AS size_bytes
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e')
ORDER BY n.nspname, c.relname
