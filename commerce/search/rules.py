"""Search rules, what the merchandiser sets to shape answers: synonyms, stop words, typo
settings and query rules (pins, hides, boosts and buries), with the reads the console lists
them by.

Each function validates, writes, records an audit entry and queues a `search.settings_changed`
outbox event in one transaction; the event's consumer pushes the settings to the backend.
Rules are applied when a query is answered (services.py), so a rule's date window needs no push.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import case, func, select

from commerce import audit, outbox
from commerce.catalog.models import Collection, Product, ProductTag
from commerce.db import forget, once_per_transaction, service, utcnow
from commerce.errors import ErrorPath, NotFound, ValidationError
from commerce.extensions import db
from commerce.search import text
from commerce.search.models import (
    CONTAINS,
    EQUIVALENT,
    EXACT,
    ONE_WAY,
    SearchRule,
    SearchSettings,
    SearchSynonym,
)
from commerce.search.port import IndexSettings, TypoSettings
from commerce.wallclock import stored_moment

SETTINGS_CHANGED = "search.settings_changed"  # outbox topic
MAX_TERMS = 20
MAX_STOP_WORDS = 500
MAX_RULE_PRODUCTS = 50
MAX_BOOSTS = 10
BOOST, BURY = "boost", "bury"
BOOST_EFFECTS = (BOOST, BURY)
IN_STOCK_FIELD = "in_stock"
# The conditions a rule can boost or bury by (the port's facet names, see port.CONDITION_FACETS).
BOOST_FIELDS = ("tag", "vendor", "collection", IN_STOCK_FIELD)

# -- reading ------------------------------------------------------------------------------------


def settings_row(*, create: bool = False) -> SearchSettings | None:
    row = db.session.get(SearchSettings, 1)
    if row is None and create:
        row = SearchSettings(id=1, stop_words=[], typo_disabled_words=[], revision=0)
        db.session.add(row)
        db.session.flush()
    return row


_STAMP = "memo.search.settings"


def _stamp() -> tuple[Any, ...]:
    """What identifies the settings' state: the revision and when it moved (a rolled-back
    change can reuse a revision number, never both). Read once per transaction."""

    def read() -> tuple[Any, ...]:
        row = db.session.execute(
            select(SearchSettings.revision, SearchSettings.updated_at).where(SearchSettings.id == 1)
        ).first()
        return (db.engine.url.render_as_string(), *(tuple(row) if row else (0, None)))

    return once_per_transaction(_STAMP, read)


def current_revision() -> int:
    return db.session.scalar(select(SearchSettings.revision).where(SearchSettings.id == 1)) or 0


_cache: dict[str, Any] = {}


def load_settings() -> IndexSettings:
    """The settings as the backends take them (cached per process until the revision moves)."""
    key = _stamp()
    cached = _cache.get("settings")
    if cached is not None and cached[0] == key:
        return cached[1]
    row = settings_row()
    synonyms: dict[str, list[str]] = {}
    for synonym in db.session.scalars(select(SearchSynonym).order_by(SearchSynonym.id)):
        terms = list(synonym.terms or [])
        sources = terms if synonym.kind == EQUIVALENT else terms[:1]
        for source in sources:
            for other in terms:
                if other != source and other not in synonyms.setdefault(source, []):
                    synonyms[source].append(other)
    settings = IndexSettings(
        synonyms={k: tuple(v) for k, v in synonyms.items()},
        stop_words=tuple(row.stop_words or []) if row else (),
        typo=TypoSettings(
            enabled=row.typo_enabled,
            one_typo=row.typo_one,
            two_typos=row.typo_two,
            disabled_words=tuple(row.typo_disabled_words or []),
        )
        if row
        else TypoSettings(),
        revision=key[1],
    )
    _cache["settings"] = (key, settings)
    return settings


@dataclass(frozen=True)
class RuleMatch:
    """A live rule as the search service applies it; boosts are (effect, field, value)."""

    id: int
    pinned: tuple[int, ...]
    hidden: tuple[int, ...]
    boosts: tuple[tuple[str, str, str], ...] = ()


def rules_for(query_text: str, *, now: datetime | None = None) -> list[RuleMatch]:
    """Live rules whose query is the shopper's (exact) or inside it as whole words."""
    phrase = text.normalize_phrase(query_text)
    if not phrase:
        return []
    now = now or utcnow()
    key = _stamp()
    cached = _cache.get("rules")
    if cached is None or cached[0] != key:
        rules = [
            {
                "id": r.id,
                "query": r.query,
                "match": r.match,
                "pinned": list(r.pinned_ids or []),
                "hidden": list(r.hidden_ids or []),
                "boosts": [
                    (b.get("effect", ""), b.get("field", ""), b.get("value", ""))
                    for b in r.boosts or []
                ],
                "starts_at": r.starts_at,
                "ends_at": r.ends_at,
            }
            for r in db.session.scalars(
                select(SearchRule).where(SearchRule.enabled.is_(True)).order_by(SearchRule.id)
            )
        ]
        cached = (key, rules)
        _cache["rules"] = cached
    padded = f" {phrase} "
    found = []
    for rule in cached[1]:
        if rule["starts_at"] is not None and now < rule["starts_at"]:
            continue
        if rule["ends_at"] is not None and now >= rule["ends_at"]:
            continue
        if rule["query"] == phrase or (
            rule["match"] == CONTAINS and f" {rule['query']} " in padded
        ):
            found.append(
                RuleMatch(
                    rule["id"],
                    tuple(rule["pinned"]),
                    tuple(rule["hidden"]),
                    tuple(rule["boosts"]),
                )
            )
    return found


