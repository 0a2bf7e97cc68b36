"""Keyset paging for the console's long lists: pages over (sort key, id), never OFFSET.

OFFSET reads and throws away every row before the page, so page 400 of the orders costs 400
pages; a keyset page starts at an index position. Cursors travel in URLs, where they can be cut
or edited: a cursor that does not decode or parse is ignored (the first page), never an error.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_

from commerce.extensions import db

# A list's total is counted up to this many rows: past it the list says "1,000+" (an exact
# count of a broad filter reads every match, hundreds of milliseconds at catalog scale).
COUNT_LIMIT = 1000


def bounded_count(stmt: Select[Any], *, limit: int | None = None) -> tuple[int, bool]:
    """(count, exact): the rows of `stmt` counted up to `limit` (COUNT_LIMIT); past it
    (limit, False).

    The count reads at most limit + 1 matches (the statement's ORDER BY is dropped), so a broad
    filter costs what a page of 1,000 rows does and a narrow one what its matches do."""
    limit = COUNT_LIMIT if limit is None else limit
    rows = stmt.order_by(None).limit(limit + 1).subquery()
    found = int(db.session.scalar(select(func.count()).select_from(rows)) or 0)
    return (limit, False) if found > limit else (found, True)


def total_label(total: int | None, exact: bool) -> str:
    """A list's total as shown: "12,345", or "1,000+" when it was counted up to a bound."""
    return f"{total or 0:,}" + ("" if exact else "+")


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError):
        return None
    return values if isinstance(values, list) and len(values) == 2 else None


def cursor_value(value: Any) -> Any:
    """A sort key as it travels in a cursor (datetimes as ISO text)."""
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


@dataclass
class Page:
    """One page of a console list: its items, the cursors of its neighbours, and its total
    (when counted: `total_exact` is False when the count stopped at COUNT_LIMIT)."""

    items: list[Any]
    total: int | None = None
    next_cursor: str | None = None
    prev_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    total_exact: bool = True

    @property
    def total_label(self) -> str:
        return total_label(self.total, self.total_exact)


@dataclass
class KeysetSlice:
    """The rows of one page, in display order, and what is needed for its neighbours' links."""

    rows: list[Any]
    has_more: bool
    backwards: bool
    had_cursor: bool

    def page(self, items: list[Any], key_of: Callable[[Any], Sequence[Any]], **fields: Any) -> Page:
        """The page of `items` (this slice's rows, as the list shows them) with its
        neighbours' cursors; `fields`: the rest of the Page (its total)."""
        page = Page(items=items, **fields)
        page.next_cursor, page.prev_cursor = self.cursors(items, key_of)
        return page

    def cursors(
        self, items: Sequence[Any], key_of: Callable[[Any], Sequence[Any]]
    ) -> tuple[str | None, str | None]:
        """(next, previous) cursors; `key_of(item)` gives its (sort key, id)."""
        if not items:
            return None, None
        first = encode_cursor([cursor_value(v) for v in key_of(items[0])])
        last = encode_cursor([cursor_value(v) for v in key_of(items[-1])])
        if self.backwards:
            return last, (first if self.has_more else None)
        return (last if self.has_more else None), (first if self.had_cursor else None)


def keyset_page(
    stmt: Select[Any],
    key: Any,
    id_column: Any,
    *,
    descending: bool,
    after: str | None,
    before: str | None,
    limit: int,
    parse: Callable[[Any], Any] | None = None,
    scalars: bool = False,
) -> KeysetSlice:
    """One page of `stmt` ordered by (key, id) after or before a cursor.

    `parse` turns the cursor's key back into the column's type (dates travel as text). Walking
    backwards is walking forwards in the opposite order, then reversing the page.
    """
    cursor = decode_cursor(before) if before else decode_cursor(after)
    value: Any = None
    last_id: Any = None
    if cursor is not None:
        value, last_id = cursor
        try:
            if parse is not None and value is not None:
                value = parse(value)
            last_id = int(last_id)
        except (TypeError, ValueError):
            cursor = None
    backwards = bool(before and cursor)
    reverse = descending != backwards
    if cursor is not None:
        if value is None:  # only a nullable key can give None; compare on the id alone
            stmt = stmt.where(id_column < last_id if reverse else id_column > last_id)
        # A row-value comparison: both databases seek the (key, id) index to it, where the
        # equivalent OR of two conditions made SQLite scan from the start of the list.
        # (The key's own bound, implied by the row value, lets SQLite seek an index on the key
        # when the id is another table's, as in the stock overview.)
        elif reverse:
            stmt = stmt.where(key <= value, tuple_(key, id_column) < (value, last_id))
        else:
            stmt = stmt.where(key >= value, tuple_(key, id_column) > (value, last_id))
    order = (key.desc(), id_column.desc()) if reverse else (key.asc(), id_column.asc())
    ordered = stmt.order_by(*order).limit(limit + 1)
    rows = list(db.session.scalars(ordered) if scalars else db.session.execute(ordered))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    return KeysetSlice(rows, has_more, backwards, cursor is not None)


def ids_after(
    stmt: Select[Any], id_column: Any, *, after: str | None, limit: int, scalars: bool = False
) -> tuple[list[Any], str | None]:
    """Rows of `stmt` in id order after the cursor `after`, and the next page's cursor (None on
    the last page): a walk over a whole table (the Admin API's lists), stable while rows are
    added (new ids come last) and the same cost at any depth. Rows are tuples of the
    statement's entities, or single objects with `scalars`."""
    page = keyset_page(
        stmt,
        id_column,
        id_column,
        descending=False,
        after=after,
        before=None,
        limit=limit,
        scalars=scalars,
    )
    rows = list(page.rows) if scalars else [tuple(row) for row in page.rows]
    first = (lambda r: r.id) if scalars else (lambda r: r[0].id)
    next_cursor, _ = page.cursors(rows, lambda r: (first(r), first(r)))
    return rows, next_cursor
