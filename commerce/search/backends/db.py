"""The embedded backend: the catalog's own database answers searches, with no other service.

Documents live in search_document, one generation at a time (a rebuild fills a new one and
the swap is one UPDATE of search_generation). Full text:

- SQLite: an FTS5 table per generation (search_fts_<id>, external content over
  search_document's title and body) with prefix indexes.
- PostgreSQL: search_document.lexemes (every word, no positions, kept in the row) and
  title_lexemes under GIN indexes; tsv (title weight A, the rest B, with positions) answers
  the rare phrase (a multi-word synonym).

Both: the last query word matches as a prefix ("blu" finds blue); every query word may carry
typos by its length (5 letters: one, 9: two; a wrong first letter counts double) against the
generation's vocabulary (search_term, held in memory: vocabulary.py); synonyms and stop words
come from the merchandising settings. Every word must match. Facet values are rows of
search_facet (facet counts read them); filters are id sets from that table on SQLite and, on
PostgreSQL, a test of search_document.facets (the same values as "facet:value", GIN-indexed).
Ranking, counting and facet counts are bounded whatever the number of matches: see Bounded
below.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy import (
    text as sql,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from commerce.db import forget, once_per_transaction, transaction, utcnow
from commerce.extensions import db
from commerce.search import text
from commerce.search.documents import facet_values, searchable_text, shopper_words
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
    FACETS,
    NEWEST,
    OPTION,
    PRICE_ASC,
    PRICE_DESC,
    PRODUCT_TYPE,
    TAG,
    VENDOR,
    Hit,
    IndexSettings,
    Rebuild,
    SearchBackend,
    SearchQuery,
    SearchResult,
    top_values,
)
from commerce.search.vocabulary import vocabulary

NAME = "db"
STANDBY = "db-standby"
MAX_TYPO_CANDIDATES = 8
RETIRED_GRACE = timedelta(minutes=2)
_doc = SearchDocument.__table__
_facet = SearchFacet.__table__
_term = SearchTerm.__table__


def facet_token(facet: str, value: Any) -> str:
    """A facet value as kept in search_document.facets (PostgreSQL): "category:12"."""
    return f"{facet}:{value}"


def facet_tokens(values: Sequence[tuple[str, Any]]) -> list[str]:
    return sorted({facet_token(name, value) for name, value in values})


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

    @property
    def has_phrases(self) -> bool:
        return any(g.phrases for g in self.groups)

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


def _pg_expr(plan: Plan, *, typos: bool = True, weight: str = "") -> str:
    """The plan as a tsquery; `weight` ("A": the title) restricts every word to it."""
    clauses = []
    for group in plan.groups:
        alternatives = [f"'{t}':{weight}" if weight else f"'{t}'" for t in group.exact]
        if group.prefix:
            alternatives.append(f"'{group.prefix}':*{weight}")
        alternatives += [
            "(" + " <-> ".join(f"'{w}':{weight}" if weight else f"'{w}'" for w in p) + ")"
            for p in group.phrases
        ]
        if typos:
            alternatives += [f"'{t}':{weight}" if weight else f"'{t}'" for t in group.typos]
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
        every write (with the start time: a rolled-back build can reuse an id, never both),
        and the revision of its vocabulary. Read once per transaction (writes forget it)."""

        def read() -> tuple[int, tuple[Any, ...]] | None:
            row = db.session.execute(
                select(
                    SearchGeneration.id,
                    SearchGeneration.revision,
                    SearchGeneration.started_at,
                    SearchGeneration.vocabulary_revision,
                )
                .where(SearchGeneration.backend == self.name, SearchGeneration.status == LIVE)
                .order_by(SearchGeneration.id.desc())
                .limit(1)
            ).first()
            return (row[0], (row[1], row[2], row[3])) if row else None

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
                title_tsv = _weighted("w_title", "A")
                stmt = stmt.values(
                    tsv=title_tsv.op("||")(_weighted("w_body", "B")),
                    lexemes=func.strip(
                        func.to_tsvector(literal_column("'simple'::regconfig"), bindparam("w_all"))
                    ),
                    title_lexemes=func.strip(
                        func.to_tsvector(
                            literal_column("'simple'::regconfig"), bindparam("w_title2")
                        )
                    ),
                )
                for row, (document, _t, _b) in zip(rows, prepared, strict=True):
                    row["facets"] = facet_tokens(facet_values(document))
                    row["w_title"], row["w_body"] = row["title"], row["body"]
                    row["w_all"] = f"{row['title']} {row['body']}"
                    row["w_title2"] = row["title"]
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
                {token for document, _t, _b in prepared for token in shopper_words(document)}
            )
            known = set(
                db.session.scalars(
                    select(_term.c.term).where(
                        _term.c.generation_id == generation_id, _term.c.term.in_(vocabulary)
                    )
                )
                if vocabulary
                else ()
            )
            fresh = [t for t in vocabulary if t not in known]
            if fresh:
                upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(_term)
                db.session.execute(
                    upsert.on_conflict_do_nothing(),
                    [{"generation_id": generation_id, "term": t} for t in fresh],
                )
                db.session.execute(
                    update(SearchGeneration)
                    .where(SearchGeneration.id == generation_id)
                    .values(vocabulary_revision=SearchGeneration.vocabulary_revision + 1)
                )

    # -- queries --------------------------------------------------------------------------------

    def plan(
        self, query_text: str, settings: IndexSettings, generation_id: int, words_at: Any = 0
    ) -> Plan | None:
        """The query's words with their alternatives: synonyms, and typo candidates from the
        generation's vocabulary (held in memory, vocabulary.py; `words_at` is its revision)."""
        words = text.query_words(query_text)[:10]
        if not words:
            return None
        kept = [w for w in words if w not in settings.stop_words]
        words = kept or words
        if len(words) > 1 and len(words[-1]) == 1 and not words[-1].isdigit():
            # A one-letter last word (still being typed) narrows almost nothing and makes
            # the index read every word with that letter first: it is left out.
            words = words[:-1]
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
                word, settings, generation_id, words_at, prefix=group.prefix is not None
            )
            groups.append(group)
        return Plan(groups)

    def _typo_terms(
        self,
        word: str,
        settings: IndexSettings,
        generation_id: int,
        words_at: Any,
        *,
        prefix: bool,
    ) -> list[str]:
        """Vocabulary words within the word's typo budget; for the last word (a prefix), words
        that begin with something within it ("shirt" reaches "shorts" through "short")."""
        typo = settings.typo
        if not typo.enabled or word in typo.disabled_words or word.isdigit():
            return []
        budget = text.typo_budget(word, one_typo=typo.one_typo, two_typos=typo.two_typos)
        if not budget:
            return []
        words = vocabulary(generation_id, words_at)
        return words.typo_candidates(word, budget, prefix=prefix, limit=MAX_TYPO_CANDIDATES)

    def search(self, query: SearchQuery, settings: IndexSettings) -> SearchResult:
        """Bounded work whatever the number of matches (see Bounded)."""
        started = time.perf_counter()
        live = self._live()
        if live is None:
            return SearchResult([], 0, {}, 0.0, query, backend=self.name)
        generation_id, revision = live
        key = None
        if query.text and query.facet_sample is not None:  # suggestions (see _answers)
            key = (
                db.engine.url.render_as_string(),
                self.name,
                generation_id,
                revision,
                _settings_key(settings),
                query,
            )
            with _answers_lock:
                kept = _answers.get(key)
                if kept is not None:
                    _answers.move_to_end(key)
            if kept is not None:
                result = copy.deepcopy(kept)
                result.took_ms = (time.perf_counter() - started) * 1000
                return result
        plan = self.plan(query.text, settings, generation_id, revision[1:])
        bounded = Bounded(self, query, plan, generation_id, revision)
        result = bounded.answer_sqlite() if self._dialect() == "sqlite" else bounded.answer_pg()
        result.took_ms = (time.perf_counter() - started) * 1000
        if key is not None:
            with _answers_lock:
                _answers[key] = copy.deepcopy(result)
                while len(_answers) > ANSWER_CACHE_SIZE:
                    _answers.popitem(last=False)
        return result


