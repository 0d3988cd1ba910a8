"""The follow commands end to end on real servers started with wal_level = logical (``tests/logical_servers.py``):
`pghaul migrate --follow`, `pghaul follow` on a target migrated without it, `pghaul status` while the target
follows, `pghaul cutover --follow`, `pghaul stop-follow`, and the refusals (a source that cannot publish; sync and
the sync cutover on a following target) — what they print, their exit codes, what they leave on both servers, and
that no password ever shows. Then what follow's output looks like at 80 columns, without a terminal and as JSON
lines, without a server.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import secrets
import struct
import subprocess
import sys
import termios
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner, Result

from pghaul.cli import app
from pghaul.cli.cutover import render_follow_cutover
from pghaul.cli.follow_report import render_follow_status, render_follow_writes, render_preflight, render_teardown
from pghaul.cli.progress_view import ProgressView, layout
from pghaul.cli.views import JsonView, PlainView
from pghaul.engine.cutover import switch_instructions
from pghaul.follow import FollowCutoverOptions, FollowCutoverReport, FollowPreflight, FollowStatus, TeardownReport
from pghaul.follow.catch_up import CatchUpResult
from pghaul.follow.events import (
    FollowStartChosen,
    ObjectAction,
    ReplicationCatchUp,
    ReplicationObject,
    ReplicationObjectChanged,
    Server,
    StartKind,
)
from pghaul.follow.preflight import FollowBlocker, FollowCaveat, FollowReason
from pghaul.follow.source_objects import SlotInfo
from pghaul.follow.status import FollowState, SubscriptionStatus, TableReplication, TableReplicationState
from pghaul.sync.report import SequenceSync
from tests.conftest import run_sql
from tests.follow_helpers import fill_app, replication_objects, written_state

pytest_plugins = ["tests.logical_servers"]

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
WIDTH = 80
NAME = "pghaul_0123456789abcdef"
LONG_TABLE = "reporting_warehouse_schema_for_quarterly_financial_statements_x." + "t" * 63
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
ESCAPE = re.compile(r"\x1b")
TERMINAL_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
# What the app writes on the source once the target follows.
WRITES = """
INSERT INTO account (name, balance) VALUES ('written while following', 42);
UPDATE tag SET note = 'changed while following' WHERE name = 'tag 7';
DELETE FROM entry WHERE account_id = 3;
"""


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def pghaul(*args: str) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, as from a second terminal, without a terminal, 80 columns wide."""
    return subprocess.run([sys.executable, "-m", "pghaul", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "COLUMNS": str(WIDTH)}, timeout=120, check=False)


def flat(text: str) -> str:
    return " ".join(text.split())


def fits(text: str, width: int = WIDTH) -> None:
    too_wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not too_wide, "\n".join(too_wide)


def nothing_left(source_url: str, target_url: str) -> None:
    """No slot and no publication on the source, no subscription on the target (and none the other way round)."""
    assert replication_objects(source_url, server_wide=False) == ([], [], [])
    assert replication_objects(target_url, server_wide=False) == ([], [], [])


def one_value(url: str, query: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


@contextmanager
def password_urls(source_url: str, target_url: str) -> Iterator[tuple[str, str, str]]:
    """A superuser role with a password on both servers (roles are a cluster's: created once where both databases
    share one), and postgresql:// URLs of both databases as it, the password in plain sight: in the URL pghaul is
    given, and so in the subscription's connection string."""
    name, password = f"pghaul_follow_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    role = sql.Identifier(name)
    for url in (source_url, target_url):
        with psycopg.connect(url, autocommit=True) as conn:
            if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", [name]).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(role, sql.Literal(password)))

    def as_role(url: str) -> str:
        p = conninfo_to_dict(url)
        return f"postgresql://{name}:{password}@/{p['dbname']}?host={p.get('host', '')}&port={p.get('port', 5432)}"

    try:
        yield password, as_role(source_url), as_role(target_url)
    finally:
        for url in (source_url, target_url):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(role))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
        for url in (source_url, target_url):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


