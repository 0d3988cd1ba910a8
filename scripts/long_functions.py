"""List the functions in src/ longer than a limit (60 lines by default): Python by its syntax tree, the page's
JavaScript by its ``function`` blocks. Prints one line per function and exits 1 when any is found.

    python scripts/long_functions.py [--limit 60] [ROOT]
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

_JS_FUNCTION = re.compile(r"^\s*(?:async\s+)?function\s+(\w+)\s*\(|^\s*(?:const|let)\s+(\w+)\s*=\s*(?:async\s*)?\(")


def python_functions(path: Path) -> Iterator[tuple[str, int, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            yield node.name, first, node.end_lineno - first + 1


# String literals, regular expression literals and line comments: their braces are not blocks.
_NOT_CODE = re.compile(
    r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`(?:\\.|[^`\\])*`"""
    r"""|(?<=[(,=:!&|?{};])\s*/(?:\\.|\[(?:\\.|[^\]])*\]|[^/\\\n])+/[gimsuy]*|//.*$"""
)


def _block_end(lines: list[str], start: int) -> int:
    depth, opened = 0, False
    for number in range(start, len(lines)):
        for char in _NOT_CODE.sub("", lines[number]):
            if char == "{":
                depth, opened = depth + 1, True
            elif char == "}":
                depth -= 1
        if opened and depth <= 0:
            return number
    return len(lines) - 1


def javascript_functions(path: Path) -> Iterator[tuple[str, int, int]]:
    """Functions of the scripts in an HTML or JS file, by brace matching (the page has no template strings with
    unbalanced braces)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        found = _JS_FUNCTION.match(line)
        if found and "{" in "".join(lines[number : number + 3]):
            end = _block_end(lines, number)
            yield found.group(1) or found.group(2), number + 1, end - number + 1


def long_functions(root: Path, limit: int) -> list[str]:
    out = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".py":
            found = python_functions(path)
        elif path.suffix in (".html", ".js"):
            found = javascript_functions(path)
        else:
            continue
        out += [f"{path}:{line}: {name} is {length} lines" for name, line, length in found if length > limit]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="src")
    parser.add_argument("--limit", type=int, default=60)
    args = parser.parse_args()
    found = long_functions(Path(args.root), args.limit)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
