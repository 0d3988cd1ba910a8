"""A cap on the bytes a run reads from the source (``--max-rate``), shared by all its workers.

A migration reads a production database; its owner may want pghaul to take no more than so many megabytes a
second of that server's disk and network, whatever the number of workers. One token bucket per run: each reader
takes the bytes it has just received and sleeps when the run is ahead of the rate. The bucket may run into debt
(a block is already read when it is counted), and the next taker waits for that debt too, so over any stretch
of time the run reads at most ``rate x seconds + burst`` bytes. The source's COPY stops sending while a reader
sleeps (its socket buffers fill), so the cap holds on the server's side, not only in pghaul.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MB = 1_000_000  # --max-rate is in MB/s as disks and networks are rated (10^6 bytes), not MiB/s
# At most this long a stretch of reading may run ahead of the rate: small enough that the cap holds over a
# second, large enough that a block of the COPY stream (128 KiB) never waits on its own.
BURST_SECONDS = 0.25
MIN_BURST_BYTES = 256 * 1024
# A sleep is cut into pieces of at most this, so a cancelled run does not wait out a long debt.
_SLEEP_SLICE = 0.2


class RateLimit:
    """A thread-safe token bucket of ``bytes_per_second``, starting full (``burst`` bytes)."""

    def __init__(
        self,
        bytes_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if bytes_per_second <= 0:
            raise ValueError("a rate limit needs a positive rate")
        self.rate = float(bytes_per_second)
        self.burst = max(MIN_BURST_BYTES, self.rate * BURST_SECONDS)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()
        self.taken = 0  # bytes counted so far, for the run's report and the tests
        self.waited = 0.0  # seconds readers slept for the cap, summed over readers

    @classmethod
    def megabytes(cls, mb_per_second: float | None) -> RateLimit | None:
        """The bucket for ``--max-rate`` in MB/s; None (no cap) when not given, or not a positive number (the run's
        option check refuses that before anything reads)."""
        valid = isinstance(mb_per_second, int | float) and not isinstance(mb_per_second, bool) and mb_per_second > 0
        return cls(mb_per_second * MB) if valid else None  # type: ignore[operator]

    def take(self, nbytes: int, stop: threading.Event | None = None) -> None:
        """Count ``nbytes`` just read; return once the run is back within its rate (or ``stop`` is set)."""
        if nbytes <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= nbytes
            self.taken += nbytes
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            self.waited += wait
        if wait <= 0:
            return
        # The debt was reserved under the lock: other readers counting meanwhile wait behind it, so the lock is
        # not held while sleeping.
        deadline = self._clock() + wait
        while (left := deadline - self._clock()) > 0:
            if stop is not None and stop.is_set():
                return
            self._sleep(min(left, _SLEEP_SLICE))

    def describe(self) -> str:
        return f"{self.rate / MB:g} MB/s"
