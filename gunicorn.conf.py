"""gunicorn's settings for the desk, read from the working directory when gunicorn starts."""

from __future__ import annotations

# The access log leaves out query strings: the table's URL carries the search box's words,
# which can be personal data (a name, a card number). %(U)s is the path alone.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
# A request's Twilio calls end within TWILIO_REQUEST_BUDGET_SECONDS (10 s): well inside this.
timeout = 30
