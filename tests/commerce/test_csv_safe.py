"""Cells a spreadsheet would evaluate (OWASP's list) are written as text; others unchanged."""

from __future__ import annotations

import csv
import io

import pytest

from commerce.csv_safe import SafeCsv, safe_cell


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
