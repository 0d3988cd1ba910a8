-- Installed extensions.
-- Parameters: none. (Every extension is listed, plpgsql included: the target usually has it already.)
SELECT e.extname AS name,
       e.extversion AS version,
       n.nspname AS schema
FROM pg_catalog.pg_extension AS e
JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
ORDER BY e.extname
