"""PostgreSQL: the SID columns compare byte by byte (collation "C"), and the second index that
Django adds on `sid` for LIKE is gone.

A SID prefix typed in the search box is found as a range on the SID's own index (see
`queries._sid_prefix_range`). Under a linguistic collation, such as a database created with
en_US.UTF-8 or an ICU locale, that range is not the set of strings with the prefix: punctuation
is ignored and case is compared last, so the range after "TR1a29" ends before "TR1a29…" and a
prefix ending in 9 found nothing. SIDs are ASCII identifiers, so byte order is their order.

The `varchar_pattern_ops` index Django makes for a unique CharField served LIKE, which nothing
here runs; each sync page paid for it: 1,000 inserts at random places in a 77 MB index at a
million rows, an eighth of the page's time.

Django's model state knows nothing of the collation (SQLite has no "C" collation to declare):
a later AlterField of these columns must keep COLLATE "C". `tests/test_search_index.py`
checks that it is there.
"""

from __future__ import annotations

from django.db import migrations

TABLE = "transcriptions_transcription"


def _like_index_name(schema_editor) -> str:
    return schema_editor._create_index_name(TABLE, ["sid"], suffix="_like")


def byte_order(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for statement in [
        f"DROP INDEX IF EXISTS {quote(_like_index_name(schema_editor))}",
        f'ALTER TABLE {TABLE} ALTER COLUMN sid TYPE varchar(34) COLLATE "C"',
        f'ALTER TABLE {TABLE} ALTER COLUMN recording_sid TYPE varchar(34) COLLATE "C"',
        # Changing a column's type forgets its statistics; without them the planner took a
        # recording's one row for thousands and walked the date index (3 s at a million rows).
        f"ANALYZE {TABLE} (sid, recording_sid)",
    ]:
        schema_editor.execute(statement, params=None)


def database_order(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for statement in [
        f'ALTER TABLE {TABLE} ALTER COLUMN recording_sid TYPE varchar(34) COLLATE "default"',
        f'ALTER TABLE {TABLE} ALTER COLUMN sid TYPE varchar(34) COLLATE "default"',
        f"CREATE INDEX IF NOT EXISTS {quote(_like_index_name(schema_editor))} "
        f"ON {TABLE} (sid varchar_pattern_ops)",
        f"ANALYZE {TABLE} (sid, recording_sid)",
    ]:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("transcriptions", "0009_status_index_in_page_order"),
    ]

    operations = [
        migrations.RunPython(byte_order, database_order, elidable=False),
    ]