# -- lists for the console -----------------------------------------------------------------------

ACTIVE, SCHEDULED, EXPIRED, DISABLED = "active", "scheduled", "expired", "disabled"
RULE_STATUSES = (ACTIVE, SCHEDULED, EXPIRED, DISABLED)
RULE_SORTS = ("query", "status", "starts", "ends", "updated")


@dataclass
class ListPage:
    """One numbered page of a list (these lists stay small: hundreds of rows, not millions)."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(math.ceil(self.total / self.per_page), 1)


def _page_number(page: int, per_page: int, total: int) -> int:
    return min(max(page, 1), max(math.ceil(total / per_page), 1))


def list_synonyms(*, q: str = "", page: int = 1, per_page: int = 50) -> ListPage:
    """Synonym groups whose terms contain the typed words, newest first. Filtered in Python:
    the terms are a JSON list, and a shop keeps at most a few thousand groups."""
    needle = text.normalize_phrase(q)
    rows = list(db.session.scalars(select(SearchSynonym).order_by(SearchSynonym.id.desc())))
    if needle:
        rows = [r for r in rows if any(needle in term for term in r.terms or [])]
    number = _page_number(page, per_page, len(rows))
    start = (number - 1) * per_page
    return ListPage(rows[start : start + per_page], len(rows), number, per_page)


def rule_status_expression(now: datetime) -> Any:
    """A rule's status in SQL (for sorting and filtering), the same as rule_status()."""
    return case(
        (SearchRule.enabled.is_(False), DISABLED),
        (SearchRule.ends_at.is_not(None) & (SearchRule.ends_at <= now), EXPIRED),
        (SearchRule.starts_at.is_not(None) & (SearchRule.starts_at > now), SCHEDULED),
        else_=ACTIVE,
    )


def rule_status(rule: SearchRule, now: datetime | None = None) -> str:
    now = now or utcnow()
    if not rule.enabled:
        return DISABLED
    if rule.ends_at is not None and rule.ends_at <= now:
        return EXPIRED
    if rule.starts_at is not None and rule.starts_at > now:
        return SCHEDULED
    return ACTIVE


def list_rules(
    *,
    q: str = "",
    status: str = "",
    sort: str = "query",
    direction: str = "asc",
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
) -> ListPage:
    """Query rules filtered by words in their query and by status, sorted, one page."""
    now = now or utcnow()
    status_sql = rule_status_expression(now)
    stmt = select(SearchRule)
    needle = text.normalize_phrase(q)
    if needle:
        stmt = stmt.where(SearchRule.query.contains(needle, autoescape=True))
    if status in RULE_STATUSES:
        stmt = stmt.where(status_sql == status)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    column = {
        "query": SearchRule.query,
        "status": status_sql,
        "starts": SearchRule.starts_at,
        "ends": SearchRule.ends_at,
        "updated": SearchRule.updated_at,
    }.get(sort, SearchRule.query)
    ordered = column.desc() if direction == "desc" else column.asc()
    number = _page_number(page, per_page, total)
    rows = db.session.scalars(
        stmt.order_by(ordered, SearchRule.id.asc()).offset((number - 1) * per_page).limit(per_page)
    )
    return ListPage(list(rows), total, number, per_page)


def rule_status_counts(now: datetime | None = None) -> dict[str, int]:
    status_sql = rule_status_expression(now or utcnow())
    return dict(db.session.execute(select(status_sql, func.count()).group_by(status_sql)).all())


