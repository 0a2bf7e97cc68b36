"""Rules of the code's shape that import-linter cannot see (ARCHITECTURE.md).

The web faces never steer a transaction: the domain's services and workflows commit, and leave
the session clean after an error (commerce/db.py), so a view that rolled back, refreshed or
committed would be working around the domain instead of calling it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEB_FACES = ("console", "storefront", "api")
TRANSACTION_CONTROL = {
    "begin",
    "begin_nested",
    "close",
    "commit",
    "expire",
    "expire_all",
    "flush",
    "refresh",
    "remove",
    "rollback",
}


def _session_calls(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, method) of every `db.session.<method>(...)` / `db.session().<method>(...)`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        if isinstance(owner, ast.Call):  # db.session()
            owner = owner.func
        if (
            isinstance(owner, ast.Attribute)
            and owner.attr == "session"
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "db"
        ):
            found.append((node.lineno, node.func.attr))
    return found


def test_the_scan_finds_what_it_looks_for():
    tree = ast.parse("db.session.rollback()\ndb.session().commit()\ndb.session.get(X, 1)\n")
    assert _session_calls(tree) == [(1, "rollback"), (2, "commit"), (3, "get")]


def test_web_views_never_steer_a_transaction():
    offences = []
    for face in WEB_FACES:
        for path in sorted((ROOT / face).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, method in _session_calls(tree):
                if method in TRANSACTION_CONTROL:
                    offences.append(f"{path.relative_to(ROOT)}:{line}: db.session.{method}()")
    assert not offences, (
        "A view calls one service and renders; the service commits and leaves the session "
        "clean after an error (commerce.db.service / workflow):\n" + "\n".join(offences)
    )
