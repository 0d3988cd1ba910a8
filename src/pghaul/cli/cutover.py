"""`pghaul cutover` in a terminal: the conversation around the engine's ``catch_up`` and ``finish``.

1. Catch up while the app still writes, a line per round, until what is left stops shrinking.
2. Tell the owner exactly how to pause the app's writes and wait for Enter: that moment starts the write-freeze
   window. ``--writes-paused`` says they were paused before the command (no catch-up, no wait: the window starts
   with the command); ``--yes`` goes on without waiting (with ``--freeze-source``, the freeze is the pause).
3. ``finish``: the optional source freeze, the final sync and the full verify; then the verdict, the window,
   and the switch with its way back, or the differences and why not to switch.

Nothing here decides anything the engine decides; it only chooses when to ask and what to print.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from pghaul.cli.interrupt import cancel_on_interrupt
from pghaul.cli.render import render_report
from pghaul.cli.views import View, view_for
from pghaul.engine.cutover import CatchUpReport, CutoverReport, catch_up, finish
from pghaul.sync import SyncOptions
from pghaul.urls import describe_url

PAUSE_INSTRUCTIONS = (
    "Now pause your app's writes: turn on maintenance mode, or scale the app to zero (Railway: set replicas to 0; "
    "Heroku: `heroku ps:scale web=0`; Render: suspend the service). Workers and scheduled jobs that write to the "
    "database count too."
)
FREEZE_EXPLAINED = (
    "this is the one write pghaul makes to the source. It makes the source database read-only for new sessions "
    "(ALTER DATABASE … SET default_transaction_read_only = on) and ends the app's open sessions, so nothing "
    "still writes during the final sync. Undo it with `pghaul unfreeze`."
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


@dataclass(frozen=True)
class CutoverOutcome:
    catch_up: CatchUpReport | None
    report: CutoverReport

    def to_dict(self) -> dict[str, Any]:
        return {"catch_up": None if self.catch_up is None else self.catch_up.to_dict(),
                "cutover": self.report.to_dict()}


class Conversation:
    """One cutover with its owner at the terminal, ``console`` for everything said, ``view`` making the listener
    each engine call's events go to (progress in the terminal, or JSON lines under ``--json``).

    Ctrl-C stops the engine through its cancel event only while the engine runs: at the prompt it is click's
    own abort, so an interrupted prompt can never go on to freeze the source.
    """

    def __init__(self, request: CutoverRequest, console: Console, prompt_to_stderr: bool,
                 view: Callable[[], View] | None = None) -> None:
        self.request = request
        self.console = console
        self.prompt_to_stderr = prompt_to_stderr
        self.view = view or (lambda: view_for(console, False))
        self.started = time.monotonic()
        self._steps = 2 if request.writes_paused else 3  # no catch-up when writes were paused before
        self._step = 0

    def run(self) -> CutoverOutcome:
        request = self.request
        caught_up = None if request.writes_paused else self._catch_up()
        paused_at = self._pause()
        if request.freeze:
            self.console.print(Text(f"--freeze-source: {FREEZE_EXPLAINED}", style="yellow"))
        self._say("final sync and full verify, with writes paused")
        try:
            with cancel_on_interrupt(self.console) as cancel, self.view() as view:
                report = finish(request.source, request.target, request.options,
                                freeze=request.freeze, writes_paused_at=paused_at, listener=view, cancel=cancel)
        except BaseException:
            if request.freeze:
                self.console.print(Text(
                    f"the source {describe_url(request.source)} may be frozen: `pghaul unfreeze` makes it "
                    "writable again before you resume the app's writes there", style="yellow"))
            raise
        return CutoverOutcome(caught_up, report)

    def _say(self, heading: str) -> None:
        self._step += 1
        self.console.print(Text(f"Step {self._step} of {self._steps}: {heading}", style="bold cyan"))

    def _catch_up(self) -> CatchUpReport:
        self._say("catch up while the app still writes")
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
                self.console.print(Text("--yes: going on without waiting; writes the app still makes show up as "
                                        "differences in the verify", style="yellow"))
            return time.monotonic()
        if not typer.confirm("Press Enter once writes are paused (n stops here)", default=True,
                             err=self.prompt_to_stderr):
            self.console.print("stopped before the final sync: the source is unchanged, the target holds the last "
                               "round's state; run the cutover again when you are ready")
            raise typer.Exit(1)
        return time.monotonic()


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
    if report.ok and report.instructions is not None:
        switch = report.instructions
        parts.append(Text(f"Switch now: set {switch.variable} to the value of {switch.new_value_from}",
                          style="bold green"))
        parts.extend(Text(f"  {n}. {step}") for n, step in enumerate(switch.steps, 1))
        parts.append(Text("The way back:", style="bold"))
        parts.extend(Text(f"  - {step}") for step in switch.rollback)
    else:
        parts.append(Text("Do not switch: the target does not match the source", style="bold red"))
        parts.extend(Text(notice, style="red") for notice in report.notices)
    return parts
