"""ISO 3166-1 alpha-2 country codes, with English names from Babel's CLDR data."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any

from babel import Locale

# CLDR territories that are not countries (groupings, pseudo-locales, reserved codes).
_NOT_COUNTRIES = {
    "AC",
    "CP",
    "CQ",
    "DG",
    "EA",
    "EU",
    "EZ",
    "IC",
    "QO",
    "TA",
    "UN",
    "XA",
    "XB",
    "ZZ",
}


def _sort_key(name: str) -> str:
    """A name as people look it up in a list: accents ignored ("Åland" with the A's)."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@cache
def country_names() -> dict[str, str]:
    """ISO code -> English name, in the order of the names (a picker lists them so)."""
    territories = Locale("en").territories
    return {
        code: name
        for code, name in sorted(territories.items(), key=lambda item: _sort_key(item[1]))
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    }


def is_country(code: str) -> bool:
    return code in country_names()


def country_name(code: str) -> str:
    return country_names().get(code, code)


def address_lines(address: Mapping[str, Any] | None, *, company: bool = True) -> list[str]:
    """A postal address as printed, one line each, blank parts left out: (company,) name,
    street lines, "City, Region Postcode", the country's name, the phone number."""
    address = address or {}
    locality = " ".join(str(p) for p in (address.get("region"), address.get("postal_code")) if p)
    city = ", ".join(part for part in (str(address.get("city") or ""), locality) if part)
    country = str(address.get("country") or "")
    lines = [
        address.get("company") if company else None,
        address.get("name"),
        address.get("line1"),
        address.get("line2"),
        city,
        country_name(country) if country else "",
        address.get("phone"),
    ]
    return [str(line) for line in lines if line]
