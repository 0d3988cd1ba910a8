"""Follow in words: the preflight before ``migrate --follow`` writes anything, what follow writes to the source,
the end of a migrate whose target now follows, the follow section of ``pghaul status``, and what ``pghaul
stop-follow`` took down. (The cutover with follow is ``cutover.py``'s; the events' lines are ``say.py``'s.)

Sentences are indented and wrapped under their indent at the console's width (``Indented``: no trailing blanks
in a log); names of tables wrap within their column (``fit.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.padding import Padding
from rich.text import Text

from pghaul.cli.fit import compact_table, figure_column, name_column
from pghaul.cli.say import wal_bytes
from pghaul.follow.events import ReplicationObject, StartKind
from pghaul.follow.status import FollowState, TableReplicationState

if TYPE_CHECKING:
    from pghaul.follow import FollowPreflight, FollowStatus, TeardownReport
    from pghaul.follow.preflight import FollowReason
    from pghaul.follow.start import FollowStarted

# The tables (or roles) a reason names, at most this many: a source with 3,000 keyless tables gets a count.
MAX_OBJECTS_NAMED = 10
# A status lists every table's replication state up to this many tables; beyond, the count per state and the
# tables that are not ready.
MAX_TABLES_LISTED = 20
FALLBACK = ("without follow: `pghaul migrate` (no --follow) copies as of one snapshot, then `pghaul sync` catches "
            "up as often as you like and `pghaul cutover` switches with a short write pause; no replication needed")
HOW_TO_REMOVE = ("`pghaul cutover --follow` removes them once verified, as do `pghaul stop-follow --source … "
                 "--target …` and `pghaul cleanup --source … --target …`")
SLOT_FILLS_DISK = ("a slot left behind keeps the source's WAL from its position on: the source's disk fills until "
                   "the slot is dropped")


# A sentence indented this deep still gets at least this many cells a line, however narrow the console.
MIN_WRAP = 20


class Indented:
    """A sentence indented ``by`` cells and wrapped under its indent at whatever width the console has."""

    def __init__(self, text: Text, by: int) -> None:
        self.text = text
        self.by = by

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.text.wrap(console, max(options.max_width - self.by, MIN_WRAP)):
            line.rstrip()
            yield Text.assemble(" " * self.by, line)


def indented(text: str | Text, style: str = "", by: int = 2) -> Indented:
    """``text`` (a ``Text``, or a string in ``style``) indented ``by`` cells, wrapped under its indent."""
    return Indented(text if isinstance(text, Text) else Text(text, style=style), by)


def _objects(objects: tuple[str, ...]) -> str:
    named = ", ".join(objects[:MAX_OBJECTS_NAMED])
    more = len(objects) - MAX_OBJECTS_NAMED
    return named + (f" … and {more:,} more" if more > 0 else "")


def _reason(reason: FollowReason, mark: str, style: str) -> list[RenderableType]:
    parts: list[RenderableType] = [indented(Text.assemble((mark, style), (reason.message, style)))]
    if reason.objects:
        parts.append(indented(_objects(reason.objects), "dim", 6))
    parts.append(indented(Text.assemble(("hint: ", "dim"), reason.hint), by=6))
    return parts


def render_preflight(preflight: FollowPreflight) -> list[RenderableType]:
    """Whether follow is possible: every blocker with its hint (and the tables it names), then the caveats."""
    parts: list[RenderableType] = []
    if preflight.possible:
        reached = "; the target's server reached the source as the subscription will" if preflight.probed else ""
        parts.append(Text.assemble(("follow: possible", "bold green"), f"{reached}"))
    else:
        parts.append(Text(f"follow is not possible ({len(preflight.blockers)} reason(s)):", style="bold red"))
        for blocker in preflight.blockers:
            parts.extend(_reason(blocker, "✗ ", "red"))
    if preflight.caveats:
        parts.append(Text("what logical replication does not carry, and how pghaul makes up for it:"))
        for caveat in preflight.caveats:
            parts.extend(_reason(caveat, "• ", ""))
    if not preflight.possible:
        parts.append(Text(FALLBACK, style="yellow"))
    return parts


def render_follow_writes(name: str) -> list[RenderableType]:
    """What follow writes to the source and what a slot left behind does: said before the run, in the plan's
    place (and confirmed, without --yes)."""
    return [
        Text("follow writes to the source", style="bold yellow"),
        indented(f"a logical replication slot and a publication, both named {name}: the second write pghaul makes "
                 "to a source (the first is the cutover's --freeze-source), and on the target a subscription of "
                 f"that name. {HOW_TO_REMOVE}."),
        indented(Text(f"{SLOT_FILLS_DISK}.", style="yellow")),
    ]


_HOW_STARTED = {
    StartKind.FRESH: "",
    StartKind.CONTINUE: " (continued from an earlier run: nothing copied again)",
    StartKind.RESTART: " (started again: the earlier copy was made in a snapshot that is gone)",
    StartKind.ADOPT: " (the migrated target synced to the slot's moment: nothing copied again)",
}


def render_following(started: FollowStarted) -> list[RenderableType]:
    """The end of ``migrate --follow``: the target follows the source, how to watch it, how to finish."""
    return [
        Text.assemble(("the target now follows the source", "bold green"), _HOW_STARTED[started.start]),
        indented("PostgreSQL's logical replication applies every change the source commits, from the copy's moment "
                 f"on ({started.tables:,} table(s); slot and publication {started.name} on the source, "
                 "subscription on the target)"),
        indented("watch it:  pghaul status --source … --target …  (state, lag, WAL the slot keeps)"),
        indented("finish:    pghaul cutover --follow --source … --target …  (pause the app's writes; the wait is "
                 "the replication lag)"),
        indented("give up:   pghaul stop-follow --source … --target …  (the rows stay; `pghaul sync` takes over)"),
        indented(Text("until then the slot keeps the source's WAL: should the target stop applying, the status "
                      "says so, and the source's disk fills until the slot is dropped", style="yellow")),
    ]


_STATE_STYLES = {FollowState.STREAMING: "bold green", FollowState.COPYING: "bold cyan",
                 FollowState.STOPPED: "bold yellow", FollowState.BROKEN: "bold red"}


def render_follow_status(status: FollowStatus) -> list[RenderableType]:
    """The follow section of ``pghaul status``: state, lag, the slot, the subscription, each table's state."""
    head = Text("follow ", style="bold")
    head.append(status.name + "  ")
    head.append(str(status.state), style=_STATE_STYLES.get(status.state, "bold"))
    parts: list[RenderableType] = [head]
    if status.state is FollowState.COPYING and not status.copied:
        parts.append(indented("migrate is copying in the slot's snapshot (or stopped before it subscribed)"))
    parts.append(indented(_lag(status)))
    if status.slot is not None:
        slot = status.slot
        retained = "—" if slot.retained_bytes is None else wal_bytes(slot.retained_bytes)
        parts.append(indented(f"slot: {'active' if slot.active else 'inactive'}, keeps {retained} of the "
                              f"source's WAL, wal_status {slot.wal_status or '—'}"))
    elif not status.source_known:
        parts.append(indented("slot: not read (pass --source for the slot, the WAL it keeps and the lag in bytes)",
                              "dim"))
    else:
        parts.append(indented("slot: none on the source", "red" if status.subscription is not None else ""))
    parts.append(indented(_subscription(status)))
    parts.extend(_table_states(status))
    parts.extend(indented(Text.assemble(("problem: ", "bold red"), problem)) for problem in status.problems)
    return parts