# Suggestions as the shopper types repeat the same few prefixes ("te", "tent"): their answers
# are kept per index state, the key holding the live generation with its revision (moved by
# every index write), the settings' content and the whole query (rules' hidden products are
# in its exclude_ids), so a kept answer is never stale. Searches proper are not kept.
ANSWER_CACHE_SIZE = 1024
_answers: OrderedDict[Any, SearchResult] = OrderedDict()
_answers_lock = threading.Lock()
_settings_keys: dict[int, tuple[IndexSettings, Any]] = {}


def _settings_key(settings: IndexSettings) -> Any:
    """What the settings say, hashable (worked out once per settings object)."""
    known = _settings_keys.get(id(settings))
    if known is not None and known[0] is settings:
        return known[1]
    key = (
        tuple(sorted((word, tuple(v)) for word, v in settings.synonyms.items())),
        tuple(settings.stop_words),
        repr(settings.typo),
        settings.revision,
    )
    if len(_settings_keys) > 16:
        _settings_keys.clear()
    _settings_keys[id(settings)] = (settings, key)
    return key


# -- bounded search -----------------------------------------------------------------------------

FACET_SAMPLE = 300  # facet counts of a broader match are estimated from this many of its matches
WALK_MIN = 2000  # SQLite: a tier with this many matches is walked in rank order, a smaller one read
PG_COUNT_LIMIT = 500  # PostgreSQL counts matches exactly up to here and estimates beyond
PG_SAMPLE_PERCENT = 1  # PostgreSQL: the share of the index's pages an estimate reads
PG_READ_WHOLE = 5000  # PostgreSQL: a search with fewer matches is read whole and sorted
# PostgreSQL: the matches a first statement's scans are planned for (they stop far earlier)
PG_PLAN_ROWS = 5000
PG_WALK = 1000  # PostgreSQL: a walk of a sort index reads at most this many rows, then reads whole
FACET_CACHE_SIZE = 256
# Searches without words: (facets, price range, facets exact, total) per index revision.
_facet_cache: OrderedDict[Any, tuple[dict[str, dict[str, int]], Any, bool, int]] = OrderedDict()
_SORT_KEYS = {
    PRICE_ASC: ("d.price_min", "ASC"),
    PRICE_DESC: ("d.price_max", "DESC"),
    NEWEST: ("d.created_ts", "DESC"),
    BEST_SELLING: ("d.popularity", "DESC"),
}
RANK_ORDER = "popularity DESC, product_id DESC"


