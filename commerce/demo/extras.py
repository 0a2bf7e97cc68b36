"""The rest of the demo shop, after its orders: a gift card product and cards issued by staff,
store credit, a supplier with purchase orders, a bundle, a draft order and two abandoned
checkouts, so every console page a new user opens shows something real to work with.

Everything goes through the same services staff use (audited, through the ledgers); only the
abandoned checkouts' clocks are moved back, as the orders' are, so they count as abandoned now.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from commerce.catalog.bundles import set_bundle_components
from commerce.catalog.models import Product, Variant
from commerce.catalog.services import (
    create_product,
    generate_variants,
    set_options,
    update_variant,
)
from commerce.checkout.cart import add_to_cart
from commerce.checkout.models import Checkout
from commerce.checkout.services import save_information, start_checkout
from commerce.customers.models import Customer
from commerce.db import transaction, utcnow
from commerce.demo.orders import deliver_outbox
from commerce.drafts.services import (
    add_draft_line,
    choose_draft_shipping,
    create_draft,
    price_draft,
    set_draft_customer,
)
from commerce.extensions import db
from commerce.giftcards.services import (
    adjust_gift_card,
    adjust_store_credit,
    deactivate_gift_card,
    issue_gift_card,
)
from commerce.inventory.models import Location
from commerce.purchasing.services import (
    create_purchase_order,
    create_supplier,
    place_purchase_order,
    receive_purchase_order_line,
)
from commerce.shipping.services import shipping_options
from commerce.staff.models import StaffMember

Progress = Callable[[str], None]

_ADDRESS = {
    "name": "",
    "line1": "88 Valencia Street",
    "line2": "",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94103",
    "country": "US",
    "phone": "",
}
GIFT_CARD_AMOUNTS = (("$25", 2500), ("$50", 5000), ("$100", 10000))


def load_demo_extras(rng: random.Random, *, say: Progress) -> dict[str, int]:
    """Add the extras once, on the first load (after the demo orders). Returns what was made."""
    admin = _staff("admin")
    variants = _stocked_variants(rng, 12)
    if len(variants) < 6:
        say("Too few stocked items for the demo extras; skipped.")
        return {}
    made = {
        "gift_cards": _gift_cards(admin),
        "store_credit": _store_credit(admin),
        "purchase_orders": _purchasing(admin, variants[:4]),
        "bundles": _bundle(admin, variants[4:7]),
        "drafts": _draft(_staff("support") or admin, variants[7:9]),
        "abandoned": _abandoned(variants[9:12]),
    }
    deliver_outbox()  # the catalog's follow-ups (search index, edge), as after the orders
    say(
        "Also: a gift card product and {gift_cards} cards issued by staff, store credit for "
        "{store_credit} customer, {purchase_orders} purchase orders, {bundles} bundle, "
        "{drafts} draft order and {abandoned} abandoned checkouts.".format(**made)
    )
    return made


def _staff(role: str) -> StaffMember | None:
    return db.session.scalar(
        select(StaffMember).where(StaffMember.role == role).order_by(StaffMember.id).limit(1)
    )


def _stocked_variants(rng: random.Random, count: int) -> list[Variant]:
    """Plain variants of active products with units available at the first location."""
    from commerce.inventory.models import StockLevel

    rows = db.session.scalars(
        select(Variant)
        .join(Product, Product.id == Variant.product_id)
        .join(StockLevel, StockLevel.variant_id == Variant.id)
        .where(
            Product.status == "active",
            Product.is_gift_card.is_(False),
            StockLevel.on_hand - StockLevel.allocated - StockLevel.reserved >= 5,
        )
        .group_by(Variant.id)
        .order_by(Variant.id)
        .limit(200)
    ).all()
    picked = list(rows)
    rng.shuffle(picked)
    return picked[:count]


def _gift_cards(admin: Any) -> int:
    """A gift card product in three denominations (sold beyond stock: codes, not boxes), and
    three cards staff issued: one as it was, one partly used up by a correction, one
    deactivated."""
    product = create_product(
        title="Gift card",
        price=GIFT_CARD_AMOUNTS[0][1],
        sku="GIFT-CARD-25",
        status="active",
        is_gift_card=True,
        description="An emailed code, spent in part or in full at checkout.",
        by=admin,
    )
    set_options(product, [("Amount", [label for label, _ in GIFT_CARD_AMOUNTS])], by=admin)
    generate_variants(product, by=admin)
    amounts = dict(GIFT_CARD_AMOUNTS)
    for variant in sorted(product.variants, key=lambda v: v.position):
        amount = amounts[variant.option1 or GIFT_CARD_AMOUNTS[0][0]]
        update_variant(
            variant,
            price=amount,
            sku=f"GIFT-CARD-{amount // 100}",
            inventory_policy="continue",
            by=admin,
        )
    now = utcnow()
    issue_gift_card(
        amount=5000,
        note="Apology for the delayed parcel",
        recipient_email="maya.chen@example.com",
        by=admin,
    )
    card, _code = issue_gift_card(
        amount=10000,
        note="Raffle prize, Spring fair",
        expires_at=now + timedelta(days=365),
        by=admin,
    )
    adjust_gift_card(card, amount=-2500, reason="Part used at the spring fair till", by=admin)
    card, _code = issue_gift_card(amount=2500, note="Issued twice by mistake", by=admin)
    deactivate_gift_card(card, by=admin)
    return 3


def _store_credit(admin: Any) -> int:
    customer = db.session.scalar(  # a regular (Oliver, in the full demo)
        select(Customer).order_by(Customer.email.desc()).limit(1)
    )
    if customer is None:
        return 0
    adjust_store_credit(
        customer, amount=1500, reason="Goodwill: a missing button on a shirt", by=admin
    )
    return 1


def _purchasing(admin: Any, variants: list[Variant]) -> int:
    """A supplier; one PO placed and partly received, one still a draft."""
    location_id = db.session.scalar(
        select(Location.id).where(Location.is_active.is_(True)).order_by(Location.id).limit(1)
    )
    if location_id is None:
        return 0
    currency = variants[0].currency
    supplier = create_supplier(
        name="Northwind Textiles",
        email="orders@northwind.example",
        phone="+1 555 0142",
        lead_time_days=10,
        currency=currency,
        notes="Net 30. Ships from Portland.",
        by=admin,
    )
    lines = [(v.id, 24, max(100, v.price * 45 // 100)) for v in variants[:3]]
    placed = create_purchase_order(
        supplier_id=supplier.id,
        location_id=location_id,
        expected_on=(utcnow() + timedelta(days=3)).date(),
        note="Autumn restock",
        lines=lines,
        by=admin,
    )
    place_purchase_order(placed, by=admin)
    first = placed.lines[0]
    receive_purchase_order_line(first.id, quantity=12, idempotency_key="demo-po-1", by=admin)
    variant = variants[3]
    create_purchase_order(
        supplier_id=supplier.id,
        location_id=location_id,
        note="Waiting for the supplier's price list",
        lines=[(variant.id, 50, max(100, variant.price * 40 // 100))],
        by=admin,
    )
    return 2


def _bundle(admin: Any, parts: list[Variant]) -> int:
    """A kit sold as one item, its stock taken from its parts."""
    price = sum(v.price for v in parts) * 85 // 100
    product = create_product(
        title="Weekend starter kit",
        price=price,
        sku="KIT-WEEKEND",
        status="active",
        description="Three favourites together, for less than apart.",
        by=admin,
    )
    set_bundle_components(product.variants[0], [(v.id, 1) for v in parts], by=admin)
    return 1


def _draft(staff: Any, variants: list[Variant]) -> int:
    """A phone order support started and has not invoiced yet."""
    customer = db.session.scalar(select(Customer).where(Customer.email == "maya.chen@example.com"))
    draft = create_draft(email=customer.email if customer else "maya.chen@example.com", by=staff)
    set_draft_customer(
        draft,
        email=draft.email,
        address=draft.shipping_address or {**_ADDRESS, "name": "Maya Chen"},
        note="Phone order: a birthday present, wants it before Friday.",
        by=staff,
    )
    add_draft_line(draft, variant_id=variants[0].id, quantity=2, by=staff)
    add_draft_line(draft, variant_id=variants[1].id, quantity=1, by=staff)
    priced = price_draft(draft)
    weight = sum(line.weight_grams for line in priced.lines)
    options = shipping_options(draft.shipping_address["country"], weight, priced.totals.subtotal)
    if options:
        choose_draft_shipping(draft, code=options[0][0].code, by=staff)
    return 1


def _abandoned(variants: list[Variant]) -> int:
    """Two shoppers who gave their email and left: one at shipping, one at information."""
    made = 0
    for n, (email, variant) in enumerate(
        zip(("sam.reyes@example.net", "ada.okafor@example.com"), variants, strict=False)
    ):
        cart = add_to_cart(None, variant_id=variant.id, quantity=1 + n)
        checkout = start_checkout(cart)
        save_information(
            checkout,
            email=email,
            address={
                **_ADDRESS,
                "name": email.split("@")[0].replace(".", " ").title(),
                "line1": f"{120 + n} Market Street",
            },
            recovery_consent=True,
        )
        made += 1
    left = utcnow() - timedelta(hours=3)  # so they count as abandoned now
    with transaction():
        db.session.execute(
            update(Checkout)
            .where(Checkout.email.in_(["sam.reyes@example.net", "ada.okafor@example.com"]))
            .values(created_at=left, updated_at=left)
            .execution_options(synchronize_session=False)
        )
    return made
