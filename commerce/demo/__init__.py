"""`flask demo load`: a believable shop to click through, and a big catalog to measure against.

`make run` calls this on every start, so it is idempotent: once the catalog has products it
loads nothing, but still makes sure one staff account per role exists and hands back their
logins. The same seed always gives the same shop. On the first load, demo orders follow the
catalog (commerce/demo/orders.py), so the console's orders, customers and dashboard have
something in them.

Demo staff logins (fixed, for local use only):

    admin         admin@demo.shop         demo-admin-2026
    merchandiser  merchandiser@demo.shop  demo-merchandiser-2026
    warehouse     warehouse@demo.shop     demo-warehouse-2026
    support       support@demo.shop       demo-support-2026
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from commerce import audit, outbox
from commerce.catalog.models import Category, Collection, CollectionProduct, Product, Variant
from commerce.catalog.taxonomy import check_rules
from commerce.catalog.text import handle_from
from commerce.db import transaction, utcnow, workflow
from commerce.demo.catalog import Built, Leaf, build_catalog
from commerce.demo.data import SHARED_VENDOR, TREE, VENDORS
from commerce.demo.extras import load_demo_extras
from commerce.demo.orders import load_demo_orders
from commerce.demo.settings import ensure_demo_settings
from commerce.extensions import db
from commerce.inventory.models import Location
from commerce.orders.models import Order
from commerce.staff.services import create_staff, find_staff_by_email

Progress = Callable[[str], Any]

DEMO_STAFF: dict[str, tuple[str, str, str]] = {
    "admin": ("admin@demo.shop", "demo-admin-2026", "Ada Admin"),
    "merchandiser": ("merchandiser@demo.shop", "demo-merchandiser-2026", "Mina Merchant"),
    "warehouse": ("warehouse@demo.shop", "demo-warehouse-2026", "Wes Warehouse"),
    "support": ("support@demo.shop", "demo-support-2026", "Sam Support"),
}
LOCATIONS = (
    ("MAIN", "Main warehouse", "warehouse", 1, "Unit 4, Riverside Trading Estate"),
    ("STORE", "Downtown store", "store", 2, "12 Market Street"),
)
MANUAL_COLLECTIONS = (
    ("Staff picks", "What the team keeps coming back to.", None, 24),
    ("Gift guide", "Presents that get used, not regifted.", "gift", 30),
    ("Cabin weekend", "Everything for two nights off-grid.", "Outdoor", 20),
)


@workflow
def load_demo(
    *,
    products: int = 600,
    orders: int = 40,
    seed: int = 7,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Load the demo shop into an empty catalog, then `orders` demo orders (0: none); always
    return the staff logins.

    Returns {products, variants, categories, collections, orders, created, logins={role:
    (email, password)}} with the shop's counts after the call.
    """
    say: Progress = progress or (lambda _message: None)
    logins = ensure_demo_staff(say)
    settings = ensure_demo_settings()
    if any(settings.values()):
        say(
            f"Shipping methods ({settings['shipping_methods']}) and tax rates "
            f"({settings['tax_rates']}) for the demo checkout."
        )
    existing = db.session.scalar(select(func.count(Product.id))) or 0
    created = False
    if existing:
        say(f"The catalog already has {existing:,} products; no demo data loaded.")
        if orders > 0 and _demo_orders_missing():
            # The demo catalog went in but its orders did not (the first load was stopped or
            # failed after the catalog's commit): place them now rather than never.
            say("The demo catalog has no orders yet; placing the demo orders.")
            load_demo_orders(random.Random(f"{seed}:orders"), count=orders, say=say)
    else:
        # One transaction for the whole load: an interrupted load leaves no half catalog behind
        # (which the "already has products" check above would otherwise mistake for done).
        with transaction():
            built, summary = _load_shop(products, random.Random(seed), say)
            audit.record(
                None,
                "demo.load",
                subject_type="catalog",
                subject_label="Demo shop",
                after={"seed": seed, **summary},
            )
            if built.products:
                outbox.enqueue("catalog.bulk_loaded", {"source": "demo", **summary})
        created = True
        if orders > 0:
            # After the catalog's commit: checkout and payments commit their own steps and
            # refuse to run inside an open transaction. Only on this first load, so later
            # starts stay quick and add nothing.
            load_demo_orders(random.Random(f"{seed}:orders"), count=orders, say=say)
            load_demo_extras(random.Random(f"{seed}:extras"), say=say)
    counts = {
        "products": Product,
        "variants": Variant,
        "categories": Category,
        "collections": Collection,
        "orders": Order,
    }
    result: dict[str, Any] = {
        name: db.session.scalar(select(func.count(model.id))) or 0 for name, model in counts.items()
    }
    result.update(created=created, logins=logins)
    return result


def _demo_orders_missing() -> bool:
    """A demo catalog (loaded by load_demo, as the audit log says) and not one order."""
    if db.session.scalar(select(Order.id).limit(1)) is not None:
        return False
    loaded = select(audit.AuditEntry.id).where(audit.AuditEntry.action == "demo.load").limit(1)
    return db.session.scalar(loaded) is not None


def ensure_demo_staff(say: Progress) -> dict[str, tuple[str, str]]:
    """One account per role; an account someone has since changed is left alone and not shown."""
    logins: dict[str, tuple[str, str]] = {}
    for role, (email, password, name) in DEMO_STAFF.items():
        member = find_staff_by_email(email)
        if member is None:
            create_staff(email, role=role, name=name, password=password, by=None)
        elif not (member.is_active and member.role == role and member.check_password(password)):
            say(f"{email} has been changed since the demo created it; its login is not shown.")
            continue
        logins[role] = (email, password)
    return logins


