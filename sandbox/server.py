"""A Twilio-compatible HTTP server for the Transcriptions resource (API 2010-04-01).

It answers the six Transcriptions operations as Twilio does on the wire (JSON, XML and `.txt`
forms, Basic auth, page tokens, error bodies, headers), from a `TranscriptionStore`, and can
inject faults (latency, 500s, 429s, dropped connections) while it runs.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hmac
import json
import random
import re
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote
from xml.sax.saxutils import escape, quoteattr

from sandbox.recordings import SandboxRecording, mp3_bytes, wav_bytes, wav_size
from sandbox.store import (
    RECORDING_SID_RE,
    TRANSCRIPTION_SID_RE,
    SandboxTranscription,
    TranscriptionStore,
    UnknownPageToken,
)

API_PREFIX = "/2010-04-01"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
PAGE_TOKEN_RE = re.compile(r"^P([AB])(TR[0-9a-fA-F]{32})$")
_ROUTE_RE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)"
    r"(?:/Recordings/(?P<recording>[^/]+))?"
    r"/Transcriptions(?:/(?P<sid>[^/.]+))?(?P<ext>\.[^/.]*)?$"
)
_RECORDING_ROUTE_RE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Recordings"
    r"(?:/(?P<sid>[^/.]+))?(?P<ext>\.[^/.]*)?$"
)
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_XML_PROLOG = "<?xml version='1.0' encoding='UTF-8'?>"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
    (
        "Access-Control-Allow-Headers",
        "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, "
        "If-Unmodified-Since, Idempotency-Key",
    ),
    ("Access-Control-Allow-Credentials", "true"),
    ("Access-Control-Expose-Headers", "ETag"),
)
_AUTH_DETAIL = "Your AccountSid or AuthToken was incorrect."


@dataclass
class Faults:
    """Fault switches, read on every request, so tests can flip them while the server runs.

    latency_ms delays every answer; error_rate answers that share of requests with 500 / 20500;
    rate_limit N answers requests beyond N in any one-second window with 429 / 20429 and
    `Retry-After: 1` (0 = off); drop_rate closes that share of connections without an answer;
    lost_answer_rate carries out that share of requests (a DELETE deletes) and then closes the
    connection without an answer, as when a connection breaks on the way back; hang accepts
    connections and requests and answers none, until it is switched off or the server stops.
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    rate_limit: int = 0
    drop_rate: float = 0.0
    lose_answers: int = 0
    hang: bool = False


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


_DROP = _Answer(status=0)


def rfc2822(value: datetime) -> str:
    """Twilio's date form, always GMT with a literal +0000 (independent of the C locale)."""
    return (
        f"{_DAYS[value.weekday()]}, {value.day:02d} {_MONTHS[value.month - 1]} {value.year} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} +0000"
    )


def resource_uri(account_sid: str, sid: str, ext: str = ".json") -> str:
    """The account-level path of a transcription (also for recording-scoped fetches)."""
    return f"{API_PREFIX}/Accounts/{account_sid}/Transcriptions/{sid}{ext}"


def transcription_json(
    item: SandboxTranscription, overrides: dict[str, object] | None = None
) -> dict[str, object]:
    """The 13 keys of Twilio's Transcription resource, with its string types (or with the
    odd values a test set for the item: `TranscriptionStore.odd`)."""
    wire: dict[str, object] = {
        "account_sid": item.account_sid,
        "api_version": item.api_version,
        "date_created": rfc2822(item.date_created),
        "date_updated": rfc2822(item.date_updated),
        "duration": None if item.duration is None else str(item.duration),
        "price": item.price,
        "price_unit": item.price_unit,
        "recording_sid": item.recording_sid,
        "sid": item.sid,
        "status": item.status,
        "transcription_text": item.transcription_text,
        "type": item.type,
        "uri": resource_uri(item.account_sid, item.sid),
    }
    if overrides:
        wire.update(overrides)
    return wire


