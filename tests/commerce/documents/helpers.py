"""Helpers for the document tests: real orders through checkout, refunds, and reading PDFs back."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

from pypdf import PdfReader

from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from commerce.db import transaction, utcnow
from commerce.extensions import db
from commerce.orders.models import REFUND_SUCCEEDED, Order, Refund, RefundLine
from tests.conftest import TEST_CARD, US_ADDRESS

SHOPPER = "ada@example.com"


def checkout_order(shop: Any, small: int = 2, medium: int = 0, *, email: str = SHOPPER) -> Order:
    """An order placed through the real checkout: `small`/`medium` units of the shop's tee."""
    cart = None
    for variant_id, quantity in ((shop.small, small), (shop.medium, medium)):
        if quantity:
            cart = add_to_cart(cart, variant_id=variant_id, quantity=quantity)
    checkout = start_checkout(cart)
    save_information(checkout, email=email, address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None
    return order


def refund(
    order: Order,
    lines: dict[int, int] | None = None,
    *,
    shipping: int = 0,
    extra: int = 0,
    reason: str = "Damaged in transit",
    status: str = REFUND_SUCCEEDED,
) -> Refund:
    """A refund row as the refunds service leaves it: `lines` maps order line id -> quantity;
    each line gives back its share of the discounted amount plus the tax it was charged."""
    by_id = {line.id: line for line in order.lines}
    with transaction():
        row = Refund(
            order_id=order.id,
            payment_id=order.payment_id,
            currency=order.currency,
            amount=0,
            shipping_amount=shipping,
            extra_amount=extra,
            reason=reason,
            status=status,
            idempotency_key=uuid.uuid4().hex,
            completed_at=utcnow() if status == REFUND_SUCCEEDED else None,
        )
        tax_total = 0
        for line_id, quantity in (lines or {}).items():
            line = by_id[line_id]
            net = line.discounted_amount * quantity // line.quantity
            tax = line.tax * quantity // line.quantity
            amount = net if order.prices_include_tax else net + tax
            row.lines.append(
                RefundLine(order_line_id=line_id, quantity=quantity, amount=amount, tax=tax)
            )
            tax_total += tax
        row.tax_amount = tax_total
        row.amount = sum(rl.amount for rl in row.lines) + shipping + extra
        db.session.add(row)
        if status == REFUND_SUCCEEDED:
            order.refunded_total += row.amount
            for rl in row.lines:
                by_id[rl.order_line_id].refunded_quantity += rl.quantity
    return row


def pdf_pages(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(pdf_pages(pdf))


def page_sizes(pdf: bytes) -> list[tuple[int, int]]:
    return [
        (round(float(p.mediabox.width)), round(float(p.mediabox.height)))
        for p in PdfReader(io.BytesIO(pdf)).pages
    ]


def filled_rectangles(pdf: bytes) -> int:
    """How many rectangle operators (`re`) the pages and their form XObjects draw: the
    barcode's bars are vector rectangles, so a slip draws dozens."""
    reader = PdfReader(io.BytesIO(pdf))
    count = 0
    for page in reader.pages:
        contents = page.get_contents()  # an empty stream object is falsy: compare to None
        streams = [contents.get_data() if contents is not None else b""]
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        pending = [xobjects[name].get_object() for name in xobjects]
        while pending:
            xobject = pending.pop()
            streams.append(xobject.get_data())
            inner = (xobject.get("/Resources") or {}).get("/XObject") or {}
            pending.extend(inner[name].get_object() for name in inner)
        count += sum(len(re.findall(rb"\sre\s", data)) for data in streams)
    return count


def bar_count(modules: str) -> int:
    return len(re.findall("1+", modules))


def svg_modules(svg: str) -> str:
    """Read the bar pattern back out of our barcode SVG (rects in module units)."""
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))
    cells = ["0"] * width
    bars = re.search(r'<g fill="#000">(.*)</g>', svg).group(1)
    for x, w in re.findall(r'<rect x="(\d+)" y="0" width="(\d+)"', bars):
        for i in range(int(x), int(x) + int(w)):
            cells[i] = "1"
    return "".join(cells).strip("0")


def decode_code128(modules: str) -> str:
    """A small Code 128 reader (start, symbols, checksum, stop), independent of the writer."""
    from barcode.charsets.code128 import CODES, STOP

    assert modules.endswith(STOP + "11") or modules.endswith(STOP), "no stop pattern"
    body = modules[: -len(STOP) - 2] if modules.endswith(STOP + "11") else modules[: -len(STOP)]
    values = [CODES.index(body[i : i + 11]) for i in range(0, len(body), 11)]
    start, *data, check = values
    assert (start + sum(i * v for i, v in enumerate(data, 1))) % 103 == check, "bad checksum"
    code = {103: "A", 104: "B", 105: "C"}[start]
    text = ""
    for value in data:
        if value == 99:
            code = "C"
        elif value == 100:
            code = "B"
        elif value == 101:
            code = "A"
        elif code == "C":
            text += f"{value:02d}"
        else:
            text += chr(value + 32)
    return text
