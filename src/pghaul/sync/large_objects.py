"""Large objects after a sync: the target holds every source object with its bytes and comment, by OID.

The source's objects are listed with their size and checksum computed in the database (the checksum the copy
records); the target's side is what pghaul recorded when it wrote each object (``pghaul.large_objects``), so
the target's bytes are not read again. Objects gone from the source, or changed there, are removed from the
target with their progress rows, in batches, each in one transaction; then the ordinary resumable copy brings
over everything missing. A kill between the two leaves objects missing, which the next sync copies: it converges.
Objects on the target that pghaul did not write are the user's: left alone, and named in the report.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.copy.large_objects import PROGRESS_TABLE, Progress, copy_large_objects, load_progress
from pghaul.copy.rate_limit import RateLimit
from pghaul.events import Listener
from pghaul.sync.report import LargeObjectSync
from pghaul.verify.large_objects import ObjectDigest, digest_batch

BATCH = 1000


@dataclass(frozen=True)
class _Recorded:
    progress: Progress
    md5: str | None
    comment: str | None


def _source_digests(src: psycopg.Connection) -> list[ObjectDigest]:
    out: list[ObjectDigest] = []
    after = 0
    while True:
        batch = digest_batch(src, after, BATCH)
        out.extend(batch)
        if len(batch) < BATCH:
            return out
        after = batch[-1].oid


def _recorded(tgt: psycopg.Connection) -> dict[int, _Recorded]:
    progress = load_progress(tgt)
    if not progress:
        return {}
    rows = tgt.execute(sql.SQL(
        "SELECT p.loid, p.md5, pg_catalog.obj_description(p.loid, 'pg_largeobject') FROM {} AS p"
    ).format(PROGRESS_TABLE)).fetchall()
    return {int(r[0]): _Recorded(progress[int(r[0])], r[1], r[2]) for r in rows}


def _remove(tgt: psycopg.Connection, oids: list[int]) -> None:
    for start in range(0, len(oids), BATCH):
        batch = oids[start:start + BATCH]
        with tgt.transaction():
            tgt.execute("SELECT pg_catalog.lo_unlink(m.oid) FROM pg_catalog.pg_largeobject_metadata AS m"
                        " WHERE m.oid = ANY(%s::pg_catalog.oid[])", (batch,))
            tgt.execute(sql.SQL("DELETE FROM {} WHERE loid = ANY(%s::pg_catalog.oid[])").format(PROGRESS_TABLE),
                        (batch,))


def _set_comments(tgt: psycopg.Connection, comments: dict[int, str | None]) -> None:
    with tgt.transaction():
        for oid, comment in comments.items():
            tgt.execute(sql.SQL("COMMENT ON LARGE OBJECT {} IS {}").format(sql.Literal(oid), sql.Literal(comment)))


def sync_large_objects(
    src: psycopg.Connection, tgt: psycopg.Connection, source_url: str, target_url: str, snapshot_id: str | None,
    listener: Listener, cancel: threading.Event | None, job_id: str | None, rate: RateLimit | None = None,
) -> LargeObjectSync:
    """``src`` reads in the sync's snapshot (``snapshot_id``), which the copy of the missing objects imports too."""
    source = {d.oid: d for d in _source_digests(src)}
    recorded = _recorded(tgt)
    gone = sorted(oid for oid in recorded if oid not in source)
    changed = sorted(oid for oid, d in source.items() if oid in recorded and recorded[oid].progress.done
                     and (recorded[oid].progress.size != d.size or recorded[oid].md5 != d.checksum))
    comments = {oid: d.comment for oid, d in source.items() if oid in recorded and oid not in changed
                and recorded[oid].progress.done and recorded[oid].comment != d.comment}
    _remove(tgt, gone + changed)
    if comments:
        _set_comments(tgt, comments)
    copied = copy_large_objects(source_url, target_url, snapshot_id=snapshot_id, listener=listener, cancel=cancel,
                                job_id=job_id, rate=rate)
    theirs = tgt.execute("SELECT oid FROM pg_catalog.pg_largeobject_metadata").fetchall()
    mine = set(recorded) | set(source)
    return LargeObjectSync(
        objects=len(source), added=max(copied.copied - len(changed), 0), replaced=len(changed), removed=len(gone),
        comments_set=len(comments), bytes_copied=copied.bytes_copied,
        left_alone=tuple(sorted(int(r[0]) for r in theirs if int(r[0]) not in mine))[:20],
    )
