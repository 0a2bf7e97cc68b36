"""Country lists read in the order of their names, as people scan them (issue 16: 11)."""

from __future__ import annotations

from commerce.countries import _sort_key, country_name, country_names


def test_countries_are_listed_by_name_not_by_code() -> None:
    names = list(country_names().values())
    assert names == sorted(names, key=_sort_key)
    assert names[0] == "Afghanistan"
    assert names.index("Åland Islands") < names.index("Albania")  # the accent is ignored
    assert names.index("Germany") < names.index("United Kingdom")
    assert country_name("DE") == "Germany" and "DE" in country_names()
