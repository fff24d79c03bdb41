from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Installed only for its `twilio_sandbox` command; it has no models and no URLs."""

    name = "sandbox"
    verbose_name = "Twilio sandbox"
