"""The four groups and their rights; each group has the rights of the one before it."""

from __future__ import annotations

VIEWERS = "Viewers"
REVIEWERS = "Reviewers"
DELETERS = "Deleters"
PRIVACY_OFFICERS = "Privacy officers"

# (app_label, codename) pairs, cumulative down the list.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    VIEWERS: [("transcriptions", "view_transcription")],
    REVIEWERS: [
        ("transcriptions", "view_transcript_text"),
        ("transcriptions", "start_sync"),
    ],
    DELETERS: [("transcriptions", "delete_transcription")],
    PRIVACY_OFFICERS: [
        ("transcriptions", "view_auditevent"),
        ("transcriptions", "apply_retention"),
        ("transcriptions", "reveal_personal_data"),
    ],
}


def role_permissions(role: str) -> list[tuple[str, str]]:
    """Every permission the role holds, its own and those of the roles before it."""
    held: list[tuple[str, str]] = []
    for name, perms in ROLE_PERMISSIONS.items():
        held.extend(perms)
        if name == role:
            return held
    raise KeyError(role)


def sync_role_groups(group_model, permission_model) -> None:
    """Create the groups and give each exactly its permissions (models passed in for migrations)."""
    for role in ROLE_PERMISSIONS:
        group, _ = group_model.objects.get_or_create(name=role)
        perms = [
            permission_model.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in role_permissions(role)
        ]
        group.permissions.set(perms)
