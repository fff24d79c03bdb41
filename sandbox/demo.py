"""The fixed demo account the sandbox serves when started without credentials.

These are not Twilio credentials: they only open the local sandbox, so `make demo` can hand
them to the dashboard.
"""

from __future__ import annotations

DEMO_ACCOUNT_SID = "AC" + "de" * 16
DEMO_AUTH_TOKEN = "sandbox-demo-auth-token"
