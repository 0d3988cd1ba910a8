"""DDL for each object kind, built from the catalog's own output (pg_get_*def, format_type, pg_get_expr).

Names are composed with psycopg.sql.Identifier, values with sql.Literal, and the definitions the server
printed are trusted text wrapped in sql.SQL; everything is rendered without a connection. Every function
returns complete statements, each ending with ";".
"""

from __future__ import annotations

from psycopg import sql

from pghaul.inspect.model import (
    AvailableExtension,
    Collation,
    Column,
    Comment,
    CompositeType,
    Constraint,
    Domain,
    EnumType,
    Extension,
    Function,
    Index,
    MaterializedView,
    Policy,
    RangeType,
    Sequence,
    Table,
    Trigger,
    View,
)

_STORAGE = {"p": "PLAIN", "e": "EXTERNAL", "x": "EXTENDED", "m": "MAIN"}
_COMPRESSION = {"p": "pglz", "l": "lz4"}
_TRIGGER_STATE = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER"}

Q = sql.SQL
I = sql.Identifier  # noqa: E741 — reads like the SQL it builds
L = sql.Literal


def trusted(text: str) -> sql.SQL:
    """Text the catalog printed (a definition, a type, an expression): already valid, already quoted."""
    return sql.SQL(text.strip().rstrip(";").rstrip())


def render(*statements: sql.Composable) -> str:
    return "\n".join(s.as_string(None) + ";" for s in statements)


def _join(items: list[sql.Composable], sep: str = ", ") -> sql.Composed:
    return sql.SQL(sep).join(items)


def extension(ext: Extension, available: AvailableExtension | None) -> str:
    stmt = Q("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}").format(I(ext.name), I(ext.schema))
    # A target that ships only a newer version gets its default (the safety check refuses an older one).
    if available is None or ext.version in available.versions:
        stmt = Q("{} VERSION {}").format(stmt, L(ext.version))
    return render(stmt)


def schema(name: str) -> str:
    return render(Q("CREATE SCHEMA {}").format(I(name)))


def collation(c: Collation) -> str:
    options = [Q("provider = {}").format(Q({"c": "libc", "i": "icu", "b": "builtin"}.get(c.provider, "libc")))]
    if c.provider == "c":
        options.append(Q("lc_collate = {}, lc_ctype = {}").format(L(c.lc_collate or ""), L(c.lc_ctype or "")))
    else:
        options.append(Q("locale = {}").format(L(c.locale or "")))
    if not c.deterministic:
        options.append(Q("deterministic = false"))
    return render(Q("CREATE COLLATION {} ({})").format(I(c.schema, c.name), _join(options)))


def enum(t: EnumType) -> str:
    return render(Q("CREATE TYPE {} AS ENUM ({})").format(I(t.schema, t.name), _join([L(x) for x in t.labels])))


def domain(d: Domain) -> str:
    parts: list[sql.Composable] = [Q("CREATE DOMAIN {} AS {}").format(I(d.schema, d.name), trusted(d.base_type))]
    if d.collation:
        parts.append(Q("COLLATE {}").format(trusted(d.collation)))
    if d.default is not None:
        parts.append(Q("DEFAULT {}").format(trusted(d.default)))
    if d.not_null:
        parts.append(Q("NOT NULL"))
    later = []
    for check in d.checks:
        add = Q("CONSTRAINT {} {}").format(I(check.name), trusted(check.definition))
        if check.validated:
            parts.append(add)
        else:  # CREATE DOMAIN has no NOT VALID; only ALTER DOMAIN can add a check that skips existing values
            later.append(Q("ALTER DOMAIN {} ADD {}").format(I(d.schema, d.name), add))
    return render(_join(parts, " "), *later)


def composite(t: CompositeType) -> str:
    attributes: list[sql.Composable] = []
    for a in t.attributes:
        attribute = Q("{} {}").format(I(a.name), trusted(a.type))
        if a.collation:
            attribute = Q("{} COLLATE {}").format(attribute, trusted(a.collation))
        attributes.append(attribute)
    return render(Q("CREATE TYPE {} AS (\n    {}\n)").format(I(t.schema, t.name), _join(attributes, ",\n    ")))


