"""Search tables: merchandising settings and rules, index bookkeeping, and the db backend's index.

Merchandising (synonyms, stop words, typo settings, query rules) lives here whichever backend
answers, so the console edits one place and the backend is told. The db backend stores its
documents, facet values and vocabulary per generation: a rebuild fills a new generation and
the swap is one UPDATE. On SQLite each generation also has an FTS5 table (search_fts_<id>),
created and dropped by the backend because Alembic cannot describe virtual tables; on
PostgreSQL the `tsv` column with its GIN index does that job and pg_trgm indexes the
vocabulary for typo tolerance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import utcnow
from commerce.extensions import db

EQUIVALENT, ONE_WAY = "equivalent", "one_way"
EXACT, CONTAINS = "exact", "contains"
BUILDING, LIVE, RETIRED, FAILED = "building", "live", "retired", "failed"

TSVECTOR = Text().with_variant(postgresql.TSVECTOR(), "postgresql")
TEXT_ARRAY = Text().with_variant(postgresql.ARRAY(Text()), "postgresql")


class SearchSettings(db.Model):
    """The shop's one row of search settings; `revision` moves on every merchandising change."""

    __tablename__ = "search_settings"
    audit_type = "search_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    stop_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    typo_enabled: Mapped[bool] = mapped_column(default=True)
    typo_one: Mapped[int] = mapped_column(default=5)
    typo_two: Mapped[int] = mapped_column(default=9)
    typo_disabled_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    revision: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    audit_label = "Search settings"

    def snapshot(self) -> dict[str, Any]:
        return {
            "stop_words": list(self.stop_words or []),
            "typo_enabled": self.typo_enabled,
            "typo_one": self.typo_one,
            "typo_two": self.typo_two,
            "typo_disabled_words": list(self.typo_disabled_words or []),
        }


class SearchSynonym(db.Model):
    """Equivalent words (tee = t-shirt = tshirt), or one way (hoodie -> sweatshirt)."""

    __tablename__ = "search_synonym"
    __table_args__ = (CheckConstraint("kind IN ('equivalent', 'one_way')", name="kind_known"),)
    audit_type = "search_synonym"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), default=EQUIVALENT)
    # equivalent: every term stands for the others; one_way: terms[0] also finds terms[1:]
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_label(self) -> str:
        joiner = " = " if self.kind == EQUIVALENT else " -> "
        return joiner.join(self.terms or [])[:255]

    def snapshot(self) -> dict[str, Any]:
        return {"kind": self.kind, "terms": list(self.terms or [])}


class SearchRule(db.Model):
    """For a query (exact, or contained as whole words), pin products first in the given order,
    hide others, and boost or bury products by a condition, between optional start and end
    times."""

    __tablename__ = "search_rule"
    __table_args__ = (
        CheckConstraint("match IN ('exact', 'contains')", name="match_known"),
        Index("ix_search_rule_query", "query"),
    )
    audit_type = "search_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(String(120))  # normalized words
    match: Mapped[str] = mapped_column(String(10), default=EXACT)
    pinned_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    hidden_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # [{"effect": "boost" | "bury", "field": "tag" | "vendor" | "collection" | "in_stock",
    #   "value": str}]: matching products move up (boost) or down (bury) as a group
    boosts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_label(self) -> str:
        return f"“{self.query}” ({self.match})"

    def snapshot(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "match": self.match,
            "pinned_ids": list(self.pinned_ids or []),
            "hidden_ids": list(self.hidden_ids or []),
            "boosts": list(self.boosts or []),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "enabled": self.enabled,
            "note": self.note,
        }


class SearchGeneration(db.Model):
    """One build of the index: `building` while a rebuild fills it, then `live` (one per
    backend), then `retired` once a newer one is swapped in (dropped after a grace period)."""

    __tablename__ = "search_generation"
    __table_args__ = (
        CheckConstraint("status IN ('building', 'live', 'retired', 'failed')", name="status_known"),
        Index("ix_search_generation_backend", "backend", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120), default="")  # index uid / table name
    status: Mapped[str] = mapped_column(String(10), default=BUILDING)
    documents: Mapped[int] = mapped_column(default=0)
    revision: Mapped[int] = mapped_column(default=0)  # moves with every incremental write
    # Moves when a write brings in a word the generation did not have (vocabulary.py).
    vocabulary_revision: Mapped[int] = mapped_column(default=0, server_default="0")
    job_id: Mapped[str | None] = mapped_column(String(36))
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]


class SearchPending(db.Model):
    """Outbox events the index has yet to take in (one row per event: idempotent by event id).

    `product_ids` are the products to refresh; `rebuild` asks for a whole new index instead.
    A row stays open until the backend confirmed, however many attempts that takes.
    """

    __tablename__ = "search_pending"
    __table_args__ = (Index("ix_search_pending_open", "applied_at", "event_id"),)

    event_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    topic: Mapped[str] = mapped_column(String(80))
    product_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    rebuild: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # After a failed update: not before this time (the backoff grows; a row is never dropped).
    next_attempt_at: Mapped[datetime | None]


