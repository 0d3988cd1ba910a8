"""``pghaul sync`` and the guided cutover (``catch_up``, then ``finish`` with writes paused), each in a child
process (benchmarks/sync_child.py) as the migrations run in theirs."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.methods import Context, MethodSkipped
from benchmarks.methods.pghaul_migrate import last_json_line, last_lines, run_measured
from benchmarks.pghaul_child import ENGINE_MISSING

CHILD = Path(__file__).resolve().parent.parent / "sync_child.py"


def sync_problem() -> str | None:
    try:
        from pghaul.engine.cutover import catch_up, finish  # noqa: F401
        from pghaul.sync import SyncOptions, sync  # noqa: F401
    except Exception as exc:
        return f"pghaul.sync / pghaul.engine.cutover are not available yet ({type(exc).__name__}: {exc})"
    return None


@dataclass(frozen=True)
class PghaulSync:
    workers: int | None = None  # None: pghaul's default, as for the migrations

    def sync(self, ctx: Context) -> dict[str, Any]:
        """``seconds`` inside ``sync()`` and its ``report`` (``SyncReport.to_dict()``)."""
        return self._run("sync", ctx)

    def cutover(self, ctx: Context) -> dict[str, Any]:
        """``catch_up_seconds``, ``catch_up`` (its rounds), ``write_freeze_seconds``, ``ok``, ``final_sync``,
        ``verify_seconds`` and the verification's ``differences``."""
        return self._run("cutover", ctx)

    def _run(self, action: str, ctx: Context) -> dict[str, Any]:
        options = {} if self.workers is None else {"workers": self.workers}
        argv = [sys.executable, str(CHILD), action, ctx.source_url, ctx.target_url, json.dumps(options)]
        _, exit_code, _, out, err = run_measured(argv, ctx.work_dir)
        if exit_code == ENGINE_MISSING:
            raise MethodSkipped(out.strip() or "pghaul.sync is not available")
        if exit_code != 0:
            raise RuntimeError(f"pghaul {action} exited with {exit_code}: {last_lines(err or out)}")
        return last_json_line(out)
