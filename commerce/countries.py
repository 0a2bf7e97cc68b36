"""ISO 3166-1 alpha-2 country codes, with English names from Babel's CLDR data."""

from __future__ import annotations

from functools import cache

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


@cache
def country_names() -> dict[str, str]:
    territories = Locale("en").territories
    return {
        code: name
        for code, name in sorted(territories.items())
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    }


def is_country(code: str) -> bool:
    return code in country_names()


def country_name(code: str) -> str:
    return country_names().get(code, code)
