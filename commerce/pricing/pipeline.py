"""price_cart(): lines -> promotions -> shipping -> tax -> totals, explained.

Pure and deterministic: it reads variants, promotions, shipping methods and tax rates and
writes nothing. The result does not depend on the order of the input lines except for the
order the lines are shown in (first appearance): every computation runs over the lines sorted
by variant id.

Promotions come from adjustment producers (the extension point; commerce.pricing.promotions
registers the promotions engine). Their adjustments apply in the order produced: line and
order discounts on what is left of the lines (never below zero; an order discount allocated
exactly over the lines), then free gifts (lines added at their price with an equal discount,
while the variant can be sold), then shipping discounts on each shipping option, before tax.

Custom lines (a draft order's items that are no catalog variant, `CartLine.custom`) are priced
from their own price, after the variants in the order given, never merged; they weigh nothing,
carry tax only when taxable, and the promotions engine sees them as items of no product (a
negative `item_id`), so only promotions on the whole cart reach them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from sqlalchemy import exists, func, select
from sqlalchemy.orm import joinedload, lazyload

from commerce.catalog.models import ACTIVE, CONTINUE, BundleComponent, Product, Variant
from commerce.catalog.services import shop_currency
from commerce.extensions import db
from commerce.inventory.services import availability
from commerce.money import format_money
from commerce.pricing.delivery import needs_shipping
from commerce.pricing.models import (
    CURRENCY_MISMATCH,
    FULL_RATE,
    GIFT,
    INVALID_QUANTITY,
    LINE,
    ORDER,
    SHIPPING,
    SHIPPING_UNAVAILABLE,
    UNAVAILABLE_PRODUCT,
    UNKNOWN_VARIANT,
    Adjustment,
    AdjustmentProducer,
    AppliedAdjustment,
    CartLine,
    LineFacts,
    PricedCart,
    PricedLine,
    PricingContext,
    PricingError,
    PricingNote,
    PromotionInput,
    ShippingCharge,
    ShippingOption,
    Totals,
)
from commerce.promotions.engine import allocate, percent_of
from commerce.shipping.services import shipping_options
from commerce.tax.services import compute_tax, rate_for, shop_prices_include_tax

MAX_LINE_QUANTITY = 1_000_000
TIMES, MINUS = "\u00d7", "\u2212"  # multiplication sign, minus sign

# -- promotions: the extension point ------------------------------------------------------------

#: The adjustment producers price_cart() runs, in order. None are registered yet; the
#: promotions package registers its producer here (register_adjustment_producer).
ADJUSTMENT_PRODUCERS: list[AdjustmentProducer] = []


def register_adjustment_producer(producer: AdjustmentProducer) -> AdjustmentProducer:
    """Add a producer to the promotions step (usable as a decorator); registering the same
    producer twice keeps one."""
    if producer not in ADJUSTMENT_PRODUCERS:
        ADJUSTMENT_PRODUCERS.append(producer)
    return producer


# -- allocation ---------------------------------------------------------------------------------
# `allocate` (largest remainder, shares summing exactly) lives with the promotions engine, which
# splits order discounts with it too, so both always agree; it is re-exported from here.

# -- helpers ------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _percent(rate_bps: int) -> str:
    return f"{Decimal(rate_bps) / 100:f}"


def _merge(lines: Iterable[CartLine]) -> tuple[dict[int, int], list[PricingError]]:
    """Quantities per variant, in first-appearance order; bad lines become errors."""
    quantities: dict[int, int] = {}
    errors: list[PricingError] = []
    for line in lines:
        if not _is_int(line.variant_id):
            errors.append(PricingError(UNKNOWN_VARIANT, "This item no longer exists."))
            continue
        if not _is_int(line.quantity) or not 1 <= line.quantity <= MAX_LINE_QUANTITY:
            errors.append(
                PricingError(
                    INVALID_QUANTITY,
                    f"The quantity must be a whole number from 1 to {MAX_LINE_QUANTITY}.",
                    variant_id=line.variant_id,
                    field="quantity",
                )
            )
            continue
        quantities[line.variant_id] = quantities.get(line.variant_id, 0) + line.quantity
    for variant_id, quantity in quantities.items():
        if quantity > MAX_LINE_QUANTITY:
            errors.append(
                PricingError(
                    INVALID_QUANTITY,
                    f"At most {MAX_LINE_QUANTITY} of one item.",
                    variant_id=variant_id,
                    field="quantity",
                )
            )
    return {v: q for v, q in quantities.items() if q <= MAX_LINE_QUANTITY}, errors


def _base_line(
    variant: Variant, product: Product, quantity: int, agreed: int | None = None
) -> PricedLine:
    price = variant.price if agreed is None else agreed
    amount = price * quantity
    compare_at = variant.compare_at_price
    savings = (compare_at - price) * quantity if compare_at and compare_at > 0 else 0
    title = product.title
    if variant.option_values:
        title = f"{title} — {variant.title}"
    return PricedLine(
        variant_id=variant.id,
        product_id=product.id,
        title=title,
        sku=variant.sku,
        quantity=quantity,
        unit_price=price,
        amount=amount,
        compare_at_price=compare_at,
        savings=max(savings, 0),
        weight_grams=0 if product.is_gift_card else (variant.weight_grams or 0) * quantity,
        discounted_amount=amount,
        gift_card=product.is_gift_card,
        unit_cost=variant.cost if variant.currency == product.currency else None,
    )


MAX_CUSTOM_TITLE = 400
INVALID_CUSTOM = "invalid_custom"


def _custom_lines(lines: Iterable[CartLine]) -> tuple[list[PricedLine], list[PricingError]]:
    """The custom lines, each its own line in input order (never merged): its own title and
    price, no product, no weight; a malformed one is an error (the console's form checks
    first, so this guards data written another way)."""
    priced: list[PricedLine] = []
    errors: list[PricingError] = []
    for line in lines:
        item = line.custom
        assert item is not None
        title = (item.title or "").strip()
        price = line.unit_price
        if (
            not title
            or len(title) > MAX_CUSTOM_TITLE
            or not _is_int(price)
            or price < 0  # type: ignore[operator]
            or not _is_int(line.quantity)
            or not 1 <= line.quantity <= MAX_LINE_QUANTITY
        ):
            errors.append(
                PricingError(INVALID_CUSTOM, f"The custom item {title[:40]!r} is not valid.")
            )
            continue
        assert price is not None
        amount = price * line.quantity
        priced.append(
            PricedLine(
                variant_id=None,
                product_id=None,
                title=title,
                sku=None,
                quantity=line.quantity,
                unit_price=price,
                amount=amount,
                discounted_amount=amount,
                custom_key=item.key,
                custom_seq=len(priced) + 1,
                taxable=bool(item.taxable),
                requires_shipping=bool(item.requires_shipping),
            )
        )
    return priced, errors


@dataclass
class _Promotions:
    """What the producers asked for beyond line and order discounts, and what they said."""

    order: list[AppliedAdjustment] = field(default_factory=list)
    shipping: list[Adjustment] = field(default_factory=list)
    gifts: list[Adjustment] = field(default_factory=list)
    notes: list[PricingNote] = field(default_factory=list)


def _apply_promotions(
    lines: list[PricedLine],
    context: PricingContext,
    currency: str,
    producers: Sequence[AdjustmentProducer],
    facts: dict[int, LineFacts],
) -> tuple[list[PricedLine], _Promotions]:
    """Line and order adjustments in the order produced, each capped at what is left (so no
    line, and so no order, goes below zero); shipping and gift requests are kept for later."""
    found = _Promotions()
    if not producers or not lines:
        return lines, found
    view = PromotionInput(
        currency, tuple(lines), sum(line.amount for line in lines), context, facts
    )
    requested: list[Adjustment] = []
    for producer in producers:
        for item in producer(view):
            if isinstance(item, PricingNote):
                found.notes.append(item)
            else:
                requested.append(item)
    position = {line.item_id: i for i, line in enumerate(lines)}
    discounts = [0] * len(lines)
    applied: list[list[AppliedAdjustment]] = [[] for _ in lines]
    for adj in requested:
        if adj.scope == LINE:
            i = position.get(adj.variant_id)  # type: ignore[arg-type]
            if i is None:
                continue
            take = min(adj.amount, lines[i].amount - discounts[i])
            discounts[i] += take
            applied[i].append(
                AppliedAdjustment(LINE, take, adj.label, adj.source, adj.amount, adj.code)
            )
        elif adj.scope == ORDER:
            remaining = [line.amount - d for line, d in zip(lines, discounts, strict=True)]
            take = min(adj.amount, sum(remaining))
            found.order.append(
                AppliedAdjustment(ORDER, take, adj.label, adj.source, adj.amount, adj.code)
            )
            for i, share in enumerate(allocate(take, remaining)):
                if share:
                    discounts[i] += share
                    applied[i].append(
                        AppliedAdjustment(ORDER, share, adj.label, adj.source, share, adj.code)
                    )
        elif adj.scope == SHIPPING:
            found.shipping.append(adj)
        else:
            found.gifts.append(adj)
    priced = [
        replace(
            line,
            discount=discounts[i],
            discounted_amount=line.amount - discounts[i],
            adjustments=tuple(applied[i]),
        )
        for i, line in enumerate(lines)
    ]
    return priced, found


def _add_gifts(
    lines: list[PricedLine],
    gifts: Sequence[Adjustment],
    currency: str,
    loaded: dict[int, tuple[Variant, Product]],
    reference: str | None,
) -> tuple[list[PricedLine], list[PricingNote]]:
    """Free gifts: units added at their price with a LINE adjustment of the same amount (so
    the line costs nothing more and the order keeps one line per variant), only while the
    variant is for sale and the shop can sell the cart's units of it plus the gift (counting
    this checkout's own hold as its own)."""
    if not gifts:
        return lines, []
    wanted: dict[int, list[Adjustment]] = {}
    for gift in gifts:
        assert gift.variant_id is not None
        wanted.setdefault(gift.variant_id, []).append(gift)
    missing = [v for v in wanted if v not in loaded]
    if missing:
        rows = db.session.execute(
            select(Variant, Product)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id.in_(missing))
            .options(lazyload(Product.tag_rows), lazyload(Product.category))
        ).all()
        loaded = {**loaded, **{variant.id: (variant, product) for variant, product in rows}}
    stock = availability(list(wanted))
    own = _own_holds(reference, list(wanted))
    by_variant = {line.item_id: line for line in lines}
    notes: list[PricingNote] = []
    added: list[int] = []
    for variant_id, requests in wanted.items():
        quantity = sum(gift.quantity for gift in requests)
        pair = loaded.get(variant_id)
        if pair is None or pair[1].status != ACTIVE or pair[0].currency != currency:
            notes.append(PricingNote("gift", "A free gift is no longer available."))
            continue
        variant, product = pair
        line = by_variant.get(variant_id)
        has = line.quantity if line is not None else 0
        found = stock.get(variant_id)
        available = (found.available if found is not None else 0) + own.get(variant_id, 0)
        if variant.inventory_policy != CONTINUE and available < has + quantity:
            notes.append(PricingNote("gift", f"The free gift ({product.title}) is sold out."))
            continue
        if line is None:
            line = replace(_base_line(variant, product, quantity), quantity=0, amount=0)
            line = replace(line, savings=0, weight_grams=0, discounted_amount=0)
            added.append(variant_id)
        applied = tuple(
            AppliedAdjustment(
                GIFT,  # a discount on the line like LINE, marked so the gift units are known
                line.unit_price * gift.quantity,
                gift.label,
                gift.source,
                line.unit_price * gift.quantity,
                gift.code,
            )
            for gift in requests
        )
        value = line.unit_price * quantity
        per_unit_saving = (
            line.compare_at_price - line.unit_price
            if line.compare_at_price and line.compare_at_price > line.unit_price
            else 0
        )
        by_variant[variant_id] = replace(
            line,
            quantity=line.quantity + quantity,
            amount=line.amount + value,
            discount=line.discount + value,
            savings=line.savings + per_unit_saving * quantity,
            weight_grams=line.weight_grams + (variant.weight_grams or 0) * quantity,
            adjustments=(*line.adjustments, *applied),
            gift_quantity=line.gift_quantity + quantity,
        )
    ordered = [by_variant[line.item_id] for line in lines]
    ordered.extend(by_variant[v] for v in added)
    return ordered, notes


