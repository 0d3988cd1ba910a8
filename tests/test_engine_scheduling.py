"""The order the data phase hands out work in: every copy range before any index build, longest range first."""

from __future__ import annotations

from pghaul.copy.parallel import StepBatch, TableJob, _Scheduler
from pghaul.copy.state import RangeState
from pghaul.inspect.model import Table


def _job(name: str, size_bytes: int, rows: int, parts: int) -> TableJob:
    table = Table("public", name, (), primary_key=("id",), rows_estimated=rows, size_bytes=size_bytes)
    ranges = tuple(
        RangeState("public", name, i, None, None, None, False, rows // parts, 0, 0, 0, False) for i in range(parts)
    )
    return TableJob(table, ranges, True, rows)


def test_ranges_go_out_longest_first_and_index_builds_only_once_no_range_is_left() -> None:
    wide = _job("wide", 600, 100, 2)  # 300 bytes a range
    narrow = _job("narrow", 400, 1000, 4)  # 100 bytes a range
    one = _job("one", 200, 10, 1)  # 200 bytes
    btree = StepBatch(("public", "one"), ("btree step",))
    hnsw = StepBatch(("public", "one"), ("hnsw step",), vector=True)
    scheduler = _Scheduler([narrow, one, wide], {("public", "one"): [btree, hnsw]},
                           {("public", "one"): {("public", "one")}})
    first = scheduler.next()
    assert isinstance(first, tuple) and first[0] is wide
    order = [first]
    for _ in range(6):
        task = scheduler.next()
        assert isinstance(task, tuple)
        order.append(task)
        if task[0] is one:
            scheduler.finished(task, None)
            scheduler.table_done(("public", "one"))  # its steps are ready now, but ranges are still waiting
    assert [(job.table.name, rng.range_no) for job, rng in order] == [
        ("wide", 0), ("wide", 1), ("one", 0), ("narrow", 0), ("narrow", 1), ("narrow", 2), ("narrow", 3),
    ]
    assert scheduler.next() is btree
    assert scheduler.next() is hnsw


def test_a_vector_index_is_told_by_the_plans_kind_not_by_its_sql() -> None:
    """Moved from the regex check on step SQL: the plan's kind decides, whatever the statement reads like."""
    from pghaul.copy.parallel import batches_for
    from pghaul.kinds import StepKind
    from pghaul.plan.steps import POST_DATA, Step

    owner = ("public", "t")
    hnsw = Step(POST_DATA, StepKind.VECTOR_INDEX, "public.x", "CREATE INDEX x ON public.t USING hnsw (e);", owner)
    btree = Step(POST_DATA, StepKind.INDEX, "public.y", "CREATE INDEX y ON public.t USING btree (hnsw);", owner)
    analyze = Step(POST_DATA, StepKind.ANALYZE, "public.t", 'ANALYZE "public"."t";', owner)
    batches = batches_for([hnsw, btree, analyze])[owner]
    assert [(b.steps, b.vector) for b in batches] == [((btree, analyze), False), ((hnsw,), True)]
