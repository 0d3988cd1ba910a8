"""The planner alone: pure functions over hand-made catalogs and pg_dump archives, no server."""

from __future__ import annotations

import dataclasses

from pghaul.dump import Archive, ArchiveEntry, Section
from pghaul.inspect.model import (
    Catalog,
    Column,
    Constraint,
    Index,
    MaterializedView,
    ServerInfo,
    Table,
)
from pghaul.plan import CONFLICT, CREATE, EXISTS, POST_DATA, PRE_DATA, PlanOptions, build_plan

SERVER = ServerInfo(180006, "18.6", "1", "db")
PRE, POST, NONE = Section.PRE_DATA, Section.POST_DATA, Section.NONE


def _entry(dump_id: int, desc: str, tag: str, section: Section, defn: str, *deps: int, ns: str = "public",
           owner: str = "alice", drop: str = "") -> ArchiveEntry:
    return ArchiveEntry(dump_id, desc, tag, ns, section, defn, drop or f"DROP {desc} {tag};", owner, deps=deps)


def _table(schema: str, name: str) -> Table:
    columns = (Column("id", "integer", True, None, None), Column("v", "text", False, None, None))
    return Table(schema, name, columns, primary_key=("id",), primary_key_name=f"{name}_pkey")


ENTRIES = (
    _entry(1, "ENCODING", "ENCODING", PRE, "SET client_encoding = 'UTF8';", ns=""),
    _entry(2, "SCHEMA", "app", PRE, "CREATE SCHEMA app;", ns=""),
    _entry(3, "AGGREGATE", "grp(text)", PRE, "CREATE AGGREGATE public.grp(text) (SFUNC = textcat, STYPE = text);",
           drop="DROP AGGREGATE public.grp(text);"),
    _entry(4, "TABLE", "a", PRE, "CREATE TABLE public.a (id integer NOT NULL, v text);"),
    _entry(5, "TABLE", "b", PRE, "CREATE TABLE public.b (id integer NOT NULL, v text);"),
    _entry(6, "TABLE", "logs", PRE, "CREATE TABLE app.logs (id integer NOT NULL, v text);", 2, ns="app"),
    _entry(7, "DOMAIN", "row_of_a", PRE, "CREATE DOMAIN public.row_of_a AS public.a;", 4),
    _entry(8, "VIEW", "first", PRE, "CREATE VIEW public.first AS SELECT public.grp(v) FROM public.a;", 4, 3),
    _entry(9, "COMMENT", "TABLE a", NONE, "COMMENT ON TABLE public.a IS 'hi';", 4),
    _entry(10, "MATERIALIZED VIEW", "m", PRE, "CREATE MATERIALIZED VIEW public.m AS SELECT 1 WITH NO DATA;"),
    _entry(20, "CONSTRAINT", "a a_pkey", POST, "ALTER TABLE ONLY public.a ADD CONSTRAINT a_pkey PRIMARY KEY (id);", 4),
    _entry(21, "CONSTRAINT", "b b_pkey", POST, "ALTER TABLE ONLY public.b ADD CONSTRAINT b_pkey PRIMARY KEY (id);", 5),
    _entry(22, "CONSTRAINT", "logs logs_pkey", POST,
           "ALTER TABLE ONLY app.logs ADD CONSTRAINT logs_pkey PRIMARY KEY (id);", 6, ns="app"),
    _entry(23, "INDEX", "a_v", POST, "CREATE INDEX a_v ON public.a USING hnsw (v);", 4),
    _entry(24, "COMMENT", "INDEX a_v", NONE, "COMMENT ON INDEX public.a_v IS 'x';", 23),
    _entry(25, "FK CONSTRAINT", "a a_b", POST,
           "ALTER TABLE ONLY public.a ADD CONSTRAINT a_b FOREIGN KEY (v) REFERENCES public.b(id);", 4, 21),
    _entry(26, "TRIGGER", "a touch", POST, "CREATE TRIGGER touch BEFORE UPDATE ON public.a ...;", 4),
    _entry(27, "EVENT TRIGGER", "audit", POST, "CREATE EVENT TRIGGER audit ON ddl_command_end ...;", ns=""),
    _entry(28, "ACL", "TABLE a", NONE, "GRANT SELECT ON TABLE public.a TO reader;", 4),
    _entry(29, "USER MAPPING", "USER MAPPING alice SERVER remote", PRE,
           "CREATE USER MAPPING FOR alice SERVER remote OPTIONS (password 'hunter2');", ns=""),
)


