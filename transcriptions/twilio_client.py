"""The one module that speaks Twilio's REST API (2010-04-01) for Transcriptions.

It knows Twilio's URLs, its HTTP Basic auth, paging, timeouts and retries; the shapes of what
Twilio sends are read by `twilio_wire`. Everything else in the project sees `TwilioClient`, the
`TwilioTranscription` dataclass, and `TwilioError` with its subclasses, all importable from here.

Credentials and transcript text are never logged and never put into an exception message or
a repr: the auth pair lives only in a private attribute handed to `requests` per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ResponseError,
)

from .twilio_retry import TwilioRetry, network_failure_text
from .twilio_wire import (
    SetAside,
    TranscriptionPage,
    TwilioError,
    TwilioNotConfigured,
    TwilioNotFound,
    TwilioTranscription,
    error_from_response,
    malformed,
    plain_words,
)

__all__ = [
    "SetAside",
    "TranscriptionPage",
    "TwilioClient",
    "TwilioError",
    "TwilioNotConfigured",
    "TwilioNotFound",
    "TwilioTranscription",
    "client_or_settings",
    "get_client",
    "plain_words",
    "request_budget",
    "twilio_configuration_check",
    "twilio_configuration_problem",
    "twilio_not_configured_text",
]

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
DEFAULT_BASE_URL = "https://api.twilio.com"
USER_AGENT = "transcript-desk/0.1"
MAX_PAGE_SIZE = 1000
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The first retry waits up to this long; each further retry doubles it, up to the cap.
BACKOFF_BASE_SECONDS = 0.5
# With a budget, a try is not started with less time than this left.
MIN_TRY_SECONDS = 0.5


class TwilioClient:
    """Twilio's Transcriptions API over plain HTTP (`requests`).

    Authenticates with HTTP Basic: the Account SID and its auth token, or an API key SID and
    its secret (the path always carries the Account SID). Every request has a connect and a
    read timeout. GET and DELETE are retried on 429, 500, 502, 503, 504, dropped connections and
    timeouts, at most `max_attempts` tries in all, waiting a capped exponential backoff with full
    jitter between tries (or Twilio's `Retry-After`, never longer than `backoff_cap`). What still
    fails raises one `TwilioError`; every 404 raises `TwilioNotFound`.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str | None = None,
        api_key_sid: str | None = None,
        api_key_secret: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        connect_timeout: float = 3.05,
        read_timeout: float = 15.0,
        max_attempts: int = 5,
        backoff_cap: float = 8.0,
        budget_seconds: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not account_sid:
            raise ValueError("account_sid is required")
        if api_key_sid or api_key_secret:
            if not (api_key_sid and api_key_secret):
                raise ValueError("api_key_sid and api_key_secret must be given together")
            self._auth: tuple[str, str] = (api_key_sid, api_key_secret)
        elif auth_token:
            self._auth = (account_sid, auth_token)
        else:
            raise ValueError("either auth_token or api_key_sid and api_key_secret are required")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._account_sid = account_sid
        self._base_url = base_url.rstrip("/")
        self._timeout = (connect_timeout, read_timeout)
        self._max_attempts = max_attempts
        self._backoff_cap = max(0.0, backoff_cap)
        # With a budget, every call this client makes is over by then, retries included.
        self._deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        retry = TwilioRetry(
            total=max_attempts - 1,
            allowed_methods=frozenset({"GET", "DELETE"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=BACKOFF_BASE_SECONDS,
            backoff_max=self._backoff_cap,
            respect_retry_after_header=True,
            raise_on_status=False,
            redirect=False,
        )
        retry.deadline = self._deadline
        retry.try_seconds = connect_timeout + read_timeout + self._backoff_cap
        split = urlsplit(self._base_url)
        self._session.mount(f"{split.scheme}://{split.netloc}", HTTPAdapter(max_retries=retry))

    def __repr__(self) -> str:
        return f"TwilioClient(account_sid={self._account_sid!r}, base_url={self._base_url!r})"

    @property
    def account_sid(self) -> str:
        return self._account_sid

    @property
    def base_url(self) -> str:
        return self._base_url

    def close(self) -> None:
        """Close the HTTP connections of a session this client created (not an injected one)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> TwilioClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Reads

    def iter_transcription_pages(
        self, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[list[TwilioTranscription]]:
        """GET the account's Transcriptions list from Twilio page by page, newest first,
        following each page's `next_page_uri` verbatim until it is null. One request per page,
        made only when the previous page has been consumed."""
        path = f"/{API_VERSION}/Accounts/{self._quoted_account}/Transcriptions.json"
        return self._iter_pages(path, page_size)

    def iter_transcriptions(self, page_size: int = MAX_PAGE_SIZE) -> Iterator[TwilioTranscription]:
        """Every transcription of the account from Twilio, newest first (see
        `iter_transcription_pages`)."""
        for page in self.iter_transcription_pages(page_size):
            yield from page

    def iter_recording_transcription_pages(
        self, recording_sid: str, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[list[TwilioTranscription]]:
        """GET one recording's Transcriptions list from Twilio page by page, following
        `next_page_uri`. An unknown recording gives empty pages or TwilioNotFound, as Twilio
        decides."""
        path = (
            f"/{API_VERSION}/Accounts/{self._quoted_account}"
            f"/Recordings/{_quote_sid(recording_sid)}/Transcriptions.json"
        )
        return self._iter_pages(path, page_size)

    def iter_recording_transcriptions(
        self, recording_sid: str, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[TwilioTranscription]:
        """Every transcription of one recording from Twilio (see
        `iter_recording_transcription_pages`)."""
        for page in self.iter_recording_transcription_pages(recording_sid, page_size):
            yield from page

    def fetch_transcription(self, sid: str) -> TwilioTranscription:
        """GET one transcription from Twilio (with its text). TwilioNotFound when it is gone."""
        body = self._get_json(self._instance_url(sid, ".json"))
        return TwilioTranscription.from_twilio(body)

    def fetch_transcription_text(self, sid: str) -> str:
        """GET only the transcription's text from Twilio (the `.txt` form); "" when Twilio has
        no text for it. TwilioNotFound when it is gone."""
        response = self._send("GET", self._instance_url(sid, ".txt"))
        # Without a declared charset requests would guess ISO-8859-1; Twilio writes UTF-8.
        if "charset" in response.headers.get("Content-Type", "").lower():
            return response.text
        return response.content.decode("utf-8", errors="replace")

    # Writes

    def delete_transcription(self, sid: str) -> None:
        """DELETE the transcription at Twilio (Twilio answers 204). Raises TwilioNotFound on 404.

        DELETE is retried like GET. If an earlier try may have reached Twilio and deleted the
        transcription but its answer was lost, the retry sees 404: that TwilioNotFound has
        `may_have_arrived` set, and the delete was most likely this call's own."""
        self._send("DELETE", self._instance_url(sid, ".json"))

    # Recordings

    def fetch_recording_status(self, sid: str) -> str:
        """The recording's status at Twilio (`completed`, `deleted`, …), deleted ones included;
        TwilioNotFound when Twilio has no such recording."""
        url = self._recording_url(sid, ".json") + "?IncludeSoftDeleted=true"
        return str(self._get_json(url).get("status") or "")

    def delete_recording(self, sid: str) -> None:
        """DELETE the recording's audio at Twilio (204); TwilioNotFound on 404, as for text."""
        self._send("DELETE", self._recording_url(sid, ".json"))

    def recording_media(
        self, sid: str, *, extension: str, byte_range: str = ""
    ) -> requests.Response:
        """The recording's audio (`.mp3` or `.wav`), streamed: the caller reads and closes it.
        `byte_range` is passed on as the `Range` header; Twilio answers 200 or 206."""
        headers = {"Range": byte_range} if byte_range else {}
        return self._send("GET", self._recording_url(sid, extension), headers=headers, stream=True)

    # Plumbing

    def _recording_url(self, sid: str, extension: str) -> str:
        return (
            f"{self._base_url}/{API_VERSION}/Accounts/{self._quoted_account}"
            f"/Recordings/{_quote_sid(sid)}{extension}"
        )

    @property
    def _quoted_account(self) -> str:
        return _quote_sid(self._account_sid)

    def _instance_url(self, sid: str, extension: str) -> str:
        return (
            f"{self._base_url}/{API_VERSION}/Accounts/{self._quoted_account}"
            f"/Transcriptions/{_quote_sid(sid)}{extension}"
        )

    def _iter_pages(self, path: str, page_size: int) -> Iterator[list[TwilioTranscription]]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        return self._pages(f"{self._base_url}{path}?PageSize={page_size}")

    def _pages(self, url: str) -> Iterator[list[TwilioTranscription]]:
        seen: set[str] = set()
        while True:
            seen.add(url)
            body = self._get_json(url)
            records = body.get("transcriptions")
            if not isinstance(records, list):
                raise malformed("a list page without a `transcriptions` array")
            # One odd item never stops the sync: it is read around or set aside (see the page).
            yield TranscriptionPage.from_twilio(records)
            next_page_uri = body.get("next_page_uri")
            if not next_page_uri:
                return
            if not isinstance(next_page_uri, str):
                raise malformed("a next_page_uri that is not a string")
            url = self._follow(next_page_uri)
            if url in seen:
                raise malformed("a next_page_uri that points back to a page already read")

    def _follow(self, page_uri: str) -> str:
        """The URL of a page URI as Twilio gives it: a path relative to the API's host. An
        absolute URL is followed only on our own host, so credentials never go elsewhere."""
        if "://" in page_uri:
            ours, theirs = urlsplit(self._base_url), urlsplit(page_uri)
            if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
                raise malformed("a next_page_uri on another host")
            return page_uri
        return f"{self._base_url}/{page_uri.lstrip('/')}"

    def _get_json(self, url: str) -> dict[str, Any]:
        response = self._send("GET", url)
        try:
            body = response.json()
        except ValueError as exc:
            raise TwilioError(
                response.status_code, None, "Twilio answered with a body that is not JSON"
            ) from exc
        if not isinstance(body, dict):
            raise TwilioError(response.status_code, None, "Twilio answered with unexpected JSON")
        return body

    def _send(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, stream: bool = False
    ) -> requests.Response:
        """One logical request: up to `max_attempts` tries (see `TwilioRetry`). Returns a 2xx
        response; raises TwilioError otherwise."""
        headers = {"User-Agent": USER_AGENT, "Accept-Charset": "utf-8", **(headers or {})}
        if url.endswith(".json") or ".json?" in url:
            headers["Accept"] = "application/json"
        timeout = self._timeout
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left < MIN_TRY_SECONDS:
                raise TwilioError(
                    None,
                    None,
                    "Twilio did not answer in the time a page may wait for it",
                    unreachable=True,
                )
            timeout = (min(timeout[0], left), min(timeout[1], left))
        try:
            response = self._session.request(
                method,
                url,
                auth=self._auth,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=stream,
            )
        except requests.RequestException as exc:
            # Retries used up: requests wraps urllib3's MaxRetryError around the last failure.
            cause = exc.args[0] if exc.args else exc
            exhausted = isinstance(cause, MaxRetryError)
            reason = cause.reason if isinstance(cause, MaxRetryError) else cause
            tries = self._max_attempts if exhausted else 1
            failure = (
                f"Twilio could not be reached at {urlsplit(url).netloc}: "
                f"{network_failure_text(reason)} "
                f"(gave up after {'1 try' if tries == 1 else f'{tries} tries'})"
            )
            # The pages say it in plain words; the host and the tries are for the log.
            logger.warning("Twilio %s %s: %s", method, urlsplit(url).path, failure)
            raise TwilioError(
                None,
                None,
                failure,
                unreachable=True,
                # Only a failure to connect says the request never left.
                may_have_arrived=not isinstance(
                    reason, ConnectTimeoutError | NewConnectionError | ResponseError
                ),
            ) from exc
        if 200 <= response.status_code < 300:
            return response
        error = error_from_response(response)
        response.close()
        retries = getattr(response.raw, "retries", None)
        tries = len(retries.history) + 1 if retries is not None else 1
        if retries is not None:
            # An earlier try that got no answer but may have been carried out.
            error.may_have_arrived = any(
                entry.status is None
                and not isinstance(entry.error, ConnectTimeoutError | NewConnectionError)
                for entry in retries.history
            )
        if response.status_code in RETRY_STATUSES and tries > 1:
            raise type(error)(
                error.status,
                error.code,
                f"{error.message} (gave up after {tries} tries)",
                error.more_info,
                may_have_arrived=error.may_have_arrived,
            )
        raise error


def _quote_sid(sid: str) -> str:
    """A SID as one path segment: anything odd in it stays inside the segment (Twilio then
    answers 404), so a SID can never walk to another path."""
    return quote(sid, safe="")


# Settings


def twilio_configuration_problem() -> str | None:
    """What is missing from the Twilio settings, naming the variable, or None when the
    settings are complete."""
    account_sid = getattr(settings, "TWILIO_ACCOUNT_SID", "")
    if not account_sid:
        return "TWILIO_ACCOUNT_SID is not set."
    if not account_sid.startswith("AC"):
        return "TWILIO_ACCOUNT_SID must be an Account SID (AC…), not an API key or other SID."
    key_sid = getattr(settings, "TWILIO_API_KEY_SID", "")
    key_secret = getattr(settings, "TWILIO_API_KEY_SECRET", "")
    if key_sid and not key_secret:
        return "TWILIO_API_KEY_SECRET is not set (TWILIO_API_KEY_SID is)."
    if key_secret and not key_sid:
        return "TWILIO_API_KEY_SID is not set (TWILIO_API_KEY_SECRET is)."
    if not key_sid and not getattr(settings, "TWILIO_AUTH_TOKEN", ""):
        return "TWILIO_AUTH_TOKEN is not set (nor TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET)."
    if not getattr(settings, "TWILIO_API_BASE_URL", DEFAULT_BASE_URL):
        return "TWILIO_API_BASE_URL is empty."
    return None


def twilio_not_configured_text() -> str | None:
    """What a page says while Twilio is not configured ("Twilio is not configured: … is not
    set."), or None when it is."""
    problem = twilio_configuration_problem()
    return str(TwilioNotConfigured(problem)) if problem else None


def twilio_configuration_check() -> None:
    """Raise TwilioNotConfigured, naming the missing variable, unless the settings are
    complete. For writes that record work for later (a bulk deletion) and must refuse now."""
    problem = twilio_configuration_problem()
    if problem:
        raise TwilioNotConfigured(problem)


# Set while a web request is answered (`transcriptions.middleware`): the seconds it may spend
# on Twilio in all. A worker or a command has none and keeps the settings' long retries.
_request_budget: ContextVar[float | None] = ContextVar("twilio_request_budget", default=None)

# Within a web request, one try waits at most this long to connect and to read.
REQUEST_CONNECT_TIMEOUT = 2.0
REQUEST_READ_TIMEOUT = 4.0


@contextmanager
def request_budget(seconds: float | None) -> Iterator[None]:
    """Clients built inside this block spend at most `seconds` on Twilio (see `get_client`)."""
    token = _request_budget.set(seconds)
    try:
        yield
    finally:
        _request_budget.reset(token)


def get_client(*, session: requests.Session | None = None) -> TwilioClient:
    """A TwilioClient built from Django settings. An API key (TWILIO_API_KEY_SID and
    TWILIO_API_KEY_SECRET) is used when set, otherwise TWILIO_AUTH_TOKEN. Raises
    TwilioNotConfigured naming the missing setting. Makes no request.

    Inside a web request (`request_budget`) the client's calls all end within the request's
    budget (TWILIO_REQUEST_BUDGET_SECONDS): short tries, and a retry only where a whole try
    still fits, so that the page answers well inside the server's own timeout. Long retries
    belong to background work."""
    twilio_configuration_check()
    key_sid = settings.TWILIO_API_KEY_SID
    connect_timeout = getattr(settings, "TWILIO_CONNECT_TIMEOUT_SECONDS", 3.05)
    read_timeout = getattr(settings, "TWILIO_READ_TIMEOUT_SECONDS", 15.0)
    backoff_cap = getattr(settings, "TWILIO_BACKOFF_CAP_SECONDS", 8.0)
    budget = _request_budget.get()
    if budget is not None:
        connect_timeout = min(connect_timeout, REQUEST_CONNECT_TIMEOUT, budget)
        read_timeout = min(read_timeout, REQUEST_READ_TIMEOUT, budget)
        backoff_cap = min(backoff_cap, 0.5)
    return TwilioClient(
        account_sid=settings.TWILIO_ACCOUNT_SID,
        auth_token=None if key_sid else settings.TWILIO_AUTH_TOKEN,
        api_key_sid=key_sid or None,
        api_key_secret=settings.TWILIO_API_KEY_SECRET or None,
        base_url=getattr(settings, "TWILIO_API_BASE_URL", DEFAULT_BASE_URL),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_attempts=getattr(settings, "TWILIO_MAX_ATTEMPTS", 5),
        backoff_cap=backoff_cap,
        budget_seconds=budget,
        session=session,
    )


@contextmanager
def client_or_settings(client: TwilioClient | None) -> Iterator[TwilioClient]:
    """The client a caller handed in (tests pass the sandbox's), or one built from the settings
    and closed afterwards. Raises TwilioNotConfigured before anything is sent."""
    if client is not None:
        yield client
        return
    with get_client() as own:
        yield own
