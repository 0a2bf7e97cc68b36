"""Bulk rows for the demo catalog: products with tags, options, variants, images and stock.

The services write one product per call with audit and outbox rows, which is right for a
person and far too slow for 50,000 products. This module builds plain row dicts and inserts
them with SQLAlchemy Core executemany, a few thousand at a time, inside the caller's
transaction, and fills in the columns the services would otherwise maintain: the price range,
variant count and currency on the product, its rendered description, unique handles,
published_at, option types matching the variants' values, and a `received` ledger row for
every unit of stock (a level's on_hand is always the sum of its movements).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert, select, text

from commerce.catalog.models import (
    ACTIVE,
    ARCHIVED,
    CONTINUE,
    DENY,
    DRAFT,
    MARKDOWN,
    Media,
    OptionType,
    Product,
    ProductTag,
    Variant,
)
from commerce.catalog.text import handle_from, render_description
from commerce.demo.data import BLURBS, COLOURS, GENERIC_TAGS, NAME_WORDS, SHARED_VENDOR, Kind
from commerce.demo.images import Placeholder, placeholder
from commerce.extensions import db
from commerce.inventory.models import RECEIVED, StockLevel, StockMovement

BATCH = 5_000  # products per insert round (their variants, levels... go in the same round)
MAX_VARIANTS = 24
SHAPES = {"Apparel": "tag", "Home": "circle", "Outdoor": "mountain"}
TABLES: tuple[Table, ...] = (
    Product.__table__,
    ProductTag.__table__,
    OptionType.__table__,
    Variant.__table__,
    Media.__table__,
    StockLevel.__table__,
    StockMovement.__table__,
)


@dataclass(frozen=True)
class Leaf:
    """A leaf category and what it sells."""

    category_id: int
    root: str
    kind: Kind
    vendors: tuple[str, ...]


@dataclass
class Built:
    """What the bulk load made, for the summary and for choosing collection members."""

    products: int = 0
    variants: int = 0
    movements: int = 0
    active_by_root: dict[str, list[int]] = field(default_factory=dict)
    gift_ids: list[int] = field(default_factory=list)


def ean13(twelve: str) -> str:
    """Append the EAN-13 check digit (weights 1 and 3 from the left) to twelve digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(twelve))
    return twelve + str((10 - total % 10) % 10)


