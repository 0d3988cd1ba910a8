-- Those of the given tables whose rows row-level security would filter for the current role, so that reading
-- them with row_security = off fails. RLS applies unless the role is a superuser or has BYPASSRLS (attributes
-- of the role itself, never inherited), or owns the table and the table does not FORCE it. Owning is what
-- PostgreSQL's own check (check_enable_rls) takes it to be: being the owner role or inheriting its privileges,
-- which is what pg_has_role(…, 'USAGE') answers; a member without INHERIT is not an owner.
-- Parameters: %(schemas)s, %(names)s — the tables, as two arrays of the same length.
SELECT n.nspname AS schema,
       c.relname AS name
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS wanted(schema, name)
JOIN pg_catalog.pg_namespace AS n ON n.nspname = wanted.schema
JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = wanted.name
JOIN pg_catalog.pg_roles AS r ON r.rolname = current_user
WHERE c.relrowsecurity
  AND NOT r.rolsuper
  AND NOT r.rolbypassrls
  AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(c.relowner, 'USAGE'))
ORDER BY n.nspname, c.relname
