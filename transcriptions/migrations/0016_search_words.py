"""PostgreSQL: a table of every word the cache's word vectors hold, so that a search can spell
a prefix out as the whole words it starts, as SQLite does with its fts5vocab table.

GIN answers a prefix (`refund:*`) by merging the lists of every word it starts and checking
each row again: a frequent prefix with a status it never occurs with cost 0.25 s at a million
rows, where the whole word took 14 ms. Statement-level triggers add the words of every row an
INSERT or UPDATE wrote (from its transition table: one statement per sync page, about 11 ms a
thousand rows); words are never removed, a word that no row holds any more only makes a prefix
match nothing more. Filled here from the rows already cached (`ts_stat`: 4 s a million rows).

SQLite is unchanged."""

from __future__ import annotations

from django.db import migrations

TABLE = "transcriptions_transcription"
WORDS = "transcriptions_search_word"
ADD = "transcriptions_search_words_add"

FORWARD = [
    # Byte order ("C"), so that the words a prefix starts are one range of the index.
    f'CREATE TABLE {WORDS} (word text COLLATE "C" PRIMARY KEY)',
    f"""CREATE FUNCTION {ADD}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {WORDS} (word)
        SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM written
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    # An update adds only the vectors it changed: a sync pass rewrites every row (to stamp it
    # as seen), nearly always with the words it had.
    f"""CREATE FUNCTION {ADD}_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {WORDS} (word)
        SELECT DISTINCT unnest(tsvector_to_array(written.search_vector))
        FROM written JOIN before ON before.id = written.id
        WHERE written.search_vector IS DISTINCT FROM before.search_vector
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER {ADD}_insert AFTER INSERT ON {TABLE}
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION {ADD}()""",
    f"""CREATE TRIGGER {ADD}_update AFTER UPDATE ON {TABLE}
        REFERENCING OLD TABLE AS before NEW TABLE AS written
        FOR EACH STATEMENT EXECUTE FUNCTION {ADD}_changed()""",
    f"""INSERT INTO {WORDS} (word)
        SELECT word FROM ts_stat('SELECT search_vector FROM {TABLE}') ON CONFLICT DO NOTHING""",
]
BACKWARD = [
    f"DROP TRIGGER IF EXISTS {ADD}_insert ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {ADD}_update ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {ADD}()",
    f"DROP FUNCTION IF EXISTS {ADD}_changed()",
    f"DROP TABLE IF EXISTS {WORDS}",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in FORWARD:
        schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in BACKWARD:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("transcriptions", "0015_holders_process")]

    operations = [migrations.RunPython(forward, backward)]
