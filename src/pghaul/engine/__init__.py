"""The engine: one migration run as stages, and the entries the shells call.

``run.py`` holds ``MigrationRun`` (one method per stage: preflight, pre-data, data, post-data, sequences,
verify); ``preflight.py``, ``rehearsal.py`` and ``apply.py`` are its stage modules, ``data.py`` the data stage's
decisions, ``jobs.py`` the job row, migration lock and status on the target, ``retry.py`` the run started again
after a lost connection (the ``migrate``, ``sync`` and ``verify`` below), ``entries.py`` the dry run, the
walk-through's steps and ``cleanup``. The names below are what the CLI, the HTTP shell, the tests and the
benchmarks import from ``pghaul.engine``.
"""

from pghaul.connect import connect_source, connect_target
from pghaul.engine.data import default_workers
from pghaul.engine.entries import cleanup, create_pre_data, finish_post_data, make_plan, plan_with, record_batch
from pghaul.engine.options import (
    DEFAULT_SPLIT_ROWS,
    MigrateOptions,
    MigrationResult,
    PostDataResult,
)
from pghaul.engine.preflight import refusal_before_writing
from pghaul.engine.retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy, migrate, sync, verify
from pghaul.engine.run import MigrationRun
from pghaul.limits import DEFAULT_CHUNK_ROWS, MAX_CHUNK_ROWS

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_RETRY",
    "DEFAULT_SPLIT_ROWS",
    "MAX_CHUNK_ROWS",
    "NO_RETRY",
    "MigrateOptions",
    "MigrationResult",
    "MigrationRun",
    "PostDataResult",
    "RetryPolicy",
    "cleanup",
    "connect_source",
    "connect_target",
    "create_pre_data",
    "default_workers",
    "finish_post_data",
    "make_plan",
    "migrate",
    "plan_with",
    "record_batch",
    "refusal_before_writing",
    "sync",
    "verify",
]
