"""The sandbox's in-memory Transcriptions store: one account's items in Twilio's newest-first order.

It never touches the dashboard's database. Items live in a dict by SID plus a sorted list of
sort keys, so that a page anywhere in a million items is a bisect and a slice.
"""

from __future__ import annotations

import gc
import json
import random
import re
import secrets
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime

from .personal_data import card_digits, near_miss_line, personal_line
from .recordings import RecordingBook

STATUSES = ("in-progress", "completed", "failed")
TRANSCRIPTION_SID_RE = re.compile(r"^TR[0-9a-fA-F]{32}$")
RECORDING_SID_RE = re.compile(r"^RE[0-9a-fA-F]{32}$")
SEED_DAYS = 180

# (negated epoch seconds, sid): ascending order of keys is newest first, ties by SID ascending.
SortKey = tuple[int, str]

_FIELDS = (
    "sid",
    "account_sid",
    "recording_sid",
    "status",
    "transcription_text",
    "duration",
    "price",
    "price_unit",
    "type",
    "api_version",
    "date_created",
    "date_updated",
)
_UNSET = object()


class SandboxTranscription:
    """One Transcription resource with typed values; the server renders Twilio's wire form."""

    __slots__ = _FIELDS
    sid: str
    account_sid: str
    recording_sid: str
    status: str
    transcription_text: str | None
    duration: int | None
    price: Decimal | None
    price_unit: str
    type: str
    api_version: str
    date_created: datetime
    date_updated: datetime

    def __init__(self, **fields: object) -> None:
        for name in _FIELDS:
            setattr(self, name, fields[name])

    @property
    def sort_key(self) -> SortKey:
        return (-int(self.date_created.timestamp()), self.sid)

    def __repr__(self) -> str:
        # The text is personal data: never in a repr.
        return f"<SandboxTranscription {self.sid} {self.status} {self.date_created.isoformat()}>"


@dataclass(frozen=True, slots=True)
class Page:
    """A slice of the order plus whether items exist on either side of it."""

    items: list[SandboxTranscription]
    has_next: bool
    has_previous: bool


class UnknownPageToken(LookupError):
    """A page token names a SID this store has never held."""


