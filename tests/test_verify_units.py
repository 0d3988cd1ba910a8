"""The pure parts of verification: neighbour comparison with ties, index parsing, report wording."""

from __future__ import annotations

from pghaul.inspect.model import Catalog, Extension, ServerInfo
from pghaul.inspect.model import Index as IndexDef
from pghaul.verify.report import KeyRange, SequenceCheck, SequencePosition
from pghaul.verify.schema_diff import compare_extensions
from pghaul.verify.vectors import Neighbour, indexed_column, operator_for, same_neighbours


def _n(*pairs: tuple[str, float]) -> list[Neighbour]:
    return [Neighbour((key,), distance) for key, distance in pairs]


def test_same_neighbours_accepts_equal_answers_and_reordered_ties() -> None:
    source = _n(("1", 0.0), ("7", 0.5), ("8", 0.5), ("3", 0.9))
    assert same_neighbours(source, source, 3) is None
    assert same_neighbours(source, _n(("1", 0.0), ("8", 0.5), ("7", 0.5), ("3", 0.9)), 3) is None


def test_same_neighbours_tolerates_which_tied_row_made_the_cut() -> None:
    source = _n(("1", 0.0), ("7", 0.5), ("8", 0.5))
    target = _n(("1", 0.0), ("8", 0.5), ("9", 0.5))
    assert same_neighbours(source, target, 2) is None


def test_same_neighbours_rejects_other_ids_or_distances() -> None:
    source = _n(("1", 0.0), ("2", 0.4), ("3", 0.9))
    assert "ids" in (same_neighbours(source, _n(("1", 0.0), ("5", 0.4), ("3", 0.9)), 2) or "")
    assert "distance" in (same_neighbours(source, _n(("1", 0.0), ("2", 0.41), ("3", 0.9)), 2) or "")
    assert same_neighbours(source, source[:2], 2) is not None


def test_same_neighbours_tolerates_last_bit_rounding() -> None:
    assert same_neighbours(_n(("1", 0.123456789)), _n(("1", 0.1234567891)), 1) is None


def _index(definition: str) -> IndexDef:
    return IndexDef("public", "i", "public", "t", definition, "hnsw")


def test_indexed_column_and_operator_from_the_index_definition() -> None:
    plain = _index("CREATE INDEX i ON public.t USING hnsw (embedding public.vector_cosine_ops) WITH (m='16')")
    assert indexed_column(plain) == ("embedding", "vector_cosine_ops")
    quoted = _index('CREATE INDEX i ON public.t USING ivfflat ("My ""Vec""" extensions.halfvec_l2_ops)')
    assert indexed_column(quoted) == ('My "Vec"', "halfvec_l2_ops")
    assert indexed_column(_index("CREATE INDEX i ON public.t USING hnsw (((v)::public.halfvec(3)) x_ops)")) is None
    assert indexed_column(_index("CREATE INDEX i ON public.t USING ivfflat (embedding) WITH (lists='4')")) == (
        "embedding",
        "default_l2_ops",
    )
    assert [operator_for(o) for o in ("vector_l2_ops", "sparsevec_ip_ops", "halfvec_l1_ops", "bit_jaccard_ops")] == [
        "<->",
        "<#>",
        "<+>",
        "<%>",
    ]
    assert operator_for("int4_ops") is None


def _catalog(**versions: str) -> Catalog:
    info = ServerInfo(180006, "18.6", "1", "db")
    return Catalog(info, extensions={n: Extension(n, v, "public") for n, v in versions.items()})


def test_extension_versions_newer_on_target_is_not_a_failure() -> None:
    compared = compare_extensions(_catalog(vector="0.6.2", x="1.10"), _catalog(vector="0.8.6", x="1.9"))
    checks = {c.name: c for c in compared}
    assert (checks["vector"].status, checks["vector"].ok) == ("newer on target", True)
    assert (checks["x"].status, checks["x"].ok) == ("older on target", False)
    missing = compare_extensions(_catalog(hstore="1.8"), _catalog())
    assert [(c.status, c.ok) for c in missing] == [("missing on target", False)]


def test_report_wording() -> None:
    ahead = SequenceCheck("public.s", SequencePosition(5, True), SequencePosition(9, True))
    assert "ahead of" in ahead.problems()[0]
    uncalled = SequenceCheck("public.s", SequencePosition(1, True), SequencePosition(1, False))
    assert "not at" in uncalled.problems()[0] and "not yet called" in uncalled.problems()[0]
    key_range = KeyRange(2, ("a", "1"), ("c", "3"), 10, 9)
    assert key_range.describe(("name", "n")) == (
        "range 2 (('a', '1') < key <= ('c', '3')): 10 rows on source, 9 on target"
    )


def test_render_shows_every_part_of_the_report() -> None:
    from rich.console import Console

    from pghaul.cli.render import render_report
    from pghaul.verify.report import ExtensionCheck, SchemaDifference, TableCheck, VerifyReport

    report = VerifyReport(
        "u@h/src",
        "u@h/dst",
        tables=[
            TableCheck("public.a", ("id",), 10, 10, 2, True),
            TableCheck("public.b", ("id",), 10, 9, 2, False, (KeyRange(1, ("5",), None, 5, 4),)),
        ],
        sequences=[SequenceCheck("public.a_id_seq", SequencePosition(10, True), SequencePosition(10, True))],
        schema_diff=[SchemaDifference("indexes", "public.b_idx", "missing on target")],
        extensions=[ExtensionCheck("vector", "0.6.2", "0.8.6", "newer on target")],
    )
    console = Console(record=True, width=140)
    for part in render_report(report):
        console.print(part)
    text = console.export_text()
    for expected in ("public.a", "public.b", "DIFFERS", "1 of 2", "public.a_id_seq", "0.8.6", "newer on target",
                     "index public.b_idx: missing on target", "range 1 ('5' < key)"):
        assert expected in text
