"""The invoice and the credit note name gift cards and store credit as payments (issue 18):
real WeasyPrint PDFs read back with pypdf."""

from __future__ import annotations

import re

from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import (
    apply_checkout_gift_card,
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from commerce.documents.numbering import issue_credit_note, issue_invoice
from commerce.documents.render import credit_note_pdf, invoice_pdf
from commerce.giftcards.services import issue_gift_card
from commerce.orders.refunds import issue_refund
from tests.commerce.documents.helpers import pdf_text
from tests.conftest import TEST_CARD, US_ADDRESS


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_invoice_and_credit_note_show_the_gift_card(app, checkout_shop, make_staff):
    card, code = issue_gift_card(amount=1000, by=None)
    checkout = start_checkout(add_to_cart(None, variant_id=checkout_shop.small, quantity=1))
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    apply_checkout_gift_card(checkout, code=code)
    order = place_order(checkout.key, card=TEST_CARD).order
    issue_invoice(order)  # as the order.placed event does
    text = squash(pdf_text(invoice_pdf(order)))
    assert f"Gift card ending {card.last4} $10.00" in text
    by_card = order.total - 1000
    assert f"Card ${by_card / 100:.2f}" in text
    refund = issue_refund(
        order, lines={}, extra_amount=1500, idempotency_key="doc-1", by=make_staff("admin")
    )
    issue_credit_note(refund)
    note = squash(pdf_text(credit_note_pdf(refund)))
    assert f"Gift card ending {card.last4} $10.00" in note
    assert "Original payment method $5.00" in note
