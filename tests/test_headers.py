"""Headers and sessions: a strict Content-Security-Policy with no inline code to need more,
pages that show text kept out of caches, CSRF failures said in words, login throttling, no
password reset by mail, no production server on the development key, no search words in a
log line."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from .conftest import HTMX

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["/", "/overview/", "/bulk/", "/bulk/new/", "/audit/", "/retention/", "/accounts/login/"]


@pytest.fixture
def officer(django_user_model):
    from django.contrib.auth.models import Group, Permission

    from transcriptions.roles import PRIVACY_OFFICERS, sync_role_groups

    if not Group.objects.filter(name=PRIVACY_OFFICERS).exists():
        sync_role_groups(Group, Permission)
    user = django_user_model.objects.create_user(username="officer", password="pw-officer")
    user.groups.add(Group.objects.get(name=PRIVACY_OFFICERS))
    return user


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_strict_policy_and_no_inline_code(
    client, officer, make_transcription, path
):
    make_transcription(transcription_text="<script>alert(1)</script> hello")
    if path != "/accounts/login/":
        client.force_login(officer)
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    html = response.content.decode()
    assert not re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.findall(r"<style\b", html)
    assert not re.findall(r"\sstyle=", html)
    assert not re.findall(r"\son[a-z]+=", html)
    assert "hx-on" not in html
    # htmx would inject its indicator styles inline, and evaluate hx-on code: both off.
    assert '"includeIndicatorStyles": false' in html and '"allowEval": false' in html


@pytest.mark.django_db
def test_pages_and_fragments_that_show_text_are_not_cached(client, reviewer, make_transcription):
    row = make_transcription(transcription_text="a private matter")
    client.force_login(reviewer)
    for response in (
        client.get("/"),
        client.get("/", **HTMX),
        client.get(reverse("transcriptions:detail", args=[row.sid])),
        client.get(reverse("transcriptions:detail", args=[row.sid]), **HTMX),
    ):
        cache_control = response["Cache-Control"]
        assert "private" in cache_control and "no-store" in cache_control


@pytest.mark.django_db
def test_a_stale_csrf_token_is_said_in_words(reviewer, sandbox):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    client.get("/")
    response = client.post("/sync/", HTTP_X_CSRFTOKEN="stale-token-from-an-old-page", **HTMX)
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#messages"
    assert "Reload the page and try again" in response.content.decode()
    page = client.post("/sync/", {"csrfmiddlewaretoken": "stale"})
    assert page.status_code == 403 and "Nothing was done" in page.content.decode()


@pytest.mark.django_db
def test_wrong_passwords_lock_the_login_out(client, reviewer):
    url = reverse("login")
    for _ in range(4):
        response = client.post(url, {"username": "reviewer", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    fifth = client.post(url, {"username": "reviewer", "password": "wrong"})
    assert fifth.status_code == 429
    # The right password no longer works from here, for a while.
    locked = client.post(url, {"username": "reviewer", "password": "pw-reviewer"})
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another user from the same address is not locked out.
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="other", password="pw-other")
    ok = client.post(url, {"username": "other", "password": "pw-other"})
    assert ok.status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/set-password/",
        "/accounts/password_change/",
    ],
)
def test_no_password_reset_by_mail(client, path, mailoutbox):
    assert client.get(path).status_code == 404
    assert client.post(path, {"email": "someone@example.com"}).status_code == 404
    assert mailoutbox == []


def _wsgi_import(env_changes: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "-c", "import dashboard.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_web_server_refuses_the_development_key_in_production():
    refused = _wsgi_import({})
    assert refused.returncode != 0
    assert "SECRET_KEY is not set" in refused.stderr
    assert _wsgi_import({"SECRET_KEY": "a-real-secret-" + "x" * 40}).returncode == 0
    assert _wsgi_import({"DEBUG": "1"}).returncode == 0  # a developer's server


def test_request_lines_are_logged_without_their_query_string():
    from transcriptions.log_filters import QueryStringsLeftOut

    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        ("GET /?q=4111+1111+1111+1111&status=failed HTTP/1.1", "200", "512"),
        None,
    )
    assert QueryStringsLeftOut().filter(record)
    assert record.getMessage() == '"GET / HTTP/1.1" 200 512'


def test_gunicorn_logs_paths_without_query_strings():
    config = (ROOT / "gunicorn.conf.py").read_text()
    assert "%(U)s" in config and "%(r)s" not in config and "%(q)s" not in config
