-- Objects of the PostgREST test fixtures that need contrib modules (file_fdw, ltree, isn), moved here
-- unchanged from schema.sql and data.sql (same origin, see README.md) so that the rest loads on a server
-- without contrib (pgserver's PostgreSQL 16). The settings are those in force where they were.

SET search_path = test, pg_catalog;

-- foreign table tests
create extension file_fdw;

create server import_csv foreign data wrapper file_fdw;

create foreign table projects_dump (
  id integer,
  name text,
  client_id integer
) server import_csv options ( filename '/tmp/projects_dump.csv', format 'csv');

comment on foreign table projects_dump is
$$A temporary projects dump

Just a test for foreign tables$$;


create extension if not exists ltree with schema public;

create table test.ltree_sample (
  path public.ltree
);

CREATE FUNCTION test.number_of_labels(test.ltree_sample) RETURNS integer AS $$
  SELECT nlevel($1.path)
$$ language sql;

create extension if not exists isn with schema extensions;

create table test.isn_sample (
  id extensions.isbn,
  name text
);

create function test.is_valid_isbn(input text) returns boolean as $$
  select is_valid(input::isbn);
$$ language sql;


TRUNCATE TABLE ltree_sample CASCADE;
INSERT INTO ltree_sample VALUES ('Top');
INSERT INTO ltree_sample VALUES ('Top.Science');
INSERT INTO ltree_sample VALUES ('Top.Science.Astronomy');
INSERT INTO ltree_sample VALUES ('Top.Science.Astronomy.Astrophysics');
INSERT INTO ltree_sample VALUES ('Top.Science.Astronomy.Cosmology');
INSERT INTO ltree_sample VALUES ('Top.Hobbies');
INSERT INTO ltree_sample VALUES ('Top.Hobbies.Amateurs_Astronomy');
INSERT INTO ltree_sample VALUES ('Top.Collections');
INSERT INTO ltree_sample VALUES ('Top.Collections.Pictures');
INSERT INTO ltree_sample VALUES ('Top.Collections.Pictures.Astronomy');
INSERT INTO ltree_sample VALUES ('Top.Collections.Pictures.Astronomy.Stars');
INSERT INTO ltree_sample VALUES ('Top.Collections.Pictures.Astronomy.Galaxies');
INSERT INTO ltree_sample VALUES ('Top.Collections.Pictures.Astronomy.Astronauts');

TRUNCATE TABLE isn_sample CASCADE;
INSERT INTO isn_sample VALUES ('978-0-393-04002-9', 'Mathematics: From the Birth of Numbers');

