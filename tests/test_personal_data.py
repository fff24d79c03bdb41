"""Personal data: the detector (written and spoken forms, near misses), keyed hashes and the
mentions search over real HTTP against the sandbox, masking and the reveal, Viewers' text
search refused, the audit answering "who saw TR…", retention by kind, the rescan, and no
value or text in any log line."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from transcriptions.models import (
    AuditEvent,
    PersonalDataMention,
    PersonalDataScan,
    Transcription,
)
from transcriptions.personal_data import (
    DETECTOR_VERSION,
    Kind,
    detect,
    masked_text,
    personal_data_columns,
    value_hash,
)
from transcriptions.personal_data.mentions import mentions_from_token, mentions_parse
from transcriptions.sync import transcriptions_sync

from .conftest import HTMX

LIST = reverse("transcriptions:list")
EXPORT = reverse("transcriptions:export")
AUDIT = reverse("transcriptions:audit")

# (text, kind, the part of the text that is the value)
WRITTEN_AND_SPOKEN = [
    ("My card number is 4111 1111 1111 1111, thanks.", Kind.CARD_NUMBER, "4111 1111 1111 1111"),
    ("card 5500-0000-0000-0004 please", Kind.CARD_NUMBER, "5500-0000-0000-0004"),
    ("Amex 3782 822463 10005 ok", Kind.CARD_NUMBER, "3782 822463 10005"),
    (
        "the card is four one double one one one one one one one one one one one one one",
        Kind.CARD_NUMBER,
        "four one double one one one one one one one one one one one one one",
    ),
    (
        "it's five five oh oh oh oh oh oh oh oh oh oh oh oh oh four right",
        Kind.CARD_NUMBER,
        "five five oh oh oh oh oh oh oh oh oh oh oh oh oh four",
    ),
    ("card 4111 1111 1111 1111 expiry 05/29 thanks", Kind.CARD_EXPIRY, "05/29"),
    (
        "card 4111 1111 1111 1111, it expires oh five twenty nine",
        Kind.CARD_EXPIRY,
        "oh five twenty nine",
    ),
    ("card 4111 1111 1111 1111 and the security code is 737", Kind.CARD_SECURITY_CODE, "737"),
    (
        "card 4111 1111 1111 1111, CVV seven three seven",
        Kind.CARD_SECURITY_CODE,
        "seven three seven",
    ),
    ("Pay into GB82 WEST 1234 5698 7654 32 please", Kind.IBAN, "GB82 WEST 1234 5698 7654 32"),
    ("IBAN DE89370400440532013000.", Kind.IBAN, "DE89370400440532013000"),
    ("my social security number is 536-90-4399", Kind.SSN, "536-90-4399"),
    (
        "my social is five three six nine oh four three nine nine",
        Kind.SSN,
        "five three six nine oh four three nine nine",
    ),
    ("the routing number is 021000021 and", Kind.BANK_ROUTING, "021000021"),
    (
        "routing number oh two one oh oh oh oh two one",
        Kind.BANK_ROUTING,
        "oh two one oh oh oh oh two one",
    ),
    ("call me on (415) 555-2671 today", Kind.PHONE_NUMBER, "(415) 555-2671"),
    ("or +44 20 7946 0018 in London", Kind.PHONE_NUMBER, "+44 20 7946 0018"),
    ("the office is +49 30 901820 in Berlin", Kind.PHONE_NUMBER, "+49 30 901820"),
    ("Paris +33 1 23 45 67 89 ok", Kind.PHONE_NUMBER, "+33 1 23 45 67 89"),
    (
        "my number is four one five five five five two six seven one",
        Kind.PHONE_NUMBER,
        "four one five five five five two six seven one",
    ),
    (
        "ring oh two oh seven nine four six oh oh one eight",
        Kind.PHONE_NUMBER,
        "oh two oh seven nine four six oh oh one eight",
    ),
    ("write to jane.doe@example.com today", Kind.EMAIL, "jane.doe@example.com"),
    ("it's jane dot doe at example dot com", Kind.EMAIL, "jane dot doe at example dot com"),
    ("I was born on March 14, 1985.", Kind.DATE_OF_BIRTH, "March 14, 1985"),
    ("date of birth 03/14/1985", Kind.DATE_OF_BIRTH, "03/14/1985"),
    (
        "I was born on March fourteenth nineteen eighty five",
        Kind.DATE_OF_BIRTH,
        "March fourteenth nineteen eighty five",
    ),
]

NEAR_MISSES = [
    "Your order number is 4111 1111 1111 1112.",  # fails Luhn
    "The tracking code is 1Z999AA10123456784.",
    "The total came to $1,299.99 for the router.",
    "The engineer comes at 10:30 on Tuesday.",
    "I've been a customer since 2019.",
    "Reference 176-1352 on the letter.",
    "The expiry of the offer is 05/29.",  # no card near
    "Is it 536-90-439 or so?",
    "We met at the office dot later",
    "one moment, two questions and three answers",
    "Ticket CS-123456 was opened on 12/03/2024.",  # a date, but no birth context
]


@pytest.mark.parametrize(("text", "kind", "value"), WRITTEN_AND_SPOKEN)
def test_each_kind_is_found_written_and_spoken_at_its_place(text, kind, value):
    found = [f for f in detect(text) if f.kind == kind]
    assert found, f"no {kind} in {text!r}"
    assert text[found[0].start : found[0].end] == value


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_not_flagged(text):
    assert personal_data_columns(text)["personal_data"] == 0


def test_one_value_has_one_hash_written_or_spoken():
    written = detect("call +1 415 555 2671")
    spoken = detect("my number is four one five five five five two six seven one")
    phone = [f for f in written + spoken if f.kind == Kind.PHONE_NUMBER]
    assert {f.value for f in phone} == {"+14155552671"}
    assert value_hash(Kind.PHONE_NUMBER, "+14155552671") != value_hash(Kind.EMAIL, "+14155552671")


def test_the_stored_columns_hold_kinds_positions_and_hashes_never_the_value():
    text = "card 4111 1111 1111 1111, mail jane.doe@example.com"
    columns = personal_data_columns(text)
    assert columns["personal_data_version"] == DETECTOR_VERSION
    stored = columns["personal_data_found"]
    assert "4111" not in stored and "jane" not in stored and "example" not in stored
    kinds = {entry[0] for entry in json.loads(stored)}
    assert {"card_number", "email"} <= kinds
    assert masked_text(text, stored) == "card [card ••••1111], mail [e-mail]"


# ---- Over real HTTP: sync from the sandbox, then the table ----

PHONE_WRITTEN = "Please call me back on (415) 555-2671 after five."
PHONE_SPOKEN = "my number is four one five five five five two six seven one thanks"
CARD = "My card number is 4111 1111 1111 1111, expiry 05/29."


@pytest.fixture
def synced(twilio, db):
    """The sandbox holding personal data in several forms, synced into the cache."""
    store = twilio.store
    items = {
        "written": store.add(transcription_text=PHONE_WRITTEN),
        "spoken": store.add(transcription_text=PHONE_SPOKEN),
        "card": store.add(transcription_text=CARD, status="failed"),
        "email": store.add(transcription_text="It's jane dot doe at example dot com."),
        "plain": store.add(transcription_text="The router is blinking orange again."),
        "other_phone": store.add(transcription_text="call +44 20 7946 0018"),
    }
    transcriptions_sync()
    return {name: item.sid for name, item in items.items()}


def _sids(response) -> set[str]:
    return set(re.findall(r'data-sid="(TR[0-9a-f]{32})"', response.content.decode()))


def test_sync_stores_kinds_and_hashes_and_the_hash_table_follows_the_rows(synced):
    card = Transcription.objects.get(sid=synced["card"])
    assert card.personal_data_version == DETECTOR_VERSION
    assert "4111" not in (card.personal_data_found or "")
    kinds = set(
        PersonalDataMention.objects.filter(transcription_id=card.pk).values_list("kind", flat=True)
    )
    assert {"card_number", "card_expiry"} <= kinds
    card.delete()
    assert not PersonalDataMention.objects.filter(transcription_id=card.pk).exists()


def test_mentions_finds_the_written_and_spoken_forms_of_one_phone_number(client, reviewer, synced):
    client.force_login(reviewer)
    for typed in ("+1 415-555-2671", "(415) 555 2671", "4155552671"):
        response = client.get(LIST, {"mentions": typed})
        assert _sids(response) == {synced["written"], synced["spoken"]}, typed
    # The page's own form posts the value and comes back with a token, never the value.
    response = client.post(reverse("transcriptions:mentions"), {"mentions": "415 555 2671"})
    assert response.status_code == 302
    assert "2671" not in response["Location"]
    assert "mentions_token=" in response["Location"]
    page = client.get(response["Location"])
    assert _sids(page) == {synced["written"], synced["spoken"]}
    # Links of that page (paging, sort, export, htmx requests) carry the token, not the value.
    links = re.findall(r'(?:href|hx-get|action)="([^"]*)"', page.content.decode())
    assert any("mentions_token=" in link for link in links)
    assert not [link for link in links if "2671" in link or "mentions=" in link]


def test_mentions_of_an_email_spoken_and_an_unknown_value(client, reviewer, synced):
    client.force_login(reviewer)
    assert _sids(client.get(LIST, {"mentions": "Jane.Doe@Example.com"})) == {synced["email"]}
    response = client.get(LIST, {"mentions": "hello there"})
    assert response.status_code == 200
    assert "Not a phone number, e-mail address, card number or IBAN" in response.content.decode()


def test_a_mentions_token_expires_and_cannot_be_forged(settings):
    found = mentions_parse("+1 415 555 2671")
    assert found is not None
    token = found.token()
    assert mentions_from_token(token) == found
    assert mentions_from_token(token[:-2] + "xx") is None
    settings.MENTIONS_TOKEN_MAX_AGE_SECONDS = -1
    assert mentions_from_token(token) is None


def test_digits_typed_without_spaces_find_the_spaced_number(client, reviewer, synced):
    client.force_login(reviewer)
    assert synced["card"] in _sids(client.get(LIST, {"q": "4111111111111111"}))
    assert synced["card"] in _sids(client.get(LIST, {"q": "4111-1111-1111-1111"}))
    assert synced["spoken"] in _sids(client.get(LIST, {"q": "4155552671"}))


def test_the_personal_data_filter_on_the_table_and_the_export(client, reviewer, synced):
    client.force_login(reviewer)
    phones = {synced["written"], synced["spoken"], synced["other_phone"]}
    assert _sids(client.get(LIST, {"personal_data": "phone_number"})) == phones
    both = _sids(client.get(LIST, {"personal_data": ["phone_number", "email"]}))
    assert both == phones | {synced["email"]}
    assert synced["plain"] not in _sids(client.get(LIST, {"personal_data": "any"}))
    # Combined with another filter.
    assert _sids(client.get(LIST, {"personal_data": "any", "status": "failed"})) == {synced["card"]}
    response = client.get(EXPORT, {"personal_data": "card_number"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["sid"] for row in rows] == [synced["card"]]
    # The export masks what it found, for those who may not reveal it.
    assert "4111 1111" not in rows[0]["transcription_text"]
    assert "[card ••••1111]" in rows[0]["transcription_text"]


def test_counts_per_kind_come_after_the_rows(client, reviewer, synced):
    client.force_login(reviewer)
    response = client.get(LIST, {"pd_counts": "1", "status": "completed"}, **HTMX)
    body = response.content.decode()
    assert re.search(r'id="pd-count-phone_number"[^>]*>3<', body)
    assert re.search(r'id="pd-count-card_number"[^>]*>0<', body)


def test_badges_name_the_kinds_found(client, reviewer, synced):
    client.force_login(reviewer)
    body = client.get(LIST, {"q": synced["card"][:10]}).content.decode()
    row = re.search(rf'<tr data-sid="{synced["card"]}".*?</tr>', body, re.S).group()
    assert "badge-pd" in row and ">Card<" in row and ">Expiry<" in row


# ---- Masking, reveal, Viewers ----


def test_snippets_are_masked_and_each_row_shown_is_audited(client, reviewer, synced):
    client.force_login(reviewer)
    body = client.get(LIST).content.decode()
    assert "4111 1111 1111 1111" not in body
    assert "(415) 555-2671" not in body
    assert "[card ••••1111]" in body
    seen = set(
        AuditEvent.objects.filter(
            action=AuditEvent.Action.VIEWED_SNIPPETS, in_batch=True, user=reviewer
        ).values_list("transcription_sid", flat=True)
    )
    assert seen == set(synced.values())
    heads = AuditEvent.objects.filter(action=AuditEvent.Action.VIEWED_SNIPPETS, in_batch=False)
    assert heads.count() == 1
    # The same rows shown again soon are not recorded again.
    client.get(LIST, **HTMX)
    assert heads.count() == 1


def test_the_preview_masks_and_a_reveal_is_a_right_and_is_audited(
    client, reviewer, privacy_officer, synced
):
    sid = synced["card"]
    client.force_login(reviewer)
    body = client.get(reverse("transcriptions:detail", args=[sid]), **HTMX).content.decode()
    assert "4111 1111 1111 1111" not in body and "[card ••••1111]" in body
    assert "Reveal personal data" not in body
    assert client.post(reverse("transcriptions:reveal", args=[sid])).status_code == 403

    client.force_login(privacy_officer)
    body = client.get(reverse("transcriptions:detail", args=[sid]), **HTMX).content.decode()
    assert "Reveal personal data" in body and "Who has seen this" in body
    body = client.post(reverse("transcriptions:reveal", args=[sid]), **HTMX).content.decode()
    assert "4111 1111 1111 1111" in body
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVEALED)
    assert (event.user, event.transcription_sid) == (privacy_officer, sid)
    assert "4111" not in event.outcome


def test_a_viewer_may_search_by_sid_but_not_by_text(client, viewer, synced):
    client.force_login(viewer)
    for q in ("4111 1111 1111 1111", "router", "4111111111111111"):
        response = client.get(LIST, {"q": q})
        body = response.content.decode()
        assert "Your role may search by SID only" in body, q
        # The text search is dropped: every row is listed, nothing told about the words.
        assert _sids(response) == set(synced.values()), q
    assert _sids(client.get(LIST, {"q": synced["card"][:12]})) == {synced["card"]}
    response = client.get(LIST, {"mentions": "4155552671"})
    assert "Searching for mentions needs the Reviewers role" in response.content.decode()
    assert client.post(reverse("transcriptions:mentions"), {"mentions": "x"}).status_code == 403
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(client.get(EXPORT, {"q": "router"}).streaming_content).decode())
        )
    )
    assert "transcription_text" not in rows[0]
    assert len(rows) == len(synced)


# ---- The audit trail ----


def test_the_audit_answers_who_saw_a_transcription_and_who_searched(
    client, reviewer, privacy_officer, synced
):
    sid = synced["card"]
    client.force_login(reviewer)
    client.get(LIST, {"q": "4111 1111 1111 1111"})
    client.get(reverse("transcriptions:detail", args=[sid]), **HTMX)
    b"".join(client.get(EXPORT, {"personal_data": "card_number"}).streaming_content)
    client.force_login(privacy_officer)
    client.post(reverse("transcriptions:reveal", args=[sid]), **HTMX)

    response = client.get(AUDIT, {"sid": sid})
    body = response.content.decode()
    actions = set(
        AuditEvent.objects.filter(transcription_sid=sid).values_list("action", "username")
    )
    assert {
        ("viewed_snippets", "reviewer"),
        ("viewed_text", "reviewer"),
        ("exported", "reviewer"),
        ("revealed", "privacy"),
    } <= actions
    for label in ("Saw text in the table", "Viewed text", "Exported CSV", "Revealed personal data"):
        assert label in body
    # By the recording SID, and by a prefix of it.
    recording = Transcription.objects.get(sid=sid).recording_sid
    assert "Viewed text" in client.get(AUDIT, {"sid": recording[:10]}).content.decode()
    # The search is recorded with its personal data masked.
    search = AuditEvent.objects.get(action=AuditEvent.Action.SEARCHED)
    assert "4111" not in search.outcome and search.outcome.startswith("text: ")
    # The trail's CSV holds the same events, and no text.
    csv_text = b"".join(
        client.get(reverse("transcriptions:audit-export"), {"sid": sid}).streaming_content
    ).decode()
    assert sid in csv_text and "4111" not in csv_text


def test_a_search_typed_on_is_one_event(client, reviewer, synced):
    client.force_login(reviewer)
    for q in ("ro", "rou", "rout", "router"):
        client.get(LIST, {"q": q}, **HTMX)
    client.get(LIST, {"q": "router"}, HTTP_HX_TRIGGER="results", **HTMX)
    events = AuditEvent.objects.filter(action=AuditEvent.Action.SEARCHED)
    assert [e.outcome for e in events] == ["text: router"]


def test_a_bulk_run_is_one_row_of_the_trail_expandable_to_its_items(
    client, privacy_officer, synced
):
    from .test_bulk import run_worker

    client.force_login(privacy_officer)
    response = client.post(
        reverse("transcriptions:bulk-confirm"),
        {"all": "1", "personal_data": "phone_number", "reason": "Erasure request"},
    )
    assert response.status_code == 302
    run_worker()
    heads = AuditEvent.objects.filter(in_batch=False, action=AuditEvent.Action.BULK_DELETION)
    head = heads.get()
    items = AuditEvent.objects.filter(batch=head.batch, in_batch=True)
    assert items.count() == 3 and set(items.values_list("action", flat=True)) == {"deleted"}
    body = client.get(AUDIT).content.decode()
    assert body.count("Bulk deletion") >= 1 and "Show items" in body
    assert synced["written"] not in body  # the items are behind the head
    assert synced["written"] in client.get(AUDIT, {"batch": head.batch}).content.decode()
    assert not Transcription.objects.filter(
        sid__in=[synced["written"], synced["spoken"], synced["other_phone"]]
    ).exists()


# ---- Erase by policy ----


@pytest.mark.django_db(transaction=True)
def test_retention_by_kind_deletes_at_twilio_only_the_rows_holding_it(twilio):
    from .test_bulk import run_worker

    store = twilio.store
    card = store.add(transcription_text=CARD)
    phone = store.add(transcription_text=PHONE_WRITTEN)
    plain = store.add(transcription_text="nothing to see")
    transcriptions_sync()
    out = StringIO()
    call_command(
        "apply_retention",
        "--older-than",
        "0",
        "--personal-data",
        "card_number",
        "--dry-run",
        stdout=out,
    )
    assert "holding card number" in out.getvalue() and "1 cached transcription" in out.getvalue()
    call_command(
        "apply_retention", "--older-than", "0", "--personal-data", "card_number", "--yes",
        stdout=StringIO(),
    )  # fmt: skip
    run_worker(keep_test_connection=False)
    remaining = {item.sid for item in store.all()}
    assert card.sid not in remaining and {phone.sid, plain.sid} <= remaining
    assert set(Transcription.objects.values_list("sid", flat=True)) == {phone.sid, plain.sid}


def test_retention_page_previews_a_policy_by_kind(client, privacy_officer, synced):
    client.force_login(privacy_officer)
    response = client.get(
        reverse("transcriptions:retention"),
        {"older_than_days": "0", "personal_data": "phone_number"},
    )
    body = response.content.decode()
    assert "holding phone number" in body
    assert 'name="personal_data" value="phone_number"' in body


def test_an_unknown_kind_is_refused_by_the_command(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown kind of personal data"):
        call_command("apply_retention", "--older-than", "1", "--personal-data", "passport")


# ---- The rescan ----


def test_the_rescan_scans_rows_an_older_detector_left_and_keeps_twilios_findings(
    make_transcription,
):
    old = [
        make_transcription(
            transcription_text=CARD,
            personal_data=0,
            personal_data_found=None,
            personal_data_version=0,
        )
        for _ in range(3)
    ]
    no_text = make_transcription(
        transcription_text=None,
        personal_data=1,
        personal_data_found='[["card_number",0,4,"x"]]',
        personal_data_version=0,
    )
    current = make_transcription(transcription_text="plain")
    out = StringIO()
    call_command("scan_personal_data", stdout=out)
    assert "Scanned 4 transcriptions: 3 transcriptions with personal data." in out.getvalue()
    for row in old:
        row.refresh_from_db()
        assert row.personal_data and row.personal_data_version == DETECTOR_VERSION
    no_text.refresh_from_db()
    assert no_text.personal_data == 1 and no_text.personal_data_version == DETECTOR_VERSION
    assert PersonalDataMention.objects.filter(transcription_id=old[0].pk).exists()
    assert current.personal_data_version == DETECTOR_VERSION
    assert AuditEvent.objects.filter(action=AuditEvent.Action.PERSONAL_DATA_SCAN).exists()


def test_an_interrupted_scan_resumes_after_its_last_row(make_transcription):
    from transcriptions.personal_data.scan import personal_data_scan_run, personal_data_scan_start

    rows = [
        make_transcription(transcription_text=CARD, personal_data_version=0, personal_data=0)
        for _ in range(4)
    ]
    scan = personal_data_scan_start()
    # As a worker that died after the first two rows would have left it.
    PersonalDataScan.objects.filter(pk=scan.pk).update(
        state="running", last_id=rows[1].pk, scanned=2
    )
    done = personal_data_scan_run(scan_id=scan.pk)
    assert done.state == "completed" and done.scanned == 4
    versions = list(
        Transcription.objects.order_by("id").values_list("personal_data_version", flat=True)
    )
    assert versions == [0, 0, DETECTOR_VERSION, DETECTOR_VERSION]


def test_the_scan_page_starts_a_job_with_a_progress_bar(client, privacy_officer, reviewer, db):
    from .test_bulk import run_worker

    url = reverse("transcriptions:personal-data")
    client.force_login(reviewer)
    assert client.get(url).status_code == 403
    client.force_login(privacy_officer)
    assert client.post(url).status_code == 302
    scan = PersonalDataScan.objects.get()
    assert scan.state == "queued" and scan.task_id
    body = client.get(url).content.decode()
    assert "data-scan-progress" in body and "Waiting for a worker" in body
    run_worker()
    scan.refresh_from_db()
    assert scan.state == "completed"
    progress = client.get(reverse("transcriptions:personal-data-progress")).content.decode()
    assert "Completed" in progress and "hx-trigger" not in progress


# ---- Logs ----


def test_no_value_or_text_reaches_a_log_line(client, reviewer, privacy_officer, twilio, caplog):
    caplog.set_level(logging.DEBUG)
    store = twilio.store
    item = store.add(transcription_text=CARD)
    store.add(transcription_text=PHONE_SPOKEN)
    transcriptions_sync()
    client.force_login(reviewer)
    client.get(LIST, {"q": "4111 1111 1111 1111"})
    client.get(LIST, {"mentions": "+1 415 555 2671"})
    client.post(reverse("transcriptions:mentions"), {"mentions": "415 555 2671"})
    client.get(reverse("transcriptions:detail", args=[item.sid]), **HTMX)
    b"".join(client.get(EXPORT).streaming_content)
    client.force_login(privacy_officer)
    client.post(reverse("transcriptions:reveal", args=[item.sid]), **HTMX)
    call_command("scan_personal_data", "--all", stdout=StringIO())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for value in ("4111", "2671", "four one five", "My card number", "05/29"):
        assert value not in logged, value
