"""SQLite: a view of the word index's own term list (`fts5vocab`, which stores nothing), so a
prefix typed in the search box can be spelled out as the few whole words it starts."""

from __future__ import annotations

from django.db import migrations

FTS = "transcriptions_transcription_fts"
TERMS = f"{FTS}_terms"


def terms_create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {TERMS} USING fts5vocab('{FTS}', 'instance')"
        )


def terms_drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"DROP TABLE IF EXISTS {TERMS}")


class Migration(migrations.Migration):
    dependencies = [
        ("transcriptions", "0006_table_at_scale"),
    ]

    operations = [
        migrations.RunPython(terms_create, terms_drop, elidable=False),
    ]