class SearchDocument(db.Model):
    """The db backend's copy of a product document in one generation."""

    __tablename__ = "search_document"
    __table_args__ = (
        Index("ix_search_document_product", "generation_id", "product_id", unique=True),
        Index("ix_search_document_price_min", "generation_id", "price_min"),
        Index("ix_search_document_price_max", "generation_id", "price_max"),
        Index("ix_search_document_created", "generation_id", "created_ts"),
        # Relevance walks this index backwards (most popular first, newest first among equals)
        # and stops at the page; on SQLite it also covers the filters tested on the way.
        Index(
            "ix_search_document_rank",
            "generation_id",
            "popularity",
            "product_id",
            "price_min",
            "price_max",
            "in_stock",
        ),
        Index("ix_search_document_lexemes", "lexemes", postgresql_using="gin"),
        Index("ix_search_document_title_lexemes", "title_lexemes", postgresql_using="gin"),
        Index("ix_search_document_facets", "facets", postgresql_using="gin"),
        # PostgreSQL: rows over 128 bytes move their wide columns (data, body, tsv) to TOAST,
        # lexemes (storage MAIN) stay: scans that test lexemes read narrow rows.
        {"postgresql_with": {"toast_tuple_target": 128}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    generation_id: Mapped[int] = mapped_column(
        ForeignKey("search_generation.id", ondelete="CASCADE")
    )
    product_id: Mapped[int]
    title: Mapped[str] = mapped_column(Text, default="")  # the words FTS ranks highest
    body: Mapped[str] = mapped_column(Text, default="")  # every other searchable word
    tsv: Mapped[Any] = mapped_column(TSVECTOR, nullable=True)  # PostgreSQL only
    # PostgreSQL only: the words without positions or weights (strip(tsv)), small enough to
    # stay in the row, so testing a row costs no TOAST read; and the title's words alone
    # (results matching in the title rank first). tsv keeps the positions for phrases.
    lexemes: Mapped[Any] = mapped_column(TSVECTOR, nullable=True)
    title_lexemes: Mapped[Any] = mapped_column(TSVECTOR, nullable=True)
    # PostgreSQL only: every facet value as "facet:value" (the rows of search_facet, in the
    # row: storage MAIN), so filters are conditions on the row (GIN-indexed) that combine
    # with the text match and with a walk of the sort index (migration 0014).
    facets: Mapped[Any] = mapped_column(TEXT_ARRAY, nullable=True)
    price_min: Mapped[int] = mapped_column(default=0)
    price_max: Mapped[int] = mapped_column(default=0)
    in_stock: Mapped[bool] = mapped_column(default=False)
    popularity: Mapped[int] = mapped_column(default=0)
    created_ts: Mapped[int] = mapped_column(default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SearchFacet(db.Model):
    """One facet value of one document ("vendor" = "Acme", "option" = "Size:M"). PostgreSQL
    keeps statistics of the (facet, value) pairs (st_search_facet_value, migration 0013)."""

    __tablename__ = "search_facet"
    __table_args__ = (Index("ix_search_facet_value", "facet", "value", "doc_id"),)

    doc_id: Mapped[int] = mapped_column(
        ForeignKey("search_document.id", ondelete="CASCADE"), primary_key=True
    )
    facet: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)


class SearchTerm(db.Model):
    """The vocabulary of a generation, for typo tolerance (trigram-indexed on PostgreSQL)."""

    __tablename__ = "search_term"
    __table_args__ = (
        Index(
            "ix_search_term_trgm",
            "term",
            postgresql_using="gin",
            postgresql_ops={"term": "gin_trgm_ops"},
        ),
    )

    generation_id: Mapped[int] = mapped_column(
        ForeignKey("search_generation.id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(String(64), primary_key=True)


SEARCH, CLICK = "search", "click"


class SearchEvent(db.Model):
    """What shoppers searched for and which result they opened, for search analytics.

    Append-only (no row is ever updated, so busy queries never contend); reports group by
    `query` over a period, and old events are pruned.
    """

    __tablename__ = "search_event"
    __table_args__ = (
        CheckConstraint("kind IN ('search', 'click')", name="kind_known"),
        Index("ix_search_event_created", "created_at"),
        Index("ix_search_event_query", "query", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    query: Mapped[str] = mapped_column(String(200))  # normalized words
    results: Mapped[int | None]  # searches: how many products matched
    product_id: Mapped[int | None]  # clicks: the product opened (no FK: history outlives it)
    position: Mapped[int | None]  # clicks: 1-based rank in the results
    visitor: Mapped[str] = mapped_column(String(32), default="")  # anonymous per-browser key
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
