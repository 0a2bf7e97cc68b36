"""Whether an order needs shipping: the one rule that says which lines are shipped.

A line is shipped unless it is delivered another way: a gift card's code goes by email when
the order is paid, and a line may say it needs no shipping (`requires_shipping` False: a
draft order's custom line for a service, say). An order needs a shipping address and method
when any of its lines is shipped; one whose lines all need none skips shipping altogether
(no address, no method, no shipping charge). Checkout, pricing and documents ask here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class DeliveredLine(Protocol):
    """What the rule reads of a line (a PricedLine has both)."""

    @property
    def gift_card(self) -> bool: ...

    @property
    def requires_shipping(self) -> bool: ...


def line_needs_shipping(line: DeliveredLine) -> bool:
    """A line is shipped unless it is a gift card (emailed) or says it needs no shipping."""
    return bool(line.requires_shipping) and not line.gift_card


def needs_shipping(lines: Iterable[DeliveredLine]) -> bool:
    """An order (a cart, a checkout) needs shipping when any of its lines is shipped."""
    return any(line_needs_shipping(line) for line in lines)