def recording_json(recording: SandboxRecording) -> dict[str, object]:
    """Twilio's Recording resource (api.v2010.account.recording), with its string types."""
    base = f"/2010-04-01/Accounts/{recording.account_sid}/Recordings/{recording.sid}"
    return {
        "account_sid": recording.account_sid,
        "api_version": "2010-04-01",
        "call_sid": recording.call_sid,
        "conference_sid": None,
        "date_created": rfc2822(recording.date_created),
        "date_updated": rfc2822(recording.date_updated),
        "start_time": rfc2822(recording.start_time),
        "duration": str(recording.duration),
        "sid": recording.sid,
        "price": None if recording.deleted else "-0.00250",
        "price_unit": "USD",
        "status": recording.status,
        "channels": recording.channels,
        "source": recording.source,
        "error_code": None,
        "uri": f"{base}.json",
        "encryption_details": None,
        "subresource_uris": {
            "add_on_results": f"{base}/AddOnResults.json",
            "transcriptions": f"{base}/Transcriptions.json",
        },
        "media_url": f"https://api.twilio.com{base}",
    }


def _day_or_instant(value: str, *, end: bool) -> datetime:
    """A DateCreated filter's value: a day (YYYY-MM-DD, GMT) or an ISO 8601 instant. With
    `end`, the first moment after it (the day's end, or the next second)."""
    if len(value) == 10:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        return day + timedelta(days=1) if end else day
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant + timedelta(seconds=1) if end else instant


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """[start, end) asked for by a single `Range: bytes=…`; None for the whole file (no
    header, or one this server does not take up, as RFC 9110 allows); False if unsatisfiable."""
    match = _RANGE_RE.match(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if last == "" else min(int(last) + 1, size)
        if last != "" and int(last) < start:
            return None
    if start >= size or start >= end:
        return False
    return start, end


def _xml_text(value: object) -> str:
    return escape(_XML_INVALID.sub("\ufffd", str(value)))


def _xml_element(name: str, value: object) -> str:
    if value is None:
        return f"<{name}/>"
    return f"<{name}>{_xml_text(value)}</{name}>"


def transcription_xml(item: SandboxTranscription) -> str:
    """Twilio's 2010 XML form of one transcription: the JSON keys in CamelCase."""
    wire = transcription_json(item)
    wire["uri"] = resource_uri(item.account_sid, item.sid, ext="")
    parts = ["<Transcription>"]
    for key in (
        "sid",
        "date_created",
        "date_updated",
        "account_sid",
        "status",
        "type",
        "recording_sid",
        "duration",
        "transcription_text",
        "price",
        "price_unit",
        "api_version",
        "uri",
    ):
        parts.append(_xml_element("".join(w.capitalize() for w in key.split("_")), wire[key]))
    parts.append("</Transcription>")
    return "".join(parts)


class SandboxServer:
    """Serves a TranscriptionStore over HTTP on `host:port` (port 0 picks a free one).

    `strict_paging` answers `Page` > 0 without a `PageToken` with 400 / 20001, as Twilio's
    newer list resources do; switched off, it serves absolute pages.
    """

    def __init__(
        self,
        *,
        store: TranscriptionStore,
        host: str = "127.0.0.1",
        port: int = 0,
        account_sid: str,
        auth_token: str,
        api_key: str | None = None,
        api_secret: str | None = None,
        faults: Faults | None = None,
        strict_paging: bool = True,
        verbose: bool = False,
        fault_seed: int | None = None,
    ) -> None:
        if (api_key is None) != (api_secret is None):
            raise ValueError("api_key and api_secret go together")
        self.store = store
        self.account_sid = account_sid
        self.faults = faults if faults is not None else Faults()
        self.strict_paging = strict_paging
        self.verbose = verbose
        self.request_log: list[tuple[str, str]] = []
        self._credentials = [(account_sid, auth_token)]
        if api_key is not None and api_secret is not None:
            self._credentials.append((api_key, api_secret))
        self._random = random.Random(fault_seed)
        self._lock = threading.Lock()
        self._admitted: collections.deque[float] = collections.deque()
        self._in_flight = 0
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sandbox = self
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = self._httpd.server_address[1]

    def __repr__(self) -> str:
        return f"<SandboxServer {self.url} account={self.account_sid}>"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve in a background (daemon) thread."""
        # A short poll interval: stop() waits for the serving loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"twilio-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close every open keep-alive connection, release the port."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- request handling -------------------------------------------------------------------

    def _fault(self, form: str) -> _Answer | None:
        faults = self.faults
        with self._lock:
            drop = faults.drop_rate > 0 and self._random.random() < faults.drop_rate
            fail = faults.error_rate > 0 and self._random.random() < faults.error_rate
            limited = False
            if faults.rate_limit > 0:
                now = time.monotonic()
                while self._admitted and now - self._admitted[0] >= 1.0:
                    self._admitted.popleft()
                if len(self._admitted) >= faults.rate_limit:
                    limited = True
                else:
                    self._admitted.append(now)
        if drop:
            return _DROP
        if limited:
            retry_after = (("Retry-After", "1"),)
            return self._error(429, 20429, "Too Many Requests", form, headers=retry_after)
        if fail:
            return self._error(500, 20500, "Internal Server Error", form)
        return None

    def _fault_or_unauthenticated(self, form: str, authorization: str | None) -> _Answer | None:
        """A fault's answer, or 401 without valid Basic auth; None to go on."""
        fault = self._fault(form)
        if fault is not None:
            return fault
        if self._authenticated(authorization):
            return None
        return self._error(
            401,
            20003,
            "Authenticate",
            form,
            detail=_AUTH_DETAIL,
            headers=(("WWW-Authenticate", 'Basic realm="Twilio API"'),),
        )

    def answer(
        self, method: str, target: str, authorization: str | None, range_header: str | None = None
    ) -> _Answer:
        """The answer to one request (faults applied), or the drop marker."""
        path, _, query_string = target.partition("?")
        path = unquote(path)
        recording_match = _RECORDING_ROUTE_RE.match(path)
        if recording_match is not None:
            return self._recording_answer(
                method, path, recording_match, query_string, authorization, range_header
            )
        match = _ROUTE_RE.match(path)
        ext = (match.group("ext") or "") if match else ".json"
        # `.xml` and no extension give XML, as the 2010 API does; everything else JSON.
        form = "xml" if ext in ("", ".xml") else "json"
        refused = self._fault_or_unauthenticated(form, authorization)
        if refused is not None:
            return refused
        if match is None:
            return self._not_found(path, form)
        account, recording_sid, sid = match.group("account", "recording", "sid")
        if account.startswith("SK"):
            # A client configured with an API key but no account SID puts the key in the path.
            return self._error(400, 90002, f"AccountSid {account} is invalid", form)
        if account != self.account_sid or ext not in ("", ".xml", ".json", ".txt"):
            return self._not_found(path, form)
        if recording_sid is not None and not RECORDING_SID_RE.match(recording_sid):
            return self._not_found(path, form)
        if sid is None:
            if ext == ".txt":
                return self._not_found(path, form)
            if method != "GET":
                return self._method_not_allowed(form, allow="GET")
            return self._list(path, recording_sid, query_string, form)
        if not TRANSCRIPTION_SID_RE.match(sid):
            return self._not_found(path, form)
        allow = "GET" if ext == ".txt" else "GET, DELETE"
        if method not in allow.split(", "):
            return self._method_not_allowed(form, allow=allow)
        item = self.store.get(sid)
        if item is None or (recording_sid is not None and item.recording_sid != recording_sid):
            return self._not_found(path, form)
        if method == "DELETE":
            self.store.delete(sid)
            return _Answer(status=204)
        if ext == ".txt":
            text = item.transcription_text or ""
            return _Answer(200, text.encode(), "text/plain; charset=utf-8")
        if form == "xml":
            return self._xml(200, f"<TwilioResponse>{transcription_xml(item)}</TwilioResponse>")
        return self._json(200, transcription_json(item, self.store.wire_overrides.get(sid)))

    def _recording_answer(
        self,
        method: str,
        path: str,
        match: re.Match[str],
        query_string: str,
        authorization: str | None,
        range_header: str | None,
    ) -> _Answer:
        """Recordings: the list (`.json`), one recording's metadata (`.json`: GET, DELETE),
        and its media (no extension or `.wav`: WAV; `.mp3`: MP3), behind Basic auth as with
        "enforce HTTP auth on media URLs"."""
        refused = self._fault_or_unauthenticated("json", authorization)
        if refused is not None:
            return refused
        account, sid, ext = match.group("account", "sid")[0], match["sid"], match["ext"] or ""
        query = {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        if account != self.account_sid:
            return self._not_found(path, "json")
        if sid is None:
            if ext != ".json":
                return self._not_found(path, "json")
            if method != "GET":
                return self._method_not_allowed("json", allow="GET")
            return self._recording_list(path, query)
        if not RECORDING_SID_RE.match(sid):
            return self._not_found(path, "json")
        recording = self.store.recordings.get(sid)
        if ext == ".json":
            if method not in ("GET", "DELETE"):
                return self._method_not_allowed("json", allow="GET, DELETE")
            soft_deleted = query.get("IncludeSoftDeleted", "").lower() == "true"
            if recording is None or (recording.deleted and not soft_deleted):
                return self._not_found(path, "json")
            if method == "DELETE":
                return (
                    _Answer(204)
                    if self.store.recordings.delete(sid)
                    else self._not_found(path, "json")
                )
            return self._json(200, recording_json(recording))
        if ext not in ("", ".wav", ".mp3"):
            return self._not_found(path, "json")
        if method not in ("GET", "HEAD"):
            return self._method_not_allowed("json", allow="GET, HEAD")
        if recording is None or recording.deleted:
            return self._not_found(path, "json")
        return self._media(recording, mp3=ext == ".mp3", range_header=range_header)

    def _media(
        self, recording: SandboxRecording, *, mp3: bool, range_header: str | None
    ) -> _Answer:
        if mp3:
            whole = mp3_bytes(recording.sid, recording.duration)
            size, content_type = len(whole), "audio/mpeg"
        else:
            size, content_type = wav_size(recording), "audio/x-wav"
        wanted = _byte_range(range_header, size)
        if wanted is False:
            return _Answer(416, b"", None, (("Content-Range", f"bytes */{size}"),))
        start, end = wanted if isinstance(wanted, tuple) else (0, size)
        body = whole[start:end] if mp3 else wav_bytes(recording, start, end)
        headers: tuple[tuple[str, str], ...] = (("Accept-Ranges", "bytes"),)
        if wanted is None:
            return _Answer(200, body, content_type, headers)
        content_range = ("Content-Range", f"bytes {start}-{end - 1}/{size}")
        return _Answer(206, body, content_type, (*headers, content_range))

    def _recording_list(self, path: str, query: dict[str, str]) -> _Answer:
        try:
            page_size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
            page_number = int(query.get("Page", 0))
            created_from = created_to = None
            if query.get("DateCreated"):
                created_from = _day_or_instant(query["DateCreated"], end=False)
                created_to = _day_or_instant(query["DateCreated"], end=True)
            if query.get("DateCreated>"):
                created_from = _day_or_instant(query["DateCreated>"], end=False)
            if query.get("DateCreated<"):
                created_to = _day_or_instant(query["DateCreated<"], end=True)
        except ValueError:
            return self._error(400, 20001, "Invalid PageSize, Page or DateCreated", "json")
        if not 1 <= page_size <= MAX_PAGE_SIZE or page_number < 0:
            return self._error(
                400, 20001, f"PageSize must be between 1 and {MAX_PAGE_SIZE}", "json"
            )
        token = query.get("PageToken")
        token_match = re.match(r"^PA(RE[0-9a-fA-F]{32})$", token) if token else None
        if token is not None and token_match is None:
            return self._error(400, 21481, "Invalid PageToken", "json")
        if token is None and page_number > 0 and self.strict_paging:
            return self._error(400, 20001, "PageToken is required for paging.", "json")
        try:
            items, has_next = self.store.recordings.listed(
                size=page_size,
                after=token_match.group(1) if token_match else None,
                offset=0 if token_match else page_number * page_size,
                created_from=created_from,
                created_to=created_to,
                call_sid=query.get("CallSid") or None,
                include_deleted=query.get("IncludeSoftDeleted", "").lower() == "true",
            )
        except LookupError:
            return self._error(400, 21481, "Invalid PageToken", "json")
        kept = "&".join(
            f"{quote(k, safe='<>')}={quote(v)}"
            for k, v in query.items()
            if k not in ("PageSize", "Page", "PageToken")
        )
        base = f"{path}?PageSize={page_size}" + (f"&{kept}" if kept else "")
        uri = f"{base}&Page={page_number}" + (f"&PageToken={token}" if token else "")
        next_page_uri = (
            f"{base}&Page={page_number + 1}&PageToken=PA{items[-1].sid}" if has_next else None
        )
        start = page_number * page_size
        return self._json(
            200,
            {
                "end": start + len(items) - 1 if items else 0,
                "first_page_uri": f"{base}&Page=0",
                "next_page_uri": next_page_uri,
                "page": page_number,
                "page_size": page_size,
                "previous_page_uri": None,
                "start": start,
                "recordings": [recording_json(r) for r in items],
                "uri": uri,
            },
        )

    def _list(self, path: str, recording_sid: str | None, query_string: str, form: str) -> _Answer:
        query = {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        try:
            page_size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
            page_number = int(query.get("Page", 0))
        except ValueError:
            return self._error(400, 20001, "PageSize and Page must be whole numbers", form)
        # Why 400 rather than clamping: the spec bounds PageSize to 1..1000, and a client that
        # asks for more should learn it at once instead of silently getting smaller pages.
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            return self._error(400, 20001, f"PageSize must be between 1 and {MAX_PAGE_SIZE}", form)
        if page_number < 0:
            return self._error(400, 20001, "Page must be 0 or more", form)
        token = query.get("PageToken")
        try:
            if token is not None:
                token_match = PAGE_TOKEN_RE.match(token)
                if token_match is None:
                    return self._error(400, 21481, "Invalid PageToken", form)
                direction, token_sid = token_match.groups()
                page = self.store.page(
                    size=page_size,
                    recording_sid=recording_sid,
                    after=token_sid if direction == "A" else None,
                    before=token_sid if direction == "B" else None,
                )
            else:
                if page_number > 0 and self.strict_paging:
                    return self._error(400, 20001, "PageToken is required for paging.", form)
                page = self.store.page(
                    size=page_size, recording_sid=recording_sid, offset=page_number * page_size
                )
        except UnknownPageToken:
            return self._error(400, 21481, "Invalid PageToken", form)
        items = page.items
        base = f"{path}?PageSize={page_size}"
        uri = f"{base}&Page={page_number}" + (f"&PageToken={token}" if token is not None else "")
        first_page_uri = f"{base}&Page=0"
        next_page_uri = (
            f"{base}&Page={page_number + 1}&PageToken=PA{items[-1].sid}" if page.has_next else None
        )
        previous_page_uri = (
            f"{base}&Page={page_number - 1}&PageToken=PB{items[0].sid}"
            if page.has_previous and page_number > 0
            else None
        )
        start = page_number * page_size
        end = start + len(items) - 1 if items else 0
        if form == "xml":
            attributes = {
                "page": page_number,
                "pagesize": page_size,
                "uri": uri,
                "firstpageuri": first_page_uri,
                "nextpageuri": next_page_uri or "",
                "previouspageuri": previous_page_uri or "",
                "start": start,
                "end": end,
            }
            attrs = " ".join(f"{k}={quoteattr(str(v))}" for k, v in attributes.items())
            body = "".join(transcription_xml(item) for item in items)
            document = f"<Transcriptions {attrs}>{body}</Transcriptions>"
            return self._xml(200, f"<TwilioResponse>{document}</TwilioResponse>")
        return self._json(
            200,
            {
                "end": end,
                "first_page_uri": first_page_uri,
                "next_page_uri": next_page_uri,
                "page": page_number,
                "page_size": page_size,
                "previous_page_uri": previous_page_uri,
                "start": start,
                "transcriptions": [
                    transcription_json(item, self.store.wire_overrides.get(item.sid))
                    for item in items
                ],
                "uri": uri,
            },
        )

    def _authenticated(self, authorization: str | None) -> bool:
        if not authorization or not authorization[:6].lower() == "basic ":
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        username, sep, password = decoded.partition(":")
        if not sep:
            return False
        ok = False
        for known_user, known_password in self._credentials:
            # Compare every pair in full so timing says nothing about which part was wrong.
            ok |= hmac.compare_digest(username.encode(), known_user.encode()) & hmac.compare_digest(
                password.encode(), known_password.encode()
            )
        return ok

    # -- answers ----------------------------------------------------------------------------

    @staticmethod
    def _json(status: int, payload: dict[str, object], headers: tuple = ()) -> _Answer:
        return _Answer(status, json.dumps(payload).encode(), "application/json", headers)

    @staticmethod
    def _xml(status: int, document: str, headers: tuple = ()) -> _Answer:
        return _Answer(status, (_XML_PROLOG + document).encode(), "application/xml", headers)

    def _error(
        self,
        status: int,
        code: int,
        message: str,
        form: str,
        *,
        detail: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> _Answer:
        more_info = f"https://www.twilio.com/docs/errors/{code}"
        if form == "xml":
            parts = [
                _xml_element("Code", code),
                _xml_element("Message", message),
                _xml_element("MoreInfo", more_info),
                _xml_element("Status", status),
            ]
            if detail is not None:
                parts.insert(2, _xml_element("Detail", detail))
            document = f"<RestException>{''.join(parts)}</RestException>"
            return self._xml(status, f"<TwilioResponse>{document}</TwilioResponse>", headers)
        payload: dict[str, object] = {"code": code, "message": message}
        if detail is not None:
            payload["detail"] = detail
        payload.update(more_info=more_info, status=status)
        return self._json(status, payload, headers)

    def _not_found(self, path: str, form: str) -> _Answer:
        return self._error(404, 20404, f"The requested resource {path} was not found", form)

    def _method_not_allowed(self, form: str, *, allow: str) -> _Answer:
        return self._error(405, 20004, "Method not allowed", form, headers=(("Allow", allow),))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: SandboxServer

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (a read timeout, a stopped test) is normal here, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120
    server: _HTTPServer

    def version_string(self) -> str:
        return "nginx"

    def __getattr__(self, name: str):
        # Every method (POST, PUT, OPTIONS, …) reaches one dispatcher, which answers 405 where due.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this each answer waits ~40 ms for the
        # client's delayed ACK (Nagle's algorithm).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sandbox = self.server.sandbox
        with sandbox._lock:
            sandbox._connections.add(self.connection)

    def finish(self) -> None:
        sandbox = self.server.sandbox
        with sandbox._lock:
            sandbox._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        if self.server.sandbox.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        started = time.perf_counter()
        with sandbox._lock:
            sandbox._in_flight += 1
            concurrent = sandbox._in_flight
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > 0:
                self.rfile.read(length)
            sandbox.request_log.append((self.command, self.path.partition("?")[0]))
            while sandbox.faults.hang and not sandbox._stopping.is_set():
                time.sleep(0.02)
            answer = sandbox.answer(
                self.command,
                self.path,
                self.headers.get("Authorization"),
                self.headers.get("Range"),
            )
            latency = sandbox.faults.latency_ms
            if latency > 0:
                time.sleep(latency / 1000)
            if sandbox.faults.lose_answers > 0 and answer is not _DROP:
                with sandbox._lock:
                    if sandbox.faults.lose_answers > 0:
                        sandbox.faults.lose_answers -= 1
                        answer = _DROP
            if answer is _DROP:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.send_response(answer.status)
            if answer.content_type is not None:
                self.send_header("Content-Type", answer.content_type)
            if answer.status != 204:
                # RFC 9110 forbids Content-Length on 204; every other answer carries one.
                self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
            self.send_header("Twilio-Request-Duration", f"{time.perf_counter() - started:.3f}")
            self.send_header("Twilio-Concurrent-Requests", str(concurrent))
            for name, value in _CORS_HEADERS:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD" and answer.body:
                self.wfile.write(answer.body)
        finally:
            with sandbox._lock:
                sandbox._in_flight -= 1
