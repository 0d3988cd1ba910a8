"""The wrong-secret throttle behind a PaaS proxy: the client's address from the trusted hops only, small keys
(IPv6 by /64), a bounded table, atomic counting, wrong guesses slowed down (per client and globally) and the right
secret never delayed or refused, whatever anyone else is guessing."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from pghaul.http import create_router
from pghaul.http.errors import ApiError
from pghaul.http.forwarded import UNPARSEABLE, client_address, client_key, forwarded_proto
from pghaul.http.guard import Guard
from pghaul.http.throttle import MAX_TRACKED_CLIENTS, FailureThrottle, Slowdown
from pghaul.sample import fill_sample_database
from pghaul.settings import Settings
from tests.test_http_helpers import AUTH, SECRET, database_state, make_settings, user_relations

PROXY_SAW = "203.0.113.7"  # what the platform's proxy appends: the address it was connected from


def _request(headers: list[tuple[str, str]] | None = None, peer: str = "10.1.2.3",
             path: str = "/db-status") -> Request:
    return Request({
        "type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers or []],
        "client": (peer, 40000), "server": ("pghaul.example", 443), "scheme": "http", "root_path": "",
    })


class FrozenClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_client_keys_are_small_and_group_ipv6_by_64() -> None:
    same_network = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "[2001:db8:1:2::9]:443",
                    "2001:DB8:1:2:0:0:0:7", "2001:db8:1:2::1%eth0"]
    assert {client_key(a) for a in same_network} == {"2001:db8:1:2::/64"}
    assert client_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert client_key("203.0.113.9") == client_key("203.0.113.9:5555") == client_key("::ffff:203.0.113.9")
    assert client_key("203.0.113.9") == "203.0.113.9" != client_key("203.0.113.10")
    for junk in ("", "  ", "unknown", "testclient", "x" * 16_384, "1.2.3.4.5", "[::1", "999.1.1.1", "_hidden"):
        assert client_key(junk) == UNPARSEABLE
    longest = client_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
    assert len(longest) <= 43 and len(client_key("255.255.255.255")) <= 15


def test_only_the_trusted_hops_of_x_forwarded_for_are_believed() -> None:
    spoofed = [("X-Forwarded-For", "1.1.1.1, 2.2.2.2, " + PROXY_SAW)]
    assert client_address(_request(spoofed), 1) == PROXY_SAW
    assert client_address(_request(spoofed), 2) == "2.2.2.2"  # two proxies, each appending
    assert client_address(_request(spoofed), 0) == "10.1.2.3"  # nothing trusted: the socket peer
    assert client_address(_request([]), 1) == "10.1.2.3"  # not through the proxy: its own connection
    assert client_address(_request([("X-Forwarded-For", PROXY_SAW)]), 2) == "10.1.2.3"  # fewer entries than hops
    # Several header lines are one list, in order; the client's lines come first.
    lines = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "7.7.7.7, " + PROXY_SAW)]
    assert client_address(_request(lines), 1) == PROXY_SAW
    # A 16 KiB header written by the client is not split into entries, nor kept.
    huge = [("X-Forwarded-For", ",".join(["9.9.9.9"] * 2000) + ", " + PROXY_SAW)]
    assert client_address(_request(huge), 1) == PROXY_SAW
    proto = [("X-Forwarded-Proto", "https, http")]
    assert forwarded_proto(_request(proto), 1) == "http" and forwarded_proto(_request(proto), 2) == "https"
    assert forwarded_proto(_request(proto), 0) is None and forwarded_proto(_request([]), 1) is None
    assert forwarded_proto(_request([("X-Forwarded-Proto", "HTTPS")]), 3) == "https"


def test_concurrent_wrong_guesses_are_all_counted_and_each_takes_its_own_slot() -> None:
    throttle = FailureThrottle(free_failures=3, base_delay=1, max_delay=20, max_hold=25, clock=FrozenClock())
    threads, per_thread = 16, 200
    outcomes: list[Slowdown] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def guess() -> None:
        start.wait()
        mine = [throttle.failure(PROXY_SAW) for _ in range(per_thread)]
        with lock:
            outcomes.extend(mine)

    workers = [threading.Thread(target=guess) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert throttle.failures(PROXY_SAW) == threads * per_thread
    # With the clock standing still, the outcome does not depend on how the threads interleaved: three free
    # answers, then holds that queue behind each other (1, 1+2, 3+4, 7+8 s), then 429 for every guess whose
    # answer would have to wait more than 25 s. A lost update would show as a repeated or missing hold.
    held = Counter(round(o.hold, 6) for o in outcomes if not o.retry_after)
    assert held == Counter({0.0: 3, 1.0: 1, 3.0: 1, 7.0: 1, 15.0: 1})
    refused = [o.retry_after for o in outcomes if o.retry_after]
    assert len(refused) == threads * per_thread - 7 and min(refused) >= 26


def _retained_bytes(throttle: FailureThrottle) -> int:
    """What the throttle's table holds: the table, its keys, and each entry with its numbers."""
    clients = throttle._clients  # the private table: measuring it is the point
    total = sys.getsizeof(clients) + sys.getsizeof(throttle._recent)
    for key, entry in clients.items():
        total += sys.getsizeof(key) + sys.getsizeof(entry)
        total += sum(sys.getsizeof(getattr(entry, slot)) for slot in entry.__slots__)
    return total


