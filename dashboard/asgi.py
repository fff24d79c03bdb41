from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
application = get_asgi_application()

from dashboard.serving import secret_key_check  # noqa: E402 - needs the settings loaded

secret_key_check()
