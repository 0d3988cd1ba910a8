"""The names of follow's objects: one name for the slot and the publication on the source and the subscription on
the target, derived from the target alone.

Deterministic, so a rerun (after a kill, in another process, on another machine) finds its own objects without
any record, and ``cleanup`` finds them even after pghaul's schema is gone: ``pghaul_`` and 16 hex digits of a hash
of the target's system identifier and database oid. Two targets following one source get two names; a target is
followed from one source at a time. Slot names allow lower-case letters, digits and underscores only, which
these are.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import psycopg

PREFIX = "pghaul_"
_PATTERN = re.compile(r"pghaul_[0-9a-f]{16}")
# The probe's subscription (created and rolled back before anything is copied) must not collide with the real one.
PROBE_SUFFIX = "_probe"

TARGET_IDENTITY_SQL = """
SELECT (SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() AS s),
       (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database())
"""


def is_follow_name(name: str) -> bool:
    """Whether ``name`` is one pghaul gives follow's objects (plan and verify leave such a publication out)."""
    return _PATTERN.fullmatch(name) is not None


@dataclass(frozen=True)
class FollowNames:
    """The slot, the publication and the subscription: one name, three objects."""

    name: str

    @property
    def slot(self) -> str:
        return self.name

    @property
    def publication(self) -> str:
        return self.name

    @property
    def subscription(self) -> str:
        return self.name

    @property
    def probe(self) -> str:
        return self.name + PROBE_SUFFIX


def names_for_identity(system_identifier: str, database_oid: int) -> FollowNames:
    digest = hashlib.sha256(f"{system_identifier}/{database_oid}".encode()).hexdigest()
    return FollowNames(PREFIX + digest[:16])


def follow_names(tgt: psycopg.Connection) -> FollowNames:
    """The names for the target ``tgt`` is connected to."""
    row = tgt.execute(TARGET_IDENTITY_SQL).fetchone()
    assert row is not None  # the session's own database always exists
    return names_for_identity(str(row[0]), int(row[1]))
