"""The `pghaul` command and everything it draws in a terminal: the progress bars (``progress_view.py``), the
verification report (``render.py``), the demo (``demo.py``). The engine and the HTTP shell print nothing."""

from pghaul.cli.commands import app, exit_code, main

__all__ = ["app", "exit_code", "main"]
