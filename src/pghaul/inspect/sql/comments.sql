-- Comments on user objects. For a column, constraint, trigger or policy, "name" is its table and "sub_name"
-- the object itself; for a function, "sub_name" holds its identity arguments; for a schema, "schema" is empty.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
WITH described AS (
    SELECT CASE WHEN d.objsubid > 0 THEN 'COLUMN'
                ELSE CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'TABLE' WHEN 'v' THEN 'VIEW'
                                    WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                                    WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'INDEX' END END AS object_type,
           c.relnamespace AS namespace, c.relname AS name,
           COALESCE((SELECT a.attname FROM pg_catalog.pg_attribute AS a
                     WHERE a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0), '') AS sub_name,
           d.description AS text, d.classoid, d.objoid
    FROM pg_catalog.pg_description AS d
    JOIN pg_catalog.pg_class AS c ON d.classoid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objoid
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I')
  UNION ALL
    SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.typnamespace, t.typname, '',
           d.description, d.classoid, d.objoid
    FROM pg_catalog.pg_description AS d
    JOIN pg_catalog.pg_type AS t ON d.classoid = 'pg_catalog.pg_type'::regclass AND t.oid = d.objoid
  UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
           p.pronamespace, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid),
           d.description, d.classoid, d.objoid
    FROM pg_catalog.pg_description AS d
    JOIN pg_catalog.pg_proc AS p ON d.classoid = 'pg_catalog.pg_proc'::regclass AND p.oid = d.objoid
  UNION ALL
    SELECT 'CONSTRAINT', c.relnamespace, c.relname, con.conname, d.description, d.classoid, d.objoid
    FROM pg_catalog.pg_description AS d
    JOIN pg_catalog.pg_constraint AS con ON d.classoid = 'pg_catalog.pg_constraint'::regclass AND con.oid = d.objoid
    JOIN pg_catalog.pg_class AS c ON c.oid = con.conrelid
  UNION ALL
    SELECT 'TRIGGER', c.relnamespace, c.relname, tg.tgname, d.description, d.classoid, d.objoid
    FROM pg_catalog.pg_description AS d
    JOIN pg_catalog.pg_trigger AS tg ON d.classoid = 'pg_catalog.pg_trigger'::regclass AND tg.oid = d.objoid
    JOIN pg_catalog.pg_class AS c ON c.oid = tg.tgrelid
  UNION ALL
    SELECT 'POLICY', c.relnamespace, c.relname, pol.polname, d.description, d.classoid, d.objoid
    FROM pg_catalog.pg_description AS d
    JOIN pg_catalog.pg_policy AS pol ON d.classoid = 'pg_catalog.pg_policy'::regclass AND pol.oid = d.objoid
    JOIN pg_catalog.pg_class AS c ON c.oid = pol.polrelid
  UNION ALL
    SELECT 'SCHEMA', n.oid, n.nspname, '', d.description, d.classoid, d.objoid
    FROM pg_catalog.pg_description AS d
    JOIN pg_catalog.pg_namespace AS n ON d.classoid = 'pg_catalog.pg_namespace'::regclass AND n.oid = d.objoid
)
SELECT x.object_type,
       CASE WHEN x.object_type = 'SCHEMA' THEN '' ELSE n.nspname END AS schema,
       x.name,
       x.sub_name,
       x.text
FROM described AS x
JOIN pg_catalog.pg_namespace AS n ON n.oid = x.namespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = x.classoid AND dep.objid = x.objoid AND dep.deptype = 'e')
ORDER BY 1, 2, 3, 4
