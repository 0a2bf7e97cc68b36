"""Suggestions while typing, did-you-mean and popular products, on every backend (the same
catalog as the behaviour suite: see conftest.py). Did-you-mean is also checked with the
catalog vocabulary the Meilisearch backend relies on, so that path runs without a server."""

from __future__ import annotations

from typing import Any

import pytest

from commerce.search.suggest import (
    CatalogVocabulary,
    correction_budget,
    current_vocabulary,
    did_you_mean,
    no_results_help,
    popular_product_ids,
    rank,
    suggest,
)
from commerce.search.vocabulary import GenerationVocabulary
from tests.commerce.search.conftest import ACTIVE

TEES = {"blue_tee", "red_tee"}


def test_suggestions_forgive_typos_and_bring_their_categories(world):
    with world.app.app_context():
        found = suggest("tshrt")
    assert set(world.names(found.ids)) == TEES and found.total == 2
    # Apparel holds the same two T-shirts as Tops: only the more specific one is offered.
    assert [(c.name, c.count) for c in found.categories] == [("Tops", 2)]
    assert found.categories[0].id == world.categories["tops"]
    assert all("<mark>" in hit.title_html for hit in found.hits)


def test_suggestions_are_limited_and_categories_ranked(world):
    with world.app.app_context():
        found = suggest("blu", products=2)
    assert len(found.hits) == 2 and found.total == 3
    assert [c.name for c in found.categories] == ["Apparel", "Bottoms", "Tops", "Home"]
    assert [c.count for c in found.categories] == [2, 1, 1, 1]
    with world.app.app_context():
        assert [c.name for c in suggest("blu", categories=1).categories] == ["Apparel"]


@pytest.mark.parametrize("typed", ["", " ", "t", " b ", "--"])
def test_nothing_is_suggested_for_less_than_two_characters(world, typed):
    with world.app.app_context():
        found = suggest(typed)
    assert found.hits == [] and found.categories == [] and found.total == 0


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("blu jens", "blue jeans"),  # a word short of its last letter, one letter missing
        ("mgu", "mug"),  # three letters: search allows no typo, did-you-mean one
        ("ceramci mgu", "ceramic mug"),
        ("purple mug", "mug"),  # a word the catalog does not know at all is left out
        ("blue mug", None),  # both words are known: nothing to correct, nothing found
        ("zzzz", None),
        ("tshirt", None),  # finds something as it is: nothing to correct
    ],
)
def test_did_you_mean_corrects_words_against_the_index_vocabulary(world, typed, expected):
    with world.app.app_context():
        assert did_you_mean(typed) == expected


@pytest.mark.parametrize(("typed", "expected"), [("blu jens", "blue jeans"), ("mgu", "mug")])
def test_did_you_mean_with_the_catalog_vocabulary(world, typed, expected):
    """What the Meilisearch backend uses: the words of the catalog's own tables."""
    with world.app.app_context():
        vocabulary = CatalogVocabulary.load(fresh=True)
        assert {"tshirt", "jeans", "ceramic", "tops", "acme"} <= set(vocabulary.words)
        assert "hoodie" not in vocabulary.words  # a draft product's words are not offered
        assert vocabulary.knows("cera", prefix=True) and not vocabulary.knows("cera", prefix=False)
        assert did_you_mean(typed, vocabulary=vocabulary) == expected


def test_the_db_backend_offers_its_index_vocabulary(world):
    if world.backend == "meilisearch":
        pytest.skip("the Meilisearch backend reads the catalog's words")
    with world.app.app_context():
        vocabulary = current_vocabulary()
        assert isinstance(vocabulary, GenerationVocabulary)  # held in memory per process
        assert vocabulary.knows("jeans", prefix=False)
        assert vocabulary.knows("jea", prefix=True) and not vocabulary.knows("jea", prefix=False)
        assert vocabulary.closest("jens", 1, 3) == ["jeans"]
        # A swapped first pair of letters is still found (the narrowing allows it).
        assert "shirt" in vocabulary.closest("hsirt", 2, 3)


def test_popular_products_are_best_sellers_in_stock_first(world):
    with world.app.app_context():
        ids = popular_product_ids(8)
    names = world.names(ids)
    assert set(names) == set(ACTIVE)  # every active product, none twice
    assert names[:3] == ["mug", "oxford", "blue_tee"]  # sold 10, 5 and 3 in the last 30 days
    assert names[-1] == "red_tee"  # out of stock: after every product in stock
    with world.app.app_context():
        assert world.names(popular_product_ids(2)) == ["mug", "oxford"]


def test_no_results_help_bundles_both(world):
    with world.app.app_context():
        found = no_results_help("blu jens", popular=3)
    assert found.did_you_mean == "blue jeans"
    assert world.names(found.popular_ids) == ["mug", "oxford", "blue_tee"]


def test_correction_budget_and_ranking() -> None:
    assert [
        correction_budget(w) for w in ("ab", "mug", "jens", "shirt", "ceramics", "sweatshirt")
    ] == [
        0,
        1,
        1,
        2,
        2,
        3,
    ]
    terms: list[Any] = ["short", "shirt", "shirts", "skirt", "zebra"]
    assert rank("shrt", 1, terms, 3) == ["shirt", "short"]
    assert rank("shirt", 1, terms, 5) == ["short", "skirt", "shirts"]  # not the word itself


def test_kept_suggestions_follow_the_index(world):
    """The db backend keeps suggestion answers per index state: a write to the index (a
    product archived) is seen by the next suggestion, never a kept answer."""
    from commerce.catalog.services import get_product, update_product

    with world.app.app_context():
        assert set(world.names(suggest("tshrt").ids)) == TEES
        assert set(world.names(suggest("tshrt").ids)) == TEES  # asked again: the same answer
        update_product(get_product(world.ids["blue_tee"]), status="archived", by=None)
        world.settle()
    try:
        with world.app.app_context():
            found = suggest("tshrt")
        assert world.names(found.ids) == ["red_tee"] and found.total == 1
    finally:
        with world.app.app_context():
            update_product(get_product(world.ids["blue_tee"]), status="active", by=None)
            world.settle()


def test_did_you_mean_never_offers_a_sku_code(world):
    """SKUs ("SKU-MUG") are searchable, but their codes are not words shoppers see: neither
    typo tolerance nor did-you-mean draws on them (issue 16)."""
    with world.app.app_context():
        vocabulary = current_vocabulary()
        assert not vocabulary.knows("sku", prefix=False)
        assert not vocabulary.knows("skumug", prefix=True)
        assert vocabulary.knows("ceramic", prefix=False)
        assert did_you_mean("skux") is None
        assert set(world.names(world.search(text="sku-mug").ids)) == {"mug"}
