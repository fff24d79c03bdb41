from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

# The groups and rights as they stood when this migration was written: a migration must not
# read live code, which changes after it has run.
ROLE_PERMISSIONS = {
    "Viewers": [("transcriptions", "view_transcription")],
    "Reviewers": [("transcriptions", "view_transcript_text")],
    "Deleters": [("transcriptions", "delete_transcription")],
    "Privacy officers": [
        ("transcriptions", "view_auditevent"),
        ("transcriptions", "apply_retention"),
    ],
}


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # Permissions are normally created after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    held = []
    # Each group has the rights of the one before it.
    for role, perms in ROLE_PERMISSIONS.items():
        held += perms
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            [
                Permission.objects.get(content_type__app_label=app, codename=codename)
                for app, codename in held
            ]
        )


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("transcriptions", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
