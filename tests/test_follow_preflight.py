"""Follow's preflight: every reason follow is not possible, each found before anything is written to either
server — no slot, publication or subscription, no pghaul schema, no table — and each with what to do.

Each refusal goes through ``migrate`` with follow (the real path: it raises ``FollowNotPossible`` listing every
reason), and the standalone ``follow_preflight`` answers the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from pghaul.engine import MigrateOptions, migrate
from pghaul.follow import FollowBlocker, FollowCaveat, FollowNotPossible, follow_preflight
from tests import servers
from tests.conftest import run_sql
from tests.follow_helpers import as_role, new_role, replication_objects, written_state

pytest_plugins = ["tests.logical_servers"]

TABLES = """
CREATE TABLE item (id bigint PRIMARY KEY, label text);
INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 50) g;
"""


def refused(source_url: str, target_url: str, options: MigrateOptions = MigrateOptions(follow=True)) -> set[str]:
    """The blocker codes migrate with follow refuses with, after checking nothing was written anywhere."""
    before = written_state(source_url, target_url)
    with pytest.raises(FollowNotPossible) as caught:
        migrate(source_url, target_url, options)
    assert written_state(source_url, target_url) == before
    error = caught.value
    assert error.preflight.blockers, "refused without a reason"
    for blocker in error.preflight.blockers:
        assert blocker.message and blocker.hint, blocker
    assert "pghaul sync" in error.hint  # the fallback is named
    standalone = follow_preflight(source_url, target_url, options)
    assert {b.code for b in standalone.blockers} == {b.code for b in error.preflight.blockers}
    assert written_state(source_url, target_url) == before
    return {str(b.code) for b in error.preflight.blockers}


@pytest.fixture
def filled_source(logical_source_url: str) -> str:
    run_sql(logical_source_url, TABLES)
    return logical_source_url


def test_follow_is_possible_between_logical_servers_and_says_what_it_does_not_carry(
    filled_source: str, logical_target_url: str
) -> None:
    run_sql(filled_source, "SELECT lo_from_bytea(0, 'large object')")
    before = written_state(filled_source, logical_target_url)
    found = follow_preflight(filled_source, logical_target_url, MigrateOptions(follow=True))
    assert found.possible and found.probed, found.to_dict()
    assert {c.code for c in found.caveats} >= {FollowCaveat.DDL, FollowCaveat.SEQUENCES, FollowCaveat.LARGE_OBJECTS}
    assert written_state(filled_source, logical_target_url) == before


def test_source_without_logical_wal_is_refused(
    replica_level_server: servers.TestServer, logical_target_url: str
) -> None:
    source = replica_level_server.create_database("walrep")
    try:
        run_sql(source, TABLES)
        assert FollowBlocker.WAL_LEVEL in refused(source, logical_target_url)
    finally:
        replica_level_server.drop_database(source)


def test_standby_source_is_refused(
    logical_source_server: servers.TestServer, logical_standby_server: servers.TestServer,
    logical_source_url: str, logical_target_url: str,
) -> None:
    run_sql(logical_source_url, TABLES)
    on_standby = psycopg.conninfo.make_conninfo(
        logical_source_url, host=psycopg.conninfo.conninfo_to_dict(logical_standby_server.admin_url)["host"])
    deadline = time.monotonic() + 30
    while True:  # the standby replays the primary's new database and tables
        try:
            with psycopg.connect(on_standby) as conn:
                if conn.execute("SELECT to_regclass('public.item') IS NOT NULL").fetchone() == (True,):
                    break
        except psycopg.OperationalError:
            pass
        assert time.monotonic() < deadline, "the standby did not replay the new database"
        time.sleep(0.2)
    assert refused(on_standby, logical_target_url) == {FollowBlocker.SOURCE_IS_STANDBY}


def test_tables_without_replica_identity_and_unlogged_tables_are_named(
    filled_source: str, logical_target_url: str
) -> None:
    run_sql(filled_source, """
        CREATE TABLE no_key (a int, b text);
        CREATE TABLE nothing_identity (id int PRIMARY KEY); ALTER TABLE nothing_identity REPLICA IDENTITY NOTHING;
        CREATE TABLE full_identity (a int); ALTER TABLE full_identity REPLICA IDENTITY FULL;
        CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);
    """)
    before = written_state(filled_source, logical_target_url)
    with pytest.raises(FollowNotPossible) as caught:
        migrate(filled_source, logical_target_url, MigrateOptions(follow=True))
    assert written_state(filled_source, logical_target_url) == before
    by_code = {b.code: b for b in caught.value.preflight.blockers}
    assert set(by_code) == {FollowBlocker.REPLICA_IDENTITY, FollowBlocker.UNLOGGED_TABLES}
    assert by_code[FollowBlocker.REPLICA_IDENTITY].objects == ("public.no_key", "public.nothing_identity")
    assert by_code[FollowBlocker.UNLOGGED_TABLES].objects == ("public.scratch",)
    assert "--exclude" in by_code[FollowBlocker.REPLICA_IDENTITY].hint
    # Left out of the run, they block nothing.
    options = MigrateOptions(follow=True, exclude=("public.no_key", "public.nothing_identity", "public.scratch"))
    assert follow_preflight(filled_source, logical_target_url, options).possible


@pytest.fixture
def source_owner(logical_source_server: servers.TestServer, logical_source_url: str) -> Iterator[tuple[str, str]]:
    """A source whose tables belong to a plain role (no REPLICATION, no CREATE on the database)."""
    role = new_role(logical_source_server, "owner")
    run_sql(logical_source_url, sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(
        sql.Identifier(role)).as_string())
    run_sql(as_role(logical_source_url, role), TABLES)
    yield logical_source_url, role


def test_source_role_without_replication_or_create_is_refused(
    source_owner: tuple[str, str], logical_target_url: str
) -> None:
    url, role = source_owner
    assert refused(as_role(url, role), logical_target_url) == {
        FollowBlocker.REPLICATION_PRIVILEGE, FollowBlocker.CREATE_ON_SOURCE}


def test_source_role_that_does_not_own_the_tables_is_refused(
    logical_source_server: servers.TestServer, source_owner: tuple[str, str], logical_target_url: str
) -> None:
    url, _owner = source_owner
    reader = new_role(logical_source_server, "reader", "LOGIN REPLICATION")
    run_sql(url, sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};"
                         " GRANT CREATE ON DATABASE {db} TO {reader}").format(
        reader=sql.Identifier(reader), db=sql.Identifier(psycopg.conninfo.conninfo_to_dict(url)["dbname"]),
    ).as_string())
    assert refused(as_role(url, reader), logical_target_url) == {FollowBlocker.TABLE_OWNERSHIP}


@pytest.fixture
def target_role(logical_target_server: servers.TestServer, logical_target_url: str) -> Iterator[tuple[str, str]]:
    """A target role that may build the schema (CREATE on public) but is no superuser."""
    role = new_role(logical_target_server, "tgt")
    run_sql(logical_target_url, sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(
        sql.Identifier(role)).as_string())
    yield logical_target_url, role


def test_target_role_that_may_not_subscribe_is_refused(filled_source: str, target_role: tuple[str, str]) -> None:
    url, role = target_role
    # Without a password in the source URL, a non-superuser's subscription could not log in either.
    assert refused(filled_source, as_role(url, role)) == {
        FollowBlocker.SUBSCRIPTION_PRIVILEGE, FollowBlocker.SUBSCRIPTION_PASSWORD}


def test_target_role_that_may_subscribe_but_not_create_in_the_database_is_refused(
    filled_source: str, target_role: tuple[str, str]
) -> None:
    url, role = target_role
    run_sql(url, sql.SQL("GRANT pg_create_subscription TO {}").format(sql.Identifier(role)).as_string())
    source = as_role(filled_source, "postgres", password="not-asked-for")
    assert refused(source, as_role(url, role)) == {FollowBlocker.CREATE_ON_TARGET}


def test_target_that_cannot_log_in_to_the_source_is_refused_by_the_probe(
    filled_source: str, target_role: tuple[str, str]
) -> None:
    """Everything the catalogs can tell is fine; only trying tells that the source does not ask this
    non-superuser's subscription for its password (PostgreSQL refuses that): the probe, rolled back."""
    url, role = target_role
    db = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    run_sql(url, sql.SQL("GRANT pg_create_subscription TO {r}; GRANT CREATE ON DATABASE {d} TO {r}").format(
        r=sql.Identifier(role), d=sql.Identifier(db)).as_string())
    source = as_role(filled_source, "postgres", password="not-asked-for")
    before = written_state(source, url)
    found = refused(source, as_role(url, role))
    assert found == {FollowBlocker.SOURCE_UNREACHABLE}
    assert written_state(source, url) == before


