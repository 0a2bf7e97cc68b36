"""Gift cards and store credit through the services (issue 18): the ledger's invariants, paying
at checkout in part and in full, a declined card releasing the hold, gift cards bought and
emailed, refunds back to the card and to store credit."""

from __future__ import annotations

from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy import text as sql

from commerce import outbox
from commerce.checkout.cart import add_to_cart, customer_cart
from commerce.checkout.models import Cart
from commerce.checkout.services import (
    apply_checkout_gift_card,
    choose_shipping_method,
    place_order,
    remove_checkout_tender,
    save_information,
    start_checkout,
    use_checkout_store_credit,
)
from commerce.db import utcnow
from commerce.errors import InvalidTransition, PaymentFailed, TooManyAttempts, ValidationError
from commerce.extensions import db
from commerce.giftcards.codes import code_hash, grouped, normalize
from commerce.giftcards.models import (
    DEACTIVATED,
    EXPIRED,
    GiftCard,
    GiftCardEntry,
    StoreCreditEntry,
    Tender,
)
from commerce.giftcards.services import (
    adjust_gift_card,
    adjust_store_credit,
    card_for_code,
    credit_of,
    deactivate_gift_card,
    expire_gift_cards,
    issue_gift_card,
)
from commerce.giftcards.tenders import order_tenders
from commerce.orders.models import PAID, REFUNDED, TO_STORE_CREDIT
from commerce.orders.refunds import issue_refund, refund_discrepancies
from tests.conftest import TEST_CARD, US_ADDRESS

DECLINED = dict(TEST_CARD, number="4000000000000002")


def ledger_sum(card_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(GiftCardEntry.amount), 0)).where(
            GiftCardEntry.gift_card_id == card_id
        )
    )


