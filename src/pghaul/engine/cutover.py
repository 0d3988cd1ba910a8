"""The guided cutover: catch up while the app still writes, then, with writes paused, a final sync and a full
verify, and the exact switch to make in the app with its way back.

1. ``catch_up``: sync again and again while what is left keeps shrinking, saying after each round how much was
   left, so the pause that follows only has to carry the last few seconds of writes.
2. The owner pauses writes (maintenance mode, or the app scaled to zero); ``finish`` starts there. With
   ``freeze_source`` it first makes the source database read-only for new sessions and ends the app's open ones
   (``engine.freeze``, the one write pghaul makes to the source, undone by ``pghaul unfreeze``).
3. ``finish``: a final sync (sequences moved forward with it), then a full verify of the live source, which no
   longer changes.
4. The report: verified or not, the measured write-freeze window (from "writes paused" to "verified"), the
   variable to change in the app, and the way back.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pghaul.connect import connect_source, connect_target
from pghaul.engine.freeze import FreezeReport, freeze_source
from pghaul.engine.retry import sync, verify
from pghaul.errors import PghaulError
from pghaul.events import Event, Listener, Notice, PhaseFinished, PhaseStarted, ignore
from pghaul.kinds import Phase
from pghaul.sync import SyncOptions, SyncReport
from pghaul.sync.preparation import prepare
from pghaul.verify import VerifyOptions, VerifyReport

MAX_CATCH_UP_ROUNDS = 6
UNFREEZE = "run `pghaul unfreeze --source URL` to make it writable again"
# A round that writes this little is as small as a round gets while the app writes: pause now.
SMALL_ENOUGH_CHANGES = 100


@dataclass(frozen=True)
class CatchUpRound(Event):
    """One sync round before the pause: how much it carried (what was left), and whether that still shrinks."""

    round: int
    changes: int
    rows_changed: int
    seconds: float
    shrinking: bool


@dataclass(frozen=True)
class CatchUpReport:
    rounds: tuple[CatchUpRound, ...]

    @property
    def left(self) -> int:
        """What the last round carried: about what the final sync will carry if writes pause now."""
        return self.rounds[-1].changes if self.rounds else 0

    def to_dict(self) -> dict[str, Any]:
        return {"rounds": [r.to_dict() for r in self.rounds], "left": self.left}


@dataclass(frozen=True)
class SwitchInstructions:
    """What the owner does after a verified cutover, and how to go back."""

    variable: str = "DATABASE_URL"
    new_value_from: str = "NEW_DATABASE_URL"
    steps: tuple[str, ...] = ()
    rollback: tuple[str, ...] = ()


def switch_instructions(frozen: bool) -> SwitchInstructions:
    unfreeze = ["run `pghaul unfreeze --source <old DATABASE_URL>` (or the page's Unfreeze button) so the old "
                "database accepts writes again"] if frozen else []
    return SwitchInstructions(
        steps=(
            "in your app's environment, set DATABASE_URL to the value of NEW_DATABASE_URL (the new database)",
            "redeploy or restart the app so it connects to the new database",
            "resume writes (leave maintenance mode, or scale the app back up)",
            "keep the old database, untouched, until you are sure; then remove ALLOW_DB_MIGRATION",
        ),
        rollback=(
            "before the app has written to the new database: set DATABASE_URL back to its old value and redeploy",
            *unfreeze,
            "after it has written there: the old database lacks those writes; migrate them back with pghaul "
            "(new database as the source, the old one as the target) before switching back",
        ),
    )


@dataclass
class CutoverReport:
    sync: SyncReport | None = None
    verify: VerifyReport | None = None
    freeze: FreezeReport | None = None
    write_freeze_seconds: float = 0.0
    instructions: SwitchInstructions | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verify is not None and self.verify.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "writeFreezeSeconds": round(self.write_freeze_seconds, 3),
            "sync": None if self.sync is None else self.sync.to_dict(),
            "verify": None if self.verify is None else self.verify.to_dict(),
            "freeze": None if self.freeze is None else self.freeze.describe(),
            "instructions": None if self.instructions is None else {
                "variable": self.instructions.variable, "newValueFrom": self.instructions.new_value_from,
                "steps": list(self.instructions.steps), "rollback": list(self.instructions.rollback)},
            "notices": list(self.notices),
        }


def catch_up(
    source_url: str, target_url: str, options: SyncOptions = SyncOptions(), listener: Listener = ignore,
    cancel: threading.Event | None = None, max_rounds: int = MAX_CATCH_UP_ROUNDS,
) -> CatchUpReport:
    """Sync until a round carries nothing, or little enough, or no less than the round before."""
    rounds: list[CatchUpRound] = []
    while len(rounds) < max_rounds:
        report = sync(source_url, target_url, options, listener, cancel)
        shrinking = not rounds or report.changes < rounds[-1].changes
        done = CatchUpRound(len(rounds) + 1, report.changes, report.rows_changed, round(report.seconds, 3),
                            shrinking)
        rounds.append(done)
        listener(done)
        if report.changes <= SMALL_ENOUGH_CHANGES or not shrinking:
            break
    return CatchUpReport(tuple(rounds))


def finish(
    source_url: str, target_url: str, options: SyncOptions = SyncOptions(), *, freeze: bool = False,
    writes_paused_at: float | None = None, listener: Listener = ignore, cancel: threading.Event | None = None,
) -> CutoverReport:
    """With the app's writes paused (since ``writes_paused_at``, a ``time.monotonic()``; now if None): optionally
    freeze the source, sync a last time, verify everything; the report says whether to switch, and how."""
    paused = time.monotonic() if writes_paused_at is None else writes_paused_at
    listener(PhaseStarted(Phase.CUTOVER, "writes paused"))
    report = CutoverReport()
    if freeze:
        # Every refusal the final sync would meet, before the one write to the source rather than after it.
        with connect_source(source_url) as src, connect_target(target_url) as tgt:
            prepare(src, tgt, options)
        report.freeze = freeze_source(source_url)
        listener(Notice(report.freeze.describe(), "warning", [UNFREEZE]))
    try:
        report.sync = sync(source_url, target_url, options, listener, cancel)
        report.verify = verify(source_url, target_url,
                               VerifyOptions(include=options.include, exclude=options.exclude), listener,
                               cancel=cancel)
    except PghaulError as exc:
        if freeze:
            # The freeze stays until undone: the failure must say so, whatever stopped the cutover.
            exc.hint = f"{exc.hint}; the source is frozen: {UNFREEZE}".lstrip("; ")
        raise
    report.write_freeze_seconds = time.monotonic() - paused
    if report.ok:
        report.instructions = switch_instructions(frozen=freeze)
    else:
        report.notices.append("verification found differences: do not switch; "
                              + ("unfreeze the source and " if freeze else "")
                              + "resume writes on the old database, then look at the differences and run the "
                              "cutover again")
    listener(PhaseFinished(Phase.CUTOVER, report.write_freeze_seconds))
    return report