def migrate_follow(source: str, target: str, *extra: str) -> Result:
    result = invoke("migrate", "--follow", "--yes", "--batch-size", "400", "--workers", "2",
                    "--source", source, "--target", target, *extra)
    assert result.exit_code == 0, result.output
    return result


# --- on real servers -------------------------------------------------------------------------------------------


def test_migrate_follow_then_status_then_cutover_leaves_nothing_behind(
    logical_source_url: str, logical_target_url: str
) -> None:
    fill_app(logical_source_url, accounts=300)
    with password_urls(logical_source_url, logical_target_url) as (password, source, target):
        migrated = migrate_follow(source, target)
        out = flat(migrated.output)
        # The preflight, and what follow writes to the source, before anything is copied.
        assert "follow: possible; the target's server reached the source" in out
        assert "sequence positions are not replicated" in out and "large objects are not replicated" in out
        assert "follow writes to the source" in out and "the second write pghaul makes to a source" in out
        assert "a slot left behind keeps the source's WAL" in out and "disk fills" in out
        assert "`pghaul cleanup --source … --target …`" in out
        assert out.index("follow writes to the source") < out.index("phase data")
        # The events, as log lines (no terminal here): how it started and each object it created.
        assert "Z follow fresh start: a new slot, and the copy in its snapshot" in out
        assert re.search(r"Z follow publication pghaul_[0-9a-f]{16} created on the source 6 table\(s\)", out)
        assert re.search(r"Z follow replication slot pghaul_[0-9a-f]{16} created on the source consistent point", out)
        assert re.search(r"Z follow subscription pghaul_[0-9a-f]{16} created on the target", out)
        # The end: the target follows, how to watch it, how to finish, how to give up.
        assert "migration complete" in out and "the target now follows the source" in out
        assert "pghaul status --source … --target …" in out and "pghaul cutover --follow" in out
        assert "pghaul stop-follow" in out
        name = re.search(r"slot and publication (pghaul_[0-9a-f]{16}) on the source", out)
        assert name is not None

        run_sql(logical_source_url, WRITES)  # the app goes on writing on the source

        status = pghaul("status", "--target", target, "--source", source)
        assert status.returncode == 0, status.stderr
        fits(status.stdout)
        text = flat(status.stdout)
        assert f"follow {name[1]} streaming" in text
        assert re.search(r"lag: [\d,]+ bytes of WAL not yet applied replay lag: ", text)
        assert re.search(r"slot: active, keeps [\d,.]+ (bytes|MB) of the source's WAL, wal_status reserved", text)
        assert "subscription: enabled, apply worker running" in text
        assert "tables: 6 ready" in text and "public.account ready" in text  # each leaf partition too
        assert "problem" not in text
        reply = json.loads(pghaul("status", "--target", target, "--source", source, "--json").stdout)
        assert reply["state"] == "done" and reply["follow"]["state"] == "streaming"
        assert isinstance(reply["follow"]["lagBytes"], int) and reply["follow"]["slot"]["walStatus"] == "reserved"
        assert {t["state"] for t in reply["follow"]["tables"]} == {"ready"}
        # Without the source: the target's side, and what --source would add.
        alone = flat(pghaul("status", "--target", target).stdout)
        assert "streaming" in alone and "lag: unknown without --source" in alone and "pass --source" in alone

        cutover = invoke("cutover", "--follow", "--writes-paused", "--source", source, "--target", target)
        assert cutover.exit_code == 0, cutover.output
        text = flat(cutover.output)
        assert "Step 1 of 2: pause the app's writes" in text
        assert "Step 2 of 2: wait until the replication lag is zero" in text
        assert "replication lag zero: the target applied every change up to" in text
        assert re.search(r"replication lag zero in [\d.]+ s \([\d,.]+ (bytes|MB) behind when the wait began", text)
        assert "sequences: " in text and "moved forward to the source's" in text
        assert "large objects: " in text and "Verified: source and target match" in text
        assert re.search(r"follow taken down: dropped the subscription, replication slot, publication "
                         r"pghaul_[0-9a-f]{16}; nothing of follow is left on either server", text)
        assert re.search(r"writes paused for [\d.]+ s: from pause to verified and follow taken down", text)
        assert "Switch now: set DATABASE_URL to the value of NEW_DATABASE_URL" in text and "The way back:" in text
        for output in (migrated.output, status.stdout, status.stderr, cutover.output):
            assert password not in output

    nothing_left(logical_source_url, logical_target_url)
    assert one_value(logical_target_url, "SELECT balance FROM account WHERE name = 'written while following'") == 42
    assert one_value(logical_target_url, "SELECT count(*) FROM entry WHERE account_id = 3") == 0
    # Once follow is gone, the status no longer shows it.
    after = pghaul("status", "--target", logical_target_url, "--source", logical_source_url)
    assert after.returncode == 0 and not re.search(r"^follow pghaul_", after.stdout, re.MULTILINE)
    assert json.loads(pghaul("status", "--target", logical_target_url, "--json").stdout)["follow"] is None


