-- PostgREST test fixture test/spec/fixtures/database.sql
-- from github.com/PostgREST/postgrest, commit 4834678902681402a56c490f29947826e7ed5308; MIT licence (LICENSE in this folder).
-- Changed so that it loads on the test servers and pg_dump's copy of it restores (see README.md here):
--   - no pgcrypto (as in schema.sql); psql's variable DBNAME names the database, as in PostgREST's test setup

ALTER DATABASE :DBNAME SET request.jwt.claim.id = '-1';

set client_min_messages to warning;
DROP SCHEMA IF EXISTS test, private, postgrest, jwt, public, تست, extensions, v1, v2 CASCADE;
DROP TYPE IF EXISTS jwt_token CASCADE;
