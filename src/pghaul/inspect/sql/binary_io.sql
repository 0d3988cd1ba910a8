-- Column types of the given tables that have no binary send or receive function, themselves or in a type
-- their values are built from (array element, domain base, composite attribute, range subtype, multirange's
-- range): binary COPY of such a column fails ("no binary output function available for type …").
-- Parameters: %(schemas)s, %(names)s — the tables, as two arrays of the same length.
WITH RECURSIVE used AS (
    SELECT DISTINCT a.atttypid AS root, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
    FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS wanted(schema, name)
    JOIN pg_catalog.pg_namespace AS n ON n.nspname = wanted.schema
    JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = wanted.name
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
),
walk(root, part) AS (
    SELECT DISTINCT root, root FROM used
    UNION
    SELECT w.root, inner_type.oid
    FROM walk AS w
    JOIN pg_catalog.pg_type AS t ON t.oid = w.part
    CROSS JOIN LATERAL (
        -- typelem of a fixed-length type (point, name) is not how its values are sent: only true arrays
        SELECT t.typelem WHERE t.typelem <> 0 AND t.typlen = -1
        UNION ALL SELECT t.typbasetype WHERE t.typtype = 'd'
        UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute AS a
                  WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range AS r WHERE t.typtype = 'r' AND r.rngtypid = t.oid
        UNION ALL SELECT r.rngtypid FROM pg_catalog.pg_range AS r WHERE t.typtype = 'm' AND r.rngmultitypid = t.oid
    ) AS inner_type(oid)
)
SELECT DISTINCT u.type
FROM used AS u
JOIN walk AS w ON w.root = u.root
JOIN pg_catalog.pg_type AS t ON t.oid = w.part
WHERE t.typsend::oid = 0 OR t.typreceive::oid = 0
ORDER BY u.type
