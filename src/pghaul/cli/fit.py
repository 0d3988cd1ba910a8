"""Fitting output into a terminal's width: the figures whole, a long name shortened in its middle, folded, or
given a line of its own.

What the CLI prints is mostly a name (a table, an index, a sequence: up to 63 characters each side of the dot)
and the figures that matter (rows, MB, rate, ETA, counts). When both do not fit, the figures win:

- a live progress row (redrawn, gone once its table is done) shortens the name in its middle
  (``public.very_lo…_table_name`` keeps the schema and the end of the name, which tell tables apart), and puts
  its figures on a line of their own once a shortened name would be too short to tell anything;
- a line that stays on the screen (``Line.fit``) loses nothing: figures under the name, the name folded when it
  alone is wider than the terminal;
- report tables (``name_column``, ``figure_column``) wrap a long name within its column.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

ELLIPSIS = "…"
# The shortest a shortened name gets in a progress row before the figures move to a line of their own: the
# schema, the ellipsis and the last dozen characters of the table's name still tell most tables apart at this
# width; shorter, they all read ``public.a…_ch``.
MIN_NAME = 24


def middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, shortened in the middle: ``public.very_lo…_table_name``."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    head = (keep + 1) // 2
    tail = keep - head
    return f"{text[:head]}{ELLIPSIS}{text[len(text) - tail:] if tail else ''}"


@dataclass(frozen=True)
class Line:
    """What one event says: the ``name`` that may be shortened and the ``figures`` that never are.

    A terminal shows ``mark`` before the name (``▶ ``, ``✓ ``, a counter); a log shows ``word`` instead (``phase ``,
    ``table ``) and ``after`` behind it (``started``), so each log line says what it is about in words a search
    finds. ``plain()`` is the whole log line; ``fit(width)`` the line(s) for a terminal of that width.
    """

    name: str = ""
    figures: str = ""
    mark: str = ""
    word: str = ""
    after: str = ""
    style: str = ""
    figures_style: str = ""
    prose: bool = False  # the name is a sentence: a terminal wraps it between words rather than shortening it

    def plain(self) -> str:
        head = f"{self.word}{self.name}" + (f" {self.after}" if self.after else "")
        return f"{head}  {self.figures}" if self.figures else head

    def fit(self, width: int) -> list[Text]:
        """One line if it fits; else the name on its line and the figures on the next, indented. A line that
        stays on the screen loses nothing: a name wider than the terminal by itself (a 63-character schema and
        a 63-character table) folds onto a second line, and figures wider than it wrap between words."""
        head = self.mark if self.mark or not self.word else ""
        tail = f" {self.after}" if self.after and not self.mark else ""
        if self.prose:
            return [self._text(head, self.name + tail, self.figures)]  # the console wraps it between words
        if len(head) + len(self.name) + len(tail) + (len(self.figures) + 2 if self.figures else 0) <= width:
            return [self._text(head, self.name + tail, self.figures)]
        whole = f"{head}{self.name}{tail}"
        lines = [Text(whole[i:i + width], style=self.style) for i in range(0, len(whole), max(width, 1))]
        return [*lines, self._text("    ", "", self.figures)] if self.figures else lines

    def _text(self, head: str, name: str, figures: str) -> Text:
        text = Text(f"{head}{name}", style=self.style)
        if figures:
            if name:
                text.append("  ")
            text.append(figures, style=self.figures_style or self.style)
        return text


@dataclass(frozen=True)
class Figures:
    """Figures as slots (count, size, rate, time left) that line up from one row to the next: rows of one
    ``kind`` are aligned slot by slot, each slot as wide as its widest value among them."""

    slots: tuple[str, ...] = ()
    kind: str = ""

    def plain(self) -> str:
        return "  ".join(slot for slot in self.slots if slot)

    @staticmethod
    def align(rows: list[Figures]) -> list[str]:
        widths: dict[str, list[int]] = {}
        for row in rows:
            kind = widths.setdefault(row.kind, [])
            kind.extend([0] * (len(row.slots) - len(kind)))
            for i, slot in enumerate(row.slots):
                kind[i] = max(kind[i], len(slot))
        aligned = []
        for row in rows:
            kind = widths[row.kind]
            cells = [(row.slots[i] if i < len(row.slots) else "").rjust(w) for i, w in enumerate(kind) if w]
            aligned.append("  ".join(cells))
        return aligned


def name_column(table: Table, header: str) -> None:
    """A column for names that wraps a long one over lines (cut nowhere): it gives way first when the table is
    wider than the terminal."""
    table.add_column(header, overflow="fold")


def figure_column(table: Table, header: str, justify: str = "right") -> None:
    """A column for figures: never wrapped, never cut (the name columns give way instead). A header of two
    words may take two lines (``"rows\nsource"``), so it is no wider than the figures under it."""
    # "fold": should the terminal be narrower than the figures alone, they go on the next line, never cut.
    table.add_column(header, justify=justify, no_wrap=True, overflow="fold")  # type: ignore[arg-type]


def compact_table(title: str | None = None) -> Table:
    """A rich table that spends its width on the data: a rule under the header, no borders around it."""
    from rich import box

    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 collapse_padding=True, expand=False)
