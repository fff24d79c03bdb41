"""Starting a sync from the page becomes a right of its own (Reviewers and the roles after
them; not Viewers)."""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

# The roles that hold it when this migration runs (a migration must not read live code).
HOLDERS = ["Reviewers", "Deleters", "Privacy officers"]


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    app_config = apps.get_app_config("transcriptions")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    permission = Permission.objects.get(
        content_type__app_label="transcriptions", codename="start_sync"
    )
    for group in Group.objects.filter(name__in=HOLDERS):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="transcriptions", codename="start_sync"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("transcriptions", "0013_deletion_claims")]

    operations = [
        migrations.AlterModelOptions(
            name="transcription",
            options={
                "ordering": ["-date_created", "-id"],
                "permissions": [
                    ("view_transcript_text", "Can read transcript text"),
                    ("apply_retention", "Can apply the retention policy"),
                    ("start_sync", "Can start a sync from the page"),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
