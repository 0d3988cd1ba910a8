"""Two catalogs -> the ordered steps that make the target's schema the source's. Pure: no I/O.

Order, and why:
pre-data:  schemas (an extension may live in one, e.g. Supabase's ``extensions``) -> extensions (the ones
           they require first) -> collations, types -> functions whose signature needs no table -> sequences
           -> tables with their primary keys (parents before partitions and children) -> OWNED BY ->
           functions that need a table (row type in the signature, or a SQL-standard body reading it)
post-data: other indexes, unique/check/exclusion constraints -> foreign keys (after every table, so cycles
           are fine) -> views and materialized views (views on views in dependency order) -> functions
           whose SQL-standard body reads a view -> indexes on materialized views -> refresh -> triggers
           (after the data, so none fires during the copy) -> row-level security and policies -> replica
           identity -> comments
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from pghaul.inspect.model import Catalog, Constraint, Function, MaterializedView, Table, View, qualified
from pghaul.plan import ddl
from pghaul.plan.order import dependency_order
from pghaul.plan.steps import CONFLICT, CREATE, EXISTS, POST_DATA, PRE_DATA, Plan, PlanOptions, Step

OWNERS_NOTE = (
    "owners and grants are not copied: everything is created by, and owned by, the role pghaul connects to the "
    "target as"
)


def _status(source_obj: Any, target_obj: Any, normalize: Callable[[Any], Any] = lambda o: o) -> str:
    if target_obj is None:
        return CREATE
    return EXISTS if normalize(source_obj) == normalize(target_obj) else CONFLICT


def _table_shape(t: Table) -> Table:
    """What CREATE TABLE sets: row security and replica identity are post-data steps of their own."""
    return dataclasses.replace(t, rls_enabled=False, rls_forced=False, replica_identity="d")


def _unrefreshed(m: MaterializedView) -> MaterializedView:
    return dataclasses.replace(m, populated=False)


def _without_owner(s: Any) -> Any:
    return dataclasses.replace(s, owned_by=None)


def _name(*parts: str) -> str:
    return ".".join(parts)


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


class _Planner:
    def __init__(self, source: Catalog, target: Catalog, options: PlanOptions) -> None:
        self.source = source
        self.target = target
        self.tables = select_tables(source, options)
        self.left_out = set(source.tables) - set(self.tables)
        self.steps: list[Step] = []
        self.notes: list[str] = [OWNERS_NOTE]

    def add(
        self, phase: str, kind: str, name: str, sql: str, status: str, table: tuple[str, str] | None = None
    ) -> None:
        self.steps.append(Step(phase=phase, kind=kind, name=name, sql=sql, table=table, status=status))

    # pre-data

    def schemas(self) -> None:
        for name, schema in self.source.schemas.items():
            self.add(PRE_DATA, "schema", name, ddl.schema(name), _status(schema, self.target.schemas.get(name)))

    def extensions(self) -> None:
        ordered = dependency_order(self.source.extensions.values(), lambda e: e.name, lambda e: e.requires)
        for ext in ordered:
            name = ext.name
            on_target = self.target.extensions.get(name)
            # Another version on the target is fine (the safety check refuses an older one); another schema is not:
            # every type and operator class would print with a different name.
            status = CREATE if on_target is None else (EXISTS if on_target.schema == ext.schema else CONFLICT)
            sql = ddl.extension(ext, self.target.available_extensions.get(name))
            self.add(PRE_DATA, "extension", name, sql, status)

    def types(self) -> None:
        s, t = self.source, self.target
        for key, coll in s.collations.items():
            self.add(PRE_DATA, "collation", _name(*key), ddl.collation(coll), _status(coll, t.collations.get(key)))
        for key, e in s.enums.items():
            self.add(PRE_DATA, "type", _name(*key), ddl.enum(e), _status(e, t.enums.get(key)))
        for key, r in s.ranges.items():
            self.add(PRE_DATA, "type", _name(*key), ddl.range_type(r), _status(r, t.ranges.get(key)))
        # Domains and composite types may be built on each other.
        others: list[Any] = [*s.domains.values(), *s.composites.values()]
        for obj in dependency_order(others, lambda o: o.key, lambda o: o.depends_on):
            if obj.key in s.domains:
                self.add(PRE_DATA, "domain", _name(*obj.key), ddl.domain(obj), _status(obj, t.domains.get(obj.key)))
            else:
                sql = ddl.composite(obj)
                self.add(PRE_DATA, "type", _name(*obj.key), sql, _status(obj, t.composites.get(obj.key)))

    def _function_stage(self, f: Function) -> str:
        views = set(self.source.views) | set(self.source.materialized_views)
        if any(d in views for d in f.depends_on_tables):
            return "after views"  # a SQL-standard body (BEGIN ATOMIC) that reads a view
        return "after tables" if f.depends_on_tables else "first"

    def functions(self, stage: str) -> None:
        phase = POST_DATA if stage == "after views" else PRE_DATA
        for key, f in self.source.functions.items():
            if self._function_stage(f) != stage:
                continue
            name = f"{_name(f.schema, f.name)}({f.identity_arguments})"
            kind = "procedure" if f.kind == "p" else "function"
            self.add(phase, kind, name, ddl.function(f), _status(f, self.target.functions.get(key)))

    def _sequence_selected(self, owned_by: tuple[str, str, str] | None) -> bool:
        return owned_by is None or (owned_by[0], owned_by[1]) in self.tables

    def sequences(self) -> None:
        for key, seq in self.source.sequences.items():
            if seq.identity or not self._sequence_selected(seq.owned_by):
                continue  # an identity column creates its own sequence
            status = _status(seq, self.target.sequences.get(key), _without_owner)
            self.add(PRE_DATA, "sequence", _name(*key), ddl.sequence(seq), status)

    def _primary_key(self, t: Table) -> Constraint | None:
        if t.primary_key_name is None:
            return None
        pk = self.source.constraints.get((t.schema, t.name, t.primary_key_name))
        if pk is None or pk.inherited_from_parent:
            return None  # a partition gets its parent's
        return pk

    def tables_(self) -> None:
        def parents(t: Table) -> list[tuple[str, str]]:
            return [*t.inherits, *([t.partition_of] if t.partition_of else [])]

        for t in dependency_order(self.tables.values(), lambda t: t.key, parents):
            sql = ddl.table(t, self._primary_key(t), self.source.sequences)
            status = _status(t, self.target.tables.get(t.key), _table_shape)
            self.add(PRE_DATA, "table", t.display_name, sql, status, table=t.key)

    def sequence_owners(self) -> None:
        for key, seq in self.source.sequences.items():
            if seq.identity or seq.owned_by is None or not self._sequence_selected(seq.owned_by):
                continue
            on_target = self.target.sequences.get(key)
            status = CREATE if on_target is None or on_target.owned_by is None else _status(seq, on_target)
            self.add(PRE_DATA, "sequence owner", _name(*key), ddl.sequence_owner(seq), status)

    # post-data

    def _table_of_index(self, key: tuple[str, str]) -> bool:
        return key in self.source.tables

    def indexes_and_constraints(self) -> None:
        s, t = self.source, self.target
        # An index on a partitioned table prints as "ON ONLY": each partition's index is created by its own step
        # (keeping its name) and attached to its parent's, the way pg_dump does it.
        indexes = [i for i in s.indexes.values() if (i.table_schema, i.table) in self.tables]
        for index in dependency_order(indexes, lambda i: i.key, lambda i: [i.parent_index] if i.parent_index else []):
            table = (index.table_schema, index.table)
            kind = "vector index" if index.is_vector else "index"
            status = _status(index, t.indexes.get(index.key))
            self.add(POST_DATA, kind, _name(*index.key), ddl.index(index), status, table=table)
        for key, con in s.constraints.items():
            if con.type not in ("u", "c", "x") or not self._own_constraint(con):
                continue
            status = _status(con, t.constraints.get(key))
            self.add(POST_DATA, "constraint", _name(*key), ddl.constraint(con), status, table=(con.schema, con.table))

    def _own_constraint(self, con: Constraint) -> bool:
        """Declared on this table (not only inherited) and not a partition's copy of its parent's."""
        return con.is_local and not con.inherited_from_parent and (con.schema, con.table) in self.tables

    def foreign_keys(self) -> None:
        skipped = []
        for key, con in self.source.constraints.items():
            if con.type != "f" or not self._own_constraint(con):
                continue
            if con.references is not None and con.references not in self.tables:
                skipped.append(_name(*key))
                continue
            status = _status(con, self.target.constraints.get(key))
            self.add(POST_DATA, "foreign key", _name(*key), ddl.constraint(con), status)
        if skipped:
            self.notes.append("foreign keys to tables left out of this run are not created: " + ", ".join(skipped))

    def views(self) -> list[MaterializedView]:
        s, t = self.source, self.target
        relations: list[View | MaterializedView] = [*s.views.values(), *s.materialized_views.values()]
        unavailable = set(self.left_out)
        created_matviews = []
        skipped = []
        for rel in dependency_order(relations, lambda r: r.key, lambda r: r.depends_on):
            if any(dep in unavailable for dep in rel.depends_on):
                unavailable.add(rel.key)
                skipped.append(_name(*rel.key))
                continue
            if isinstance(rel, View):
                self.add(POST_DATA, "view", _name(*rel.key), ddl.view(rel), _status(rel, t.views.get(rel.key)))
            else:
                status = _status(rel, t.materialized_views.get(rel.key), _unrefreshed)
                self.add(POST_DATA, "materialized view", _name(*rel.key), ddl.materialized_view(rel), status)
                created_matviews.append(rel)
        if skipped:
            self.notes.append("views that read tables left out of this run are not created: " + ", ".join(skipped))
        return created_matviews

    def matview_indexes(self, matviews: list[MaterializedView]) -> None:
        keys = {m.key for m in matviews}
        for key, index in self.source.indexes.items():
            if (index.table_schema, index.table) in keys:
                status = _status(index, self.target.indexes.get(key))
                self.add(POST_DATA, "index", _name(*key), ddl.index(index), status)

    def refreshes(self, matviews: list[MaterializedView]) -> None:
        for m in matviews:
            if not m.populated:
                continue  # unpopulated on the source: stays so
            on_target = self.target.materialized_views.get(m.key)
            status = EXISTS if on_target is not None and on_target.populated else CREATE
            self.add(POST_DATA, "refresh", _name(*m.key), ddl.refresh(m), status)

    def _on_selected_relation(self, schema: str, table: str) -> bool:
        key = (schema, table)
        return key in self.tables or (key not in self.source.tables and key not in self.left_out)

    def triggers(self) -> None:
        for key, trig in self.source.triggers.items():
            if self._on_selected_relation(trig.schema, trig.table):
                self.add(
                    POST_DATA, "trigger", _name(*key), ddl.trigger(trig), _status(trig, self.target.triggers.get(key))
                )

    def row_security(self) -> None:
        for key, table in self.tables.items():
            on_target = self.target.tables.get(key)
            if table.rls_enabled or table.rls_forced:
                same = on_target is not None and (on_target.rls_enabled, on_target.rls_forced) == (
                    table.rls_enabled,
                    table.rls_forced,
                )
                status = EXISTS if same else CREATE
                self.add(POST_DATA, "row security", table.display_name, ddl.row_security(table), status, table=key)
        roles = set()
        for key, pol in self.source.policies.items():
            if (pol.schema, pol.table) in self.tables:
                roles.update(r for r in pol.roles if r != "public")
                self.add(POST_DATA, "policy", _name(*key), ddl.policy(pol), _status(pol, self.target.policies.get(key)))
        if roles:
            self.notes.append(
                "row-level security policies name roles that must already exist on the target: "
                + ", ".join(sorted(roles))
            )

    def replica_identities(self) -> None:
        by_index = []
        for key, table in self.tables.items():
            if table.replica_identity in ("f", "n"):
                on_target = self.target.tables.get(key)
                same = on_target is not None and on_target.replica_identity == table.replica_identity
                sql = ddl.replica_identity(table)
                self.add(POST_DATA, "replica identity", table.display_name, sql, EXISTS if same else CREATE, table=key)
            elif table.replica_identity == "i":
                by_index.append(table.display_name)
        if by_index:
            self.notes.append(
                "REPLICA IDENTITY USING INDEX is not copied (set it again on the target): " + ", ".join(by_index)
            )

    def comments(self) -> None:
        for key, c in self.source.comments.items():
            if c.object_type == "AGGREGATE":
                continue  # aggregates are not created
            if c.object_type in ("TABLE", "COLUMN", "CONSTRAINT", "TRIGGER", "POLICY"):
                if not self._on_selected_relation(c.schema, c.name):
                    continue
            if c.object_type == "INDEX":
                index = self.source.indexes.get((c.schema, c.name))
                if index is not None and not self._on_selected_relation(index.table_schema, index.table):
                    continue
            label = " ".join(p for p in (c.object_type.lower(), _name(*(x for x in key[1:] if x))) if p)
            self.add(POST_DATA, "comment", label, ddl.comment(c), _status(c, self.target.comments.get(key)))

    def keyless_tables_note(self) -> None:
        keyless = [t.display_name for t in self.tables.values() if t.kind == "r" and not t.primary_key]
        if keyless:
            self.notes.append(
                "tables without a primary key (copied in one piece, cannot resume mid-table): " + ", ".join(keyless)
            )


def build_plan(source: Catalog, target: Catalog, options: PlanOptions = PlanOptions()) -> Plan:
    """The steps that recreate ``source``'s schema on ``target``, each marked create, exists or conflict."""
    p = _Planner(source, target, options)
    p.schemas()
    p.extensions()
    p.types()
    p.functions("first")
    p.sequences()
    p.tables_()
    p.sequence_owners()
    p.functions("after tables")
    p.indexes_and_constraints()
    p.foreign_keys()
    matviews = p.views()
    p.functions("after views")
    p.matview_indexes(matviews)
    p.refreshes(matviews)
    p.triggers()
    p.row_security()
    p.replica_identities()
    p.comments()
    p.keyless_tables_note()
    return Plan(steps=p.steps, notes=p.notes, tables=list(p.tables.values()))
