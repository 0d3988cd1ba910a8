"""The opt-in source freeze for a cutover: read-only for new sessions, the app's open sessions ended, and
``unfreeze`` leaving the database's settings exactly as they were. Real servers, real roles, no mocks."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pghaul.connect import connect_source
from pghaul.engine.freeze import (
    FreezeOutcome,
    FreezeReport,
    UnfreezeOutcome,
    freeze_source,
    freeze_status,
    unfreeze_source,
)
from pghaul.errors import SafetyError

# Test setup must still write while the source is frozen, as an administrator would: it asks for it.
WRITABLE = "-c default_transaction_read_only=off"
SETTINGS_SQL = """
SELECT s.setrole, s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
 WHERE d.datname = current_database() ORDER BY s.setrole
"""
SETTLE_SECONDS = 10


def settle(url: str, *keep: psycopg.Connection) -> None:
    """Wait until the only client sessions on ``url``'s database are ``keep``'s: a closed session's backend
    lingers for a moment, and the freeze would end it (or, for an owner, refuse a superuser's)."""
    wanted = {conn.info.backend_pid for conn in keep}
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            open_ = {row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND usesysid IS NOT NULL"
                " AND (backend_type = 'client backend' OR backend_type IS NULL)",  # NULL: hidden from this role
                [conninfo_to_dict(url)["dbname"]])}
            if open_ == wanted:
                return
            time.sleep(0.05)
    raise AssertionError(f"sessions on the source did not settle: {open_} instead of {wanted}")


def freeze(url: str, *keep: psycopg.Connection) -> FreezeReport:
    """freeze_source once the sessions the test means to be there are the only ones."""
    settle(url, *keep)
    return freeze_source(url)


def admin(url: str, statement: str, *names: str | sql.Composable) -> list[tuple]:
    """Run one statement as the test's superuser; ``names`` (strings as identifiers) and ``{db}`` filled in."""
    args = [sql.Identifier(n) if isinstance(n, str) else n for n in names]
    with psycopg.connect(url, autocommit=True, options=WRITABLE) as conn:
        cur = conn.execute(sql.SQL(statement).format(*args, db=sql.Identifier(conn.info.dbname)))
        return cur.fetchall() if cur.description else []


def settings(url: str) -> list[tuple]:
    return admin(url, SETTINGS_SQL)


