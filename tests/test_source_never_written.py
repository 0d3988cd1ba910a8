"""Nothing that writes may write to the source: with NEW_DATABASE_URL reaching the source database (the same URL
pasted twice, the URL with an extra parameter, or another address of the same server), every endpoint and engine
entry that writes refuses before anything is written, and the source stays the same byte for byte.

The source has what a write would disturb without leaving rows behind: a keyless table with a DELETE trigger
(emptied and refilled, it would look the same), a BEFORE INSERT trigger (fires for rows ON CONFLICT then skips),
and sequences (setval, or nextval in a trigger, outlive a rollback). Each trigger also calls nextval, so even a
write rolled back afterwards shows.
"""

from __future__ import annotations

import difflib
import subprocess
from collections.abc import Callable, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from pghaul.connect import connect_source, connect_target
from pghaul.copy.batch import move_batch
from pghaul.dump import pg_dump_path
from pghaul.engine import MigrateOptions, finish_post_data, make_plan, migrate
from pghaul.errors import SafetyError
from pghaul.http import create_app
from pghaul.inspect import inspect_catalog
from pghaul.verify import verify
from tests.conftest import run_sql
from tests.pg_proxy import startup_proxy
from tests.test_http_helpers import AUTH, PASSWORD, SECRET, make_settings

SAME = "is the source database itself"

SOURCE_SQL = """
CREATE SEQUENCE public.trigger_calls;
CREATE TABLE public.trigger_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text NOT NULL);
CREATE FUNCTION public.log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM nextval('public.trigger_calls');
  INSERT INTO public.trigger_log (what) VALUES (TG_OP || ' ' || TG_TABLE_NAME);
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TABLE public.loose (n integer, note text);
INSERT INTO public.loose SELECT g % 7, 'row ' || g FROM generate_series(1, 40) g;
CREATE TRIGGER loose_deleted BEFORE DELETE ON public.loose FOR EACH ROW EXECUTE FUNCTION public.log_row();
CREATE TABLE public.items (id bigserial PRIMARY KEY, label text NOT NULL);
INSERT INTO public.items (label) SELECT 'item ' || g FROM generate_series(1, 30) g;
CREATE TRIGGER items_inserted BEFORE INSERT ON public.items FOR EACH ROW EXECUTE FUNCTION public.log_row();
CREATE TABLE public.parent (id integer PRIMARY KEY);
CREATE TABLE public.child (parent_id integer REFERENCES public.parent ON DELETE CASCADE, note text);
INSERT INTO public.parent SELECT generate_series(1, 5);
INSERT INTO public.child SELECT g % 5 + 1, 'child ' || g FROM generate_series(1, 12) g;
CREATE INDEX child_parent ON public.child (parent_id);
CREATE SEQUENCE public.standalone START 100;
SELECT nextval('public.standalone'), nextval('public.standalone');
SELECT lo_from_bytea(0, 'a large object');
ANALYZE;
"""


def dump(url: str) -> bytes:
    """pg_dump of schema, rows, sequence positions and large objects; a fixed restrict key keeps it comparable."""
    # --create: the database-level settings too (a cutover's freeze would be one).
    command = [pg_dump_path(), "--format=plain", "--create", "--no-statistics", "--restrict-key=pghaulsourcecheck",
               f"--dbname={url}"]
    done = subprocess.run(command, capture_output=True, check=True, timeout=120)
    return done.stdout


def sequences(url: str) -> dict[str, tuple[int, bool]]:
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences ORDER BY 1").fetchall()]
        return {n: conn.execute(f"SELECT last_value, is_called FROM {n}").fetchone() for n in names}  # type: ignore[misc]


def assert_unchanged(url: str, before: bytes, what: str) -> None:
    after = dump(url)
    if after != before:
        diff = difflib.unified_diff(before.decode().splitlines(), after.decode().splitlines(), lineterm="", n=1)
        raise AssertionError(f"{what} changed the source:\n" + "\n".join(list(diff)[:60]))
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regnamespace('pghaul')").fetchone() == (None,), what
        assert conn.execute("SELECT count(*) FROM public.trigger_log").fetchone() == (0,), what
        assert conn.execute("SELECT is_called FROM public.trigger_calls").fetchone() == (False,), what


@pytest.fixture
def source(source_url: str) -> Iterator[str]:
    run_sql(source_url, SOURCE_SQL)
    yield source_url


# The ways NEW_DATABASE_URL reaches the source: pasted twice, with a parameter more, through another address.
SPELLINGS = ("same", "extra-parameter", "other-address")


@pytest.fixture(params=SPELLINGS)
def alias(request: pytest.FixtureRequest, source: str) -> Iterator[str]:
    if request.param == "same":
        yield source
    elif request.param == "extra-parameter":
        yield make_conninfo(source, application_name="pasted-twice", connect_timeout="9")
    else:
        with startup_proxy(source) as proxy:
            yield proxy.url(source)


