"""The console's quick search ("contains"): FTS5 trigram tables beside the catalog on SQLite,
one pg_trgm index over a product's text on PostgreSQL.

PostgreSQL answers `ILIKE '%shirt%'` from pg_trgm indexes: SKUs from ix_variant_sku_trgm
(migration 0011_search), a product's title, handle and vendor from ix_product_text_trgm over
`models.product_text()` (migration 0015_console_text; `product_contains`). SQLite has
no such index, and reading every title and SKU of a 50,000-product catalog took hundreds of
milliseconds; an FTS5 table with the trigram tokenizer answers the same LIKE from its index
(patterns with three characters or more between wildcards; shorter ones read the table, which
is still narrower than the catalog). Its LIKE is the column's LIKE: same wildcards, ASCII case
folded (and other letters' case too, as PostgreSQL's ILIKE does).

The tables are kept by triggers on `product` and `variant` (migration 0012_console_lists, and
`db.create_all()` through `install`). They are derived data outside the models, like the search
backend's FTS5 tables: Alembic's comparison skips them (`is_derived`). A later migration that
rebuilds `product` or `variant` with batch_alter_table on SQLite drops the triggers with the old
table: it must call `install` again (it is idempotent and refills the tables).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, column, literal_column, or_, select, table

from commerce.catalog.models import Product, product_text

PREFIX = "console_trgm_"
PRODUCT_TEXT = table(
    "console_trgm_product", column("rowid"), column("title"), column("handle"), column("vendor")
)
VARIANT_SKU = table("console_trgm_variant", column("rowid"), column("sku"))

DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS console_trgm_product"
    " USING fts5(title, handle, vendor, tokenize='trigram')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS console_trgm_variant USING fts5(sku, tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_product_ai AFTER INSERT ON product BEGIN"
    " INSERT INTO console_trgm_product(rowid, title, handle, vendor)"
    " VALUES (new.id, new.title, new.handle, new.vendor); END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_product_au"
    " AFTER UPDATE OF id, title, handle, vendor ON product BEGIN"
    " DELETE FROM console_trgm_product WHERE rowid = old.id;"
    " INSERT INTO console_trgm_product(rowid, title, handle, vendor)"
    " VALUES (new.id, new.title, new.handle, new.vendor); END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_product_ad AFTER DELETE ON product BEGIN"
    " DELETE FROM console_trgm_product WHERE rowid = old.id; END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_variant_ai AFTER INSERT ON variant BEGIN"
    " INSERT INTO console_trgm_variant(rowid, sku) VALUES (new.id, new.sku); END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_variant_au AFTER UPDATE OF id, sku ON variant BEGIN"
    " DELETE FROM console_trgm_variant WHERE rowid = old.id;"
    " INSERT INTO console_trgm_variant(rowid, sku) VALUES (new.id, new.sku); END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_variant_ad AFTER DELETE ON variant BEGIN"
    " DELETE FROM console_trgm_variant WHERE rowid = old.id; END",
]
FILL = [
    "DELETE FROM console_trgm_product",
    "INSERT INTO console_trgm_product(rowid, title, handle, vendor)"
    " SELECT id, title, handle, vendor FROM product",
    "DELETE FROM console_trgm_variant",
    "INSERT INTO console_trgm_variant(rowid, sku) SELECT id, sku FROM variant",
]


def is_derived(name: str | None) -> bool:
    """A table of this module's (or an FTS5 shadow table of one)."""
    return bool(name) and str(name).startswith(PREFIX)


def install(connection: Any) -> None:
    """Create the tables and triggers (SQLite only) and fill them from the catalog."""
    if connection.dialect.name != "sqlite":
        return
    for statement in DDL + FILL:
        connection.exec_driver_sql(statement)


def uses_trigrams(bind: Any) -> bool:
    return bind.dialect.name == "sqlite"


def _phrase(q: str, column: str | None = None) -> str | None:
    """`q` as an FTS5 phrase (a substring, to the trigram tokenizer), when that is what
    LIKE '%q%' asks: three characters or more and no LIKE wildcard in them."""
    if len(q) < 3 or "%" in q or "_" in q:
        return None
    phrase = '"' + q.replace('"', '""') + '"'
    return f"{column} : {phrase}" if column else phrase


def _matching(t: Any, q: str, *columns: Any) -> Any:
    """Rows of `t` where one of `columns` contains `q`: one MATCH (a single read of the index)
    when the phrase says the same, else LIKE per column (UNION-ed by the caller)."""
    phrase = _phrase(q, columns[0].name if len(columns) == 1 else None)
    if phrase is not None:
        return [select(t.c.rowid).where(literal_column(t.name).op("MATCH")(phrase))]
    return [select(t.c.rowid).where(c.like(f"%{q}%")) for c in columns]


def product_ids(q: str) -> list[Any]:
    """SELECTs of ids of products whose title, handle or vendor contains `q`, to be UNION-ed
    (SQLite takes no parenthesised UNION inside a UNION)."""
    t = PRODUCT_TEXT
    return _matching(t, q, t.c.title, t.c.handle, t.c.vendor)


def title_product_ids(q: str) -> Any:
    """Ids of products whose title contains `q`."""
    return _matching(PRODUCT_TEXT, q, PRODUCT_TEXT.c.title)[0]


def sku_variant_ids(q: str) -> Any:
    """Ids of variants whose SKU contains `q`."""
    return _matching(VARIANT_SKU, q, VARIANT_SKU.c.sku)[0]


def product_contains(q: str, *columns: Any) -> Any:
    """PostgreSQL: products whose `columns` (title, handle and vendor when none is named)
    contain `q`, without case. The match on the product's whole text is what
    ix_product_text_trgm answers; the named columns are then tested on its candidates only."""
    like = f"%{q}%"
    whole = product_text().ilike(like)
    if not columns:
        return whole
    return and_(whole, or_(*(c.ilike(like) for c in columns)))


def product_title_contains(q: str) -> Any:
    """PostgreSQL: products whose title contains `q` (see product_contains)."""
    return product_contains(q, Product.title)