def checkout_for(shop, quantity=1, *, customer=None, email="ada@example.com"):
    cart = add_to_cart(
        customer_cart(customer.id) if customer else None,
        variant_id=shop.small,
        quantity=quantity,
        customer_id=customer.id if customer else None,
    )
    checkout = start_checkout(cart, customer=customer)
    save_information(checkout, email=email, address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    return checkout


# -- the ledger ----------------------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(moves=st.lists(st.integers(min_value=-8000, max_value=8000).filter(bool), max_size=12))
def test_a_balance_is_its_ledger_and_never_below_zero(app, make_staff, moves):
    staff = make_staff("admin")
    card, _ = issue_gift_card(amount=5000, by=staff)
    expected = 5000
    for amount in moves:
        try:
            adjust_gift_card(card, amount=amount, reason="test", by=staff)
            expected += amount
        except ValidationError:
            assert expected + amount < 0  # refused only when it would go below zero
    db.session.refresh(card)
    assert card.balance == expected == ledger_sum(card.id) >= 0
    last = db.session.scalar(
        select(GiftCardEntry.balance_after)
        .where(GiftCardEntry.gift_card_id == card.id)
        .order_by(GiftCardEntry.id.desc())
        .limit(1)
    )
    assert last == card.balance


def test_a_card_is_issued_with_a_code_shown_once_and_stored_as_a_hash(app, make_staff):
    staff = make_staff("admin")
    card, code = issue_gift_card(amount=2500, note="Goodwill for #1001", by=staff)
    assert len(normalize(code)) == 16 and grouped(code).count("-") == 3
    assert card.code_hash != code and code not in card.code_hash
    assert card.last4 == normalize(code)[-4:] and card.balance == 2500
    assert card_for_code(grouped(code).lower()).id == card.id  # typed any way
    assert card_for_code("NOPE-NOPE-NOPE-NOPE") is None


def test_deactivate_and_expire(app, make_staff):
    staff = make_staff("admin")
    card, _ = issue_gift_card(amount=1000, by=staff)
    deactivate_gift_card(card, by=staff)
    assert card.status == DEACTIVATED
    with pytest.raises(InvalidTransition):
        deactivate_gift_card(card, by=staff)
    soon, _ = issue_gift_card(amount=700, expires_at=utcnow() + timedelta(days=1), by=staff)
    assert expire_gift_cards(now=utcnow() + timedelta(days=2)) == 1
    db.session.refresh(soon)
    assert soon.status == EXPIRED and soon.balance == 0 and ledger_sum(soon.id) == 0
    kinds = [
        e.kind
        for e in db.session.scalars(
            select(GiftCardEntry)
            .where(GiftCardEntry.gift_card_id == soon.id)
            .order_by(GiftCardEntry.id)
        )
    ]
    assert kinds == ["issue", "expire"]


# -- paying at checkout --------------------------------------------------------------------------


def test_a_card_pays_part_of_an_order_and_the_refund_goes_back_to_it(
    app, checkout_shop, make_staff
):
    staff = make_staff("admin")
    card, code = issue_gift_card(amount=1000, by=staff)
    checkout = checkout_for(checkout_shop)  # $25.00 + $5.00 shipping + 5% tax on the tee
    apply_checkout_gift_card(checkout, code=grouped(code))
    order = place_order(checkout.key, card=TEST_CARD).order
    db.session.refresh(card)
    assert card.balance == 0
    assert order.payment_status == PAID and order.paid_total == order.total
    assert [(t.amount, t.gift_card_id) for t in order_tenders(order.id)] == [(1000, card.id)]
    refund = issue_refund(order, lines={}, extra_amount=order.total, idempotency_key="r1", by=staff)
    assert refund.status == "succeeded" and refund.tender_amount == 1000
    db.session.refresh(card)
    db.session.refresh(order)
    assert card.balance == 1000 and ledger_sum(card.id) == 1000
    assert order.payment_status == REFUNDED
    assert refund_discrepancies(order) == []


def test_cards_that_cover_the_total_need_no_card(app, checkout_shop, make_staff):
    staff = make_staff("admin")
    first, one = issue_gift_card(amount=2000, by=staff)
    second, two = issue_gift_card(amount=5000, by=staff)
    checkout = checkout_for(checkout_shop)
    apply_checkout_gift_card(checkout, code=one)
    apply_checkout_gift_card(checkout, code=two)
    order = place_order(checkout.key, card={}).order
    assert order.payment_id is None and order.payment_status == PAID
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.balance == 0 and second.balance == 7000 - order.total


def test_a_declined_card_releases_the_gift_card_hold(app, checkout_shop, make_staff):
    staff = make_staff("admin")
    card, code = issue_gift_card(amount=1000, by=staff)
    checkout = checkout_for(checkout_shop)
    apply_checkout_gift_card(checkout, code=code)
    with pytest.raises(PaymentFailed):
        place_order(checkout.key, card=DECLINED)
    db.session.refresh(card)
    assert card.balance == 1000
    kinds = [
        e.kind
        for e in db.session.scalars(
            select(GiftCardEntry)
            .where(GiftCardEntry.gift_card_id == card.id)
            .order_by(GiftCardEntry.id)
        )
    ]
    assert kinds == ["issue", "redeem", "release"]
    order = place_order(checkout.key, card=TEST_CARD).order  # another card: the hold again
    db.session.refresh(card)
    assert card.balance == 0 and order.paid_total == order.total


def test_wrong_codes_are_refused_at_the_field_and_throttled(app, checkout_shop, monkeypatch):
    from commerce.extensions import limiter

    monkeypatch.setitem(app.config, "GIFT_CARD_CHECKOUT_RATE_LIMIT", "3 per minute")
    monkeypatch.setattr(limiter, "enabled", True)
    limiter.reset()
    checkout = checkout_for(checkout_shop)
    for _ in range(3):
        with pytest.raises(ValidationError) as refused:
            apply_checkout_gift_card(checkout, code="AAAA-BBBB-CCCC-DDDD")
        assert refused.value.field == "gift_card_code"
    with pytest.raises(TooManyAttempts):
        apply_checkout_gift_card(checkout, code="AAAA-BBBB-CCCC-DDDD")


def test_a_removed_card_pays_nothing(app, checkout_shop, make_staff):
    staff = make_staff("admin")
    card, code = issue_gift_card(amount=1000, by=staff)
    checkout = checkout_for(checkout_shop)
    apply_checkout_gift_card(checkout, code=code)
    tender = db.session.scalar(select(Tender).where(Tender.reference == checkout.reference))
    remove_checkout_tender(checkout, tender_id=tender.id)
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order_tenders(order.id) == []
    db.session.refresh(card)
    assert card.balance == 1000


# -- bought in the shop --------------------------------------------------------------------------


def test_a_gift_card_bought_is_issued_emailed_and_spent(app, checkout_shop, mail_dir, make_staff):
    from commerce.catalog.services import create_product
    from commerce.inventory.services import receive_stock

    product = create_product(
        title="Gift Card", price=5000, sku="GC-50", status="active", is_gift_card=True, by=None
    )
    db.session.commit()
    receive_stock(product.variants[0].id, quantity=100, by=None)  # cards on hand to sell
    cart = add_to_cart(None, variant_id=product.variants[0].id, quantity=2)
    checkout = start_checkout(cart)
    save_information(checkout, email="buyer@example.com", address=US_ADDRESS)
    with pytest.raises(ValidationError):  # nothing to ship: no shipping method to choose
        choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order.tax_total == 0 and order.shipping_total == 0  # no tax, nothing shipped
    assert order.total == 10000 and order.shipping_method_name == ""
    assert order.shipping_address == {} and not order.is_shipped  # the address was not kept
    line = order.lines[0]
    assert line.is_gift_card and line.tax == 0
    cards = db.session.scalars(select(GiftCard).where(GiftCard.order_line_id == line.id)).all()
    assert [c.balance for c in cards] == [5000, 5000]
    # Until the email goes, each code is kept sealed (random, not derived from any secret):
    # the column holds a Fernet token, never the code.
    raw = dict(
        db.session.execute(
            sql("SELECT id, code_sealed FROM gift_card WHERE order_line_id = :line"),
            {"line": line.id},
        ).all()
    )
    for card in cards:
        code = card.code_sealed  # opened with the app's keys
        assert raw[card.id].startswith("gAAAAA") and code not in raw[card.id]
        assert code_hash(code) == card.code_hash
    outbox.deliver_pending()
    outbox.deliver_pending()  # a second run sends nothing twice
    for card in cards:  # emailed: nothing at rest can say the code any more
        db.session.refresh(card)
        assert card.emailed_at is not None and card.code_sealed is None
    db.session.refresh(order)  # the codes were the delivery: nothing for the warehouse
    assert order.fulfillment_status == "fulfilled" and order.lines[0].fulfilled_quantity == 2
    messages = sorted(mail_dir.glob("*gift-cards-line*.eml"))
    assert len(messages) == 1
    message = BytesParser(policy=policy.default).parsebytes(messages[0].read_bytes())
    text = message.get_body(("plain",)).get_content()
    codes = [w for w in text.split() if w.count("-") == 3 and len(w) == 19]
    assert len(codes) == 2 and {card_for_code(c).id for c in codes} == {c.id for c in cards}
    # ... and a code from the email pays for a tee
    tee = checkout_for(checkout_shop, email="friend@example.com")
    apply_checkout_gift_card(tee, code=codes[0])
    spent = place_order(tee.key, card=TEST_CARD).order
    assert spent.payment_id is None and spent.payment_status == PAID
    outbox.deliver_pending()
    (confirmation,) = mail_dir.glob(f"*order-{spent.number}-confirmation*.eml")
    email = BytesParser(policy=policy.default).parsebytes(confirmation.read_bytes())
    assert "Paid with Gift card" in email.get_body(("plain",)).get_content()
    # spent in part: the rest stays on the card; refunding the order puts it back
    friend = card_for_code(codes[0])
    assert friend.balance == 5000 - spent.total
    issue_refund(spent, lines={}, extra_amount=spent.total, idempotency_key="back", by=make_staff())
    db.session.refresh(friend)
    assert friend.balance == 5000 and ledger_sum(friend.id) == 5000


# -- store credit --------------------------------------------------------------------------------


def test_a_refund_to_store_credit_is_spent_at_checkout(
    app, checkout_shop, make_staff, make_customer
):
    staff = make_staff("admin")
    customer = make_customer(email="cora@example.com")
    checkout = checkout_for(checkout_shop, customer=customer, email="cora@example.com")
    order = place_order(checkout.key, card=TEST_CARD).order
    refund = issue_refund(
        order,
        lines={},
        extra_amount=1500,
        reason="Late delivery",
        idempotency_key="sc1",
        by=staff,
        destination=TO_STORE_CREDIT,
    )
    assert refund.status == "succeeded"
    credit = credit_of(customer.id)
    assert credit.balance == 1500
    assert refund_discrepancies(order) == []  # the card was not refunded: all went to credit
    entries = db.session.scalars(select(StoreCreditEntry)).all()
    assert [(e.kind, e.amount, e.order_id) for e in entries] == [("refund", 1500, order.id)]
    # spent on the next order
    again = checkout_for(checkout_shop, customer=customer, email="cora@example.com")
    use_checkout_store_credit(again)
    second = place_order(again.key, card=TEST_CARD).order
    db.session.refresh(credit)
    assert credit.balance == 0 and second.paid_total == second.total
    assert [t.label for t in order_tenders(second.id)] == ["Store credit"]
    adjust_store_credit(customer, amount=300, reason="Goodwill", by=staff)
    db.session.refresh(credit)
    assert credit.balance == 300


def test_a_guest_order_cannot_be_refunded_to_store_credit(app, place, make_staff):
    order = place()
    with pytest.raises(ValidationError) as refused:
        issue_refund(
            order,
            lines={},
            extra_amount=100,
            idempotency_key="g1",
            by=make_staff("admin"),
            destination=TO_STORE_CREDIT,
        )
    assert refused.value.field == "destination"


def test_cancelling_an_order_paid_by_gift_card_gives_the_balance_back(
    app, checkout_shop, make_staff
):
    from commerce.orders.cancellation import cancel_order

    staff = make_staff("admin")
    card, code = issue_gift_card(amount=1000, by=staff)
    checkout = checkout_for(checkout_shop)
    apply_checkout_gift_card(checkout, code=code)
    order = place_order(checkout.key, card=TEST_CARD).order
    cancel_order(order, reason="Customer asked", by=staff)
    db.session.refresh(card)
    db.session.refresh(order)
    assert card.balance == 1000 and order.status == "cancelled"
    assert order.refunded_total == order.paid_total


def test_the_hold_lasts_through_the_banks_challenge(app, checkout_shop, make_staff):
    from commerce.checkout.services import complete_payment_action

    card, code = issue_gift_card(amount=1000, by=make_staff("admin"))
    checkout = checkout_for(checkout_shop)
    apply_checkout_gift_card(checkout, code=code)
    challenged = dict(TEST_CARD, number="4000000000003220")
    placement = place_order(checkout.key, card=challenged)
    assert placement.requires_action
    db.session.refresh(card)
    assert card.balance == 0  # held while the shopper is at the bank
    order = complete_payment_action(checkout.key, token=placement.payment.action_token).order
    assert order.paid_total == order.total
    assert [t.amount for t in order_tenders(order.id)] == [1000]
    # ... and a shopper who leaves the challenge for a changed cart gets the balance back
    other, code2 = issue_gift_card(amount=500, by=None)
    again = checkout_for(checkout_shop)
    apply_checkout_gift_card(again, code=code2)
    assert place_order(again.key, card=challenged).requires_action
    add_to_cart(db.session.get(Cart, again.cart_id), variant_id=checkout_shop.medium, quantity=1)
    start_checkout(db.session.get(Cart, again.cart_id))
    db.session.refresh(other)
    assert other.balance == 500


def test_refunding_a_bought_gift_card_deactivates_it(app, checkout_shop, make_staff):
    from commerce.catalog.services import create_product
    from commerce.inventory.services import receive_stock

    product = create_product(
        title="E-gift", price=2500, sku="EG-25", status="active", is_gift_card=True, by=None
    )
    db.session.commit()
    receive_stock(product.variants[0].id, quantity=10, by=None)
    cart = add_to_cart(None, variant_id=product.variants[0].id, quantity=2)
    checkout = start_checkout(cart)
    save_information(checkout, email="buyer@example.com")
    order = place_order(checkout.key, card=TEST_CARD).order
    line = order.lines[0]
    issue_refund(order, lines={line.id: 1}, idempotency_key="gc-1", by=make_staff("admin"))
    statuses = sorted(
        db.session.scalars(select(GiftCard.status).where(GiftCard.order_line_id == line.id))
    )
    assert statuses == ["active", "deactivated"]


def test_a_store_credit_refund_above_the_limit_waits_for_approval(
    app, checkout_shop, make_staff, make_customer, monkeypatch
):
    from commerce.orders.refunds import approve_refund

    monkeypatch.setitem(app.config, "REFUND_APPROVAL_LIMIT", 1000)
    customer = make_customer(email="dora@example.com")
    checkout = checkout_for(checkout_shop, customer=customer, email="dora@example.com")
    order = place_order(checkout.key, card=TEST_CARD).order
    refund = issue_refund(
        order,
        lines={},
        extra_amount=2000,
        idempotency_key="big",
        by=make_staff("support"),
        destination=TO_STORE_CREDIT,
    )
    assert refund.status == "awaiting_approval" and credit_of(customer.id) is None
    approve_refund(refund, by=make_staff("admin"))
    assert credit_of(customer.id).balance == 2000