def _own_holds(reference: str | None, variant_ids: list[int]) -> dict[int, int]:
    if not reference:
        return {}
    from commerce.inventory.models import ACTIVE as HOLD_ACTIVE
    from commerce.inventory.models import Reservation

    return {
        variant_id: int(units)
        for variant_id, units in db.session.execute(
            select(Reservation.variant_id, func.sum(Reservation.quantity))
            .where(
                Reservation.reference == reference,
                Reservation.status == HOLD_ACTIVE,
                Reservation.variant_id.in_(variant_ids),
            )
            .group_by(Reservation.variant_id)
        ).all()
    }


def _shipping_discount(
    price: int, code: str, country: str, requests: Sequence[Adjustment]
) -> tuple[int, tuple[AppliedAdjustment, ...]]:
    """What the shipping adjustments take off one method's price (never below zero)."""
    left = price
    applied = []
    for adj in requests:
        if adj.methods and code.upper() not in adj.methods:
            continue
        if adj.countries and country not in adj.countries:
            continue
        want = adj.amount + (
            price if adj.rate_bps == FULL_RATE else percent_of(price, Decimal(adj.rate_bps) / 100)
        )
        take = min(want, left)
        left -= take
        applied.append(AppliedAdjustment(SHIPPING, take, adj.label, adj.source, want, adj.code))
    return price - left, tuple(applied)


