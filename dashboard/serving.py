"""What a web server checks before it serves (`wsgi`, `asgi`)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def secret_key_check() -> None:
    """The development key is public (it is in this repository): with it, anyone can forge
    sessions. A web server with DEBUG off is a production server, and must have its own."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off the web server needs a secret key of its "
            "own: set SECRET_KEY in the environment (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`)."
        )