def test_target_whose_server_cannot_reach_the_source_is_refused(
    filled_source: str, logical_target_url: str
) -> None:
    """The source URL works from here; the one the target's server would use does not (no server there)."""
    unreachable = psycopg.conninfo.make_conninfo(filled_source, host="/nonexistent-socket-dir", port="5999")
    found = refused(filled_source, logical_target_url, MigrateOptions(follow=True, follow_source_url=unreachable))
    assert found == {FollowBlocker.SOURCE_UNREACHABLE}
    error = follow_preflight(filled_source, logical_target_url,
                             MigrateOptions(follow=True, follow_source_url=unreachable)).blockers[0]
    assert "/nonexistent-socket-dir" in error.message


def test_source_without_a_free_slot_or_wal_sender_is_refused(
    tight_server: servers.TestServer, logical_target_url: str
) -> None:
    source = tight_server.create_database("tight")
    run_sql(source, TABLES)
    run_sql(source, "SELECT pg_create_physical_replication_slot('someone_elses')")
    busy = psycopg.connect(source, autocommit=True, replication="database")  # the one WAL sender
    try:
        assert refused(source, logical_target_url) == {FollowBlocker.REPLICATION_SLOTS, FollowBlocker.WAL_SENDERS}
    finally:
        busy.close()
        run_sql(source, "SELECT pg_drop_replication_slot('someone_elses')")
        tight_server.drop_database(source)
    assert replication_objects(tight_server.admin_url)[0] == []


def test_target_without_room_for_a_subscription_is_refused(
    tight_server: servers.TestServer, filled_source: str
) -> None:
    other = tight_server.create_database("other")
    target = tight_server.create_database("tgt")
    run_sql(other, "CREATE SUBSCRIPTION someone_elses CONNECTION 'dbname=nowhere' PUBLICATION p"
                   " WITH (connect = false, enabled = false, create_slot = false, slot_name = NONE)")
    try:
        assert refused(filled_source, target) == {FollowBlocker.APPLY_WORKERS}
    finally:
        run_sql(other, "DROP SUBSCRIPTION someone_elses")
        tight_server.drop_database(other)
        tight_server.drop_database(target)


def test_follow_with_schema_only_is_a_usage_error(filled_source: str, logical_target_url: str) -> None:
    from pghaul.errors import UsageError

    with pytest.raises(UsageError):
        migrate(filled_source, logical_target_url, MigrateOptions(follow=True, schema_only=True))
