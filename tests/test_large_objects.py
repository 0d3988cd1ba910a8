"""Large objects on real servers: copied with their OIDs, bytes and comments, exactly once across kills, and
compared by verify.

Contents are read back in the tests through ``pg_largeobject`` (the tests connect as a superuser), a path pghaul
itself never uses, so the checks do not share pghaul's own checksum code.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pghaul.copy.large_objects import PIECE_BYTES, copy_large_objects, refuse_foreign_objects
from pghaul.copy.table_data import CopyCancelled
from pghaul.errors import PghaulError, SafetyError
from pghaul.events import Event, LargeObjectsProgress
from pghaul.verify import VerifyOptions, verify
from tests.conftest import run_sql

SMALL_OBJECTS = 2000
# Pseudo-random bytes (md5 output) so no piece repeats another: 230,000 × 16 bytes ≈ 3.5 MiB, four pieces.
OBJECTS = f"""
CREATE TABLE public.docs (id int PRIMARY KEY, body oid);
SELECT lo_from_bytea(1001, ''::bytea);
SELECT lo_from_bytea(1002, 'hello'::bytea);
COMMENT ON LARGE OBJECT 1002 IS 'a greeting, with ''quotes''';
SELECT lo_from_bytea(1003, (SELECT string_agg(decode(md5(i::text), 'hex'), ''::bytea ORDER BY i)
                            FROM generate_series(1, 230000) AS i));
SELECT lo_from_bytea(1004, decode(repeat('ab', {2 * PIECE_BYTES}), 'hex'));
SELECT lo_from_bytea(4000000000, decode(md5('high'), 'hex'));
SELECT lo_from_bytea(0, decode(md5(i::text), 'hex')) FROM generate_series(1, {SMALL_OBJECTS}) AS i;
INSERT INTO public.docs SELECT row_number() OVER (ORDER BY oid), oid FROM pg_largeobject_metadata;
"""
TOTAL = 5 + SMALL_OBJECTS

Digest = dict[int, tuple[int, str, str | None]]


def lo_digest(url: str) -> Digest:
    """OID -> (size, md5 of the bytes, comment) for every large object, read straight from pg_largeobject."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT m.oid, coalesce(sum(length(p.data)), 0),"
            " md5(coalesce(string_agg(p.data, ''::bytea ORDER BY p.pageno), ''::bytea)),"
            " obj_description(m.oid, 'pg_largeobject')"
            " FROM pg_largeobject_metadata AS m LEFT JOIN pg_largeobject AS p ON p.loid = m.oid GROUP BY m.oid"
        ).fetchall()
    return {int(r[0]): (int(r[1]), r[2], r[3]) for r in rows}


def _done_on_target(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE done) FROM pghaul.large_objects"
            " WHERE to_regclass('pghaul.large_objects') IS NOT NULL"
        ).fetchone()
    return int(row[0]) if row else 0


def test_copy_keeps_oids_bytes_and_comments(source_url: str, target_url: str) -> None:
    run_sql(source_url, OBJECTS)
    before = lo_digest(source_url)
    assert len(before) == TOTAL and before[1004][0] == 2 * PIECE_BYTES and before[1003][0] > 3 * PIECE_BYTES
    seen: list[Event] = []

    stats = copy_large_objects(source_url, target_url, snapshot_id=None, listener=seen.append)

    assert lo_digest(target_url) == before
    assert (stats.objects, stats.copied, stats.skipped) == (TOTAL, TOTAL, 0)
    assert stats.bytes_copied == sum(size for size, _, _ in before.values())
    across_pieces = ("SELECT lo_get(1003, %s, 4)", (3 * PIECE_BYTES - 2,))
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as tgt:
        assert tgt.execute("SELECT lo_get(1002)").fetchone() == (b"hello",)
        assert tgt.execute("SELECT lo_get(1001)").fetchone() == (b"",)
        assert tgt.execute(*across_pieces).fetchone() == src.execute(*across_pieces).fetchone()
        # The rows' OIDs point at the objects on the target too.
        assert tgt.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone() == (TOTAL,)
    progress = [e for e in seen if isinstance(e, LargeObjectsProgress)]
    assert progress[0].done == 0 and progress[-1] == LargeObjectsProgress(
        TOTAL, TOTAL, stats.bytes_copied, stats.bytes_copied
    )
    # 2000 tiny objects travel in a couple of batches, not one transaction each.
    assert len(progress) < 20

    again = copy_large_objects(source_url, target_url, snapshot_id=None)
    assert (again.copied, again.skipped, again.bytes_copied) == (0, TOTAL, 0)
    assert lo_digest(target_url) == before


