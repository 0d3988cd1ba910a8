-- Installed extensions, with the extensions each one requires.
-- Parameters: none. (Every extension is listed, plpgsql included: the target usually has it already.)
SELECT e.extname AS name,
       e.extversion AS version,
       n.nspname AS schema,
       ARRAY(SELECT r.extname FROM pg_catalog.pg_depend AS d
             JOIN pg_catalog.pg_extension AS r ON r.oid = d.refobjid
             WHERE d.classid = 'pg_catalog.pg_extension'::regclass AND d.objid = e.oid
               AND d.refclassid = 'pg_catalog.pg_extension'::regclass
             ORDER BY r.extname) AS requires
FROM pg_catalog.pg_extension AS e
JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
ORDER BY e.extname
