"""CSV import and export (built out by the import work; routes declared here)."""

from __future__ import annotations

from typing import Any

from console import bp
from console.permissions import route
from console.web import render


@route(bp, "/import", permission="catalog.import", methods=["GET"])
def import_start() -> Any:
    return render("console/catalog/import_placeholder.html")
