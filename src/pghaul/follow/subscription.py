"""Follow's object on the target: the subscription that applies what the source's slot decodes.

Created once the copy is complete (and verified, when the run verifies): ``create_slot = false`` and
``slot_name`` make it read the slot pghaul created with the copy's snapshot, from that slot's position;
``copy_data = false`` because the rows are already there. PostgreSQL's apply worker then runs on its own, without
pghaul: a killed pghaul leaves the target following, and the next run finds the subscription and continues.

Dropping it detaches the slot first (``SET (slot_name = NONE)``, which needs it disabled), so ``DROP
SUBSCRIPTION`` never has to reach the source; pghaul drops the slot itself (``follow/source_objects.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from pghaul.errors import PghaulError
from pghaul.follow.connections import password_of, subscription_conninfo
from pghaul.follow.names import FollowNames
from pghaul.urls import describe_url, scrub


@dataclass(frozen=True)
class SubscriptionInfo:
    name: str
    enabled: bool
    slot_name: str | None


SUBSCRIPTION_SQL = """
SELECT subname AS name, subenabled AS enabled, subslotname AS slot_name
  FROM pg_catalog.pg_subscription
 WHERE subname = %s AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
"""


def subscription_info(tgt: psycopg.Connection, name: str) -> SubscriptionInfo | None:
    with tgt.cursor(row_factory=class_row(SubscriptionInfo)) as cur:
        return cur.execute(SUBSCRIPTION_SQL, [name]).fetchone()


def create_subscription(tgt: psycopg.Connection, names: FollowNames, url: str) -> None:
    """Start applying from the slot: the subscription reads ``names.slot`` through ``names.publication``."""
    statement = sql.SQL(
        "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (create_slot = false, slot_name = {},"
        " copy_data = false, enabled = true)"
    ).format(sql.Identifier(names.subscription), sql.Literal(subscription_conninfo(url)),
             sql.Identifier(names.publication), sql.Literal(names.slot))
    try:
        tgt.execute(statement)
    except psycopg.Error as exc:
        reason = scrub(exc.diag.message_primary or type(exc).__name__, password_of(url), url)
        raise PghaulError(
            f"the target could not subscribe to the source {describe_url(url)}: {reason}",
            "the rows are copied and the source's slot keeps every change since the copy: fix the cause and run "
            "the same command again, which subscribes without copying again",
        ) from None


def enable_subscription(tgt: psycopg.Connection, name: str) -> None:
    tgt.execute(sql.SQL("ALTER SUBSCRIPTION {} ENABLE").format(sql.Identifier(name)))


def drop_subscription(tgt: psycopg.Connection, name: str) -> bool:
    """Stop and drop the subscription without touching the source (its slot is pghaul's to drop); True if there
    was one."""
    found = subscription_info(tgt, name)
    if found is None:
        return False
    ident = sql.Identifier(name)
    if found.enabled:
        tgt.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
    if found.slot_name is not None:
        tgt.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
    tgt.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))
    return True
