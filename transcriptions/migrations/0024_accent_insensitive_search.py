"""Search without accents: `zoe` finds "Zoë", `cafe` finds "café", and the other way round.

SQLite: the word index (FTS5) is made again with `remove_diacritics 2`, which folds the text's
words and the search's alike; its term list (fts5vocab) is made again beside it. PostgreSQL:
the words of a row's vector are taken from its text with the accents removed (`unaccent`, a
trusted extension: the database's owner may add it); the search folds its words the same way
(`search.TSQUERY`). Rows of ASCII text hold no accent, and their vectors (which the sync
builds in Python) stay as they are; the others are built again.

On both, a letter Unicode writes as a base letter and marks (é, ë, ñ, ü, å, ç) loses its
marks; PostgreSQL's `unaccent` also folds a few letters that have no such form (ø, æ, ß, ł),
which SQLite keeps."""

from __future__ import annotations

from django.db import migrations

TABLE = "transcriptions_transcription"
FTS = "transcriptions_transcription_fts"
TERMS = f"{FTS}_terms"
LEXEMES = "transcriptions_text_lexemes"
UNACCENT = "transcriptions_unaccent"
VECTOR = "transcriptions_search_vector"


def _fts(remove_diacritics: int) -> list[str]:
    return [
        f"DROP TABLE IF EXISTS {TERMS}",
        f"DROP TABLE IF EXISTS {FTS}",
        f"""CREATE VIRTUAL TABLE {FTS} USING fts5(
            transcription_text, status, content='{TABLE}', content_rowid='id',
            tokenize='unicode61 remove_diacritics {remove_diacritics}')""",
        f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
        f"CREATE VIRTUAL TABLE {TERMS} USING fts5vocab('{FTS}', 'instance')",
    ]


def _lexemes(words_of: str) -> str:
    # IMMUTABLE as before: `unaccent` with its dictionary named is fixed for a given text.
    return f"""CREATE OR REPLACE FUNCTION {LEXEMES}(text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY(
        SELECT word
        FROM unnest(string_to_array(
            btrim(lower(regexp_replace({words_of}, '[^[:alnum:]]+', ' ', 'g'))), ' '
        )) AS word
        WHERE octet_length(word) <= 2047
    )
    $$"""


# Only rows whose text is not ASCII can hold an accent.
REBUILD = (
    f"UPDATE {TABLE} SET search_vector = {VECTOR}(transcription_text, status) "
    "WHERE transcription_text ~ '[^\\x01-\\x7f]'"
)
POSTGRESQL_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public",
    # IMMUTABLE (unaccent itself is only STABLE) and not inlined (the SET clause), so that the
    # planner folds a search's words to a constant once: inlined, unaccent and to_tsquery ran
    # again for every row a walk checked (a search of two words took a third longer).
    f"""CREATE FUNCTION {UNACCENT}(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT SET search_path = public AS $$
    SELECT public.unaccent('public.unaccent'::regdictionary, $1)
    $$""",
    _lexemes(f"{UNACCENT}(coalesce($1, ''))"),
    REBUILD,
]
POSTGRESQL_BACKWARD = [
    _lexemes("coalesce($1, '')"),
    REBUILD,
    f"DROP FUNCTION IF EXISTS {UNACCENT}(text)",
]


def _run(schema_editor, *, sqlite: list[str], postgresql: list[str]) -> None:
    vendor = schema_editor.connection.vendor
    for statement in {"sqlite": sqlite, "postgresql": postgresql}.get(vendor, []):
        schema_editor.execute(statement)


def forward(apps, schema_editor) -> None:
    _run(schema_editor, sqlite=_fts(2), postgresql=POSTGRESQL_FORWARD)


def backward(apps, schema_editor) -> None:
    _run(schema_editor, sqlite=_fts(0), postgresql=POSTGRESQL_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("transcriptions", "0023_bulk_twilio_down_since")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
