"""Personal data: what the detector found on each row (kinds as bits, positions and keyed
hashes as JSON, the detector's version), the table of keyed hashes a mentions search reads,
kept by triggers from the rows' JSON on both databases, batches in the audit trail, and the
right to reveal personal data (Privacy officers).

Rows cached before this migration have version 0: `manage.py scan_personal_data` (or the next
complete sync, which rewrites every row) scans them."""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

TABLE = "transcriptions_transcription"
MENTIONS = "transcriptions_personaldatamention"
# Holders of the new right when this migration runs (a migration must not read live code).
HOLDERS = ["Privacy officers"]

SQLITE = [
    f"""CREATE TRIGGER {MENTIONS}_insert AFTER INSERT ON {TABLE}
    WHEN NEW.personal_data_found IS NOT NULL BEGIN
        INSERT INTO {MENTIONS} (transcription_id, kind, value_hash)
        SELECT NEW.id, json_extract(value, '$[0]'), json_extract(value, '$[3]')
        FROM json_each(NEW.personal_data_found);
    END""",
    # A sync pass rewrites every row: only a changed finding touches the mentions.
    f"""CREATE TRIGGER {MENTIONS}_update AFTER UPDATE OF personal_data_found ON {TABLE}
    WHEN OLD.personal_data_found IS NOT NEW.personal_data_found BEGIN
        DELETE FROM {MENTIONS} WHERE transcription_id = OLD.id;
        INSERT INTO {MENTIONS} (transcription_id, kind, value_hash)
        SELECT NEW.id, json_extract(value, '$[0]'), json_extract(value, '$[3]')
        FROM json_each(NEW.personal_data_found);
    END""",
    f"""CREATE TRIGGER {MENTIONS}_delete AFTER DELETE ON {TABLE}
    WHEN OLD.personal_data_found IS NOT NULL BEGIN
        DELETE FROM {MENTIONS} WHERE transcription_id = OLD.id;
    END""",
]
POSTGRESQL = [
    f"""CREATE FUNCTION {MENTIONS}_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            DELETE FROM {MENTIONS} WHERE transcription_id = OLD.id;
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.personal_data_found IS NOT NULL THEN
            INSERT INTO {MENTIONS} (transcription_id, kind, value_hash)
            SELECT NEW.id, e->>0, e->>3 FROM jsonb_array_elements(NEW.personal_data_found::jsonb) e;
        END IF;
        RETURN NULL;
    END $$""",
    # Row triggers with WHEN: a row whose finding did not change costs no call at all.
    f"""CREATE TRIGGER {MENTIONS}_insert AFTER INSERT ON {TABLE} FOR EACH ROW
    WHEN (NEW.personal_data_found IS NOT NULL) EXECUTE FUNCTION {MENTIONS}_keep()""",
    f"""CREATE TRIGGER {MENTIONS}_update AFTER UPDATE OF personal_data_found ON {TABLE}
    FOR EACH ROW WHEN (OLD.personal_data_found IS DISTINCT FROM NEW.personal_data_found)
    EXECUTE FUNCTION {MENTIONS}_keep()""",
    f"""CREATE TRIGGER {MENTIONS}_delete AFTER DELETE ON {TABLE} FOR EACH ROW
    WHEN (OLD.personal_data_found IS NOT NULL) EXECUTE FUNCTION {MENTIONS}_keep()""",
]


COLUMNS = [
    "personal_data integer NOT NULL DEFAULT 0 CHECK (personal_data >= 0)",
    "personal_data_found text NULL",
    "personal_data_version smallint NOT NULL DEFAULT 0 CHECK (personal_data_version >= 0)",
]


def columns_add(apps, schema_editor):
    for column in COLUMNS:
        schema_editor.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column}")


def columns_drop(apps, schema_editor):
    for column in COLUMNS:
        schema_editor.execute(f"ALTER TABLE {TABLE} DROP COLUMN {column.split()[0]}")


def triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"sqlite": SQLITE, "postgresql": POSTGRESQL}.get(vendor, []):
        schema_editor.execute(statement)


def triggers_drop(apps, schema_editor):
    for name in ("insert", "update", "delete"):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {MENTIONS}_{name} ON {TABLE}")
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {MENTIONS}_{name}")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {MENTIONS}_keep()")


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    app_config = apps.get_app_config("transcriptions")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    permission = Permission.objects.get(
        content_type__app_label="transcriptions", codename="reveal_personal_data"
    )
    for group in Group.objects.filter(name__in=HOLDERS):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="transcriptions", codename="reveal_personal_data"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("transcriptions", "0016_search_words"),
    ]

    operations = [
        migrations.CreateModel(
            name="PersonalDataMention",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("transcription_id", models.BigIntegerField(db_index=True)),
                ("kind", models.CharField(max_length=24)),
                ("value_hash", models.CharField(db_index=True, max_length=32)),
            ],
        ),
        migrations.AlterModelOptions(
            name="transcription",
            options={
                "ordering": ["-date_created", "-id"],
                "permissions": [
                    ("view_transcript_text", "Can read transcript text"),
                    ("apply_retention", "Can apply the retention policy"),
                    ("start_sync", "Can start a sync from the page"),
                    ("reveal_personal_data", "Can reveal personal data in transcript text"),
                ],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="batch",
            field=models.CharField(blank=True, db_index=True, default="", max_length=40),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="in_batch",
            field=models.BooleanField(default=False),
        ),
        # Added by hand: Django's SQLite schema editor rebuilds the table for a NOT NULL
        # column, which drops the word index's and the counts' triggers (and copies every row).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="transcription",
                    name="personal_data",
                    field=models.PositiveIntegerField(default=0, editable=False),
                ),
                migrations.AddField(
                    model_name="transcription",
                    name="personal_data_found",
                    field=models.TextField(blank=True, editable=False, null=True),
                ),
                migrations.AddField(
                    model_name="transcription",
                    name="personal_data_version",
                    field=models.PositiveSmallIntegerField(default=0, editable=False),
                ),
            ],
            database_operations=[migrations.RunPython(columns_add, columns_drop)],
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("viewed_text", "Viewed text"),
                    ("deleted", "Deleted"),
                    ("delete_failed", "Delete failed"),
                    ("delete_unknown", "Delete outcome unknown"),
                    ("synced", "Synced"),
                    ("exported", "Exported CSV"),
                    ("retention_applied", "Applied retention policy"),
                    ("viewed_snippets", "Saw text in the table"),
                    ("searched", "Searched"),
                    ("revealed", "Revealed personal data"),
                    ("bulk_deletion", "Bulk deletion"),
                    ("personal_data_scan", "Scanned for personal data"),
                ],
                db_index=True,
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="recording_sid",
            field=models.CharField(blank=True, db_index=True, default="", max_length=34),
        ),
        migrations.AddIndex(
            model_name="transcription",
            index=models.Index(
                condition=models.Q(("personal_data__gt", 0)),
                fields=["-date_created", "-id"],
                name="tr_personal_data_idx",
            ),
        ),
        migrations.RunPython(triggers, triggers_drop),
        migrations.RunPython(grant, revoke),
    ]
