"""`pghaul cutover` in a terminal: the conversation around the engine's ``catch_up`` and ``finish`` — or, with
``--follow``, around ``follow_status`` and ``finish_follow``.

1. Before the pause, while the app still writes. Sync: catch up, a line per round, until what is left stops
   shrinking. Follow: replication catches up by itself; its status (state, lag) is shown, and a target that is
   not applying the source's changes stops the cutover here, before the owner pauses anything for nothing.
2. Tell the owner exactly how to pause the app's writes and wait for Enter: that moment starts the write-freeze
   window. ``--writes-paused`` says they were paused before the command (no step 1, no wait: the window starts
   with the command); ``--yes`` goes on without waiting (with ``--freeze-source``, the freeze is the pause).
3. Sync: ``finish`` — the optional source freeze, the final sync and the full verify. Follow: ``finish_follow`` —
   the optional freeze, the wait until the replication lag is zero, sequences, large objects, the verify, and
   follow taken down. Then the verdict, the window, and the switch with its way back, or the differences and
   why not to switch.

Which of the two runs is the target's to say, as in the admin API: the command reads its follow state (the
engine's ``read_follow_status``) and says which it chose; ``--follow`` insists on follow's. Nothing here decides
anything the engine decides; it only chooses when to ask and what to print.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from pghaul.cli.follow_report import render_follow_status
from pghaul.cli.interrupt import cancel_on_interrupt
from pghaul.cli.render import render_report
from pghaul.cli.say import wal_bytes
from pghaul.cli.views import View, view_for
from pghaul.engine.cutover import CatchUpReport, CutoverReport, SwitchInstructions, catch_up, finish
from pghaul.errors import PghaulError
from pghaul.sync import SyncOptions
from pghaul.urls import describe_url

if TYPE_CHECKING:
    from pghaul.follow import FollowCutoverOptions, FollowCutoverReport, FollowStatus

PAUSE_INSTRUCTIONS = (
    "Now pause your app's writes: turn on maintenance mode, or scale the app to zero (Railway: set replicas to 0; "
    "Heroku: `heroku ps:scale web=0`; Render: suspend the service). Workers and scheduled jobs that write to the "
    "database count too."
)
FREEZE_EXPLAINED = (
    "this is the one write pghaul makes to the source (besides follow's slot and publication, when you chose "
    "follow). It makes the source database read-only for new sessions (ALTER DATABASE … SET "
    "default_transaction_read_only = on) and ends the app's open sessions, so nothing still writes during the "
    "final sync. Undo it with `pghaul unfreeze`."
)


@dataclass(frozen=True)
class CutoverRequest:
    """What the command line asked for."""

    source: str  # "" when not given: the engine says which option or variable is missing
    target: str
    options: SyncOptions
    freeze: bool
    writes_paused: bool  # paused before the command started: no catch-up and no wait
    wait: bool  # wait for Enter once the owner has paused writes (not with --yes)
    # The cutover with follow (``finish_follow``), with these options; None: the sync cutover.
    follow: FollowCutoverOptions | None = None


@dataclass(frozen=True)
class CutoverOutcome:
    catch_up: CatchUpReport | None
    report: CutoverReport

    def to_dict(self) -> dict[str, Any]:
        return {"catch_up": None if self.catch_up is None else self.catch_up.to_dict(),
                "cutover": self.report.to_dict()}


@dataclass(frozen=True)
class FollowCutoverOutcome:
    before_pause: FollowStatus | None  # replication as step 1 found it (None: writes were paused before)
    report: FollowCutoverReport

    def to_dict(self) -> dict[str, Any]:
        return {"follow": None if self.before_pause is None else self.before_pause.to_dict(),
                "cutover": self.report.to_dict()}


def conversation(request: CutoverRequest, console: Console, prompt_to_stderr: bool,
                 view: Callable[[], View] | None = None) -> Conversation:
    """The conversation for the cutover the command line asked for."""
    kind = FollowConversation if request.follow is not None else Conversation
    return kind(request, console, prompt_to_stderr, view)


class Conversation:
    """One cutover with its owner at the terminal, ``console`` for everything said, ``view`` making the listener
    each engine call's events go to (progress in the terminal, or JSON lines under ``--json``). This class is
    the sync cutover; ``FollowConversation`` changes what comes before the pause and what comes after.

    Ctrl-C stops the engine through its cancel event only while the engine runs: at the prompt it is click's
    own abort, so an interrupted prompt can never go on to freeze the source.
    """

    FINAL_STEP = "final sync and full verify, with writes paused"
    BEFORE_PAUSE = "catch up while the app still writes"
    STOPPED_AT_PROMPT = ("stopped before the final sync: the source is unchanged, the target holds the last round's "
                         "state; run the cutover again when you are ready")

    def __init__(self, request: CutoverRequest, console: Console, prompt_to_stderr: bool,
                 view: Callable[[], View] | None = None) -> None:
        self.request = request
        self.console = console
        self.prompt_to_stderr = prompt_to_stderr
        self.view = view or (lambda: view_for(console, False))
        self.started = time.monotonic()
        self._steps = 2 if request.writes_paused else 3  # no catch-up when writes were paused before
        self._step = 0

    def run(self) -> CutoverOutcome | FollowCutoverOutcome:
        request = self.request
        before = None if request.writes_paused else self._before_pause()
        paused_at = self._pause()
        if request.freeze:
            self.console.print(Text(f"--freeze-source: {FREEZE_EXPLAINED}", style="yellow"))
        self._say(self.FINAL_STEP)
        try:
            with cancel_on_interrupt(self.console) as cancel, self.view() as view:
                return self._finish(before, paused_at, view, cancel)
        except BaseException:
            if request.freeze:
                self.console.print(Text(
                    f"the source {describe_url(request.source)} may be frozen: `pghaul unfreeze` makes it "
                    "writable again before you resume the app's writes there", style="yellow"))
            raise

    def _finish(self, before: Any, paused_at: float, view: View,
                cancel: threading.Event) -> CutoverOutcome | FollowCutoverOutcome:
        request = self.request
        report = finish(request.source, request.target, request.options, freeze=request.freeze,
                        writes_paused_at=paused_at, listener=view, cancel=cancel)
        return CutoverOutcome(before, report)

    def _say(self, heading: str) -> None:
        self._step += 1
        self.console.print(Text(f"Step {self._step} of {self._steps}: {heading}", style="bold cyan"))

    def _before_pause(self) -> Any:
        self._say(self.BEFORE_PAUSE)
        with cancel_on_interrupt(self.console) as cancel, self.view() as view:
            caught_up = catch_up(self.request.source, self.request.target, self.request.options, view, cancel)
        self.console.print(f"caught up: about {caught_up.left:,} change(s) left for the final sync to carry")
        return caught_up

    def _pause(self) -> float:
        """When writes were paused, as ``time.monotonic()``: the start of the write-freeze window."""
        self._say("pause the app's writes")
        if self.request.writes_paused:
            self.console.print("writes already paused (--writes-paused): the window is counted from the start of "
                               "this command")
            return self.started
        self.console.print(Text(PAUSE_INSTRUCTIONS))
        if not self.request.wait:
            if not self.request.freeze:
                self.console.print(Text(f"--yes: going on without waiting; {self._unpaused_writes()}",
                                        style="yellow"))
            return time.monotonic()
        if not typer.confirm("Press Enter once writes are paused (n stops here)", default=True,
                             err=self.prompt_to_stderr):
            self.console.print(self.STOPPED_AT_PROMPT)
            raise typer.Exit(1)
        return time.monotonic()

    def _unpaused_writes(self) -> str:
        """What becomes of writes the app still makes when ``--yes`` goes on without waiting for the pause."""
        return "writes the app still makes show up as differences in the verify"


class FollowConversation(Conversation):
    """The cutover with follow: replication's status before the pause, then ``finish_follow``."""

    BEFORE_PAUSE = "replication while the app still writes"
    FINAL_STEP = ("wait until the replication lag is zero, then sequences, large objects and the verify, with "
                  "writes paused; then follow is taken down")
    STOPPED_AT_PROMPT = ("stopped before the pause: nothing was changed, the target still follows the source; run "
                         "the cutover again when you are ready")

    @property
    def options(self) -> FollowCutoverOptions:
        assert self.request.follow is not None
        return self.request.follow

    def _unpaused_writes(self) -> str:
        if self.options.verify_rows:
            return "writes the app still makes after the lag reached zero show up as differences in the verify"
        return ("writes the app still makes after the lag reached zero are not compared (--no-verify-rows) and "
                "would be lost in the switch: pause them before you switch")

    def _before_pause(self) -> FollowStatus:
        """Replication as it stands; a target that is not applying stops the cutover before the pause."""
        from pghaul.follow import FollowState, follow_status

        self._say(self.BEFORE_PAUSE)
        status = follow_status(self.request.source, self.request.target)
        for part in render_follow_status(status):
            self.console.print(part)
        if status.state is FollowState.NONE:
            raise PghaulError("the target does not follow the source: there is no replication lag to wait for",
                              "nothing was changed; run the cutover without --follow (it syncs, then verifies)")
        if status.state is not FollowState.STREAMING:
            raise PghaulError(
                f"the target is not applying the source's changes (follow: {status.state}): pausing the app's "
                "writes now would not end in a cutover",
                "nothing was changed. " + ("; ".join(status.problems) + "; " if status.problems else "")
                + "see `pghaul status --source … --target …`; without follow, `pghaul stop-follow` and then "
                "`pghaul sync` and `pghaul cutover` (no --follow) finish the migration")
        return status

    def _finish(self, before: Any, paused_at: float, view: View,
                cancel: threading.Event) -> FollowCutoverOutcome:
        from pghaul.follow import finish_follow

        report = finish_follow(self.request.source, self.request.target, self.options,
                               writes_paused_at=paused_at, listener=view, cancel=cancel)
        return FollowCutoverOutcome(before, report)