def range_type(r: RangeType) -> str:
    options = [Q("SUBTYPE = {}").format(trusted(r.subtype))]
    if r.subtype_opclass:
        options.append(Q("SUBTYPE_OPCLASS = {}").format(trusted(r.subtype_opclass)))
    if r.collation:
        options.append(Q("COLLATION = {}").format(trusted(r.collation)))
    if r.canonical:
        options.append(Q("CANONICAL = {}").format(trusted(r.canonical)))
    if r.subtype_diff:
        options.append(Q("SUBTYPE_DIFF = {}").format(trusted(r.subtype_diff)))
    if r.multirange_name:
        options.append(Q("MULTIRANGE_TYPE_NAME = {}").format(trusted(r.multirange_name)))
    return render(Q("CREATE TYPE {} AS RANGE ({})").format(I(r.schema, r.name), _join(options)))


def function(f: Function) -> str:
    # Bodies may mention tables created later (or each other): let the server check them when they run.
    return render(Q("SET LOCAL check_function_bodies = off"), trusted(f.definition))


def _sequence_options(s: Sequence) -> sql.Composed:
    return Q("INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}").format(
        L(s.increment), L(s.min_value), L(s.max_value), L(s.start), L(s.cache), Q("CYCLE" if s.cycle else "NO CYCLE")
    )


def sequence(s: Sequence) -> str:
    return render(
        Q("CREATE SEQUENCE {} AS {} {}").format(I(s.schema, s.name), trusted(s.data_type), _sequence_options(s))
    )


def sequence_owner(s: Sequence) -> str:
    assert s.owned_by is not None
    return render(Q("ALTER SEQUENCE {} OWNED BY {}").format(I(s.schema, s.name), I(*s.owned_by)))


def _column(c: Column, identity_sequence: Sequence | None) -> sql.Composable:
    parts: list[sql.Composable] = [I(c.name), trusted(c.type)]
    if c.storage:
        parts.append(Q("STORAGE {}").format(Q(_STORAGE[c.storage])))
    if c.compression:
        parts.append(Q("COMPRESSION {}").format(I(_COMPRESSION.get(c.compression, c.compression))))
    if c.collation:
        parts.append(Q("COLLATE {}").format(trusted(c.collation)))
    if c.not_null:
        parts.append(Q("CONSTRAINT {} NOT NULL").format(I(c.not_null_name)) if c.not_null_name else Q("NOT NULL"))
    if c.default is not None:
        parts.append(Q("DEFAULT {}").format(trusted(c.default)))
    if c.generated:
        kind = Q("VIRTUAL" if c.generated == "v" else "STORED")
        parts.append(Q("GENERATED ALWAYS AS ({}) {}").format(trusted(c.generation_expression or ""), kind))
    if c.identity:
        identity = Q("GENERATED {} AS IDENTITY").format(Q("ALWAYS" if c.identity == "a" else "BY DEFAULT"))
        if identity_sequence is not None:
            name = I(identity_sequence.schema, identity_sequence.name)
            identity = Q("{} (SEQUENCE NAME {} {})").format(identity, name, _sequence_options(identity_sequence))
        parts.append(identity)
    return _join(parts, " ")


def table(t: Table, primary_key: Constraint | None, sequences: dict[tuple[str, str], Sequence]) -> str:
    """CREATE TABLE with its columns and primary key, as a partition, an inheriting child or a plain table."""
    elements: list[sql.Composable] = []
    if not t.is_partition:  # a partition's columns are its parent's
        for c in t.columns:
            if c.is_local:
                seq = sequences.get(c.identity_sequence) if c.identity_sequence else None
                elements.append(_column(c, seq))
    if primary_key is not None:
        elements.append(Q("CONSTRAINT {} {}").format(I(primary_key.name), trusted(primary_key.definition)))
    body = Q("(\n    {}\n)").format(_join(elements, ",\n    ")) if elements else Q("()")
    head = Q("CREATE UNLOGGED TABLE" if t.persistence == "u" else "CREATE TABLE")
    name = I(t.schema, t.name)
    if t.is_partition:
        assert t.partition_of is not None
        stmt = Q("{} {} PARTITION OF {}").format(head, name, I(*t.partition_of))
        if elements:
            stmt = Q("{} {}").format(stmt, body)
        stmt = Q("{} {}").format(stmt, trusted(t.partition_bound or "DEFAULT"))
    else:
        stmt = Q("{} {} {}").format(head, name, body)
        if t.inherits:
            stmt = Q("{} INHERITS ({})").format(stmt, _join([I(*p) for p in t.inherits]))
    if t.partition_key:
        stmt = Q("{} PARTITION BY {}").format(stmt, trusted(t.partition_key))
    if t.access_method:
        stmt = Q("{} USING {}").format(stmt, I(t.access_method))
    if t.options:
        stmt = Q("{} WITH ({})").format(stmt, _join([trusted(o) for o in t.options]))
    statements = [stmt]
    for c in t.columns:
        if c.statistics_target is not None:
            statements.append(
                Q("ALTER TABLE {} ALTER COLUMN {} SET STATISTICS {}").format(name, I(c.name), L(c.statistics_target))
            )
    return render(*statements)


