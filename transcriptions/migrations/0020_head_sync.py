"""Head syncs: a sync run of the newest pages only."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("transcriptions", "0019_personal_data_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="syncrun",
            name="kind",
            field=models.CharField(
                choices=[("full", "Full"), ("recording", "One recording"), ("head", "Newest")],
                default="full",
                max_length=16,
            ),
        ),
    ]