def _lag(status: FollowStatus) -> str:
    """The lag in bytes (the source's WAL the subscriber has not confirmed) and in seconds (the WAL sender's
    replay lag, which PostgreSQL stops reporting once replication has been idle a while)."""
    if not status.source_known:
        in_bytes = "lag: unknown without --source"
    elif status.lag_bytes is None:
        in_bytes = "lag: —"
    else:
        in_bytes = f"lag: {wal_bytes(status.lag_bytes)} of WAL not yet applied"
    seconds = "— (idle)" if status.lag_seconds is None else f"{status.lag_seconds:,.1f} s"
    return f"{in_bytes}   replay lag: {seconds}"


def _subscription(status: FollowStatus) -> str:
    sub = status.subscription
    if sub is None:
        return "subscription: none on the target yet"
    words = ["enabled" if sub.enabled else "disabled",
             "apply worker running" if sub.worker_running else "apply worker not running"]
    if sub.last_message_seconds is not None:
        words.append(f"last heard from the source {sub.last_message_seconds:,.1f} s ago")
    if sub.apply_errors:
        words.append(f"{sub.apply_errors:,} apply error(s)")
    return "subscription: " + ", ".join(words)


def _table_states(status: FollowStatus) -> list[RenderableType]:
    if not status.tables:
        return []
    counts: dict[TableReplicationState, int] = {}
    for t in status.tables:
        counts[t.state] = counts.get(t.state, 0) + 1
    parts: list[RenderableType] = [indented("tables: " + ", ".join(f"{n:,} {state}" for state, n in counts.items()))]
    ready = TableReplicationState.READY
    shown = status.tables if len(status.tables) <= MAX_TABLES_LISTED else [t for t in status.tables
                                                                           if t.state is not ready]
    if shown:
        table = compact_table()
        name_column(table, "table")
        figure_column(table, "replication", "left")
        for t in shown:
            table.add_row(Text(t.table), Text(str(t.state), style="green" if t.state is ready else "yellow"))
        parts.append(Padding(table, (0, 0, 0, 2), expand=False))
    return parts


_WHERE = {ReplicationObject.SUBSCRIPTION: "target", ReplicationObject.SLOT: "source",
          ReplicationObject.PUBLICATION: "source"}


def render_teardown(report: TeardownReport) -> list[RenderableType]:
    """What ``stop-follow`` dropped, and what comes next."""
    if not report.dropped:
        return [Text(f"nothing to stop: no subscription, slot or publication named {report.name} on either side")]
    dropped = ", ".join(f"the {kind} on the {_WHERE[kind]}" for kind in report.dropped)
    parts: list[RenderableType] = [Text(f"follow stopped: dropped {dropped} ({report.name})", style="bold")]
    parts.append(indented("the target keeps its rows as replication left them; `pghaul sync` brings it up to date "
                          "from here, and `pghaul cutover` (without --follow) switches"))
    return parts
