"""Follow's sessions on the source that are not read-only, and the connection string the subscription uses.

pghaul reads the source through sessions PostgreSQL itself keeps read-only (``pghaul.connect``). Follow is the
second, opt-in exception to that rule (the first is a cutover's ``--freeze-source``, ``engine/freeze.py``), and it
writes exactly three things, all named ``pghaul_…`` (``follow/names.py``) and all removed by the cutover, by
``stop_follow`` and by ``cleanup``:

- the logical replication slot, created and dropped through a *replication* connection (``replication=database``:
  the walsender protocol, which has no tables to write to) — ``connect_replication``;
- the publication, created, altered and dropped through ``pghaul.connect.connect_source_writable``, the one
  writable SQL session follow opens on the source, used for nothing else.

The subscription lives on the target. Its connection string is the source's URL *with its password*: PostgreSQL
stores it in ``pg_subscription.subconninfo`` (readable by superusers only), and it appears in the target's
``pg_stat_activity`` and statement log while ``CREATE SUBSCRIPTION`` runs. pghaul never prints or logs it: every
message built from a failure is scrubbed of it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pghaul.connect import APPLICATION_NAME, CONNECT_TIMEOUT_SECONDS, _check_url
from pghaul.errors import ConnectionFailed
from pghaul.urls import describe_url, scrub

# Connection parameters that describe pghaul's own session, not the source: left out of the subscription's.
_SESSION_ONLY = frozenset({"replication", "application_name", "fallback_application_name"})


def connect_replication(url: str) -> psycopg.Connection:
    """A replication connection to the source's database (autocommit; commands sent with the simple protocol)."""
    url = _check_url(url, "source", "DATABASE_URL")
    try:
        return psycopg.connect(url, autocommit=True, replication="database", connect_timeout=CONNECT_TIMEOUT_SECONDS,
                               application_name=APPLICATION_NAME)
    except psycopg.OperationalError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = scrub(lines[-1] if lines else type(exc).__name__, url)
        raise ConnectionFailed(
            f"cannot open a replication connection to the source {describe_url(url)}: {reason}",
            "the source's role needs the REPLICATION attribute, and the server must accept replication connections "
            "to this database from here (pg_hba.conf; managed platforms: enable logical replication)",
        ) from None


def subscription_conninfo(url: str) -> str:
    """The connection string the target's server uses to reach the source, password included (see above)."""
    params: dict[str, Any] = {k: v for k, v in conninfo_to_dict(url).items() if k not in _SESSION_ONLY}
    return make_conninfo(**params)


def password_of(url: str) -> str | None:
    """The password in ``url``, to scrub from any message a failure carries."""
    value = conninfo_to_dict(url).get("password")
    return str(value) if value else None


def has_password(url: str) -> bool:
    return password_of(url) is not None
