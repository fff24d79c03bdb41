"""The audit trail: one writer, append-only, never the text; the audit page and its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from transcriptions.audit import audit_event_list, audit_record
from transcriptions.models import AuditEvent

pytestmark = pytest.mark.django_db

AUDIT_URL = "/audit/"


def test_audit_record_stores_who_what_and_outcome(reviewer):
    event = audit_record(
        user=reviewer,
        action=AuditEvent.Action.VIEWED_TEXT,
        transcription_sid="TR" + "a" * 32,
        recording_sid="RE" + "b" * 32,
        outcome="cache",
    )

    event.refresh_from_db()
    assert event.user == reviewer
    assert event.username == "reviewer"
    assert event.action == "viewed_text"
    assert event.transcription_sid == "TR" + "a" * 32
    assert event.recording_sid == "RE" + "b" * 32
    assert event.outcome == "cache"
    assert event.created_at is not None


def test_audit_record_without_a_person_and_with_a_long_outcome():
    event = audit_record(user=None, action=AuditEvent.Action.SYNCED, outcome="x" * 1000)

    assert event.user is None
    assert event.username == ""
    assert len(event.outcome) == AuditEvent._meta.get_field("outcome").max_length


def test_audit_record_refuses_an_unknown_action(reviewer):
    with pytest.raises(ValueError):
        audit_record(user=reviewer, action="edited")
    assert not AuditEvent.objects.exists()


def test_events_survive_the_deletion_of_their_user(reviewer):
    audit_record(user=reviewer, action=AuditEvent.Action.VIEWED_TEXT)
    reviewer.delete()

    event = AuditEvent.objects.get()
    assert event.user is None
    assert event.username == "reviewer"


def test_the_admin_offers_no_way_to_change_or_remove_events(privacy_officer, django_user_model):
    superuser = django_user_model.objects.create_superuser("root", password="pw-root")
    request = RequestFactory().get("/")
    request.user = superuser
    model_admin = admin.site._registry[AuditEvent]

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_audit_event_list_filters_by_user_action_and_days(reviewer, deleter):
    viewed = audit_record(user=reviewer, action=AuditEvent.Action.VIEWED_TEXT)
    deleted = audit_record(user=deleter, action=AuditEvent.Action.DELETED)
    old = audit_record(user=deleter, action=AuditEvent.Action.DELETE_FAILED)
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    today = timezone.localdate()

    assert list(audit_event_list(username="REVIEWER")) == [viewed]
    assert list(audit_event_list(action="deleted")) == [deleted]
    assert set(audit_event_list(date_from=today)) == {viewed, deleted}
    assert list(audit_event_list(date_to=today - timedelta(days=5))) == [old]
    assert list(audit_event_list(username="deleter", date_from=today, date_to=today)) == [deleted]


def _login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def some_events(reviewer, deleter):
    audit_record(
        user=reviewer, action=AuditEvent.Action.VIEWED_TEXT, transcription_sid="TR" + "1" * 32
    )
    audit_record(user=deleter, action=AuditEvent.Action.DELETED, transcription_sid="TR" + "2" * 32)
    old = audit_record(
        user=deleter, action=AuditEvent.Action.DELETE_FAILED, transcription_sid="TR" + "3" * 32
    )
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))


def test_audit_page_lists_events_for_a_privacy_officer(client, privacy_officer, some_events):
    response = _login(client, privacy_officer).get(AUDIT_URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body
    for digit in "123":
        assert "TR" + digit * 32 in body
    assert "<strong>3</strong> events" in body


@pytest.mark.parametrize(
    ("params", "shown", "hidden"),
    [
        ({"user": "reviewer"}, ["1"], ["2", "3"]),
        ({"action": "deleted"}, ["2"], ["1", "3"]),
        ({"action": "delete_failed", "user": "deleter"}, ["3"], ["1", "2"]),
        ({"date_from": (timezone.localdate() - timedelta(days=1)).isoformat()}, ["1", "2"], ["3"]),
        ({"date_to": (timezone.localdate() - timedelta(days=30)).isoformat()}, ["3"], ["1", "2"]),
    ],
)
def test_audit_page_filters(client, privacy_officer, some_events, params, shown, hidden):
    response = _login(client, privacy_officer).get(AUDIT_URL, params)

    body = response.content.decode()
    assert response.status_code == 200
    for digit in shown:
        assert "TR" + digit * 32 in body
    for digit in hidden:
        assert "TR" + digit * 32 not in body


@pytest.mark.parametrize(
    "params",
    [
        {"action": "launched_missiles"},
        {"date_from": "yesterday"},
        {"date_to": "2024-13-45"},
        {"date_from": "0001-01-01", "date_to": "9999-12-31"},
        {"page": "999999"},
        {"page": "-1"},
        {"page": "abc"},
        {"user": "x" * 500},
        {"user": "\x00"},
    ],
)
def test_audit_page_bad_input_is_never_a_500(client, privacy_officer, some_events, params):
    response = _login(client, privacy_officer).get(AUDIT_URL, params)

    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_audit_page_reports_an_ignored_filter(client, privacy_officer, some_events):
    response = _login(client, privacy_officer).get(AUDIT_URL, {"action": "nope", "user": "deleter"})

    body = response.content.decode()
    assert "Some filters were ignored" in body
    # The valid filter still applies.
    assert "TR" + "1" * 32 not in body
    assert "TR" + "2" * 32 in body


def test_audit_page_pages_through_many_events(client, privacy_officer, reviewer):
    AuditEvent.objects.bulk_create(
        AuditEvent(user=reviewer, username="reviewer", action="viewed_text", outcome=f"n{n}")
        for n in range(120)
    )
    _login(client, privacy_officer)

    first = client.get(AUDIT_URL, {"user": "reviewer"}).content.decode()
    third = client.get(AUDIT_URL, {"user": "reviewer", "page": 3}).content.decode()

    assert "Page 1 of 3" in first
    assert "user=reviewer&amp;page=2" in first
    assert "Page 3 of 3" in third
    assert third.count("data-audit-event=") == 20


@pytest.mark.parametrize("who", ["viewer", "reviewer", "deleter", "nobody"])
def test_audit_page_is_refused_without_the_permission(client, request, who):
    user = request.getfixturevalue(who)

    response = _login(client, user).get(AUDIT_URL)

    assert response.status_code == 403


def test_audit_page_sends_anonymous_users_to_log_in(client):
    response = client.get(AUDIT_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_superuser_sees_the_audit_page(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw-root")

    assert _login(client, root).get(AUDIT_URL).status_code == 200
