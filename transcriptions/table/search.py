"""The search and filters as SQL, per database: the word index (an FTS5 table on SQLite, a
stored tsvector with a GIN index on PostgreSQL; migrations 0006 to 0008), the SID indexes, and
the rest of the filters as ORM conditions. Both databases see the text as runs of letters and
digits, case-folded, accents removed (migration 0024), so the same search gives the same rows
on both."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.db import connections, router
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from ..models import (
    FTS_TABLE,
    FTS_TERMS_TABLE,
    SEARCH_VECTOR,
    SEARCH_WORDS_TABLE,
    TRANSCRIPTION_TABLE,
    Transcription,
)
from ..sids import sid_prefix
from .filters import TableFilters
from .terms import SearchTerms, WordMatch, is_phrase

TABLE = TRANSCRIPTION_TABLE
# A prefix that starts at most this many distinct words is searched as those words.
PREFIX_EXPANSION_MAX = 16


def connection():
    return connections[router.db_for_read(Transcription)]


def vendor() -> str:
    return connection().vendor


def column(name: str) -> str:
    return f'"{TABLE}"."{name}"'


def condition(sql: str, params: list) -> RawSQL:
    return RawSQL(sql, params, output_field=BooleanField())


def _prefix_words(prefix: str) -> tuple[str, ...] | None:
    """The indexed words starting with `prefix` when there are few of them, else None.

    FTS5 answers a prefix query by merging, whole, the lists of every word the prefix starts,
    on each query (24 ms for a 50,000-row word at a million rows, against well under 1 ms
    for the word alone, which is read only as far as needed). The index's words are found by
    seeking from one to the next in its term b-tree (an `fts5vocab` table, which stores
    nothing), in one statement (migration 0007 makes the `fts5vocab` table)."""
    if not prefix.isascii():
        # unicode61 (and PostgreSQL's lower()) fold non-ASCII case differently from
        # str.lower(); let the database fold it.
        return None
    prefix = prefix.lower()
    if vendor() == "postgresql":
        return _prefix_words_postgresql(prefix)
    # Just past a word: words hold letters and digits only, all above \x01.
    sql = f"""
        WITH RECURSIVE found(term, n) AS (
            SELECT (SELECT term FROM "{FTS_TERMS_TABLE}" WHERE term >= %s LIMIT 1), 1
            UNION ALL
            SELECT (SELECT term FROM "{FTS_TERMS_TABLE}" WHERE term >= found.term || char(1)
                    LIMIT 1), n + 1
            FROM found WHERE substr(found.term, 1, %s) = %s AND n <= %s
        )
        SELECT term FROM found WHERE substr(term, 1, %s) = %s"""
    params = [prefix, len(prefix), prefix, PREFIX_EXPANSION_MAX, len(prefix), prefix]
    with connection().cursor() as cursor:
        cursor.execute(sql, params)
        found = tuple(term for (term,) in cursor.fetchall())
    if not found or len(found) > PREFIX_EXPANSION_MAX:
        return None
    return found


def _prefix_words_postgresql(prefix: str) -> tuple[str, ...] | None:
    """PostgreSQL: from the table of words the word vectors hold (migration 0016), kept in
    byte order: one range of its index. GIN answers a prefix by merging every list it
    starts and checking each row again (0.25 s for a frequent prefix beside a status it never
    occurs with, at a million rows; 14 ms for its whole words)."""
    with connection().cursor() as cursor:
        cursor.execute(
            f'SELECT word FROM "{SEARCH_WORDS_TABLE}" WHERE word >= %s AND starts_with(word, %s) '
            f"ORDER BY word LIMIT {PREFIX_EXPANSION_MAX + 1}",
            [prefix, prefix],
        )
        found = tuple(word for (word,) in cursor.fetchall())
    if not found or len(found) > PREFIX_EXPANSION_MAX:
        return None
    return found


def _fts_word(word: str, prefix: WordMatch) -> str:
    quoted = '"{}"'.format(word.replace('"', '""'))
    if prefix is True:
        return f"transcription_text : {quoted}*"
    if not prefix:
        return f"transcription_text : {quoted}"
    return "transcription_text : ({})".format(
        " OR ".join('"{}"'.format(w.replace('"', '""')) for w in prefix)
    )


def fts_expression(words: Iterable[tuple[str, WordMatch]], statuses: Iterable[str] = ()) -> str:
    """An FTS5 query: every word in the text column (a prefix query where asked, spelled out
    as the words it starts when they are few), and one of the statuses. Words are letters
    and digits only; quoting keeps them from being read as FTS5 operators (AND, OR, NOT,
    NEAR) all the same."""
    parts = [_fts_word(word, prefix) for word, prefix in words]
    statuses = list(statuses)
    if statuses:
        parts.append("(" + " OR ".join(f'status : "{s}"' for s in statuses) + ")")
    return " AND ".join(parts)


# The search's words folded as the word vectors' are (migration 0024: accents removed).
TSQUERY = "to_tsquery('simple'::regconfig, transcriptions_unaccent(%s))"


def tsquery_text(words: Iterable[tuple[str, WordMatch]]) -> str:
    """tsquery source for `to_tsquery('simple', …)`: each word quoted, `:*` for a prefix,
    a prefix spelled out as its whole words `( 'a' | 'b' )`."""

    def quoted(word: str) -> str:
        return "'{}'".format(word.replace("'", "''"))

    def one(word: str, prefix: WordMatch) -> str:
        if is_phrase(word):
            # Its words; that they come in a row is checked on the text (`pg_words_sql`):
            # the vectors keep no positions.
            return "( " + " & ".join(quoted(w) for w in word.split()) + " )"
        if prefix is True:
            return quoted(word) + ":*"
        if prefix:
            return "( " + " | ".join(quoted(w) for w in prefix) + " )"
        return quoted(word)

    return " & ".join(one(word, prefix) for word, prefix in words)


# The text and a pattern, both without accents, as the vectors hold the words: the text by
# unaccent itself (a call a row either way), the pattern by the wrapper the planner folds once.
_PHRASE_SQL = (
    f"public.unaccent('public.unaccent'::regdictionary, {column('transcription_text')}) "
    "~* transcriptions_unaccent(%s)"
)


def _phrase_pattern(phrase: str) -> str:
    """A phrase's words in a row in the text, each whole, anything but letters and digits
    between them (as the word index splits the text). Words are letters and digits only."""
    return r"(^|[^[:alnum:]])" + r"[^[:alnum:]]+".join(phrase.split()) + r"($|[^[:alnum:]])"


def pg_words_sql(
    words: list[tuple[str, WordMatch]], statuses: Iterable[str] = (), *, wrapped: bool = False
) -> tuple[str, list]:
    """PostgreSQL: the row's vector holds the words (and one of the statuses, when given),
    and the text its phrases in a row. `wrapped`: the vector read as COALESCE(…), which keeps
    the GIN index (declared on the bare column) out, for a row found another way."""
    vector = column(SEARCH_VECTOR)
    if wrapped:
        vector = f"COALESCE({vector}, ''::tsvector)"
    statuses = list(statuses)
    sql = f"{vector} @@ ({TSQUERY} && %s::tsquery)" if statuses else f"{vector} @@ {TSQUERY}"
    params: list = [tsquery_text(words)]
    if statuses:
        params.append(_tsquery_statuses(statuses))
    for word, _match in words:
        if is_phrase(word):
            sql += f" AND {_PHRASE_SQL}"
            params.append(_phrase_pattern(word))
    return sql, params


def _tsquery_statuses(statuses: Iterable[str]) -> str:
    """The status lexemes of the tsvector (`~<status>`), taken verbatim by `::tsquery`."""
    return " | ".join("'~{}'".format(s.replace("'", "''")) for s in statuses)


def text_match_sql(
    words: list[tuple[str, WordMatch]], statuses: Iterable[str] = (), *, vendor: str
) -> tuple[str, list]:
    """A condition on the transcription table's row: the text has every word (and, when
    given, the row has one of the statuses, checked in the word index too)."""
    statuses = list(statuses)
    if vendor == "postgresql":
        return pg_words_sql(words, statuses)
    return (
        f'{column("id")} IN (SELECT rowid FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s)',
        [fts_expression(words, statuses)],
    )


def pg_word_conditions(
    words: list[tuple[str, WordMatch]], statuses: Iterable[str] = ()
) -> list[tuple[str, list]]:
    """PostgreSQL: the words (and statuses) as conditions for the word index. A prefix makes
    GIN merge the lists of every word it starts and check each row again (`refund:*` with a
    status: 0.3 s at a million rows), so when whole words come with it, the index is asked
    for the whole words only and each row they give is checked for the prefix (`garcia`:
    5,600 rows checked, a few milliseconds)."""
    whole: list[tuple[str, WordMatch]] = [(w, p) for w, p in words if p is not True]
    if not whole or len(whole) == len(words):
        return [text_match_sql(words, statuses, vendor="postgresql")]
    return [
        text_match_sql(whole, statuses, vendor="postgresql"),
        pg_words_sql(words, wrapped=True),
    ]


def fts_row_match_sql() -> str:
    """SQLite: the row's id in the word index under one FTS5 expression (one parameter),
    looked up per row rather than gathered first."""
    return (
        f'EXISTS (SELECT 1 FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s '
        f'AND "{FTS_TABLE}".rowid = {column("id")})'
    )


def _sid_prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high) bounds of the SIDs starting with `prefix`, for a range on a b-tree index
    (a case-sensitive prefix; SQLite's LIKE is case-insensitive and cannot use the index)."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def sid_word_sql(word: str, prefix: str, text_prefix: bool, *, vendor: str) -> tuple[str, list]:
    """The rows a SID-like word matches: SID or recording SID starting with it (on their
    indexes), or the word in the text."""
    low, high = _sid_prefix_range(prefix)
    text_sql, text_params = text_match_sql([(word, text_prefix)], vendor=vendor)
    sql = (
        f"{column('id')} IN ("
        f'SELECT "id" FROM "{TABLE}" WHERE "sid" >= %s AND "sid" < %s '
        f'UNION ALL SELECT "id" FROM "{TABLE}" WHERE "recording_sid" >= %s '
        f'AND "recording_sid" < %s '
        f'UNION ALL SELECT "id" FROM "{TABLE}" WHERE {text_sql})'
    )
    return sql, [low, high, low, high, *text_params]


@dataclass(frozen=True)
class Query:
    """The filters with the search terms as this database runs them (on SQLite the last
    word's prefix may be spelled out as whole words): what the planner works from."""

    filters: TableFilters
    terms: SearchTerms
    vendor: str

    @classmethod
    def of(cls, filters: TableFilters, *, expand_prefix: bool = False) -> Query:
        """With `expand_prefix`, the last word's prefix is looked up in the index's words
        first (one query): worth it for a page, not for a one-off count or list."""
        db = vendor()
        terms = filters.terms
        if terms and expand_prefix:
            terms = expanded(terms)
        return cls(filters=filters, terms=terms, vendor=db)

    @property
    def statuses(self) -> tuple[str, ...]:
        return self.filters.statuses

    def without_statuses(self) -> Query:
        return replace(self, filters=self.filters.without_statuses())

    def with_status(self, status: str) -> Query:
        return replace(self, filters=self.filters.with_status(status))


def expanded(terms: SearchTerms) -> SearchTerms:
    """The terms with the last word's prefix spelled out as whole words when it
    starts few (one query); the same matches, found without a prefix query."""
    if not terms.words or not terms.last_is_prefix or sid_prefix(terms.words[-1]):
        return terms
    return replace(terms, last_expanded=_prefix_words(terms.words[-1]))


def _search_conditions(query: Query, *, probe: bool) -> list[RawSQL]:
    """The search as conditions on the transcription table. With `probe`, the words are
    looked up per row (the row is found some other way, walking an index in the page's
    order), not gathered first: on SQLite in the word index by rowid, on PostgreSQL in the
    row's stored tsvector."""
    conditions = []
    words = query.terms.text_words()
    db = query.vendor
    if words:
        if db == "sqlite" and probe:
            conditions.append(
                condition(fts_row_match_sql(), [fts_expression(words, query.statuses)])
            )
        elif db == "sqlite":
            # The unary + keeps SQLite from driving the query from this set: it walks the
            # sort's index and checks each row against the set, built once.
            sql, params = text_match_sql(words, query.statuses, vendor=db)
            conditions.append(condition("+" + sql, params))
        elif probe:
            # The GIN index is declared on the bare column: wrapped, the planner cannot
            # choose it, and walks the sort's index instead (the status is checked on its
            # column, see `filtered`).
            conditions.append(condition(*pg_words_sql(words, wrapped=True)))
        else:
            conditions += [condition(*c) for c in pg_word_conditions(words, query.statuses)]
    for word, prefix, text_prefix in query.terms.sid_words():
        conditions.append(condition(*sid_word_sql(word, prefix, text_prefix, vendor=db)))
    return conditions


def filtered(query: Query, *, probe: bool = False) -> QuerySet[Transcription]:
    """The cached transcriptions the query matches, unordered."""
    # PostgreSQL would intersect the word index with the status index (tens of milliseconds
    # for a common status) though the word index already holds the status.
    in_word_index = query.vendor == "postgresql" and bool(query.terms.text_words()) and not probe
    filters = query.filters
    if filters.recording_sid and filters.statuses and not in_word_index:
        # A recording has a handful of transcriptions, so its index is always the way in;
        # but with no statistics (or old ones) SQLite walked every row of the status through
        # the status index instead (0.7-1.9 s at a million rows). Written so that no index
        # can serve it, the status cannot be chosen, whatever the statistics say.
        placeholders = ", ".join(["%s"] * len(filters.statuses))
        qs = Transcription.objects.filter(filters.plain_q(statuses=False)).filter(
            condition(f"({column('status')} || '') IN ({placeholders})", list(filters.statuses))
        )
    else:
        qs = Transcription.objects.filter(filters.plain_q(statuses=not in_word_index))
    for cond in _search_conditions(query, probe=probe):
        qs = qs.filter(cond)
    return qs


@dataclass(frozen=True)
class WordCheck:
    """PostgreSQL: a search read by walking the sort's index, in two parts (see
    `paging.rows_walk`): the rows the other filters keep (`walked`), checked one by one
    against the words (`check`); and, should a bounded walk not fill the page, the same
    matches read from the word index instead (`indexed`)."""

    walked: QuerySet[Transcription]
    check: RawSQL
    indexed: QuerySet[Transcription]


def word_check(query: Query) -> WordCheck:
    words = query.terms.text_words()
    return WordCheck(
        walked=Transcription.objects.filter(query.filters.plain_q()),
        # Wrapped, so that the GIN index (declared on the bare column) is not used.
        check=condition(*pg_words_sql(words, wrapped=True)),
        indexed=filtered(query),
    )