def test_follow_on_a_migrated_target_then_cutover_leaves_nothing_behind(
    logical_source_url: str, logical_target_url: str
) -> None:
    """`pghaul follow`: a target migrated without --follow starts following without a second copy."""
    fill_app(logical_source_url, accounts=300)
    with password_urls(logical_source_url, logical_target_url) as (password, source, target):
        migrated = invoke("migrate", "--yes", "--batch-size", "400", "--source", source, "--target", target)
        assert migrated.exit_code == 0, migrated.output
        nothing_left(logical_source_url, logical_target_url)
        run_sql(logical_source_url, WRITES)  # the source moves on before follow starts

        started = invoke("follow", "--yes", "--workers", "2", "--source", source, "--target", target)
        assert started.exit_code == 0, started.output
        out = flat(started.output)
        # The same preflight as migrate --follow, and what follow writes, before anything is written.
        assert "follow: possible; the target's server reached the source" in out
        assert "follow writes to the source" in out and "a slot left behind keeps the source's WAL" in out
        assert out.index("follow writes to the source") < out.index("follow adopt start")
        assert "Z follow adopt start: a new slot, and sync brings the target to the source as of its snapshot" in out
        # The slot first, the sync in its snapshot (what changed since the migration), then the subscription.
        slot = re.search(r"Z follow replication slot pghaul_[0-9a-f]{16} created on the source consistent point", out)
        subscription = re.search(r"Z follow subscription pghaul_[0-9a-f]{16} created on the target", out)
        assert slot and subscription and slot.start() < out.index("phase sync") < subscription.start()
        assert "rows: 1 inserted, 1 updated, 2 deleted" in out
        assert "the target now follows the source (the migrated target synced to the slot's moment: nothing " \
               "copied again)" in out
        assert "pghaul cutover --follow" in out and "pghaul stop-follow" in out

        run_sql(logical_source_url, "INSERT INTO tag VALUES ('written while following', 'x')")
        status = pghaul("status", "--target", target, "--source", source)
        assert status.returncode == 0 and "streaming" in status.stdout, status.stderr

        # Again: the target follows already; refused, nothing written, the way on named.
        before = written_state(logical_source_url, logical_target_url)
        again = invoke("follow", "--yes", "--json", "--source", source, "--target", target)
        assert again.exit_code == 1, again.output
        last = json.loads(again.stdout.splitlines()[-1])
        assert last["event"] == "Error" and "follows the source already (follow: streaming" in last["error"]
        assert "nothing was written" in last["error"] and "pghaul cutover --follow" in last["hint"]
        assert written_state(logical_source_url, logical_target_url) == before

        cutover = invoke("cutover", "--follow", "--writes-paused", "--source", source, "--target", target)
        assert cutover.exit_code == 0, cutover.output
        assert "Verified: source and target match" in flat(cutover.output)
        for output in (migrated.output, started.output, again.output, status.stdout, status.stderr, cutover.output):
            assert password not in output

    nothing_left(logical_source_url, logical_target_url)
    assert one_value(logical_target_url, "SELECT balance FROM account WHERE name = 'written while following'") == 42
    assert one_value(logical_target_url, "SELECT count(*) FROM tag WHERE name = 'written while following'") == 1


