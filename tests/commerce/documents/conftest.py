"""Document fixtures: the checkout shop, and an order factory over the real checkout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.commerce.documents.helpers import checkout_order


@pytest.fixture
def order_factory(checkout_shop: Any) -> Callable[..., Any]:
    """order_factory(small=2, medium=0) -> an Order placed through checkout."""

    def make(small: int = 2, medium: int = 0, **kw: Any) -> Any:
        return checkout_order(checkout_shop, small, medium, **kw)

    return make
