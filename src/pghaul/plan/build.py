"""Two databases -> the ordered steps that make the target's schema the source's. Pure: no I/O.

Every statement comes from pg_dump 18's archive of the source (:mod:`pghaul.dump`), which knows every object
kind of every server version since 9.2; whether the target already has an object comes from the same archive
of the target (same kind, schema and name: ``exists`` when the definitions are equal, ``conflict`` when not).
The typed catalog (:mod:`pghaul.inspect`) supplies what pghaul reasons about: which tables are selected and
copied, their keys, which indexes are vector indexes, which sequences belong to which table.

Order: pg_dump's own, which puts every object after what it depends on (a domain over a table's row type
after that table, a view after the aggregate it calls, event triggers last), with three changes:
- primary keys (and the attachment of a partition's key to its parent's) move from post-data to the end of
  pre-data, so rows arrive into keyed tables: chunks follow the key, and a chunk that collides fails whole;
- a post-data index, constraint or statistics object names its table, so the data phase builds it as soon
  as that table's rows are in;
- each populated materialized view is refreshed once everything else but the event triggers exists.
Objects that need a table left out of the run (by ``--tables`` / ``--exclude``) are left out with it.
"""

from __future__ import annotations

from collections import defaultdict
from fnmatch import fnmatchcase

from psycopg import sql

from pghaul.created_objects import digest, made_by_pghaul
from pghaul.dump import ArchiveEntry, Section
from pghaul.errors import UsageError
from pghaul.inspect.model import Catalog, Table, qualified
from pghaul.kinds import StepKind
from pghaul.plan import ddl, entries
from pghaul.plan.owners import owner_statement
from pghaul.plan.steps import CONFLICT, CREATE, EXISTS, POST_DATA, PRE_DATA, Plan, PlanOptions, Step

OWNERS_NOTE = (
    "owners and grants are not copied: everything is created by, and owned by, the role pghaul connects to the "
    "target as (--owners and --privileges carry them when the target has the roles)"
)

_PRE, _KEYS, _POST, _LAST = "pre", "keys", "post", "last"


def select_tables(catalog: Catalog, options: PlanOptions) -> dict[tuple[str, str], Table]:
    """The tables ``options`` selects; a partition goes with its parent, whatever its own name."""

    def matches(t: Table) -> bool:
        name = qualified(t.schema, t.name)
        if options.include and not any(fnmatchcase(name, p) for p in options.include):
            return False
        return not any(fnmatchcase(name, p) for p in options.exclude)

    def root(t: Table) -> Table:
        while t.partition_of is not None and t.partition_of in catalog.tables:
            t = catalog.tables[t.partition_of]
        return t

    return {k: t for k, t in catalog.tables.items() if matches(root(t))}


def refuse_empty_selection(catalog: Catalog, selected: dict[tuple[str, str], Table] | set[tuple[str, str]],
                           options: PlanOptions) -> None:
    """Patterns that name no table are a mistyped name, not a request to move nothing: a run that copied and
    verified zero tables and said "complete" would hide it (the same refusal as sync's). A pattern naming only a
    partition selects nothing on its own (it goes with its parent), as before: that is not refused here."""
    if not (options.include or options.exclude) or selected:
        return
    names = [qualified(t.schema, t.name) for t in catalog.tables.values()]
    if any(fnmatchcase(name, p) for name in names for p in options.include):
        return
    shown = ", ".join(repr(p) for p in options.include) or "every table"
    raise UsageError(
        f"no table of the source matches --include/--exclude (include {shown})",
        "check the patterns: schema.table, where * ? and [ ] are wildcards (escape them as [*] [?] [[] to "
        "match them literally); `pghaul tables` lists the names",
    )


def _archive_entries(catalog: Catalog) -> tuple[ArchiveEntry, ...]:
    if catalog.dump is None:
        raise ValueError("the catalog was inspected without its pg_dump archive")
    return catalog.dump.entries


