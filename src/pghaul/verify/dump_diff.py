"""The schema diff that leaves nothing out: both databases' pg_dump archives compared object by object.

The catalog diff (:mod:`pghaul.verify.schema_diff`) says which attribute of a table or an index differs; this
one covers every kind pg_dump writes (aggregates, casts, rules, statistics, publications, …), so verify never
calls a schema equal that it did not compare. An object the catalog diff already reported is not reported
twice. Owners and grants are not compared: a run carries them only when asked to. An object the target's
server prints in other words than the source's (a view across major versions) counts as equal only when pghaul
recorded making it from this very statement and it is unchanged since (:mod:`pghaul.created_objects`).
"""

from __future__ import annotations

from collections.abc import Callable

from pghaul.created_objects import made_by_pghaul
from pghaul.dump import ArchiveEntry
from pghaul.inspect.model import Catalog
from pghaul.plan import entries
from pghaul.verify.report import SchemaDifference

# Compared by the extension check instead, where a newer version on the target is not a failure.
_NOT_HERE = frozenset({"EXTENSION"})


def _compared(entry: ArchiveEntry) -> bool:
    return entries.is_step(entry, privileges=False) and entry.desc not in _NOT_HERE


def _tables_of(catalog: Catalog) -> dict[int, frozenset[tuple[str, str]]]:
    """For every entry, the tables it is built on, directly or through what it depends on."""
    archive = catalog.dump
    assert archive is not None
    by_id = {e.dump_id: e for e in archive.entries}
    memo: dict[int, frozenset[tuple[str, str]]] = {}

    def visit(dump_id: int, path: frozenset[int]) -> frozenset[tuple[str, str]]:
        if dump_id in memo:
            return memo[dump_id]
        e = by_id.get(dump_id)
        if e is None or dump_id in path:
            return frozenset()
        found = {(e.namespace, e.tag)} if e.desc == "TABLE" else set()
        for dep in e.deps:
            found |= visit(dep, path | {dump_id})
        memo[dump_id] = frozenset(found)
        return memo[dump_id]

    return {e.dump_id: visit(e.dump_id, frozenset()) for e in archive.entries}


def diff_dumps(
    source: Catalog, target: Catalog, keep: Callable[[str, str], bool], subset: bool
) -> tuple[list[SchemaDifference], set[str]]:
    """Objects missing on the target, different there, or (for a whole-database run) only there; and the names
    of those found equal (without needless quotes)."""
    if source.dump is None or target.dump is None:
        return [], set()
    tables = _tables_of(source)

    def wanted(e: ArchiveEntry) -> bool:
        on = tables.get(e.dump_id, frozenset())
        return (bool(on) or not subset) and all(keep(*t) for t in on)

    theirs = {e.identity: e for e in target.dump.entries if _compared(e)}
    ours = {e.identity: e for e in source.dump.entries if _compared(e) and wanted(e)}
    out, equal = [], set()
    for identity, e in ours.items():
        other, name = theirs.get(identity), entries.display_name(e)
        if other is None:
            out.append(SchemaDifference(entries.kind_name(e), name, "missing on target"))
        elif entries.same_definition(other, e) or made_by_pghaul(
            target.created, identity, e.defn, other.defn
        ):
            equal.add(entries.normalized(name))
        else:
            out.append(SchemaDifference(entries.kind_name(e), name, "differs", ("definition",)))
    if not subset:
        out += [SchemaDifference(entries.kind_name(e), entries.display_name(e), "extra on target")
                for identity, e in theirs.items() if identity not in ours]
    return out, equal
