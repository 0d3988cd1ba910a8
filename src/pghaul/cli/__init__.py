"""The `pghaul` command and everything it draws in a terminal: the progress bars (``progress_view.py``), the
verification report (``render.py``), sync's lines and summary (``sync_view.py``), the cutover's conversation
(``cutover.py``), Ctrl-C as the engine's cancel event (``interrupt.py``), the demo (``demo.py``). The engine and
the HTTP shell print nothing."""

from pghaul.cli.commands import app, exit_code, main

__all__ = ["app", "exit_code", "main"]
