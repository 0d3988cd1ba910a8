"""Large objects on both servers, matched by OID: size, a checksum computed inside each database, and the comment.

The checksum is the one the copy records (``pghaul.copy.large_objects.checksum_sql``): the md5 of an object that
fits in one piece, else the md5 of its pieces' md5s, so no server holds more than one piece of an object in
memory. Both sides are read in OID order in batches; the target's next batch is fetched in the pool while the
source's is read and compared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from pghaul.copy.large_objects import checksum_sql, sized_objects_query
from pghaul.verify.report import LargeObjectCheck, LargeObjectDifference

BATCH = 1000
SHOWN = 20  # OIDs kept in the report per kind of difference; the counts are exact


@dataclass(frozen=True, slots=True)
class ObjectDigest:
    oid: int
    size: int
    checksum: str
    comment: str | None


class _SideFailed(Exception):
    def __init__(self, side: str, exc: psycopg.Error) -> None:
        diag = getattr(exc, "diag", None)
        reason = getattr(diag, "message_primary", None) if diag is not None else None
        super().__init__(f"cannot read on the {side}: {reason or str(exc).strip().splitlines()[0]}")


_QUERY = sized_objects_query(sql.SQL(", {}").format(checksum_sql(sql.SQL("c.loid"), sql.SQL("c.size"))))


def digest_batch(conn: psycopg.Connection, after: int, limit: int) -> list[ObjectDigest]:
    """The next ``limit`` large objects after OID ``after``, with size, checksum and comment, in OID order."""
    rows = conn.execute(_QUERY, {"after": after, "limit": limit}).fetchall()
    return [ObjectDigest(int(r[0]), int(r[1]), str(r[4]), r[2]) for r in rows]


Submit = Callable[..., "Future[list[ObjectDigest]]"]


def _inline(fn: Callable[..., list[ObjectDigest]], *args: object) -> Future[list[ObjectDigest]]:
    done: Future[list[ObjectDigest]] = Future()
    try:
        done.set_result(fn(*args))
    except psycopg.Error as exc:
        done.set_exception(exc)
    return done


def _scan(conn: psycopg.Connection, side: str, submit: Submit) -> Iterator[ObjectDigest]:
    pending: Future[list[ObjectDigest]] | None = submit(digest_batch, conn, 0, BATCH)
    try:
        while pending is not None:
            try:
                batch = pending.result()
            except psycopg.Error as exc:
                raise _SideFailed(side, exc) from None
            pending = submit(digest_batch, conn, batch[-1].oid, BATCH) if len(batch) == BATCH else None
            yield from batch
    finally:
        # A batch still running in the pool must end before anyone else uses its connection.
        if pending is not None:
            pending.exception()


@dataclass
class _Found:
    sources: int = 0
    targets: int = 0
    compared: int = 0
    bytes_source: int = 0
    missing: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)
    different: list[LargeObjectDifference] = field(default_factory=list)
    missing_count: int = 0
    extra_count: int = 0
    different_count: int = 0

    def source_only(self, s: ObjectDigest) -> None:
        self.sources += 1
        self.bytes_source += s.size
        self.missing_count += 1
        if len(self.missing) < SHOWN:
            self.missing.append(s.oid)

    def target_only(self, t: ObjectDigest) -> None:
        self.targets += 1
        self.extra_count += 1
        if len(self.extra) < SHOWN:
            self.extra.append(t.oid)

    def both(self, s: ObjectDigest, t: ObjectDigest) -> None:
        self.sources += 1
        self.targets += 1
        self.bytes_source += s.size
        self.compared += 1
        details = []
        if s.size != t.size:
            details.append(f"{s.size:,} bytes on source, {t.size:,} on target")
        elif s.checksum != t.checksum:
            details.append(f"content differs (same size, {s.size:,} bytes)")
        if s.comment != t.comment:
            details.append("comment differs")
        if details:
            self.different_count += 1
            if len(self.different) < SHOWN:
                self.different.append(LargeObjectDifference(s.oid, "; ".join(details)))

    def check(self) -> LargeObjectCheck:
        return LargeObjectCheck(
            self.sources, self.targets, self.compared, self.bytes_source, tuple(self.missing), tuple(self.extra),
            tuple(self.different), self.missing_count, self.extra_count, self.different_count,
        )


def _merge(sources: Iterator[ObjectDigest], targets: Iterator[ObjectDigest]) -> LargeObjectCheck:
    found = _Found()
    s, t = next(sources, None), next(targets, None)
    while s is not None or t is not None:
        if t is None or (s is not None and s.oid < t.oid):
            assert s is not None
            found.source_only(s)
            s = next(sources, None)
        elif s is None or t.oid < s.oid:
            found.target_only(t)
            t = next(targets, None)
        else:
            found.both(s, t)
            s, t = next(sources, None), next(targets, None)
    return found.check()


def compare_large_objects(
    source: psycopg.Connection, target: psycopg.Connection, pool: ThreadPoolExecutor
) -> LargeObjectCheck:
    """Compare every large object of both servers; read failures become the check's ``error``, never an exception.

    Both connections in autocommit mode (each batch is its own read-only transaction).
    """
    sources = _scan(source, "source", _inline)
    targets = _scan(target, "target", pool.submit)
    try:
        return _merge(sources, targets)
    except _SideFailed as exc:
        return LargeObjectCheck(error=str(exc))
    finally:
        sources.close()
        targets.close()
