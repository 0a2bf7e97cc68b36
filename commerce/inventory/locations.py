"""Stock locations: create and change them (audited)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from commerce import audit
from commerce.db import service
from commerce.errors import DuplicateValue, NotFound, ValidationError
from commerce.extensions import db
from commerce.inventory.models import Location

LOCATION_KINDS = {"warehouse": "Warehouse", "store": "Store", "dropship": "Drop-ship / 3PL"}
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$")


def _snapshot(location: Location) -> dict[str, Any]:
    return {
        "name": location.name,
        "code": location.code,
        "kind": location.kind,
        "priority": location.priority,
        "is_active": location.is_active,
        "address": location.address,
    }


def _clean(
    *,
    name: Any,
    code: Any,
    kind: Any,
    priority: Any,
    address: Any,
    current: Location | None = None,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    code = (code or "").strip().upper()
    if not name:
        errors["name"] = ["Enter a name."]
    elif len(name) > 120:
        errors["name"] = ["At most 120 characters."]
    if not code:
        errors["code"] = ["Enter a short code, like WH1."]
    elif not _CODE_RE.match(code):
        errors["code"] = ["Letters, digits, - and _ only, at most 20."]
    if kind not in LOCATION_KINDS:
        errors["kind"] = ["Choose a kind."]
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9999:
        errors["priority"] = ["Enter a whole number from 0 to 9999."]
    if errors:
        raise ValidationError(errors=errors)
    taken = db.session.scalar(select(Location.id).where(func.upper(Location.code) == code).limit(1))
    if taken is not None and (current is None or taken != current.id):
        raise DuplicateValue(f"Another location already uses the code {code}.", field="code")
    return {
        "name": name,
        "code": code,
        "kind": kind,
        "priority": priority,
        "address": (address or "").strip(),
    }


def get_location(location_id: int) -> Location:
    location = db.session.get(Location, location_id)
    if location is None:
        raise NotFound("No such location.")
    return location


@service
def create_location(
    *,
    name: str,
    code: str,
    by: Any,
    kind: str = "warehouse",
    priority: int = 1,
    is_active: bool = True,
    address: str = "",
) -> Location:
    values = _clean(name=name, code=code, kind=kind, priority=priority, address=address)
    location = Location(**values, is_active=bool(is_active))
    db.session.add(location)
    db.session.flush()
    audit.record(by, "location.create", location, after=_snapshot(location))
    return location


@service
def update_location(location: Location, *, by: Any, **changes: Any) -> Location:
    current = _snapshot(location)
    merged = {**current, **{k: v for k, v in changes.items() if k in current}}
    values = _clean(
        name=merged["name"],
        code=merged["code"],
        kind=merged["kind"],
        priority=merged["priority"],
        address=merged["address"],
        current=location,
    )
    values["is_active"] = bool(merged["is_active"])
    return audit.update_audited(
        location, values, by=by, action="location.update", snapshot=_snapshot
    )
