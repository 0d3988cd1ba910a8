"""Large objects (``pg_largeobject``): copied with their OIDs, contents and comments, exactly once and resumable.

A column of type ``oid`` (or ``lo``) holds only the number; the bytes live in ``pg_largeobject``, which the row
copy never sees. This module moves them with functions an object's owner may call on both sides: on the source
``lo_get(oid, offset, length)`` inside the reader's snapshot (it works in a read-only transaction; the
``pg_largeobject`` table itself is readable only by superusers), on the target ``lo_from_bytea(oid, data)`` for
an object's first piece and ``lo_put(oid, offset, data)`` for the next ones.

Objects move in pieces of :data:`PIECE_BYTES`, grouped into batches (many small objects, or a few pieces of a
big one), and each batch commits on the target together with its rows in ``pghaul.large_objects``:

- ``loid``, ``size``: the object and its size on the source;
- ``bytes_done``: how much of it is on the target (a multiple of :data:`PIECE_BYTES` until it is complete);
- ``piece_md5s``: while the object is incomplete, the md5 (hex) of each piece written, concatenated;
- ``md5``: once it is complete, its checksum (below); ``done`` true;
- ``job_id``, ``updated_at``.

So after a kill the target holds exactly what that table says: finished objects are skipped, a half-written one
continues after ``bytes_done`` when the source's pieces up to there still hash to ``piece_md5s`` and its size is
unchanged, and is rewritten from the start otherwise. An OID on the target that this table does not list is
the user's: the copy refuses to start rather than overwrite it.

The checksum of an object is the md5 of its bytes when it fits in one piece, and otherwise the md5 of the
concatenated hex md5s of its :data:`PIECE_BYTES` pieces, so each server computes it with bounded memory
(:func:`checksum_sql`). Verification compares it between the servers; a later sync can compare ``size`` and
``md5`` recorded here with the source's to find the objects that changed.

Owners and access privileges of large objects are not copied (objects belong to the target's user); comments are.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.connect import connect_target
from pghaul.copy.rate_limit import RateLimit
from pghaul.copy.snapshot import open_reader
from pghaul.errors import PghaulError, SafetyError, check_cancelled
from pghaul.events import LargeObjectsProgress, Listener, Notice, ignore
from pghaul.state_schema import STATE_SCHEMA

# Part of the checksum's definition (and of ``bytes_done`` on targets already written): never change it.
PIECE_BYTES = 1 << 20
BATCH_BYTES = 8 << 20
BATCH_OBJECTS = 1000
LIST_BATCH = 5000
PROGRESS_TABLE = sql.Identifier(STATE_SCHEMA, "large_objects")
# lo_open's INV_READ: reads see the object as of the transaction's snapshot.
_INV_READ = 0x40000
_EMPTY_MD5 = hashlib.md5(b"").hexdigest()
_SHOWN_OIDS = 20


@dataclass(frozen=True)
class LargeObjectStats:
    objects: int  # on the source
    copied: int  # completed by this run
    skipped: int  # complete on the target before this run
    bytes_copied: int
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SourceObject:
    oid: int
    size: int
    comment: str | None


@dataclass(frozen=True, slots=True)
class Progress:
    size: int
    bytes_done: int
    piece_md5s: str
    done: bool


@dataclass(frozen=True, slots=True)
class _Segment:
    obj: SourceObject
    offset: int
    length: int
    replace: bool  # the object is pghaul's own unfinished copy that must be written again from the start

    @property
    def last(self) -> bool:
        return self.offset + self.length >= self.obj.size


def object_checksum(piece_md5s: str) -> str:
    """The checksum of an object from the hex md5s of its pieces, concatenated (see the module docstring)."""
    if not piece_md5s:
        return _EMPTY_MD5
    if len(piece_md5s) == 32:
        return piece_md5s
    return hashlib.md5(piece_md5s.encode("ascii")).hexdigest()


def _piece_md5s_sql(loid: sql.Composable, length: sql.Composable) -> sql.Composed:
    """The concatenated md5s of the pieces of the first ``length`` bytes, hashed on the server piece by piece."""
    return sql.SQL(
        "(SELECT coalesce(pg_catalog.string_agg(pg_catalog.md5(pg_catalog.lo_get({loid}, p.off, {piece})), ''"
        " ORDER BY p.off), '') FROM pg_catalog.generate_series(0::int8, {length} - 1, {piece}::int8) AS p(off))"
    ).format(loid=loid, length=length, piece=sql.Literal(PIECE_BYTES))


def checksum_sql(loid: sql.Composable, size: sql.Composable) -> sql.Composed:
    """:func:`object_checksum` computed inside the database, never holding more than a piece in memory."""
    return sql.SQL(
        "CASE WHEN {size} <= {piece} THEN pg_catalog.md5(pg_catalog.lo_get({loid}))"
        " ELSE pg_catalog.md5({pieces}) END"
    ).format(size=size, piece=sql.Literal(PIECE_BYTES), loid=loid, pieces=_piece_md5s_sql(loid, size))


def sized_objects_query(extra: sql.Composable = sql.SQL("")) -> sql.Composed:
    """The next ``%(limit)s`` large objects after OID ``%(after)s``: ``loid, size, comment`` and ``extra`` columns.

    There is no size function a non-superuser may call, so each object is opened, sought to its end and closed
    again (a reader's transaction may last the whole copy: its descriptors must not pile up). The materialized
    steps fix that order. ``extra`` may use ``c.loid`` and ``c.size``.
    """
    # obj_description's second argument is a catalog's bare name, looked up in pg_catalog: never qualify it.
    return sql.SQL(
        "WITH listed AS MATERIALIZED (SELECT m.oid AS loid FROM pg_catalog.pg_largeobject_metadata AS m"
        " WHERE m.oid > %(after)s::pg_catalog.oid ORDER BY m.oid LIMIT %(limit)s),"
        " opened AS MATERIALIZED (SELECT loid, pg_catalog.lo_open(loid, {inv_read}) AS fd FROM listed),"
        " sized AS MATERIALIZED (SELECT loid, fd, pg_catalog.lo_lseek64(fd, 0, 2) AS size FROM opened),"
        " closed AS MATERIALIZED (SELECT loid, size, pg_catalog.lo_close(fd) AS closed FROM sized)"
        " SELECT c.loid, c.size, pg_catalog.obj_description(c.loid, 'pg_largeobject'), c.closed{extra}"
        " FROM closed AS c ORDER BY c.loid"
    ).format(inv_read=sql.Literal(_INV_READ), extra=extra)


def _unreadable(exc: psycopg.Error, where: str) -> PghaulError:
    diag = getattr(exc, "diag", None)
    reason = (getattr(diag, "message_primary", None) if diag is not None else None) or type(exc).__name__
    return PghaulError(
        f"cannot read the large objects on the {where}: {reason}",
        "connect as the owner of the large objects (or a role granted SELECT on them), then run again",
    )


def list_source_objects(src: psycopg.Connection) -> list[SourceObject]:
    """Every large object of the source with its size and comment, in OID order (``src`` in its snapshot)."""
    out: list[SourceObject] = []
    after = 0
    while True:
        try:
            rows = src.execute(sized_objects_query(), {"after": after, "limit": LIST_BATCH}).fetchall()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _unreadable(exc, "source") from None
        out.extend(SourceObject(int(r[0]), int(r[1]), r[2]) for r in rows)
        if len(rows) < LIST_BATCH:
            return out
        after = int(rows[-1][0])


# --- progress on the target -----------------------------------------------------------------------------------------


def ensure_large_object_state(tgt: psycopg.Connection) -> None:
    """Create pghaul's schema and its large-object progress table if missing (idempotent; commits on its own;
    no DDL when it is there, so a user's event trigger that refuses DDL does not stop a later run)."""
    row = tgt.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{STATE_SCHEMA}.large_objects"]).fetchone()
    if row and row[0]:
        return
    with tgt.transaction():
        tgt.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(STATE_SCHEMA)))
        tgt.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (loid pg_catalog.oid PRIMARY KEY, size bigint NOT NULL,"
                " bytes_done bigint NOT NULL DEFAULT 0, piece_md5s text, md5 text,"
                " done boolean NOT NULL DEFAULT false, job_id text, updated_at timestamptz NOT NULL DEFAULT now())"
            ).format(PROGRESS_TABLE)
        )


