"""Twilio's wire format for Transcriptions (API 2010-04-01): the resource as a typed object,
Twilio's spelling of dates, durations and prices, and its error bodies (JSON or XML) as one
exception type. No HTTP here: `twilio_client` sends the requests.

Transcript text is never put into an exception message or a repr: a field that fails to parse
is named, never quoted, and `TwilioTranscription.transcription_text` is left out of the repr.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.core.exceptions import ImproperlyConfigured

from .sids import TRANSCRIPTION_SID_RE


class TwilioError(Exception):
    """Twilio answered with an error, or could not be reached.

    `status` is the HTTP status (None when no answer arrived at all), `code` Twilio's error code
    (https://www.twilio.com/docs/errors/<code>), `message` Twilio's message or ours, and
    `more_info` Twilio's link for the code. None of them carries credentials or transcript text.
    `may_have_arrived`: no answer came, but the request may have reached Twilio (it timed out
    or the connection broke after it was sent), so what it asked for may have been done.
    `unreachable`: no answer came at all, or none in the time allowed.

    `str()` is for the log and the commands (host, tries, codes); `in_plain_words()` is what
    the pages say: what happened and what to do.
    """

    def __init__(
        self,
        status: int | None,
        code: int | None,
        message: str,
        more_info: str | None = None,
        *,
        may_have_arrived: bool = False,
        unreachable: bool = False,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.more_info = more_info
        self.may_have_arrived = may_have_arrived
        self.unreachable = unreachable
        super().__init__(status, code, message, more_info)

    def in_plain_words(self) -> str:
        """What went wrong and what to do, for a reader of the desk's pages: no host, no
        retry counts (the log has them); Twilio's own words only where they explain a refusal."""
        status = self.status
        if self.unreachable:
            return (
                "Twilio could not be reached just now. Try again in a minute; if it goes on, "
                "tell an administrator (the desk's log has the details)."
            )
        if status is None or 200 <= status < 300:
            return (
                "Twilio's answer could not be read. Try again; if it goes on, tell an "
                "administrator (the desk's log has the details)."
            )
        if status in (401, 403):
            return (
                f"Twilio refused the desk's credentials (error {status}). An administrator "
                "needs to check the Twilio account settings."
            )
        if status == 404:
            return "Twilio has no such item: it may have been deleted already."
        if status == 429:
            return "Twilio asked the desk to slow down. Try again in a minute."
        if status >= 500:
            return f"Twilio had a problem on its side (error {status}). Try again in a few minutes."
        code = f", code {self.code}" if self.code is not None else ""
        return f"Twilio refused the request (error {status}{code}): {self.message}"

    def __str__(self) -> str:
        head = "Twilio error" if self.status is None else f"Twilio error {self.status}"
        if self.code is not None:
            head += f" (code {self.code})"
        text = f"{head}: {self.message}"
        if self.more_info:
            text += f" ({self.more_info})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, more_info={self.more_info!r})"
        )


class TwilioNotFound(TwilioError):
    """Twilio answered 404: the resource does not exist (or never did, or was deleted, or the
    path names another account)."""


class TwilioNotConfigured(TwilioError, ImproperlyConfigured):
    """The settings do not name an account and its credentials; the message names the missing
    variable (never a value). Nothing was sent to Twilio."""

    def __init__(self, problem: str) -> None:
        super().__init__(None, None, f"Twilio is not configured: {problem}")

    def __str__(self) -> str:
        return self.message

    def in_plain_words(self) -> str:
        return f"{self.message}. An administrator sets it up."


@dataclass(frozen=True, slots=True)
class TwilioTranscription:
    """One Transcription resource as Twilio describes it, with Twilio's wire strings turned
    into Python types: dates as aware UTC datetimes, `duration` as whole seconds, `price` as
    a Decimal (negative for charges; None until Twilio has priced it)."""

    sid: str
    account_sid: str | None
    recording_sid: str | None
    status: str | None
    transcription_text: str | None = field(repr=False)
    duration: int | None
    price: Decimal | None
    price_unit: str | None
    type: str | None
    api_version: str | None
    date_created: datetime | None
    date_updated: datetime | None
    uri: str | None

    @classmethod
    def from_twilio(
        cls, data: dict[str, Any], *, problems: list[str] | None = None
    ) -> TwilioTranscription:
        """Build from one transcription object of Twilio's JSON (instance or list item).

        Raises TwilioError naming the field (never its value) when the object is not shaped
        like a Twilio transcription. Given a `problems` list, a field that cannot be read is
        read as None and its problem appended instead (a sync stores what it can); an
        object without a sid still raises."""
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            raise malformed("a transcription without a sid")

        def read(parse: Callable[..., Any], *args: Any) -> Any:
            if problems is None:
                return parse(*args)
            try:
                return parse(*args)
            except TwilioError as exc:
                problems.append(exc.message.removeprefix("Twilio answered with a transcription "))
                return None

        return cls(
            sid=data["sid"],
            account_sid=read(_optional_str, data, "account_sid"),
            recording_sid=read(_optional_str, data, "recording_sid"),
            status=read(_optional_str, data, "status"),
            transcription_text=read(_optional_str, data, "transcription_text"),
            duration=read(_parse_duration, data.get("duration")),
            price=read(_parse_price, data.get("price")),
            price_unit=read(_optional_str, data, "price_unit"),
            type=read(_optional_str, data, "type"),
            api_version=read(_optional_str, data, "api_version"),
            date_created=read(_parse_date, data.get("date_created"), "date_created"),
            date_updated=read(_parse_date, data.get("date_updated"), "date_updated"),
            uri=read(_optional_str, data, "uri"),
        )


