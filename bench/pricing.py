"""Pricing benchmark: carts priced per second with 0, 10 and 200 active promotions.

    python bench/pricing.py [--quick] [--seconds S] [--database-url URL]

Builds a shop in a temporary SQLite database (or, with --database-url, in its own schema
`bench_pricing` of that PostgreSQL database, dropped afterwards): 60 products in nested
categories with tags and two collections, US shipping and tax, and 200 promotions of every
kind (percentages and amounts off items and orders, buy X get Y, tiers, free shipping, gifts,
coupon-only ones, time windows, customer and country conditions, all three stacking rules),
made through the services as drafts. Then, for 0, 10 and 200 enabled promotions, it prices a
20-line cart (country, shipping method, customer, a coupon code) with `price_cart` in a loop
for S seconds after a warm-up, one process and one thread, and reports carts per second and
the median time per cart. The first call after a change (the compiled set rebuilt) is timed
too. The last line holds every figure as key=value, for scripts to read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "bench_pricing"
PRODUCTS = 60
CART_LINES = 20
PHASES = (0, 10, 200)


def build_app(url: str | None, instance: str) -> Any:
    sys.path.insert(0, str(ROOT))
    from wsgi import create_app

    config: dict[str, Any] = {
        "TESTING": True,
        "INSTANCE_PATH": instance,
        "SECRET_KEY": "bench",
        "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{Path(instance) / 'bench.db'}",
        "RATELIMIT_ENABLED": False,
        "MEDIA_ROOT": str(Path(instance) / "media"),
        "PRICES_INCLUDE_TAX": False,
    }
    return create_app(config)


def create_tables() -> None:
    """Every table (an empty database or schema: no existence checks, which on PostgreSQL
    would find the tables of the schema holding pg_trgm, also on the search path)."""
    from commerce.extensions import db

    db.metadata.create_all(db.engine, checkfirst=False)


def build_shop() -> dict[str, Any]:
    from bench._server import prepare_us_checkout
    from commerce.catalog.services import create_product
    from commerce.catalog.taxonomy import add_to_collection, create_category, create_collection
    from commerce.inventory.services import receive_stock

    prepare_us_checkout()
    roots = [create_category(name=f"Department {n}", by=None) for n in range(3)]
    leaves = [
        create_category(name=f"Aisle {n}", parent_id=roots[n % 3].id, by=None) for n in range(9)
    ]
    variants, products = [], []
    for n in range(PRODUCTS):
        product = create_product(
            title=f"Bench product {n}",
            price=500 + 137 * n,
            sku=f"BENCH-{n:03d}",
            status="active",
            category_id=leaves[n % len(leaves)].id,
            tags=[f"tag{n % 7}", "bench"] + (["sale"] if n % 5 == 0 else []),
            by=None,
        )
        receive_stock(product.variants[0].id, quantity=1000, by=None)
        variants.append(product.variants[0].id)
        products.append(product.id)
    manual = create_collection(title="Bench picks", by=None)
    add_to_collection(manual, products[::4], by=None)
    rule = create_collection(
        title="Bench sale",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": "sale"}],
        by=None,
    )
    return {
        "variants": variants,
        "products": products,
        "categories": [c.id for c in roots + leaves],
        "collections": [manual.id, rule.id],
    }


def promotion_specs(shop: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """`count` promotions cycling through every condition, action and stacking rule."""

    def row(kind: str, **params: Any) -> dict[str, Any]:
        return {"kind": kind, "params": params}

    cats, cols = shop["categories"], shop["collections"]
    specs = []
    for n in range(count):
        category = {"categories": [cats[n % len(cats)]]}
        tags = {"tags": [f"tag{n % 7}"]}
        actions = [
            [row("percent_off_items", percent=5 + n % 20, items=category)],
            [row("amount_off_order", amount=100 + n)],
            [row("buy_x_get_y", buy=2, get=1, buy_items=tags, max_per_order=2)],
            [
                row(
                    "tiered",
                    tiers=[
                        {"threshold": 5000, "amount": 300},
                        {"threshold": 20000, "amount": 1500},
                    ],
                )
            ],
            [row("free_shipping", methods=["STD"])],
            [row("percent_off_order", percent="2.5")],
            [row("fixed_price_items", price=400, items={"collections": [cols[n % 2]]})],
            [row("amount_off_items", amount=50, items={"exclude_tags": ["sale"]})],
            [row("free_gift", variant_id=shop["variants"][n % PRODUCTS])],
        ][n % 9]
        conditions = [
            [],
            [row("subtotal_at_least", amount=3000 + 10 * n)],
            [row("quantity_at_least", quantity=3, items=category)],
            [row("cart_contains", items={"collections": [cols[n % 2]]})],
            [row("customer_signed_in"), row("shipping_country", countries=["US", "CA"])],
            [row("customer_tag", tags=["vip"])],
            [row("time_window", weekdays=[0, 1, 2, 3, 4, 5, 6], start="00:00", end="23:59")],
            [row("cart_excludes", items={"tags": ["never"]})],
            [row("first_order")],
        ][(n // 9) % 9]
        specs.append(
            {
                "name": f"Bench promotion {n}",
                "priority": n % 13,
                "stacking": ("combinable", "combinable", "shipping_only", "exclusive")[n % 4],
                "match": "any" if n % 11 == 0 else "all",
                "requires_coupon": n % 10 == 7,
                "usage_limit": 1_000_000 if n % 6 == 0 else None,
                "actions": actions,
                "conditions": conditions,
            }
        )
    return specs


def create_promotions(shop: dict[str, Any]) -> list[Any]:
    from commerce.promotions.coupons import add_coupon_code
    from commerce.promotions.services import create_promotion

    made = []
    for n, spec in enumerate(promotion_specs(shop, max(PHASES))):
        promotion = create_promotion(by=None, **spec)
        if spec["requires_coupon"]:
            add_coupon_code(promotion, code=f"BENCH{n}", by=None)
        made.append(promotion)
    return made


def time_phase(lines: list[Any], context: Any, seconds: float) -> dict[str, float]:
    from commerce.extensions import db
    from commerce.pricing import price_cart

    started = time.perf_counter()
    price_cart(lines, context)  # the first call after a change: the set is compiled
    cold = time.perf_counter() - started
    for _ in range(5):
        price_cart(lines, context)
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        cart = price_cart(lines, context)
        samples.append(time.perf_counter() - started)
        db.session.rollback()  # a request ends: no session growing across iterations
    assert cart.lines, "the cart did not price"
    return {
        "carts_per_s": len(samples) / sum(samples),
        "p50_ms": statistics.median(samples) * 1000,
        "cold_ms": cold * 1000,
        "discount": cart.totals.discounts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases (under a minute)")
    parser.add_argument("--seconds", type=float, help="timed seconds per phase")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite)")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 15.0)
    sys.path.insert(0, str(ROOT))
    if args.database_url:
        from bench._server import bench_database, postgres_url

        base_url = postgres_url(args.database_url, "bench/pricing.py")
        url = bench_database(base_url, SCHEMA)
    else:
        url = None

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as instance:
        app = build_app(url, instance)
        with app.app_context():
            from commerce.extensions import db
            from commerce.pricing import CartLine, PricingContext
            from commerce.promotions.services import enable_promotion

            create_tables()
            started = time.perf_counter()
            shop = build_shop()
            promotions = create_promotions(shop)
            print(
                f"shop and {len(promotions)} draft promotions built in "
                f"{time.perf_counter() - started:.1f}s",
                flush=True,
            )
            lines = [CartLine(v, 1 + n % 3) for n, v in enumerate(shop["variants"][:CART_LINES])]
            context = PricingContext(
                country="US",
                region="CA",
                shipping_method_code="STD",
                customer_id=None,
                email="bench@example.com",
                customer_tags=("vip",),
                first_order=True,
                coupon_codes=("BENCH7",),
            )
            enabled = 0
            for phase in PHASES:
                for promotion in promotions[enabled:phase]:
                    enable_promotion(promotion, by=None)
                enabled = phase
                result = time_phase(lines, context, seconds)
                print(
                    f"{phase:>3} active promotions: {result['carts_per_s']:8.1f} carts/s, "
                    f"p50 {result['p50_ms']:.2f} ms, first call after a change "
                    f"{result['cold_ms']:.1f} ms, discount {result['discount']}",
                    flush=True,
                )
                figures[f"promotions_{phase}_carts_per_s"] = round(result["carts_per_s"], 1)
                figures[f"promotions_{phase}_p50_ms"] = round(result["p50_ms"], 2)
                figures[f"promotions_{phase}_cold_ms"] = round(result["cold_ms"], 1)
            db.session.remove()
            db.engine.dispose()
    if url:
        from bench._server import reset_schema

        reset_schema(url, SCHEMA, create=False)
    figures["cart_lines"] = CART_LINES
    figures["database"] = "postgresql" if url else "sqlite"
    print(" ".join(f"{key}={value}" for key, value in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
