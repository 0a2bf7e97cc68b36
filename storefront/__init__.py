"""The shop at /: browse, search, cart and checkout (built out in the storefront issue)."""

from flask import Blueprint

bp = Blueprint("storefront", __name__)

from storefront import (  # noqa: E402, F401
    account,
    browse,
    cart,
    checkout,
    checkout_line,
    draft_pay,
    recovery,
    search,
    webhooks,
)
