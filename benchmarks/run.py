"""Entry point: ``python benchmarks/run.py --scale small|default|FLOAT --runs 3``."""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts benchmarks/ itself on the path; the harness imports itself as a package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import main

if __name__ == "__main__":
    sys.exit(main())
