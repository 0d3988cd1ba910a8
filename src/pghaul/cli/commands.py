"""The `pghaul` command: a thin shell that parses options, calls the engine and renders its events.

No SQL here. Exit codes: 0 success, 1 failure (one clear line; a traceback only with --debug), 2 usage error.

Where the output goes: in a terminal, live progress and rich tables fitted to its width; without one (CI, a log,
a PaaS console), a timestamped line per event; with ``--json``, every event and then the report as JSON lines on
stdout (``views.py``). Messages for people (errors, hints, a cutover's questions) go to stderr under ``--json``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from pghaul.cli.fit import compact_table, figure_column, name_column
from pghaul.cli.views import json_line, report_line, view_for
from pghaul.errors import ErrorCode, PghaulError
from pghaul.limits import MAX_CHUNK_ROWS
from pghaul.urls import describe_url, redact_url, scrub

if TYPE_CHECKING:
    import psycopg

    from pghaul.engine import MigrateOptions
    from pghaul.follow import FollowCutoverOptions, FollowPreflight, FollowStatus
    from pghaul.plan import Plan

app = typer.Typer(
    name="pghaul",
    help="Move a live PostgreSQL database, pgvector embeddings included, to another server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line in a log, whatever its width


@dataclass(frozen=True)
class CliOptions:
    """The options of the command itself (before the subcommand), kept on click's context for this invocation."""

    debug: bool = False


def _debug(ctx: typer.Context) -> bool:
    options = ctx.find_root().obj
    return isinstance(options, CliOptions) and options.debug

SourceOption = Annotated[
    str | None,
    typer.Option("--source", "-s", envvar="DATABASE_URL", show_envvar=True, help="The database to copy from."),
]
TargetOption = Annotated[
    str | None,
    typer.Option("--target", "-t", envvar="NEW_DATABASE_URL", show_envvar=True, help="The database to copy into."),
]
TablesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tables", "--include", help="Only tables matching this pattern (schema.table, * wildcards); repeatable."
    ),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option("--exclude", help="Leave out tables matching this pattern; repeatable."),
]
JsonOption = Annotated[bool, typer.Option(
    "--json", help="JSON lines on stdout for scripts: each progress event as it happens, then the report as the "
    'last line ({"event": "Report", ...}); a failure as {"event": "Error", ...}.')]
OwnersOption = Annotated[
    bool, typer.Option("--owners", help="Give every object its source owner (the roles must exist on the target).")
]
PrivilegesOption = Annotated[
    bool, typer.Option("--privileges", help="Carry grants and default privileges (the roles must exist).")
]


def _print_version(value: bool) -> None:
    if value:
        from pghaul import __version__

        console.print(f"pghaul {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    ctx.obj = CliOptions(debug=debug)


# The CLI's exit codes per kind of failure: 2 for a wrong request (as for a bad option), 1 for the rest.
EXIT_CODES = {ErrorCode.USAGE: 2, ErrorCode.NOT_FOUND: 2}


def exit_code(code: ErrorCode) -> int:
    return EXIT_CODES.get(code, 1)


def _fail(message: str, hint: str = "", code: int = 1, *, as_json: bool = False) -> NoReturn:
    # Messages carry names and patterns as the user wrote them: plain text, never read as markup ("[/]").
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
    if hint:
        err_console.print(Text.assemble(("hint:", "dim"), " ", hint), highlight=False)
    if as_json:  # a script reading stdout learns why it ended, as the last line
        json_line({"event": "Error", "error": message, "hint": hint or None, "exitCode": code})
    raise typer.Exit(code)


def _secrets(urls: tuple[str | None, ...]) -> tuple[str, ...]:
    """What no message may show: each URL whole, and its password alone (a connection string a server echoes in
    an error, the subscription's, carries it in another form)."""
    from psycopg.conninfo import conninfo_to_dict

    out = [u for u in urls if u]
    for url in list(out):
        try:
            password = conninfo_to_dict(url).get("password")
        except Exception:  # not a connection string: the engine says so, and the URL itself is scrubbed
            continue
        if password:
            out.append(str(password))
    return tuple(out)


@contextmanager
def _errors(ctx: typer.Context, *given: str | None, as_json: bool = False) -> Iterator[None]:
    """Turn any failure into one scrubbed line and the right exit code (and, with --json, a last JSON line)."""
    urls = _secrets(given)
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except PghaulError as exc:
        if _debug(ctx):
            err_console.print_exception()
        _fail(scrub(exc.message, *urls), scrub(exc.hint, *urls), exit_code(exc.code), as_json=as_json)
    except KeyboardInterrupt:
        _fail("interrupted", "run the same command again: it continues from the last committed chunk",
              as_json=as_json)
    except Exception as exc:  # anything unexpected still gets one line, without secrets
        if _debug(ctx):
            err_console.print_exception()
        text = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, *urls)
        _fail(f"{type(exc).__name__}: {text}", "run again with --debug for the traceback", as_json=as_json)


