"""The planner alone: pure functions over hand-made catalogs, no server."""

from __future__ import annotations

import dataclasses

from pghaul.inspect.model import (
    Catalog,
    Column,
    Constraint,
    Extension,
    Function,
    Index,
    Schema,
    ServerInfo,
    Table,
    View,
)
from pghaul.plan import CONFLICT, CREATE, EXISTS, POST_DATA, PRE_DATA, PlanOptions, build_plan

SERVER = ServerInfo(180006, "18.6", "1", "db")


def _table(schema: str, name: str, **kw: object) -> Table:
    columns = (Column("id", "integer", True, None, None), Column("v", "text", False, None, None))
    return Table(schema, name, columns, primary_key=("id",), primary_key_name=f"{name}_pkey", **kw)  # type: ignore[arg-type]


def _catalog() -> Catalog:
    c = Catalog(server=SERVER)
    c.schemas = {"public": Schema("public"), "app": Schema("app")}
    c.extensions = {"vector": Extension("vector", "0.8.6", "public")}
    for t in (_table("public", "a"), _table("public", "b"), _table("app", "logs")):
        c.tables[t.key] = t
        pk = Constraint(t.schema, t.name, f"{t.name}_pkey", "p", "PRIMARY KEY (id)", ("id",))
        c.constraints[pk.key] = pk
    fk = Constraint("public", "a", "a_b", "f", "FOREIGN KEY (v) REFERENCES public.b(id)", ("v",), ("public", "b"))
    c.constraints[fk.key] = fk
    c.indexes[("public", "a_v")] = Index(
        "public", "a_v", "public", "a", "CREATE INDEX a_v ON public.a USING btree (v)", "btree"
    )
    c.views[("public", "second")] = View(
        "public", "second", " SELECT 1 FROM public.first;", depends_on=(("public", "first"),)
    )
    c.views[("public", "first")] = View("public", "first", " SELECT id FROM public.a;", depends_on=(("public", "a"),))
    c.functions[("public", "row_fn", "r public.a")] = Function(
        "public",
        "row_fn",
        "r public.a",
        "f",
        "CREATE OR REPLACE FUNCTION public.row_fn(r public.a) ...",
        depends_on_tables=(("public", "a"),),
    )
    c.functions[("public", "plain", "")] = Function(
        "public", "plain", "", "f", "CREATE OR REPLACE FUNCTION public.plain() ..."
    )
    return c


def _order(plan: object, *names: str) -> list[int]:
    steps = plan.steps  # type: ignore[attr-defined]
    return [next(i for i, s in enumerate(steps) if s.name == n) for n in names]


def test_phase_order_and_dependencies() -> None:
    plan = build_plan(_catalog(), Catalog(server=SERVER))
    assert all(s.status == CREATE for s in plan.steps)
    phases = [s.phase for s in plan.steps]
    assert phases == sorted(phases, key=[PRE_DATA, POST_DATA].index)
    kinds = [s.kind for s in plan.steps]
    assert kinds.index("schema") < kinds.index("extension") < kinds.index("table")
    plain, tables, row_fn = _order(plan, "public.plain()", "public.a", "public.row_fn(r public.a)")
    assert plain < tables < row_fn
    index, fk, first, second = _order(plan, "public.a_v", "public.a.a_b", "public.first", "public.second")
    assert index < fk < first < second
    assert plan.steps[index].table == ("public", "a") and plan.steps[fk].table is None
    assert "SET LOCAL check_function_bodies = off;" in plan.steps[row_fn].sql


def test_statuses_compare_source_and_target() -> None:
    source = _catalog()
    target = Catalog(server=SERVER)
    target.schemas = dict(source.schemas)
    target.tables[("public", "a")] = source.tables[("public", "a")]
    changed = _table("public", "b")
    target.tables[("public", "b")] = dataclasses.replace(changed, columns=changed.columns[:1])
    plan = build_plan(source, target)
    status = {s.name: s.status for s in plan.steps}
    assert status["public"] == EXISTS and status["public.a"] == EXISTS
    assert status["public.b"] == CONFLICT and status["app.logs"] == CREATE
    assert [s.name for s in plan.conflicts] == ["public.b"]
    script = plan.render_sql()
    assert "CONFLICT table public.b" in script and 'CREATE TABLE "app"."logs"' in script
    assert 'CREATE TABLE "public"."a"' not in script


def test_include_and_exclude_patterns() -> None:
    plan = build_plan(_catalog(), Catalog(server=SERVER), PlanOptions(exclude=("public.b",)))
    names = {s.name for s in plan.steps}
    assert "public.b" not in names and "public.a" in names and "app.logs" in names
    assert "public.a.a_b" not in names  # its foreign key points at a table left out
    assert any("public.a.a_b" in n for n in plan.notes)
    only_app = build_plan(_catalog(), Catalog(server=SERVER), PlanOptions(include=("app.*",)))
    assert [t.display_name for t in only_app.tables] == ["app.logs"]
    assert not any(s.name == "public.first" for s in only_app.steps)  # reads a table left out


def test_identifiers_are_quoted_and_render_needs_no_connection() -> None:
    source = Catalog(server=SERVER)
    t = _table('we"ird schema', "Ünï table")
    source.tables[t.key] = t
    source.schemas = {t.schema: Schema(t.schema)}
    plan = build_plan(source, Catalog(server=SERVER))
    assert 'CREATE SCHEMA "we""ird schema";' in plan.render_sql(PRE_DATA)
    assert 'CREATE TABLE "we""ird schema"."Ünï table" (' in plan.render_sql()