def render_cutover(report: CutoverReport) -> list[RenderableType]:
    """The verdict, the write-freeze window, and either the switch with its way back or why not to switch."""
    parts: list[RenderableType] = []
    if report.freeze is not None:
        parts.append(Text(report.freeze.describe()))
    if report.sync is not None:
        parts.append(Text(f"final sync: {report.sync.summary()}"))
    if report.verify is not None:
        parts.extend(render_report(report.verify))
    parts.append(Text(f"writes paused for {report.write_freeze_seconds:.1f} s: from pause to verified",
                      style="bold"))
    parts.extend(_verdict(report.ok, report.instructions, report.notices))
    return parts


def _verdict(ok: bool, switch: SwitchInstructions | None, notices: list[str]) -> list[RenderableType]:
    """The switch with its way back, or why not to switch."""
    if not ok or switch is None:
        return [Text("Do not switch: the target does not match the source", style="bold red"),
                *(Text(notice, style="red") for notice in notices)]
    return [
        Text(f"Switch now: set {switch.variable} to the value of {switch.new_value_from}", style="bold green"),
        *(Text(f"  {n}. {step}") for n, step in enumerate(switch.steps, 1)),
        Text("The way back:", style="bold"),
        *(Text(f"  - {step}") for step in switch.rollback),
    ]