def _patterns(values: list[str] | None) -> tuple[str, ...]:
    return tuple(values or ())


@app.command()
def plan(
    ctx: typer.Context,
    source: SourceOption = None,
    target: TargetOption = None,
    tables: TablesOption = None,
    exclude: ExcludeOption = None,
    owners: OwnersOption = False,
    privileges: PrivilegesOption = False,
) -> None:
    """Print the migration plan as SQL, grouped by phase. Changes nothing."""
    from pghaul.engine import MigrateOptions, make_plan

    options = MigrateOptions(
        include=_patterns(tables), exclude=_patterns(exclude), owners=owners, privileges=privileges
    )
    with _errors(ctx, source, target):
        result = make_plan(source, target, options)
        sys.stdout.write(result.render_sql())
        sys.stdout.write("\n")


@app.command("tables")
def tables_command(
    ctx: typer.Context,
    source: SourceOption = None,
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="Also show whether each table exists there.")
    ] = None,
    exact: Annotated[bool, typer.Option("--exact", help="Count rows exactly (reads every table).")] = False,
    as_json: JsonOption = False,
) -> None:
    """List every table of the source with its size, rows and primary key."""
    from pghaul.connect import connect_source, connect_target
    from pghaul.tables import list_tables

    with _errors(ctx, source, target):
        with connect_source(source) as src:
            if target:
                with connect_target(target) as tgt:
                    rows = list_tables(src, tgt, exact=exact)
            else:
                rows = list_tables(src, None, exact=exact)
        if as_json:
            json_line([r.to_dict() for r in rows])
            return
        table = compact_table(escape(f"tables in {redact_url(source or '')}"))
        name_column(table, "table")
        figure_column(table, "rows")
        figure_column(table, "size")
        name_column(table, "primary key")
        figure_column(table, "on\ntarget", "left")
        for r in rows:
            count = r.rows_exact if r.rows_exact is not None else r.rows_estimated
            pk = ", ".join(f"{c} {t}" for c, t in zip(r.primary_key, r.primary_key_types, strict=False)) or "—"
            exists = "" if r.exists_on_target is None else ("yes" if r.exists_on_target else "no")
            table.add_row(Text(f"{r.schema}.{r.name}"), f"{'' if exact else '~'}{count:,}", _size(r.size_bytes),
                          Text(pk), exists)
        console.print(table)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


MaintenanceWorkMemOption = Annotated[str | None, typer.Option(
    "--maintenance-work-mem",
    help="Memory for building vector indexes on the target, e.g. 1GB (default: chosen from the target).")]
FollowOption = Annotated[bool, typer.Option(
    "--follow", help="Then keep the target following the source with PostgreSQL's logical replication until "
    "`pghaul cutover --follow` (needs wal_level = logical; writes a replication slot and a publication to the "
    "source). Checked first: when it is not possible, nothing is written and the reasons are shown.")]
MaxRateOption = Annotated[float | None, typer.Option(
    "--max-rate", metavar="MB/S", help="Read the source at most this many MB/s, all workers together (rows and "
    "large objects), to cap the load on a production database; e.g. --max-rate 20.")]
FollowSourceUrlOption = Annotated[str | None, typer.Option(
    "--follow-source-url", help="The source as the target's server reaches it, for follow's subscription, when "
    "that differs from --source (a platform's private network), password included; never shown.")]
