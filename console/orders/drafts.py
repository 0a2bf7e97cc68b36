"""Draft orders in the console: the list (the orders list's "Drafts"), a draft's page (customer
and address, lines with a variant search showing live availability, shipping, discount and
code, totals from the shop's pricing), holding stock, the invoice with its pay link, marking it
paid (a confirmation dialog, orders.mark_paid) and duplicating.

Each POST calls one service of commerce.drafts and answers 303 to the draft's page, or the
page again with the messages at their fields (422 for bad input, the error's 4xx otherwise).
"""

from __future__ import annotations

from typing import Any

from flask import abort, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from commerce.customers.services import ADDRESS_FIELDS
from commerce.drafts.models import COMPLETED, DraftOrder
from commerce.drafts.queries import list_drafts, search_variants, variant_titles
from commerce.drafts.services import (
    add_draft_custom_line,
    add_draft_line,
    choose_draft_shipping,
    create_draft,
    describe_discount,
    draft_checkout,
    duplicate_draft,
    get_draft,
    held_units,
    mark_draft_paid,
    price_draft,
    release_draft_stock,
    reserve_draft_stock,
    send_invoice,
    set_draft_code,
    set_draft_customer,
    set_draft_discount,
    set_draft_line_quantity,
    update_draft_custom_line,
)
from commerce.errors import CommerceError, NotFound
from commerce.money import format_amount_plain
from commerce.orders.queries import find_customers
from console.web import done
from web.forms import error_messages
from web.pages import render


def _url(draft: DraftOrder) -> str:
    return url_for("console.draft_detail", draft_id=draft.id)


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return min(int(raw), 10_000) if raw.isdigit() and int(raw) > 0 else 1


def draft_list() -> Response:
    found = list_drafts(status=request.args.get("status", ""), page=_page_number())
    return render("console/orders/drafts.html", found=found)


def draft_create() -> Response:
    try:
        draft = create_draft(email=request.form.get("email", ""), by=current_user)
    except CommerceError as exc:
        found = list_drafts()
        return render(
            "console/orders/drafts.html",
            found=found,
            errors=error_messages(exc),
            status=exc.status if exc.status >= 400 else 400,
        )
    return done(f"Draft {draft.name} created.", _url(draft))


def _draft_or_404(draft_id: int) -> DraftOrder:
    try:
        return get_draft(draft_id)
    except NotFound:
        abort(404)


def draft_page(
    draft: DraftOrder, *, status: int = 200, errors: dict[str, list[str]] | None = None
) -> Response:
    priced = price_draft(draft)
    held, held_until = held_units(draft)
    checkout = draft_checkout(draft)
    return render(
        "console/orders/draft.html",
        draft=draft,
        priced=priced,
        titles=variant_titles([v for v, _ in draft.line_pairs()]),
        custom_rows=[
            {**row, "price_text": format_amount_plain(int(row["unit_price"]), priced.currency)}
            for row in draft.custom_lines or []
        ],
        held=held,
        held_until=held_until,
        checkout=checkout,
        discount=describe_discount(draft, priced.currency),
        address_fields=ADDRESS_FIELDS,
        hits=search_variants(request.args.get("q", "")[:100]) if request.method == "GET" else [],
        editable=draft.status != COMPLETED,
        errors=errors or {},
        values=request.form if request.method == "POST" else {},
        status=status,
    )


def draft_detail(draft_id: int) -> Response:
    return draft_page(_draft_or_404(draft_id))


def _act(draft_id: int, action: Any, message: str, *, prefix: str = "") -> Response:
    """Run one service on the draft; the page again with its messages if it refuses."""
    draft = _draft_or_404(draft_id)
    try:
        result = action(draft)
    except CommerceError as exc:
        draft = _draft_or_404(draft_id)
        errors = {f"{prefix}{k}": v for k, v in error_messages(exc).items()}
        errors.setdefault("form", [exc.message])
        return draft_page(draft, status=exc.status if exc.status >= 400 else 400, errors=errors)
    if isinstance(result, DraftOrder) and result.id != draft.id:
        return done(message.format(name=result.name), _url(result))
    if result is not None and not isinstance(result, DraftOrder):  # an order
        return done(
            message.format(name=result.name), url_for("console.order_detail", order_id=result.id)
        )
    return done(message.format(name=draft.name), _url(draft))


def draft_customer(draft_id: int) -> Response:
    form = request.form
    address = {name: form.get(name, "") for name in ADDRESS_FIELDS}
    return _act(
        draft_id,
        lambda d: set_draft_customer(
            d,
            email=form.get("email", ""),
            address=address,
            note=form.get("note", ""),
            by=current_user,
        ),
        "Customer and address saved.",
    )


