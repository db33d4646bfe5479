"""HTTP for ``gx fetch``: one client, polite by default, that never raises for a bad answer.

* robots.txt is read once per site and honoured (RFC 9309: a 4xx robots.txt allows
  everything, a 5xx or no answer closes the site), including its ``Crawl-delay``;
* one request at a time, so one connection per host, and at least ``delay`` seconds
  between the end of one request to a host and the start of the next;
* timeouts, retries with exponential backoff on timeouts, connection errors and 5xx
  (and 429 Too Many Requests), never on other 4xx; ``Retry-After`` honoured;
* redirects followed one hop at a time (each hop is polite and robots-checked) and
  recorded;
* the body is streamed to a staging file beside its destination and abandoned past
  ``max_bytes``.

Every outcome is a :class:`Answer` whose ``error`` says in words what went wrong.
"""
from __future__ import annotations

import email.utils
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib import robotparser
from urllib.parse import urljoin, urlsplit

import httpx

from .pages import BLOCKED, refusal

REDIRECTS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 10
MAX_RETRY_AFTER = 120.0  # seconds: a site asking for longer is reported, not waited for
_REASONS = {
    400: "bad request", 401: "needs a login", 403: "forbidden", 404: "not found", 405: "method not allowed",
    406: "not acceptable", 408: "request timeout", 410: "gone", 412: "precondition failed",
    429: "too many requests", 451: "unavailable for legal reasons",
    500: "server error", 502: "bad gateway", 503: "service unavailable", 504: "gateway timeout",
}
STAGING_PREFIX = ".gxfetch-"  # dot-files: `gx parse` never lists them


def http_reason(status: int) -> str:
    """``not found (HTTP 404)``: an HTTP status in words."""
    return f"{_REASONS.get(status, 'HTTP error' if status >= 400 else 'unexpected answer')} (HTTP {status})"


@dataclass
class Answer:
    """What came back for one URL, after following its redirects."""

    url: str
    final_url: str = ""
    status: int | None = None  # the last HTTP status; None when no answer came
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: Path | None = None  # staged body (2xx only); the caller moves or deletes it
    data: bytes = b""  # a body kept in memory: error pages, robots.txt (``into=None``)
    size: int = 0
    sha256: str = ""
    error: str = ""  # why there is no usable answer, in words
    skipped: bool = False  # not asked (robots.txt), as opposed to failed
    redirects: list[str] = field(default_factory=list)
    attempts: int = 0

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def discard(self) -> None:
        if self.body is not None:
            self.body.unlink(missing_ok=True)
            self.body = None


def origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


class Robots:
    """robots.txt per site, read on first use through the polite client."""

    def __init__(self, client: "Client") -> None:
        self.client = client
        self.sites: dict[str, tuple[robotparser.RobotFileParser | None, str]] = {}

    def check(self, url: str) -> str:
        """'' when ``url`` may be fetched, else the reason it may not."""
        site = origin(url)
        if site not in self.sites:
            self.sites[site] = self._load(site)
        rules, why = self.sites[site]
        if rules is None:
            return why
        if not rules.can_fetch(self.client.user_agent, url):
            return "disallowed by robots.txt"
        return ""

    def crawl_delay(self, url: str) -> float:
        rules, _ = self.sites.get(origin(url), (None, ""))
        if rules is None:
            return 0.0
        try:
            return float(rules.crawl_delay(self.client.user_agent) or 0.0)
        except (TypeError, ValueError):
            return 0.0

    def _load(self, site: str) -> tuple[robotparser.RobotFileParser | None, str]:
        ans = self.client.get(site + "/robots.txt", robots=False, max_bytes=512 * 1024, into=None)
        rules = robotparser.RobotFileParser()
        if ans.status is not None and 200 <= ans.status < 300:
            rules.parse(ans.text.splitlines())
        elif ans.status is not None and 400 <= ans.status < 500:
            rules.allow_all = True  # RFC 9309 2.3.1.3: unavailable -> no restriction
            rules.modified()
        else:  # 5xx or no answer: RFC 9309 2.3.1.4, assume the site is closed to robots
            return None, f"robots.txt could not be read ({ans.error or http_reason(ans.status or 0)}): not fetched"
        return rules, ""