def constraint(c: Constraint) -> str:
    return render(
        Q("ALTER TABLE {} ADD CONSTRAINT {} {}").format(I(c.schema, c.table), I(c.name), trusted(c.definition))
    )


def index(i: Index) -> str:
    statements: list[sql.Composable] = [trusted(i.definition)]
    if i.parent_index is not None:
        statements.append(Q("ALTER INDEX {} ATTACH PARTITION {}").format(I(*i.parent_index), I(i.schema, i.name)))
    return render(*statements)


def view(v: View) -> str:
    options = Q(" WITH ({})").format(_join([trusted(o) for o in v.options])) if v.options else Q("")
    return render(Q("CREATE VIEW {}{} AS\n{}").format(I(v.schema, v.name), options, trusted(v.definition)))


def materialized_view(m: MaterializedView) -> str:
    using = Q(" USING {}").format(I(m.access_method)) if m.access_method else Q("")
    options = Q(" WITH ({})").format(_join([trusted(o) for o in m.options])) if m.options else Q("")
    # Created empty; its refresh step fills it once the data is in (one unpopulated on the source stays empty).
    return render(
        Q("CREATE MATERIALIZED VIEW {}{}{} AS\n{}\nWITH NO DATA").format(
            I(m.schema, m.name), using, options, trusted(m.definition)
        )
    )


def refresh(m: MaterializedView) -> str:
    return render(Q("REFRESH MATERIALIZED VIEW {}").format(I(m.schema, m.name)))


def trigger(t: Trigger) -> str:
    statements: list[sql.Composable] = [trusted(t.definition)]
    if t.enabled in _TRIGGER_STATE:
        statements.append(
            Q("ALTER TABLE {} {} {}").format(I(t.schema, t.table), Q(_TRIGGER_STATE[t.enabled]), I(t.name))
        )
    return render(*statements)


def row_security(t: Table) -> str:
    statements = []
    if t.rls_enabled:
        statements.append(Q("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(I(t.schema, t.name)))
    if t.rls_forced:
        statements.append(Q("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(I(t.schema, t.name)))
    return render(*statements)


def replica_identity(t: Table) -> str:
    setting = Q({"f": "FULL", "n": "NOTHING"}[t.replica_identity])
    return render(Q("ALTER TABLE {} REPLICA IDENTITY {}").format(I(t.schema, t.name), setting))


def policy(p: Policy) -> str:
    roles = _join([Q("PUBLIC") if r == "public" else I(r) for r in p.roles])
    stmt = Q("CREATE POLICY {} ON {} AS {} FOR {} TO {}").format(
        I(p.name), I(p.schema, p.table), Q("PERMISSIVE" if p.permissive else "RESTRICTIVE"), Q(p.command), roles
    )
    if p.using is not None:
        stmt = Q("{} USING ({})").format(stmt, trusted(p.using))
    if p.with_check is not None:
        stmt = Q("{} WITH CHECK ({})").format(stmt, trusted(p.with_check))
    return render(stmt)


def comment(c: Comment) -> str:
    target: sql.Composable
    if c.object_type == "SCHEMA":
        target = I(c.name)
    elif c.object_type == "COLUMN":
        target = I(c.schema, c.name, c.sub_name)
    elif c.object_type in ("FUNCTION", "PROCEDURE"):
        target = Q("{}({})").format(I(c.schema, c.name), trusted(c.sub_name))
    elif c.object_type in ("CONSTRAINT", "TRIGGER", "POLICY"):
        target = Q("{} ON {}").format(I(c.sub_name), I(c.schema, c.name))
    else:
        target = I(c.schema, c.name)
    return render(Q("COMMENT ON {} {} IS {}").format(Q(c.object_type), target, L(c.text)))