def load_progress(tgt: psycopg.Connection) -> dict[int, Progress]:
    """What pghaul wrote on the target, by OID; empty when it never copied large objects there."""
    row = tgt.execute("SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (PROGRESS_TABLE.as_string(tgt),)).fetchone()
    if not (row and row[0]):
        return {}
    rows = tgt.execute(
        sql.SQL("SELECT loid, size, bytes_done, coalesce(piece_md5s, ''), done FROM {}").format(PROGRESS_TABLE)
    ).fetchall()
    return {int(r[0]): Progress(int(r[1]), int(r[2]), r[3], r[4]) for r in rows}


def _target_oids(tgt: psycopg.Connection) -> set[int]:
    rows = tgt.execute("SELECT oid FROM pg_catalog.pg_largeobject_metadata").fetchall()
    return {int(r[0]) for r in rows}


def _refusal(oids: list[int]) -> SafetyError:
    shown = ", ".join(str(o) for o in oids[:_SHOWN_OIDS]) + (", …" if len(oids) > _SHOWN_OIDS else "")
    return SafetyError(
        f"{len(oids)} large object(s) of the source already exist on the target and were not written by pghaul "
        f"(OID {shown}); they are left untouched",
        "remove them on the target (SELECT lo_unlink(oid)) if they are not needed there, or migrate into a "
        "database without them",
    )


def refuse_foreign_objects(src: psycopg.Connection, tgt: psycopg.Connection) -> None:
    """Raise :class:`SafetyError` if an OID of the source holds a large object on the target that pghaul did not
    write. Reads only; cheap when the target has no large objects of its own (the usual case)."""
    progress = load_progress(tgt)
    foreign = sorted(o for o in _target_oids(tgt) if o not in progress)
    if not foreign:
        return
    rows = src.execute(
        "SELECT oid FROM pg_catalog.pg_largeobject_metadata WHERE oid = ANY(%s::pg_catalog.oid[]) ORDER BY oid",
        (foreign,),
    ).fetchall()
    if rows:
        raise _refusal([int(r[0]) for r in rows])


def _foreign(objects: list[SourceObject], existing: set[int], progress: dict[int, Progress]) -> list[int]:
    return [o.oid for o in objects if o.oid in existing and o.oid not in progress]


# --- planning what is left ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Task:
    obj: SourceObject
    start: int  # bytes already on the target, kept
    piece_md5s: str  # of those bytes
    replace: bool  # pghaul's own unfinished copy is there but cannot be continued: write it again


def _source_prefix_md5s(src: psycopg.Connection, oid: int, length: int) -> str:
    query = sql.SQL("SELECT {}").format(
        _piece_md5s_sql(sql.SQL("%(loid)s::pg_catalog.oid"), sql.SQL("%(length)s::int8"))
    )
    row = src.execute(query, {"loid": oid, "length": length}).fetchone()
    return str(row[0]) if row else ""


def _task(src: psycopg.Connection, obj: SourceObject, progress: Progress | None, on_target: bool) -> _Task:
    if progress is None or not on_target:
        return _Task(obj, 0, "", False)
    # The pieces already written come from an earlier run, maybe an earlier snapshot: continue after them only
    # if the source still has those very bytes, or the object would be a mix that never existed on the source.
    if (
        progress.bytes_done > 0
        and progress.size == obj.size
        and _source_prefix_md5s(src, obj.oid, progress.bytes_done) == progress.piece_md5s
    ):
        return _Task(obj, progress.bytes_done, progress.piece_md5s, False)
    return _Task(obj, 0, "", True)


def _segments(tasks: Iterator[_Task] | list[_Task]) -> Iterator[_Segment]:
    for task in tasks:
        offset = task.start
        while True:
            length = min(PIECE_BYTES, task.obj.size - offset)
            yield _Segment(task.obj, offset, length, task.replace and offset == 0)
            offset += length
            if offset >= task.obj.size:
                break


def _batches(segments: Iterator[_Segment], batch_bytes: int, batch_objects: int) -> Iterator[list[_Segment]]:
    """Segments grouped so that one batch reads at most ``batch_bytes`` (or one piece) in one round trip."""
    batch: list[_Segment] = []
    size = 0
    for segment in segments:
        if batch and (size + segment.length > batch_bytes or len(batch) >= batch_objects):
            yield batch
            batch, size = [], 0
        batch.append(segment)
        size += segment.length
    if batch:
        yield batch


# --- moving one batch -----------------------------------------------------------------------------------------------


def _read(src: psycopg.Connection, batch: list[_Segment]) -> list[bytes]:
    # Binary results: bytea arrives as its bytes instead of twice as many hex digits.
    with src.cursor(binary=True) as cur:
        cur.execute(
            "SELECT pg_catalog.lo_get(s.loid, s.off, s.len) FROM ROWS FROM (pg_catalog.unnest(%s::pg_catalog.oid[]),"
            " pg_catalog.unnest(%s::int8[]), pg_catalog.unnest(%s::int4[])) WITH ORDINALITY AS s(loid, off, len, n)"
            " ORDER BY s.n",
            ([s.obj.oid for s in batch], [s.offset for s in batch], [s.length for s in batch]),
        )
        data = [bytes(r[0]) for r in cur.fetchall()]
    for segment, piece in zip(batch, data, strict=True):
        if len(piece) != segment.length:
            # The listing and the reads share one snapshot, so this means the server changed under it.
            raise PghaulError(
                f"large object {segment.obj.oid} returned {len(piece)} bytes at offset {segment.offset} where "
                f"{segment.length} were expected",
                "run again: the object is read anew",
            )
    return data


_UPSERT = sql.SQL(
    "INSERT INTO {} AS p (loid, size, bytes_done, piece_md5s, md5, done, job_id)"
    " VALUES (%s::pg_catalog.oid, %s, %s, %s, %s, %s, %s) ON CONFLICT (loid) DO UPDATE SET size = excluded.size,"
    " bytes_done = excluded.bytes_done, piece_md5s = excluded.piece_md5s, md5 = excluded.md5, done = excluded.done,"
    " job_id = excluded.job_id, updated_at = pg_catalog.now()"
).format(PROGRESS_TABLE)


def _progress_rows(
    batch: list[_Segment], data: list[bytes], md5s: dict[int, str], job_id: str | None
) -> list[tuple[object, ...]]:
    """Advance each object's running piece hashes; the progress row of each object as of the batch's end."""
    rows: dict[int, tuple[object, ...]] = {}
    for segment, piece in zip(batch, data, strict=True):
        oid = segment.obj.oid
        hashes = ("" if segment.offset == 0 else md5s.get(oid, "")) + hashlib.md5(piece).hexdigest()
        end = segment.offset + len(piece)
        if segment.last:
            md5s.pop(oid, None)
            rows[oid] = (oid, segment.obj.size, end, None, object_checksum(hashes), True, job_id)
        else:
            md5s[oid] = hashes
            rows[oid] = (oid, segment.obj.size, end, hashes, None, False, job_id)
    return list(rows.values())


def _write(tgt: psycopg.Connection, batch: list[_Segment], data: list[bytes], rows: list[tuple[object, ...]]) -> None:
    """The batch's pieces, comments and progress rows; the caller holds the transaction they commit in."""
    pairs = list(zip(batch, data, strict=True))
    with tgt.cursor() as cur:
        # Unlinks first, then first pieces, then later pieces: one object's operations stay in order.
        replace = [(s.obj.oid,) for s in batch if s.replace]
        if replace:
            cur.executemany("SELECT pg_catalog.lo_unlink(%s::pg_catalog.oid)", replace)
        first = [(s.obj.oid, d) for s, d in pairs if s.offset == 0]
        if first:
            cur.executemany("SELECT pg_catalog.lo_from_bytea(%s::pg_catalog.oid, %s::bytea)", first)
        later = [(s.obj.oid, s.offset, d) for s, d in pairs if s.offset > 0]
        if later:
            cur.executemany("SELECT pg_catalog.lo_put(%s::pg_catalog.oid, %s::int8, %s::bytea)", later)
        for s in batch:
            if s.last and s.obj.comment is not None:
                comment = sql.SQL("COMMENT ON LARGE OBJECT {} IS {}")
                cur.execute(comment.format(sql.Literal(s.obj.oid), sql.Literal(s.obj.comment)))
        cur.executemany(_UPSERT, rows)


# --- the whole copy -------------------------------------------------------------------------------------------------


@dataclass
class _Tally:
    total: int
    bytes_total: int
    done: int = 0
    bytes_done: int = 0
    copied: int = 0
    bytes_copied: int = 0

    def event(self) -> LargeObjectsProgress:
        return LargeObjectsProgress(self.done, self.total, self.bytes_done, self.bytes_total)

    def add(self, batch: list[_Segment]) -> None:
        finished = sum(1 for s in batch if s.last)
        moved = sum(s.length for s in batch)
        self.done += finished
        self.copied += finished
        self.bytes_done += moved
        self.bytes_copied += moved


def copy_large_objects(
    source_url: str,
    target_url: str,
    *,
    snapshot_id: str | None,
    listener: Listener = ignore,
    cancel: threading.Event | None = None,
    job_id: str | None = None,
    batch_bytes: int = BATCH_BYTES,
    batch_objects: int = BATCH_OBJECTS,
    rate: RateLimit | None = None,
) -> LargeObjectStats:
    """Copy every large object of the source that the target does not have complete yet; see the module docstring.

    Reads in ``snapshot_id`` when it can be imported (so the objects match the copied rows). Raises
    :class:`SafetyError` before writing anything if an OID of the source is taken on the target by an object
    pghaul did not write, and :class:`pghaul.errors.Cancelled` between batches once ``cancel`` is set. With
    ``rate`` (the run's ``--max-rate``), the bytes read count in the run's cap.
    """
    started = time.monotonic()
    reader, imported = open_reader(source_url, snapshot_id)
    try:
        if snapshot_id and not imported:
            listener(Notice("large objects are read as of now: the snapshot of the rows could not be imported",
                            "warning"))
        with connect_target(target_url) as tgt:
            sizes = _Sizes(max(batch_bytes, 1), max(batch_objects, 1))
            stats = _copy_all(reader, tgt, listener, cancel, job_id, sizes, rate)
    finally:
        reader.rollback()
        reader.close()
    return LargeObjectStats(stats.objects, stats.copied, stats.skipped, stats.bytes_copied,
                            time.monotonic() - started)


@dataclass(frozen=True)
class _Sizes:
    batch_bytes: int
    batch_objects: int


def _copy_all(
    src: psycopg.Connection,
    tgt: psycopg.Connection,
    listener: Listener,
    cancel: threading.Event | None,
    job_id: str | None,
    sizes: _Sizes,
    rate: RateLimit | None,
) -> LargeObjectStats:
    objects = list_source_objects(src)
    progress = load_progress(tgt)
    existing = _target_oids(tgt)
    foreign = _foreign(objects, existing, progress)
    if foreign:
        raise _refusal(foreign)
    finished = [o for o in objects if o.oid in progress and progress[o.oid].done]
    if len(finished) == len(objects):
        return LargeObjectStats(len(objects), 0, len(finished), 0)
    ensure_large_object_state(tgt)
    finished_oids = {o.oid for o in finished}
    tasks = [_task(src, o, progress.get(o.oid), o.oid in existing) for o in objects if o.oid not in finished_oids]
    tally = _Tally(len(objects), sum(o.size for o in objects), len(finished),
                   sum(o.size for o in finished) + sum(t.start for t in tasks))
    listener(tally.event())
    md5s = {t.obj.oid: t.piece_md5s for t in tasks if t.start}
    for batch in _batches(_segments(tasks), sizes.batch_bytes, sizes.batch_objects):
        check_cancelled(cancel, "stopped while copying large objects",
                        "run the same command again to continue from the last committed batch")
        data = _read(src, batch)
        if rate is not None:
            rate.take(sum(len(piece) for piece in data), cancel)
        rows = _progress_rows(batch, data, md5s, job_id)
        try:
            with tgt.transaction():
                _write(tgt, batch, data, rows)
        except psycopg.errors.UniqueViolation:
            # Someone created one of these OIDs on the target since the check above; nothing of this batch stayed.
            taken = _foreign(objects, _target_oids(tgt), load_progress(tgt))
            if taken:
                raise _refusal(taken) from None
            raise
        tally.add(batch)
        listener(tally.event())
    return LargeObjectStats(len(objects), tally.copied, len(finished), tally.bytes_copied)