def _facts(product: Product) -> LineFacts:
    categories: frozenset[int] = frozenset()
    if product.category is not None:
        categories = frozenset(int(p) for p in product.category.path_ids.split("/") if p)
    return LineFacts(categories, frozenset(tag.lower() for tag in product.tags))


# -- the pipeline -------------------------------------------------------------------------------


def price_cart(
    lines: Iterable[CartLine],
    context: PricingContext | None = None,
    *,
    producers: Sequence[AdjustmentProducer] | None = None,
) -> PricedCart:
    """Price `lines` for `context`: load the variants (one query), merge duplicates, price the
    lines, apply promotions (`producers`, default: the registered ADJUSTMENT_PRODUCERS), add
    shipping and tax, and total, with explanations. Problems with a line (unknown variant,
    archived product, bad quantity) are errors in the result, and the line is left out."""
    context = context or PricingContext()
    currency = shop_currency()
    include_tax = shop_prices_include_tax()
    lines = list(lines)
    custom = [line for line in lines if line.custom is not None]
    if custom:
        lines = [line for line in lines if line.custom is None]
    agreed = {
        line.variant_id: line.unit_price
        for line in lines
        if line.unit_price is not None and _is_int(line.unit_price) and line.unit_price >= 0
    }
    quantities, errors = _merge(lines)
    custom_lines, custom_errors = _custom_lines(custom)
    errors.extend(custom_errors)

    loaded = {}
    bundles: set[int] = set()
    if quantities:
        # one query: the products' tags (promotion conditions) come joined, not selectin
        # (and whether each is a bundle, so a cart without one reads no bundle rows later)
        rows = (
            db.session.execute(
                select(
                    Variant,
                    Product,
                    exists().where(BundleComponent.bundle_variant_id == Variant.id),
                )
                .join(Product, Product.id == Variant.product_id)
                .where(Variant.id.in_(list(quantities)))
                .options(joinedload(Product.tag_rows))
            )
            .unique()
            .all()
        )
        loaded = {variant.id: (variant, product) for variant, product, _ in rows}
        bundles = {variant.id for variant, _, is_bundle in rows if is_bundle}
    base: list[PricedLine] = []
    for variant_id, quantity in quantities.items():
        found = loaded.get(variant_id)
        if found is None:
            errors.append(
                PricingError(UNKNOWN_VARIANT, "This item no longer exists.", variant_id=variant_id)
            )
            continue
        variant, product = found
        if variant_id in agreed:
            base.append(_base_line(variant, product, quantity, agreed[variant_id]))
        elif product.status != ACTIVE:  # drafts and archived products are not for sale
            errors.append(
                PricingError(
                    UNAVAILABLE_PRODUCT,
                    f"{product.title} is no longer available.",
                    variant_id=variant_id,
                )
            )
        elif variant.currency != currency:
            errors.append(
                PricingError(
                    CURRENCY_MISMATCH,
                    f"{product.title} is priced in {variant.currency}, not {currency}.",
                    variant_id=variant_id,
                )
            )
        else:
            base.append(_base_line(variant, product, quantity))
    if bundles:
        base = [replace(line, bundle=True) if line.variant_id in bundles else line for line in base]
    base.sort(key=lambda line: line.item_id)  # canonical order: independent of input order
    base.extend(custom_lines)  # after the variants, in the order staff entered them

    active = ADJUSTMENT_PRODUCERS if producers is None else producers
    # Gift cards are money, not goods: promotions neither see nor discount them.
    cards = [line for line in base if line.gift_card]
    goods = [line for line in base if not line.gift_card] if cards else base
    facts = (
        {
            line.variant_id: _facts(loaded[line.variant_id][1])
            for line in goods
            if line.variant_id is not None
        }
        if active
        else {}
    )
    priced, found = _apply_promotions(goods, context, currency, active, facts)
    if cards:
        priced = [*priced, *cards]
    order_adjustments = found.order
    priced, gift_notes = _add_gifts(priced, found.gifts, currency, loaded, context.reference)
    notes = [*found.notes, *gift_notes]

    subtotal = sum(line.amount for line in priced)
    discounts = sum(line.discount for line in priced)
    discounted_subtotal = subtotal - discounts
    weight = sum(line.weight_grams for line in priced)

    country = (context.country or "").strip().upper() or None
    options: tuple[ShippingOption, ...] | None = None
    shipping: ShippingCharge | None = None
    tax_rate_bps: int | None = None
    tax_name: str | None = None
    # Nothing to ship (gift cards alone: their codes go by email): no address or method is
    # asked, no shipping charged; an empty cart is still "calculated at checkout".
    ships = not priced or needs_shipping(priced)
    if not ships:
        options = ()
    if country is not None:
        if ships:
            available = shipping_options(country, weight, discounted_subtotal)
            taken = {
                method.code: _shipping_discount(price, method.code, country, found.shipping)
                for method, price in available
            }
            options = tuple(
                ShippingOption(m.code, m.name, price - taken[m.code][0], taken[m.code][0])
                for m, price in available
            )
            wanted = (context.shipping_method_code or "").strip().upper()
            if wanted:
                chosen = next((m for m in available if m[0].code.upper() == wanted), None)
                if chosen is None:
                    errors.append(
                        PricingError(
                            SHIPPING_UNAVAILABLE,
                            "That shipping method is not available for this address and cart.",
                            field="shipping_method_code",
                        )
                    )
                else:
                    method, price = chosen
                    off, applied = taken[method.code]
                    shipping = ShippingCharge(
                        method.code, method.name, price - off, 0, method.free_over, off, applied
                    )
        # one rate query for the whole cart; the same rule as tax.services.tax_for
        rate = rate_for(country, context.region)
        tax_rate_bps = rate.rate_bps if rate is not None else 0
        tax_name = rate.name if rate is not None else None
        priced = [
            replace(
                line,
                tax_rate_bps=0 if line.gift_card or not line.taxable else tax_rate_bps,
                tax=0
                if line.gift_card or not line.taxable
                else compute_tax(
                    line.discounted_amount, tax_rate_bps, prices_include_tax=include_tax
                ),
            )
            for line in priced
        ]
        if shipping is not None:
            shipping = replace(
                shipping,
                tax=compute_tax(shipping.amount, tax_rate_bps, prices_include_tax=include_tax),
            )

    shipping_amount = shipping.amount if shipping is not None else 0
    tax = sum(line.tax for line in priced) + (shipping.tax if shipping is not None else 0)
    total = discounted_subtotal + shipping_amount + (0 if include_tax else tax)
    totals = Totals(subtotal, discounts, shipping_amount, tax, total)

    # each line explains itself on demand (PricedLine.explanations): formatting every
    # adjustment of every line costs more than pricing the cart, and pages show the labels
    priced = [replace(line, currency=currency, prices_include_tax=include_tax) for line in priced]
    shown = {variant_id: n for n, variant_id in enumerate(quantities)}
    priced.sort(
        key=lambda line: (
            (len(shown) + 1, line.custom_seq)
            if line.is_custom
            else (shown.get(line.item_id, len(shown)), line.item_id)
        )
    )
    return PricedCart(
        currency=currency,
        prices_include_tax=include_tax,
        lines=tuple(priced),
        errors=tuple(errors),
        order_adjustments=tuple(order_adjustments),
        shipping=shipping,
        shipping_options=options,
        tax_rate_bps=tax_rate_bps,
        tax_name=tax_name,
        totals=totals,
        notes=tuple(notes),
        explanations=_order_explanations(
            totals,
            currency,
            include_tax,
            order_adjustments,
            shipping,
            options,
            tax_rate_bps,
            tax_name,
            discounted_subtotal,
            ships,
        ),
    )


