"""The table at a million rows: a word index over the transcript text (and status), per-status
counts kept by triggers, and the indexes the table's sorts walk.

SQLite: an FTS5 external-content table over the cache, `unicode61` without removing
diacritics (PostgreSQL's 'simple' configuration keeps them too, so both databases match the
same words), kept in step by triggers. PostgreSQL: a stored generated tsvector column with a
GIN index; punctuation becomes spaces before parsing, as FTS5's tokenizer does. Status is
indexed with the text (a `status` column in FTS5, a `~<status>` lexeme that no word of text
can produce in the tsvector), so a word and a status are counted from the index alone.

Triggers, not application code, keep both in step, so every write (sync's upsert, deletes,
bulk deletes, the text purge, the admin) updates them.
"""

from __future__ import annotations

from django.db import migrations, models

TABLE = "transcriptions_transcription"
FTS = "transcriptions_transcription_fts"
COUNTS = "transcriptions_transcriptioncount"

SQLITE_FORWARD = [
    f"""CREATE VIRTUAL TABLE {FTS} USING fts5(
        transcription_text, status, content='{TABLE}', content_rowid='id',
        tokenize='unicode61 remove_diacritics 0')""",
    f"""CREATE TRIGGER {FTS}_ai AFTER INSERT ON {TABLE} BEGIN
        INSERT INTO {FTS}(rowid, transcription_text, status)
        VALUES (new.id, new.transcription_text, new.status);
    END""",
    f"""CREATE TRIGGER {FTS}_ad AFTER DELETE ON {TABLE} BEGIN
        INSERT INTO {FTS}({FTS}, rowid, transcription_text, status)
        VALUES ('delete', old.id, old.transcription_text, old.status);
    END""",
    # Sync rewrites every column of every row it sees; unchanged text costs nothing here.
    f"""CREATE TRIGGER {FTS}_au AFTER UPDATE OF transcription_text, status ON {TABLE}
    WHEN old.transcription_text IS NOT new.transcription_text OR old.status IS NOT new.status
    BEGIN
        INSERT INTO {FTS}({FTS}, rowid, transcription_text, status)
        VALUES ('delete', old.id, old.transcription_text, old.status);
        INSERT INTO {FTS}(rowid, transcription_text, status)
        VALUES (new.id, new.transcription_text, new.status);
    END""",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
    f"""CREATE TRIGGER {COUNTS}_ai AFTER INSERT ON {TABLE} BEGIN
        INSERT INTO {COUNTS}(status, count) VALUES (new.status, 1)
        ON CONFLICT(status) DO UPDATE SET count = count + 1;
    END""",
    f"""CREATE TRIGGER {COUNTS}_ad AFTER DELETE ON {TABLE} BEGIN
        UPDATE {COUNTS} SET count = count - 1 WHERE status = old.status;
    END""",
    f"""CREATE TRIGGER {COUNTS}_au AFTER UPDATE OF status ON {TABLE}
    WHEN old.status IS NOT new.status BEGIN
        UPDATE {COUNTS} SET count = count - 1 WHERE status = old.status;
        INSERT INTO {COUNTS}(status, count) VALUES (new.status, 1)
        ON CONFLICT(status) DO UPDATE SET count = count + 1;
    END""",
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS {COUNTS}_au",
    f"DROP TRIGGER IF EXISTS {COUNTS}_ad",
    f"DROP TRIGGER IF EXISTS {COUNTS}_ai",
    f"DROP TRIGGER IF EXISTS {FTS}_au",
    f"DROP TRIGGER IF EXISTS {FTS}_ad",
    f"DROP TRIGGER IF EXISTS {FTS}_ai",
    f"DROP TABLE IF EXISTS {FTS}",
]

POSTGRESQL_FORWARD = [
    f"""ALTER TABLE {TABLE} ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig,
            regexp_replace(coalesce(transcription_text, ''), '[^[:alnum:]]+', ' ', 'g'))
        || array_to_tsvector(ARRAY['~' || status])
    ) STORED""",
    f"CREATE INDEX tr_search_vector_gin ON {TABLE} USING gin (search_vector)",
    # Statement-level with transition tables: one aggregate per statement, not a trigger call
    # per row, so a 1,000-row sync page costs two small GROUP BYs.
    f"""CREATE FUNCTION {COUNTS}_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {COUNTS}(status, count)
        SELECT status, count(*) FROM inserted_rows GROUP BY status ORDER BY status
        ON CONFLICT (status) DO UPDATE SET count = {COUNTS}.count + EXCLUDED.count;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION {COUNTS}_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {COUNTS} AS c SET count = c.count - d.n
        FROM (SELECT status, count(*) AS n FROM deleted_rows GROUP BY status) AS d
        WHERE c.status = d.status;
        RETURN NULL;
    END $$""",
    # Row-level and only when the status changes: an update trigger with transition tables
    # would copy every updated row (the text purge updates hundreds of thousands).
    f"""CREATE FUNCTION {COUNTS}_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {COUNTS} SET count = count - 1 WHERE status = OLD.status;
        INSERT INTO {COUNTS}(status, count) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET count = {COUNTS}.count + 1;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER {COUNTS}_ai AFTER INSERT ON {TABLE}
        REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT
        EXECUTE FUNCTION {COUNTS}_inserted()""",
    f"""CREATE TRIGGER {COUNTS}_ad AFTER DELETE ON {TABLE}
        REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT
        EXECUTE FUNCTION {COUNTS}_deleted()""",
    f"""CREATE TRIGGER {COUNTS}_au AFTER UPDATE OF status ON {TABLE}
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION {COUNTS}_status_changed()""",
]
POSTGRESQL_BACKWARD = [
    f"DROP TRIGGER IF EXISTS {COUNTS}_au ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {COUNTS}_ad ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {COUNTS}_ai ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {COUNTS}_status_changed()",
    f"DROP FUNCTION IF EXISTS {COUNTS}_deleted()",
    f"DROP FUNCTION IF EXISTS {COUNTS}_inserted()",
    "DROP INDEX IF EXISTS tr_search_vector_gin",
    f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS search_vector",
]

COUNTS_FILL = f"""INSERT INTO {COUNTS}(status, count)
    SELECT status, count(*) FROM {TABLE} GROUP BY status"""


def _run(schema_editor, statements: list[str]) -> None:
    for statement in statements:
        schema_editor.execute(statement, params=None)


def search_index_create(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, SQLITE_FORWARD)
    elif vendor == "postgresql":
        _run(schema_editor, POSTGRESQL_FORWARD)
    else:
        raise NotImplementedError(f"Transcript Desk supports SQLite and PostgreSQL, not {vendor}")
    _run(schema_editor, [f"DELETE FROM {COUNTS}", COUNTS_FILL])


def search_index_drop(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    _run(schema_editor, SQLITE_BACKWARD if vendor == "sqlite" else POSTGRESQL_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("transcriptions", "0005_bulk_deletion"),
    ]

    operations = [
        migrations.CreateModel(
            name="TranscriptionCount",
            fields=[
                ("status", models.CharField(max_length=16, primary_key=True, serialize=False)),
                ("count", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RemoveIndex(
            model_name="transcription",
            name="tr_status_idx",
        ),
        migrations.AddIndex(
            model_name="transcription",
            index=models.Index(fields=["duration", "-date_created", "-id"], name="tr_duration_idx"),
        ),
        migrations.AddIndex(
            model_name="transcription",
            index=models.Index(
                fields=["-duration", "-date_created", "-id"], name="tr_duration_desc_idx"
            ),
        ),
        migrations.RunPython(search_index_create, search_index_drop, elidable=False),
    ]
