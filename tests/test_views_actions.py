"""Preview, refresh and delete views, the permission matrix and CSRF, over the test client with
the sandbox as Twilio."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from tests.conftest import ACCOUNT_SID, HTMX
from transcriptions.models import AuditEvent, Transcription

pytestmark = pytest.mark.django_db

SCRIPT_TEXT = '<script>window.__pwned = 1</script>Caller said "hi" & left.\nSecond line'


def detail_url(sid: str) -> str:
    return reverse("transcriptions:detail", args=[sid])


def delete_url(sid: str) -> str:
    return reverse("transcriptions:delete", args=[sid])


def refresh_url(sid: str) -> str:
    return reverse("transcriptions:refresh", args=[sid])


def resource_path(sid: str) -> str:
    return f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{sid}"


@pytest.fixture
def pair(twilio, make_transcription):
    """An item at Twilio and its cached row."""
    item = twilio.store.add(transcription_text="Thanks for calling.", duration=12)
    row = make_transcription(
        sid=item.sid, recording_sid=item.recording_sid, transcription_text=item.transcription_text
    )
    return item, row


def login(client: Client, user) -> Client:
    client.force_login(user)
    return client


def no_text_in_audit(*texts: str) -> bool:
    for event in AuditEvent.objects.all():
        stored = " ".join(
            [event.outcome, event.username, event.transcription_sid, event.recording_sid]
        )
        if any(text in stored for text in texts):
            return False
    return True


# Preview


def test_preview_partial_over_htmx_holds_the_full_text_escaped(
    client, reviewer, make_transcription
):
    row = make_transcription(transcription_text=SCRIPT_TEXT)

    response = login(client, reviewer).get(detail_url(row.sid), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith(f'<article class="preview-body" id="preview-{row.sid}"')
    assert (
        "&lt;script&gt;window.__pwned = 1&lt;/script&gt;Caller said &quot;hi&quot; &amp; "
        "left.<br>Second line"
    ) in body
    assert "<script>window.__pwned" not in body
    assert "HX-Request" in response["Vary"]


def test_preview_without_htmx_is_a_full_page(client, reviewer, make_transcription):
    row = make_transcription(transcription_text="Line one\nLine two")

    response = login(client, reviewer).get(detail_url(row.sid))

    body = response.content.decode()
    assert "<html" in body
    assert 'id="preview"' in body
    assert "Line one<br>Line two" in body
    assert "HX-Request" in response["Vary"]


def test_preview_history_restore_gets_the_full_page(client, reviewer, make_transcription):
    row = make_transcription()

    response = login(client, reviewer).get(
        detail_url(row.sid), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX
    )

    assert "<html" in response.content.decode()


def test_preview_is_audited_without_the_text(client, reviewer, make_transcription):
    row = make_transcription(transcription_text="Card 4111 1111 1111 1111")

    login(client, reviewer).get(detail_url(row.sid), **HTMX)

    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.VIEWED_TEXT
    assert event.user == reviewer
    assert event.transcription_sid == row.sid
    assert event.recording_sid == row.recording_sid
    assert event.outcome == "cache, personal data masked"
    assert no_text_in_audit("4111")


def test_preview_fetches_missing_text_from_twilio_stores_and_audits_it(
    client, reviewer, twilio, make_transcription
):
    item = twilio.store.add(transcription_text="Fetched from upstream <b>bold</b>")
    row = make_transcription(
        sid=item.sid, recording_sid=item.recording_sid, transcription_text=None
    )

    response = login(client, reviewer).get(detail_url(row.sid), **HTMX)

    assert "Fetched from upstream &lt;b&gt;bold&lt;/b&gt;" in response.content.decode()
    row.refresh_from_db()
    assert row.transcription_text == "Fetched from upstream <b>bold</b>"
    assert any(path.startswith(resource_path(item.sid)) for _, path in twilio.request_log)
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome) == ("viewed_text", "fetched from Twilio")
    assert no_text_in_audit("upstream")


def test_preview_of_text_past_retention_fetches_nothing_and_says_so(
    client, reviewer, twilio, make_transcription, settings
):
    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = 30
    old = datetime.now(UTC) - timedelta(days=400)
    item = twilio.store.add(transcription_text="Old words", date_created=old)
    row = make_transcription(
        sid=item.sid,
        recording_sid=item.recording_sid,
        transcription_text=None,
        date_created=old,
        date_updated=old,
    )

    response = login(client, reviewer).get(detail_url(row.sid), **HTMX)

    body = response.content.decode()
    assert "retention period (30 days)" in body
    assert "Old words" not in body
    assert twilio.request_log == []
    row.refresh_from_db()
    assert row.transcription_text is None
    assert not AuditEvent.objects.exists()


def test_preview_says_when_twilio_is_not_configured(client, reviewer, make_transcription):
    row = make_transcription(transcription_text=None)

    response = login(client, reviewer).get(detail_url(row.sid), **HTMX)

    assert response.status_code == 200
    assert "Twilio is not configured: TWILIO_ACCOUNT_SID is not set." in response.content.decode()
    assert not AuditEvent.objects.exists()


def test_preview_shows_a_twilio_error_and_keeps_the_row(
    client, reviewer, twilio, make_transcription
):
    item = twilio.store.add(transcription_text="Unreachable words")
    row = make_transcription(
        sid=item.sid, recording_sid=item.recording_sid, transcription_text=None
    )
    twilio.faults.error_rate = 1.0

    response = login(client, reviewer).get(detail_url(row.sid), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "The text could not be fetched. Twilio had a problem on its side (error 500)" in body
    assert "Try again in a few minutes." in body
    assert Transcription.objects.filter(pk=row.pk).exists()
    assert not AuditEvent.objects.exists()


def test_preview_of_one_gone_at_twilio_removes_it_and_says_so(
    client, reviewer, twilio, make_transcription
):
    row = make_transcription(transcription_text=None)

    response = login(client, reviewer).get(detail_url(row.sid), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Twilio no longer has" in body
    assert f'id="transcription-{row.sid}" hx-swap-oob="delete"' in body
    assert "transcriptions-changed" in json.loads(response["HX-Trigger"])
    assert not Transcription.objects.filter(pk=row.pk).exists()
    assert AuditEvent.objects.get().action == AuditEvent.Action.SYNCED


def test_preview_lists_the_recordings_other_transcriptions(client, reviewer, make_transcription):
    row = make_transcription()
    sibling = make_transcription(recording_sid=row.recording_sid)
    stranger = make_transcription()

    body = login(client, reviewer).get(detail_url(row.sid), **HTMX).content.decode()

    assert f'hx-get="{detail_url(sibling.sid)}"' in body
    assert f'hx-get="{detail_url(row.sid)}"' not in body
    assert stranger.sid not in body


def test_preview_offers_delete_only_to_those_who_may(client, reviewer, deleter, make_transcription):
    row = make_transcription()

    as_reviewer = login(client, reviewer).get(detail_url(row.sid), **HTMX).content.decode()
    as_deleter = login(Client(), deleter).get(detail_url(row.sid), **HTMX).content.decode()

    assert 'data-action="delete"' not in as_reviewer
    assert 'data-action="delete"' in as_deleter
    assert f'hx-get="{delete_url(row.sid)}"' in as_deleter


@pytest.mark.parametrize("sid", ["TR" + "0" * 32, "TR123", "x" * 300, "TR%00", "%00"])
def test_preview_of_unknown_or_malformed_sid_is_404(client, reviewer, make_transcription, sid):
    make_transcription()

    response = login(client, reviewer).get(f"/t/{sid}/")

    assert response.status_code == 404


def test_preview_over_htmx_of_a_missing_row_says_so_in_messages(client, reviewer):
    response = login(client, reviewer).get(detail_url("TR" + "0" * 32), **HTMX)

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#messages"
    assert response["HX-Reswap"] == "innerHTML"
    assert "is not in the list" in response.content.decode()


# Refresh


def test_refresh_over_htmx_refetches_and_shows_the_new_text(client, reviewer, twilio, pair):
    item, row = pair
    synced_before = row.synced_at
    twilio.store.update(item.sid, transcription_text="Corrected text", duration=99)

    response = login(client, reviewer).post(refresh_url(row.sid), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Corrected text" in body
    assert "Refreshed from Twilio" in body
    assert "transcriptions-changed" in json.loads(response["HX-Trigger"])
    row.refresh_from_db()
    assert row.transcription_text == "Corrected text"
    assert row.duration == 99
    assert row.synced_at > synced_before
    assert AuditEvent.objects.get().action == "viewed_text"


def test_refresh_without_htmx_redirects_to_the_page(client, reviewer, twilio, pair):
    item, row = pair
    twilio.store.update(item.sid, status="failed")

    response = login(client, reviewer).post(refresh_url(row.sid))

    assert response.status_code == 302
    assert response["Location"] == detail_url(row.sid)
    row.refresh_from_db()
    assert row.status == "failed"
    assert "Refreshed from Twilio" in str(list(get_messages(response.wsgi_request))[0])


def test_refresh_of_one_gone_at_twilio_removes_it(client, reviewer, twilio, pair):
    item, row = pair
    twilio.store.delete(item.sid)

    response = login(client, reviewer).post(refresh_url(row.sid), **HTMX)

    assert response.status_code == 200
    assert "Twilio no longer has" in response.content.decode()
    assert f'id="transcription-{row.sid}" hx-swap-oob="delete"' in response.content.decode()
    assert not Transcription.objects.filter(pk=row.pk).exists()


def test_refresh_error_is_retargeted_to_messages_and_keeps_the_row(client, reviewer, twilio, pair):
    item, row = pair
    twilio.faults.error_rate = 1.0

    response = login(client, reviewer).post(refresh_url(row.sid), **HTMX)

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#messages"
    assert response["HX-Reswap"] == "innerHTML"
    assert "Could not refresh" in response.content.decode()
    row.refresh_from_db()
    assert row.transcription_text == "Thanks for calling."


def test_refresh_needs_post(client, reviewer, make_transcription):
    row = make_transcription()

    assert login(client, reviewer).get(refresh_url(row.sid)).status_code == 405


# Delete


def test_delete_confirmation_over_htmx_is_a_fragment_naming_the_sid(client, deleter, twilio, pair):
    item, row = pair

    response = login(client, deleter).get(delete_url(row.sid), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert row.sid in body
    assert 'data-action="confirm-delete"' in body
    assert f'hx-post="{delete_url(row.sid)}"' in body
    assert 'data-action="cancel-delete"' in body
    assert "HX-Request" in response["Vary"]


def test_delete_confirmation_without_htmx_is_a_page_with_a_post_form(client, deleter, twilio, pair):
    item, row = pair

    body = login(client, deleter).get(delete_url(row.sid)).content.decode()

    assert "<html" in body
    assert re.search(rf'<form method="post" action="{re.escape(delete_url(row.sid))}"', body)
    assert "csrfmiddlewaretoken" in body


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_get_never_deletes(client, deleter, twilio, pair, headers):
    item, row = pair

    login(client, deleter).get(delete_url(row.sid), **headers)

    assert Transcription.objects.filter(pk=row.pk).exists()
    assert twilio.store.get(item.sid) is not None
    assert all(method != "DELETE" for method, _ in twilio.request_log)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_delete_over_htmx_returns_200_removes_row_here_and_at_twilio(
    client, deleter, twilio, pair, method
):
    item, row = pair

    response = getattr(login(client, deleter), method)(delete_url(row.sid), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert not Transcription.objects.filter(sid=item.sid).exists()
    assert twilio.store.get(item.sid) is None
    assert ("DELETE", resource_path(item.sid) + ".json") in twilio.request_log
    # Out of band: #messages confirms; the body empties #modal. The table refreshes itself and
    # the preview of this SID closes, on the answer's events (neither may be on the page).
    assert 'hx-swap-oob="delete"' not in body
    assert '<div id="messages" hx-swap-oob="innerHTML">' in body
    assert f"Deleted {item.sid}" in body
    events = json.loads(response["HX-Trigger"])
    assert "transcriptions-changed" in events
    assert events["transcription-deleted"] == {"sid": item.sid}
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome, event.user) == ("deleted", "deleted", deleter)


def test_delete_of_one_already_gone_at_twilio_removes_the_row(client, deleter, twilio, pair):
    item, row = pair
    twilio.store.delete(item.sid)

    response = login(client, deleter).post(delete_url(row.sid), **HTMX)

    assert response.status_code == 200
    assert "already gone at Twilio" in response.content.decode()
    assert not Transcription.objects.filter(sid=item.sid).exists()
    assert AuditEvent.objects.get().outcome == "already gone at Twilio"


def test_delete_error_at_twilio_keeps_the_row_and_retargets_the_error(
    client, deleter, twilio, pair
):
    item, row = pair
    twilio.faults.error_rate = 1.0

    response = login(client, deleter).post(delete_url(row.sid), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#messages"
    assert response["HX-Reswap"] == "innerHTML"
    assert f"Could not delete {item.sid}; it is kept." in body
    assert "Twilio had a problem on its side (error 500). Try again in a few minutes." in body
    assert 'class="message message-error"' in body
    assert Transcription.objects.filter(sid=item.sid).exists()
    assert twilio.store.get(item.sid) is not None
    assert AuditEvent.objects.get().action == "delete_failed"


def test_delete_without_htmx_redirects_to_the_list(client, deleter, twilio, pair):
    item, row = pair

    response = login(client, deleter).post(delete_url(row.sid))

    assert response.status_code == 302
    assert response["Location"] == reverse("transcriptions:list")
    assert not Transcription.objects.filter(sid=item.sid).exists()
    assert twilio.store.get(item.sid) is None
    assert f"Deleted {item.sid}" in str(list(get_messages(response.wsgi_request))[0])


def test_delete_error_without_htmx_redirects_with_the_error(client, deleter, twilio, pair):
    item, row = pair
    twilio.faults.error_rate = 1.0

    response = login(client, deleter).post(delete_url(row.sid))

    assert response.status_code == 302
    assert "Could not delete" in str(list(get_messages(response.wsgi_request))[0])
    assert Transcription.objects.filter(sid=item.sid).exists()


def test_delete_from_its_own_page_sends_the_browser_back_to_the_list(client, deleter, twilio, pair):
    item, row = pair

    response = login(client, deleter).post(
        delete_url(row.sid), HTTP_HX_CURRENT_URL=f"http://testserver{detail_url(row.sid)}", **HTMX
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("transcriptions:list")
    assert not Transcription.objects.filter(sid=item.sid).exists()


def test_delete_when_twilio_is_not_configured_keeps_the_row(client, deleter, make_transcription):
    row = make_transcription()

    response = login(client, deleter).post(delete_url(row.sid), **HTMX)

    assert response["HX-Retarget"] == "#messages"
    assert "Twilio is not configured" in response.content.decode()
    assert Transcription.objects.filter(pk=row.pk).exists()


def test_delete_over_htmx_of_a_row_removed_meanwhile_takes_it_off_the_page(client, deleter):
    sid = "TR" + "f" * 32

    response = login(client, deleter).post(delete_url(sid), **HTMX)

    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"])["transcription-deleted"] == {"sid": sid}
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("sid", ["TR" + "0" * 32, "nonsense", "TR%00"])
def test_delete_of_unknown_or_malformed_sid_is_404(client, deleter, sid):
    client = login(client, deleter)

    assert client.get(f"/t/{sid}/delete/").status_code == 404
    assert client.post(f"/t/{sid}/delete/").status_code == 404


def test_delete_refuses_other_methods(client, deleter, make_transcription):
    row = make_transcription()

    assert login(client, deleter).put(delete_url(row.sid)).status_code == 405


# CSRF


def test_delete_post_without_a_csrf_token_is_refused(deleter, twilio, pair):
    item, row = pair
    client = login(Client(enforce_csrf_checks=True), deleter)

    response = client.post(delete_url(row.sid), **HTMX)

    assert response.status_code == 403
    assert Transcription.objects.filter(sid=item.sid).exists()
    assert twilio.store.get(item.sid) is not None


def test_delete_with_the_csrf_header_htmx_sends_is_accepted(deleter, twilio, pair):
    item, row = pair
    client = login(Client(enforce_csrf_checks=True), deleter)
    page = client.get(delete_url(row.sid)).content.decode()
    # base.html puts the token in hx-headers on <body>; htmx sends it as X-CSRFToken.
    token = re.search(r'hx-headers=\'\{"x-csrftoken": "([^"]+)"\}\'', page).group(1)

    response = client.post(delete_url(row.sid), HTTP_X_CSRFTOKEN=token, **HTMX)

    assert response.status_code == 200
    assert twilio.store.get(item.sid) is None


def test_refresh_without_a_csrf_token_is_refused(reviewer, twilio, pair):
    item, row = pair
    client = login(Client(enforce_csrf_checks=True), reviewer)

    assert client.post(refresh_url(row.sid), **HTMX).status_code == 403


# Permissions


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw-root")


# (who, preview, delete confirmation, delete, audit): the status each gets.
MATRIX = [
    ("nobody", 403, 403, 403, 403),
    ("viewer", 403, 403, 403, 403),
    ("reviewer", 200, 403, 403, 403),
    ("deleter", 200, 200, 302, 403),
    ("privacy_officer", 200, 200, 302, 200),
    ("superuser", 200, 200, 302, 200),
]


@pytest.mark.parametrize(("who", "preview", "confirm", "delete", "audit"), MATRIX)
def test_permission_matrix(request, client, twilio, pair, who, preview, confirm, delete, audit):
    item, row = pair
    client = login(client, request.getfixturevalue(who))

    assert client.get(detail_url(row.sid)).status_code == preview
    assert client.get(delete_url(row.sid)).status_code == confirm
    assert client.get(reverse("transcriptions:audit")).status_code == audit
    assert client.post(delete_url(row.sid)).status_code == delete
    assert Transcription.objects.filter(sid=item.sid).exists() == (delete != 302)
    assert (twilio.store.get(item.sid) is None) == (delete == 302)


@pytest.mark.parametrize("who", ["nobody", "viewer", "reviewer"])
def test_refused_delete_over_htmx_does_not_touch_twilio(request, client, twilio, pair, who):
    item, row = pair
    client = login(client, request.getfixturevalue(who))

    assert client.delete(delete_url(row.sid), **HTMX).status_code == 403
    assert twilio.request_log == []
    assert not AuditEvent.objects.exists()


def test_refresh_needs_the_text_permission(client, viewer, make_transcription):
    row = make_transcription()

    assert login(client, viewer).post(refresh_url(row.sid)).status_code == 403


@pytest.mark.parametrize(
    ("method", "url_name"),
    [
        ("get", "detail"),
        ("get", "delete"),
        ("post", "delete"),
        ("post", "refresh"),
        ("get", "audit"),
    ],
)
def test_anonymous_users_are_sent_to_log_in(client, make_transcription, method, url_name):
    row = make_transcription()
    url = (
        reverse("transcriptions:audit")
        if url_name == "audit"
        else reverse(f"transcriptions:{url_name}", args=[row.sid])
    )

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Transcription.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize(
    ("who", "sees_preview", "sees_delete"),
    [("viewer", False, False), ("reviewer", True, False), ("deleter", True, True)],
)
def test_list_shows_only_the_buttons_the_user_may_use(
    request, client, make_transcription, who, sees_preview, sees_delete
):
    make_transcription()

    body = login(client, request.getfixturevalue(who)).get("/").content.decode()

    assert ('data-action="preview"' in body) == sees_preview
    assert ('data-action="delete"' in body) == sees_delete


def test_audit_never_holds_transcript_text(client, deleter, twilio, make_transcription):
    secret = "my e-mail is jane.doe@example.com"
    item = twilio.store.add(transcription_text=secret)
    row = make_transcription(
        sid=item.sid, recording_sid=item.recording_sid, transcription_text=None
    )
    client = login(client, deleter)

    client.get(detail_url(row.sid), **HTMX)
    client.post(refresh_url(row.sid), **HTMX)
    client.post(delete_url(row.sid), **HTMX)

    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"viewed_text", "deleted"}
    assert no_text_in_audit("jane.doe", "example.com", "e-mail")


@pytest.mark.parametrize(
    ("status", "row_says", "preview_says"),
    [
        ("failed", "no text (failed)", "it failed"),
        ("in-progress", "not transcribed yet", "has not finished this transcription"),
    ],
)
def test_no_text_at_twilio_is_said_so_without_asking_it(
    client, reviewer, twilio, make_transcription, status, row_says, preview_says
):
    item = twilio.store.add(status=status, transcription_text=None)
    row = make_transcription(
        sid=item.sid, recording_sid=item.recording_sid, status=status, transcription_text=None
    )
    login(client, reviewer)
    table = client.get(reverse("transcriptions:list")).content.decode()
    assert row_says in table and "not cached yet" not in table
    asked = len(twilio.request_log)
    body = client.get(detail_url(row.sid), **HTMX).content.decode()
    assert preview_says in body
    assert len(twilio.request_log) == asked


def test_text_fetched_for_the_preview_refreshes_the_table(client, reviewer, pair):
    item, row = pair
    Transcription.objects.filter(pk=row.pk).update(transcription_text=None)
    response = login(client, reviewer).get(detail_url(row.sid), **HTMX)
    assert item.transcription_text in response.content.decode()
    assert "transcriptions-changed" in json.loads(response["HX-Trigger"])
    again = client.get(detail_url(row.sid), **HTMX)
    assert "HX-Trigger" not in again


def test_a_viewer_opening_a_preview_link_gets_a_page_in_words(client, viewer, pair):
    item, row = pair
    response = login(client, viewer).get(detail_url(row.sid))
    body = response.content.decode()
    assert response.status_code == 403
    assert "Not for your role" in body and "needs the Reviewers role" in body
    assert 'href="/"' in body or reverse("transcriptions:list") in body
    assert item.transcription_text not in body