def test_the_table_stays_bounded_after_100k_distinct_addresses() -> None:
    clock = FrozenClock()
    throttle = FailureThrottle(clock=clock)
    for i in range(100_000):
        clock.now += 0.001
        if i % 2:
            address = f"{10 + i // 65536 % 200}.{i // 256 % 256}.{i % 256}.{i % 7}"
        else:
            address = f"2001:db8:{i // 65536:x}:{i % 65536:x}::1"
        throttle.failure(client_key(address))
        # Junk an attacker could put in the header: 16 KiB each, all in one bucket.
        if i % 1000 == 0:
            throttle.failure(client_key("z" * 16_384 + str(i)))
    used = _retained_bytes(throttle)
    assert len(throttle) == MAX_TRACKED_CLIENTS
    assert max(len(k) for k in throttle.keys()) <= 43
    assert throttle.failures(UNPARSEABLE) == 100  # recently failed, so never the one evicted
    assert used < 8 * 1024 * 1024, used  # a 16 KiB key per entry alone would be 160 MB


def test_the_global_budget_paces_everyones_wrong_answers_and_clients_are_forgotten() -> None:
    clock = FrozenClock()
    throttle = FailureThrottle(free_failures=3, global_per_minute=30, max_hold=25, clock=clock)
    # 29 different clients, one guess each: every one still among its free failures, answered at once.
    assert all(throttle.failure(f"198.51.100.{i}").hold == 0 for i in range(29))
    # The 30th within the minute spends the budget: from now on wrong answers leave one every 2 seconds,
    # whoever sends them, until holding them would take longer than 25 seconds.
    holds = [throttle.failure(f"192.0.2.{i}") for i in range(20)]
    assert [h.hold for h in holds[:12]] == [2.0 * (n + 1) for n in range(12)]
    assert all(h.retry_after for h in holds[12:])
    clock.now += 61  # a quiet minute: the budget is back
    assert throttle.failure("192.0.2.200").hold == 0
    clock.now += 16 * 60  # a client quiet for longer than FORGET_AFTER starts afresh
    assert throttle.failure("198.51.100.1").hold == 0 and throttle.failures("198.51.100.1") == 1
    assert len(throttle) == 1


def _guard(throttle: FailureThrottle, hops: int = 1) -> Guard:
    settings = Settings(migration_secret=SECRET, allow_db_migration=True, trusted_proxy_hops=hops,
                        database_url="postgresql://u@source/db", new_database_url="postgresql://u@target/db")
    return Guard(settings, throttle)


def _timed(guard: Guard, request: Request) -> tuple[int, float]:
    """Run the guard as FastAPI would; the status it answers (200 = let through) and how long it took."""
    started = time.monotonic()
    try:
        anyio.run(guard, request)
        status = 200
    except ApiError as exc:
        status = exc.status
    return status, time.monotonic() - started