@dataclass(frozen=True)
class SetAside:
    """An item of a list page that the cache cannot hold, and why (never its text)."""

    sid: str  # "" when it had none
    reason: str


class TranscriptionPage(list[TwilioTranscription]):
    """One page of Twilio's list: the items read, with what each had to be read around
    (`problems`, by SID) and the items set aside."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: dict[str, list[str]] = {}
        self.set_aside: list[SetAside] = []

    @classmethod
    def from_twilio(cls, records: list[Any]) -> TranscriptionPage:
        page = cls()
        for record in records:
            sid = record.get("sid") if isinstance(record, dict) else None
            if not isinstance(sid, str) or not sid:
                page.set_aside.append(SetAside(sid="", reason="no transcription SID"))
                continue
            if not TRANSCRIPTION_SID_RE.fullmatch(sid):
                page.set_aside.append(
                    SetAside(sid="", reason="a SID that is not a transcription's")
                )
                continue
            problems: list[str] = []
            page.append(TwilioTranscription.from_twilio(record, problems=problems))
            if problems:
                page.problems[sid] = problems
        return page


def plain_words(exc: BaseException) -> str:
    """A refusal in the words the pages use: Twilio's errors in plain words, the desk's own
    refusals (already plain) as they are."""
    return exc.in_plain_words() if isinstance(exc, TwilioError) else str(exc)


def malformed(what: str) -> TwilioError:
    return TwilioError(None, None, f"Twilio answered with {what}")


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise malformed(f"a transcription whose {key} is not a string")


# Twilio's own spelling of an RFC 2822 date in GMT, read without the general parser, which
# took a third of the time a sync spends reading Twilio's pages.
_GMT_DATE_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{4}) (\d{2}):(\d{2}):(\d{2}) \+0000"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _parse_date(value: Any, key: str) -> datetime | None:
    """Twilio writes RFC 2822 dates in GMT ("Sun, 13 Feb 2011 02:12:08 +0000")."""
    if value is None or value == "":
        return None
    match = _GMT_DATE_RE.fullmatch(value) if isinstance(value, str) else None
    if match:
        day, month, year, hour, minute, second = match.groups()
        try:
            return datetime(
                int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
            )
        except ValueError as exc:
            raise malformed(f"a transcription whose {key} is not an RFC 2822 date") from exc
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise malformed(f"a transcription whose {key} is not an RFC 2822 date") from exc
    # "-0000" (RFC 2822's "zone unknown") parses as naive; Twilio means GMT either way.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_duration(value: Any) -> int | None:
    """Twilio sends whole seconds as a string ("10")."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise malformed("a transcription whose duration is not a whole number") from exc


def _parse_price(value: Any) -> Decimal | None:
    """Twilio sends a decimal string ("-0.05000") although its spec says number; take both."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise malformed("a transcription whose price is not a number")
    try:
        price = Decimal(str(value))
    except InvalidOperation as exc:
        raise malformed("a transcription whose price is not a number") from exc
    if not price.is_finite():
        raise malformed("a transcription whose price is not a number")
    return price


def error_from_response(response: requests.Response) -> TwilioError:
    """Turn an error answer into TwilioError (TwilioNotFound for 404).

    Twilio's error body is JSON (`code`, `message`, `more_info`, `status`, sometimes `detail`),
    or `<TwilioResponse><RestException>` in XML; anything else (a proxy's HTML page, an empty
    body) is tolerated and reported by status alone, without echoing the body."""
    status = response.status_code
    code: int | None = None
    message: str | None = None
    more_info: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = _as_int(body.get("code"))
        message = body.get("message") if isinstance(body.get("message"), str) else None
        more_info = body.get("more_info") if isinstance(body.get("more_info"), str) else None
    elif response.content.lstrip().startswith(b"<"):
        code, message, more_info = _parse_xml_error(response.content)
    if not message:
        reason = response.reason or "error"
        message = f"Twilio answered {status} {reason}"
    cls = TwilioNotFound if status == 404 else TwilioError
    return cls(status, code, message, more_info)


def _parse_xml_error(content: bytes) -> tuple[int | None, str | None, str | None]:
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return None, None, None
    exception = root.find("RestException")
    if exception is None:
        return None, None, None
    return (
        _as_int(exception.findtext("Code")),
        exception.findtext("Message") or None,
        exception.findtext("MoreInfo") or None,
    )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
