"""Whether the target's server reaches the source, asked of the target's server itself and left without a trace.

No catalog says whether one server can connect to another (a private network, a firewall, pg_hba.conf, a password
the source refuses): only trying does. The probe runs, on the target, the ``CREATE SUBSCRIPTION`` follow will run
later — same connection string, ``connect = true``, so the target's server opens a replication connection to the
source and reads its publications — but with no slot (``slot_name = NONE``), disabled, inside a transaction that
is always rolled back. PostgreSQL allows that only because no slot is created; nothing of it is committed, so no
apply worker ever starts and no catalog row stays. It runs before any data is copied and before anything is
written to either server, so a target that cannot reach the source is refused up front, not after hours of copy.

The probe's subscription has its own name (``…_probe``), so it never collides with a real one. The source's
password travels in the statement, as it will in the real one (``follow/connections.py``); every message taken
from a failure is scrubbed of it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pghaul.follow.connections import password_of, subscription_conninfo
from pghaul.follow.names import FollowNames
from pghaul.follow.preflight import FollowBlocker, FollowPreflight, FollowReason
from pghaul.urls import describe_url, scrub

# A host that drops packets would hold the probe for the kernel's TCP timeout (minutes): the probe gives up sooner.
PROBE_CONNECT_TIMEOUT_SECONDS = 10
PROBE_STATEMENT_TIMEOUT = "30s"
# Blockers that make the probe fail again for the same reason: it is not run then (it could tell nothing new).
_MOOT = frozenset({FollowBlocker.REPLICATION_PRIVILEGE, FollowBlocker.WAL_SENDERS, FollowBlocker.SUBSCRIPTION_PRIVILEGE,
                   FollowBlocker.CREATE_ON_TARGET, FollowBlocker.SUBSCRIPTION_PASSWORD})


def _probe_conninfo(url: str) -> str:
    params: dict[str, Any] = conninfo_to_dict(subscription_conninfo(url))
    params.setdefault("connect_timeout", PROBE_CONNECT_TIMEOUT_SECONDS)
    return make_conninfo(**params)


def probe_statement(names: FollowNames, url: str) -> sql.Composed:
    return sql.SQL(
        "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (connect = true, enabled = false,"
        " create_slot = false, slot_name = NONE, copy_data = false)"
    ).format(sql.Identifier(names.probe), sql.Literal(_probe_conninfo(url)), sql.Identifier(names.publication))


def reach_source(tgt: psycopg.Connection, url: str, names: FollowNames) -> FollowReason | None:
    """None when the target's server connected to the source as the subscription will; else why not.
    ``tgt`` is in autocommit; the transaction is rolled back whatever happens."""
    try:
        with tgt.transaction(force_rollback=True):
            tgt.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(PROBE_STATEMENT_TIMEOUT)))
            tgt.execute(probe_statement(names, url))
    except psycopg.Error as exc:
        reason = scrub(exc.diag.message_primary or type(exc).__name__, password_of(url), url)
        return FollowReason(
            FollowBlocker.SOURCE_UNREACHABLE,
            f"the target's server could not connect to the source {describe_url(url)} as the subscription would: "
            f"{reason}",
            "the target's server (not this machine) must reach the source: use the source's address as seen from "
            "the target (the follow source URL: a public host, or the platform's private network), allow the "
            "target in the source's firewall and pg_hba.conf, and give the URL a password the source accepts")
    return None


def probe_reachability(
    preflight: FollowPreflight, tgt: psycopg.Connection, url: str, names: FollowNames
) -> FollowPreflight:
    """``preflight`` with the probe's answer added (a blocker when the target's server could not connect)."""
    if any(b.code in _MOOT for b in preflight.blockers):
        return preflight
    reason = reach_source(tgt, url, names)
    return replace(preflight, blockers=preflight.blockers + ((reason,) if reason else ()), probed=True)