def test_wrong_guesses_are_held_and_the_right_secret_never_waits() -> None:
    throttle = FailureThrottle(free_failures=0, base_delay=0.6, max_delay=0.6, max_hold=1.0)
    guard = _guard(throttle)
    attacker = [("X-Forwarded-For", PROXY_SAW), ("X-Migration-Secret", "a-wrong-guess-0001")]
    status, took = _timed(guard, _request(attacker))
    assert status == 401 and took >= 0.55  # held: a wrong answer comes late
    assert throttle.failure(PROXY_SAW).hold > 0.5  # another guess of the attacker's, still waiting for its answer
    status, took = _timed(guard, _request(attacker))
    assert status == 429 and took < 0.3  # queued behind it for longer than max_hold: refused at once
    # The owner behind the same address (same office, same NAT) while the attacker's queue is full: through,
    # at once. The right secret is compared before the throttle is asked anything.
    owner = [("X-Forwarded-For", PROXY_SAW), ("X-Migration-Secret", SECRET)]
    for _ in range(3):
        status, took = _timed(guard, _request(owner))
        assert status == 200 and took < 0.3, took
    assert throttle.failures(PROXY_SAW) == 3  # the right secret is not a failure, and not counted either


@pytest.fixture
def source(source_url: str) -> Iterator[str]:
    fill_sample_database(source_url, users=3, memories_per_user=1)
    yield source_url


def test_spoofed_forwarded_for_makes_no_new_buckets_and_the_owner_gets_through_an_attack(
    source: str, target_url: str
) -> None:
    before = database_state(source)
    # Limits small enough to run an attack in a test: two free guesses, then every wrong one refused at once.
    throttle = FailureThrottle(free_failures=2, base_delay=60, max_hold=1, global_per_minute=150)
    host = FastAPI()
    router = create_router(make_settings(source, target_url), throttle=throttle)
    host.include_router(router, prefix="/api/admin")
    with TestClient(host) as client:
        statuses = Counter()
        for i in range(200):
            # The client writes whatever it likes in front; the platform's proxy appends what it saw.
            spoofed = {"X-Forwarded-For": f"198.51.{i // 256}.{i % 256}, {PROXY_SAW}",
                       "X-Migration-Secret": f"guess-{i:06d}-not-the-secret"}
            path = ("/api/admin/db-status", "/api/admin/db-tables", "/api/admin/db-migrate-data?table=users")[i % 3]
            statuses[client.get(path, headers=spoofed).status_code] += 1
        statuses[client.post("/api/admin/db-migrate-all", headers=spoofed).status_code] += 1
        assert statuses == Counter({401: 2, 429: 199}), statuses
        assert throttle.keys() == [PROXY_SAW] and throttle.failures(PROXY_SAW) == 201
        refused = client.get("/api/admin/db-status", headers=spoofed)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "right secret is always accepted" in refused.json()["hint"]
        # The owner, even from the attacker's own address, is let straight in.
        owner = {"X-Forwarded-For": f"192.0.2.1, {PROXY_SAW}", **AUTH}
        started = time.monotonic()
        assert client.get("/api/admin/db-status", headers=owner).json()["state"] == "idle"
        assert time.monotonic() - started < 5
        # Many addresses of one IPv6 /64 are one client; the budget across all clients is now spent, and still
        # the owner gets in from a new address.
        for i in range(60):
            v6 = {"X-Forwarded-For": f"2001:db8:77:1::{i:x}", "X-Migration-Secret": "another-wrong-guess-123"}
            assert client.get("/api/admin/db-status", headers=v6).status_code in (401, 429)
        assert "2001:db8:77:1::/64" in throttle.keys() and len(throttle) == 2
        assert throttle.failures("2001:db8:77:1::/64") == 60
        fresh = {"X-Forwarded-For": "2001:db8:99::5", **AUTH}
        assert client.get("/api/admin/db-tables", headers=fresh).status_code == 200
    assert user_relations(target_url) == []
    assert database_state(source) == before
