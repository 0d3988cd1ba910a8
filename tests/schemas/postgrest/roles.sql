-- PostgREST test fixture test/spec/fixtures/roles.sql
-- from github.com/PostgREST/postgrest, commit 4834678902681402a56c490f29947826e7ed5308; MIT licence (LICENSE in this folder).
-- Changed so that it loads on the test servers and pg_dump's copy of it restores (see README.md here):
--   - roles belong to the whole server, which several test databases share: each role is created only when
--     missing (instead of DROP ROLE and CREATE ROLE), and granted to the current user instead of :PGUSER

DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['postgrest_test_anonymous', 'postgrest_test_default_role', 'postgrest_test_author'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I', r);
    END IF;
  END LOOP;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgrest_test_superuser') THEN
    CREATE ROLE postgrest_test_superuser WITH SUPERUSER;
  END IF;
END
$$;

GRANT postgrest_test_anonymous, postgrest_test_default_role, postgrest_test_author, postgrest_test_superuser TO CURRENT_USER;