def test_progress_table_records_size_and_checksum(source_url: str, target_url: str) -> None:
    run_sql(source_url, OBJECTS)
    copy_large_objects(source_url, target_url, snapshot_id=None)
    with psycopg.connect(source_url) as conn:
        # The recorded checksum is the one each server computes: md5 of the bytes for a one-piece object, md5 of
        # the pieces' md5s beyond.
        expected = {
            oid: conn.execute(
                "SELECT CASE WHEN %(size)s <= %(piece)s THEN md5(lo_get(%(oid)s::oid)) ELSE md5(("
                " SELECT string_agg(md5(lo_get(%(oid)s::oid, o, %(piece)s)), '' ORDER BY o)"
                " FROM generate_series(0::int8, %(size)s - 1, %(piece)s) AS o)) END",
                {"oid": oid, "size": size, "piece": PIECE_BYTES},
            ).fetchone()[0]  # type: ignore[index]
            for oid, size in ((1001, 0), (1002, 5), (1003, lo_digest(source_url)[1003][0]), (1004, 2 * PIECE_BYTES))
        }
    with psycopg.connect(target_url) as conn:
        rows = conn.execute(
            "SELECT loid, size, bytes_done, md5, done, piece_md5s FROM pghaul.large_objects WHERE loid < 2000"
        ).fetchall()
    recorded = {int(r[0]): r[3] for r in rows}
    assert recorded == expected
    assert all(r[1] == r[2] and r[4] and r[5] is None for r in rows)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pghaul import events
    from pghaul.copy import large_objects

    source, target, mode, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    seen = {"n": 0}

    def count_and_maybe_die():
        seen["n"] += 1
        if seen["n"] == at:
            os.kill(os.getpid(), signal.SIGKILL)

    def listener(event):
        # "committed": dies right after the at-th progress event, i.e. after a batch committed.
        if mode == "committed" and isinstance(event, events.LargeObjectsProgress):
            count_and_maybe_die()

    if mode == "uncommitted":
        # Dies inside the at-th batch's transaction, after its pieces and progress rows were sent.
        write = large_objects._write

        def write_then_die(*args):
            write(*args)
            count_and_maybe_die()

        large_objects._write = write_then_die

    large_objects.copy_large_objects(source, target, snapshot_id=None, listener=listener,
                                     batch_bytes=large_objects.PIECE_BYTES, batch_objects=100)
    print("finished without being killed")
    """
)


def _run_and_kill(source_url: str, target_url: str, mode: str, at: int) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, source_url, target_url, mode, str(at)],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr


# Batches of one piece (1 MiB) or 100 objects: 1001+1002 | 1003 in four pieces | 1004 in two | the small ones.
@pytest.mark.parametrize(
    ("mode", "at"),
    [
        ("committed", 4),  # after two of 1003's four pieces
        ("uncommitted", 4),  # while 1003's third piece is in flight
        ("uncommitted", 7),  # while 1004's second piece is in flight
        ("uncommitted", 12),  # among the small objects
    ],
)
def test_killed_copy_then_rerun_is_exact(source_url: str, target_url: str, mode: str, at: int) -> None:
    run_sql(source_url, OBJECTS)
    before = lo_digest(source_url)
    _run_and_kill(source_url, target_url, mode, at)

    partial = lo_digest(target_url)
    done_before = _done_on_target(target_url)
    assert 0 < len(partial) < TOTAL
    # What the target holds is exactly a prefix of each object: never more bytes than the source has.
    assert all(size <= before[oid][0] for oid, (size, _, _) in partial.items())

    stats = copy_large_objects(source_url, target_url, snapshot_id=None)

    assert lo_digest(target_url) == before  # same OIDs, same bytes: nothing doubled, nothing lost
    assert stats.skipped == done_before and stats.copied == TOTAL - done_before
    # A half-copied object continued where it stopped: no byte already on the target was sent again.
    assert stats.bytes_copied == sum(v[0] for v in before.values()) - sum(v[0] for v in partial.values())
    assert _done_on_target(target_url) == TOTAL


def test_half_copied_object_changed_on_the_source_is_written_again(source_url: str, target_url: str) -> None:
    run_sql(source_url, OBJECTS)
    _run_and_kill(source_url, target_url, "committed", 4)
    assert 0 < lo_digest(target_url)[1003][0] < lo_digest(source_url)[1003][0]
    # The first piece changes on the source: continuing after the pieces already copied would mix two versions.
    run_sql(source_url, "SELECT lo_put(1003, 10, 'changed'::bytea)")
    before = lo_digest(source_url)

    kept = sum(size for oid, (size, _, _) in lo_digest(target_url).items() if oid != 1003)
    stats = copy_large_objects(source_url, target_url, snapshot_id=None)

    assert lo_digest(target_url) == before
    assert stats.bytes_copied == sum(v[0] for v in before.values()) - kept  # 1003 written again whole


def test_cancel_stops_between_batches_and_the_rerun_finishes(source_url: str, target_url: str) -> None:
    run_sql(source_url, OBJECTS)
    before = lo_digest(source_url)
    cancel = threading.Event()

    def stop_after_two(event: Event) -> None:
        if isinstance(event, LargeObjectsProgress) and event.bytes_done >= PIECE_BYTES:
            cancel.set()

    with pytest.raises(CopyCancelled):
        copy_large_objects(source_url, target_url, snapshot_id=None, listener=stop_after_two, cancel=cancel,
                           batch_bytes=PIECE_BYTES)
    assert 0 < _done_on_target(target_url) < TOTAL
    copy_large_objects(source_url, target_url, snapshot_id=None)
    assert lo_digest(target_url) == before


def test_refuses_an_oid_the_target_already_uses(source_url: str, target_url: str) -> None:
    run_sql(source_url, OBJECTS)
    run_sql(target_url, "SELECT lo_from_bytea(1003, 'the user''s own bytes'::bytea)")
    target_before = lo_digest(target_url)

    with psycopg.connect(source_url, autocommit=True) as src, psycopg.connect(target_url, autocommit=True) as tgt:
        with pytest.raises(SafetyError, match="1003"):
            refuse_foreign_objects(src, tgt)  # the engine's preflight form of the same check
    with pytest.raises(SafetyError) as refused:
        copy_large_objects(source_url, target_url, snapshot_id=None)

    assert "1003" in refused.value.message and "lo_unlink" in refused.value.hint
    assert lo_digest(target_url) == target_before
    with psycopg.connect(target_url) as conn:
        # Nothing written at all, pghaul's own schema included.
        assert conn.execute("SELECT to_regnamespace('pghaul')").fetchone() == (None,)


def test_objects_pghaul_wrote_are_not_refused(source_url: str, target_url: str) -> None:
    run_sql(source_url, OBJECTS)
    copy_large_objects(source_url, target_url, snapshot_id=None)
    with psycopg.connect(source_url, autocommit=True) as src, psycopg.connect(target_url, autocommit=True) as tgt:
        refuse_foreign_objects(src, tgt)


def test_reads_through_the_exported_snapshot(source_url: str, target_url: str) -> None:
    from pghaul.copy.snapshot import SnapshotHolder

    run_sql(source_url, OBJECTS)
    before = lo_digest(source_url)
    holder = SnapshotHolder(source_url)
    try:
        # Written after the snapshot: the copy must not see them.
        run_sql(source_url, "SELECT lo_put(1002, 0, 'HELLO'::bytea); SELECT lo_from_bytea(5000, 'late'::bytea);")
        stats = copy_large_objects(source_url, target_url, snapshot_id=holder.snapshot_id)
    finally:
        holder.close()
    assert stats.objects == TOTAL
    assert lo_digest(target_url) == before


def test_owner_without_superuser_can_copy(pg18, source_url: str, target_url: str) -> None:  # type: ignore[no-untyped-def]
    role = f"lo_owner_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg18.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw'").format(sql.Identifier(role)))
    try:
        owner_url = make_conninfo(source_url, user=role, password="pw")
        run_sql(owner_url, "SELECT lo_from_bytea(77, 'mine'::bytea); COMMENT ON LARGE OBJECT 77 IS 'owned'")
        before = lo_digest(source_url)
        stats = copy_large_objects(owner_url, target_url, snapshot_id=None)
        assert stats.copied == 1 and lo_digest(target_url) == before

        # An object the role may not read is reported as such, not skipped.
        run_sql(source_url, "SELECT lo_from_bytea(78, 'not yours'::bytea)")
        with pytest.raises(PghaulError) as unreadable:
            copy_large_objects(owner_url, target_url, snapshot_id=None)
        assert "permission denied" in unreadable.value.message
    finally:
        with psycopg.connect(source_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(pg18.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_pg16_source_to_pg18_target(pg16_source_url: str, target_url: str) -> None:
    run_sql(pg16_source_url, OBJECTS)
    before = lo_digest(pg16_source_url)
    copy_large_objects(pg16_source_url, target_url, snapshot_id=None)
    assert lo_digest(target_url) == before
    lo = verify(pg16_source_url, target_url, VerifyOptions(schema=False)).large_objects
    assert lo is not None and lo.ok and lo.compared == TOTAL


# --- verify ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def copied(source_url: str, target_url: str) -> tuple[str, str]:
    run_sql(source_url, OBJECTS)
    run_sql(target_url, "CREATE TABLE public.docs (id int PRIMARY KEY, body oid)")
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as tgt:
        rows = src.execute("SELECT id, body FROM public.docs").fetchall()
        with tgt.cursor() as cur:
            cur.executemany("INSERT INTO public.docs VALUES (%s, %s)", rows)
    copy_large_objects(source_url, target_url, snapshot_id=None)
    return source_url, target_url


def test_verify_is_green_and_says_how_many_it_compared(copied: tuple[str, str]) -> None:
    report = verify(*copied)
    assert report.ok, report.differences()
    lo = report.large_objects
    assert lo is not None and (lo.compared, lo.objects_source, lo.objects_target) == (TOTAL, TOTAL, TOTAL)
    data = report.to_dict()["largeObjects"]
    assert data["compared"] == TOTAL and data["ok"]
    assert f"compared {TOTAL:,} of {TOTAL:,} large object(s)" in lo.summary()


@pytest.mark.parametrize(
    ("change", "oid", "expected"),
    [
        ("SELECT lo_unlink(1002)", 1002, "1 missing on target (OID 1002)"),
        ("SELECT lo_put(1002, 1, 'a'::bytea)", 1002, "large object 1002: content differs"),
        # A byte in the third piece of a multi-piece object: the piece-wise checksum sees it.
        (f"SELECT lo_put(1003, {2 * PIECE_BYTES + 7}, 'x'::bytea)", 1003, "large object 1003: content differs"),
        (f"SELECT lo_put(1004, {2 * PIECE_BYTES}, 'tail'::bytea)", 1004, "large object 1004: 2,097,152 bytes"),
        ("COMMENT ON LARGE OBJECT 1002 IS 'other'", 1002, "large object 1002: comment differs"),
        ("SELECT lo_from_bytea(9, 'x'::bytea)", 9, "1 extra on target (OID 9)"),
    ],
)
def test_verify_turns_red_naming_the_object(copied: tuple[str, str], change: str, oid: int, expected: str) -> None:
    source_url, target_url = copied
    run_sql(target_url, change)
    report = verify(source_url, target_url)
    assert not report.ok
    problems = [line for line in report.differences() if "large object" in line]
    assert any(expected in line for line in problems), problems
    assert all(t.ok for t in report.tables)
    lo = report.large_objects
    assert lo is not None
    assert oid in lo.missing_on_target + lo.extra_on_target + tuple(d.oid for d in lo.different)


def test_verify_limited_to_some_tables_says_large_objects_were_not_compared(copied: tuple[str, str]) -> None:
    report = verify(*copied, VerifyOptions(include=("public.docs",)))
    assert report.ok
    assert any("large objects not compared" in note for note in report.notes())


def test_render_shows_the_large_objects_line() -> None:
    from rich.console import Console

    from pghaul.cli.render import render_report
    from pghaul.verify.report import LargeObjectCheck, LargeObjectDifference, VerifyReport

    differs = (LargeObjectDifference(8, "comment differs"),)
    bad = LargeObjectCheck(3, 2, 2, 30, missing_on_target=(7,), different=differs, missing_count=1, different_count=1)
    console = Console(record=True, width=160)
    for part in render_report(VerifyReport("u@h/src", "u@h/dst", large_objects=bad)):
        console.print(part)
    text = console.export_text()
    assert "Large objects: compared 2 of 3 large object(s) of the source (30 bytes); 2 on the target: DIFFERS" in text
    assert "1 missing on target (OID 7)" in text and "large object 8: comment differs" in text
    assert "match" not in text


def test_migrate_carries_large_objects_and_verifies_them(source_url: str, target_url: str) -> None:
    """End to end: a table of large-object OIDs and the objects themselves arrive, and verify compares them."""
    from pghaul.engine import migrate

    run_sql(source_url, """
        CREATE TABLE files (id int PRIMARY KEY, blob oid);
        INSERT INTO files SELECT g, lo_from_bytea(0, convert_to(repeat('x', g * 1000), 'UTF8'))
        FROM generate_series(1, 30) g;
    """)
    result = migrate(source_url, target_url)
    assert result.ok, result.verify_report.differences()
    assert result.large_objects is not None and result.large_objects.copied == 30
    assert result.verify_report.large_objects.compared == 30
    with psycopg.connect(target_url) as conn:
        sizes = conn.execute("SELECT sum(length(lo_get(blob))) FROM files").fetchone()
    assert sizes == (sum(g * 1000 for g in range(1, 31)),)
    again = migrate(source_url, target_url)
    assert again.ok and again.large_objects is not None and again.large_objects.copied == 0