class _Planner:
    def __init__(self, source: Catalog, target: Catalog, options: PlanOptions) -> None:
        self.source = source
        self.target = target
        self.options = options
        self.entries = _archive_entries(source)
        self.by_id = {e.dump_id: e for e in self.entries}
        self.on_target = {e.identity: e for e in _archive_entries(target)}
        self.tables = select_tables(source, options)
        refuse_empty_selection(source, self.tables, options)
        self.left_out = set(source.tables) - set(self.tables)
        self.notes: list[str] = [] if options.owners and options.privileges else [OWNERS_NOTE]
        self.group_of: dict[int, str] = {}
        self.inheritance_parents = {p for t in source.tables.values() for p in t.inherits}

    # which entries take part

    def _left_out_ids(self) -> set[int]:
        """Entries of left-out tables (and of sequences they own), and everything that depends on them."""
        out = {e.dump_id for e in self.entries if e.desc == "TABLE" and (e.namespace, e.tag) in self.left_out}
        owned = {s.key for s in self.source.sequences.values() if s.owned_by and s.owned_by[:2] in self.left_out}
        out |= {e.dump_id for e in self.entries if e.desc == "SEQUENCE" and (e.namespace, e.tag) in owned}
        changed = bool(out)
        while changed:
            changed = False
            for e in self.entries:
                if e.dump_id not in out and any(d in out for d in e.deps):
                    out.add(e.dump_id)
                    changed = True
        return out

    def _primary_key_ids(self) -> set[int]:
        keys = {(c.schema, f"{c.table} {c.name}") for c in self.source.constraints.values() if c.type == "p"}
        return {e.dump_id for e in self.entries if e.desc == "CONSTRAINT" and (e.namespace, e.tag) in keys}

    def _group(self, e: ArchiveEntry, keys: set[int], seen_post: bool) -> str:
        if e.desc == entries.EVENT_TRIGGER:
            return _LAST
        if e.dump_id in keys or (e.desc == "INDEX ATTACH" and any(d in keys for d in e.deps)):
            return _KEYS
        if e.section == Section.PRE_DATA:
            return _PRE
        if e.section == Section.POST_DATA:
            return _POST
        # A comment, a grant, a security label: with the object it is about.
        for dep in e.deps:
            if dep in self.group_of:
                return self.group_of[dep]
        return _POST if seen_post else _PRE

    # one step

    def _table_of(self, e: ArchiveEntry) -> tuple[str, str] | None:
        """The copied table a post-data object is built from, so the data phase can build it early."""
        if e.desc == "TABLE":
            return (e.namespace, e.tag)
        if e.desc not in entries.BUILT_PER_TABLE:
            return None
        for dep in e.deps:
            owner = self.by_id.get(dep)
            if owner is not None and owner.desc == "TABLE":
                key = (owner.namespace, owner.tag)
                # A constraint on an inheritance parent checks its children's rows too: it waits for all data.
                inherited = e.desc == "CONSTRAINT" and key in self.inheritance_parents
                return key if key in self.tables and not inherited else None
        return None

    def _kind(self, e: ArchiveEntry, keys: set[int]) -> StepKind | str:
        if e.dump_id in keys:
            return StepKind.PRIMARY_KEY
        if e.desc == "INDEX":
            index = self.source.indexes.get((e.namespace, e.tag))
            if index is not None and index.is_vector:
                return StepKind.VECTOR_INDEX
        return entries.kind_name(e)

    def _status(self, e: ArchiveEntry) -> str:
        if e.desc == "EXTENSION":
            return self._extension_status(e.tag)
        other = self.on_target.get(e.identity)
        if other is None:
            return CREATE
        if entries.same_definition(other, e):
            return EXISTS
        # Printed otherwise by the target's server, but made by pghaul from this very statement: its own work.
        return EXISTS if made_by_pghaul(self.target.created, e.identity, e.defn, other.defn) else CONFLICT

    def _extension_status(self, name: str) -> str:
        ext, on_target = self.source.extensions.get(name), self.target.extensions.get(name)
        if on_target is None:
            return CREATE
        # Another version on the target is fine (the safety check refuses an older one); another schema is not:
        # every type and operator class would print with a different name.
        return EXISTS if ext is None or on_target.schema == ext.schema else CONFLICT

    def _sql(self, e: ArchiveEntry) -> str:
        ext = self.source.extensions.get(e.tag) if e.desc == "EXTENSION" else None
        if ext is not None:
            # pghaul asks for the source's version where the target offers it.
            return ddl.extension(ext, self.target.available_extensions.get(ext.name))
        text = e.defn.strip()
        if e.tableam and e.relkind == ord("p"):
            # A partitioned table ignores the session's default: its method is set on it, for its partitions.
            text = f"{text}\n{ddl.set_access_method(e.namespace, e.tag, e.tableam)}"
        elif e.tableam:
            text = ddl.with_table_access_method(e.tableam, text)
        owner = owner_statement(e) if self.options.owners else None
        return f"{text}\n{owner}" if owner else text

    def step(self, e: ArchiveEntry, phase: str, keys: set[int]) -> Step:
        return Step(phase=phase, kind=self._kind(e, keys), name=entries.display_name(e), sql=self._sql(e),
                    table=self._table_of(e), status=self._status(e), entry_id=e.dump_id, needs=e.deps,
                    identity=e.identity, statement_md5=digest(e.defn))

    # the whole plan

    def build(self) -> list[Step]:
        left_out = self._left_out_ids()
        keys = self._primary_key_ids()
        groups: dict[str, list[Step]] = defaultdict(list)
        seen_post = False
        for e in self.entries:
            seen_post = seen_post or e.section == Section.POST_DATA
            if e.dump_id in left_out or not entries.is_step(e, self.options.privileges, self.options.owners):
                continue
            group = self.group_of[e.dump_id] = self._group(e, keys, seen_post)
            groups[group].append(self.step(e, PRE_DATA if group in (_PRE, _KEYS) else POST_DATA, keys))
        self._notes(left_out)
        return [*groups[_PRE], *groups[_KEYS], *groups[_POST], *self._refreshes(left_out), *groups[_LAST]]

    def _columns_reorder(self, table: Table) -> bool:
        """Whether CREATE TABLE … INHERITS, as pg_dump writes it, puts the columns in another order."""
        if not table.inherits:
            return False
        inherited: list[str] = []
        for parent in table.inherits:
            for column in self.source.tables[parent].columns if parent in self.source.tables else ():
                if column.name not in inherited:
                    inherited.append(column.name)
        own = [c.name for c in table.columns if c.name not in inherited]
        return [c.name for c in table.columns] != inherited + own

    def _refreshes(self, left_out: set[int]) -> list[Step]:
        out = []
        for e in self.entries:
            if e.desc != "MATERIALIZED VIEW" or e.dump_id in left_out:
                continue
            m = self.source.materialized_views.get((e.namespace, e.tag))
            if m is None or not m.populated:
                continue  # unpopulated on the source: stays so
            on_target = self.target.materialized_views.get(m.key)
            status = EXISTS if on_target is not None and on_target.populated else CREATE
            out.append(Step(POST_DATA, StepKind.REFRESH, qualified(*m.key), ddl.refresh(m), status=status))
        return out

    def _notes(self, left_out: set[int]) -> None:
        tables = {e.dump_id for e in self.entries if e.desc == "TABLE" and (e.namespace, e.tag) in self.left_out}
        dependents = [
            f"{entries.kind_name(e)} {entries.display_name(e)}" for e in self.entries
            if e.dump_id in left_out and e.dump_id not in tables and entries.is_step(e, self.options.privileges)
        ]
        if dependents:
            self.notes.append("objects that need tables left out of this run are not created: " + ", ".join(dependents))
        mappings = [e.tag for e in self.entries if e.desc == entries.USER_MAPPING]
        if mappings:
            self.notes.append(
                "user mappings are not copied, since they hold another server's credentials; create them on the "
                "target with their passwords: " + ", ".join(mappings)
            )
        placed = sorted({e.tablespace for e in self.entries if e.tablespace and e.dump_id not in left_out})
        if placed:
            self.notes.append(
                "tablespaces are not carried: objects the source keeps in " + ", ".join(placed)
                + " are created in the target's default tablespace"
            )
        if self.source.subscriptions:
            self.notes.append(
                "subscriptions are not copied (they belong to the server that receives changes): "
                + ", ".join(self.source.subscriptions)
            )
        foreign = [entries.display_name(e) for e in self.entries if e.desc == "FOREIGN TABLE"]
        if foreign:
            self.notes.append("foreign tables are created, their rows stay on their own server: " + ", ".join(foreign))
        reordered = [t.display_name for t in self.tables.values() if self._columns_reorder(t)]
        if reordered:
            self.notes.append(
                "column order will differ on the target, as after pg_dump | pg_restore: a table created with "
                "INHERITS gets its parents' columns first, and these have a column of their own before one a "
                "parent gained later (rows are copied by column name; verify reports the order): "
                + ", ".join(reordered)
            )
        keyless = [t.display_name for t in self.tables.values() if t.kind == "r" and not t.primary_key]
        if keyless:
            self.notes.append(
                "tables without a primary key (copied in one piece, cannot resume mid-table): " + ", ".join(keyless)
            )


def build_plan(source: Catalog, target: Catalog, options: PlanOptions = PlanOptions()) -> Plan:
    """The steps that recreate ``source``'s schema on ``target``, each marked create, exists or conflict."""
    planner = _Planner(source, target, options)
    steps = planner.build()
    tables = list(planner.tables.values())
    return Plan(steps=steps, notes=planner.notes, tables=tables,
                analyze_steps=analyze_steps(tables) if options.analyze else [])


def analyze_steps(tables: list[Table]) -> list[Step]:
    """One ANALYZE per table that holds rows, named for its table so the data phase runs it with the table's own
    post-data steps (after its indexes, whose expressions get statistics too), while other tables still copy."""
    return [
        Step(POST_DATA, StepKind.ANALYZE, t.display_name,
             # No session needed to quote identifiers: the plan stays pure.
             sql.SQL("ANALYZE {};").format(sql.Identifier(t.schema, t.name)).as_string(None), table=t.key)
        for t in tables if t.kind == "r"
    ]