def render_follow_cutover(report: FollowCutoverReport) -> list[RenderableType]:
    """The cutover with follow: the freeze, the wait for zero lag, sequences, large objects, the verify, what was
    taken down, the window, then the switch with its way back, or why not to switch (and the slot that stays)."""
    from pghaul.cli.sync_report import large_objects_line

    parts: list[RenderableType] = []
    if report.freeze is not None:
        parts.append(Text(report.freeze.describe()))
    if report.catch_up is not None:
        c = report.catch_up
        parts.append(Text(f"replication lag zero in {c.seconds:.1f} s ({wal_bytes(c.first_lag_bytes)} behind when "
                          f"the wait began, at {c.target_lsn})"))
    if report.catch_up is not None:
        advanced = sum(1 for s in report.sequences if s.advanced)
        parts.append(Text(f"sequences: {advanced} of {len(report.sequences)} moved forward to the source's"))
        parts.append(Text(large_objects_line(report.large_objects) if report.large_objects is not None else
                          "large objects: not brought over (the run selected tables, and large objects belong to "
                          "the whole database)"))
    if report.verify is not None:
        parts.extend(render_report(report.verify))
    if report.teardown is not None and report.teardown.dropped:
        dropped = ", ".join(str(kind) for kind in report.teardown.dropped)
        parts.append(Text(f"follow taken down: dropped the {dropped} {report.teardown.name}; nothing of follow "
                          "is left on either server"))
    parts.append(Text(f"writes paused for {report.write_freeze_seconds:.1f} s: from pause to verified and follow "
                      "taken down", style="bold"))
    if report.ok:
        parts.extend(Text(f"note: {notice}", style="yellow") for notice in report.notices)
    parts.extend(_verdict(report.ok, report.instructions, report.notices))
    return parts