class Client:
    """Sequential, polite HTTP GETs (see the module docstring)."""

    def __init__(self, user_agent: str, delay: float = 1.0, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 1.0, max_bytes: int | None = None, ignore_robots: bool = False,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.user_agent = user_agent
        self.delay = delay
        self.retries = retries
        self.backoff = backoff
        self.max_bytes = max_bytes
        self.robots = None if ignore_robots else Robots(self)
        self._last: dict[str, float] = {}  # host -> monotonic time its last request ended
        self._http = httpx.Client(
            headers={"User-Agent": user_agent, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"},
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.requests = 0
        self.bytes = 0

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------------------
    def get(self, url: str, headers: dict | None = None, into: Path | None = None, robots: bool = True,
            max_bytes: int | None = -1) -> Answer:
        """GET ``url``: robots-checked, polite, retried, redirects followed.  A 2xx body
        is staged in the folder ``into`` (or kept in memory as ``Answer.text``/``data``
        when ``into`` is None)."""
        limit = self.max_bytes if max_bytes == -1 else max_bytes
        ans = Answer(url=url)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            if urlsplit(current).scheme not in ("http", "https"):
                ans.error = f"redirected to a non-web address ({urlsplit(current).scheme}:)"
                return ans
            if robots and self.robots is not None:
                why = self.robots.check(current)
                if why:
                    ans.error = why if current == url else f"{why} (after a redirect)"
                    ans.skipped = why == "disallowed by robots.txt"
                    ans.final_url = current
                    return ans
            self._one(current, headers or {}, ans, into, limit)
            ans.final_url = current
            if ans.status in REDIRECTS and not ans.error:
                location = ans.headers.get("location")
                if not location:
                    ans.error = f"redirect without a Location (HTTP {ans.status})"
                    return ans
                ans.redirects.append(current)
                current = urljoin(current, location.strip())
                continue
            return ans
        ans.error = f"too many redirects (more than {MAX_REDIRECTS})"
        return ans

    # ------------------------------------------------------------------------------------
    def _wait_turn(self, url: str) -> None:
        host = urlsplit(url).netloc.lower()
        delay = self.delay
        if self.robots is not None:
            delay = max(delay, self.robots.crawl_delay(url))
        last = self._last.get(host)
        if last is not None:
            wait = last + delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def _done(self, url: str) -> None:
        self._last[urlsplit(url).netloc.lower()] = time.monotonic()

    def _one(self, url: str, headers: dict, ans: Answer, into: Path | None, limit: int | None) -> None:
        """One hop: up to 1 + retries attempts; fills ``ans``."""
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            ans.attempts += 1
            ans.error, ans.status, ans.data = "", None, b""
            self._wait_turn(url)
            retry_after = None
            try:
                self.requests += 1
                self._exchange(url, headers, ans, into, limit)
            except httpx.TimeoutException as err:
                ans.status = None  # (also when the body stopped coming half-way)
                ans.error = f"timed out ({_timeout_kind(err)})"
            except httpx.TransportError as err:  # connection refused / reset, protocol errors
                ans.status = None
                ans.error = f"could not connect ({type(err).__name__}: {err})" if isinstance(err, httpx.ConnectError) \
                    else f"connection broken ({type(err).__name__})"
            finally:
                self._done(url)
            if ans.status is not None and (ans.status >= 500 or ans.status == 429):
                if refusal(ans.status, ans.data, ans.headers.get("content-type")) == BLOCKED:
                    return  # a bot-protection challenge (521, 503): asking again gets the same
                retry_after = _retry_after(ans.headers.get("retry-after"))
                ans.error = http_reason(ans.status)
            elif not ans.error or ans.status is not None:
                return  # an answer (2xx, 3xx, 304, 4xx) or a body over the limit: never retried
            if attempt == attempts:
                break
            wait = self.backoff * 2 ** (attempt - 1)
            if retry_after is not None:
                if retry_after > MAX_RETRY_AFTER:
                    ans.error += f"; the site asked to wait {retry_after:.0f} s (Retry-After), more than {MAX_RETRY_AFTER:.0f} s"
                    return
                wait = max(wait, retry_after)
            time.sleep(wait)
        if attempts > 1:
            ans.error += f" after {attempts} attempts"

    def _exchange(self, url: str, headers: dict, ans: Answer, into: Path | None, limit: int | None) -> None:
        with self._http.stream("GET", url, headers=headers) as r:
            ans.status = r.status_code
            ans.headers = r.headers
            if not 200 <= r.status_code < 300:
                # error pages are read (a challenge page is judged by its body), in memory, capped
                ans.data = _read_capped(r, 256 * 1024)
                return
            declared = r.headers.get("content-length")
            if limit is not None and declared and declared.isdigit() and int(declared) > limit:
                ans.error = f"larger than --max-bytes ({limit:,} bytes): not saved"
                return
            digest = hashlib.sha256()
            size = 0
            if into is None:
                chunks = []
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if limit is not None and size > limit:
                        ans.error = f"larger than --max-bytes ({limit:,} bytes): not saved"
                        return
                    chunks.append(chunk)
                ans.data = b"".join(chunks)
                digest.update(ans.data)
            else:
                into.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=STAGING_PREFIX, suffix=".part", dir=into)
                try:
                    with os.fdopen(fd, "wb") as f:
                        for chunk in r.iter_bytes():
                            size += len(chunk)
                            if limit is not None and size > limit:
                                ans.error = f"larger than --max-bytes ({limit:,} bytes): not saved"
                                break
                            digest.update(chunk)
                            f.write(chunk)
                except BaseException:
                    os.unlink(tmp)
                    raise
                if ans.error:
                    os.unlink(tmp)
                    return
                ans.body = Path(tmp)
            ans.size = size
            ans.sha256 = digest.hexdigest()
            self.bytes += size


def _read_capped(r: httpx.Response, cap: int) -> bytes:
    out = bytearray()
    for chunk in r.iter_bytes():
        out += chunk
        if len(out) >= cap:
            break
    return bytes(out[:cap])


def _timeout_kind(err: httpx.TimeoutException) -> str:
    return {httpx.ConnectTimeout: "no connection", httpx.ReadTimeout: "no answer",
            httpx.WriteTimeout: "sending", httpx.PoolTimeout: "waiting"}.get(type(err), "timeout")


def _retry_after(value: str | None) -> float | None:
    """``Retry-After``: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())