def test_migrate_follow_from_a_source_that_cannot_publish_writes_nothing(source_url: str, target_url: str) -> None:
    """The ordinary test server runs with wal_level = replica: refused before anything, the reason and the way
    without follow shown; a password in the URL never shows."""
    run_sql(source_url, "CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t VALUES (1), (2);")
    before = written_state(source_url, target_url)
    with password_urls(source_url, target_url) as (password, source, target):
        result = invoke("migrate", "--follow", "--yes", "--source", source, "--target", target)
        assert result.exit_code == 1, result.output
        out = flat(result.output)
        assert "follow is not possible (1 reason(s)):" in out
        assert "✗ the source's wal_level is replica, not logical" in out
        assert "hint: set wal_level = logical on the source and restart it" in out
        assert "error: follow is not possible: the source's wal_level is replica, not logical; nothing was written" \
            in out
        assert "without follow: `pghaul migrate` (no --follow)" in out and "`pghaul sync`" in out
        assert "`pghaul cutover`" in out and "Traceback" not in out
        # --json: the preflight as a line, then the error as the last line.
        as_json = invoke("migrate", "--follow", "--yes", "--json", "--source", source, "--target", target)
        assert as_json.exit_code == 1
        lines = [json.loads(line) for line in as_json.stdout.splitlines()]
        assert lines[0]["event"] == "FollowPreflight" and lines[0]["possible"] is False
        assert [b["code"] for b in lines[0]["blockers"]] == ["wal-level"]
        assert lines[-1]["event"] == "Error" and "wal_level" in lines[-1]["error"] and "pghaul sync" in \
            lines[-1]["hint"]
        # And the dry run refuses the same way: it would not be the plan that runs.
        dry = invoke("migrate", "--follow", "--dry-run", "--source", source, "--target", target)
        assert dry.exit_code == 1 and "follow is not possible" in dry.output
        for output in (result.output, as_json.output, dry.output):
            assert password not in output
    assert written_state(source_url, target_url) == before


def test_a_following_target_refuses_sync_and_the_sync_cutover_then_stop_follow_hands_over_to_sync(
    logical_source_url: str, logical_target_url: str
) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=200)
    migrate_follow(source, target)
    rows = one_value(target, "SELECT count(*) FROM account")

    refused = invoke("sync", "--source", source, "--target", target)  # the engine's refusal, rendered
    assert refused.exit_code == 1, refused.output
    out = flat(refused.output)
    assert "error: the target follows the source through logical replication (state: streaming)" in out
    assert "hint: finish with `pghaul cutover --follow`, or stop following first (`pghaul stop-follow`)" in out
    assert "Traceback" not in out
    # The cutover the target gets is follow's: the sync cutover's options are refused, nothing changed.
    wrong = invoke("cutover", "--writes-paused", "--workers", "2", "--source", source, "--target", target)
    assert wrong.exit_code == 2 and "this cutover is follow's" in flat(wrong.output)

    stopped = invoke("stop-follow", "--yes", "--source", source, "--target", target)
    assert stopped.exit_code == 0, stopped.output
    out = flat(stopped.output)
    assert re.search(r"Z follow subscription pghaul_[0-9a-f]{16} dropped on the target", out)
    assert re.search(r"Z follow replication slot pghaul_[0-9a-f]{16} dropped on the source", out)
    assert re.search(r"Z follow publication pghaul_[0-9a-f]{16} dropped on the source", out)
    assert "follow stopped: dropped the subscription on the target, the replication slot on the source, the " \
           "publication on the source" in out
    assert "the target keeps its rows" in out and "`pghaul sync`" in out
    nothing_left(source, target)
    assert one_value(target, "SELECT count(*) FROM account") == rows

    again = invoke("stop-follow", "--yes", "--source", source, "--target", target)
    assert again.exit_code == 0 and "nothing to stop" in flat(again.output)
    as_json = invoke("stop-follow", "--yes", "--json", "--source", source, "--target", target)
    assert json.loads(as_json.stdout.splitlines()[-1]) == {"event": "Report", "name": re.search(
        r"pghaul_[0-9a-f]{16}", stopped.output)[0], "dropped": []}  # type: ignore[index]
    run_sql(source, WRITES)
    synced = invoke("sync", "--source", source, "--target", target)
    assert synced.exit_code == 0, synced.output
    assert one_value(target, "SELECT balance FROM account WHERE name = 'written while following'") == 42
    not_following = invoke("cutover", "--follow", "--yes", "--source", source, "--target", target)
    assert not_following.exit_code == 1
    assert "error: the target does not follow its source" in flat(not_following.output)
    assert "Step" not in not_following.output  # refused before asking anyone to pause anything
    for args in (("--verify-rows",), ("--no-verify-rows",), ("--lag-timeout", "5")):
        wrong = invoke("cutover", "--writes-paused", *args, "--source", source, "--target", target)
        assert wrong.exit_code == 2 and "this one does not" in flat(wrong.output)
    nothing_left(source, target)