def _round_price(amount: int) -> int:
    """Shop prices end in 99: 4,870 becomes 4,899 (minor units in, minor units out)."""
    return max(99, amount // 100 * 100 + 99)


class _Ids:
    """Explicit primary keys, so children can point at parents without a round trip."""

    def __init__(self) -> None:
        self.next = {
            t.name: (db.session.scalar(select(func.coalesce(func.max(t.c.id), 0))) or 0) + 1
            for t in TABLES
            if "id" in t.c
        }

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


class _Builder:
    def __init__(
        self,
        rng: random.Random,
        *,
        leaves: list[Leaf],
        location_ids: list[int],
        media_root: Path,
        currency: str,
        now: datetime,
    ) -> None:
        self.rng = rng
        self.leaves = leaves
        self.location_ids = location_ids
        self.media_root = media_root
        self.currency = currency
        self.now = now
        self.ids = _Ids()
        self.rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in TABLES}
        self.handles: dict[str, int] = {}
        self.titles: set[str] = set()
        self.descriptions: dict[tuple[str, str, int], tuple[str, str]] = {}
        self.images: dict[tuple[str, str], Placeholder] = {}
        self.built = Built()

    # -- one product ----------------------------------------------------------------------------

    def product(self) -> None:
        rng, leaf = self.rng, self.rng.choice(self.leaves)
        kind = leaf.kind
        product_id = self.ids.take("product")
        noun = rng.choice(kind.nouns)
        title = f"{rng.choice(NAME_WORDS)} {noun}"
        for _ in range(3):
            if title not in self.titles:
                break
            title = f"{rng.choice(NAME_WORDS)} {noun}"
        self.titles.add(title)
        base = handle_from(title)
        seen = self.handles.get(base, 0) + 1
        self.handles[base] = seen
        handle = base if seen == 1 else f"{base}-{seen}"

        roll = rng.random()
        status = ACTIVE if roll < 0.86 else DRAFT if roll < 0.95 else ARCHIVED
        created = self.now - timedelta(seconds=rng.randint(3600, 400 * 86400))
        updated = created + (self.now - created) * rng.random()
        published = created + timedelta(hours=rng.randint(1, 72)) if status != DRAFT else None
        price = _round_price(int(rng.uniform(*kind.price)))  # a whole number of cents
        sale = rng.random() < 0.18
        markup_bps = round(rng.uniform(11_500, 16_000)) if sale else None  # +15% to +60%
        weight = rng.randint(*kind.weight)

        chosen = self._options(kind)
        combos = list(itertools.product(*[values for _, values in chosen])) or [()]
        colours = next((values for option, values in chosen if option.name == "Colour"), None)
        prices: list[int] = []
        variants = self.rows["variant"]
        for position, combo in enumerate(combos[:MAX_VARIANTS], start=1):
            variant_id = self.ids.take("variant")
            steps = sum(
                option.values.index(value)
                for (option, _), value in zip(chosen, combo, strict=True)
                if option.step
            )
            bump = sum(
                option.step * option.values.index(value)
                for (option, _), value in zip(chosen, combo, strict=True)
            )
            variant_price = price + bump
            prices.append(variant_price)
            values = [*combo, None, None, None]
            variants.append(
                {
                    "id": variant_id,
                    "product_id": product_id,
                    "sku": f"{kind.code}-{product_id:06d}-{position:02d}",
                    "barcode": ean13(f"200{variant_id:09d}"),
                    "price": variant_price,
                    "compare_at_price": (
                        _round_price(variant_price * markup_bps // 10_000) if markup_bps else None
                    ),
                    "currency": self.currency,
                    "weight_grams": weight + steps * weight // 5,
                    "option1": values[0],
                    "option2": values[1],
                    "option3": values[2],
                    "position": position,
                    "inventory_policy": CONTINUE if rng.random() < 0.03 else DENY,
                    "low_stock_threshold": rng.choice((None, None, None, 3, 10)),
                    "created_at": created,
                    "updated_at": updated,
                }
            )
            self._stock(variant_id, created)

        for position, (option, values) in enumerate(chosen, start=1):
            self.rows["option_type"].append(
                {
                    "id": self.ids.take("option_type"),
                    "product_id": product_id,
                    "name": option.name,
                    "position": position,
                    "values": list(values),
                }
            )
        tags = self._tags(kind, sale)
        self.rows["product_tag"].extend({"product_id": product_id, "tag": t} for t in tags)
        image_colours = list(colours or [rng.choice(kind.colours)])[:2]
        for position, colour in enumerate(image_colours[: 2 if rng.random() < 0.3 else 1], 1):
            self._media(product_id, title, kind, leaf.root, colour, position, created)

        description, html = self._description(kind, noun)
        self.rows["product"].append(
            {
                "id": product_id,
                "title": title,
                "handle": handle,
                "description": description,
                "description_format": MARKDOWN,
                "description_html": html,
                "status": status,
                "vendor": SHARED_VENDOR if rng.random() < 0.08 else rng.choice(leaf.vendors),
                "product_type": kind.product_type,
                "seo_title": "",
                "seo_description": "",
                "category_id": leaf.category_id,
                "currency": self.currency,
                "min_price": min(prices),
                "max_price": max(prices),
                "variant_count": len(prices),
                "published_at": published,
                "created_at": created,
                "updated_at": updated,
            }
        )
        built = self.built
        built.products += 1
        built.variants += len(prices)
        if status == ACTIVE:
            built.active_by_root.setdefault(leaf.root, []).append(product_id)
            if "gift" in tags:
                built.gift_ids.append(product_id)

    def _options(self, kind: Kind) -> list[tuple[Any, tuple[str, ...]]]:
        if not kind.options or self.rng.random() < kind.single:
            return []
        chosen = []
        for option in kind.options:
            lo, hi = option.pick[0], min(option.pick[1], len(option.values))
            k = self.rng.randint(lo, hi)
            if option.run:
                start = self.rng.randint(0, len(option.values) - k)
                values = option.values[start : start + k]
            else:
                picked = sorted(self.rng.sample(range(len(option.values)), k))
                values = tuple(option.values[i] for i in picked)
            chosen.append((option, values))
        return chosen

    def _tags(self, kind: Kind, sale: bool) -> list[str]:
        rng = self.rng
        tags = rng.sample(kind.tags, min(len(kind.tags), rng.randint(1, 2)))
        tags += [tag for tag, share in GENERIC_TAGS if rng.random() < share]
        if rng.random() < kind.summer:
            tags.append("summer")
        if sale:
            tags.append("sale")
        return list(dict.fromkeys(tags))

    def _stock(self, variant_id: int, created: datetime) -> None:
        rng = self.rng
        for location_index, location_id in enumerate(self.location_ids):
            if location_index == 0:
                on_hand = 0 if rng.random() < 0.06 else rng.randint(5, 150)
            else:
                on_hand = 0 if rng.random() < 0.3 else rng.randint(1, 24)
            level_id = self.ids.take("stock_level")
            self.rows["stock_level"].append(
                {
                    "id": level_id,
                    "variant_id": variant_id,
                    "location_id": location_id,
                    "on_hand": on_hand,
                    "allocated": 0,
                    "reserved": 0,
                    "updated_at": created,
                }
            )
            if on_hand == 0:
                continue
            # An opening receipt, and for some a later restock: the ledger sums to on_hand.
            first = (
                rng.randint(1, on_hand - 1) if on_hand >= 10 and rng.random() < 0.25 else on_hand
            )
            for delta, days in ((first, 0), (on_hand - first, rng.randint(5, 60))):
                if delta:
                    self.rows["stock_movement"].append(
                        {
                            "id": self.ids.take("stock_movement"),
                            "stock_level_id": level_id,
                            "delta": delta,
                            "reason": RECEIVED,
                            "reference": f"PO-{rng.randint(10000, 99999)}",
                            "note": "Demo opening stock",
                            "actor_id": None,
                            "idempotency_key": None,
                            "created_at": min(created + timedelta(days=days), self.now),
                        }
                    )
                    self.built.movements += 1

    def _media(
        self,
        product_id: int,
        title: str,
        kind: Kind,
        root: str,
        colour: str,
        position: int,
        created: datetime,
    ) -> None:
        key = (kind.product_type, colour)
        image = self.images.get(key)
        if image is None:
            image = placeholder(
                self.media_root, kind.product_type, colour, COLOURS[colour], SHAPES.get(root, "")
            )
            self.images[key] = image
        self.rows["media"].append(
            {
                "id": self.ids.take("media"),
                "product_id": product_id,
                "kind": "file",
                "path": image.path,
                "thumb_path": image.thumb_path,
                "external_url": None,
                "alt": f"{title} in {colour.lower()}",
                "position": position,
                "content_type": "image/png",
                "width": image.width,
                "height": image.height,
                "size_bytes": image.size_bytes,
                "original_filename": image.filename,
                "created_at": created,
            }
        )

    def _description(self, kind: Kind, noun: str) -> tuple[str, str]:
        """Markdown and its HTML; a few hundred distinct texts, each rendered once."""
        key = (kind.product_type, noun, self.rng.randrange(len(BLURBS)))
        cached = self.descriptions.get(key)
        if cached is None:
            blurb = BLURBS[key[2]].format(noun_l=noun.lower())
            features = "\n".join(f"- {f}" for f in kind.features)
            markdown = (
                f"{blurb}\n\n**Highlights**\n\n{features}\n\n"
                f"| Detail | |\n| --- | --- |\n| Type | {kind.product_type} |\n"
                f"| Care | {kind.care} |\n"
            )
            cached = (markdown, render_description(markdown, MARKDOWN))
            self.descriptions[key] = cached
        return cached

    # -- writing --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Insert the rows built so far, parents before children."""
        for table in TABLES:
            rows = self.rows[table.name]
            if rows:
                db.session.execute(insert(table), rows)
                rows.clear()


def build_catalog(
    *,
    count: int,
    rng: random.Random,
    leaves: list[Leaf],
    location_ids: list[int],
    media_root: Path,
    currency: str,
    now: datetime,
    say: Callable[[str], Any],
) -> Built:
    """Insert `count` products with everything hanging off them, in rounds of BATCH."""
    builder = _Builder(
        rng,
        leaves=leaves,
        location_ids=location_ids,
        media_root=media_root,
        currency=currency,
        now=now,
    )
    for done in range(1, count + 1):
        builder.product()
        if done % BATCH == 0 or done == count:
            builder.flush()
            say(f"  {done:,} / {count:,} products")
    _advance_sequences()
    return builder.built


def _advance_sequences() -> None:
    """PostgreSQL: move each id sequence past the explicit ids written above."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        if "id" in table.c:
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"
                )
            )
