"""Matched words wrapped in <mark>, everything else escaped: safe to put in a page."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from markupsafe import Markup, escape

from commerce.search import text

_WORD, _PART = text.WORD, text.PART
PRE, POST = "<mark>", "</mark>"


def mark_words(value: str, exact: Collection[str], prefixes: Sequence[str] = ()) -> Markup:
    """Wrap each word of `value` whose folded form (or one of its parts, or its joined form)
    is in `exact` or starts with one of `prefixes`."""
    out: list[str] = []
    last = 0
    for match in _WORD.finditer(value or ""):
        parts = [text.fold(p) for p in _PART.findall(match.group())]
        forms = [*parts, "".join(parts)]
        hit = any(f in exact for f in forms) or any(
            f.startswith(p) for f in forms for p in prefixes if p
        )
        if hit:
            out.append(str(escape(value[last : match.start()])))
            out.append(f"{PRE}{escape(match.group())}{POST}")
            last = match.end()
    out.append(str(escape((value or "")[last:])))
    return Markup("".join(out))


def from_tagged(value: str, pre: str = PRE, post: str = POST) -> Markup:
    """An engine's highlighted string (raw text with `pre`/`post` around matches) made safe:
    the text between the tags is escaped, the tags become <mark>."""
    out: list[str] = []
    rest = value or ""
    while rest:
        start = rest.find(pre)
        if start < 0:
            out.append(str(escape(rest)))
            break
        end = rest.find(post, start + len(pre))
        if end < 0:
            out.append(str(escape(rest)))
            break
        out.append(str(escape(rest[:start])))
        out.append(f"{PRE}{escape(rest[start + len(pre) : end])}{POST}")
        rest = rest[end + len(post) :]
    return Markup("".join(out))
