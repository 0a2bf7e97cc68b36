"""Words as search sees them: one tokenizer for documents and queries, and the typo distance.

Text is folded (accents stripped, lower case) and split into words of letters and digits. A
word joined by hyphens, apostrophes, dots or slashes ("T-Shirt", "men's", "SCARF-01") also
yields its parts run together ("tshirt", "mens", "scarf01"), so "tshirt", "t-shirt" and a
typo like "tshrt" all reach a T-Shirt on every backend.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

MAX_TOKEN = 40
WORD = re.compile(r"[^\W_]+(?:['\u2019\-./][^\W_]+)*")
PART = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case without accents ("Crème" -> "creme")."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> Iterator[tuple[list[str], str | None]]:
    """Each word as (its parts, the parts run together or None when it has one part)."""
    for match in WORD.finditer(fold(text)):
        parts = [p[:MAX_TOKEN] for p in PART.findall(match.group())]
        joined = "".join(parts)
        yield parts, (joined[:MAX_TOKEN] if len(parts) > 1 else None)


def tokens(text: str) -> list[str]:
    """Document tokens in reading order, compounds after their parts."""
    out: list[str] = []
    for parts, joined in words(text):
        out.extend(parts)
        if joined:
            out.append(joined)
    return out


def query_words(text: str) -> list[str]:
    """Query words: a joined word is searched as its compound ("t-shirt" -> "tshirt")."""
    return [joined or parts[0] for parts, joined in words(text)]


def normalize_phrase(text: str) -> str:
    """A query or rule phrase compared as words ("  Summer   DRESS " -> "summer dress")."""
    return " ".join(query_words(text))


def typo_budget(word: str, *, one_typo: int, two_typos: int) -> int:
    """Typos a word may carry: none below `one_typo` letters, two from `two_typos`."""
    if len(word) >= two_typos:
        return 2
    if len(word) >= one_typo:
        return 1
    return 0


def typo_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of neighbours is one typo); a different first
    letter costs two, as in Meilisearch. Returns limit + 1 once it is certain to exceed it."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    penalty = 1 if a[:1] != b[:1] else 0
    previous2: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        best = current[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if (
                previous2 is not None
                and i > 1
                and j > 1
                and a[i - 1] == b[j - 2]
                and a[i - 2] == b[j - 1]
            ):
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            best = min(best, value)
        if best > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[len(b)] + penalty