def alive(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


@contextmanager
def login_role(url: str, *options: str) -> Iterator[tuple[str, str, str]]:
    """A uniquely named login role (roles are cluster-wide): its name, password and a URL of ``url``'s
    database as it; dropped after, with the database given back to the test's superuser if it owned it."""
    name = f"pghaul_test_{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(16)
    admin(url, "CREATE ROLE {} LOGIN PASSWORD {} " + " ".join(options), name, sql.Literal(password))
    try:
        yield name, password, make_conninfo(url, user=name, password=password)
    finally:
        admin(url, "ALTER DATABASE {db} OWNER TO CURRENT_USER")
        admin(url, "DROP OWNED BY {}", name)
        admin(url, "DROP ROLE {}", name)


@pytest.fixture
def source(source_url: str) -> Iterator[str]:
    """A source with rows and a database setting of its own that the freeze must leave alone."""
    admin(source_url, "CREATE TABLE public.items (id int PRIMARY KEY, label text)")
    admin(source_url, "INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 5) g")
    admin(source_url, "ALTER DATABASE {db} SET work_mem = '8MB'")
    yield source_url
    unfreeze_source(source_url)  # a failed test must not leave a frozen database for the fixture to drop


def rows(url: str) -> list[tuple]:
    return admin(url, "SELECT id, label FROM public.items ORDER BY id")


def can_write(url: str) -> bool:
    """Whether a new, ordinary session may write (the write is rolled back)."""
    with psycopg.connect(url) as conn:
        try:
            conn.execute("INSERT INTO public.items VALUES (100, 'new')")
        except psycopg.errors.ReadOnlySqlTransaction:
            return False
        finally:
            conn.rollback()
    return True


def frozen(url: str) -> bool:
    with connect_source(url) as conn:  # an ordinary read-only source session can tell
        return freeze_status(conn)


def test_freeze_ends_open_sessions_refuses_new_writes_and_unfreeze_restores_every_setting(source: str) -> None:
    before, data = settings(source), rows(source)
    with login_role(source) as (role, password, role_url):
        admin(source, "GRANT INSERT ON public.items TO {}", role)
        assert can_write(role_url)
        app = psycopg.connect(role_url, autocommit=True, application_name="shop")

        report = freeze(source, app)
        assert report.outcome is FreezeOutcome.FROZEN
        assert [(s.role, s.application_name) for s in report.ended] == [(role, "shop")]
        assert not alive(app)  # its next query fails: the session is gone
        assert not can_write(role_url) and not can_write(source)
        assert frozen(source)
        assert f"1 × {role} (shop)" in report.describe() and password not in report.describe()

        undone = unfreeze_source(source)
        assert undone.outcome is UnfreezeOutcome.UNFROZEN and "may write again" in undone.describe()
        assert can_write(role_url) and can_write(source)
        assert not frozen(source)
    assert settings(source) == before
    assert rows(source) == data


def test_freezing_twice_changes_nothing_the_second_time_and_so_does_unfreezing_twice(source: str) -> None:
    before = settings(source)
    assert freeze(source).outcome is FreezeOutcome.FROZEN
    frozen_settings = settings(source)
    again = freeze(source)
    assert again.outcome is FreezeOutcome.ALREADY_FROZEN and again.ended == ()
    assert "already read-only" in again.describe()
    assert settings(source) == frozen_settings

    assert unfreeze_source(source).outcome is UnfreezeOutcome.UNFROZEN
    assert settings(source) == before
    not_frozen = unfreeze_source(source)
    assert not_frozen.outcome is UnfreezeOutcome.NOT_FROZEN and "was not frozen" in not_frozen.describe()
    assert settings(source) == before


def test_a_role_that_neither_owns_the_database_nor_is_superuser_is_refused_before_anything_changes(
    source: str,
) -> None:
    before = settings(source)
    with login_role(source) as (role, password, role_url), login_role(source) as (_, _, app_url):
        app = psycopg.connect(app_url, autocommit=True)
        with pytest.raises(SafetyError) as refused:
            freeze(role_url, app)
        assert f"the role {role} may not freeze" in refused.value.message
        assert "needs its owner" in refused.value.message and "superuser" in refused.value.hint
        assert password not in str(refused.value)
        assert settings(source) == before and alive(app)

        freeze(source, app)  # frozen by its owner: the role may not unfreeze it either
        with pytest.raises(SafetyError, match="may not unfreeze"):
            unfreeze_source(role_url)
        assert frozen(source)


def test_the_database_s_own_read_only_setting_is_never_overwritten(source: str) -> None:
    admin(source, "ALTER DATABASE {db} SET default_transaction_read_only = off")
    before = settings(source)
    with pytest.raises(SafetyError, match="own setting default_transaction_read_only = off") as refused:
        freeze(source)
    assert "RESET default_transaction_read_only" in refused.value.hint
    assert unfreeze_source(source).outcome is UnfreezeOutcome.NOT_FROZEN
    assert settings(source) == before

    # Someone else's "on" is indistinguishable from pghaul's own freeze: left as it was, and reported so.
    admin(source, "ALTER DATABASE {db} SET default_transaction_read_only = 'true'")
    before = settings(source)
    report = freeze(source)
    assert report.outcome is FreezeOutcome.ALREADY_FROZEN and "unfreeze would reset it" in report.describe()
    assert settings(source) == before


def test_a_role_whose_own_setting_would_keep_it_writable_is_refused(source: str) -> None:
    with login_role(source) as (role, _, _):
        admin(source, "ALTER ROLE {} SET default_transaction_read_only = off", role)
        admin(source, "ALTER ROLE {} IN DATABASE {db} SET default_transaction_read_only = on", role)
        assert freeze(source).outcome is FreezeOutcome.FROZEN  # in this database its own setting is read-only
        unfreeze_source(source)

        admin(source, "ALTER ROLE {} IN DATABASE {db} SET default_transaction_read_only = off", role)
        before = settings(source)
        with pytest.raises(SafetyError, match=f"the roles {role} have their own setting"):
            freeze(source)
        assert settings(source) == before


def test_an_owner_may_end_only_the_sessions_postgresql_lets_it_end(source: str) -> None:
    before = settings(source)
    with login_role(source) as (owner, _, owner_url), login_role(source) as (other, _, other_url):
        admin(source, "ALTER DATABASE {db} OWNER TO {}", owner)
        owned = settings(source)
        superuser_session = psycopg.connect(source, autocommit=True, application_name="dba")
        with pytest.raises(SafetyError, match=r"may not end 1 other session\(s\)") as refused:
            freeze(owner_url, superuser_session)
        assert "nothing was changed" in refused.value.message and "(dba)" in refused.value.message
        assert alive(superuser_session) and settings(source) == owned
        superuser_session.close()

        app = psycopg.connect(other_url, autocommit=True, application_name="shop")
        with pytest.raises(SafetyError, match=rf"1 × {other} \(shop\)"):
            freeze(owner_url, app)  # another role's session needs pg_signal_backend
        assert alive(app) and settings(source) == owned
        admin(source, "GRANT pg_signal_backend TO {}", owner)
        report = freeze(owner_url, app)
        assert [s.role for s in report.ended] == [other] and not alive(app)
        assert unfreeze_source(owner_url).outcome is UnfreezeOutcome.UNFROZEN
        assert settings(source) == owned
    assert settings(source) == before


@pytest.mark.parametrize("recover", ["freeze again", "unfreeze"])
def test_a_freeze_interrupted_after_its_alter_is_finished_by_freeze_or_undone_by_unfreeze(
    source: str, recover: str
) -> None:
    """What a failure between the committed ALTER DATABASE and ending the sessions leaves: the setting on, the
    app's session still open. Built here with the very statement freeze commits first."""
    before = settings(source)
    with login_role(source) as (role, _, role_url):
        app = psycopg.connect(role_url, autocommit=True, application_name="shop")
        admin(source, "ALTER DATABASE {db} SET default_transaction_read_only = on")
        assert frozen(source) and alive(app)
        if recover == "freeze again":
            finished = freeze(source, app)  # the setting stays; the session the first run missed is ended
            assert finished.outcome is FreezeOutcome.ALREADY_FROZEN
            assert [s.role for s in finished.ended] == [role] and not alive(app)
            assert not can_write(source)
        else:
            assert unfreeze_source(source).outcome is UnfreezeOutcome.UNFROZEN
            assert settings(source) == before and can_write(source)
        app.close()
        assert unfreeze_source(source).outcome in (UnfreezeOutcome.UNFROZEN, UnfreezeOutcome.NOT_FROZEN)
    assert settings(source) == before


def test_the_source_is_named_without_its_password(source: str) -> None:
    with login_role(source, "SUPERUSER") as (user, password, role_url):
        assert password in role_url
        report = freeze(role_url)
        assert report.source.startswith(f"{user}@")
        assert password not in report.describe() and password not in unfreeze_source(role_url).describe()
