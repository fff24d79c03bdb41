"""The retention policy: its preview, the apply_retention command and the /retention/ page, run
to the end as a bulk deletion against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from transcriptions.models import AuditEvent, BulkDeletion, Transcription
from transcriptions.retention import (
    RETENTION_REASON,
    RetentionPolicy,
    RetentionPolicyError,
    retention_policy_parse,
    retention_preview,
)

pytestmark = pytest.mark.django_db

IMMEDIATE_TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


@pytest.fixture
def aged(make_transcription):
    """Cached rows of known ages and statuses (no upstream)."""
    return {
        "old_failed": make_transcription(status="failed", date_created=days_ago(400)),
        "old_completed": make_transcription(status="completed", date_created=days_ago(200)),
        "mid_failed": make_transcription(status="failed", date_created=days_ago(95)),
        "young_failed": make_transcription(status="failed", date_created=days_ago(10)),
        "young_completed": make_transcription(status="completed", date_created=days_ago(1)),
    }


@pytest.fixture
def twilio_aged(sandbox, make_transcription):
    """The same ages, each present at Twilio (the sandbox) and in the cache."""
    rows = {}
    spec = {
        "old_failed": ("failed", 400),
        "old_completed": ("completed", 200),
        "mid_failed": ("failed", 95),
        "young_failed": ("failed", 10),
        "young_completed": ("completed", 1),
    }
    for name, (status, age) in spec.items():
        item = sandbox.store.add(status=status, date_created=days_ago(age), duration=5)
        rows[name] = make_transcription(
            sid=item.sid,
            recording_sid=item.recording_sid,
            status=status,
            date_created=item.date_created,
        )
    return rows


def sids(*rows) -> set[str]:
    return {r.sid for r in rows}


# The policy and its preview


def test_policy_parse_accepts_days_and_known_status():
    assert retention_policy_parse(older_than_days="90", status="failed") == RetentionPolicy(
        older_than_days=90, status="failed"
    )
    assert retention_policy_parse(older_than_days=0, status="") == RetentionPolicy(0, None)


@pytest.mark.parametrize(
    ("days", "status", "message"),
    [
        ("-1", None, "cannot be negative"),
        ("ten", None, "whole number"),
        ("", None, "whole number"),
        ("99999999", None, "at most"),
        ("30", "bogus", "Unknown status 'bogus'"),
    ],
)
def test_policy_parse_rejects_bad_input_with_a_clear_message(days, status, message):
    with pytest.raises(RetentionPolicyError, match=message):
        retention_policy_parse(older_than_days=days, status=status)


def test_preview_counts_rows_older_than_the_days_from_date_created(aged):
    preview = retention_preview(policy=RetentionPolicy(older_than_days=90))
    assert preview.count == 3
    # Oldest first, and the sample is exactly the matching rows when they are few.
    assert [t.sid for t in preview.sample] == [
        aged["old_failed"].sid,
        aged["old_completed"].sid,
        aged["mid_failed"].sid,
    ]


def test_preview_with_a_status_counts_only_that_status(aged):
    preview = retention_preview(policy=RetentionPolicy(older_than_days=5, status="failed"))
    assert preview.count == 3
    assert sids(*preview.sample) == sids(
        aged["old_failed"], aged["mid_failed"], aged["young_failed"]
    )


def test_preview_sample_is_capped_while_the_count_is_not(aged):
    preview = retention_preview(policy=RetentionPolicy(older_than_days=0), sample_size=2)
    assert preview.count == 5
    assert [t.sid for t in preview.sample] == [aged["old_failed"].sid, aged["old_completed"].sid]


def test_preview_counts_from_date_created_not_from_the_last_sync(make_transcription):
    # Synced and updated just now, but created long ago: the policy covers it.
    row = make_transcription(date_created=days_ago(50), date_updated=days_ago(0))
    make_transcription(date_created=days_ago(20), date_updated=days_ago(60))
    preview = retention_preview(policy=RetentionPolicy(older_than_days=30))
    assert preview.count == 1
    assert preview.sample[0].sid == row.sid


# The command


def test_command_dry_run_shows_count_and_sample_and_deletes_nothing(aged):
    out = StringIO()
    call_command("apply_retention", "--older-than", "90", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "It would delete 3 cached transcriptions" in text
    assert aged["old_failed"].sid in text and aged["mid_failed"].sid in text
    assert aged["young_failed"].sid not in text
    assert "Dry run: nothing deleted." in text
    assert Transcription.objects.count() == 5
    assert not BulkDeletion.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "-5"], "cannot be negative"),
        (["--older-than", "abc"], "whole number"),
        (["--older-than", "30", "--status", "nope"], "Unknown status"),
        (["--older-than", "30", "--user", "ghost"], "No user named 'ghost'"),
    ],
)
def test_command_rejects_bad_input_with_a_clear_error(aged, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("apply_retention", *args, "--yes", stdout=StringIO())
    assert not BulkDeletion.objects.exists()
    assert Transcription.objects.count() == 5


def test_command_aborts_at_end_of_input_without_deleting(twilio_aged):
    out = StringIO()
    with pytest.raises(CommandError, match="end of input"):
        call_command("apply_retention", "--older-than", "90", stdin=StringIO(""), stdout=out)
    assert "Type the count to confirm (3)" in out.getvalue()
    assert not BulkDeletion.objects.exists()


@pytest.mark.parametrize("answer", ["y\n", "2\n", "yes\n", "\n"])
def test_command_aborts_unless_the_count_is_typed(twilio_aged, answer):
    with pytest.raises(CommandError, match="did not match"):
        call_command(
            "apply_retention", "--older-than", "90", stdin=StringIO(answer), stdout=StringIO()
        )
    assert not BulkDeletion.objects.exists()


# Committed for real: the worker closes and reopens database connections, which would end a
# test's wrapping transaction.
@pytest.mark.django_db(transaction=True)
def test_command_with_the_typed_count_deletes_exactly_the_matching_rows_through_the_worker(
    twilio_aged, sandbox
):
    out = StringIO()
    call_command(
        "apply_retention",
        "--older-than",
        "90",
        "--status",
        "failed",
        stdin=StringIO("2\n"),
        stdout=out,
    )
    bulk = BulkDeletion.objects.get()
    expected = sids(twilio_aged["old_failed"], twilio_aged["mid_failed"])
    assert bulk.reason == RETENTION_REASON
    assert set(bulk.items.values_list("sid", flat=True)) == expected
    assert bulk.created_by is None
    assert bulk.filter_params["retention_older_than_days"] == 90
    assert bulk.filter_params["retention_status"] == "failed"
    assert f"Started bulk deletion #{bulk.pk} of 2 transcriptions" in out.getvalue()
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_APPLIED)
    assert "command line" in event.outcome and f"#{bulk.pk}" in event.outcome

    # The real worker carries it out against the sandbox.
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    left = {r.sid for r in twilio_aged.values()} - expected
    assert {item.sid for item in sandbox.store.all()} == left
    assert set(Transcription.objects.values_list("sid", flat=True)) == left
    deletes = [path for method, path in sandbox.request_log if method == "DELETE"]
    assert len(deletes) == 2


def test_command_yes_skips_the_prompt_and_records_the_given_user(twilio_aged, privacy_officer):
    call_command(
        "apply_retention",
        "--older-than",
        "150",
        "--yes",
        "--user",
        privacy_officer.username,
        stdin=StringIO(""),  # never read
        stdout=StringIO(),
    )
    bulk = BulkDeletion.objects.get()
    assert bulk.created_by == privacy_officer
    assert set(bulk.items.values_list("sid", flat=True)) == sids(
        twilio_aged["old_failed"], twilio_aged["old_completed"]
    )
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_APPLIED)
    assert event.user == privacy_officer


def test_command_with_nothing_to_delete_says_so_and_starts_nothing(twilio_aged):
    out = StringIO()
    call_command("apply_retention", "--older-than", "1000", "--yes", stdout=out)
    assert "It would delete 0 cached transcriptions" in out.getvalue()
    assert "Nothing to delete." in out.getvalue()
    assert not BulkDeletion.objects.exists()


def test_command_without_twilio_settings_refuses_before_asking(aged):
    with pytest.raises(CommandError, match="Twilio is not configured"):
        call_command("apply_retention", "--older-than", "90", "--yes", stdout=StringIO())
    assert not BulkDeletion.objects.exists()


# The page

URL = reverse("transcriptions:retention")


def test_page_sends_anonymous_users_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize("role", ["nobody", "viewer", "reviewer", "deleter"])
def test_page_is_forbidden_to_everyone_but_privacy_officers(client, request, role, aged):
    client.force_login(request.getfixturevalue(role))
    assert client.get(URL, {"older_than_days": "90"}).status_code == 403
    response = client.post(
        URL, {"older_than_days": "90", "typed_count": "3", "cutoff": days_ago(90).isoformat()}
    )
    assert response.status_code == 403
    assert not BulkDeletion.objects.exists()


def test_nav_links_to_the_page_only_for_privacy_officers(client, deleter, privacy_officer):
    client.force_login(deleter)
    assert URL not in client.get(reverse("transcriptions:list")).content.decode()
    client.force_login(privacy_officer)
    assert URL in client.get(reverse("transcriptions:list")).content.decode()


def test_page_previews_the_count_and_a_sample(client, privacy_officer, twilio_aged):
    client.force_login(privacy_officer)
    response = client.get(URL, {"older_than_days": "90", "status": "failed"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong data-retention-count>2</strong>" in html
    assert twilio_aged["old_failed"].sid in html and twilio_aged["mid_failed"].sid in html
    assert twilio_aged["old_completed"].sid not in html
    assert 'name="typed_count"' in html
    assert "Type the count (2) to confirm" in html


def test_page_without_a_policy_shows_only_the_form(client, privacy_officer, aged):
    client.force_login(privacy_officer)
    html = client.get(URL).content.decode()
    assert 'name="older_than_days"' in html
    assert "data-retention-preview" not in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"older_than_days": "-3"}, "cannot be negative"),
        ({"older_than_days": "soon"}, "whole number"),
        ({"older_than_days": "30", "status": "bogus"}, "Unknown status"),
    ],
)
def test_page_reports_bad_input_without_a_preview(client, privacy_officer, aged, params, message):
    client.force_login(privacy_officer)
    response = client.get(URL, params)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html.replace("&#x27;", "'")
    assert "data-retention-preview" not in html


def _confirm_data(response) -> dict[str, str]:
    """The hidden fields of the confirmation form the preview rendered."""
    preview = response.context["preview"]
    return {
        "older_than_days": str(preview.policy.older_than_days),
        "status": preview.policy.status or "",
        "cutoff": preview.cutoff.isoformat(),
    }


@pytest.mark.parametrize("typed", ["", "3", "two", "y"])
def test_page_refuses_a_wrong_typed_count(client, privacy_officer, twilio_aged, typed):
    client.force_login(privacy_officer)
    data = _confirm_data(client.get(URL, {"older_than_days": "90", "status": "failed"}))
    response = client.post(URL, {**data, "typed_count": typed})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing deleted" in html or "required" in html
    assert not BulkDeletion.objects.exists()
    assert Transcription.objects.count() == 5


def test_page_refuses_a_cutoff_later_than_the_policy_allows(client, privacy_officer, twilio_aged):
    client.force_login(privacy_officer)
    response = client.post(
        URL,
        {
            "older_than_days": "90",
            "cutoff": timezone.now().isoformat(),  # would reach the young rows
            "typed_count": "5",
        },
    )
    assert response.status_code == 400
    assert "preview it again" in response.content.decode()
    assert not BulkDeletion.objects.exists()


def test_page_with_the_typed_count_starts_a_retention_bulk_deletion_of_exactly_the_matches(
    client, privacy_officer, twilio_aged, sandbox, settings
):
    settings.TASKS = IMMEDIATE_TASKS
    client.force_login(privacy_officer)
    data = _confirm_data(client.get(URL, {"older_than_days": "90"}))
    response = client.post(URL, {**data, "typed_count": "3"})

    bulk = BulkDeletion.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("transcriptions:bulk-detail", args=[bulk.pk])
    assert bulk.reason == RETENTION_REASON
    assert bulk.created_by == privacy_officer
    expected = sids(
        twilio_aged["old_failed"], twilio_aged["old_completed"], twilio_aged["mid_failed"]
    )
    assert set(bulk.items.values_list("sid", flat=True)) == expected
    # The immediate backend ran the job: gone at Twilio and in the cache, the rest untouched.
    left = {r.sid for r in twilio_aged.values()} - expected
    assert {item.sid for item in sandbox.store.all()} == left
    assert set(Transcription.objects.values_list("sid", flat=True)) == left
    deleted_events = AuditEvent.objects.filter(action=AuditEvent.Action.DELETED)
    assert set(deleted_events.values_list("transcription_sid", flat=True)) == expected
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.RETENTION_APPLIED, user=privacy_officer
    ).exists()


def test_page_accepts_the_count_typed_with_a_thousands_separator(
    client, privacy_officer, make_transcription, sandbox, settings
):
    settings.TASKS = IMMEDIATE_TASKS
    for _ in range(3):
        item = sandbox.store.add(date_created=days_ago(40))
        make_transcription(sid=item.sid, date_created=item.date_created)
    client.force_login(privacy_officer)
    data = _confirm_data(client.get(URL, {"older_than_days": "30"}))
    response = client.post(URL, {**data, "typed_count": " 3 "})
    assert response.status_code == 302
    assert BulkDeletion.objects.get().total_count == 3


def test_page_deletes_only_what_its_preview_covered(
    client, privacy_officer, twilio_aged, sandbox, settings, make_transcription
):
    """A row that crosses the line after the preview is not swept up by its confirmation."""
    client.force_login(privacy_officer)
    data = _confirm_data(client.get(URL, {"older_than_days": "90", "status": "failed"}))
    # Created just after the preview's cutoff: younger than what the preview counted.
    late = make_transcription(
        status="failed",
        date_created=datetime.fromisoformat(data["cutoff"]) + timedelta(seconds=1),
    )
    client.post(URL, {**data, "typed_count": "2"})
    items = set(BulkDeletion.objects.get().items.values_list("sid", flat=True))
    assert late.sid not in items
    assert items == sids(twilio_aged["old_failed"], twilio_aged["mid_failed"])


def test_page_without_twilio_settings_shows_the_problem_and_no_confirmation(
    client, privacy_officer, aged
):
    client.force_login(privacy_officer)
    html = client.get(URL, {"older_than_days": "90"}).content.decode()
    assert "TWILIO_ACCOUNT_SID is not set" in html
    assert 'name="typed_count"' not in html


def test_the_policy_can_delete_the_call_recordings_too(
    client, privacy_officer, twilio_aged, sandbox, settings
):
    settings.TASKS = IMMEDIATE_TASKS
    client.force_login(privacy_officer)
    preview = client.get(URL, {"older_than_days": "90", "with_recordings": "on"})
    assert "(and their call recordings)" in preview.content.decode()
    # The confirmation carries the choice on.
    assert '<input type="hidden" name="with_recordings" value="on">' in preview.content.decode()
    data = {**_confirm_data(preview), "with_recordings": "on"}
    client.post(URL, {**data, "typed_count": "3"})

    bulk = BulkDeletion.objects.get()
    assert bulk.with_recordings and bulk.state == BulkDeletion.State.COMPLETED
    old = [twilio_aged[n] for n in ("old_failed", "old_completed", "mid_failed")]
    assert {sandbox.store.recordings.get(r.recording_sid).status for r in old} == {"deleted"}
    young = twilio_aged["young_failed"]
    assert sandbox.store.recordings.get(young.recording_sid).status == "completed"
    assert set(bulk.items.values_list("verified", "recording_verified")) == {("gone", "gone")}


# Committed for real, as above: the worker closes and reopens database connections.
@pytest.mark.django_db(transaction=True)
def test_the_command_deletes_the_call_recordings_when_asked(twilio_aged, sandbox):
    call_command(
        "apply_retention", "--older-than", "90", "--with-recordings", "--yes", stdout=StringIO()
    )
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    bulk = BulkDeletion.objects.get()
    assert bulk.with_recordings and bulk.state == BulkDeletion.State.COMPLETED
    recording = sandbox.store.recordings.get(twilio_aged["old_failed"].recording_sid)
    assert recording.status == "deleted"