class Params:
    """Bind parameters of a statement built as text (the planner-steering forms below cannot
    be said in SQLAlchemy's expression language without losing them)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"

    def many(self, values: Sequence[Any]) -> str:
        return ", ".join(self(v) for v in values)


@dataclass
class Bounded:
    """One search whose cost does not grow with the number of matches.

    Ranking is by buckets, as the Meilisearch backend's rules: documents with every word in
    the title first, then the other matches without typos, then those found through a typo;
    within a bucket the best sellers first (units sold in the last 30 days), then the newest.
    A shopper's sort (price, newest, best selling) comes before the buckets. Each bucket is
    read with LIMIT in that order: on the rank or sort index, stopping at the page, when the
    bucket is large (tested against an id set of the matches), or read whole and sorted when
    it is small. On SQLite the sizes come first, counted in the FTS index (cheap, no document
    row is read); on PostgreSQL its planner chooses from its statistics of the lexemes.

    Counting: SQLite counts every match in the FTS index (exact). PostgreSQL counts up to
    PG_COUNT_LIMIT and beyond estimates from a sample of the index's pages (TABLESAMPLE), said
    by total_exact. Facet counts (and the price range) come from at most FACET_SAMPLE matches,
    spread over the matches (SQLite: every k-th document id) or the first found (PostgreSQL),
    scaled to the total and said by facets_exact; a narrower search counts them exactly.
    """

    backend: DatabaseBackend
    query: SearchQuery
    plan: Plan | None
    generation_id: int
    revision: tuple[Any, ...]
    p: Params = field(default_factory=Params)

    # -- shared pieces --------------------------------------------------------------------------

    def filters(self) -> tuple[list[tuple[bool, str]], list[str]]:
        """(id sets: (negated, subquery), conditions on the document's columns `d`).

        PostgreSQL tests facet values in the row (d.facets, GIN-indexed): a filter is then
        one more condition of the same scan, whether the planner walks a sort index, reads
        the text match's bitmap, or combines both bitmaps. SQLite reads id sets of
        search_facet."""
        query, p = self.query, self.p
        sets: list[tuple[bool, str]] = []
        columns: list[str] = []
        in_row = self.backend._dialect() == "postgresql"

        def tokens(pairs: Sequence[tuple[str, Any]]) -> str:
            unique = list(dict.fromkeys(facet_token(f, v) for f, v in pairs))
            return f"ARRAY[{p.many(unique)}]::text[]"

        def facet_set(facet: str, values: Sequence[str]) -> str:
            return (
                f"SELECT doc_id FROM search_facet WHERE facet = {p(facet)} "
                f"AND value IN ({p.many(list(dict.fromkeys(values)))})"
            )

        for facet, values in (
            (CATEGORY, [str(v) for v in query.categories]),
            (COLLECTION, [str(v) for v in query.collections]),
            (VENDOR, list(query.vendors)),
            (PRODUCT_TYPE, list(query.product_types)),
            (TAG, list(query.tags)),
        ):
            if values and in_row:
                columns.append(f"d.facets && {tokens([(facet, v) for v in values])}")
            elif values:
                sets.append((False, facet_set(facet, values)))
        for values in query.option_groups().values():
            if in_row:
                columns.append(f"d.facets && {tokens([(OPTION, v) for v in values])}")
            else:
                sets.append((False, facet_set(OPTION, values)))
        for negated, conditions in ((False, query.any_of), (True, query.none_of)):
            if conditions and in_row:
                test = f"d.facets && {tokens([(f, str(v)) for f, v in conditions])}"
                columns.append(f"NOT ({test})" if negated else test)
            elif conditions:
                by_facet: dict[str, list[str]] = {}
                for facet, value in conditions:
                    by_facet.setdefault(facet, []).append(str(value))
                tests = " OR ".join(
                    f"(facet = {p(facet)} AND value IN ({p.many(list(dict.fromkeys(values)))}))"
                    for facet, values in by_facet.items()
                )
                sets.append((negated, f"SELECT doc_id FROM search_facet WHERE {tests}"))
        if query.price_min is not None:
            columns.append(f"d.price_max >= {p(int(query.price_min))}")
        if query.price_max is not None:
            columns.append(f"d.price_min <= {p(int(query.price_max))}")
        if query.in_stock:
            columns.append(f"d.in_stock = {p(True)}")
        if query.include_ids is not None:
            ids = [int(i) for i in query.include_ids]
            columns.append(f"d.product_id IN ({p.many(ids)})" if ids else "1 = 0")
        if query.exclude_ids:
            columns.append(f"d.product_id NOT IN ({p.many([int(i) for i in query.exclude_ids])})")
        return sets, columns

    def order(self) -> tuple[str | None, str]:
        """(the shopper's sort key as `d.column DIR`, or None for relevance; the tail)."""
        key = _SORT_KEYS.get(self.query.sort)
        return (f"{key[0]} {key[1]}" if key else None), f"d.{RANK_ORDER.replace(', ', ', d.')}"

    def hits(self, rows: Sequence[tuple[int, dict[str, Any]]]) -> list[Hit]:
        exact, prefixes = self.plan.marked() if self.plan is not None else (set(), [])
        hits = []
        for product_id, data in rows:
            hit = Hit(id=product_id, document=data)
            if self.query.highlight and self.plan is not None:
                hit.highlights["title"] = mark_words(data.get("title", ""), exact, prefixes)
            hits.append(hit)
        return hits

    @property
    def sample_size(self) -> int:
        return max(1, min(self.query.facet_sample or FACET_SAMPLE, FACET_SAMPLE))

    def facet_rows(self, column: str = "facet") -> str:
        """Only the facets asked for are read (suggestions ask for categories alone)."""
        wanted = sorted(set(self.query.facets))
        if len(wanted) == len(FACETS):
            return ""
        # SQLite's `+`: found by document (the primary key), never by scanning a facet's
        # values (PostgreSQL plans this by its statistics).
        plus = "+" if self.backend._dialect() == "sqlite" else ""
        return f" AND {plus}{column} IN ({self.p.many(wanted)})"

    def facet_answer(
        self, counted: Sequence[tuple[str, str, int]], sample: int, total: int
    ) -> tuple[dict[str, dict[str, int]], bool]:
        """Facet counts from `sample` matches of `total`, scaled up when it is a sample."""
        scale = total / sample if sample and sample < total else 1.0
        wanted = set(self.query.facets)
        counts: dict[str, dict[str, int]] = {}
        for facet, value, count in counted:
            if facet in wanted:
                counts.setdefault(facet, {})[value] = max(1, round(int(count) * scale))
        return {name: top_values(values) for name, values in counts.items()}, scale == 1.0

    def cache_key(self) -> Any:
        """Browsing without words repeats the same few questions: their totals and facet counts
        are kept until the generation's next write (its revision), so they are never stale."""
        if self.plan is not None:
            return None
        filters = replace(self.query, sort="relevance", page=1, offset=None, limit=None)
        return (db.engine.url.render_as_string(), self.generation_id, self.revision, filters)

    def cached_facets(self) -> tuple[dict[str, dict[str, int]], Any, bool, int] | None:
        key = self.cache_key()
        return _facet_cache.get(key) if key is not None else None

    def keep_facets(self, answer: tuple[dict[str, dict[str, int]], Any, bool, int]) -> None:
        key = self.cache_key()
        if key is None:
            return
        _facet_cache[key] = answer
        while len(_facet_cache) > FACET_CACHE_SIZE:
            _facet_cache.popitem(last=False)

    def result(
        self,
        hits: list[Hit],
        total: int,
        facets: dict[str, dict[str, int]],
        price_range: Any,
        *,
        total_exact: bool = True,
        facets_exact: bool = True,
    ) -> SearchResult:
        low_high = (int(price_range[0]), int(price_range[1])) if total and price_range else None
        if low_high is not None and None in price_range:
            low_high = None
        return SearchResult(
            hits=hits,
            total=int(total),
            facets=facets,
            took_ms=0.0,
            query=self.query,
            price_range=low_high,
            backend=self.backend.name,
            total_exact=total_exact,
            facets_exact=facets_exact,
        )

    # -- SQLite ---------------------------------------------------------------------------------

    def sqlite_expressions(self) -> list[tuple[int, str]]:
        """The buckets as FTS5 expressions, in rank order: (bucket, expression)."""
        assert self.plan is not None
        exact = _sqlite_expr(self.plan, typos=False)
        title = f"{{title}} : ({exact})"
        buckets = [(0, title), (1, f"({exact}) NOT {title}")]
        if self.plan.has_typos:
            buckets.append((2, f"({_sqlite_expr(self.plan)}) NOT ({exact})"))
        return buckets

    def answer_sqlite(self) -> SearchResult:
        """Two statements: the sizes, total, facet sample and price range (A), the page (B)."""
        p, query, plan = self.p, self.query, self.plan
        fts = fts_name(self.generation_id)
        gen = p(self.generation_id)
        facet_sets, columns = self.filters()
        sets = list(facet_sets)
        if columns:  # the column filters as one more id set, read off the covering rank index
            sets.append(
                (
                    False,
                    "SELECT d.id FROM search_document d INDEXED BY ix_search_document_rank "
                    f"WHERE d.generation_id = {gen} AND {' AND '.join(columns)}",
                )
            )
        # `+rowid`: an id set is probed per match; FTS5 offered `rowid IN` as a constraint
        # would run the whole MATCH again for every id of the set.
        probes = [f"+rowid {'NOT ' if neg else ''}IN ({sub})" for neg, sub in sets]
        cached = self.cached_facets()
        want_facets = bool(query.facets) and cached is None
        if cached is not None:  # a search without words asked before at this revision
            facets, price_range, facets_exact, total = cached
            offset, limit = query.window
            found: list[tuple[int, dict[str, Any]]] = []
            if total and limit > 0 and offset < total:
                found = self.sqlite_page(fts, gen, facet_sets, columns, [], [], total)
            return self.result(
                self.hits(found), total, facets, price_range, facets_exact=facets_exact
            )
        ctes: list[str] = []
        rows: list[str] = []
        buckets: list[tuple[int, str]] = []
        if plan is not None:
            everything = _sqlite_expr(plan)
            buckets = self.sqlite_expressions()
            if sets:  # the filtered matches, read once (their id sets are built once)
                ctes.append(
                    f"fset AS MATERIALIZED (SELECT rowid AS id FROM {fts} WHERE "
                    + " AND ".join([f"{fts} MATCH {p(everything)}", *probes])
                    + ")"
                )
                ctes.append("n AS (SELECT count(*) AS n FROM fset)")
                source = "SELECT id FROM fset WHERE"
            else:
                ctes.append(
                    f"n AS (SELECT count(*) AS n FROM {fts} WHERE {fts} MATCH {p(everything)})"
                )
                source = f"SELECT rowid AS id FROM {fts} WHERE {fts} MATCH {p(everything)} AND"
            if sets:  # the matches before the filters (without filters that is the total)
                rows.append(
                    f"SELECT 'u', NULL, NULL, count(*) FROM {fts} WHERE {fts} MATCH {p(everything)}"
                )
            for bucket, expression in buckets:
                rows.append(
                    f"SELECT 'b{bucket}', NULL, NULL, count(*) FROM (SELECT 1 FROM {fts} "
                    f"WHERE {fts} MATCH {p(expression)} LIMIT {p(WALK_MIN)})"
                )
        else:
            # The generation's entries of the covering rank index, each probed in the id sets:
            # bounded by the generation's size, where reading the rows a set names is not.
            ids = [f"+d.id {'NOT ' if neg else ''}IN ({sub})" for neg, sub in facet_sets]
            ctes.append(
                "fset AS MATERIALIZED (SELECT d.id FROM search_document d INDEXED BY "
                "ix_search_document_rank WHERE "
                + " AND ".join([f"d.generation_id = {gen}", *ids, *columns])
                + ")"
            )
            ctes.append("n AS (SELECT count(*) AS n FROM fset)")
            source = "SELECT id FROM fset WHERE"
        rows.insert(0, "SELECT 'n', NULL, NULL, n FROM n")
        if want_facets:
            # Every k-th matching id, k chosen for FACET_SAMPLE of them: spread over the ids.
            size = self.sample_size
            step = f"max(1, ((SELECT n FROM n) + {size - 1}) / {size})"
            ctes.append(f"sample AS MATERIALIZED ({source} id % {step} = 0 LIMIT {p(size)})")
            rows.append(
                "SELECT 'price', min(price_min), max(price_max), count(*) FROM search_document "
                "WHERE id IN (SELECT id FROM sample)"
            )
            rows.append(
                "SELECT 'f', facet, value, count(*) FROM search_facet "
                f"WHERE doc_id IN (SELECT id FROM sample){self.facet_rows()} "
                "GROUP BY facet, value"
            )
        answer = db.session.execute(
            sql(f"WITH {', '.join(ctes)} " + " UNION ALL ".join(rows)), p.values
        ).all()
        stats = {kind: int(n) for kind, _a, _b, n in answer if kind != "f"}
        total = stats["n"]
        sizes = [stats[f"b{bucket}"] for bucket, _e in buckets]
        if sets and plan is not None:  # the buckets' sizes under the filters, by their share
            share = total / stats["u"] if stats["u"] else 0.0
            sizes = [
                # Column filters are tested on the rows a small bucket reads: its size before
                # them is what reading it costs, and it decides.
                size if columns else round(size * share)
                for size in sizes
            ]
        offset, limit = query.window
        hits: list[tuple[int, dict[str, Any]]] = []
        if total and limit > 0 and offset < total:
            hits = self.sqlite_page(fts, gen, facet_sets, columns, buckets, sizes, total)
        facets: dict[str, dict[str, int]] = {}
        price_range: Any = None
        facets_exact = True
        if want_facets and total:
            price = next(row for row in answer if row[0] == "price")
            facets, facets_exact = self.facet_answer(
                [(f, v, n) for kind, f, v, n in answer if kind == "f"], int(price[3]), total
            )
            price_range = (price[1], price[2])
        self.keep_facets((facets, price_range, facets_exact, total))
        return self.result(self.hits(hits), total, facets, price_range, facets_exact=facets_exact)

    def sqlite_page(
        self,
        fts: str,
        gen: str,
        sets: list[tuple[bool, str]],
        columns: list[str],
        buckets: list[tuple[int, str]],
        sizes: list[int],
        total: int,
    ) -> list[tuple[int, dict[str, Any]]]:
        """The page: each bucket read in rank order up to the page's end, walked on an index
        (a large bucket: `+d.id` keeps SQLite from driving by the id set) or read from its id
        set (a small one, the filters' sets probed inside the FTS scan; `+d.generation_id`
        keeps it off the index)."""
        p, query = self.p, self.query
        offset, limit = query.window
        sort, tail = self.order()
        n = p(offset + limit)
        probes = [f"+rowid {'NOT ' if neg else ''}IN ({sub})" for neg, sub in sets]

        walked = {
            PRICE_ASC: "ix_search_document_price_min",
            PRICE_DESC: "ix_search_document_price_max",
            NEWEST: "ix_search_document_created",
        }.get(query.sort, "ix_search_document_rank")

        def branch(bucket: str, match: str | None, walk: bool, order: str) -> str:
            conditions = [f"d.generation_id = {gen}" if walk else f"+d.generation_id = {gen}"]
            filters = [*columns]
            if walk or match is None:
                filters += [f"+d.id {'NOT ' if neg else ''}IN ({sub})" for neg, sub in sets]
            if match is not None:
                inner = " AND ".join([f"{fts} MATCH {p(match)}", *([] if walk else probes)])
                conditions.append(
                    f"{'+d.id' if walk else 'd.id'} IN (SELECT rowid FROM {fts} WHERE {inner})"
                )
            elif not walk and sets:
                neg, sub = sets[0]
                conditions.append(f"d.id {'NOT ' if neg else ''}IN ({sub})")
            if not walk:
                order = ", ".join(
                    f"+{part}" if part.startswith("d.") else part for part in order.split(", ")
                )
            # A walk names its index: a price filter would otherwise lure SQLite into reading
            # the price range whole and sorting it.
            source = f"search_document d INDEXED BY {walked}" if walk else "search_document d"
            return (
                f"SELECT * FROM (SELECT d.id, d.product_id, d.popularity, d.price_min, "
                f"d.price_max, d.created_ts, {bucket} AS bucket FROM {source} "
                f"WHERE {' AND '.join([*conditions, *filters])} ORDER BY {order} LIMIT {n})"
            )

        if self.plan is None or query.sort == BEST_SELLING:
            # Best selling is the rank index's own order: the buckets do not break its ties.
            order = f"{sort}, {tail}" if sort and query.sort != BEST_SELLING else tail
            walk = total >= WALK_MIN or (self.plan is None and not sets)
            match = _sqlite_expr(self.plan) if self.plan is not None else None
            union = branch("0", match, walk, order)
            outer = order.replace("d.", "c.")
        elif sort is None:
            # Without filters the sizes are exact (up to WALK_MIN), so a bucket that cannot
            # reach the page is left out; with filters they are estimates: every bucket is read.
            parts, before = [], 0
            for (bucket, expression), size in zip(buckets, sizes, strict=True):
                if sets or columns or (size and before < offset + limit):
                    parts.append(branch(str(bucket), expression, size >= WALK_MIN, tail))
                before += size
            union = " UNION ALL ".join(parts)
            outer = f"c.bucket, c.{RANK_ORDER.replace(', ', ', c.')}"
        else:
            title, exact = buckets[0][1], _sqlite_expr(self.plan, typos=False)
            bucket = (
                f"CASE WHEN d.id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH {p(title)}) "
                f"THEN 0 WHEN d.id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH {p(exact)}) "
                "THEN 1 ELSE 2 END"
            )
            order = f"{sort}, bucket, {tail}"
            union = branch(bucket, _sqlite_expr(self.plan), total >= WALK_MIN, order)
            outer = order.replace("d.", "c.").replace("bucket", "c.bucket")
        statement = sql(
            f"SELECT d.product_id, d.data FROM ({union}) c JOIN search_document d ON d.id = c.id "
            f"ORDER BY {outer} LIMIT {p(limit)} OFFSET {p(offset)}"
        ).columns(product_id=Integer, data=JSON)
        return [(r[0], r[1]) for r in db.session.execute(statement, p.values)]

    # -- PostgreSQL -----------------------------------------------------------------------------

    def pg_conditions(self) -> tuple[list[tuple[int, str]], str | None]:
        """The buckets as conditions on `d`, in rank order, and the condition of any match."""
        if self.plan is None:
            return [], None
        p, plan = self.p, self.plan
        # Phrases (multi-word synonyms) need positions: those queries test the full tsv.
        words, title_words = ("d.tsv", "d.tsv") if plan.has_phrases else ("d.lexemes", None)

        def match(column: str, expression: str) -> str:
            return f"{column} @@ to_tsquery('simple'::regconfig, {p(expression)})"

        exact = match(words, _pg_expr(plan, typos=False))
        if title_words is None:
            title = match("d.title_lexemes", _pg_expr(plan, typos=False))
        else:
            title = match(title_words, _pg_expr(plan, typos=False, weight="A"))
        buckets = [(0, title), (1, f"{exact} AND NOT ({title})")]
        everything = exact
        if plan.has_typos:
            everything = match(words, _pg_expr(plan))
            buckets.append((2, f"{everything} AND NOT ({exact})"))
        return buckets, everything

    def answer_pg(self) -> SearchResult:
        p, query = self.p, self.query
        gen = p(self.generation_id)
        sets, columns = self.filters()
        buckets, everything = self.pg_conditions()
        filters = [f"d.id {'NOT ' if neg else ''}IN ({sub})" for neg, sub in sets] + columns
        match = [everything] if everything else []
        where = " AND ".join([f"d.generation_id = {gen}", *match, *filters])
        offset, limit = query.window
        sort, _tail = self.order()
        cached = self.cached_facets()
        if cached is not None:  # a search without words asked before at this revision
            facets, price_range, facets_exact, total = cached
            rows: list[Any] = []
            if total and limit > 0 and offset < total:
                rows = self.pg_page(gen, filters, [], None, None, 0, offset + limit, total)
            return self.result(
                self.hits([(row[0], row[1]) for row in rows]),
                total,
                facets,
                price_range,
                total_exact=total <= PG_COUNT_LIMIT,
                facets_exact=facets_exact,
            )
        n = p(offset + limit)
        cap = p(PG_COUNT_LIMIT + 1)
        parts = [
            "(SELECT count(*) FROM cand)",
            "(SELECT json_build_array(min(price_min), max(price_max)) FROM cand)",
            # Every match known (a narrow search): its page comes along, ranked among them
            # (evaluated only then); a broader search reads its page in a second statement.
            f"CASE WHEN (SELECT count(*) FROM cand) <= {p(PG_COUNT_LIMIT)} THEN (SELECT "
            "json_agg(json_build_array(q.product_id, q.data) ORDER BY q.ord) FROM ("
            + self.pg_page_sql(gen, filters, buckets, everything, "SELECT id FROM cand", 0, 0, 0)
            + ") q) END",
            f"CASE WHEN (SELECT count(*) FROM cand) > {p(PG_COUNT_LIMIT)} THEN (SELECT "
            f"json_build_array(count(*) FILTER (WHERE d.generation_id = {gen}), "
            f"count(*) FILTER (WHERE {where})) FROM search_document d "
            f"TABLESAMPLE SYSTEM ({p(PG_SAMPLE_PERCENT)}) REPEATABLE (7)) END",
        ]
        titled = ""
        if buckets and sort is None:  # a broader search: does the title bucket fill the page?
            titled = (
                "titled AS MATERIALIZED (SELECT 1 FROM search_document d WHERE "
                f"{' AND '.join([f'd.generation_id = {gen}', buckets[0][1], *filters])} "
                f"LIMIT {p(PG_PLAN_ROWS)}), "
            )
            parts.append(
                f"CASE WHEN (SELECT count(*) FROM cand) > {p(PG_COUNT_LIMIT)} THEN "
                f"(SELECT count(*) FROM (SELECT 1 FROM titled LIMIT {n}) t) END"
            )
        else:
            parts.append("0")
        if query.facets:
            parts.append(
                "(SELECT json_build_array((SELECT count(*) FROM fs), json_agg(json_build_array("
                "g.facet, g.value, g.n))) FROM (SELECT f.facet, f.value, count(*) AS n FROM "
                "search_facet f JOIN fs ON fs.id = f.doc_id "
                f"WHERE true{self.facet_rows('f.facet')} GROUP BY f.facet, f.value) g)"
            )
        answer = db.session.execute(
            sql(
                # `matches` is planned for PG_PLAN_ROWS matches, not for the 501 `cand` reads
                # from it (lazily: the scan stops there): with 501 PostgreSQL scanned the
                # table hoping to meet them early, slower than the GIN bitmap for a word of
                # a few thousand documents; a word in 15%+ of them is still scanned for.
                f"WITH matches AS MATERIALIZED (SELECT d.id, d.price_min, d.price_max FROM "
                f"search_document d WHERE {where} LIMIT {p(PG_PLAN_ROWS)}), "
                f"cand AS MATERIALIZED (SELECT * FROM matches LIMIT {cap}), {titled}"
                f"fs AS (SELECT id FROM cand LIMIT {p(self.sample_size)}) SELECT "
                + ", ".join(parts)
            ),
            p.values,
        ).one()
        found, price_range, narrow_page, estimate, titled = answer[:5]
        total, total_exact = int(found), True
        if estimate is not None:
            in_sample, matched = estimate
            share = PG_SAMPLE_PERCENT / 100
            total = max(PG_COUNT_LIMIT + 1, round(matched / share)) if in_sample else total
            total_exact = False
        facets: dict[str, dict[str, int]] = {}
        facets_exact = True
        if query.facets and found:
            sampled, counted = answer[5] or (0, None)
            facets, facets_exact = self.facet_answer(counted or [], int(sampled), total)
        page: list[Any] = narrow_page or []
        if found and limit > 0 and offset < total and narrow_page is None:
            page = self.pg_page(
                gen, filters, buckets, everything, None, int(titled or 0), offset + limit, total
            )
        self.keep_facets((facets, price_range, facets_exact and total_exact, total))
        return self.result(
            self.hits([(row[0], row[1]) for row in page]),
            total,
            facets,
            price_range,
            total_exact=total_exact,
            facets_exact=facets_exact and total_exact,
        )

    def pg_page(
        self,
        gen: str,
        filters: list[str],
        buckets: list[tuple[int, str]],
        everything: str | None,
        every_id: str | None,
        titled: int,
        wanted: int,
        total: int,
    ) -> list[Any]:
        statement = sql(
            self.pg_page_sql(gen, filters, buckets, everything, every_id, titled, wanted, total)
            + " ORDER BY c.ord"
        ).columns(product_id=Integer, data=JSON)
        return list(db.session.execute(statement, self.p.values))

    def pg_page_sql(
        self,
        gen: str,
        filters: list[str],
        buckets: list[tuple[int, str]],
        everything: str | None,
        every_id: str | None,
        titled: int,
        wanted: int,
        total: int,
    ) -> str:
        """The page's rows (product_id, data, ord). Every match known (`every_id`, a subquery
        of a narrow search's ids): ranked among them. Otherwise each bucket read in rank order
        with LIMIT (PostgreSQL walks the rank or sort index, or reads a small bucket through
        its GIN index), the later buckets only when the title bucket does not fill the page (a
        bucket that is empty would be walked to its end)."""
        p, query = self.p, self.query
        offset, limit = query.window
        sort, tail = self.order()
        n = p(wanted if every_id is None else offset + limit)

        columns = "d.id, d.product_id, d.popularity, d.price_min, d.price_max, d.created_ts"

        def whole(order: str) -> str:
            # `+ 0` keeps PostgreSQL off the sort index: the matches are read (GIN bitmaps of
            # the words and filters) and sorted.
            return ", ".join(
                f"({part.split()[0]} + 0) {part.split()[1]}" if part.startswith("d.") else part
                for part in order.split(", ")
            )

        def branch(bucket: str, condition: str | None, order: str, ids: bool = False) -> str:
            conditions = [f"d.generation_id = {gen}", *([condition] if condition else [])]
            if ids:
                conditions = [f"d.id IN ({every_id})"]
            elif total <= PG_READ_WHOLE:  # a few thousand matches: read whole and sorted
                order = whole(order)
            elif condition or filters:
                # Walk the sort index, but at most PG_WALK rows of it: matches correlated
                # with the sort key (a category of expensive products sorted by price, a
                # bucket of a few documents) may lie far down the walk. When the first
                # PG_WALK rows hold fewer than the page, the matches are read whole instead
                # (the same rows: the walk's are the first in the same order).
                where = " AND ".join([*conditions[1:], *filters])
                walked = ", ".join(
                    f"({bucket})" if part == "bucket" else part for part in order.split(", ")
                )
                walk = (
                    f"SELECT {columns}, {bucket} AS bucket FROM (SELECT * FROM "
                    f"search_document d WHERE {conditions[0]} ORDER BY {walked} "
                    f"LIMIT {p(PG_WALK)}) d WHERE {where} ORDER BY {order} LIMIT {n}"
                )
                found = f"(SELECT count(*) FROM walk) >= {n}"
                return (
                    f"(WITH walk AS MATERIALIZED ({walk}) SELECT * FROM walk WHERE {found} "
                    f"UNION ALL (SELECT {columns}, {bucket} AS bucket FROM search_document d "
                    f"WHERE {' AND '.join([*conditions, *filters])} AND NOT {found} "
                    f"ORDER BY {whole(order)} LIMIT {n}))"
                )
            return (
                f"(SELECT {columns}, {bucket} AS bucket FROM search_document d "
                f"WHERE {' AND '.join([*conditions, *([] if ids else filters)])} "
                f"ORDER BY {order} LIMIT {n})"
            )

        cases = " ".join(f"WHEN {c} THEN {b}" for b, c in buckets[:-1])
        bucket_of = f"CASE {cases} ELSE {buckets[-1][0]} END" if buckets else "0"
        if not buckets or query.sort == BEST_SELLING:
            # Best selling is the rank index's own order: the buckets do not break its ties.
            order = f"{sort}, {tail}" if sort and query.sort != BEST_SELLING else tail
            union = branch("0", everything, order, every_id is not None)
            outer = order.replace("d.", "c.")
        elif every_id is not None or sort is not None:
            order = f"{sort}, bucket, {tail}" if sort else f"bucket, {tail}"
            union = branch(bucket_of, everything, order, every_id is not None)
            outer = order.replace("d.", "c.").replace("bucket", "c.bucket")
        else:
            chosen = buckets[:1] if titled >= wanted else buckets
            union = " UNION ALL ".join(branch(str(b), c, tail) for b, c in chosen)
            outer = f"c.bucket, c.{RANK_ORDER.replace(', ', ', c.')}"
        return (
            "SELECT d.product_id, d.data, c.ord FROM (SELECT c.id, row_number() OVER (ORDER BY "
            f"{outer}) AS ord FROM ({union}) c ORDER BY {outer} LIMIT {p(limit)} OFFSET "
            f"{p(offset)}) c JOIN search_document d ON d.id = c.id"
        )
