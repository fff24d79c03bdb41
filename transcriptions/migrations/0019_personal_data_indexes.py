"""Personal data at scale: the rows with personal data by status (a status's count among
them reads only those rows), and the table of keyed hashes by kind (counts per kind)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("transcriptions", "0018_personal_data_scan"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="personaldatamention",
            index=models.Index(fields=["kind", "transcription_id"], name="pd_mention_kind_idx"),
        ),
        migrations.AddIndex(
            model_name="transcription",
            index=models.Index(
                condition=models.Q(("personal_data__gt", 0)),
                fields=["status", "-date_created", "-id"],
                name="tr_personal_data_status_idx",
            ),
        ),
    ]
