"""Saved filters: a staff member's named query strings for a console list ("presets").

A preset belongs to one staff member and one list (`area`); only its owner sees, uses or
deletes it. The query string is stored as the list put it in its URL, so applying a preset is
following a link; the list validates it again when it is used, like any URL.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from commerce import audit
from commerce.db import service, transaction
from commerce.errors import DuplicateValue, NotFound, ValidationError
from commerce.extensions import db
from commerce.staff.models import SavedFilter

MAX_NAME = 80
MAX_QUERY = 2000
_AREA_RE = re.compile(r"^[a-z][a-z_]{0,39}$")


def _check_area(area: str) -> str:
    if not _AREA_RE.match(area or ""):
        raise ValidationError("Unknown list for a saved filter.", field="area")
    return area


def _clean_name(name: Any) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise ValidationError("Give the filter a name.", field="name")
    if len(text) > MAX_NAME:
        raise ValidationError(f"Use at most {MAX_NAME} characters for the name.", field="name")
    return text


def _clean_query(query: Any) -> str:
    text = str(query or "").strip().lstrip("?")
    if len(text) > MAX_QUERY:
        raise ValidationError("This filter is too long to save.", field="query")
    return text


def _audit_label(saved: SavedFilter) -> str:
    return f"{saved.area}: {saved.name}"


def _duplicate(name: str) -> DuplicateValue:
    return DuplicateValue(f"You already have a saved filter called “{name}”.", field="name")


def list_saved_filters(staff_id: int, area: str) -> list[SavedFilter]:
    """The staff member's presets for one list, by name."""
    return list(
        db.session.scalars(
            select(SavedFilter)
            .where(SavedFilter.staff_id == staff_id, SavedFilter.area == area)
            .order_by(func.lower(SavedFilter.name), SavedFilter.id)
        )
    )


def get_saved_filter(saved_id: int, *, staff_id: int) -> SavedFilter:
    """The preset, if it is this staff member's (someone else's is reported as missing)."""
    saved = db.session.get(SavedFilter, saved_id)
    if saved is None or saved.staff_id != staff_id:
        raise NotFound("No such saved filter.")
    return saved


def save_filter(area: str, *, name: Any, query: Any, by: Any) -> SavedFilter:
    """Save `query` under `name` for `by` (the owner). Names are unique per owner and list,
    compared without case, so "Unpaid" and "unpaid" cannot both appear as links."""
    area = _check_area(area)
    clean_name = _clean_name(name)
    clean_query = _clean_query(query)
    try:
        with transaction():
            taken = db.session.scalar(
                select(SavedFilter.id).where(
                    SavedFilter.staff_id == by.id,
                    SavedFilter.area == area,
                    func.lower(SavedFilter.name) == clean_name.lower(),
                )
            )
            if taken is not None:
                raise _duplicate(clean_name)
            saved = SavedFilter(staff_id=by.id, area=area, name=clean_name, query=clean_query)
            db.session.add(saved)
            db.session.flush()
            audit.record(
                by,
                "saved_filter.create",
                saved,
                subject_type="saved_filter",
                subject_label=_audit_label(saved),
                after={"area": area, "name": clean_name, "query": clean_query},
            )
    except IntegrityError:  # the same name saved at the same moment (another tab)
        raise _duplicate(clean_name) from None
    return saved


@service
def delete_saved_filter(saved_id: int, *, by: Any) -> str:
    """Delete one of `by`'s own presets; returns its name (the row is gone after the commit)."""
    saved = get_saved_filter(saved_id, staff_id=by.id)
    audit.record(
        by,
        "saved_filter.delete",
        saved,
        subject_type="saved_filter",
        subject_label=_audit_label(saved),
        before={"area": saved.area, "name": saved.name, "query": saved.query},
    )
    name = saved.name
    db.session.delete(saved)
    return name
