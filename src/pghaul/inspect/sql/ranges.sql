-- Range types (their multirange comes with them).
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS schema,
       t.typname AS name,
       pg_catalog.format_type(r.rngsubtype, NULL) AS subtype,
       CASE WHEN NOT opc.opcdefault
            THEN pg_catalog.quote_ident(opn.nspname) || '.' || pg_catalog.quote_ident(opc.opcname) END
           AS subtype_opclass,
       CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation
            THEN r.rngcollation::regcollation::text END AS collation,
       NULLIF(r.rngcanonical, 0)::regproc::text AS canonical,
       NULLIF(r.rngsubdiff, 0)::regproc::text AS subtype_diff,
       pg_catalog.format_type(NULLIF(r.rngmultitypid, 0), NULL) AS multirange_name
FROM pg_catalog.pg_range AS r
JOIN pg_catalog.pg_type AS t ON t.oid = r.rngtypid
JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
JOIN pg_catalog.pg_type AS st ON st.oid = r.rngsubtype
JOIN pg_catalog.pg_opclass AS opc ON opc.oid = r.rngsubopc
JOIN pg_catalog.pg_namespace AS opn ON opn.oid = opc.opcnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_type'::regclass AND dep.objid = t.oid AND dep.deptype = 'e')
ORDER BY n.nspname, t.typname
