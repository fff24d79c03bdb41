"""Planner statistics for a cache that already holds transcriptions.

From this version on, every large write takes new statistics when the table changed by a large
share (`transcriptions.planner_stats`). A cache filled before has none, and the table's
planner then reads some filters through the wrong index: this takes them once, at the first
`migrate` on an existing cache. Not atomic, so that PostgreSQL can VACUUM (which also writes
the visibility map that index-only scans need)."""

from __future__ import annotations

from django.db import migrations

TABLE = "transcriptions_transcription"


def statistics_take(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 FROM "{TABLE}" LIMIT 1')
        if cursor.fetchone() is None:
            return  # a new cache: the first sync takes them
        if connection.vendor == "postgresql":
            cursor.execute(f'VACUUM (ANALYZE) "{TABLE}"')
        elif connection.vendor == "sqlite":
            cursor.execute("ANALYZE")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("transcriptions", "0010_sid_columns_in_byte_order")]

    operations = [migrations.RunPython(statistics_take, migrations.RunPython.noop, elidable=True)]
