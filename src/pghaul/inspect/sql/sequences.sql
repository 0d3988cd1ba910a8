-- Sequences with all their options, the column that owns them (OWNED BY) and whether an identity column made them.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       c.relname AS name,
       pg_catalog.format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart AS start,
       s.seqincrement AS increment,
       s.seqmin AS min_value,
       s.seqmax AS max_value,
       s.seqcache AS cache,
       s.seqcycle AS cycle,
       (SELECT ARRAY[tn.nspname, tc.relname, ta.attname]
        FROM pg_catalog.pg_depend AS d
        JOIN pg_catalog.pg_class AS tc ON tc.oid = d.refobjid
        JOIN pg_catalog.pg_namespace AS tn ON tn.oid = tc.relnamespace
        JOIN pg_catalog.pg_attribute AS ta ON ta.attrelid = tc.oid AND ta.attnum = d.refobjsubid
        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
          AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
        LIMIT 1) AS owned_by,
       EXISTS (SELECT FROM pg_catalog.pg_depend AS d
               WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                 AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'i') AS identity
FROM pg_catalog.pg_sequence AS s
JOIN pg_catalog.pg_class AS c ON c.oid = s.seqrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e')
ORDER BY n.nspname, c.relname
