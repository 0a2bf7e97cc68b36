"""price_cart(): lines -> promotions -> shipping -> tax -> totals, explained.

Pure and deterministic: it reads variants, shipping methods and tax rates and writes nothing.
The result does not depend on the order of the input lines except for the order the lines are
shown in (first appearance): every computation runs over the lines sorted by variant id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal

from sqlalchemy import select

from commerce.catalog.models import ACTIVE, Product, Variant
from commerce.catalog.services import shop_currency
from commerce.extensions import db
from commerce.money import format_money
from commerce.pricing.models import (
    CURRENCY_MISMATCH,
    INVALID_QUANTITY,
    LINE,
    ORDER,
    SHIPPING_UNAVAILABLE,
    UNAVAILABLE_PRODUCT,
    UNKNOWN_VARIANT,
    Adjustment,
    AdjustmentProducer,
    AppliedAdjustment,
    CartLine,
    PricedCart,
    PricedLine,
    PricingContext,
    PricingError,
    PromotionInput,
    ShippingCharge,
    ShippingOption,
    Totals,
)
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


def allocate(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    """Split `total` minor units over `weights` in proportion, summing exactly to `total`.

    Largest-remainder method: each share starts at the floor of its exact share, and the units
    left over go one each to the largest remainders (ties: the larger weight, then the earlier
    position). Every share is therefore the floor or the ceiling of its exact share, so a share
    never exceeds its weight when `total` <= sum(weights).
    """
    if not isinstance(total, int) or total < 0:
        raise ValueError("total must be an int, 0 or more")
    if any(not isinstance(w, int) or w < 0 for w in weights):
        raise ValueError("weights must be ints, 0 or more")
    whole = sum(weights)
    if total > whole:
        raise ValueError(f"cannot allocate {total} over weights summing to {whole}")
    if total == 0:
        return tuple(0 for _ in weights)
    shares = []
    remainders = []
    for index, weight in enumerate(weights):
        share, remainder = divmod(total * weight, whole)
        shares.append(share)
        remainders.append((-remainder, -weight, index))
    left = total - sum(shares)
    for _, _, index in sorted(remainders)[:left]:
        shares[index] += 1
    return tuple(shares)


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
        weight_grams=(variant.weight_grams or 0) * quantity,
        discounted_amount=amount,
    )


def _apply_promotions(
    lines: list[PricedLine],
    context: PricingContext,
    currency: str,
    producers: Sequence[AdjustmentProducer],
) -> tuple[list[PricedLine], list[AppliedAdjustment]]:
    """Line adjustments first, then order adjustments allocated over the discounted lines;
    every adjustment is capped so no line (and so no order) goes below zero."""
    if not producers or not lines:
        return lines, []
    view = PromotionInput(currency, tuple(lines), sum(line.amount for line in lines), context)
    requested: list[Adjustment] = []
    for producer in producers:
        requested.extend(producer(view))
    position = {line.variant_id: i for i, line in enumerate(lines)}
    discounts = [0] * len(lines)
    applied: list[list[AppliedAdjustment]] = [[] for _ in lines]
    for adj in (a for a in requested if a.scope == LINE):
        i = position.get(adj.variant_id)
        if i is None:
            continue
        take = min(adj.amount, lines[i].amount - discounts[i])
        discounts[i] += take
        applied[i].append(AppliedAdjustment(LINE, take, adj.label, adj.source, adj.amount))
    order_applied: list[AppliedAdjustment] = []
    for adj in (a for a in requested if a.scope == ORDER):
        remaining = [line.amount - d for line, d in zip(lines, discounts, strict=True)]
        take = min(adj.amount, sum(remaining))
        order_applied.append(AppliedAdjustment(ORDER, take, adj.label, adj.source, adj.amount))
        for i, share in enumerate(allocate(take, remaining)):
            if share:
                discounts[i] += share
                applied[i].append(AppliedAdjustment(ORDER, share, adj.label, adj.source, share))
    priced = [
        replace(
            line,
            discount=discounts[i],
            discounted_amount=line.amount - discounts[i],
            adjustments=tuple(applied[i]),
        )
        for i, line in enumerate(lines)
    ]
    return priced, order_applied


def _line_explanations(line: PricedLine, currency: str, tax_included: bool) -> tuple[str, ...]:
    def fmt(amount: int) -> str:
        return format_money(amount, currency)

    notes = [f"{line.quantity} {TIMES} {fmt(line.unit_price)}"]
    if line.savings:
        notes.append(f"Was {fmt(line.compare_at_price or 0)} each: you save {fmt(line.savings)}")
    notes.extend(f"{adj.label}: {MINUS}{fmt(adj.amount)}" for adj in line.adjustments if adj.amount)
    if line.tax_rate_bps is not None:
        included = " (included)" if tax_included else ""
        notes.append(f"Tax {_percent(line.tax_rate_bps)}%{included}: {fmt(line.tax)}")
    return tuple(notes)


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
    agreed = {
        line.variant_id: line.unit_price
        for line in lines
        if line.unit_price is not None and _is_int(line.unit_price) and line.unit_price >= 0
    }
    quantities, errors = _merge(lines)

    loaded = {}
    if quantities:
        rows = db.session.execute(
            select(Variant, Product)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id.in_(list(quantities)))
        ).all()
        loaded = {variant.id: (variant, product) for variant, product in rows}
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
    base.sort(key=lambda line: line.variant_id)  # canonical order: independent of input order

    active = ADJUSTMENT_PRODUCERS if producers is None else producers
    priced, order_adjustments = _apply_promotions(base, context, currency, active)

    subtotal = sum(line.amount for line in priced)
    discounts = sum(line.discount for line in priced)
    discounted_subtotal = subtotal - discounts
    weight = sum(line.weight_grams for line in priced)

    country = (context.country or "").strip().upper() or None
    options: tuple[ShippingOption, ...] | None = None
    shipping: ShippingCharge | None = None
    tax_rate_bps: int | None = None
    tax_name: str | None = None
    if country is not None:
        available = shipping_options(country, weight, discounted_subtotal)
        options = tuple(ShippingOption(m.code, m.name, price) for m, price in available)
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
                shipping = ShippingCharge(method.code, method.name, price, 0, method.free_over)
        # one rate query for the whole cart; the same rule as tax.services.tax_for
        rate = rate_for(country, context.region)
        tax_rate_bps = rate.rate_bps if rate is not None else 0
        tax_name = rate.name if rate is not None else None
        priced = [
            replace(
                line,
                tax_rate_bps=tax_rate_bps,
                tax=compute_tax(
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

    priced = [
        replace(line, explanations=_line_explanations(line, currency, include_tax))
        for line in priced
    ]
    shown = {variant_id: n for n, variant_id in enumerate(quantities)}
    priced.sort(key=lambda line: shown[line.variant_id])
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
) -> tuple[str, ...]:
    def fmt(amount: int) -> str:
        return format_money(amount, currency)

    notes = [f"Subtotal: {fmt(totals.subtotal)}"]
    notes.extend(
        f"{adj.label}: {MINUS}{fmt(adj.amount)}" for adj in order_adjustments if adj.amount
    )
    if totals.discounts:
        notes.append(f"Discounts: {MINUS}{fmt(totals.discounts)}")
    if options is None:
        notes.append("Shipping and tax are calculated once we know where to ship.")
    elif shipping is None:
        if options:
            notes.append(f"Choose a shipping method ({len(options)} available).")
        else:
            notes.append("No shipping method can deliver this cart to that address.")
    elif (
        shipping.amount == 0
        and shipping.free_over is not None
        and discounted_subtotal >= shipping.free_over
    ):
        notes.append(
            f"Shipping ({shipping.name}): free on orders of {fmt(shipping.free_over)} or more"
        )
    else:
        notes.append(f"Shipping ({shipping.name}): {fmt(shipping.amount)}")
    if tax_rate_bps is not None:
        name = tax_name or "Tax"
        if include_tax:
            notes.append(f"Includes {name} {_percent(tax_rate_bps)}%: {fmt(totals.tax)}")
        else:
            notes.append(f"{name} {_percent(tax_rate_bps)}%: {fmt(totals.tax)}")
    notes.append(f"Total: {fmt(totals.total)}")
    return tuple(notes)
