-- Columns of tables, in order, dropped ones skipped. The NOT NULL constraint's name only exists on
-- PostgreSQL 18+ (pg_constraint contype 'n'); on older servers the join finds nothing and it is NULL.
-- Parameters: %(state_schema)s — the schema pghaul keeps its state in on a target (skipped).
SELECT n.nspname AS table_schema,
       c.relname AS table_name,
       a.attname AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null,
       CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END AS "default",
       CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END AS collation,
       a.attidentity::text AS identity,
       (SELECT ARRAY[sn.nspname, s.relname]
        FROM pg_catalog.pg_depend AS d
        JOIN pg_catalog.pg_class AS s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_catalog.pg_namespace AS sn ON sn.oid = s.relnamespace
        WHERE a.attidentity <> '' AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = c.oid
          AND d.refobjsubid = a.attnum AND d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'i'
        LIMIT 1) AS identity_sequence,
       a.attgenerated::text AS generated,
       CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END AS generation_expression,
       a.attislocal AS is_local,
       CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END AS storage,
       -- -1 (up to 16) and NULL (17+) both mean "the default"
       CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int END AS statistics_target,
       NULLIF(a.attcompression::text, '') AS compression,
       nn.conname AS not_null_name,
       -- Where the type's btree comparison operators live, when not in pg_catalog (an extension's type: isbn,
       -- citext): sessions with an empty search_path must name them to compare keys.
       (SELECT NULLIF(opn.nspname, 'pg_catalog')
        FROM pg_catalog.pg_opclass AS oc
        JOIN pg_catalog.pg_am AS am ON am.oid = oc.opcmethod AND am.amname = 'btree'
        JOIN pg_catalog.pg_amop AS ao ON ao.amopfamily = oc.opcfamily AND ao.amopstrategy = 1
             AND ao.amoplefttype = oc.opcintype AND ao.amoprighttype = oc.opcintype
        JOIN pg_catalog.pg_operator AS o ON o.oid = ao.amopopr
        JOIN pg_catalog.pg_namespace AS opn ON opn.oid = o.oprnamespace
        WHERE oc.opcdefault
          AND oc.opcintype = (WITH RECURSIVE base(oid, under) AS (  -- through domains to the base type
                                  SELECT t.oid, t.typbasetype
                                UNION ALL
                                  SELECT bt.oid, bt.typbasetype
                                  FROM pg_catalog.pg_type AS bt JOIN base ON bt.oid = base.under)
                              SELECT oid FROM base WHERE under = 0)
        LIMIT 1) AS operator_schema
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef AS ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_constraint AS nn
       ON nn.conrelid = c.oid AND nn.contype = 'n' AND nn.conkey[1] = a.attnum
WHERE c.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(state_schema)s)
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS dep
                  WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e')
ORDER BY n.nspname, c.relname, a.attnum
