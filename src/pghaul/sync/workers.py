"""The sessions one sync worker needs: a source reader in the sync's snapshot and a target writer, both printing
values the way the checksums expect, and a thread that computes the target's checksums meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from pghaul.connect import connect_target
from pghaul.copy.replica_role import SET_REPLICA_ROLE
from pghaul.copy.snapshot import open_reader
from pghaul.verify.session import pin_output_settings


@dataclass(frozen=True)
class WorkerSessions:
    src: psycopg.Connection
    tgt: psycopg.Connection
    pool: ThreadPoolExecutor
    in_snapshot: bool  # the reader imported the sync's snapshot (else it reads at its own moment)


@contextmanager
def worker_sessions(
    source_url: str, target_url: str, snapshot_id: str | None, replica_role: bool
) -> Iterator[WorkerSessions]:
    src, imported = open_reader(source_url, snapshot_id)
    try:
        pin_output_settings(src)
        with connect_target(target_url) as tgt, ThreadPoolExecutor(1, thread_name_prefix="pghaul-sync-t") as pool:
            pin_output_settings(tgt)
            if replica_role:
                tgt.execute(SET_REPLICA_ROLE)
            yield WorkerSessions(src, tgt, pool, imported)
    finally:
        src.rollback()
        src.close()