def _catalog(entries: tuple[ArchiveEntry, ...] = ENTRIES) -> Catalog:
    c = Catalog(server=SERVER, dump=Archive((1, 16, 0), "db", "18.6", "18.6", entries))
    for t in (_table("public", "a"), _table("public", "b"), _table("app", "logs")):
        c.tables[t.key] = t
        pk = Constraint(t.schema, t.name, f"{t.name}_pkey", "p", "PRIMARY KEY (id)", ("id",))
        c.constraints[pk.key] = pk
    c.indexes[("public", "a_v")] = Index("public", "a_v", "public", "a", "CREATE INDEX …", "hnsw")
    c.materialized_views[("public", "m")] = MaterializedView("public", "m", "SELECT 1", populated=True)
    return c


def _empty() -> Catalog:
    return Catalog(server=SERVER, dump=Archive((1, 16, 0), "db", "18.6", "18.6", ()))


def _order(plan: object, *names: str) -> list[int]:
    steps = plan.steps  # type: ignore[attr-defined]
    return [next(i for i, s in enumerate(steps) if s.name == n) for n in names]


def test_pg_dumps_order_with_primary_keys_before_the_data_and_event_triggers_last() -> None:
    plan = build_plan(_catalog(), _empty())
    assert all(s.status == CREATE for s in plan.steps)
    phases = [s.phase for s in plan.steps]
    assert phases == sorted(phases, key=[PRE_DATA, POST_DATA].index)
    table, domain, view, key = _order(plan, "public.a", "public.row_of_a", "public.first", "public.a.a_pkey")
    assert table < domain and view < key  # a domain over a table's row type comes after the table
    assert plan.steps[key].phase == PRE_DATA and plan.steps[key].kind == "primary key"
    index, fk, matview = _order(plan, "public.a_v", "public.a.a_b", "public.m")
    refresh = next(i for i, s in enumerate(plan.steps) if s.kind == "refresh")
    assert plan.steps[index].kind == "vector index" and plan.steps[index].table == ("public", "a")
    assert plan.steps[fk].table is None and plan.steps[fk].kind == "foreign key"
    assert matview < key < refresh == len(plan.steps) - 2 and plan.steps[-1].kind == "event trigger"
    comment = _order(plan, "INDEX public.a_v")[0]
    assert comment == index + 1 and plan.steps[comment].phase == POST_DATA
    assert not any(s.kind in ("encoding", "acl", "user mapping") for s in plan.steps)


def test_user_mappings_are_named_in_a_note_without_their_options() -> None:
    plan = build_plan(_catalog(), _empty())
    assert any("USER MAPPING alice SERVER remote" in n for n in plan.notes)
    assert "hunter2" not in plan.render_sql() and "hunter2" not in str(plan.to_dict())


def test_owners_and_privileges_only_when_asked() -> None:
    plain = build_plan(_catalog(), _empty())
    assert "OWNER TO" not in plain.render_sql()
    carried = build_plan(_catalog(), _empty(), PlanOptions(owners=True, privileges=True))
    script = carried.render_sql()
    assert 'ALTER TABLE "public"."a" OWNER TO "alice";' in script
    assert "ALTER AGGREGATE public.grp(text) OWNER TO" in script
    assert "GRANT SELECT ON TABLE public.a TO reader;" in script


def test_statuses_compare_both_archives() -> None:
    source = _catalog()
    same = [e for e in ENTRIES if e.dump_id in (2, 4)]
    changed = dataclasses.replace(ENTRIES[4], defn="CREATE TABLE public.b (id integer NOT NULL);")
    target = _catalog((*same, changed))
    target.materialized_views = {}
    plan = build_plan(source, target)
    status = {s.name: s.status for s in plan.steps}
    assert status["app"] == EXISTS and status["public.a"] == EXISTS
    assert status["public.b"] == CONFLICT and status["app.logs"] == CREATE
    assert [s.name for s in plan.conflicts] == ["public.b"]
    script = plan.render_sql()
    assert "CONFLICT table public.b" in script and "CREATE TABLE app.logs" in script
    assert "CREATE TABLE public.a" not in script


def test_objects_that_need_a_left_out_table_go_with_it() -> None:
    plan = build_plan(_catalog(), _empty(), PlanOptions(exclude=("public.b",)))
    names = {s.name for s in plan.steps}
    assert "public.b" not in names and "public.a" in names and "app.logs" in names
    assert "public.a.a_b" not in names  # its foreign key points at a table left out
    assert any("foreign key public.a.a_b" in n for n in plan.notes)
    only_app = build_plan(_catalog(), _empty(), PlanOptions(include=("app.*",)))
    assert [t.display_name for t in only_app.tables] == ["app.logs"]
    left = {s.name for s in only_app.steps}
    assert "public.first" not in left and "public.row_of_a" not in left  # they need public.a
    assert "public.grp(text)" in left  # needs no table
