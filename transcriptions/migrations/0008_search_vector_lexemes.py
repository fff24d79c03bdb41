"""PostgreSQL: the word vector holds the same words as before, without their positions, and a
sync can hand it in ready-made.

Every query is a set of words (and prefixes), never a phrase, so positions were never read.
The words come from splitting the text on every run of characters that are not letters or
digits and lower-casing them, which is what the text search parser did with the text 0006 gave
it: the same words came out on 100,000 seeded transcriptions and on 100,000 strings of mixed
scripts, digits, marks and symbols. Words over 2,047 bytes are left out, as the parser did (a
tsvector cannot hold them).

The column is no longer generated. Splitting the text with a regular expression cost a sync
page about a sixth of its time to write, and for ASCII text (all of Twilio's transcriptions,
which are English) the sync process splits it the same way for a fraction of that
(`transcriptions.sync.search_vector_source`). Triggers build the vector in the database for
every other write: an insert that brings none, and an update of the text or the status that
leaves it as it was (the text purge, a fetch of one transcription, the admin).

SQLite is unchanged. On a million rows the migration took two minutes here; going back, 68 s.
"""

from __future__ import annotations

from django.db import migrations

TABLE = "transcriptions_transcription"
LEXEMES = "transcriptions_text_lexemes"
VECTOR = "transcriptions_search_vector"
FILL = "transcriptions_search_vector_fill"

FORWARD = [
    # A SQL function, so the subquery can drop over-long words. IMMUTABLE like to_tsvector with
    # a configuration: lower() follows the database's fixed character type.
    f"""CREATE FUNCTION {LEXEMES}(text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY(
        SELECT word
        FROM unnest(string_to_array(
            btrim(lower(regexp_replace(coalesce($1, ''), '[^[:alnum:]]+', ' ', 'g'))), ' '
        )) AS word
        WHERE octet_length(word) <= 2047
    )
    $$""",
    # The vector of a text and a status: its words, and `~<status>`, which no word can be.
    f"""CREATE FUNCTION {VECTOR}(text, text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_tsvector({LEXEMES}($1) || ('~' || coalesce($2, '')))
    $$""",
    f"""CREATE FUNCTION {FILL}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector := {VECTOR}(NEW.transcription_text, NEW.status);
        RETURN NEW;
    END $$""",
    "DROP INDEX IF EXISTS tr_search_vector_gin",
    f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS search_vector",
    f"ALTER TABLE {TABLE} ADD COLUMN search_vector tsvector",
    f"UPDATE {TABLE} SET search_vector = {VECTOR}(transcription_text, status)",
    # WHEN is checked without calling the function: a sync page that brings its vectors pays
    # for two comparisons a row.
    f"""CREATE TRIGGER {FILL}_insert BEFORE INSERT ON {TABLE}
        FOR EACH ROW WHEN (NEW.search_vector IS NULL)
        EXECUTE FUNCTION {FILL}()""",
    f"""CREATE TRIGGER {FILL}_update BEFORE UPDATE OF transcription_text, status ON {TABLE}
        FOR EACH ROW WHEN (
            NEW.search_vector IS NOT DISTINCT FROM OLD.search_vector
            AND (NEW.transcription_text IS DISTINCT FROM OLD.transcription_text
                 OR NEW.status IS DISTINCT FROM OLD.status))
        EXECUTE FUNCTION {FILL}()""",
    f"CREATE INDEX tr_search_vector_gin ON {TABLE} USING gin (search_vector)",
    # A new column has no statistics until autovacuum comes by; the table's search strategy
    # follows the planner's estimate of a word's matches (`queries._estimated_matches`).
    f"ANALYZE {TABLE} (search_vector)",
]

BACKWARD = [
    "DROP INDEX IF EXISTS tr_search_vector_gin",
    f"DROP TRIGGER IF EXISTS {FILL}_update ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {FILL}_insert ON {TABLE}",
    f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS search_vector",
    f"DROP FUNCTION IF EXISTS {FILL}()",
    f"DROP FUNCTION IF EXISTS {VECTOR}(text, text)",
    f"DROP FUNCTION IF EXISTS {LEXEMES}(text)",
    # As 0006 made it.
    f"""ALTER TABLE {TABLE} ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig,
            regexp_replace(coalesce(transcription_text, ''), '[^[:alnum:]]+', ' ', 'g'))
        || array_to_tsvector(ARRAY['~' || status])
    ) STORED""",
    f"CREATE INDEX tr_search_vector_gin ON {TABLE} USING gin (search_vector)",
    f"ANALYZE {TABLE} (search_vector)",
]


def _run(schema_editor, statements: list[str]) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in statements:
        schema_editor.execute(statement, params=None)


def vector_handed_in(apps, schema_editor) -> None:
    _run(schema_editor, FORWARD)


def vector_generated(apps, schema_editor) -> None:
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("transcriptions", "0007_search_index_terms"),
    ]

    operations = [
        migrations.RunPython(vector_handed_in, vector_generated, elidable=False),
    ]