def draft_line_add(draft_id: int) -> Response:
    form = request.form
    return _act(
        draft_id,
        lambda d: add_draft_line(
            d,
            variant_id=form.get("variant_id"),
            quantity=form.get("quantity", "1"),
            by=current_user,
        ),
        "Item added.",
        prefix="add-",
    )


def draft_line_quantity(draft_id: int) -> Response:
    form = request.form
    return _act(
        draft_id,
        lambda d: set_draft_line_quantity(
            d, variant_id=form.get("variant_id"), quantity=form.get("quantity", ""), by=current_user
        ),
        "Quantity changed.",
        prefix="line-",
    )


def draft_custom_add(draft_id: int) -> Response:
    """A custom item (no catalog variant): title, price, quantity, taxable, ships."""
    form = request.form
    return _act(
        draft_id,
        lambda d: add_draft_custom_line(
            d,
            title=form.get("title", ""),
            unit_price=form.get("unit_price", ""),
            quantity=form.get("quantity", "1"),
            taxable=form.get("taxable", ""),
            requires_shipping=form.get("requires_shipping", ""),
            by=current_user,
        ),
        "Custom item added.",
        prefix="custom-",
    )


def draft_custom_update(draft_id: int) -> Response:
    """Change a custom item, or remove it (the Remove button, or quantity 0)."""
    form = request.form
    key = form.get("key", "")[:32]
    return _act(
        draft_id,
        lambda d: update_draft_custom_line(
            d,
            key=key,
            title=form.get("title", ""),
            unit_price=form.get("unit_price", ""),
            quantity="0" if form.get("remove") else form.get("quantity", ""),
            taxable=form.get("taxable", ""),
            requires_shipping=form.get("requires_shipping", ""),
            by=current_user,
        ),
        "Custom item removed." if form.get("remove") else "Custom item saved.",
        prefix=f"custom-{key}-",
    )


def draft_variants(draft_id: int) -> Response:
    """The variant search beside the draft (an htmx fragment; a whole page without htmx)."""
    draft = _draft_or_404(draft_id)
    q = request.args.get("q", "")[:100]
    return render(
        "console/orders/_draft_variants.html",
        "console/orders/_draft_variants.html",
        draft=draft,
        hits=search_variants(q),
        q=q,
    )


def draft_customers() -> Response:
    """Shop accounts matching what is typed in a draft's email field (htmx: the options of
    its datalist), so support picks an existing customer; a new address is a new customer."""
    q = (request.args.get("email") or request.args.get("q") or "")[:100]
    return render(
        "console/orders/_draft_customers.html",
        "console/orders/_draft_customers.html",
        found=find_customers(q, limit=8),
    )


def draft_shipping(draft_id: int) -> Response:
    code = request.form.get("shipping_method", "")
    return _act(
        draft_id,
        lambda d: choose_draft_shipping(d, code=code, by=current_user),
        "Shipping method chosen.",
    )


def draft_discount(draft_id: int) -> Response:
    form = request.form
    return _act(
        draft_id,
        lambda d: set_draft_discount(
            d,
            kind=form.get("discount_kind", ""),
            value=form.get("discount_value", ""),
            reason=form.get("discount_reason", ""),
            by=current_user,
        ),
        "Discount saved.",
    )


def draft_code(draft_id: int) -> Response:
    code = request.form.get("coupon_code", "")
    return _act(
        draft_id, lambda d: set_draft_code(d, code=code, by=current_user), "Discount code saved."
    )


def draft_reserve(draft_id: int) -> Response:
    return _act(
        draft_id,
        lambda d: reserve_draft_stock(d, by=current_user),
        "Stock held for this draft.",
        prefix="stock-",
    )


def draft_release(draft_id: int) -> Response:
    return _act(draft_id, lambda d: release_draft_stock(d, by=current_user), "Held stock released.")


def draft_invoice(draft_id: int) -> Response:
    return _act(
        draft_id,
        lambda d: send_invoice(d, by=current_user),
        "Invoice sent: the customer can pay through its link.",
    )


def draft_mark_paid(draft_id: int) -> Response:
    method = request.form.get("method", "")
    return _act(
        draft_id,
        lambda d: mark_draft_paid(d, method=method, by=current_user),
        "Marked as paid: order {name} created.",
        prefix="paid-",
    )


def draft_duplicate(draft_id: int) -> Response:
    return _act(
        draft_id,
        lambda d: duplicate_draft(d, by=current_user),
        "Draft duplicated: this is the copy, {name}.",
    )
