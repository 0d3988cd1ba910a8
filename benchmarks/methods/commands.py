"""Running the PostgreSQL client programs and timing them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

# Enough of a failing program's stderr to say what went wrong without flooding the report.
_STDERR_TAIL = 600


class CommandFailed(RuntimeError):
    pass


def _tail(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-_STDERR_TAIL:].strip()


def run_timed(argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Run one program to completion; its wall-clock seconds. Raises CommandFailed with its stderr tail."""
    started = time.perf_counter()
    with log.open("wb") as err:
        done = subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=err, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise CommandFailed(f"{Path(argv[0]).name} exited with {done.returncode}: {_tail(log)}")
    return seconds


def pipe_timed(producer: Sequence[str], consumer: Sequence[str], log: Path) -> float:
    """``producer | consumer``; wall-clock seconds until both have exited."""
    started = time.perf_counter()
    with log.open("wb") as err:
        first = subprocess.Popen(list(producer), stdout=subprocess.PIPE, stderr=err)
        assert first.stdout is not None
        second = subprocess.Popen(list(consumer), stdin=first.stdout, stdout=subprocess.DEVNULL, stderr=err)
        first.stdout.close()  # so the producer sees a broken pipe if the consumer dies
        second_rc = second.wait()
        first_rc = first.wait()
    seconds = time.perf_counter() - started
    if first_rc != 0 or second_rc != 0:
        raise CommandFailed(f"pipe exited with {first_rc} | {second_rc}: {_tail(log)}")
    return seconds
