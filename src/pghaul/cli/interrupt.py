"""Ctrl-C as a request to stop: the engine's cancel event, so a run ends at its next safe point.

A KeyboardInterrupt raised in the middle of a migrate or a sync would leave the main thread while the workers go
on writing (a thread pool waits for them on the way out, with no way to tell them to stop). Setting the cancel
event instead lets every worker finish the chunk or range it is in (each one target transaction) and raise
``Cancelled``, which the command prints as one line with its hint. A second Ctrl-C is for the impatient: it
interrupts at once, and psycopg cancels the query in flight.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rich.console import Console


@contextmanager
def cancel_on_interrupt(console: Console) -> Iterator[threading.Event]:
    """Yield the cancel event to pass to the engine; while inside, the first Ctrl-C sets it."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield cancel
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        console.print("[yellow]stopping once the work in progress is committed… (Ctrl-C again to stop at once)[/]")

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)
