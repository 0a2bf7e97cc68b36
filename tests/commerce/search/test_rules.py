"""Synonyms, stop words, typo settings and query rules: validated, audited, pushed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.outbox import OutboxEvent
from commerce.search import rules as search_rules


def _actions() -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.startswith("search."))
            .order_by(AuditEntry.id)
        )
    )


def _settings_events() -> int:
    return len(
        db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "search.settings_changed")
        ).all()
    )


def test_synonyms_are_normalized_audited_and_pushed(make_staff):
    staff = make_staff("merchandiser")
    synonym = search_rules.add_synonym(terms="Tee, T-Shirt,  tee ", by=staff)
    assert synonym.terms == ["tee", "tshirt"]
    one_way = search_rules.add_synonym(terms=["hoodie", "sweatshirt"], kind="one_way", by=staff)
    settings = search_rules.load_settings()
    assert settings.synonyms == {
        "tee": ("tshirt",),
        "tshirt": ("tee",),
        "hoodie": ("sweatshirt",),
    }
    search_rules.delete_synonym(one_way, by=staff)
    assert "hoodie" not in search_rules.load_settings().synonyms
    assert _actions() == ["search.add_synonym", "search.add_synonym", "search.delete_synonym"]
    assert _settings_events() == 3
    with pytest.raises(ValidationError) as failure:
        search_rules.add_synonym(terms="tee, Tee", by=staff)
    assert "terms" in failure.value.errors


def test_stop_words_and_typo_settings(make_staff):
    staff = make_staff("merchandiser")
    search_rules.update_settings(
        stop_words="The, of\nA", typo_one=4, typo_two=8, typo_disabled_words=["Acme"], by=staff
    )
    settings = search_rules.load_settings()
    assert settings.stop_words == ("the", "of", "a")
    assert (settings.typo.one_typo, settings.typo.two_typos) == (4, 8)
    assert settings.typo.disabled_words == ("acme",)
    with pytest.raises(ValidationError) as failure:
        search_rules.update_settings(typo_one=9, typo_two=5, by=staff)
    assert "typo_two" in failure.value.errors
    with pytest.raises(ValidationError):
        search_rules.update_settings(stop_words=["two words"], by=staff)
    search_rules.update_settings(typo_one=4, by=staff)  # no change: no audit, no push
    assert _actions() == ["search.update_settings"] and _settings_events() == 1


def test_rules_validate_and_match_exact_or_contained_words(make_staff, make_product):
    staff = make_staff("merchandiser")
    a, b = make_product("A"), make_product("B")
    rule = search_rules.create_rule(
        query="  Summer  ", match="contains", pinned_ids=[a.id], hidden_ids=[b.id], by=staff
    )
    assert rule.query == "summer"
    now = datetime.now()
    assert [r.id for r in search_rules.rules_for("summer dresses", now=now)] == [rule.id]
    assert search_rules.rules_for("summery", now=now) == []
    search_rules.update_rule(rule, match="exact", by=staff)
    assert search_rules.rules_for("summer dresses", now=now) == []
    assert search_rules.rules_for("Summer", now=now)[0].pinned == (a.id,)
    search_rules.update_rule(rule, ends_at=now - timedelta(minutes=1), by=staff)
    assert search_rules.rules_for("summer", now=now) == []

    for bad, field in (
        ({"query": " "}, "query"),
        ({"pinned_ids": [a.id], "hidden_ids": [a.id]}, "hidden_ids"),
        ({"pinned_ids": [999999]}, "pinned_ids"),
        ({"pinned_ids": []}, "pinned_ids"),
        ({"starts_at": now, "ends_at": now - timedelta(days=1)}, "ends_at"),
        ({"match": "fuzzy"}, "match"),
    ):
        fields = {"query": "x", "pinned_ids": [a.id], **bad}
        with pytest.raises(ValidationError) as failure:
            search_rules.create_rule(by=staff, **fields)
        assert field in failure.value.errors, bad
    search_rules.delete_rule(rule, by=staff)
    assert _actions() == [
        "search.create_rule",
        "search.update_rule",
        "search.update_rule",
        "search.delete_rule",
    ]


def test_boosts_are_validated_at_their_fields(make_staff, make_product):
    from commerce.catalog.taxonomy import create_collection

    staff = make_staff("merchandiser")
    make_product("Tagged", tags=["Summer"], vendor="Northwind")
    collection = create_collection(title="Picks", by=None)
    rule = search_rules.create_rule(
        query="summer",
        boosts=[
            {"effect": "boost", "field": "tag", "value": " summer "},
            {"effect": "bury", "field": "vendor", "value": "NORTHWIND"},
            {"effect": "boost", "field": "collection", "value": str(collection.id)},
            {"effect": "bury", "field": "in_stock", "value": "ignored"},
            {"effect": "boost", "field": "tag", "value": "Summer"},  # a repeat adds nothing
        ],
        by=staff,
    )
    assert rule.boosts == [  # the catalog's spelling: the index compares values exactly
        {"effect": "boost", "field": "tag", "value": "Summer"},
        {"effect": "bury", "field": "vendor", "value": "Northwind"},
        {"effect": "boost", "field": "collection", "value": str(collection.id)},
        {"effect": "bury", "field": "in_stock", "value": ""},
    ]
    (found,) = search_rules.rules_for("summer", now=datetime.now())
    assert found.boosts[0] == ("boost", "tag", "Summer") and found.pinned == ()

    bad = [
        {"effect": "lift", "field": "tag", "value": "x"},
        {"effect": "boost", "field": "colour", "value": "red"},
        {"effect": "boost", "field": "tag", "value": "  "},
        {"effect": "bury", "field": "collection", "value": "999999"},
        {"effect": "bury", "field": "collection", "value": "abc"},
        {"effect": "boost", "field": "vendor", "value": "Acme"},
        {"effect": "bury", "field": "vendor", "value": "acme"},
    ]
    with pytest.raises(ValidationError) as failure:
        search_rules.create_rule(query="x", boosts=bad, by=staff)
    errors = failure.value.errors
    assert errors[("boosts", 0, "effect")] == ["Choose boost or bury."]
    assert errors[("boosts", 1, "field")] == ["Choose tag, vendor, collection or in stock."]
    assert errors[("boosts", 2, "value")] == ["Enter a tag."]
    assert errors[("boosts", 3, "value")] == ["Choose an existing collection."]
    assert errors[("boosts", 4, "value")] == ["Choose an existing collection."]
    assert ("boosts", 5, "value") not in errors
    assert errors[("boosts", 6, "value")] == ["The same condition cannot both boost and bury."]
    with pytest.raises(ValidationError) as failure:
        search_rules.create_rule(
            query="x", boosts=[{"effect": "boost", "field": "in_stock"}] * 11, by=staff
        )
    assert failure.value.errors == {"boosts": ["At most 10 boost or bury conditions."]}
    with pytest.raises(ValidationError) as failure:
        search_rules.create_rule(query="x", by=staff)
    assert failure.value.errors == {
        "pinned_ids": ["Pin, hide, boost or bury at least one product."]
    }
    # Boosts alone make a rule; taking them all away again does not.
    only = search_rules.create_rule(
        query="y", boosts=[{"effect": "bury", "field": "in_stock"}], by=staff
    )
    with pytest.raises(ValidationError):
        search_rules.update_rule(only, boosts=[], by=staff)
    search_rules.update_rule(only, boosts=[{"effect": "boost", "field": "in_stock"}], by=staff)
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "search.update_rule")
    ).one()
    assert entry.before["boosts"] == [{"effect": "bury", "field": "in_stock", "value": ""}]
    assert entry.after["boosts"] == [{"effect": "boost", "field": "in_stock", "value": ""}]


def test_a_rule_window_typed_as_text_is_in_the_shop_time_zone(app, make_staff, monkeypatch):
    staff = make_staff("merchandiser")
    monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "America/New_York")
    rule = search_rules.create_rule(
        query="sale",
        boosts=[{"effect": "boost", "field": "in_stock"}],
        starts_at="2026-07-01T00:00",
        ends_at=datetime(2026, 7, 10, 12, 0),  # a naive datetime is UTC already
        by=staff,
    )
    assert rule.starts_at == datetime(2026, 7, 1, 4, 0)  # EDT is UTC-4
    assert rule.ends_at == datetime(2026, 7, 10, 12, 0)
    assert search_rules.rules_for("sale", now=datetime(2026, 7, 1, 3, 59)) == []
    assert search_rules.rules_for("sale", now=datetime(2026, 7, 1, 4, 0))
    with pytest.raises(ValidationError) as failure:
        search_rules.update_rule(rule, starts_at="next tuesday", by=staff)
    assert failure.value.errors == {"starts_at": ["Enter a date and time (YYYY-MM-DD HH:MM)."]}


def test_rule_list_filters_sorts_and_pages(make_staff, make_product):
    staff = make_staff("merchandiser")
    product = make_product("Pinned")
    now = datetime(2026, 5, 1, 12, 0)
    made = {
        "active": search_rules.create_rule(query="alpha", pinned_ids=[product.id], by=staff),
        "scheduled": search_rules.create_rule(
            query="beta", pinned_ids=[product.id], starts_at=now + timedelta(days=1), by=staff
        ),
        "expired": search_rules.create_rule(
            query="gamma", pinned_ids=[product.id], ends_at=now - timedelta(days=1), by=staff
        ),
        "disabled": search_rules.create_rule(
            query="alpha beta", pinned_ids=[product.id], enabled=False, by=staff
        ),
    }
    for status, rule in made.items():
        assert search_rules.rule_status(rule, now) == status
    listed = search_rules.list_rules(now=now)
    assert [r.query for r in listed.items] == ["alpha", "alpha beta", "beta", "gamma"]
    by_status = search_rules.list_rules(sort="status", direction="asc", now=now)
    assert [search_rules.rule_status(r, now) for r in by_status.items] == sorted(made)
    assert [r.query for r in search_rules.list_rules(q="ALPHA", now=now).items] == [
        "alpha",
        "alpha beta",
    ]
    assert [r.query for r in search_rules.list_rules(status="expired", now=now).items] == ["gamma"]
    second = search_rules.list_rules(per_page=3, page=2, now=now)
    assert [r.query for r in second.items] == ["gamma"] and second.pages == 2
    assert search_rules.list_rules(per_page=3, page=9, now=now).page == 2  # clamped
    assert search_rules.rule_status_counts(now) == dict.fromkeys(made, 1)