def _whole_seconds(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("dates must be timezone-aware")
    # Twilio's dates carry whole seconds; keeping more would make the order depend on
    # something a client can never see.
    return value.astimezone(UTC).replace(microsecond=0)


def _price_string(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return f"{Decimal(str(value)):.5f}"
    raise TypeError("price must be a decimal string, a number or None")


class TranscriptionStore:
    """Thread-safe store of one account's transcriptions, newest first (date_created desc, SID asc).

    Page tokens name SIDs; the sort keys of deleted items are remembered so that a token issued
    before a delete still means "the items after (or before) that place in the order".
    """

    def __init__(self, *, account_sid: str) -> None:
        self.account_sid = account_sid
        self._lock = threading.RLock()
        self._items: dict[str, SandboxTranscription] = {}
        self._keys: list[SortKey] = []
        self._by_recording: dict[str, list[SortKey]] = {}
        self._gone_keys: dict[str, SortKey] = {}
        # The recordings the transcriptions name, kept when they go.
        self.recordings = RecordingBook(account_sid=account_sid)
        # Fault injection: wire values that replace an item's own in every answer (see `odd`).
        self.wire_overrides: dict[str, dict[str, object]] = {}

    # -- reads ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, sid: object) -> bool:
        return sid in self._items

    def get(self, sid: str) -> SandboxTranscription | None:
        """The item with this SID, or None."""
        return self._items.get(sid)

    def all(self) -> list[SandboxTranscription]:
        """Every item, newest first."""
        with self._lock:
            items = self._items
            return [items[sid] for _, sid in self._keys]

    def for_recording(self, recording_sid: str) -> list[SandboxTranscription]:
        """One recording's items, newest first."""
        with self._lock:
            keys = self._by_recording.get(recording_sid, ())
            return [self._items[sid] for _, sid in keys]

    def page(
        self,
        *,
        size: int,
        recording_sid: str | None = None,
        after: str | None = None,
        before: str | None = None,
        offset: int = 0,
    ) -> Page:
        """Up to `size` items of the account (or one recording) in order: those strictly after
        the item `after`, strictly before the item `before`, or from position `offset`.
        Raises UnknownPageToken when `after`/`before` names a SID never held here."""
        with self._lock:
            if recording_sid is None:
                keys = self._keys
            else:
                keys = self._by_recording.get(recording_sid, [])
            if after is not None:
                start = bisect_right(keys, self._key_for_token(after))
                stop = start + size
            elif before is not None:
                stop = bisect_left(keys, self._key_for_token(before))
                start = max(0, stop - size)
            else:
                start = offset
                stop = offset + size
            window = keys[start:stop]
            items = self._items
            return Page(
                items=[items[sid] for _, sid in window],
                has_next=bool(window) and start + len(window) < len(keys),
                has_previous=bool(window) and start > 0,
            )

    def _key_for_token(self, sid: str) -> SortKey:
        item = self._items.get(sid)
        if item is not None:
            return item.sort_key
        try:
            return self._gone_keys[sid]
        except KeyError:
            raise UnknownPageToken(sid) from None

    # -- writes -----------------------------------------------------------------------------

    def add(
        self,
        *,
        sid: str | None = None,
        account_sid: str | None = None,
        recording_sid: str | None = None,
        status: str = "completed",
        transcription_text: str | None = None,
        duration: int = 0,
        price: object = _UNSET,
        price_unit: str = "USD",
        type: str = "fast",
        api_version: str = "2010-04-01",
        date_created: datetime | None = None,
        date_updated: datetime | None = None,
    ) -> SandboxTranscription:
        """Add one item (Twilio's API has no create; tests and seeding use this). A missing SID
        or recording SID is generated; a missing price follows the status (None while
        in-progress, "0.00000" when failed, "-0.05000" when completed)."""
        if account_sid is not None and account_sid != self.account_sid:
            raise ValueError("this store holds one account's transcriptions")
        if sid is None:
            sid = "TR" + secrets.token_hex(16)
        if recording_sid is None:
            recording_sid = "RE" + secrets.token_hex(16)
        if price is _UNSET:
            price = {"in-progress": None, "failed": "0.00000"}.get(status, "-0.05000")
        created = _whole_seconds(date_created or datetime.now(UTC))
        item = SandboxTranscription(
            sid=sid,
            account_sid=self.account_sid,
            recording_sid=recording_sid,
            status=status,
            transcription_text=transcription_text,
            duration=duration,
            price=_price_string(price),
            price_unit=price_unit,
            type=type,
            api_version=api_version,
            date_created=created,
            date_updated=_whole_seconds(date_updated) if date_updated else created,
        )
        self._check(item)
        with self._lock:
            if sid in self._items:
                raise ValueError(f"{sid} already exists")
            self._insert(item)
        return item

    def odd(self, sid: str, /, **wire: object) -> None:
        """Answer for this item with these JSON values instead of its own (any type, any
        length: a NUL in a text, a negative duration, a number where Twilio sends a string,
        an empty SID), as an upstream that misbehaves would. Raises KeyError for an unknown
        SID."""
        if sid not in self._items:
            raise KeyError(sid)
        with self._lock:
            self.wire_overrides.setdefault(sid, {}).update(wire)

    def update(self, sid: str, **fields: object) -> SandboxTranscription:
        """Change fields of one item (as Twilio does when a transcription completes);
        date_updated moves to now unless given. Raises KeyError for an unknown SID."""
        not_updatable = set(fields) - (set(_FIELDS) - {"sid", "account_sid"})
        if not_updatable:
            raise TypeError(f"cannot update {sorted(not_updatable)}")
        with self._lock:
            item = self._items[sid]
            self._remove(item)
            try:
                if "price" in fields:
                    fields["price"] = _price_string(fields["price"])
                if "date_created" in fields:
                    fields["date_created"] = _whole_seconds(fields["date_created"])  # type: ignore[arg-type]
                fields["date_updated"] = _whole_seconds(
                    fields.get("date_updated") or datetime.now(UTC)  # type: ignore[arg-type]
                )
                previous = {name: getattr(item, name) for name in fields}
                for name, value in fields.items():
                    setattr(item, name, value)
                try:
                    self._check(item)
                except (TypeError, ValueError):
                    for name, value in previous.items():
                        setattr(item, name, value)
                    raise
            finally:
                self._insert(item)
            return item

    def delete(self, sid: str) -> bool:
        """Remove one item; False when there was none."""
        with self._lock:
            item = self._items.get(sid)
            if item is None:
                return False
            self._remove(item)
            self._gone_keys[sid] = item.sort_key
            return True

    def clear(self) -> None:
        """Remove every item (tokens issued earlier still resolve)."""
        with self._lock:
            for item in self._items.values():
                self._gone_keys[item.sid] = item.sort_key
            self._items.clear()
            self._keys.clear()
            self._by_recording.clear()
            self.recordings.clear()

    def seed(self, *, count: int, seed: int = 0, now: datetime | None = None) -> None:
        """Add `count` items that look like a support line's transcriptions. The same seed gives
        the same SIDs, texts, statuses and order; dates are spread over the 180 days before
        the start (00:00 UTC) of the day of `now`, so they only move with the day."""
        anchor = (now or datetime.now(UTC)).astimezone(UTC)
        anchor = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
        # A million small objects would trigger many full collections that find nothing to free.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            items = list(_seeded_items(self.account_sid, count, random.Random(seed), anchor))
        finally:
            if gc_was_enabled:
                gc.enable()
        with self._lock:
            if not self._items:
                self._bulk_load(items)
                return
            for item in items:
                if item.sid not in self._items:
                    self._insert(item)

    def load_jsonl(self, lines: Iterable[str], *, seed: int = 0) -> int:
        """Add transcriptions from JSON Lines: one object per line with Twilio's wire fields
        (`transcription_text`, `status`, `sid`, `recording_sid`, `duration`, `price`,
        `price_unit`, `type`, `date_created` as RFC 2822 or ISO 8601, ...). Missing fields are
        filled as the seeder would (SIDs from `seed`, a date in the last 180 days). Blank
        lines are skipped; a line that is not such an object raises ValueError naming it.
        Returns how many were added."""
        rng = random.Random(f"seed-file-{seed}")
        anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        added = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                fields = _wire_fields(data, rng, anchor)
                self.add(**fields)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"line {number}: {exc}") from None
            added += 1
        return added

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _check(item: SandboxTranscription) -> None:
        if not TRANSCRIPTION_SID_RE.match(item.sid):
            raise ValueError("sid must be TR followed by 32 hex digits")
        if item.recording_sid is not None and not RECORDING_SID_RE.match(item.recording_sid):
            raise ValueError("recording_sid must be RE followed by 32 hex digits")
        if item.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        if not isinstance(item.duration, int) or isinstance(item.duration, bool):
            raise TypeError("duration must be an int (seconds)")
        if item.transcription_text is not None and not isinstance(item.transcription_text, str):
            raise TypeError("transcription_text must be a str or None")

    def _insert(self, item: SandboxTranscription) -> None:
        key = item.sort_key
        self._items[item.sid] = item
        insort(self._keys, key)
        if item.recording_sid is not None:
            insort(self._by_recording.setdefault(item.recording_sid, []), key)
            self.recordings.note(
                item.recording_sid, transcribed_at=item.date_created, duration=item.duration
            )
        self._gone_keys.pop(item.sid, None)

    def _remove(self, item: SandboxTranscription) -> None:
        key = item.sort_key
        del self._items[item.sid]
        del self._keys[bisect_left(self._keys, key)]
        if item.recording_sid is not None:
            keys = self._by_recording[item.recording_sid]
            del keys[bisect_left(keys, key)]
            if not keys:
                del self._by_recording[item.recording_sid]

    def _bulk_load(self, items: Iterable[SandboxTranscription]) -> None:
        for item in items:
            self._items[item.sid] = item
        self._keys = sorted(item.sort_key for item in self._items.values())
        by_recording: dict[str, list[SortKey]] = {}
        for key in self._keys:
            recording_sid = self._items[key[1]].recording_sid
            if recording_sid is not None:
                by_recording.setdefault(recording_sid, []).append(key)
        self._by_recording = by_recording
        self.recordings.note_many(
            (item.recording_sid, item.date_created, item.duration)
            for item in self._items.values()
            if item.recording_sid is not None
        )


# -- seeding ------------------------------------------------------------------------------------

_COMPANIES = (
    "Northwind Mobile",
    "Acme Broadband",
    "Bluebird Energy",
    "Harbor Bank",
    "Cedar Insurance",
)
_AGENTS = ("Priya", "Tom", "Aisha", "Marco", "Sofia", "Kenji", "Zoë", "Liam", "Fatima", "José")
_FIRST = ("john", "maria", "li", "olga", "ahmed", "grace", "pedro", "chloe", "ravi", "noah")
_LAST = ("smith", "garcia", "chen", "novak", "hassan", "okafor", "silva", "martin", "patel", "berg")
_DOMAINS = ("example.com", "mail.example.org", "example.net", "inbox.example.co.uk")
_PRODUCTS = (
    "fibre 500 plan",
    "router",
    "mobile SIM",
    "smart meter",
    "credit card",
    "home insurance policy",
    "roaming add-on",
    "direct debit",
)
_OPENERS = (
    "Hi, thanks for calling {company}, this is {agent} speaking, how can I help?",
    "Good morning, you're through to {company} customer support, my name is {agent}.",
    "Hello, {company} billing team, {agent} here.",
    "Thank you for holding, this is {agent} at {company}.",
)
_CUSTOMER = (
    "I was charged twice for my {product} last month.",
    "My {product} stopped working after yesterday's update.",
    "I'd like to cancel order {order} please.",
    "I've been waiting three weeks for the engineer visit.",
    "The bill says I owe {amount} but I paid it already.",
    "Can you tell me why my {product} payment went up?",
    "I moved house and need to transfer my {product}.",
    "The app keeps logging me out every few minutes.",
    "Someone from your company called me about a refund, is that genuine?",
    "I never received the confirmation e-mail for ticket {ticket}.",
    "Hello? Can you hear me? The line is really bad.",
    "I want to make a complaint about the last agent I spoke to.",
)
_AGENT_LINES = (
    "Let me check that for you, bear with me a moment.",
    "I've raised ticket {ticket} so you can follow it up.",
    "I can see the duplicate payment of {amount}, I'll refund it today.",
    "For security, can you confirm the first line of your address?",
    "I'm sorry about that, I'll escalate it to the technical team.",
    "You should see the refund within three to five working days.",
    "Is there anything else I can help you with today?",
    "I'll put a note on the account so nobody calls you again about this.",
)
_PERSONAL = (
    "My card number is {card}, expiry {expiry}.",
    "You can call me back on {phone}.",
    "My e-mail address is {email}.",
    "The card ending {last4}, the long number is {card}.",
    "Please send it to {email} or text {phone}.",
    "My account number is {account} and sort code {sortcode}.",
)
_MARKUP = (
    "The error page just said <b>Access denied</b> in big letters.",
    "My nickname shows as <script>alert('hello')</script> on the account page.",
    "I typed <img src=x onerror=alert(1)> into the name box, could that be it?",
    'The e-mail had a link like <a href="http://example.com/reset">reset here</a>.',
    "It says &lt;error 42&gt; & then the page goes blank.",
    "The form showed </td></tr></table> at the top, which looked broken.",
)
_CLOSERS = (
    "Thanks for your help, bye.",
    "Okay, great, thank you.",
    "Brilliant, cheers, have a good day.",
    "Fine. Goodbye.",
    "Thank you for calling {company}, goodbye.",
)
_SHORT = ("Hello?", "Yes.", "No, that's all, thanks.", "Sorry, wrong number.", "Hi, it's me again.")


def _fill(template: str, rng: random.Random) -> str:
    if "{" not in template:
        return template
    values = {}
    if "{company}" in template:
        values["company"] = rng.choice(_COMPANIES)
    if "{agent}" in template:
        values["agent"] = rng.choice(_AGENTS)
    if "{product}" in template:
        values["product"] = rng.choice(_PRODUCTS)
    if "{order}" in template:
        values["order"] = f"{rng.randrange(10**7):07d}"
    if "{ticket}" in template:
        values["ticket"] = f"CS-{rng.randrange(10**6):06d}"
    if "{amount}" in template:
        values["amount"] = f"${rng.randrange(500, 30000) / 100:.2f}"
    if "{card}" in template:
        digits = card_digits(rng)
        values["card"] = " ".join(digits[i : i + 4] for i in range(0, 16, 4))
        values["last4"] = digits[-4:]
    elif "{last4}" in template:
        values["last4"] = f"{rng.randrange(10**4):04d}"
    if "{expiry}" in template:
        values["expiry"] = f"{rng.randrange(1, 13):02d}/{rng.randrange(26, 31)}"
    if "{phone}" in template:
        values["phone"] = rng.choice(
            (
                f"+1 415 555 {rng.randrange(10**4):04d}",
                f"({rng.randrange(200, 999)}) 555-{rng.randrange(10**4):04d}",
                f"07700 900{rng.randrange(10**3):03d}",
            )
        )
    if "{email}" in template:
        values["email"] = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}@{rng.choice(_DOMAINS)}"
    if "{account}" in template:
        values["account"] = f"{rng.randrange(10**8):08d}"
    if "{sortcode}" in template:
        values["sortcode"] = "-".join(f"{rng.randrange(100):02d}" for _ in range(3))
    return template.format(**values)


