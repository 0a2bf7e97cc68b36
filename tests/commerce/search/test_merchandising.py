"""Synonyms, stop words, typo settings and query rules: validated, audited, pushed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.outbox import OutboxEvent
from commerce.search import merchandising


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
    synonym = merchandising.add_synonym(terms="Tee, T-Shirt,  tee ", by=staff)
    assert synonym.terms == ["tee", "tshirt"]
    one_way = merchandising.add_synonym(terms=["hoodie", "sweatshirt"], kind="one_way", by=staff)
    settings = merchandising.load_settings()
    assert settings.synonyms == {
        "tee": ("tshirt",),
        "tshirt": ("tee",),
        "hoodie": ("sweatshirt",),
    }
    merchandising.delete_synonym(one_way, by=staff)
    assert "hoodie" not in merchandising.load_settings().synonyms
    assert _actions() == ["search.add_synonym", "search.add_synonym", "search.delete_synonym"]
    assert _settings_events() == 3
    with pytest.raises(ValidationError) as failure:
        merchandising.add_synonym(terms="tee, Tee", by=staff)
    assert "terms" in failure.value.errors


def test_stop_words_and_typo_settings(make_staff):
    staff = make_staff("merchandiser")
    merchandising.update_settings(
        stop_words="The, of\nA", typo_one=4, typo_two=8, typo_disabled_words=["Acme"], by=staff
    )
    settings = merchandising.load_settings()
    assert settings.stop_words == ("the", "of", "a")
    assert (settings.typo.one_typo, settings.typo.two_typos) == (4, 8)
    assert settings.typo.disabled_words == ("acme",)
    with pytest.raises(ValidationError) as failure:
        merchandising.update_settings(typo_one=9, typo_two=5, by=staff)
    assert "typo_two" in failure.value.errors
    with pytest.raises(ValidationError):
        merchandising.update_settings(stop_words=["two words"], by=staff)
    merchandising.update_settings(typo_one=4, by=staff)  # no change: no audit, no push
    assert _actions() == ["search.update_settings"] and _settings_events() == 1


def test_rules_validate_and_match_exact_or_contained_words(make_staff, make_product):
    staff = make_staff("merchandiser")
    a, b = make_product("A"), make_product("B")
    rule = merchandising.create_rule(
        query="  Summer  ", match="contains", pinned_ids=[a.id], hidden_ids=[b.id], by=staff
    )
    assert rule.query == "summer"
    now = datetime.now()
    assert [r.id for r in merchandising.rules_for("summer dresses", now=now)] == [rule.id]
    assert merchandising.rules_for("summery", now=now) == []
    merchandising.update_rule(rule, match="exact", by=staff)
    assert merchandising.rules_for("summer dresses", now=now) == []
    assert merchandising.rules_for("Summer", now=now)[0].pinned == (a.id,)
    merchandising.update_rule(rule, ends_at=now - timedelta(minutes=1), by=staff)
    assert merchandising.rules_for("summer", now=now) == []

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
            merchandising.create_rule(by=staff, **fields)
        assert field in failure.value.errors, bad
    merchandising.delete_rule(rule, by=staff)
    assert _actions() == [
        "search.create_rule",
        "search.update_rule",
        "search.update_rule",
        "search.delete_rule",
    ]
