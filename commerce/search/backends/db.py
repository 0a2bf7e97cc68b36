"""The embedded backend: the catalog's own database answers searches, with no other service.

Documents live in search_document, one generation at a time (a rebuild fills a new one and
the swap is one UPDATE of search_generation). Full text:

- SQLite: an FTS5 table per generation (search_fts_<id>, external content over
  search_document's title and body) with prefix indexes; ranked by bm25, title weighted 10:1.
- PostgreSQL: search_document.tsv (title weight A, the rest B) under a GIN index, ranked by
  ts_rank; typo candidates come from the generation's vocabulary through pg_trgm similarity.

Both: the last query word matches as a prefix ("blu" finds blue); every query word may carry
typos by its length (5 letters: one, 9: two; a wrong first letter counts double) against the
vocabulary in search_term; synonyms and stop words come from the merchandising settings.
Every word must match. Documents with no typo rank first. Facet values are rows of
search_facet, counted over the matching documents; filters are id sets from the same table,
and the boost/bury conditions (`any_of` / `none_of`) EXISTS tests on its primary key.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    table,
    true,
    update,
)
from sqlalchemy import (
    text as sql,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement

from commerce.db import forget, once_per_transaction, transaction, utcnow
from commerce.extensions import db
from commerce.search import text
from commerce.search.documents import facet_values, searchable_text
from commerce.search.highlight import mark_words
from commerce.search.models import (
    BUILDING,
    LIVE,
    RETIRED,
    SearchDocument,
    SearchFacet,
    SearchGeneration,
    SearchTerm,
)
from commerce.search.port import (
    BEST_SELLING,
    CATEGORY,
    COLLECTION,
    IN_STOCK,
    NEWEST,
    OPTION,
    PRICE_ASC,
    PRICE_DESC,
    PRODUCT_TYPE,
    TAG,
    VENDOR,
    Condition,
    Hit,
    IndexSettings,
    Rebuild,
    SearchBackend,
    SearchQuery,
    SearchResult,
    top_values,
)

NAME = "db"
STANDBY = "db-standby"
MAX_TYPO_CANDIDATES = 8
RETIRED_GRACE = timedelta(minutes=2)
FACET_CACHE_SIZE = 256
_facet_cache: dict[Any, dict[str, dict[str, int]]] = {}
TITLE_WEIGHT, BODY_WEIGHT = 10.0, 1.0
_doc = SearchDocument.__table__
_facet = SearchFacet.__table__
_term = SearchTerm.__table__


def _weighted(param: str, weight: str) -> Any:
    """setweight(to_tsvector('simple', :param), 'W') with literal config and weight (their
    types must reach PostgreSQL as regconfig and "char", not as text parameters)."""
    return func.setweight(
        func.to_tsvector(literal_column("'simple'::regconfig"), bindparam(param)),
        literal_column(f"'{weight}'::\"char\""),
    )


INDEX_LOCK = 7_340_611  # pg_advisory_xact_lock key: one writer of the index at a time


def lock_index_writes() -> None:
    """Serialize index writers on PostgreSQL (workers applying events, a rebuild's batches):
    two writers of one product's document would otherwise collide. SQLite has one writer."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sql("SELECT pg_advisory_xact_lock(:key)"), {"key": INDEX_LOCK})


def _any_condition(conditions: Sequence[Condition]) -> ColumnElement[bool]:
    """Documents matching at least one boost/bury condition: in_stock tests the column, the
    others an EXISTS on the facet table's primary key (doc_id, facet, value); SQLite and
    PostgreSQL alike."""
    stock = {value == "true" for facet, value in conditions if facet == IN_STOCK}
    by_facet: dict[str, list[str]] = {}
    for facet, value in conditions:
        if facet != IN_STOCK:
            by_facet.setdefault(facet, []).append(str(value))
    cond = _facet.alias("cond")  # never correlated with a facet count around the filter
    clauses: list[ColumnElement[bool]] = [
        exists()
        .where(
            cond.c.doc_id == _doc.c.id,
            cond.c.facet == facet,
            cond.c.value.in_(list(dict.fromkeys(values))),
        )
        .correlate(_doc)
        for facet, values in by_facet.items()
    ]
    if stock == {True, False}:
        return true()
    clauses += [_doc.c.in_stock.is_(flag) for flag in stock]
    return or_(*clauses) if clauses else false()


def fts_name(generation_id: int) -> str:
    return f"search_fts_{int(generation_id)}"


@dataclass
class Group:
    """One query word: a document matches it through any alternative."""

    word: str
    exact: list[str] = field(default_factory=list)
    prefix: str | None = None
    phrases: list[list[str]] = field(default_factory=list)
    typos: list[str] = field(default_factory=list)


@dataclass
class Plan:
    groups: list[Group]

    @property
    def has_typos(self) -> bool:
        return any(g.typos for g in self.groups)

    def marked(self) -> tuple[set[str], list[str]]:
        exact: set[str] = set()
        prefixes: list[str] = []
        for group in self.groups:
            exact.update(group.exact)
            exact.update(group.typos)
            for phrase in group.phrases:
                exact.update(phrase)
            if group.prefix:
                prefixes.append(group.prefix)
        return exact, prefixes


def _sqlite_expr(plan: Plan, *, typos: bool = True) -> str:
    clauses = []
    for group in plan.groups:
        alternatives = [f'"{t}"' for t in group.exact]
        if group.prefix:
            alternatives.append(f'"{group.prefix}"*')
        alternatives += ['"' + " ".join(p) + '"' for p in group.phrases]
        if typos:
            alternatives += [f'"{t}"' for t in group.typos]
        clauses.append("(" + " OR ".join(dict.fromkeys(alternatives)) + ")")
    return " AND ".join(clauses)


def _pg_expr(plan: Plan, *, typos: bool = True) -> str:
    clauses = []
    for group in plan.groups:
        alternatives = [f"'{t}'" for t in group.exact]
        if group.prefix:
            alternatives.append(f"'{group.prefix}':*")
        alternatives += ["(" + " <-> ".join(f"'{w}'" for w in p) + ")" for p in group.phrases]
        if typos:
            alternatives += [f"'{t}'" for t in group.typos]
        clauses.append("(" + " | ".join(dict.fromkeys(alternatives)) + ")")
    return " & ".join(clauses)


class DatabaseRebuild(Rebuild):
    def __init__(self, backend: DatabaseBackend, generation_id: int) -> None:
        self.backend = backend
        self.generation_id = generation_id
        self.name = fts_name(generation_id)

    def add(self, documents: Sequence[dict[str, Any]]) -> None:
        with transaction():
            lock_index_writes()
            self.backend._write([self.generation_id], documents)

    def swap(self) -> None:
        """Make the new generation live and the old one retired, in one transaction."""
        forget_live()
        with transaction():
            db.session.execute(
                update(SearchGeneration)
                .where(
                    SearchGeneration.backend == self.backend.name,
                    SearchGeneration.status == LIVE,
                    SearchGeneration.id != self.generation_id,
                )
                .values(status=RETIRED, retired_at=utcnow())
            )
            db.session.execute(
                update(SearchGeneration)
                .where(SearchGeneration.id == self.generation_id)
                .values(status=LIVE, finished_at=utcnow())
            )
            if self.backend._dialect() == "postgresql":
                # Fresh statistics, so the planner sees the new generation's rows at once.
                db.session.execute(sql("ANALYZE search_document, search_facet, search_term"))

    def abort(self) -> None:
        with transaction():
            self.backend.drop_generation(self.generation_id)


LIVE_MEMO = "memo.search.live"  # the live generation, read once per transaction
_THRESHOLDS = "memo.search.trigram_thresholds"


def _trigram_thresholds() -> None:
    """Lower thresholds than pg_trgm's defaults (transpositions in short words); the typo
    distance decides. For this transaction only, set before its first trigram lookup (a
    search whose words are too short for typos makes none)."""
    once_per_transaction(
        _THRESHOLDS,
        lambda: db.session.execute(
            sql(
                "SELECT set_config('pg_trgm.similarity_threshold', '0.15', true), "
                "set_config('pg_trgm.word_similarity_threshold', '0.3', true)"
            )
        ).all(),
    )


def forget_live() -> None:
    """A write moved a generation's state: the next read asks the database again."""
    for key in [k for k in db.session().info if isinstance(k, str) and k.startswith(LIVE_MEMO)]:
        forget(key)


class DatabaseBackend(SearchBackend):
    """`name` tells its generations apart: "db" when it is the shop's backend, STANDBY when
    it keeps a warm copy of the index for searches while Meilisearch is down."""

    name = NAME

    def __init__(self, config: dict[str, Any] | None = None, *, name: str = NAME) -> None:
        self.config = dict(config or {})
        self.name = name

    # -- generations ----------------------------------------------------------------------------

    @staticmethod
    def _dialect() -> str:
        return db.session.get_bind().dialect.name

    def live_generation(self) -> int | None:
        live = self._live()
        return live[0] if live else None

    def _live(self) -> tuple[int, tuple[Any, ...]] | None:
        """The live generation's id, and what identifies its state: the revision moves with
        every write (with the start time: a rolled-back build can reuse an id, never both).
        Read once per transaction (writes forget it)."""

        def read() -> tuple[int, tuple[Any, ...]] | None:
            row = db.session.execute(
                select(SearchGeneration.id, SearchGeneration.revision, SearchGeneration.started_at)
                .where(SearchGeneration.backend == self.name, SearchGeneration.status == LIVE)
                .order_by(SearchGeneration.id.desc())
                .limit(1)
            ).first()
            return (row[0], (row[1], row[2])) if row else None

        return once_per_transaction(f"{LIVE_MEMO}.{self.name}", read)

    @staticmethod
    def _touch(generations: Sequence[int]) -> None:
        forget_live()
        db.session.execute(
            update(SearchGeneration)
            .where(SearchGeneration.id.in_(list(generations)))
            .values(revision=SearchGeneration.revision + 1)
        )

    def open_generations(self) -> list[int]:
        return list(
            db.session.scalars(
                select(SearchGeneration.id).where(
                    SearchGeneration.backend == self.name,
                    SearchGeneration.status.in_((LIVE, BUILDING)),
                )
            )
        )

    def has_index(self) -> bool:
        return self.live_generation() is not None

    def _create_storage(self, generation_id: int) -> None:
        if self._dialect() == "sqlite":
            db.session.execute(
                sql(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts_name(generation_id)} USING fts5("
                    "title, body, content='search_document', content_rowid='id', "
                    "prefix='2 3 4', tokenize='unicode61 remove_diacritics 2')"
                )
            )

    def start_rebuild(self, generation_id: int, settings: IndexSettings) -> DatabaseRebuild:
        with transaction():
            self._create_storage(generation_id)
        return DatabaseRebuild(self, generation_id)

    def drop_generation(self, generation_id: int) -> None:
        """Remove a generation's rows and FTS table (inside the caller's transaction)."""
        docs = select(_doc.c.id).where(_doc.c.generation_id == generation_id)
        db.session.execute(delete(_facet).where(_facet.c.doc_id.in_(docs)))
        db.session.execute(delete(_doc).where(_doc.c.generation_id == generation_id))
        db.session.execute(delete(_term).where(_term.c.generation_id == generation_id))
        if self._dialect() == "sqlite":
            db.session.execute(sql(f"DROP TABLE IF EXISTS {fts_name(generation_id)}"))
        db.session.execute(delete(SearchGeneration).where(SearchGeneration.id == generation_id))

    def purge_retired(self, *, grace: timedelta = RETIRED_GRACE) -> int:
        """Drop generations retired longer than `grace` ago (searches that started on them
        before the swap have finished by then)."""
        cutoff = utcnow() - grace
        ids = list(
            db.session.scalars(
                select(SearchGeneration.id).where(
                    SearchGeneration.backend == self.name,
                    SearchGeneration.status == RETIRED,
                    SearchGeneration.retired_at <= cutoff,
                )
            )
        )
        for generation_id in ids:
            with transaction():
                self.drop_generation(generation_id)
        return len(ids)

    # -- writes ---------------------------------------------------------------------------------

    def configure(self, settings: IndexSettings) -> None:
        """Nothing to push: the settings are read from the database at query time."""

    def index(self, documents: Sequence[dict[str, Any]]) -> None:
        if not documents:
            return
        with transaction():
            lock_index_writes()
            generations = self.open_generations()
            if generations:
                self._write(generations, documents)
                self._touch(generations)

    def delete(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with transaction():
            lock_index_writes()
            generations = self.open_generations()
            for generation_id in generations:
                self._remove(generation_id, [int(i) for i in ids])
            if generations:
                self._touch(generations)

    def _remove(self, generation_id: int, product_ids: list[int]) -> None:
        rows = db.session.execute(
            select(_doc.c.id, _doc.c.title, _doc.c.body).where(
                _doc.c.generation_id == generation_id, _doc.c.product_id.in_(product_ids)
            )
        ).all()
        if not rows:
            return
        doc_ids = [r.id for r in rows]
        if self._dialect() == "sqlite":
            fts = fts_name(generation_id)
            db.session.execute(
                sql(f"INSERT INTO {fts}({fts}, rowid, title, body) VALUES('delete', :id, :t, :b)"),
                [{"id": r.id, "t": r.title, "b": r.body} for r in rows],
            )
        db.session.execute(delete(_facet).where(_facet.c.doc_id.in_(doc_ids)))
        db.session.execute(delete(_doc).where(_doc.c.id.in_(doc_ids)))

    def _write(self, generations: Sequence[int], documents: Sequence[dict[str, Any]]) -> None:
        dialect = self._dialect()
        prepared = []
        for document in documents:
            title, body = searchable_text(document)
            prepared.append((document, title, body))
        for generation_id in generations:
            self._remove(generation_id, [d["id"] for d in documents])
            rows = [
                {
                    "generation_id": generation_id,
                    "product_id": document["id"],
                    "title": title,
                    "body": body,
                    "price_min": document["price_min"],
                    "price_max": document["price_max"],
                    "in_stock": bool(document["in_stock"]),
                    "popularity": document["popularity"],
                    "created_ts": document["created_at"],
                    "data": document,
                }
                for document, title, body in prepared
            ]
            stmt = insert(_doc)
            if dialect == "postgresql":
                stmt = stmt.values(tsv=_weighted("w_title", "A").op("||")(_weighted("w_body", "B")))
                for row in rows:
                    row["w_title"], row["w_body"] = row["title"], row["body"]
            inserted = db.session.execute(
                stmt.returning(_doc.c.id, _doc.c.product_id, sort_by_parameter_order=True), rows
            ).all()
            doc_ids = {product_id: doc_id for doc_id, product_id in inserted}
            if dialect == "sqlite":
                fts = fts_name(generation_id)
                db.session.execute(
                    sql(f"INSERT INTO {fts}(rowid, title, body) VALUES (:id, :t, :b)"),
                    [
                        {"id": doc_ids[document["id"]], "t": title, "b": body}
                        for document, title, body in prepared
                    ],
                )
            facets = [
                {"doc_id": doc_ids[document["id"]], "facet": name, "value": value}
                for document, _t, _b in prepared
                for name, value in facet_values(document)
            ]
            if facets:
                db.session.execute(insert(_facet), facets)
            vocabulary = sorted(
                {
                    token
                    for _d, title, body in prepared
                    for token in f"{title} {body}".split()
                    if 1 < len(token) <= 64 and token.isalpha()
                }
            )
            if vocabulary:
                upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(_term)
                db.session.execute(
                    upsert.on_conflict_do_nothing(),
                    [{"generation_id": generation_id, "term": t} for t in vocabulary],
                )

    # -- queries --------------------------------------------------------------------------------

    def plan(self, query_text: str, settings: IndexSettings, generation_id: int) -> Plan | None:
        words = text.query_words(query_text)[:10]
        if not words:
            return None
        kept = [w for w in words if w not in settings.stop_words]
        words = kept or words
        groups: list[Group] = []
        for index, word in enumerate(words):
            group = Group(word=word)
            if index == len(words) - 1:
                group.prefix = word
            else:
                group.exact.append(word)
            for alternative in settings.synonyms.get(word, ()):
                parts = alternative.split()
                if len(parts) == 1:
                    group.exact.append(parts[0])
                else:
                    group.phrases.append(parts)
            group.typos = self._typo_terms(
                word, settings, generation_id, prefix=group.prefix is not None
            )
            groups.append(group)
        return Plan(groups)

    def _typo_terms(
        self, word: str, settings: IndexSettings, generation_id: int, *, prefix: bool
    ) -> list[str]:
        """Vocabulary words within the word's typo budget; for the last word (a prefix), words
        that begin with something within it ("shirt" reaches "shorts" through "short")."""
        typo = settings.typo
        if not typo.enabled or word in typo.disabled_words or word.isdigit():
            return []
        budget = text.typo_budget(word, one_typo=typo.one_typo, two_typos=typo.two_typos)
        if not budget:
            return []
        length = func.length(_term.c.term)
        stmt = select(_term.c.term).where(
            _term.c.generation_id == generation_id,
            length >= len(word) - budget,
            *([] if prefix else [length <= len(word) + budget]),
        )
        if self._dialect() == "postgresql":
            _trigram_thresholds()
            close = _term.c.term.op("%")(word)
            if prefix:
                close = or_(close, literal(word).op("<%")(_term.c.term))
            stmt = stmt.where(close).order_by(func.similarity(_term.c.term, word).desc())
            stmt = stmt.limit(300)
        else:
            # A wrong first letter costs two typos: the candidates share the first letter.
            first = word[0]
            stmt = stmt.where(_term.c.term >= first, _term.c.term < chr(ord(first) + 1))
        scored = []
        for (term,) in db.session.execute(stmt):
            if term == word or (prefix and term.startswith(word)):
                continue  # matched without a typo
            distance = text.typo_distance(word, term, budget)
            if prefix and distance > budget:
                distance = min(
                    text.typo_distance(word, term[:size], budget)
                    for size in range(max(len(word) - budget, 1), len(word) + budget + 1)
                )
            if distance <= budget:
                scored.append((distance, term))
        return [term for _d, term in sorted(scored)[:MAX_TYPO_CANDIDATES]]

    def _filters(self, query: SearchQuery) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []

        def having(facet: str, values: Sequence[str]) -> ColumnElement[bool]:
            return _doc.c.id.in_(
                select(_facet.c.doc_id).where(
                    _facet.c.facet == facet, _facet.c.value.in_(list(values))
                )
            )

        for facet, values in (
            (CATEGORY, [str(v) for v in query.categories]),
            (COLLECTION, [str(v) for v in query.collections]),
            (VENDOR, list(query.vendors)),
            (PRODUCT_TYPE, list(query.product_types)),
            (TAG, list(query.tags)),
        ):
            if values:
                clauses.append(having(facet, values))
        for values in query.option_groups().values():
            clauses.append(having(OPTION, values))
        if query.price_min is not None:
            clauses.append(_doc.c.price_max >= query.price_min)
        if query.price_max is not None:
            clauses.append(_doc.c.price_min <= query.price_max)
        if query.in_stock:
            clauses.append(_doc.c.in_stock.is_(True))
        if query.include_ids is not None:
            clauses.append(_doc.c.product_id.in_(list(query.include_ids)))
        if query.exclude_ids:
            clauses.append(_doc.c.product_id.not_in(list(query.exclude_ids)))
        if query.any_of:
            clauses.append(_any_condition(query.any_of))
        if query.none_of:
            clauses.append(~_any_condition(query.none_of))
        return clauses

    def _facet_counts(
        self,
        query: SearchQuery,
        where: list[Any],
        generation_id: int,
        revision: tuple[Any, ...],
        cacheable: bool,
    ) -> dict[str, dict[str, int]]:
        """Facet values counted over the matching documents. Browsing without words (a
        category page) repeats the same few questions: those answers are kept until the
        generation's next write (its revision), so they are never stale."""
        key = None
        if cacheable:
            filters = replace(query, sort="relevance", page=1, offset=None, limit=None)
            key = (db.engine.url.render_as_string(), generation_id, revision, filters)
            found = _facet_cache.get(key)
            if found is not None:
                return found
        counts: dict[str, dict[str, int]] = {}
        wanted = set(query.facets)
        # Driven by the matching ids through the facet table's primary key (doc_id first).
        for facet, value, count in db.session.execute(
            select(_facet.c.facet, _facet.c.value, func.count())
            .where(_facet.c.doc_id.in_(select(_doc.c.id).where(*where)))
            .group_by(_facet.c.facet, _facet.c.value)
        ):
            if facet in wanted:
                counts.setdefault(facet, {})[value] = count
        facets = {name: top_values(values) for name, values in counts.items()}
        if key is not None:
            if len(_facet_cache) >= FACET_CACHE_SIZE:
                _facet_cache.pop(next(iter(_facet_cache)))
            _facet_cache[key] = facets
        return facets

    def _pg_text_search(
        self, query: SearchQuery, plan: Plan, generation_id: int, started: float
    ) -> SearchResult:
        """Words on PostgreSQL: the matches (with their rank) are found once, in a
        materialized CTE, and the count, the page (with its documents) and the facet counts
        come from it in one statement."""
        tsquery = func.to_tsquery("simple", _pg_expr(plan))
        typo = (
            case(
                (_doc.c.tsv.op("@@")(func.to_tsquery("simple", _pg_expr(plan, typos=False))), 0),
                else_=1,
            )
            if plan.has_typos
            else literal(0)
        )
        matched = (
            select(
                _doc.c.id,
                _doc.c.product_id,
                _doc.c.price_min,
                _doc.c.price_max,
                _doc.c.created_ts,
                _doc.c.popularity,
                typo.label("typo"),
                func.ts_rank(_doc.c.tsv, tsquery).label("score"),
            )
            .where(
                _doc.c.generation_id == generation_id,
                _doc.c.tsv.op("@@")(tsquery),
                *self._filters(query),
            )
            .cte("matched")
            .prefix_with("MATERIALIZED")
        )

        def ordering(c: Any) -> list[Any]:
            first = {
                PRICE_ASC: [c.price_min.asc()],
                PRICE_DESC: [c.price_max.desc()],
                NEWEST: [c.created_ts.desc()],
                BEST_SELLING: [c.popularity.desc()],
            }.get(query.sort, [])
            return [*first, c.typo.asc(), c.score.desc(), c.popularity.desc(), c.product_id.asc()]

        offset, limit = query.window
        page = (
            select(matched).order_by(*ordering(matched.c)).offset(offset).limit(limit)
        ).subquery("page")
        parts = [
            select(
                func.json_build_array(
                    func.count(), func.min(matched.c.price_min), func.max(matched.c.price_max)
                )
            )
            .select_from(matched)
            .scalar_subquery(),
            # the page's documents come along (joined for the page's rows only)
            select(
                func.json_agg(
                    aggregate_order_by(
                        func.json_build_array(page.c.product_id, _doc.c.data), *ordering(page.c)
                    )
                )
            )
            .select_from(page.join(_doc, _doc.c.id == page.c.id))
            .scalar_subquery(),
        ]
        if query.facets:
            counted = (
                select(_facet.c.facet, _facet.c.value, func.count().label("n"))
                .select_from(_facet.join(matched, matched.c.id == _facet.c.doc_id))
                .group_by(_facet.c.facet, _facet.c.value)
                .subquery("counted")
            )
            parts.append(
                select(
                    func.json_agg(
                        func.json_build_array(counted.c.facet, counted.c.value, counted.c.n)
                    )
                )
                .select_from(counted)
                .scalar_subquery()
            )
        answer = db.session.execute(select(*parts)).one()
        total, low, high = answer[0]
        page_rows = answer[1] or []
        ids = [product_id for product_id, _ in page_rows]
        data = dict(page_rows)
        facets: dict[str, dict[str, int]] = {}
        if query.facets:
            for facet, value, count in answer[2] or []:
                if facet in query.facets:
                    facets.setdefault(facet, {})[value] = int(count)
            facets = {name: top_values(values) for name, values in facets.items()}
        exact, prefixes = plan.marked()
        hits = []
        for product_id in ids:
            hit = Hit(id=product_id, document=data[product_id])
            if query.highlight:
                hit.highlights["title"] = mark_words(hit.document.get("title", ""), exact, prefixes)
            hits.append(hit)
        return SearchResult(
            hits=hits,
            total=int(total),
            facets=facets,
            took_ms=(time.perf_counter() - started) * 1000,
            query=query,
            price_range=(int(low), int(high)) if total else None,
            backend=self.name,
        )

    def search(self, query: SearchQuery, settings: IndexSettings) -> SearchResult:
        started = time.perf_counter()
        live = self._live()
        if live is None:
            return SearchResult([], 0, {}, 0.0, query, backend=self.name)
        generation_id, revision = live
        plan = self.plan(query.text, settings, generation_id)
        if plan is not None and self._dialect() == "postgresql":
            return self._pg_text_search(query, plan, generation_id, started)
        sqlite_text = plan is not None
        # On SQLite the FTS table belongs to the generation: its ids need no generation test,
        # and leaving it out lets SQLite drive the lookups from the FTS matches.
        where = [
            *([] if sqlite_text else [_doc.c.generation_id == generation_id]),
            *self._filters(query),
        ]
        page_source: Any = _doc
        page_where = list(where)
        relevance: list[Any] = []
        if plan is not None:  # SQLite (PostgreSQL answered above)
            fts = fts_name(generation_id)
            fts_table = table(fts)
            match = literal_column(fts).op("MATCH")
            rowid = literal_column("rowid")
            # Counting and facets: the matches as an id set (SQLite drives the lookup
            # from the FTS result instead of probing FTS once per document).
            where.append(
                _doc.c.id.in_(select(rowid).select_from(fts_table).where(match(_sqlite_expr(plan))))
            )
            # The page: the matches with their bm25 scores, computed once.
            scores = (
                select(
                    rowid.label("rid"),
                    func.bm25(literal_column(fts), TITLE_WEIGHT, BODY_WEIGHT).label("score"),
                )
                .select_from(fts_table)
                .where(match(_sqlite_expr(plan)))
                .cte("matched")
                .prefix_with("MATERIALIZED")
            )
            page_source = scores.join(_doc, scores.c.rid == _doc.c.id)
            if plan.has_typos:
                exact_ids = (
                    select(rowid)
                    .select_from(fts_table)
                    .where(match(_sqlite_expr(plan, typos=False)))
                )
                relevance.append(case((_doc.c.id.in_(exact_ids), 0), else_=1))
            relevance.append(scores.c.score.asc())
        tail = [*relevance, _doc.c.popularity.desc(), _doc.c.product_id.asc()]
        order = {
            PRICE_ASC: [_doc.c.price_min.asc()],
            PRICE_DESC: [_doc.c.price_max.desc()],
            NEWEST: [_doc.c.created_ts.desc()],
            BEST_SELLING: [_doc.c.popularity.desc()],
        }.get(query.sort, [])
        offset, limit = query.window
        total, low, high = db.session.execute(
            select(func.count(), func.min(_doc.c.price_min), func.max(_doc.c.price_max)).where(
                *where
            )
        ).one()
        rows = []
        if limit > 0 and offset < total:
            rows = db.session.execute(
                select(_doc.c.product_id, _doc.c.data)
                .select_from(page_source)
                .where(*page_where)
                .order_by(*order, *tail)
                .offset(offset)
                .limit(limit)
            ).all()
        facets: dict[str, dict[str, int]] = {}
        if query.facets and total:
            facets = self._facet_counts(query, where, generation_id, revision, plan is None)
        hits = []
        exact, prefixes = plan.marked() if plan is not None else (set(), [])
        for product_id, data in rows:
            hit = Hit(id=product_id, document=data)
            if query.highlight and plan is not None:
                hit.highlights["title"] = mark_words(data.get("title", ""), exact, prefixes)
            hits.append(hit)
        return SearchResult(
            hits=hits,
            total=int(total),
            facets=facets,
            took_ms=(time.perf_counter() - started) * 1000,
            query=query,
            price_range=(int(low), int(high)) if total else None,
            backend=self.name,
        )
