"""Slowing down wrong guesses of the migration secret, without ever locking out the right one.

The guard compares the secret first, in constant time, and consults this throttle only for a *wrong* one: the
right secret is never delayed or refused, whatever anyone else has been guessing, so an attacker cannot lock the
owner out. A correct answer's timing does not depend on the throttle at all (it is not even asked), and a wrong
one's hold depends only on the throttle's state, never on how close the guess was.

Each wrong guess is answered late (the guard holds the 401 without a worker thread):

- per client key (:func:`pghaul.http.forwarded.client_key`): the first ``free_failures`` are answered at once
  (a person retyping), then each further one waits a doubling delay up to ``max_delay``; concurrent guesses of
  one client queue behind each other (each takes the next free slot), so parallel requests gain nothing over
  sequential ones in how fast their wrong answers come back;
- globally: once more than ``global_per_minute`` wrong guesses arrived within a minute, from any clients, wrong
  answers leave at most one per ``60 / global_per_minute`` seconds. That bounds a guesser who spreads over many
  addresses (an IPv6 /48 is 65,536 client keys).

A wrong answer that would have to wait longer than ``max_hold`` (kept under Heroku's 30-second router timeout)
is not held: it gets 429 with Retry-After at once and takes no slot, so the number of held answers, and the
memory they use, stay bounded. What this cannot do is stop a guesser who never waits for the wrong answers and
only watches for a success: any scheme that lets the right secret through at once evaluates every guess. That is
what the secret's strength is for (at least 16 characters, refused at start-up when weak: pghaul.settings).

Memory: at most ``max_clients`` entries of a short key and three numbers (least recently failed forgotten
first), and at most ``global_per_minute`` timestamps. Every read-modify-write happens under one lock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 3
BASE_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 20.0
# Heroku's router gives up on a request after 30 s; a held answer must come back before that.
MAX_HOLD_SECONDS = 25.0
GLOBAL_FAILURES_PER_MINUTE = 60
MAX_TRACKED_CLIENTS = 10_000
# A client that stopped failing this long ago starts afresh (the owner's typos of yesterday do not count).
FORGET_AFTER_SECONDS = 15 * 60.0
_MINUTE = 60.0


@dataclass(frozen=True)
class Slowdown:
    """What to do with one wrong guess: hold the 401 for ``hold`` seconds, or, when ``retry_after`` is set,
    answer 429 at once (holding it would take too long)."""

    hold: float
    retry_after: int = 0


class _Client:
    __slots__ = ("failures", "free_at", "last")

    def __init__(self) -> None:
        self.failures = 0
        self.last = 0.0
        self.free_at = 0.0  # when this client's previous wrong answer leaves; the next one queues behind it


class FailureThrottle:
    def __init__(
        self,
        *,
        free_failures: int = FREE_FAILURES,
        base_delay: float = BASE_DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        max_hold: float = MAX_HOLD_SECONDS,
        global_per_minute: int = GLOBAL_FAILURES_PER_MINUTE,
        max_clients: int = MAX_TRACKED_CLIENTS,
        forget_after: float = FORGET_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_hold = max_hold
        self.max_clients = max_clients
        self.forget_after = forget_after
        self._clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._recent: deque[float] = deque(maxlen=max(1, global_per_minute))
        self._global_free_at = 0.0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._clients)

    def failures(self, key: str) -> int:
        with self._lock:
            client = self._clients.get(key)
            return client.failures if client is not None else 0

    def delay(self, failures: int) -> float:
        """The extra wait of a client's ``failures``-th wrong guess: none for the first few, then doubling."""
        over = failures - self.free_failures
        if over <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** min(over - 1, 32))

    def failure(self, key: str) -> Slowdown:
        """Record one wrong guess from ``key`` and say how to answer it; atomic, so concurrent guesses all count
        and each takes its own slot."""
        now = self._clock()
        with self._lock:
            client = self._client(key, now)
            client.failures += 1
            client.last = now
            self._recent.append(now)
            leaves = max(client.free_at, now) + self.delay(client.failures)
            global_slot = None
            if len(self._recent) == self._recent.maxlen and now - self._recent[0] < _MINUTE:
                # The budget is spent: wrong answers leave one at a time, at the budget's pace.
                global_slot = max(self._global_free_at, now) + _MINUTE / self._recent.maxlen
                leaves = max(leaves, global_slot)
            hold = leaves - now
            if hold > self.max_hold:
                return Slowdown(0.0, retry_after=max(1, math.ceil(hold)))
            client.free_at = leaves
            if global_slot is not None:
                self._global_free_at = global_slot
            return Slowdown(hold)

    def _client(self, key: str, now: float) -> _Client:
        # Entries are kept in order of their last failure: the stale ones are at the front.
        while self._clients:
            oldest = next(iter(self._clients.values()))
            if now - oldest.last <= self.forget_after:
                break
            self._clients.popitem(last=False)
        client = self._clients.get(key)
        if client is None:
            if len(self._clients) >= self.max_clients:
                self._clients.popitem(last=False)
            client = self._clients[key] = _Client()
        else:
            self._clients.move_to_end(key)
        return client
