"""The shop at /: browse, search, cart and checkout (built out in the storefront issue)."""

from flask import Blueprint

bp = Blueprint("storefront", __name__)

from storefront import account, browse, cart, checkout, checkout_line, search, webhooks  # noqa: E402, F401
