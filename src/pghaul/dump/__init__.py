"""pg_dump as the source of every object's DDL: running it, and reading its archive's table of contents."""

from pghaul.dump.archive import Archive, ArchiveEntry, Section, read_archive
from pghaul.dump.pg_dump import DumpFailed, dump_schema, pg_dump_path

__all__ = ["Archive", "ArchiveEntry", "DumpFailed", "Section", "dump_schema", "pg_dump_path", "read_archive"]