def _seeded_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.06:
        return rng.choice(_SHORT)
    lines = [_fill(rng.choice(_OPENERS), rng)]
    middle = rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 12, 20))
    for _ in range(middle):
        pool = _CUSTOMER if rng.random() < 0.5 else _AGENT_LINES
        lines.append(_fill(rng.choice(pool), rng))
    if rng.random() < 0.22:
        personal = _fill(rng.choice(_PERSONAL), rng) if rng.random() < 0.4 else personal_line(rng)
        lines.insert(rng.randrange(1, len(lines) + 1), personal)
    if rng.random() < 0.08:
        lines.insert(rng.randrange(1, len(lines) + 1), near_miss_line(rng))
    if rng.random() < 0.06:
        lines.insert(rng.randrange(1, len(lines) + 1), rng.choice(_MARKUP))
    if rng.random() < 0.7:
        lines.append(_fill(rng.choice(_CLOSERS), rng))
    return " ".join(lines)


_WIRE_NAMES = {
    "sid", "recording_sid", "status", "transcription_text", "duration", "price",
    "price_unit", "type", "api_version", "date_created", "date_updated", "account_sid",
}  # fmt: skip


def _wire_date(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a date must be a string")
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _wire_fields(data: dict, rng: random.Random, anchor: datetime) -> dict:
    """The store's fields for one object of a seed file, the missing ones filled."""
    fields = {name: value for name, value in data.items() if name in _WIRE_NAMES}
    fields.pop("account_sid", None)  # the store's own account
    fields.setdefault("sid", f"TR{rng.getrandbits(128):032x}")
    fields.setdefault("recording_sid", f"RE{rng.getrandbits(128):032x}")
    fields.setdefault("status", "completed")
    fields.setdefault("duration", rng.randrange(5, 600))
    for name in ("date_created", "date_updated"):
        if name in fields and fields[name] is not None:
            fields[name] = _wire_date(fields[name])
    if fields.get("date_created") is None:
        fields["date_created"] = anchor - timedelta(seconds=rng.randrange(300, SEED_DAYS * 86400))
    if "duration" in fields and isinstance(fields["duration"], str):
        fields["duration"] = int(fields["duration"])
    return fields


def _seeded_items(
    account_sid: str, count: int, rng: random.Random, anchor: datetime
) -> Iterable[SandboxTranscription]:
    span = (SEED_DAYS - 1) * 86400
    recent_recordings: list[tuple[str, int]] = []
    durations: dict[str, int] = {}  # a recording's transcriptions share its length
    for _ in range(count):
        sid = f"TR{rng.getrandbits(128):032x}"
        roll = rng.random()
        status = "completed" if roll < 0.80 else "failed" if roll < 0.92 else "in-progress"
        offset = rng.randrange(300, span)
        if recent_recordings and rng.random() < 0.3:
            # Several transcriptions of one recording, created minutes apart.
            recording_sid, base = rng.choice(recent_recordings)
            offset = max(300, base + rng.randrange(-900, 900))
        else:
            recording_sid = f"RE{rng.getrandbits(128):032x}"
            recent_recordings.append((recording_sid, offset))
            if len(recent_recordings) > 20:
                durations.pop(recent_recordings.pop(0)[0], None)
        duration = rng.randrange(1, 121)  # Twilio transcribes recordings of up to 2 minutes.
        duration = durations.setdefault(recording_sid, duration)
        if status == "completed":
            text_roll = rng.random()
            if text_roll < 0.05:
                text: str | None = "(blank)"
            elif text_roll < 0.08:
                text = None
            else:
                text = _seeded_text(rng)
            price: str | None = "-0.05000"
        elif status == "failed":
            text = "(blank)" if rng.random() < 0.5 else None
            price = "0.00000"
        else:
            text, price = None, None
        created = anchor - timedelta(seconds=offset)
        updated = created if status == "in-progress" else created + timedelta(seconds=duration + 5)
        yield SandboxTranscription(
            sid=sid,
            account_sid=account_sid,
            recording_sid=recording_sid,
            status=status,
            transcription_text=text,
            duration=duration,
            price=price,
            price_unit="USD",
            type="fast",
            api_version="2010-04-01",
            date_created=created,
            date_updated=updated,
        )
