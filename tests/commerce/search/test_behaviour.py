"""The search port's behaviour, the same on every backend: one catalog, the same questions,
the same answers (see conftest.py for the catalog and the backends)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from commerce.extensions import db
from tests.commerce.search.conftest import ACTIVE

TEES = {"blue_tee", "red_tee"}


def test_drafts_and_archived_products_never_show(world):
    everything = world.search(text="", per_page=50)
    assert set(world.names(everything.ids)) == set(ACTIVE)
    assert everything.total == len(ACTIVE)
    assert "draft" not in world.found(text="blue") and "archived" not in world.found(text="blue")
    assert world.found(text="hoodie") == [] and world.found(text="cap") == []


def test_full_text_covers_title_vendor_type_tags_sku_and_description(world):
    assert world.found(text="oxford") == ["oxford"]
    assert world.found(text="northwind") == ["oxford"]
    assert world.found(text="office") == ["oxford"]
    assert world.found(text="SKU-MUG") == ["mug"]
    assert world.found(text="dishwasher") == ["mug"]
    assert world.found(text="ceramic coffee") == ["mug"]
    assert world.found(text="mug jeans") == []  # every word must match


def test_typos_are_forgiven_by_word_length(world):
    assert set(world.found(text="tshrt")) == TEES
    assert world.found(text="ceramik") == ["mug"]
    assert world.found(text="jeens") == ["jeans"]
    assert world.found(text="nug") == []  # three letters: no typo allowed


def test_the_last_word_is_a_prefix(world):
    assert set(world.found(text="blu")) == {"blue_tee", "jeans", "poster"}
    assert world.found(text="ceram") == ["mug"]
    assert set(world.found(text="t-shirt")) == TEES
    assert set(world.found(text="tshirt")) == TEES
    assert set(world.found(text="blue t")) >= {"blue_tee"}


def test_matches_without_typos_rank_first(world):
    found = world.found(text="shirt")
    assert set(found[:3]) == {"blue_tee", "red_tee", "oxford"}
    assert found[3:] == ["shorts"]  # "short" is one typo from "shirt", so it comes last


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"vendors": ("Acme",)}, {"blue_tee", "red_tee", "shorts"}),
        ({"vendors": ("Acme", "Homeware")}, {"blue_tee", "red_tee", "shorts", "mug"}),
        ({"product_types": ("Pants",)}, {"jeans", "shorts"}),
        ({"tags": ("summer",)}, {"blue_tee", "shorts"}),
        ({"options": (("Size", "M"),)}, {"blue_tee", "red_tee", "oxford"}),
        ({"options": (("Size", "M"), ("Color", "Blue"))}, {"blue_tee"}),
        ({"options": (("Size", "M"), ("Size", "32"))}, {"blue_tee", "red_tee", "oxford", "jeans"}),
        ({"price_min": 2000, "price_max": 5000}, {"red_tee", "oxford", "shorts"}),
        ({"in_stock": True}, set(ACTIVE) - {"red_tee"}),
    ],
)
def test_filters(world, filters, expected):
    assert set(world.found(text="", **filters)) == expected


def test_category_and_collection_filters(world):
    apparel, tops = world.categories["apparel"], world.categories["tops"]
    assert set(world.found(categories=(apparel,))) == {
        "blue_tee",
        "red_tee",
        "oxford",
        "jeans",
        "shorts",
    }
    assert set(world.found(categories=(tops,))) == {"blue_tee", "red_tee", "oxford"}
    assert set(world.found(collections=(world.collections["summer"],))) == {"blue_tee", "shorts"}
    assert set(world.found(collections=(world.collections["sale"],))) == {"jeans", "shorts"}
    both = world.found(text="blu", in_stock=True, categories=(apparel,))
    assert set(both) == {"blue_tee", "jeans"}


def test_facet_counts(world):
    result = world.search(text="")
    assert result.facets["vendor"] == {
        "Acme": 3,
        "Artful": 1,
        "Denim Co": 1,
        "Homeware": 1,
        "Northwind": 1,
    }
    cats = world.categories
    assert result.facets["category"] == {
        str(cats["apparel"]): 5,
        str(cats["tops"]): 3,
        str(cats["bottoms"]): 2,
        str(cats["home"]): 2,
    }
    cols = world.collections
    assert result.facets["collection"] == {str(cols["summer"]): 2, str(cols["sale"]): 2}
    assert result.facets["in_stock"] == {"true": 6, "false": 1}
    assert result.facets["option"]["Size:M"] == 3
    assert result.facets["tag"]["summer"] == 2
    assert result.price_range == (1299, 5999)
    narrowed = world.search(text="", vendors=("Acme",))
    assert narrowed.facets["tag"] == {"cotton": 2, "summer": 2, "sale": 1}
    assert world.search(text="tshrt").facets["option"] == {
        "Color:Blue": 1,
        "Color:Red": 1,
        "Size:L": 1,
        "Size:M": 2,
        "Size:S": 2,
    }


def test_sorting(world):
    by_price = ["mug", "poster", "blue_tee", "red_tee", "shorts", "oxford", "jeans"]
    assert world.found(sort="price-asc") == by_price
    assert world.found(sort="price-desc") == by_price[::-1]
    assert world.found(sort="newest") == [
        "poster",
        "mug",
        "shorts",
        "jeans",
        "oxford",
        "red_tee",
        "blue_tee",
    ]
    # Sales in the last 30 days; the red tee's big order is older and counts for nothing.
    assert world.found(sort="best-selling")[:3] == ["mug", "oxford", "blue_tee"]
    assert world.found(text="tshrt", sort="price-desc") == ["red_tee", "blue_tee"]


def test_paging(world):
    page2 = world.search(text="", sort="price-asc", per_page=3, page=2)
    assert world.names(page2.ids) == ["red_tee", "shorts", "oxford"]
    assert page2.total == 7 and page2.pages == 3
    assert world.names(world.search(text="", sort="price-asc", per_page=3, page=3).ids) == ["jeans"]
    assert world.search(text="", sort="price-asc", per_page=3, page=9).ids == []


def test_matched_words_are_highlighted(world):
    jeans = next(h for h in world.search(text="blu").hits if h.id == world.ids["jeans"])
    assert str(jeans.title_html) == "<mark>Blue</mark> Jeans"
    tee = next(h for h in world.search(text="tshrt").hits if h.id == world.ids["blue_tee"])
    assert str(tee.title_html) == "Blue <mark>T-Shirt</mark>"
    mug = world.search(text="", vendors=("Homeware",)).hits[0]
    assert str(mug.title_html) == "Ceramic Mug"  # nothing to mark without words


def test_synonyms_and_stop_words_from_the_settings(world):
    from commerce.search import rules as search_rules

    assert world.found(text="jumper") == []
    assert world.found(text="mug of") == []  # no "of..." word near the mug
    with world.app.app_context():
        synonym = search_rules.add_synonym(terms=["jumper", "shirt"], by=None)
        search_rules.update_settings(stop_words=["of", "the"], by=None)
        world.settle()
    try:
        assert set(world.found(text="jumper")) == {"blue_tee", "red_tee", "oxford"}
        assert world.found(text="mug of") == ["mug"]
    finally:
        with world.app.app_context():
            search_rules.delete_synonym(db.session.merge(synonym), by=None)
            search_rules.update_settings(stop_words=[], by=None)
            world.settle()
    assert world.found(text="jumper") == []


def test_rules_pin_and_hide(world):
    from commerce.search import rules as search_rules

    ids = world.ids
    with world.app.app_context():
        rules = [
            search_rules.create_rule(
                query="shirt", pinned_ids=[ids["mug"], ids["oxford"]], by=None
            ),
            search_rules.create_rule(query="blu", hidden_ids=[ids["poster"]], by=None),
            search_rules.create_rule(
                query="summer", match="contains", pinned_ids=[ids["jeans"]], by=None
            ),
            search_rules.create_rule(
                query="ceramic",
                pinned_ids=[ids["poster"]],
                starts_at=datetime.now() + timedelta(days=1),
                by=None,
            ),
            search_rules.create_rule(
                query="jeens",
                pinned_ids=[ids["poster"]],
                ends_at=datetime.now() - timedelta(days=1),
                by=None,
            ),
        ]
        rule_ids = [r.id for r in rules]
        world.settle()
    try:
        result = world.search(text="shirt", per_page=50)
        names = world.names(result.ids)
        assert names[:2] == ["mug", "oxford"]  # pinned, in the rule's order
        assert set(names[2:4]) == TEES and names[4:] == ["shorts"]
        assert result.total == 5 and [h.pinned for h in result.hits[:3]] == [True, True, False]
        assert result.facets["vendor"]["Homeware"] == 1  # the pinned mug counts
        pages = [world.search(text="shirt", per_page=2, page=n) for n in (1, 2, 3)]
        assert world.names(pages[0].ids) == ["mug", "oxford"]
        assert [i for p in pages for i in p.ids] == result.ids  # no duplicates across pages
        assert "mug" not in world.found(text="shirt", vendors=("Acme",))  # pins obey filters

        assert set(world.found(text="blu")) == {"blue_tee", "jeans"}  # the poster is hidden
        assert world.found(text="summer shorts")[0] == "jeans"  # "contains" rule
        assert "jeans" not in world.found(text="summery")  # whole words only
        assert world.found(text="ceramic") == ["mug"]  # the rule has not started
        assert world.found(text="jeens") == ["jeans"]  # the rule has ended
    finally:
        with world.app.app_context():
            for rule_id in rule_ids:
                search_rules.delete_rule(search_rules.get_rule(rule_id), by=None)
            world.settle()
    assert world.found(text="shirt")[0] != "mug"


def test_the_index_follows_the_catalog(world):
    from commerce.catalog.services import get_product, update_product, update_variant
    from commerce.catalog.taxonomy import (
        add_to_collection,
        get_category,
        get_collection,
        remove_from_collection,
        update_category,
    )
    from commerce.inventory.services import adjust_stock, default_location, receive_stock

    ids = world.ids
    with world.app.app_context():
        update_product(get_product(ids["blue_tee"]), status="archived", by=None)
        update_product(get_product(ids["draft"]), status="active", by=None)
        world.settle()
    assert "blue_tee" not in world.found(text="blu") and "draft" in world.found(text="blu")
    with world.app.app_context():
        update_product(get_product(ids["blue_tee"]), status="active", by=None)
        update_product(get_product(ids["draft"]), status="draft", by=None)
        mug = get_product(ids["mug"])
        update_variant(mug.variants[0], price=9999, by=None)
        red = get_product(ids["red_tee"])
        receive_stock(red.variants[0].id, quantity=2, by=None)
        add_to_collection(get_collection(world.collections["summer"]), [ids["mug"]], by=None)
        update_category(get_category(world.categories["apparel"]), name="Clothing", by=None)
        world.settle()
    try:
        assert "blue_tee" in world.found(text="blu") and "draft" not in world.found(text="blu")
        assert world.found(sort="price-desc")[0] == "mug"
        assert "red_tee" in world.found(in_stock=True)
        assert "mug" in world.found(collections=(world.collections["summer"],))
        assert set(world.found(text="clothing")) == {
            "blue_tee",
            "red_tee",
            "oxford",
            "jeans",
            "shorts",
        }
    finally:
        with world.app.app_context():
            mug = get_product(ids["mug"])
            update_variant(mug.variants[0], price=1299, by=None)
            red = get_product(ids["red_tee"])
            main = default_location().id
            adjust_stock(red.variants[0].id, location_id=main, delta=-2, reason="damaged", by=None)
            remove_from_collection(
                get_collection(world.collections["summer"]), [ids["mug"]], by=None
            )
            update_category(get_category(world.categories["apparel"]), name="Apparel", by=None)
            world.settle()
    assert "red_tee" not in world.found(in_stock=True)
    assert world.found(sort="price-asc")[0] == "mug"
    assert world.found(text="clothing") == []


def test_a_rebuild_swaps_in_a_new_index_while_search_keeps_answering(world):
    from commerce.search.indexing import reindex

    during: list[int] = []

    def progress(done: int, total: int) -> None:
        during.append(world.search(text="blu").total)

    with world.app.app_context():
        before = reindex().generation_id
        result = reindex(progress=progress, batch=2)
    assert result.generation_id != before and result.documents == len(ACTIVE)
    assert during and set(during) == {3}  # the old index answered all along
    assert set(world.found(text="blu")) == {"blue_tee", "jeans", "poster"}
    assert world.search(text="").total == len(ACTIVE)


def test_rules_boost_and_bury_within_relevance(world):
    from commerce.search import rules as search_rules

    ids = world.ids
    plain = world.search(text="shirt", per_page=50)
    with world.app.app_context():
        rules = [
            search_rules.create_rule(
                query="shirt",
                boosts=[
                    {"effect": "boost", "field": "vendor", "value": "northwind"},  # any case
                    {"effect": "bury", "field": "tag", "value": "cotton"},
                ],
                by=None,
            ),
            search_rules.create_rule(
                query="summer",
                boosts=[
                    {"effect": "bury", "field": "tag", "value": "summer"},
                    {"effect": "boost", "field": "tag", "value": "sale"},
                ],
                by=None,
            ),
            search_rules.create_rule(
                query="t-shirt",
                boosts=[{"effect": "bury", "field": "in_stock", "value": ""}],
                by=None,
            ),
            search_rules.create_rule(
                query="blue",
                boosts=[
                    {
                        "effect": "boost",
                        "field": "collection",
                        "value": str(world.collections["sale"]),
                    }
                ],
                by=None,
            ),
            search_rules.create_rule(
                query="blu",
                pinned_ids=[ids["poster"]],
                boosts=[
                    {
                        "effect": "bury",
                        "field": "collection",
                        "value": str(world.collections["summer"]),
                    },
                    {"effect": "boost", "field": "tag", "value": "summer"},  # boost wins
                ],
                by=None,
            ),
        ]
        rule_ids = [r.id for r in rules]
        world.settle()
    try:
        result = world.search(text="shirt", per_page=50)
        names = world.names(result.ids)
        assert names[0] == "oxford"  # boosted by its vendor
        assert names[1] == "shorts"  # neither: stays in the middle
        assert set(names[2:]) == TEES  # buried by their tag, below a typo match
        assert [h.boost for h in result.hits] == ["boost", "", "bury", "bury"]
        assert result.total == plain.total == 4
        assert result.facets == plain.facets  # the groups are disjoint: counts add up
        assert result.price_range == plain.price_range
        pages = [world.search(text="shirt", per_page=3, page=n) for n in (1, 2)]
        assert [i for p in pages for i in p.ids] == result.ids
        assert pages[1].total == 4
        assert world.names(world.search(text="shirt", per_page=1, page=2).ids) == ["shorts"]
        # Boosts shape relevance only: a sort is a strict order.
        assert world.found(text="shirt", sort="price-asc") == [
            "blue_tee",
            "red_tee",
            "shorts",
            "oxford",
        ]
        # The shopper's filters still apply to every group.
        acme = world.found(text="shirt", vendors=("Acme",))
        assert acme[0] == "shorts" and set(acme[1:]) == TEES

        summer = world.search(text="summer")
        assert world.names(summer.ids) == ["shorts", "blue_tee"]  # a boost beats a bury
        assert [h.boost for h in summer.hits] == ["boost", "bury"]

        assert world.found(text="t-shirt") == ["red_tee", "blue_tee"]  # in stock goes down
        assert world.found(text="blue")[0] == "jeans"  # a (rule-based) collection
        blu = world.search(text="blu")
        assert world.names(blu.ids) == ["poster", "blue_tee", "jeans"]
        assert [(h.pinned, h.boost) for h in blu.hits] == [
            (True, ""),
            (False, "boost"),
            (False, ""),
        ]
    finally:
        with world.app.app_context():
            for rule_id in rule_ids:
                search_rules.delete_rule(search_rules.get_rule(rule_id), by=None)
            world.settle()
    assert world.search(text="shirt", per_page=50).ids == plain.ids
