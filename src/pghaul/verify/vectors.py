"""Vector search gives the same answers on the target: exact nearest neighbours for sample source rows.

For each pgvector index, the first ``samples`` rows by primary key on the source are the queries. Each runs as an
exact k-NN search (index scans disabled, so the answer does not depend on the index's approximation) with the
operator of the index's opclass, on both sides. Neighbour ids must match; distances must match within float
tolerance, and rows tied at the same distance may come back in any order.
"""

from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.inspect.model import Catalog, Index, Table, qualified
from pghaul.verify.report import VectorCheck

# The distance operator each pgvector opclass indexes, by opclass name suffix.
_OPERATORS = {
    "_l2_ops": "<->",
    "_ip_ops": "<#>",
    "_cosine_ops": "<=>",
    "_l1_ops": "<+>",
    "_hamming_ops": "<~>",
    "_jaccard_ops": "<%>",
}

# Distances are float sums; pgvector versions (and their SIMD code paths) may round the last bits differently.
_REL_TOLERANCE = 1e-5
_ABS_TOLERANCE = 1e-6

_DISABLE_INDEXES = ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan")

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_INDEXED = re.compile(
    rf"USING \w+ \((?P<column>{_IDENT})(?: (?:{_IDENT}\.)?(?P<opclass>{_IDENT}))?(?:\)|\s)"
)

# pg_get_indexdef leaves out a default opclass: pgvector's default is the L2 one (Hamming for bit).
_DEFAULT_OPCLASS = "default_l2_ops"
_DEFAULT_BIT_OPCLASS = "bit_hamming_ops"


@dataclass(frozen=True)
class Neighbour:
    key: tuple[str | None, ...]
    distance: float


def _unquote(identifier: str) -> str:
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier


def indexed_column(index: Index) -> tuple[str, str] | None:
    """(column, opclass name without schema) of a single-column vector index; None for an expression index.

    When the definition names no opclass (it is the type's default) the opclass returned is "default_l2_ops".
    """
    match = _INDEXED.search(index.definition)
    if match is None:
        return None
    opclass = match.group("opclass")
    return _unquote(match.group("column")), _unquote(opclass) if opclass is not None else _DEFAULT_OPCLASS


def operator_for(opclass: str) -> str | None:
    for suffix, operator in _OPERATORS.items():
        if opclass.endswith(suffix):
            return operator
    return None


def _neighbours_query(table: Table, column: str, operator_schema: str, operator: str, k: int) -> sql.Composed:
    keys = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in table.primary_key)
    order_keys = sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(c)) for c in table.primary_key)
    return sql.SQL(
        "SELECT ({col} OPERATOR({schema}.{op}) %s::{type})::float8 AS distance{sep}{keys} FROM ONLY {table} "
        "WHERE {col} IS NOT NULL ORDER BY distance{order_keys} LIMIT {limit}"
    ).format(
        col=sql.Identifier(column),
        schema=sql.Identifier(operator_schema),
        # "<%>" (Jaccard) holds a percent sign, which psycopg would read as a placeholder.
        op=sql.SQL(operator.replace("%", "%%")),
        type=sql.SQL(table.column(column).type),
        sep=sql.SQL(", " if table.primary_key else ""),
        keys=keys if table.primary_key else sql.SQL(""),
        table=sql.Identifier(table.schema, table.name),
        order_keys=order_keys,
        limit=sql.Literal(k + 1),
    )


def _exact_neighbours(conn: psycopg.Connection, query: sql.Composed, vector_text: str) -> list[Neighbour]:
    # SET LOCAL keeps the planner settings inside this transaction; the source session stays read-only.
    with conn.transaction():
        for setting in _DISABLE_INDEXES:
            conn.execute("SELECT pg_catalog.set_config(%s, 'off', true)", (setting,))
        rows = conn.execute(query, (vector_text,)).fetchall()
    return [Neighbour(tuple(row[1:]), float(row[0])) for row in rows]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_REL_TOLERANCE, abs_tol=_ABS_TOLERANCE)


def same_neighbours(source: list[Neighbour], target: list[Neighbour], k: int) -> str | None:
    """None when both answers agree, else what differs. Both lists hold up to k + 1 rows in distance order.

    The extra row tells whether the k-th neighbour is tied with a row outside the answer: then which of the
    tied rows made the cut is arbitrary, and only their distances are compared.
    """
    if len(source) != len(target):
        return f"{len(source)} rows within reach on source, {len(target)} on target"
    for i, (s, t) in enumerate(zip(source, target, strict=True)):
        if not _close(s.distance, t.distance):
            return f"neighbour {i + 1}: distance {s.distance!r} on source, {t.distance!r} on target"
    shown = min(k, len(source))
    start = 0
    while start < shown:
        end = start + 1
        while end < len(source) and _close(source[end].distance, source[start].distance):
            end += 1
        # A tie group reaching past the k-th row was cut by LIMIT: which of its rows made the cut is arbitrary.
        if end <= shown:
            src_keys = sorted(repr(n.key) for n in source[start:end])
            tgt_keys = sorted(repr(n.key) for n in target[start:end])
            if src_keys != tgt_keys:
                return f"neighbours {start + 1}-{end}: ids {src_keys} on source, {tgt_keys} on target"
        start = end
    return None


def check_vector_index(
    source: psycopg.Connection,
    target: psycopg.Connection,
    source_catalog: Catalog,
    index: Index,
    on_target: bool,
    samples: int,
    k: int,
    pool: ThreadPoolExecutor,
) -> VectorCheck:
    table = source_catalog.tables[(index.table_schema, index.table)]
    name = qualified(index.schema, index.name)
    parsed = indexed_column(index)
    if parsed is None:
        return VectorCheck(table.display_name, "", name, "", k, note="expression index: only plain columns are checked")
    column, opclass = parsed
    if opclass == _DEFAULT_OPCLASS and re.match(r"bit\b", table.column(column).type):
        opclass = _DEFAULT_BIT_OPCLASS
    operator = operator_for(opclass)
    if operator is None:
        return VectorCheck(table.display_name, column, name, "", k, note=f"unknown operator class {opclass}")
    if not on_target:
        return VectorCheck(table.display_name, column, name, operator, k, error="table missing on target")
    vector_ext = source_catalog.extensions.get("vector")
    operator_schema = vector_ext.schema if vector_ext is not None else "public"
    query = _neighbours_query(table, column, operator_schema, operator, k)
    order = sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key) if table.primary_key else sql.SQL("1")
    sample_query = sql.SQL(
        "SELECT {col}::text FROM ONLY {table} WHERE {col} IS NOT NULL ORDER BY {order} LIMIT %s"
    ).format(
        col=sql.Identifier(column), table=sql.Identifier(table.schema, table.name), order=order
    )
    mismatches: list[str] = []
    try:
        with source.transaction():
            probes = [row[0] for row in source.execute(sample_query, (samples,)).fetchall()]
        for number, probe in enumerate(probes, start=1):
            on_target = pool.submit(_exact_neighbours, target, query, probe)
            try:
                on_source = _exact_neighbours(source, query, probe)
            finally:
                # Never leave the target's query running behind an error on the source.
                target_answer = on_target.result()
            problem = same_neighbours(on_source, target_answer, k)
            if problem is not None:
                mismatches.append(f"sample {number}: {problem}")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return VectorCheck(table.display_name, column, name, operator, k, error=first)
    return VectorCheck(table.display_name, column, name, operator, k, samples=len(probes), mismatches=tuple(mismatches))