def _order_explanations(
    totals: Totals,
    currency: str,
    include_tax: bool,
    order_adjustments: Sequence[AppliedAdjustment],
    shipping: ShippingCharge | None,
    options: tuple[ShippingOption, ...] | None,
    tax_rate_bps: int | None,
    tax_name: str | None,
    discounted_subtotal: int,
    ships: bool = True,
) -> tuple[str, ...]:
    def fmt(amount: int) -> str:
        return format_money(amount, currency)

    notes = [f"Subtotal: {fmt(totals.subtotal)}"]
    notes.extend(
        f"{adj.label}: {MINUS}{fmt(adj.amount)}" for adj in order_adjustments if adj.amount
    )
    if totals.discounts:
        notes.append(f"Discounts: {MINUS}{fmt(totals.discounts)}")
    if not ships:
        notes.append("Nothing to ship: no shipping charge.")
    elif options is None:
        notes.append("Shipping and tax are calculated once we know where to ship.")
    elif shipping is None:
        if options:
            notes.append(f"Choose a shipping method ({len(options)} available).")
        else:
            notes.append("No shipping method can deliver this cart to that address.")
    elif (
        shipping.amount + shipping.discount == 0
        and shipping.free_over is not None
        and discounted_subtotal >= shipping.free_over
    ):
        notes.append(
            f"Shipping ({shipping.name}): free on orders of {fmt(shipping.free_over)} or more"
        )
    else:
        notes.append(f"Shipping ({shipping.name}): {fmt(shipping.amount + shipping.discount)}")
        notes.extend(
            f"{adj.label}: {MINUS}{fmt(adj.amount)}" for adj in shipping.adjustments if adj.amount
        )
    if tax_rate_bps is not None:
        name = tax_name or "Tax"
        if include_tax:
            notes.append(f"Includes {name} {_percent(tax_rate_bps)}%: {fmt(totals.tax)}")
        else:
            notes.append(f"{name} {_percent(tax_rate_bps)}%: {fmt(totals.tax)}")
    notes.append(f"Total: {fmt(totals.total)}")
    return tuple(notes)