FullOption = Annotated[bool, typer.Option(
    "--full", help="Compare every row's checksum in the sync, even where nothing seems to have changed.")]


def _print_plan(planned: Plan, as_json: bool, opts: MigrateOptions | None = None) -> None:
    if opts is not None:
        planned.notes.extend(opts.load_notes)
    if as_json:
        report_line("Report", {"dryRun": True, "plan": planned.to_dict()})
    else:
        sys.stdout.write(planned.render_sql() + "\n")


@app.command()
def migrate(
    ctx: typer.Context,
    source: SourceOption = None,
    target: TargetOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, max=MAX_CHUNK_ROWS, help="Rows per committed chunk.")
    ] = None,
    tables: TablesOption = None,
    exclude: ExcludeOption = None,
    schema_only: Annotated[bool, typer.Option("--schema-only", help="Create the schema only, copy no rows.")] = False,
    data_only: Annotated[bool, typer.Option("--data-only", help="Copy rows into an existing schema.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1, max=64, help="Parallel copy workers.")] = None,
    max_rate: MaxRateOption = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the verification at the end.")] = False,
    owners: OwnersOption = False,
    privileges: PrivilegesOption = False,
    maintenance_work_mem: MaintenanceWorkMemOption = None,
    follow: FollowOption = False,
    follow_source_url: FollowSourceUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy the schema and every row to the target, then verify (--follow: keep following until the cutover)."""
    from pghaul.cli.interrupt import cancel_on_interrupt
    from pghaul.engine import make_plan
    from pghaul.engine import migrate as run_migration
    from pghaul.follow import FollowNotPossible

    if schema_only and data_only:
        _fail("--schema-only and --data-only exclude each other", "pick one, or neither for a full migration", 2,
              as_json=as_json)
    if follow_source_url and not follow:
        _fail("--follow-source-url is for --follow", "add --follow, or leave the option out", 2, as_json=as_json)
    out = err_console if as_json else console
    with _errors(ctx, source, target, follow_source_url, as_json=as_json):
        opts = _migrate_options(
            tables, exclude, schema_only=schema_only, data_only=data_only, verify=not no_verify, owners=owners,
            privileges=privileges, batch_size=batch_size, workers=workers, maintenance_work_mem=maintenance_work_mem,
            follow=follow, follow_source_url=follow_source_url, max_rate=max_rate,
        )
        if follow:
            _follow_preflight(source, target, opts, out, as_json)
        if dry_run:
            _print_plan(make_plan(source, target, opts), as_json, opts)
            return
        if not yes:
            _confirm_migration(source, target, out, follow=follow)
        try:
            with cancel_on_interrupt(out) as cancel, view_for(out, as_json) as view:
                result = run_migration(source, target, opts, listener=view, cancel=cancel)
        except FollowNotPossible as refused:  # the servers changed since the preflight above
            _refuse_follow(refused.preflight, out, as_json)
        if as_json:
            report_line("Report", result.to_dict())
        else:
            _print_migration_summary(result)
        if not result.ok:
            raise typer.Exit(1)


def _follow_preflight(source: str | None, target: str | None, opts: MigrateOptions, out: Console,
                      as_json: bool) -> None:
    """Before anything is written: whether follow is possible, every reason and caveat with its hint, what follow
    writes to the source; refused (exit 1, nothing written) when it is not possible. Under --json the preflight
    is also a line of its own on stdout (``{"event": "FollowPreflight", …}``)."""
    from pghaul.follow import follow_preflight

    _show_follow_preflight(follow_preflight(source or "", target or "", opts), out, as_json)


def _show_follow_preflight(preflight: FollowPreflight, out: Console, as_json: bool) -> None:
    """The preflight and what follow writes to the source; refused (exit 1) when follow is not possible."""
    from pghaul.cli.follow_report import render_follow_writes, render_preflight

    if not preflight.possible:
        _refuse_follow(preflight, out, as_json)
    if as_json:
        report_line("FollowPreflight", preflight.to_dict())
    for part in [*render_preflight(preflight), *render_follow_writes(preflight.name)]:
        out.print(part, highlight=False)


def _refuse_follow(preflight: FollowPreflight, out: Console, as_json: bool) -> NoReturn:
    """Follow is not possible: every reason shown, then one error line; nothing was written to either server."""
    from pghaul.cli.follow_report import FALLBACK, render_preflight

    if as_json:
        report_line("FollowPreflight", preflight.to_dict())
    for part in render_preflight(preflight):
        out.print(part, highlight=False)
    refused = preflight.error()
    _fail(f"{refused.message}; nothing was written to either server", FALLBACK, as_json=as_json)


def _migrate_options(
    tables: list[str] | None,
    exclude: list[str] | None,
    *,
    batch_size: int | None,
    workers: int | None,
    maintenance_work_mem: str | None,
    follow_source_url: str | None = None,
    max_rate: float | None = None,
    **flags: bool,
) -> MigrateOptions:
    """``MigrateOptions`` from the command line; what was not given keeps the engine's default."""
    from pghaul.engine import MigrateOptions

    options: dict[str, Any] = {"include": _patterns(tables), "exclude": _patterns(exclude), **flags}
    if follow_source_url:
        options["follow_source_url"] = follow_source_url
    if batch_size is not None:
        options["batch_size"] = batch_size
    if workers is not None:
        options["workers"] = workers
    if maintenance_work_mem is not None:
        options["maintenance_work_mem_kb"] = _kilobytes(maintenance_work_mem)
    if max_rate is not None:
        options["max_rate"] = max_rate
    return MigrateOptions(**options)


def _confirm_migration(source: str | None, target: str | None, out: Console, *, follow: bool = False) -> None:
    """Ask on ``out`` (stderr under --json, so stdout stays JSON lines)."""
    if not sys.stdin.isatty():
        _fail("confirmation needed", "pass --yes to migrate without a prompt", 2, as_json=out is err_console)
    written = "read, and given a replication slot and a publication (--follow)" if follow else "read only"
    out.print(f"source: [bold]{redact_url(source or '')}[/] ({written})")
    out.print(f"target: [bold]{redact_url(target or '')}[/] (will be written)")
    if not typer.confirm("Migrate now?", default=False, err=out is err_console):
        raise typer.Exit(1)


_SIZE_UNITS = {"kb": 1, "mb": 1024, "gb": 1024 * 1024}


def _kilobytes(text: str) -> int:
    """``512MB`` / ``1GB`` / ``65536kB`` as kilobytes, the unit PostgreSQL's memory settings count in."""
    value = text.strip().lower().replace(" ", "")
    for unit, factor in _SIZE_UNITS.items():
        if value.endswith(unit) and value[: -len(unit)].isdigit():
            return int(value[: -len(unit)]) * factor
    _fail(f"cannot read the size {text!r}", "write it like 512MB or 1GB", 2)


def _print_migration_summary(result: Any) -> None:
    from pghaul.cli.render import render_report

    if getattr(result, "verify_report", None) is not None:
        for renderable in render_report(result.verify_report):
            console.print(renderable)
    tables = getattr(result, "tables", None) or []
    if tables:
        # Two short lines rather than one that an 80-column terminal would break inside a figure.
        console.print(f"tables: {len(tables):,}   rows inserted: {result.rows_copied:,}", highlight=False)
        console.print(f"rows already on the target (skipped): {result.rows_skipped:,}", highlight=False)
    objects = getattr(result, "large_objects", None)
    if objects is not None and objects.objects:
        console.print(f"large objects copied: {objects.copied:,} ({objects.bytes_copied / 1048576:,.1f} MB)"
                      f"   already on the target: {objects.skipped:,}", highlight=False)
    if result.ok:
        console.print("[bold green]migration complete[/]")
    else:
        err_console.print("[bold red]migration finished with differences[/] — see the report above")
    if getattr(result, "follow", None) is not None:
        from pghaul.cli.follow_report import render_following

        for part in render_following(result.follow):
            console.print(part, highlight=False)


@app.command()
def verify(
    ctx: typer.Context,
    source: SourceOption = None,
    target: TargetOption = None,
    tables: TablesOption = None,
    exclude: ExcludeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare source and target: rows, checksums, sequences, schema, extensions, vector search."""
    from pghaul.cli.render import render_report
    from pghaul.engine import verify as run_verify
    from pghaul.verify import VerifyOptions

    options = VerifyOptions(include=_patterns(tables), exclude=_patterns(exclude))
    with _errors(ctx, source, target, as_json=as_json):
        with view_for(err_console if as_json else console, as_json) as view:
            report = run_verify(source, target, options, view)
        if as_json:
            report_line("Report", report.to_dict())
        else:
            for renderable in render_report(report):
                console.print(renderable)
        if not report.ok:
            raise typer.Exit(1)


WorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, max=64, help="Tables synced at once (default: as migrate).")
]


@app.command()
def sync(
    ctx: typer.Context,
    source: SourceOption = None,
    target: TargetOption = None,
    tables: TablesOption = None,
    exclude: ExcludeOption = None,
    workers: WorkersOption = None,
    full: FullOption = False,
    max_rate: MaxRateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring a migrated target up to date with what changed on the source since. The source is only read."""
    from pghaul.cli.interrupt import cancel_on_interrupt
    from pghaul.cli.sync_report import render_sync_summary
    from pghaul.engine import sync as run_sync
    from pghaul.sync import SyncOptions

    options = SyncOptions(include=_patterns(tables), exclude=_patterns(exclude), workers=workers, full=full,
                          max_rate=max_rate)
    out = err_console if as_json else console
    with _errors(ctx, source, target, as_json=as_json):
        with cancel_on_interrupt(out) as cancel, view_for(out, as_json) as view:
            report = run_sync(source, target, options, view, cancel)
        if as_json:
            report_line("Report", report.to_dict())
            return
        for part in render_sync_summary(report):
            console.print(part)


CutoverFollowOption = Annotated[bool, typer.Option(
    "--follow", help="Insist on the cutover with follow (refused when the target does not follow its source). "
    "Without it the target decides, as the page's cutover does: one that follows its source (migrate --follow) "
    "gets the follow cutover — the final catch-up waits until the replication lag is zero, then sequences, "
    "large objects, the verify, and the subscription, the slot and the publication dropped.")]
FreezeSourceOption = Annotated[bool, typer.Option(
    "--freeze-source", help="Make the source read-only for new sessions and end the app's open ones first "
    "(the one write pghaul makes to the source; undo with `pghaul unfreeze`).")]
WritesPausedOption = Annotated[bool, typer.Option(
    "--writes-paused", help="The app's writes are already paused: no catch-up rounds, no waiting.")]
CutoverYesOption = Annotated[bool, typer.Option(
    "--yes", "-y", help="Do not wait for Enter after the catch-up (with --freeze-source, the freeze pauses "
    "the writes).")]
VerifyRowsOption = Annotated[bool | None, typer.Option(
    "--verify-rows/--no-verify-rows", show_default=False, help="With follow: compare every row inside the "
    "write pause (a window that grows with the database), or the schema only (rows were verified against the "
    "copy's snapshot and replication applied every change since). Default: --verify-rows, as "
    "FollowCutoverOptions.")]
LagTimeoutOption = Annotated[float | None, typer.Option(
    "--lag-timeout", min=1, metavar="SECONDS", help="With follow: how long to wait for the replication lag "
    "to reach zero before giving up (replication keeps running). Default: pghaul's.")]


@app.command()
def cutover(
    ctx: typer.Context,
    source: SourceOption = None,
    target: TargetOption = None,
    follow: CutoverFollowOption = False,
    freeze_source: FreezeSourceOption = False,
    writes_paused: WritesPausedOption = False,
    yes: CutoverYesOption = False,
    verify_rows: VerifyRowsOption = None,
    lag_timeout: LagTimeoutOption = None,
    tables: TablesOption = None,
    exclude: ExcludeOption = None,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Switch the app to the target: catch up, pause writes, final sync (zero replication lag when the target
    follows its source), full verify, and how to switch."""
    from pghaul.cli.cutover import CutoverRequest, conversation
    from pghaul.sync import SyncOptions

    for_sync = bool(tables or exclude or workers)
    for_follow = verify_rows is not None or lag_timeout is not None
    if follow and for_sync:
        _fail(*_WRONG_CUTOVER_OPTIONS["follow"], 2, as_json=as_json)
    wait = not (writes_paused or yes)
    if wait and not sys.stdin.isatty():
        _fail("cutover waits for you to pause the app's writes, and there is no terminal to ask in",
              "pause the writes first and pass --writes-paused, or pass --yes (with --freeze-source)", 2,
              as_json=as_json)
    out = err_console if as_json else console
    with _errors(ctx, source, target, as_json=as_json):
        following = _target_follows(target)
        if follow and following is None:
            _fail("the target does not follow its source: there is no replication lag to wait for",
                  "nothing was changed; run `pghaul cutover` without --follow (a final sync, then the verify)",
                  as_json=as_json)
        if following is not None and for_sync:
            _fail(*_WRONG_CUTOVER_OPTIONS["follow"], 2, as_json=as_json)
        if following is None and for_follow:
            _fail(*_WRONG_CUTOVER_OPTIONS["sync"], 2, as_json=as_json)
        if following is not None and not follow:
            out.print(f"the target follows its source (follow: {following}): this cutover waits for the "
                      "replication lag to reach zero instead of a final sync, as --follow does", highlight=False)
        request = CutoverRequest(
            source or "", target or "", SyncOptions(include=_patterns(tables), exclude=_patterns(exclude),
                                                    workers=workers),
            freeze=freeze_source, writes_paused=writes_paused, wait=wait,
            follow=None if following is None else _follow_cutover_options(freeze_source, verify_rows, lag_timeout),
        )
        outcome = conversation(request, out, prompt_to_stderr=as_json, view=lambda: view_for(out, as_json)).run()
        _print_cutover(outcome, as_json)
        if not outcome.report.ok:
            raise typer.Exit(1)


def _print_cutover(outcome: Any, as_json: bool) -> None:
    from pghaul.cli.cutover import FollowCutoverOutcome, render_cutover, render_follow_cutover

    if as_json:
        report_line("Report", outcome.to_dict())
        return
    parts = (render_follow_cutover(outcome.report) if isinstance(outcome, FollowCutoverOutcome)
             else render_cutover(outcome.report))
    for part in parts:
        console.print(part)


# Options of one cutover given for the other: (message, hint), by the cutover the target gets.
_WRONG_CUTOVER_OPTIONS = {
    "follow": ("--tables, --exclude and --workers are for the sync cutover, and this cutover is follow's",
               "the tables are those migrate --follow publishes (recorded on the target): leave the options out"),
    "sync": ("--verify-rows, --no-verify-rows and --lag-timeout are for a target that follows its source, and "
             "this one does not", "leave them out: the sync cutover verifies every row"),
}


def _target_follows(target: str | None) -> str | None:
    """How the target follows its source (``FollowState``, from the target's side: its subscription or a start
    recorded), or None when it does not: what decides which cutover runs, as in the admin API."""
    from pghaul.connect import connect_target
    from pghaul.follow import FollowState, read_follow_status

    with connect_target(target) as tgt:
        state = read_follow_status(None, tgt).state
    return None if state is FollowState.NONE else str(state)


def _follow_cutover_options(freeze: bool, verify_rows: bool | None,
                            lag_timeout: float | None) -> FollowCutoverOptions:
    """``FollowCutoverOptions`` from the command line; what was not given keeps the engine's default."""
    from pghaul.follow import FollowCutoverOptions

    options: dict[str, Any] = {"freeze_source": freeze}
    if verify_rows is not None:
        options["verify_rows"] = verify_rows
    if lag_timeout is not None:
        options["lag_timeout_seconds"] = lag_timeout
    return FollowCutoverOptions(**options)


@app.command("stop-follow")
def stop_follow(
    ctx: typer.Context,
    source: SourceOption = None,
    target: TargetOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Give up following: drop the subscription on the target, and the replication slot and the publication on
    the source. The target keeps its rows as replication left them; `pghaul sync` then brings it up to date and
    `pghaul cutover` switches."""
    from pghaul.cli.follow_report import render_teardown
    from pghaul.follow import stop_follow as run_stop_follow

    out = err_console if as_json else console
    with _errors(ctx, source, target, as_json=as_json):
        if not yes:
            if not sys.stdin.isatty():
                _fail("confirmation needed", "pass --yes to stop following without a prompt", 2, as_json=as_json)
            out.print(f"target: [bold]{redact_url(target or '')}[/] stops applying the source's changes; its rows "
                      "stay", highlight=False)
            if not typer.confirm("Stop following now?", default=False, err=as_json):
                raise typer.Exit(1)
        with view_for(out, as_json) as view:
            report = run_stop_follow(source or "", target or "", view)
        if as_json:
            report_line("Report", report.to_dict())
            return
        for part in render_teardown(report):
            console.print(part, highlight=False)


@app.command("follow")
def follow_command(
    ctx: typer.Context,
    source: SourceOption = None,
    target: TargetOption = None,
    tables: TablesOption = None,
    exclude: ExcludeOption = None,
    workers: WorkersOption = None,
    full: FullOption = False,
    follow_source_url: FollowSourceUrlOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Keep a target that `pghaul migrate` copied without --follow following the source with PostgreSQL's logical
    replication, without copying it again: a replication slot and a publication on the source, a sync to the
    slot's moment, then a subscription on the target until `pghaul cutover --follow`. Checked first: when it is
    not possible (or the target follows already, or its migration did not finish), nothing is written."""
    from pghaul.cli.follow_report import render_following
    from pghaul.cli.interrupt import cancel_on_interrupt
    from pghaul.cli.sync_report import render_sync_summary
    from pghaul.follow import FollowNotPossible, FollowOptions, follow_migrated, follow_migrated_preflight

    out = err_console if as_json else console
    with _errors(ctx, source, target, follow_source_url, as_json=as_json):
        options = FollowOptions(include=_patterns(tables), exclude=_patterns(exclude), workers=workers, full=full,
                                follow_source_url=follow_source_url or None)
        _show_follow_preflight(follow_migrated_preflight(source, target, options), out, as_json)
        if not yes:
            _confirm_follow(source, target, out)
        try:
            with cancel_on_interrupt(out) as cancel, view_for(out, as_json) as view:
                result = follow_migrated(source, target, options, view, cancel)
        except FollowNotPossible as refused:  # the servers changed since the preflight above
            _refuse_follow(refused.preflight, out, as_json)
        if as_json:
            report_line("Report", result.to_dict())
            return
        for part in [*(render_sync_summary(result.sync) if result.sync is not None else []),
                     *render_following(result.follow)]:
            console.print(part, highlight=False)


def _confirm_follow(source: str | None, target: str | None, out: Console) -> None:
    """Ask on ``out`` (stderr under --json, so stdout stays JSON lines)."""
    if not sys.stdin.isatty():
        _fail("confirmation needed", "pass --yes to start following without a prompt", 2, as_json=out is err_console)
    out.print(f"source: [bold]{redact_url(source or '')}[/] (read, and given a replication slot and a publication)")
    out.print(f"target: [bold]{redact_url(target or '')}[/] (synced to the slot's moment, then subscribed)")
    if not typer.confirm("Start following now?", default=False, err=out is err_console):
        raise typer.Exit(1)


@app.command()
def status(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", envvar="NEW_DATABASE_URL", show_envvar=True,
                     help="The database a migration writes (or wrote) into."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", "-s", envvar="DATABASE_URL", show_envvar=True,
                     help="The database copied from: when the target follows it, also read the replication slot "
                     "there (the lag in bytes, the WAL it keeps)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The status as one JSON object (as db-status replies).")]
    = False,
) -> None:
    """Show the migration job recorded on a target: its state (running, done, failed, interrupted), phase,
    each table's rows and ranges, its error and hint, and its summary once finished; and, when the target
    follows its source, the replication's state, lag and problems. Reads only; works from another terminal while
    a migration runs, and after its process died."""
    from pghaul.cli.status import render_status, status_dict
    from pghaul.connect import connect_target
    from pghaul.engine.jobs import read_status

    with _errors(ctx, target, source, as_json=as_json):
        with connect_target(target) as tgt:
            job = read_status(tgt)
            follow, source_error = _follow_status(tgt, source, target or "")
        if as_json:
            json_line({**status_dict(job), "follow": None if follow is None else follow.to_dict(),
                       **({"followSourceError": source_error} if source_error else {})})
            return
        for part in render_status(job, describe_url(target or ""), follow, source_error):
            console.print(part, highlight=False)


def _follow_status(tgt: psycopg.Connection, source: str | None,
                   target: str) -> tuple[FollowStatus | None, str | None]:
    """Follow's status when the target follows (None when not): the target's side first, then, given the
    source, both sides. A source that cannot be reached leaves the target's side and says why, so the status
    still works while the source is down."""
    from pghaul.connect import connect_source
    from pghaul.follow import FollowState, read_follow_status

    found = read_follow_status(None, tgt)
    if found.state is FollowState.NONE:
        return None, None
    if not source:
        return found, None
    try:
        with connect_source(source) as src:
            return read_follow_status(src, tgt), None
    except PghaulError as exc:
        return found, scrub(exc.message, *_secrets((source, target)))


@app.command()
def freeze(
    ctx: typer.Context,
    source: SourceOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Make the source read-only for new sessions and end its open ones (what cutover --freeze-source does)."""
    from pghaul.cli.cutover import FREEZE_EXPLAINED
    from pghaul.engine.freeze import freeze_source

    with _errors(ctx, source):
        if not yes:
            if not sys.stdin.isatty():
                _fail("confirmation needed", "pass --yes to freeze the source without a prompt", 2)
            console.print(f"Freezing: {FREEZE_EXPLAINED}", highlight=False)
            if not typer.confirm(f"Freeze {redact_url(source or '')} now?", default=False):
                raise typer.Exit(1)
        console.print(freeze_source(source or "").describe(), highlight=False)


@app.command()
def unfreeze(ctx: typer.Context, source: SourceOption = None) -> None:
    """Let new sessions on the source write again: undo a freeze (or a cutover's --freeze-source)."""
    from pghaul.engine.freeze import unfreeze_source

    with _errors(ctx, source):
        console.print(unfreeze_source(source or "").describe(), highlight=False)


@app.command()
def cleanup(
    ctx: typer.Context,
    target: TargetOption = None,
    source: Annotated[
        str | None,
        typer.Option("--source", "-s", envvar="DATABASE_URL", show_envvar=True,
                     help="The database copied from: refuse if the target is this database."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop pghaul's own bookkeeping schema (`pghaul`) from the target; with --source, also follow's subscription on
    the target and its replication slot and publication on the source, and unfreeze the source if a cutover froze
    it. Your tables are not touched."""
    from pghaul.engine import cleanup as drop_pghaul_schema
    from pghaul.engine.freeze import UnfreezeOutcome, unfreeze_source

    with _errors(ctx, source, target):
        if not yes and sys.stdin.isatty() and not typer.confirm("Drop the pghaul schema on the target?"):
            raise typer.Exit(1)
        following = _target_follows(target) if source else None
        dropped = drop_pghaul_schema(target, source)
        console.print("dropped schema pghaul" if dropped else "nothing to clean up: no pghaul schema on the target")
        if following is not None:  # cleanup drops whatever of follow's objects there is, on both sides
            console.print(f"follow taken down too (it was {following}): no subscription, replication slot or "
                          "publication of pghaul's is left on either server", highlight=False)
        if source:
            # The one thing pghaul may have left on a source: a cutover's freeze.
            undone = unfreeze_source(source)
            if undone.outcome is UnfreezeOutcome.UNFROZEN:
                console.print(undone.describe())


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind (0.0.0.0 when PORT is set).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: $PORT, else 8000).")] = None,
) -> None:
    """Run the admin HTTP API and the migration page (configured by environment variables)."""
    from pghaul.http import serve as run_server
    from pghaul.settings import Settings

    with _errors(ctx, os.environ.get("DATABASE_URL"), os.environ.get("NEW_DATABASE_URL")):
        run_server(host=host, port=port, settings=Settings())


@app.command()
def demo(
    ctx: typer.Context,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the servers' data directories behind.")] = False,
) -> None:
    """Start two embedded servers, fill one with a sample app database, migrate it, verify, and stop."""
    from pghaul.cli.demo import run_demo

    with _errors(ctx):
        ok = run_demo(console, keep=keep)
        if not ok:
            raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    command: Callable[..., Any] = app
    command(args=argv, prog_name="pghaul")


if __name__ == "__main__":
    main()
