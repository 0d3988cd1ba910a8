"""An object that exists on the target with another definition is reported and never overwritten."""

from __future__ import annotations

import pytest

from pghaul.connect import connect_source, connect_target
from pghaul.engine.apply import StepFailed, apply_steps
from pghaul.events import Event, StepApplied
from pghaul.inspect import inspect_catalog
from pghaul.plan import CONFLICT, EXISTS, PRE_DATA, Step, build_plan
from tests.conftest import run_sql


def test_conflicting_table_is_reported_and_left_alone(source_url: str, target_url: str) -> None:
    run_sql(source_url, "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE same (id int PRIMARY KEY);")
    run_sql(target_url, "CREATE TABLE t (id int PRIMARY KEY, v integer); CREATE TABLE same (id int PRIMARY KEY);")
    events: list[Event] = []

    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        plan = build_plan(inspect_catalog(src), inspect_catalog(tgt))
        before = inspect_catalog(tgt).tables[("public", "t")]
        result = apply_steps(tgt, plan.steps, events.append)
        after = inspect_catalog(tgt).tables[("public", "t")]

    status = {s.name: s.status for s in plan.steps if s.kind == "table"}
    assert status == {"public.t": CONFLICT, "public.same": EXISTS}
    assert [s.name for s in plan.conflicts] == ["public.t"]
    assert after == before and after.column("v").type == "integer"
    assert result.applied == []
    outcomes = {e.name: e.outcome for e in events if isinstance(e, StepApplied)}
    assert outcomes["public.t"] == "conflict" and outcomes["public.same"] == "skipped"


def test_a_failing_step_leaves_the_steps_before_it_and_nothing_of_itself(target_url: str) -> None:
    good = Step(PRE_DATA, "table", "public.good", "CREATE TABLE public.good (id int);")
    bad = Step(
        PRE_DATA, "table", "public.half", "CREATE TABLE public.half (id int);\nCREATE TABLE public.half (x int);"
    )
    with connect_target(target_url) as tgt:
        with pytest.raises(StepFailed) as caught:
            apply_steps(tgt, [good, bad])
        tables = set(inspect_catalog(tgt).tables)
    assert tables == {("public", "good")}
    assert "public.half" in caught.value.message and "already exists" in caught.value.message