def product_labels(ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Title, handle and status of the products a rule names (chips and previews)."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(Product.id, Product.title, Product.handle, Product.status).where(
            Product.id.in_(list(ids))
        )
    )
    return {r.id: {"title": r.title, "handle": r.handle, "status": r.status} for r in rows}


# -- writing ------------------------------------------------------------------------------------


def _changed(row: SearchSettings) -> None:
    forget(_STAMP)
    row.revision = (row.revision or 0) + 1
    row.updated_at = utcnow()
    outbox.enqueue(SETTINGS_CHANGED, {"revision": row.revision})


def _clean_words(values: Sequence[str] | str, *, field: str, limit: int) -> list[str]:
    if isinstance(values, str):
        values = values.replace("\n", ",").split(",")
    out: list[str] = []
    for value in values:
        word = text.normalize_phrase(str(value))
        if not word:
            continue
        if " " in word:
            raise ValidationError(f"“{value}” is more than one word.", field=field)
        if word not in out:
            out.append(word)
    if len(out) > limit:
        raise ValidationError(f"At most {limit} words.", field=field)
    return out


@service
def update_settings(
    *,
    by: Any,
    stop_words: Sequence[str] | str | None = None,
    typo_enabled: bool | None = None,
    typo_one: int | None = None,
    typo_two: int | None = None,
    typo_disabled_words: Sequence[str] | str | None = None,
) -> SearchSettings:
    """Stop words, and typo tolerance: on or off, word lengths for one and two typos, words
    that must be typed exactly (brand names)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, values in (("stop_words", stop_words), ("typo_disabled_words", typo_disabled_words)):
        if values is not None:
            try:
                clean[name] = _clean_words(values, field=name, limit=MAX_STOP_WORDS)
            except ValidationError as exc:
                errors.setdefault(name, []).append(exc.message)
    row = settings_row(create=True)
    one = row.typo_one if typo_one is None else typo_one
    two = row.typo_two if typo_two is None else typo_two
    for name, value in (("typo_one", one), ("typo_two", two)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 20:
            errors.setdefault(name, []).append("Enter a word length from 1 to 20 letters.")
    if not errors.get("typo_one") and not errors.get("typo_two") and two < one:
        errors.setdefault("typo_two", []).append(
            "Two typos need at least as many letters as one typo."
        )
    if errors:
        raise ValidationError(errors=errors)
    before = row.snapshot()
    for name, value in clean.items():
        setattr(row, name, value)
    if typo_enabled is not None:
        row.typo_enabled = bool(typo_enabled)
    row.typo_one, row.typo_two = one, two
    after = row.snapshot()
    if before != after:
        _changed(row)
        audit.record(by, "search.update_settings", row, before=before, after=after)
    return row


def _clean_terms(kind: str, terms: Sequence[str] | str) -> list[str]:
    if kind not in (EQUIVALENT, ONE_WAY):
        raise ValidationError("Choose equivalent or one-way.", field="kind")
    if isinstance(terms, str):
        terms = terms.replace("\n", ",").split(",")
    out: list[str] = []
    for term in terms:
        phrase = text.normalize_phrase(str(term))
        if phrase and phrase not in out:
            out.append(phrase[:80])
    if len(out) < 2:
        raise ValidationError("Give at least two different words or phrases.", field="terms")
    if len(out) > MAX_TERMS:
        raise ValidationError(f"At most {MAX_TERMS} terms.", field="terms")
    return out


def get_synonym(synonym_id: int) -> SearchSynonym:
    found = db.session.get(SearchSynonym, synonym_id)
    if found is None:
        raise NotFound("No such synonym.")
    return found


@service
def add_synonym(*, terms: Sequence[str] | str, by: Any, kind: str = EQUIVALENT) -> SearchSynonym:
    """Words that mean the same (kind="equivalent"), or a word that also finds others
    (kind="one_way": the first term finds the rest, not the reverse)."""
    clean = _clean_terms(kind, terms)
    synonym = SearchSynonym(kind=kind, terms=clean, created_at=utcnow(), updated_at=utcnow())
    db.session.add(synonym)
    db.session.flush()
    _changed(settings_row(create=True))
    audit.record(by, "search.add_synonym", synonym, after=synonym.snapshot())
    return synonym


@service
def update_synonym(
    synonym: SearchSynonym, *, by: Any, terms: Sequence[str] | str, kind: str | None = None
) -> SearchSynonym:
    kind = kind or synonym.kind
    clean = _clean_terms(kind, terms)
    before = synonym.snapshot()
    synonym.kind, synonym.terms, synonym.updated_at = kind, clean, utcnow()
    if before != synonym.snapshot():
        _changed(settings_row(create=True))
        audit.record(by, "search.update_synonym", synonym, before=before, after=synonym.snapshot())
    return synonym


@service
def delete_synonym(synonym: SearchSynonym, *, by: Any) -> None:
    audit.record(by, "search.delete_synonym", synonym, before=synonym.snapshot())
    db.session.delete(synonym)
    _changed(settings_row(create=True))


def get_rule(rule_id: int) -> SearchRule:
    found = db.session.get(SearchRule, rule_id)
    if found is None:
        raise NotFound("No such search rule.")
    return found


def _clean_boosts(raw: Any) -> tuple[list[dict[str, str]], dict[ErrorPath, list[str]]]:
    """Boost/bury conditions as stored, and messages keyed by path ("boosts", n, part). A tag
    or vendor typed in another case takes the catalog's spelling (the index compares values
    exactly)."""
    errors: dict[ErrorPath, list[str]] = {}
    rows = list(raw or [])
    if len(rows) > MAX_BOOSTS:
        errors["boosts"] = [f"At most {MAX_BOOSTS} boost or bury conditions."]
        return [], errors
    clean: list[dict[str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    for n, row in enumerate(rows):
        row = row if isinstance(row, Mapping) else {}
        effect = str(row.get("effect") or "")
        field = str(row.get("field") or "")
        value = " ".join(str(row.get("value") or "").split())
        key = ("boosts", n)
        if effect not in BOOST_EFFECTS:
            errors.setdefault((*key, "effect"), []).append("Choose boost or bury.")
        if field not in BOOST_FIELDS:
            errors.setdefault((*key, "field"), []).append(
                "Choose tag, vendor, collection or in stock."
            )
            continue
        if field == IN_STOCK_FIELD:
            value = ""
        elif not value:
            errors.setdefault((*key, "value"), []).append(
                {
                    "tag": "Enter a tag.",
                    "vendor": "Enter a vendor.",
                    "collection": "Choose a collection.",
                }[field]
            )
            continue
        elif len(value) > 255:
            errors.setdefault((*key, "value"), []).append("At most 255 characters.")
            continue
        elif field == "collection":
            found = db.session.get(Collection, int(value)) if value.isdigit() else None
            if found is None:
                errors.setdefault((*key, "value"), []).append("Choose an existing collection.")
                continue
            value = str(found.id)
        elif field == "tag":
            value = _catalog_spelling(select(ProductTag.tag), ProductTag.tag, value)
        else:
            value = _catalog_spelling(select(Product.vendor), Product.vendor, value)
        if effect not in BOOST_EFFECTS:
            continue
        earlier = seen.get((field, value.casefold()))
        if earlier is not None:
            if earlier != effect:
                errors.setdefault((*key, "value"), []).append(
                    "The same condition cannot both boost and bury."
                )
            continue  # a repeat adds nothing
        seen[(field, value.casefold())] = effect
        clean.append({"effect": effect, "field": field, "value": value})
    return clean, errors


def _catalog_spelling(stmt: Any, column: Any, value: str) -> str:
    found = db.session.scalar(stmt.where(func.lower(column) == value.lower()).limit(1))
    return found or value


def _rule_fields(
    fields: dict[str, Any], rule: SearchRule | None, *, require_effect: bool = True
) -> dict[str, Any]:
    errors: dict[ErrorPath, list[str]] = {}
    clean: dict[str, Any] = {}
    if "query" in fields:
        phrase = text.normalize_phrase(fields["query"] or "")
        if not phrase:
            errors.setdefault("query", []).append("Enter the search words this rule is for.")
        elif len(phrase) > 120:
            errors.setdefault("query", []).append("At most 120 characters.")
        clean["query"] = phrase
    if "match" in fields:
        if fields["match"] not in (EXACT, CONTAINS):
            errors.setdefault("match", []).append("Choose exact or contains.")
        clean["match"] = fields["match"]
    for name in ("pinned_ids", "hidden_ids"):
        if name in fields:
            try:
                ids = list(dict.fromkeys(int(i) for i in fields[name] or []))
            except (TypeError, ValueError):
                errors.setdefault(name, []).append("Choose products from the catalog.")
                continue
            if len(ids) > MAX_RULE_PRODUCTS:
                errors.setdefault(name, []).append(f"At most {MAX_RULE_PRODUCTS} products.")
            found = set(db.session.scalars(select(Product.id).where(Product.id.in_(ids))))
            if set(ids) - found:
                errors.setdefault(name, []).append("Some of those products no longer exist.")
            clean[name] = ids
    if "boosts" in fields:
        clean["boosts"], problems = _clean_boosts(fields["boosts"])
        for key, messages in problems.items():
            errors.setdefault(key, []).extend(messages)
    pinned = clean.get("pinned_ids", rule.pinned_ids if rule else [])
    hidden = clean.get("hidden_ids", rule.hidden_ids if rule else [])
    boosts = clean.get("boosts", rule.boosts if rule else [])
    if set(pinned or []) & set(hidden or []):
        errors.setdefault("hidden_ids", []).append("A product cannot be pinned and hidden.")
    if require_effect and not (pinned or hidden or boosts) and not errors:
        errors.setdefault("pinned_ids", []).append("Pin, hide, boost or bury at least one product.")
    for name in ("starts_at", "ends_at"):
        if name in fields:
            clean[name] = stored_moment(
                fields[name],
                str(current_app.config.get("SHOP_TIMEZONE") or "UTC"),
                name,
                errors,
                naive_zone="UTC",  # a datetime from code is UTC already; text is the shop's
            )
    starts = clean.get("starts_at", rule.starts_at if rule else None)
    ends = clean.get("ends_at", rule.ends_at if rule else None)
    if starts is not None and ends is not None and ends <= starts:
        errors.setdefault("ends_at", []).append("The end must come after the start.")
    if "enabled" in fields:
        clean["enabled"] = bool(fields["enabled"])
    if "note" in fields:
        clean["note"] = " ".join((fields["note"] or "").split())[:255]
    if errors:
        raise ValidationError(errors=errors)
    return clean


def draft_rule(fields: dict[str, Any], *, rule: SearchRule | None = None) -> RuleMatch:
    """A rule as it would apply, from unsaved form values (the console's preview): validated
    like a save, except that a rule with nothing to do yet is fine. Writes nothing."""
    unknown = set(fields) - RULE_FIELDS - {"note"}
    if unknown:
        raise TypeError(f"unknown rule fields: {sorted(unknown)}")
    clean = _rule_fields(fields, rule, require_effect=False)
    merged = {**(rule.snapshot() if rule else {}), **clean}
    return RuleMatch(
        id=rule.id if rule else 0,
        pinned=tuple(merged.get("pinned_ids") or ()),
        hidden=tuple(merged.get("hidden_ids") or ()),
        boosts=tuple((b["effect"], b["field"], b["value"]) for b in merged.get("boosts") or ()),
    )


RULE_FIELDS = {
    "query",
    "match",
    "pinned_ids",
    "hidden_ids",
    "boosts",
    "starts_at",
    "ends_at",
    "enabled",
}


@service
def create_rule(
    *,
    query: str,
    by: Any,
    match: str = EXACT,
    pinned_ids: Sequence[int] = (),
    hidden_ids: Sequence[int] = (),
    boosts: Sequence[Mapping[str, Any]] = (),
    starts_at: datetime | str | None = None,
    ends_at: datetime | str | None = None,
    enabled: bool = True,
    note: str = "",
) -> SearchRule:
    """Pin products first (in this order), hide others, and boost or bury products by a
    condition ({"effect": "boost"|"bury", "field": "tag"|"vendor"|"collection"|"in_stock",
    "value": ...}) for a query, in a date window (text in the shop's time zone)."""
    clean = _rule_fields(
        {
            "query": query,
            "match": match,
            "pinned_ids": pinned_ids,
            "hidden_ids": hidden_ids,
            "boosts": boosts,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "enabled": enabled,
            "note": note,
        },
        None,
    )
    rule = SearchRule(
        **clean,
        created_by_id=getattr(by, "id", None),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    db.session.add(rule)
    db.session.flush()
    _changed(settings_row(create=True))
    audit.record(by, "search.create_rule", rule, after=rule.snapshot())
    return rule


@service
def update_rule(rule: SearchRule, *, by: Any, **fields: Any) -> SearchRule:
    unknown = set(fields) - RULE_FIELDS - {"note"}
    if unknown:
        raise TypeError(f"unknown rule fields: {sorted(unknown)}")
    clean = _rule_fields(fields, rule)
    before = rule.snapshot()
    for name, value in clean.items():
        setattr(rule, name, value)
    if before != rule.snapshot():
        rule.updated_at = utcnow()
        _changed(settings_row(create=True))
        audit.record(by, "search.update_rule", rule, before=before, after=rule.snapshot())
    return rule


@service
def delete_rule(rule: SearchRule, *, by: Any) -> None:
    audit.record(by, "search.delete_rule", rule, before=rule.snapshot())
    db.session.delete(rule)
    _changed(settings_row(create=True))
