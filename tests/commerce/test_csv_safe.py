"""Cells a spreadsheet would evaluate (OWASP's list) are written as text; others unchanged; our
imports undo the added quote exactly."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commerce.csv_safe import FORMULA_STARTS, SafeCsv, safe_cell, unescape_cell


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_get_a_quote(start):
    assert safe_cell(f"{start}1+1") == f"'{start}1+1"


@pytest.mark.parametrize("value", ["Ada", "12.50", "2026-03-01T10:00:00-05:00", "", " =x", "a=b"])
def test_other_cells_are_unchanged(value):
    assert safe_cell(value) == value


def test_every_cell_is_quoted_so_a_separator_cannot_open_a_cell():
    out = SafeCsv()
    out.row(['=1+2";=1+2', "Ada, Countess", None, 3])
    text = out.take()
    assert text == '"\'=1+2"";=1+2","Ada, Countess","","3"\r\n'
    assert next(csv.reader(io.StringIO(text))) == ["'=1+2\";=1+2", "Ada, Countess", "", "3"]
    assert out.take() == ""


@pytest.mark.parametrize(
    "value", ['=HYPERLINK("http://evil.example")', "-5", "'-5", "''=x", "'plain", "@me", ""]
)
def test_our_import_reads_back_exactly_what_was_escaped(value):
    assert unescape_cell(safe_cell(value)) == value


@given(st.text(max_size=12))
def test_the_round_trip_is_exact_for_any_text(value):
    escaped = safe_cell(value)
    assert not escaped.startswith(FORMULA_STARTS)
    assert unescape_cell(escaped) == value


def test_every_csv_export_writes_through_safe_cell():
    """No module writes CSV around the shared escaping: csv.writer lives in csv_safe only."""
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for folder in ("commerce", "console", "storefront")
        for path in (root / folder).rglob("*.py")
        if path.name != "csv_safe.py"
        and re.search(r"csv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
