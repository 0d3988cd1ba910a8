"""The `pghaul` command and everything it prints. ``commands.py`` parses and calls the engine; ``views.py``
chooses how its events are shown (live bars in a terminal: ``progress_view.py``; timestamped lines in a log;
JSON lines with ``--json``), ``say.py`` is what each event says and ``fit.py`` fits it to the terminal's width.
Reports: verification (``render.py``), sync (``sync_report.py``), a job's status (``status.py``), follow's preflight,
status and teardown (``follow_report.py``); the cutover's conversation, with or without follow (``cutover.py``),
Ctrl-C as the engine's cancel event (``interrupt.py``), the demo (``demo.py``).
The engine and the HTTP shell print nothing."""

from pghaul.cli.commands import app, exit_code, main

__all__ = ["app", "exit_code", "main"]
