"""The long reliability runs, one command: ``./run reliability [--only NAME] [--rounds N] [--seed S]``.

Every module ``reliability/scenario_*.py`` is a scenario: it defines ``NAME``, ``DESCRIPTION`` and
``run(rounds, seed, log) -> figures`` (at least ``runs`` and ``mismatches``), starts real servers of its own and
returns what it counted; ``DEFAULT_ROUNDS`` (optional) is its rounds when ``--rounds`` is not given. A scenario
that finds a problem returns ``mismatches`` above zero or raises. The runner runs each in turn, prints every
scenario's figures as a table at the end, with the command that reproduces them, and exits 1 if any scenario found
a problem (after running all of them: one failure does not hide the others' figures).

These runs take minutes each and are not part of the test suite; the fast cases of the same faults are in
``tests/`` (``test_faults.py`` and others).
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass
class Outcome:
    name: str
    rounds: int
    seed: int
    seconds: float = 0.0
    figures: dict[str, int | float | str] = field(default_factory=dict)
    error: str | None = None

    @property
    def failed(self) -> bool:
        mismatches = self.figures.get("mismatches", 0)
        return self.error is not None or not isinstance(mismatches, int | float) or mismatches > 0


def discover() -> list[ModuleType]:
    """Every scenario module, in file-name order."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the scenarios use tests/servers.py and the package from the work tree
    modules = []
    for path in sorted(HERE.glob("scenario_*.py")):
        module = importlib.import_module(f"reliability.{path.stem}")
        for attribute in ("NAME", "DESCRIPTION", "run"):
            if not hasattr(module, attribute):
                raise SystemExit(f"{path.name} is not a scenario: it has no {attribute}")
        modules.append(module)
    return modules


def log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def run_one(module: ModuleType, rounds: int | None, seed: int) -> Outcome:
    chosen = rounds if rounds is not None else int(getattr(module, "DEFAULT_ROUNDS", 1))
    outcome = Outcome(module.NAME, chosen, seed)
    log(f"== {module.NAME}: {module.DESCRIPTION} ({chosen} round(s), seed {seed})")
    started = time.monotonic()
    try:
        outcome.figures = dict(module.run(chosen, seed, lambda line: log(f"[{module.NAME}] {line}")))
    except Exception:  # a scenario that raises found a problem: said, counted, and the next one still runs
        outcome.error = traceback.format_exc().strip().splitlines()[-1]
        traceback.print_exc()
    outcome.seconds = time.monotonic() - started
    log(f"== {module.NAME}: {'FAILED' if outcome.failed else 'ok'} in {outcome.seconds:.0f} s {outcome.figures}")
    return outcome


def table(outcomes: list[Outcome]) -> str:
    """One block per scenario: its verdict, then each figure on a line, aligned."""
    lines = []
    for o in outcomes:
        verdict = "FAILED" if o.failed else "ok"
        lines.append(f"{o.name}  [{verdict}]  rounds={o.rounds} seed={o.seed} seconds={o.seconds:.0f}")
        width = max((len(k) for k in o.figures), default=0)
        lines.extend(f"    {key.ljust(width)}  {value}" for key, value in o.figures.items())
        if o.error is not None:
            lines.append(f"    error  {o.error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this scenario (repeat, or separate names with commas)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default: each scenario's own)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random moments (default 1)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    modules = discover()
    if args.list:
        for module in modules:
            print(f"{module.NAME}: {module.DESCRIPTION}")
        return 0
    wanted = {name.strip() for names in args.only for name in names.split(",") if name.strip()}
    unknown = wanted - {m.NAME for m in modules}
    if unknown:
        parser.error(f"no scenario {', '.join(sorted(unknown))}; there are: {', '.join(m.NAME for m in modules)}")
    chosen = [m for m in modules if not wanted or m.NAME in wanted]
    outcomes = [run_one(m, args.rounds, args.seed) for m in chosen]
    print()
    print("reliability figures — reproduce with: ./run reliability " + shlex.join(argv if argv is not None
                                                                                else sys.argv[1:]))
    print(table(outcomes))
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