def test_the_cutover_of_a_following_target_is_follow_s_without_being_told(
    logical_source_url: str, logical_target_url: str
) -> None:
    """As the admin API's: the target decides, the command says which it chose; --json lines on stdout."""
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=100)
    migrate_follow(source, target)
    run_sql(source, WRITES)
    result = invoke("cutover", "--yes", "--freeze-source", "--no-verify-rows", "--json", "--source", source,
                    "--target", target)
    try:
        assert result.exit_code == 0, result.output
        said = flat(result.stderr)
        assert "the target follows its source (follow: streaming): this cutover waits for the replication lag" in said
        assert "Step 1 of 3: replication while the app still writes" in said and "streaming" in said
        assert "Step 3 of 3: wait until the replication lag is zero" in said
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert any(e["event"] == "ReplicationCatchUp" and e["reached"] for e in lines)
        report = lines[-1]
        assert report["event"] == "Report" and report["follow"]["state"] == "streaming"
        assert report["cutover"]["ok"] and report["cutover"]["freeze"]
        assert sorted(report["cutover"]["teardown"]["dropped"]) == ["publication", "replication slot",
                                                                    "subscription"]
        assert any("only the schema was compared" in n for n in report["cutover"]["notices"])
    finally:
        assert invoke("unfreeze", "--source", source).exit_code == 0
    nothing_left(source, target)
    assert one_value(target, "SELECT balance FROM account WHERE name = 'written while following'") == 42


def test_cleanup_given_both_urls_takes_follow_down_and_says_so(
    logical_source_url: str, logical_target_url: str
) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=50)
    migrate_follow(source, target)
    alone = invoke("cleanup", "--yes", "--target", target, "--source", "")  # it would forget the source's slot
    assert alone.exit_code == 1 and "the target follows a source" in flat(alone.output)
    assert replication_objects(source, server_wide=False)[0]
    result = invoke("cleanup", "--yes", "--source", source, "--target", target)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "dropped schema pghaul" in out and "follow taken down too (it was streaming)" in out
    nothing_left(source, target)