def _load_shop(count: int, rng: random.Random, say: Progress) -> tuple[Built, dict[str, int]]:
    now = utcnow()
    say("Locations, categories...")
    location_ids = _ensure_locations()
    leaves, category_ids = _ensure_categories()
    say(f"Products ({count:,})...")
    built = build_catalog(
        count=count,
        rng=rng,
        leaves=leaves,
        location_ids=location_ids,
        media_root=Path(current_app.config["MEDIA_ROOT"]),
        currency=current_app.config["SHOP_CURRENCY"],
        now=now,
        say=say,
    )
    say("Collections...")
    collections = _ensure_collections(rng, built, category_ids)
    summary = {
        "products": built.products,
        "variants": built.variants,
        "stock_movements": built.movements,
        "categories": len(category_ids),
        "collections": collections,
        "locations": len(location_ids),
    }
    return built, summary


def _ensure_locations() -> list[int]:
    ids = []
    for code, name, kind, priority, address in LOCATIONS:
        location = db.session.scalar(select(Location).where(Location.code == code))
        if location is None:
            location = Location(
                code=code,
                name=name,
                kind=kind,
                priority=priority,
                is_active=True,
                address=address,
                created_at=utcnow(),
            )
            db.session.add(location)
            db.session.flush()
        ids.append(location.id)
    return ids


def _category(name: str, parent: Category | None, position: int, description: str) -> Category:
    """The category with this name's handle, created (and placed in the tree) when missing."""
    handle = handle_from(name)
    category = db.session.scalar(select(Category).where(Category.handle == handle))
    if category is None:
        category = Category(
            name=name,
            handle=handle,
            description=description,
            parent_id=parent.id if parent else None,
            position=position,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        db.session.add(category)
        db.session.flush()
        category.path_ids = f"{parent.path_ids if parent else '/'}{category.id}/"
        category.full_name = f"{parent.full_name} / {name}" if parent else name
    return category


def _ensure_categories() -> tuple[list[Leaf], dict[str, int]]:
    leaves: list[Leaf] = []
    ids: dict[str, int] = {}
    for i, (root_name, groups) in enumerate(TREE.items(), start=1):
        root = _category(root_name, None, i, f"Everything {root_name.lower()}.")
        ids[root_name] = root.id
        for j, (group_name, leaf_kinds) in enumerate(groups.items(), start=1):
            group = _category(group_name, root, j, f"{root_name}: {group_name.lower()}.")
            ids[group_name] = group.id
            for k, (leaf_name, kind) in enumerate(leaf_kinds.items(), start=1):
                leaf = _category(leaf_name, group, k, f"{leaf_name} from makers we trust.")
                ids[leaf_name] = leaf.id
                leaves.append(Leaf(leaf.id, root_name, kind, VENDORS[root_name]))
    return leaves, ids


def _collection(title: str, description: str, **fields: Any) -> Collection | None:
    """A new collection, or None when one with this title's handle exists already."""
    handle = handle_from(title)
    if db.session.scalar(select(Collection.id).where(Collection.handle == handle)):
        return None
    collection = Collection(
        title=title,
        handle=handle,
        description=description,
        created_at=utcnow(),
        updated_at=utcnow(),
        **fields,
    )
    db.session.add(collection)
    db.session.flush()
    return collection


def _ensure_collections(rng: random.Random, built: Built, category_ids: dict[str, int]) -> int:
    rule_collections = (
        ("Summer edit", "Light layers and long evenings.", "all", [("tag", "equals", "summer")]),
        ("Under 25", "Small treats, all under 25.", "all", [("price", "less_than", 2500)]),
        ("Kestrel Cookware", "Pans for life.", "all", [("vendor", "equals", "Kestrel Cookware")]),
        (
            "Camping",
            "Sleep out in comfort.",
            "all",
            [("category", "equals", category_ids["Camping"])],
        ),
        (
            "All things linen",
            "Cool, crumpled, perfect.",
            "any",
            [("title", "contains", "linen"), ("tag", "equals", "linen")],
        ),
        ("On sale", "Marked down, while they last.", "all", [("tag", "equals", "sale")]),
        (
            f"{SHARED_VENDOR} favourites",
            "Our house label, new this season.",
            "all",
            [("vendor", "equals", SHARED_VENDOR), ("tag", "equals", "new")],
        ),
    )
    # Rule collections open on their newest products; "Under 25" on the cheapest first.
    sorts = {"Under 25": "price-asc"}
    made = 0
    for title, description, match, rules in rule_collections:
        clean = check_rules([{"field": f, "op": o, "value": v} for f, o, v in rules])
        sort = sorts.get(title, "newest")
        if _collection(title, description, kind="rule", match=match, rules=clean, sort=sort):
            made += 1
    every_active = [pid for ids in built.active_by_root.values() for pid in ids]
    for title, description, source, size in MANUAL_COLLECTIONS:
        if source == "gift":
            pool = built.gift_ids
        elif source:
            pool = built.active_by_root.get(source, [])
        else:
            pool = every_active
        collection = _collection(title, description, kind="manual", match="all", rules=[])
        if collection is None:
            continue
        made += 1
        picked = rng.sample(pool, min(size, len(pool)))
        rows = [
            {"collection_id": collection.id, "product_id": pid, "position": n}
            for n, pid in enumerate(picked, start=1)
        ]
        if rows:
            db.session.execute(CollectionProduct.__table__.insert(), rows)
    return made
