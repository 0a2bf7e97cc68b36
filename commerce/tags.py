"""Tags, as staff type them on products, customers and promotion rules: one rule of spelling
for all (a shared module below every domain package)."""

from __future__ import annotations

from collections.abc import Iterable

from commerce.errors import ValidationError

MAX_TAG = 80


def normalize_tags(tags: str | Iterable[str] | None, *, field: str = "tags") -> list[str]:
    """Comma-separated or a list; trimmed, de-duplicated case-insensitively, order kept."""
    if tags is None:
        return []
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    seen: dict[str, str] = {}
    for raw in items:
        tag = " ".join(str(raw).split())
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise ValidationError(
                f"Tags are at most {MAX_TAG} characters: “{tag[:20]}…”.", field=field
            )
        seen.setdefault(tag.lower(), tag)
    return list(seen.values())
