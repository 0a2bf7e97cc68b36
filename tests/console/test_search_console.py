"""The search merchandising screens through HTTP: synonyms, stop words and typo settings, the
push status and "Push now", query rules (list, form, pickers, boost rows, preview, enable,
delete); messages at the field with a 422 and nothing saved; audit entries; permissions and
CSRF; the prefilled forms search analytics links to."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.search import rules as search_rules
from commerce.search.models import SearchRule, SearchSettings, SearchSynonym
from tests.conftest import htmx_headers, sign_in


def text(response) -> str:
    return response.get_data(as_text=True)


def message_at(response, key: str) -> str:
    """The messages shown under the input named `key`."""
    found = re.search(rf'id="{re.escape(key)}-msg" role="alert">(.*?)</div>', text(response), re.S)
    assert found, f"no message area for {key}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def actions(member) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.actor_id == member.id, AuditEntry.action.startswith("search."))
            .order_by(AuditEntry.id)
        )
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def preview_titles(response, side: str) -> list[str]:
    found = re.search(rf'data-preview="{side}">(.*?)</ol>', text(response), re.S)
    assert found, f"no {side} column"
    return re.findall(r'<span class="preview-title">([^<]+)</span>', found.group(1))


@pytest.fixture
def summer(make_product):
    """Three active products a search for "summer" finds."""
    return {
        name: make_product(title, status="active", vendor=vendor, tags=tags)
        for name, title, vendor, tags in (
            ("dress", "Summer Dress", "Acme", ["linen"]),
            ("hat", "Summer Hat", "Brimworks", ["straw"]),
            ("sandals", "Summer Sandals", "Acme", ["leather"]),
        )
    }


# -- permissions and navigation -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["warehouse", "support"])
def test_other_roles_cannot_see_or_change_search(client, login, role):
    login(role)
    assert 'href="/console/search/synonyms"' not in text(client.get("/console/"))
    for url in ("/console/search/synonyms", "/console/search/settings", "/console/search/rules"):
        assert client.get(url).status_code == 403, url
    assert client.post("/console/search/synonyms/new", data={"terms": "a, b"}).status_code == 403
    assert client.post("/console/search/push").status_code == 403
    assert count(SearchSynonym) == 0


def test_merchandisers_find_search_in_the_nav_with_its_tabs(client, login):
    login("merchandiser")
    home = text(client.get("/console/"))
    assert 'href="/console/search/synonyms"' in home
    page = client.get("/console/search", follow_redirects=True)
    body = text(page)
    assert page.status_code == 200
    for label in ("Synonyms", "Stop words &amp; typos", "Query rules"):
        assert label in body
    assert 'aria-current="page">Synonyms' in body
    assert "Built-in (database)" in body and "Push now" in body


def test_anonymous_visitors_go_to_sign_in(client):
    response = client.get("/console/search/rules")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


# -- synonyms -----------------------------------------------------------------------------------


def test_synonyms_add_edit_delete_with_audit(client, login):
    member = login("merchandiser")
    empty = text(client.get("/console/search/synonyms"))
    assert "No synonyms yet" in empty

    created = client.post(
        "/console/search/synonyms/new", data={"terms": "Tee, T-shirt\ntshirt", "kind": "equivalent"}
    )
    assert created.status_code == 303
    synonym = db.session.scalars(select(SearchSynonym)).one()
    assert synonym.terms == ["tee", "tshirt"] and synonym.kind == "equivalent"
    listing = text(client.get("/console/search/synonyms"))
    assert "tee = tshirt" in listing and "Equivalent" in listing and "data-keynav" in listing

    page = text(client.get(f"/console/search/synonyms/{synonym.id}"))
    assert "One way: the first word also finds the others" in page  # the kinds in words
    assert "search.add_synonym" in page  # its history
    saved = client.post(
        f"/console/search/synonyms/{synonym.id}",
        data={"terms": "hoodie, sweatshirt", "kind": "one_way"},
    )
    assert saved.status_code == 303
    db.session.refresh(synonym)
    assert (synonym.kind, synonym.terms) == ("one_way", ["hoodie", "sweatshirt"])
    assert "hoodie → sweatshirt" in text(client.get("/console/search/synonyms"))

    deleted = client.post(f"/console/search/synonyms/{synonym.id}/delete", headers=htmx_headers())
    assert deleted.status_code == 204 and deleted.headers["HX-Location"].endswith("/synonyms")
    assert "Deleted the synonyms" in json.loads(deleted.headers["HX-Trigger"])["toast"]["message"]
    assert count(SearchSynonym) == 0
    assert actions(member) == [
        "search.add_synonym",
        "search.update_synonym",
        "search.delete_synonym",
    ]


def test_a_bad_synonym_is_refused_at_its_field(client, login):
    login("merchandiser")
    response = client.post("/console/search/synonyms/new", data={"terms": "tee, Tee"})
    assert response.status_code == 422
    assert message_at(response, "terms") == "Give at least two different words or phrases."
    assert "tee, Tee" in text(response)  # what was typed stays
    assert count(SearchSynonym) == 0


def test_the_new_synonym_form_takes_words_from_the_url(client, login, app):
    login("merchandiser")
    with app.test_request_context():
        from flask import url_for

        url = url_for("console.search_synonym_new", terms="jumper,sweater")
    body = text(client.get(url))
    assert re.search(r'<textarea[^>]*name="terms"[^>]*>\s*jumper, sweater</textarea>', body)


def test_synonym_list_filters_and_pages(client, login):
    login("merchandiser")
    for n in range(52):
        search_rules.add_synonym(terms=[f"word{n:02d}", f"other{n:02d}"], by=None)
    first = text(client.get("/console/search/synonyms"))
    assert "52 synonym groups" in first and "page 1 of 2" in first
    assert 'rel="next" href="/console/search/synonyms?page=2"' in first
    second = text(client.get("/console/search/synonyms?page=2"))
    assert second.count("<tr data-href") == 2
    filtered = client.get("/console/search/synonyms?q=WORD07", headers=htmx_headers())
    assert filtered.status_code == 200 and "<html" not in text(filtered)
    assert "word07 = other07" in text(filtered) and text(filtered).count("<tr data-href") == 1
    none = text(client.get("/console/search/synonyms?q=nothing"))
    assert "No synonyms match" in none
    assert 'href="/console/search/synonyms/new?terms=nothing"' in none


# -- stop words and typos -----------------------------------------------------------------------


def test_stop_words_and_typo_settings_are_saved_and_audited(client, login):
    member = login("merchandiser")
    page = text(client.get("/console/search/settings"))
    assert 'value="5"' in page and 'value="9"' in page  # the defaults
    response = client.post(
        "/console/search/settings",
        data={
            "stop_words": "the, of\nand",
            "typo_enabled": "y",
            "typo_one": "4",
            "typo_two": "8",
            "typo_disabled_words": "Acme",
        },
    )
    assert response.status_code == 303
    row = db.session.get(SearchSettings, 1)
    assert row.stop_words == ["the", "of", "and"] and (row.typo_one, row.typo_two) == (4, 8)
    assert row.typo_disabled_words == ["acme"] and row.typo_enabled is True
    assert actions(member) == ["search.update_settings"]
    assert "the, of, and" in text(client.get("/console/search/settings"))


def test_settings_errors_show_at_their_fields_and_nothing_is_saved(client, login):
    login("merchandiser")
    response = client.post(
        "/console/search/settings",
        data={"stop_words": "two words", "typo_one": "many", "typo_two": "3"},
    )
    assert response.status_code == 422
    assert message_at(response, "stop_words") == "“two words” is more than one word."
    assert message_at(response, "typo_one") == "Enter a word length from 1 to 20 letters."
    assert (
        db.session.get(SearchSettings, 1) is None
        or db.session.get(SearchSettings, 1).stop_words == []
    )
    ordering = client.post("/console/search/settings", data={"typo_one": "9", "typo_two": "5"})
    assert ordering.status_code == 422
    assert message_at(ordering, "typo_two") == (
        "Two typos need at least as many letters as one typo."
    )


# -- pushing ------------------------------------------------------------------------------------


def test_push_now_reports_and_audits(client, login):
    member = login("merchandiser")
    search_rules.add_synonym(terms=["tee", "tshirt"], by=None)
    response = client.post(
        "/console/search/push",
        data={"next": "/console/search/settings"},
        headers=htmx_headers(),
    )
    assert response.status_code == 200
    assert 'id="push-status"' in text(response) and "<html" not in text(response)
    toast = json.loads(response.headers["HX-Trigger"])["toast"]
    assert toast == {"message": "The built-in search uses the latest settings.", "level": "success"}
    assert "in use" in text(response)
    assert actions(member) == ["search.push_settings"]
    plain = client.post("/console/search/push", data={"next": "https://evil.example/x"})
    assert plain.status_code == 303 and plain.headers["Location"] == "/console/search/synonyms"


# -- query rules: the list ----------------------------------------------------------------------


def test_rule_list_empty_state_sort_filter_and_status(client, login, summer):
    login("merchandiser")
    assert "No query rules yet" in text(client.get("/console/search/rules"))
    now = datetime.utcnow()
    dress = summer["dress"].id
    search_rules.create_rule(query="alpha", pinned_ids=[dress], by=None)
    search_rules.create_rule(
        query="beta",
        hidden_ids=[dress],
        starts_at=now + timedelta(days=2),
        boosts=[{"effect": "bury", "field": "in_stock"}],
        by=None,
    )
    search_rules.create_rule(query="gamma", pinned_ids=[dress], enabled=False, by=None)
    body = text(client.get("/console/search/rules"))
    rows = re.findall(r'<tr data-href="/console/search/rules/\d+">(.*?)</tr>', body, re.S)
    assert [re.search(r'">([^<]+)</a>', r).group(1) for r in rows] == ["alpha", "beta", "gamma"]
    assert (
        "badge-active" in rows[0] and "badge-scheduled" in rows[1] and "badge-disabled" in rows[2]
    )
    assert "0 / 1" in rows[1]  # boosts / buries
    desc = text(client.get("/console/search/rules?sort=query&dir=desc"))
    assert desc.index(">gamma<") < desc.index(">alpha<")
    scheduled = client.get("/console/search/rules?status=scheduled", headers=htmx_headers())
    assert ">beta<" in text(scheduled) and ">alpha<" not in text(scheduled)
    assert 'id="rules-sort" hx-swap-oob="true"' in text(scheduled)
    bad = client.get("/console/search/rules?status=whenever")
    assert bad.status_code == 422 and "Choose a status from the list." in text(bad)
    nothing = text(client.get("/console/search/rules?q=zeta"))
    assert "No rules match" in nothing
    assert 'href="/console/search/rules/new?query=zeta"' in nothing


# -- query rules: the form ----------------------------------------------------------------------


def rule_form(**extra):
    data = {"query": "summer", "match": "exact", "enabled": "y", "note": ""}
    data.update(extra)
    return data


def test_create_a_rule_with_pins_hides_boosts_and_a_window(client, login, summer, app):
    member = login("merchandiser")
    app.config["SHOP_TIMEZONE"] = "Europe/Paris"
    try:
        response = client.post(
            "/console/search/rules/new",
            data=rule_form(
                query="  Summer ",
                match="contains",
                pinned_ids=[summer["sandals"].id, summer["dress"].id],
                hidden_ids=[summer["hat"].id],
                starts_at="2026-07-01T00:00",
                ends_at="",
                note="Sandals first this summer",
                **{
                    "boosts-0-effect": "boost",
                    "boosts-0-field": "vendor",
                    "boosts-0-value": "acme",
                    "boosts-3-effect": "bury",  # a gap left by a removed row
                    "boosts-3-field": "in_stock",
                    "boosts-3-value": "",
                },
            ),
        )
    finally:
        app.config["SHOP_TIMEZONE"] = "UTC"
    assert response.status_code == 303, text(response)[:2000]
    rule = db.session.scalars(select(SearchRule)).one()
    assert response.headers["Location"] == f"/console/search/rules/{rule.id}"
    assert rule.query == "summer" and rule.match == "contains"
    assert rule.pinned_ids == [summer["sandals"].id, summer["dress"].id]  # the chosen order
    assert rule.hidden_ids == [summer["hat"].id]
    assert rule.boosts == [
        {"effect": "boost", "field": "vendor", "value": "Acme"},
        {"effect": "bury", "field": "in_stock", "value": ""},
    ]
    assert rule.starts_at == datetime(2026, 6, 30, 22, 0)  # Paris summer time is UTC+2
    assert rule.note == "Sandals first this summer"
    assert actions(member) == ["search.create_rule"]

    page = text(client.get(f"/console/search/rules/{rule.id}"))
    assert page.index("Summer Sandals") < page.index("Summer Dress")  # pinned, in order
    assert 'value="2026-07-01T00:00"' not in page  # shown back in the shop's zone (now UTC)
    assert 'value="2026-06-30T22:00"' in page
    assert 'name="boosts-1-field"' in page and 'name="boosts-2-field"' not in page
    assert "search.create_rule" in page


def test_rule_errors_show_at_their_fields_and_nothing_is_saved(client, login, summer):
    login("merchandiser")
    response = client.post(
        "/console/search/rules/new",
        data=rule_form(
            query=" ",
            pinned_ids=[summer["dress"].id],
            hidden_ids=[summer["dress"].id],
            starts_at="2026-07-02T00:00",
            ends_at="2026-07-01T00:00",
            **{
                "boosts-0-effect": "boost",
                "boosts-0-field": "collection",
                "boosts-0-value": "",
                "boosts-1-effect": "bury",
                "boosts-1-field": "tag",
                "boosts-1-value": "",
            },
        ),
    )
    assert response.status_code == 422
    assert message_at(response, "query") == "Enter the search words this rule is for."
    assert message_at(response, "hidden_ids") == "A product cannot be pinned and hidden."
    assert message_at(response, "ends_at") == "The end must come after the start."
    assert message_at(response, "boosts-0") == "Choose a collection."
    assert message_at(response, "boosts-1") == "Enter a tag."
    assert "Not saved: please correct the highlighted fields." in text(response)
    assert text(response).count('name="pinned_ids" value="') == 1  # the choices stay
    assert count(SearchRule) == 0
    nothing = client.post("/console/search/rules/new", data=rule_form())
    assert nothing.status_code == 422
    assert message_at(nothing, "pinned_ids") == "Pin, hide, boost or bury at least one product."


def test_edit_enable_disable_and_delete_a_rule(client, login, summer):
    member = login("merchandiser")
    rule = search_rules.create_rule(query="summer", pinned_ids=[summer["hat"].id], by=None)
    saved = client.post(
        f"/console/search/rules/{rule.id}",
        data=rule_form(pinned_ids=[summer["dress"].id, summer["hat"].id], rule_id=rule.id),
    )
    assert saved.status_code == 303
    db.session.refresh(rule)
    assert rule.pinned_ids == [summer["dress"].id, summer["hat"].id]
    off = client.post(f"/console/search/rules/{rule.id}/enabled", data={"enabled": "0"})
    assert off.status_code == 303
    db.session.refresh(rule)
    assert rule.enabled is False
    page = text(client.get(f"/console/search/rules/{rule.id}"))
    assert "badge-disabled" in page and ">Enable</button>" in page
    client.post(f"/console/search/rules/{rule.id}/enabled", data={"enabled": "1"})
    db.session.refresh(rule)
    assert rule.enabled is True
    assert 'hx-confirm="Delete the rule for “summer”?' in page
    rule_id = rule.id
    deleted = client.post(f"/console/search/rules/{rule_id}/delete")
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/console/search/rules"
    assert count(SearchRule) == 0
    assert actions(member) == [
        "search.update_rule",
        "search.update_rule",
        "search.update_rule",
        "search.delete_rule",
    ]
    assert client.get(f"/console/search/rules/{rule_id}").status_code == 404


def test_the_new_rule_form_takes_the_query_from_the_url(client, login, app):
    login("merchandiser")
    with app.test_request_context():
        from flask import url_for

        url = url_for("console.search_rule_new", query="summer dress")
    assert url == "/console/search/rules/new?query=summer+dress"
    assert 'name="query" type="text" value="summer dress"' in text(client.get(url))


def test_boost_rows_are_added_and_removed_with_htmx(client, login):
    login("merchandiser")
    added = client.post(
        "/console/search/rules/boosts?op=add",
        data={"boosts-0-effect": "bury", "boosts-0-field": "tag", "boosts-0-value": "old"},
        headers=htmx_headers(),
    )
    assert added.status_code == 200 and "<html" not in text(added)
    body = text(added)
    assert 'name="boosts-0-value" value="old"' in body and 'name="boosts-1-field"' in body
    changed = client.post(
        "/console/search/rules/boosts?op=field&index=0",
        data={"boosts-0-effect": "bury", "boosts-0-field": "collection", "boosts-0-value": "old"},
        headers=htmx_headers(),
    )
    assert '<select name="boosts-0-value"' in text(changed)  # collections are chosen
    removed = client.post(
        "/console/search/rules/boosts?op=remove&index=0",
        data={"boosts-0-field": "tag", "boosts-1-field": "vendor", "boosts-1-value": "Acme"},
        headers=htmx_headers(),
    )
    assert 'name="boosts-0-value" value="Acme"' in text(removed)
    assert 'name="boosts-1-field"' not in text(removed)
    full = client.post("/console/search/rules/boosts?op=add", data=rule_form())
    assert full.status_code == 200 and "<html" in text(full)  # without JavaScript: the page


def test_the_product_picker_finds_by_title_or_sku(client, login, summer):
    login("merchandiser")
    found = text(client.get("/console/search/rules/pick?target=pinned_ids&q=sandals"))
    assert "Summer Sandals" in found and 'aria-label="Pin Summer Sandals"' in found
    assert "Summer Hat" not in found
    sku = summer["hat"].variants[0].sku
    assert "Summer Hat" in text(client.get(f"/console/search/rules/pick?target=hidden_ids&q={sku}"))
    chip = text(
        client.get(
            f"/console/search/rules/pick/chip?target=pinned_ids&product_id={summer['hat'].id}"
        )
    )
    assert f'name="pinned_ids" value="{summer["hat"].id}"' in chip and 'data-move="up"' in chip
    assert client.get("/console/search/rules/pick?target=elsewhere&q=x").status_code == 404
    missing = "/console/search/rules/pick/chip?target=pinned_ids&product_id=999999"
    assert client.get(missing).status_code == 404


# -- query rules: the preview -------------------------------------------------------------------


def test_preview_shows_before_and_after_from_unsaved_values(client, login, summer):
    login("merchandiser")
    before_any = preview_titles(
        client.post("/console/search/rules/preview", data=rule_form(), headers=htmx_headers()),
        "before",
    )
    assert set(before_any) == {"Summer Dress", "Summer Hat", "Summer Sandals"}
    last = before_any[-1]
    product = next(p for p in summer.values() if p.title == last)
    hidden = next(p for p in summer.values() if p.title not in (last, before_any[0]))
    response = client.post(
        "/console/search/rules/preview",
        data=rule_form(
            pinned_ids=[product.id],
            hidden_ids=[hidden.id],
            **{"boosts-0-effect": "bury", "boosts-0-field": "vendor", "boosts-0-value": "Acme"},
        ),
        headers=htmx_headers(),
    )
    assert response.status_code == 200 and "<html" not in text(response)
    before, after = preview_titles(response, "before"), preview_titles(response, "after")
    assert before == before_any and before[0] != last
    assert after[0] == last and hidden.title not in after
    body = text(response)
    assert "badge-pinned" in body and "Hidden by this rule" in body
    assert re.search(rf"{re.escape(hidden.title)} <span class=\"badge badge-hidden\">", body)
    assert count(SearchRule) == 0  # nothing written


def test_preview_of_a_saved_rule_uses_the_draft_in_its_place(client, login, summer):
    login("merchandiser")
    rule = search_rules.create_rule(query="summer", pinned_ids=[summer["hat"].id], by=None)
    response = client.post(
        "/console/search/rules/preview",
        data=rule_form(rule_id=rule.id, pinned_ids=[summer["dress"].id]),
        headers=htmx_headers(),
    )
    assert preview_titles(response, "after")[0] == "Summer Dress"
    assert preview_titles(response, "before")[0] != "Summer Hat"  # without the saved rule
    db.session.refresh(rule)
    assert rule.pinned_ids == [summer["hat"].id]
    boosted = client.post(
        "/console/search/rules/preview",
        data=rule_form(
            rule_id=rule.id,
            **{"boosts-0-effect": "boost", "boosts-0-field": "tag", "boosts-0-value": "straw"},
        ),
        headers=htmx_headers(),
    )
    assert preview_titles(boosted, "after")[0] == "Summer Hat"
    assert "badge-boosted" in text(boosted)


def test_preview_problems_are_shown_in_the_preview(client, login):
    login("merchandiser")
    response = client.post(
        "/console/search/rules/preview", data=rule_form(query=""), headers=htmx_headers()
    )
    assert response.status_code == 422
    assert "Correct the form to see the preview" in text(response)
    assert "Enter the search words this rule is for." in text(response)
    plain = client.post("/console/search/rules/preview", data=rule_form(query=""))
    assert plain.status_code == 422 and "<html" in text(plain)


# -- CSRF ---------------------------------------------------------------------------------------


def test_posts_need_the_csrf_token(client, make_staff, app, monkeypatch, summer):
    member = make_staff("merchandiser")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', text(client.get("/console/login"))
    ).group(1)
    assert sign_in(client, member, csrf_token=token).status_code == 303
    page = text(client.get("/console/search/rules/new"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = rule_form(pinned_ids=[summer["dress"].id])
    assert client.post("/console/search/rules/new", data=data).status_code == 400
    assert client.post("/console/search/push").status_code == 400
    assert client.post("/console/search/rules/preview", data=data).status_code == 400
    assert count(SearchRule) == 0
    ok = client.post("/console/search/rules/new", data=dict(data, csrf_token=token))
    assert ok.status_code == 303
    via_header = client.post(
        "/console/search/rules/preview",
        data=data,
        headers=htmx_headers(**{"X-CSRFToken": token}),
    )
    assert via_header.status_code == 200


def test_search_pages_need_no_inline_script_or_style(client, login, summer):
    login("admin")
    rule = search_rules.create_rule(
        query="summer",
        pinned_ids=[summer["dress"].id],
        boosts=[{"effect": "bury", "field": "in_stock"}],
        by=None,
    )
    synonym = search_rules.add_synonym(terms=["tee", "tshirt"], by=None)
    for url in (
        "/console/search/synonyms",
        f"/console/search/synonyms/{synonym.id}",
        "/console/search/synonyms/new",
        "/console/search/settings",
        "/console/search/rules",
        "/console/search/rules/new",
        f"/console/search/rules/{rule.id}",
    ):
        response = client.get(url)
        html = text(response)
        assert response.status_code == 200, url
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        assert ' style="' not in html, url