def in_a_terminal(*args: str) -> tuple[int, str]:
    """The command in a pseudo-terminal of 80 columns: its exit code and what the terminal shows, escape sequences
    left out (live rows are drawn, then erased with carriage returns and cursor moves)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, WIDTH, 0, 0))
    env = {**os.environ, "COLUMNS": str(WIDTH), "LINES": "24", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "pghaul", *args], stdin=subprocess.DEVNULL, stdout=terminal,
                            stderr=terminal, cwd=ROOT, env=env)
    os.close(terminal)
    raw = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other end closed, the command ended
            break
        if not chunk:
            break
        raw += chunk
    os.close(controller)
    code = proc.wait(timeout=120)
    text = raw.decode(errors="replace")
    assert "\x1b[" in text, text  # a terminal: drawn live, in colour
    return code, TERMINAL_ESCAPE.sub("", text)


def test_migrate_follow_and_its_cutover_in_a_real_80_column_terminal(
    logical_source_url: str, logical_target_url: str
) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=300)
    code, shown = in_a_terminal("migrate", "--follow", "--yes", "--source", source, "--target", target)
    assert code == 0, shown
    fits(re.sub(r"\r", "\n", shown))
    out = flat(shown)
    assert "follow: possible" in out and "follow writes to the source" in out
    assert "▶ follow: fresh start" in out and re.search(r"✓ subscription pghaul_[0-9a-f]{16} created", out)
    assert "the target now follows the source" in out
    run_sql(source, WRITES)
    code, shown = in_a_terminal("cutover", "--writes-paused", "--source", source, "--target", target)
    assert code == 0, shown
    fits(re.sub(r"\r", "\n", shown))
    out = flat(shown)
    assert "the target follows its source (follow: streaming)" in out
    assert "✓ replication lag zero" in out and "Switch now" in out
    nothing_left(source, target)


# --- usage, without a server -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("cutover", "--follow", "--tables", "public.*", "--writes-paused"),
    ("migrate", "--follow-source-url", "postgresql://u:secret@h/db", "--yes"),
])
def test_options_that_do_not_go_together(args: tuple[str, ...]) -> None:
    result = invoke(*args, "--source", "postgresql://nowhere/a", "--target", "postgresql://nowhere/b")
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "secret" not in result.output


def test_the_cutover_with_follow_waits_for_a_terminal_unless_told_writes_are_paused() -> None:
    result = invoke("cutover", "--follow", "--source", "postgresql://nowhere/a", "--target", "postgresql://nowhere/b")
    assert result.exit_code == 2 and "--writes-paused" in result.output


def test_verify_rows_defaults_to_the_engine_s_as_the_help_says() -> None:
    import typer

    cutover = typer.main.get_command(app).commands["cutover"]  # type: ignore[attr-defined]
    (option,) = [p for p in cutover.params if p.name == "verify_rows"]
    assert FollowCutoverOptions().verify_rows is True
    assert "Default: --verify-rows" in option.help


# --- what follow's output looks like: 80 columns, a log, JSON lines --------------------------------------------


def _reason(code: FollowBlocker | FollowCaveat, objects: int = 0) -> FollowReason:
    return FollowReason(code, f"the reason {code} says why, in a sentence long enough to wrap at eighty columns",
                        f"what to do about {code}, also long enough to wrap at eighty columns in a terminal",
                        tuple(f"{LONG_TABLE}_{i}" for i in range(objects)))


def _status(tables: int) -> FollowStatus:
    return FollowStatus(
        NAME, FollowState.STOPPED,
        SlotInfo(NAME, False, None, "unreserved", "0/1A2B3C4D", 123_456_789, 9_876_543_210),
        SubscriptionStatus(NAME, True, False, "0/1A2B3C4D", "0/1A2B3C00", 3.25, 4.5, 7),
        tuple(TableReplication(f"{LONG_TABLE}_{i}", TableReplicationState.READY if i % 3 else
                               TableReplicationState.INIT) for i in range(tables)),
        True, 123_456_789, 12.5, True,
        ("the subscription's apply worker is not running (see the target's server log)",
         "the slot's WAL is about to exceed max_slot_wal_keep_size on the source: it may be invalidated"))


def _printed(parts: list, width: int = WIDTH) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    for part in parts:
        console.print(part, highlight=False)
    return console.export_text()


def test_the_preflight_the_status_and_the_reports_fit_80_columns() -> None:
    refused = FollowPreflight(NAME, (_reason(FollowBlocker.WAL_LEVEL), _reason(FollowBlocker.REPLICA_IDENTITY, 14)),
                              (_reason(FollowCaveat.DDL), _reason(FollowCaveat.SEQUENCES)), probed=False)
    text = _printed(render_preflight(refused))
    fits(text)
    assert "follow is not possible (2 reason(s)):" in text and f"{LONG_TABLE}_0" in flat(text).replace(" ", "")
    assert "… and 4 more" in text and flat(text).count("hint:") == 4

    text = _printed(render_follow_writes(NAME))
    fits(text)
    assert "the second write pghaul makes to a source" in flat(text) and "disk fills" in text

    for tables in (6, 40):  # every table listed; beyond 20, the count per state and those not ready
        text = _printed(render_follow_status(_status(tables)))
        fits(text)
        out = flat(text)
        assert f"follow {NAME} stopped" in out and "lag: 117.7 MB of WAL not yet applied replay lag: 12.5 s" in out
        assert "keeps 9.2 GB of the source's WAL, wal_status unreserved" in out and "7 apply error(s)" in out
        assert out.count("problem:") == 2
    assert "tables: 14 init, 26 ready" in out and out.count(" ready") == 1  # the 26 are not listed

    report = FollowCutoverReport(
        NAME, CatchUpResult("0/1A2B3C4D", 0.4, 5_000), [SequenceSync(f"{LONG_TABLE}_seq", 10, 9, True)], None,
        None, None, TeardownReport(NAME, tuple(ReplicationObject)), 1.5, switch_instructions(frozen=False))
    text = _printed(render_follow_cutover(report))
    fits(text)
    assert "Do not switch" in text  # no verify report: never a switch
    text = _printed(render_teardown(TeardownReport(NAME, tuple(ReplicationObject))))
    fits(text)


def _events() -> list:
    return [
        FollowStartChosen(StartKind.RESTART, "an earlier copy did not finish in its slot's snapshot, which is gone "
                                             "with the process that held it"),
        ReplicationObjectChanged(ReplicationObject.SLOT, NAME, Server.SOURCE, ObjectAction.CREATED,
                                 "consistent point 0/1A2B3C4D"),
        ReplicationCatchUp("0/1A2B3C4D", "0/1A000000", 2_000_000, 0.0),
        ReplicationCatchUp("0/1A2B3C4D", "0/1A2B0000", 15_000, 0.5),
        ReplicationCatchUp("0/1A2B3C4D", "0/1A2B3C4D", 0, 1.0, reached=True),
        ReplicationObjectChanged(ReplicationObject.SUBSCRIPTION, NAME, Server.TARGET, ObjectAction.DROPPED),
    ]


def test_follow_events_in_a_terminal_in_a_log_and_as_json_lines() -> None:
    live = ProgressView(Console(file=io.StringIO(), width=WIDTH, force_terminal=True, record=True))
    for event in _events()[:4]:
        live(event)
    assert [r.name for r in live.rows] == ["replication lag"] and live.rows[0].fraction is not None
    frame = [t.plain for t in layout(live.rows, WIDTH)]
    fits("\n".join(frame))
    assert "15,000 bytes left  0.5 s" in frame[0]
    live(_events()[4])
    assert live.rows == ()  # reached: a line that stays instead
    live(_events()[5])
    text = live.console.export_text()
    fits(text)
    assert "▶ follow: restart start: an earlier copy" in flat(text)
    assert f"✓ replication slot {NAME} created on the source consistent point 0/1A2B3C4D" in flat(text)
    assert "✓ replication lag zero: the target applied every change up to 0/1A2B3C4D" in flat(text)

    log = io.StringIO()
    plain = PlainView(Console(file=log, width=WIDTH))
    for event in _events():
        plain(event)
    lines = log.getvalue().splitlines()
    assert all(STAMP.match(line) for line in lines) and not ESCAPE.search(log.getvalue())
    assert [line[21:] for line in lines] == [
        "follow restart start: an earlier copy did not finish in its slot's snapshot, which is gone with the "
        "process that held it",
        f"follow replication slot {NAME} created on the source  consistent point 0/1A2B3C4D",
        "cutover replication lag  1.9 MB left  0.0 s",  # the first, then at most every few seconds
        "cutover replication lag zero: the target applied every change up to 0/1A2B3C4D  1.0 s",
        f"follow subscription {NAME} dropped on the target",
    ]

    stream = io.StringIO()
    as_json = JsonView(stream)
    for event in _events():
        as_json(event)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["FollowStartChosen", "ReplicationObjectChanged", "ReplicationCatchUp",
                                            "ReplicationCatchUp", "ReplicationCatchUp", "ReplicationObjectChanged"]
    assert events[1]["kind"] == "replication slot" and events[4]["reached"] is True
