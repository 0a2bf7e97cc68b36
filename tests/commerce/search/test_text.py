"""Words, typos and highlighting, as every backend sees them."""

from __future__ import annotations

import pytest

from commerce.search import text
from commerce.search.highlight import from_tagged, mark_words


def test_tokens_fold_case_and_accents_and_join_hyphenated_words():
    assert text.tokens("Crème Brûlée T-Shirt") == ["creme", "brulee", "t", "shirt", "tshirt"]
    assert text.tokens("Men's SCARF-01") == ["men", "s", "mens", "scarf", "01", "scarf01"]
    assert text.query_words("  T-Shirt  blu ") == ["tshirt", "blu"]
    assert text.normalize_phrase("  Summer   DRESS ") == "summer dress"


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("tshrt", "tshirt", 1),
        ("shirt", "shrit", 1),  # a swap of neighbours is one typo
        ("ceramik", "ceramic", 1),
        ("shirt", "whirt", 2),  # a wrong first letter counts double
        ("jeans", "jeans", 0),
    ],
)
def test_typo_distance(a, b, distance):
    assert text.typo_distance(a, b, 2) == distance


def test_typo_budget_by_length():
    budget = {
        w: text.typo_budget(w, one_typo=5, two_typos=9) for w in ("mug", "shirt", "sweatshirt")
    }
    assert budget == {"mug": 0, "shirt": 1, "sweatshirt": 2}


def test_highlighting_escapes_everything_but_the_marks():
    marked = mark_words("Blue <b>T-Shirt</b> & co", {"tshirt"}, ["bl"])
    assert str(marked) == "<mark>Blue</mark> &lt;b&gt;<mark>T-Shirt</mark>&lt;/b&gt; &amp; co"
    tagged = from_tagged("<mark>Blue</mark> <script>x</script> <mark>T</mark>")
    assert str(tagged) == "<mark>Blue</mark> &lt;script&gt;x&lt;/script&gt; <mark>T</mark>"
