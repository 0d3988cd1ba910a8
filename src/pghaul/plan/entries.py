"""What each pg_dump archive entry is to pghaul: a step to run, something pghaul moves itself, or left out.

Completeness holds by construction: every entry pg_dump writes for a database becomes a step unless it is
named here as carried another way (rows, sequence positions, large objects, materialized view contents) or as
a setting of the session or the database rather than an object in it. A kind pg_dump learns later is
carried as a step without a change here.
"""

from __future__ import annotations

from pghaul.dump import ArchiveEntry
from pghaul.dump.archive import normalized, unquoted
from pghaul.follow.names import is_follow_name
from pghaul.kinds import StepKind, step_kind

__all__ = ["normalized"]

# Settings pg_dump records for the restoring session, and the database itself (the target is its own).
SESSION_AND_DATABASE = frozenset({"ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE", "DATABASE PROPERTIES"})
# Contents pghaul moves itself: rows by COPY, sequence positions, large objects, refreshes, statistics.
MOVED_BY_PGHAUL = frozenset({
    "TABLE DATA", "SEQUENCE SET", "BLOB", "BLOBS", "BLOB METADATA", "LARGE OBJECT", "MATERIALIZED VIEW DATA",
    "STATISTICS DATA",
})
PRIVILEGES = frozenset({"ACL", "DEFAULT ACL"})
# Holds credentials for another server: never read out, never stored; the plan says what to create by hand.
USER_MAPPING = "USER MAPPING"
# Kinds whose tag is "<table> <name>": the object belongs to that table.
ON_A_TABLE = frozenset({"CONSTRAINT", "FK CONSTRAINT", "CHECK CONSTRAINT", "TRIGGER", "POLICY", "RULE"})
# Post-data kinds built from a table's rows, run as soon as that table's data is in (not triggers or rules:
# those must not act while rows still arrive; not foreign keys: they need the referenced table's rows too).
BUILT_PER_TABLE = frozenset({"INDEX", "CONSTRAINT", "INDEX ATTACH", "STATISTICS"})
RELATIONS = frozenset({"TABLE", "MATERIALIZED VIEW", "VIEW", "FOREIGN TABLE"})
# Publications and their tables: "<publication>" or "<publication> <table>". Follow's own publication on the
# source (pghaul.follow) is pghaul's work, not the user's schema: no step creates it on the target, verify skips it.
PUBLICATION_KINDS = frozenset({"PUBLICATION", "PUBLICATION TABLE", "PUBLICATION TABLES IN SCHEMA"})
# Created last, as pg_dump orders them, so they do not fire for the rest of the schema being built.
EVENT_TRIGGER = "EVENT TRIGGER"

_KIND_NAMES = {"FK CONSTRAINT": "foreign key", "MATERIALIZED VIEW": "materialized view"}


def kind_name(entry: ArchiveEntry) -> StepKind | str:
    """pghaul's name for an entry's kind: a StepKind where pghaul treats the kind specially, else pg_dump's own
    name in lower case ("aggregate", "rule"), so a kind pg_dump learns later is carried as it is."""
    return step_kind(_KIND_NAMES.get(entry.desc, entry.desc.lower()))


# Kinds whose tag is "<kind of the object> <its name>": a comment, a grant, a security label.
ABOUT_AN_OBJECT = frozenset({"COMMENT", "ACL", "SECURITY LABEL"})


def display_name(entry: ArchiveEntry) -> str:
    """``schema.name`` for people; ``schema.table.name`` for what belongs to a table; ``TABLE schema.name``
    for a comment or a grant."""
    tag, prefix = entry.tag, ""
    if entry.desc in ON_A_TABLE and " " in tag:
        table, _, name = tag.partition(" ")
        tag = f"{table}.{name}"
    elif entry.desc in ABOUT_AN_OBJECT and " " in tag:
        words = tag.split(" ")
        # The kind is the leading upper-case words ("MATERIALIZED VIEW"); the name may hold spaces itself.
        n = 1
        while n < len(words) - 1 and words[n].isalpha() and words[n].isupper():
            n += 1
        prefix, tag = " ".join(words[:n]) + " ", " ".join(words[n:])
    # Names read without the quotes the server put around every identifier (pghaul.dump asks it to).
    return prefix + unquoted(f"{entry.namespace}.{tag}" if entry.namespace else tag)


def same_definition(a: ArchiveEntry, b: ArchiveEntry) -> bool:
    """The statement, and the table access method pg_dump keeps beside it."""
    return normalized(a.defn) == normalized(b.defn) and a.tableam == b.tableam


def has_statement(entry: ArchiveEntry) -> bool:
    """False for an entry pg_dump writes only to carry an owner or a grant (the ``public`` schema made by
    initdb, printed as a comment when its owner changed)."""
    return any(line.strip() and not line.lstrip().startswith("--") for line in entry.defn.splitlines())


def is_follow_publication(entry: ArchiveEntry) -> bool:
    return entry.desc in PUBLICATION_KINDS and is_follow_name(entry.tag.split(" ", 1)[0])


def is_step(entry: ArchiveEntry, privileges: bool, owners: bool = False) -> bool:
    if entry.desc in SESSION_AND_DATABASE or entry.desc in MOVED_BY_PGHAUL or entry.desc == USER_MAPPING:
        return False
    if is_follow_publication(entry):
        return False
    if not (has_statement(entry) or owners):
        return False
    return privileges or entry.desc not in PRIVILEGES