def _refused(response, what: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 409, (what, response.text)
    body = response.json()
    assert body["success"] is False and SAME in body["error"], (what, body)
    assert "NEW_DATABASE_URL" in body["hint"] or "another database" in body["hint"], (what, body)
    assert SECRET not in response.text and PASSWORD not in response.text


WRITING_CALLS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/api/admin/db-schema", {}),
    ("GET", "/api/admin/db-schema", {"table": "items"}),
    ("GET", "/api/admin/db-migrate-data", {"table": "items"}),
    ("GET", "/api/admin/db-migrate-data", {"table": "items", "dryRun": "true"}),
    ("GET", "/api/admin/db-migrate-data", {"table": "loose"}),
    ("GET", "/api/admin/db-migrate-data", {"table": "loose", "dryRun": "true"}),
    ("GET", "/api/admin/db-schema", {"phase": "post"}),
    ("POST", "/api/admin/db-migrate-all", {}),
    # Verification only reads, but comparing a database with itself would show green before a switch to nowhere.
    ("POST", "/api/admin/db-verify", {}),
]


def test_every_writing_endpoint_refuses_a_target_that_is_the_source(source: str, alias: str) -> None:
    before = dump(source)
    positions = sequences(source)
    with TestClient(create_app(make_settings(source, alias))) as client:
        for method, path, params in WRITING_CALLS:
            what = f"{method} {path} {params}"
            _refused(client.request(method, path, params=params, headers=AUTH), what)
            assert_unchanged(source, before, what)
        # Nothing was started in the background that could write later.
        status = client.get("/api/admin/db-status", headers=AUTH).json()
        assert status["postData"] is None and status["verifyJob"] is None and status["state"] == "idle", status
    assert_unchanged(source, before, "the app's shutdown")
    assert sequences(source) == positions


def test_reading_endpoints_leave_the_source_as_it_was(source: str) -> None:
    alias = make_conninfo(source, application_name="pasted-twice")
    before = dump(source)
    with TestClient(create_app(make_settings(source, alias))) as client:
        for path, params in (("/api/admin/db-tables", {}), ("/api/admin/db-schema", {"dryRun": "true"}),
                             ("/api/admin/db-schema", {"phase": "post", "dryRun": "true"}),
                             ("/api/admin/db-status", {}), ("/api/admin/db-preflight", {})):
            response = client.get(path, params=params, headers=AUTH)
            assert response.status_code == 200, (path, response.text)
            if path.endswith("db-preflight"):
                assert response.json()["targetIsSource"] is True and response.json()["ok"] is False
            assert_unchanged(source, before, f"GET {path} {params}")


def _engine_calls(source: str, alias: str) -> list[tuple[str, Callable[[], object]]]:
    from pghaul.engine import cleanup, create_pre_data
    from pghaul.engine.cutover import catch_up, finish
    from pghaul.sync import sync

    def batch(name: str, dry_run: bool) -> Callable[[], object]:
        def run() -> object:
            with connect_source(source) as src, connect_target(alias) as tgt:
                table = inspect_catalog(src).tables[("public", name)]
                return move_batch(src, tgt, table, None, 10, dry_run=dry_run, cursor_key=b"k" * 32,
                                  target_table=table)
        return run

    def pre_data() -> object:
        with connect_source(source) as src, connect_target(alias) as tgt:
            plan = make_plan(source, alias)
            return create_pre_data(src, tgt, plan, inspect_catalog(tgt))

    return [
        ("migrate", lambda: migrate(source, alias, MigrateOptions(workers=1))),
        ("migrate --data-only", lambda: migrate(source, alias, MigrateOptions(workers=1, data_only=True))),
        ("finish_post_data", lambda: finish_post_data(source, alias)),
        ("move_batch items", batch("items", False)),
        ("move_batch items, dry run", batch("items", True)),
        ("move_batch loose", batch("loose", False)),
        ("create_pre_data", pre_data),
        ("cleanup", lambda: cleanup(alias, source)),
        ("sync", lambda: sync(source, alias)),
        ("cutover catch-up", lambda: catch_up(source, alias)),
        ("cutover finish", lambda: finish(source, alias)),
        ("cutover finish, freezing the source", lambda: finish(source, alias, freeze=True)),
    ]


def test_every_writing_engine_entry_refuses_a_target_that_is_the_source(source: str, alias: str) -> None:
    before = dump(source)
    for what, call in _engine_calls(source, alias):
        with pytest.raises(SafetyError, match=SAME):
            call()
        assert_unchanged(source, before, what)


def test_verify_of_the_source_against_itself_writes_nothing(source: str, alias: str) -> None:
    before = dump(source)
    report = verify(source, alias)
    assert report.tables  # it did read every table
    assert_unchanged(source, before, "verify")


def test_cleanup_refuses_when_the_target_is_the_source_with_a_pghaul_schema(source: str) -> None:
    from tests.test_cli import invoke

    # The source was once a migration's target: its pghaul schema is not this migration's to drop.
    run_sql(source, "CREATE SCHEMA pghaul; CREATE TABLE pghaul.checkpoints (table_schema text);")
    before = dump(source)
    alias = make_conninfo(source, application_name="pasted-twice")
    code, out = invoke("cleanup", "--target", alias, "--source", source, "--yes")
    assert code == 1 and SAME in " ".join(out.split()), out
    assert "--source ''" in " ".join(out.split()), out  # and says how to clean up a database the app switched to
    assert dump(source) == before
    with psycopg.connect(source) as conn:
        assert conn.execute("SELECT to_regclass('pghaul.checkpoints') IS NOT NULL").fetchone() == (True,)
    # What the hint offers, for a database the app has switched to: saying there is no source drops it.
    code, out = invoke("cleanup", "--target", alias, "--source", "", "--yes")
    assert code == 0 and "dropped schema pghaul" in out, out
